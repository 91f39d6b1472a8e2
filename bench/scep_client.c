/*
 * The SCEP client side of the load driver (see scep_client.h): requests
 * are built with OpenSSL's CMS API the way tests/unit/test_scep_pkimsg.c
 * builds them, replies are read with the same API.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "bench/csr.h"
#include "bench/scep_client.h"

/* RFC 8894 §3.2.1: the VeriSign arc of the SCEP attributes. */
#define OID_ARC "2.16.840.1.113733.1.9."
#define OID_MESSAGE_TYPE OID_ARC "2"
#define OID_PKI_STATUS OID_ARC "3"
#define OID_FAIL_INFO OID_ARC "4"
#define OID_SENDER_NONCE OID_ARC "5"
#define OID_RECIPIENT_NONCE OID_ARC "6"
#define OID_TRANSACTION_ID OID_ARC "7"

/* Anything the driver makes or reads is far smaller. */
#define BSCEP_MAX_DER (256 * 1024)

/* Format the reason into why, followed by the last OpenSSL error if
 * there is one, and clear the error queue.  Returns -1. */
static int
fail(char *why, size_t whysz, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[256];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	if (e != 0) {
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
		n = strlen(why);
		if (n < whysz)
			snprintf(why + n, whysz - n, " (%s)", ebuf);
	}
	ERR_clear_error();
	return -1;
}

void
bscep_peer_clear(struct bscep_peer *p)
{
	if (p == NULL)
		return;
	sk_X509_pop_free(p->certs, X509_free);
	X509_free(p->recipient);
	memset(p, 0, sizeof(*p));
}

/* The certificates of a degenerate certs-only PKCS#7, DER; NULL if it
 * is not exactly that.  Caller frees with sk_X509_pop_free(). */
static STACK_OF(X509) *
certs_only(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = NULL, *ret = NULL;
	PKCS7 *p7 = NULL;
	int i;

	if (len > BSCEP_MAX_DER ||
	    (p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
	    (size_t)(p - der) != len || !PKCS7_type_is_signed(p7) ||
	    p7->d.sign == NULL || sk_X509_num(p7->d.sign->cert) <= 0 ||
	    (certs = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(p7->d.sign->cert); i++) {
		X509 *x = sk_X509_value(p7->d.sign->cert, i);

		if (!X509_up_ref(x))
			goto out;
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			goto out;
		}
	}
	ret = certs;
	certs = NULL;
out:
	sk_X509_pop_free(certs, X509_free);
	PKCS7_free(p7);
	return ret;
}

/* One DER certificate as a stack of one; NULL unless exactly that. */
static STACK_OF(X509) *
one_cert(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = NULL;
	X509 *x = NULL;

	if (len > BSCEP_MAX_DER ||
	    (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    (size_t)(p - der) != len || (certs = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(certs, x)) {
		X509_free(x);
		sk_X509_free(certs);
		return NULL;
	}
	return certs;
}

int
bscep_peer_parse(struct bscep_peer *p, const char *ctype,
    const unsigned char *body, size_t len, char *why, size_t whysz)
{
	X509 *x = NULL;
	int i, ra;

	memset(p, 0, sizeof(*p));
	if (ctype == NULL)
		return fail(why, whysz, "GetCACert: no Content-Type");
	ra = strcmp(ctype, "application/x-x509-ca-ra-cert") == 0;
	if (!ra && strcmp(ctype, "application/x-x509-ca-cert") != 0)
		return fail(why, whysz, "GetCACert: Content-Type %.64s", ctype);
	p->certs = ra ? certs_only(body, len) : one_cert(body, len);
	if (p->certs == NULL)
		return fail(why, whysz, "GetCACert: not a %s",
		    ra ? "certs-only PKCS#7" : "DER certificate");
	/* §2.2: with an RA, requests are encrypted to the RA. */
	for (i = 0; i < sk_X509_num(p->certs); i++) {
		x = sk_X509_value(p->certs, i);
		if (!ra || sk_X509_num(p->certs) == 1 || X509_check_ca(x) == 0)
			break;
	}
	if (i == sk_X509_num(p->certs) || !X509_up_ref(x)) {
		bscep_peer_clear(p);
		return fail(why, whysz, "GetCACert: no RA certificate");
	}
	p->recipient = x;
	return 0;
}

void
bscep_req_clear(struct bscep_req *r)
{
	if (r == NULL)
		return;
	EVP_PKEY_free(r->key);
	X509_free(r->signer);
	OPENSSL_free(r->der);
	memset(r, 0, sizeof(*r));
}

/*
 * The PKCS#10 of `key` for `cn` (subject CN and one dNSName) with the
 * challengePassword attribute (§2.3), DER.  OPENSSL_free; NULL on error.
 */
static unsigned char *
make_csr(EVP_PKEY *key, const char *cn, const char *challenge, size_t *len)
{
	X509_REQ *req;
	unsigned char *der = NULL;
	int n = 0;

	if ((req = bcsr_new(key, cn, challenge, EVP_sha256())) == NULL ||
	    (n = i2d_X509_REQ(req, &der)) <= 0) {
		OPENSSL_free(der);
		der = NULL;
	}
	X509_REQ_free(req);
	*len = n > 0 ? (size_t)n : 0;
	return der;
}

/*
 * §2.3: a client without a certificate signs with a self-signed one for
 * its new key; the server encrypts the reply to it.  A random positive
 * 63-bit serial: the envelope names its recipient by issuer and serial.
 * The caller frees it; NULL on error.
 */
static X509 *
make_signer(EVP_PKEY *key)
{
	X509 *x = NULL, *ret = NULL;
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;

	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    (bn = BN_new()) == NULL ||
	    !BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)"SCEP SIGNER", -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) == NULL ||
	    !X509_set_pubkey(x, key) || X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	ret = x;
	x = NULL;
out:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return ret;
}

/* DER of `cms`.  OPENSSL_free; NULL on error. */
static unsigned char *
cms_der(CMS_ContentInfo *cms, size_t *len)
{
	unsigned char *der = NULL;
	int n;

	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		return NULL;
	*len = (size_t)n;
	return der;
}

/* §3.2.2: EnvelopedData of content for `to`.  OPENSSL_free; NULL. */
static unsigned char *
envelope(X509 *to, const EVP_CIPHER *cipher, const unsigned char *content,
    size_t clen, size_t *len)
{
	STACK_OF(X509) *recips = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned char *der = NULL;
	BIO *bio = NULL;

	if ((recips = sk_X509_new_null()) == NULL ||
	    !sk_X509_push(recips, to) ||
	    (bio = BIO_new_mem_buf(content, (int)clen)) == NULL ||
	    (cms = CMS_encrypt(recips, bio, cipher, CMS_BINARY)) == NULL)
		goto out;
	der = cms_der(cms, len);
out:
	CMS_ContentInfo_free(cms);
	BIO_free(bio);
	sk_X509_free(recips); /* borrowed `to` */
	return der;
}

/* Add the signed attribute `oid` of ASN.1 `type`.  1 / 0. */
static int
add_attr(
    CMS_SignerInfo *si, const char *oid, int type, const void *data, size_t len)
{
	ASN1_OBJECT *obj;
	int ok;

	if ((obj = OBJ_txt2obj(oid, 1)) == NULL)
		return 0;
	ok = CMS_signed_add1_attr_by_OBJ(si, obj, type, data, (int)len);
	ASN1_OBJECT_free(obj);
	return ok;
}

/* §3.2.1.1: the transactionID, hex SHA-256 of the SubjectPublicKeyInfo,
 * into r->tid.  0 / -1. */
static int
make_tid(struct bscep_req *r)
{
	unsigned char *spki = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	int n, rc = -1;

	if ((n = i2d_PUBKEY(r->key, &spki)) <= 0 ||
	    !EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha256(), NULL) ||
	    2 * mdlen >= sizeof(r->tid))
		goto out;
	for (i = 0; i < mdlen; i++)
		snprintf(r->tid + 2 * i, 3, "%02X", md[i]);
	rc = 0;
out:
	OPENSSL_free(spki);
	return rc;
}

/* §3.2: the SignedData around `env` with the PKCSReq attributes, DER in
 * r->der.  0 / -1. */
static int
sign_message(struct bscep_req *r, const unsigned char *env, size_t env_len)
{
	const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	BIO *bio = NULL;
	int rc = -1;

	if (make_tid(r) == -1 || RAND_bytes(r->nonce, sizeof(r->nonce)) != 1 ||
	    (cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL)) ==
	        NULL ||
	    (si = CMS_add1_signer(
	         cms, r->signer, r->key, EVP_sha256(), flags)) == NULL)
		goto out;
	if (!add_attr(si, OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, "19", 2) ||
	    !add_attr(si, OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, r->tid,
	        strlen(r->tid)) ||
	    !add_attr(si, OID_SENDER_NONCE, V_ASN1_OCTET_STRING, r->nonce,
	        sizeof(r->nonce)))
		goto out;
	if ((bio = BIO_new_mem_buf(env, (int)env_len)) == NULL ||
	    CMS_final(cms, bio, NULL, CMS_BINARY) != 1 ||
	    (r->der = cms_der(cms, &r->len)) == NULL)
		goto out;
	rc = 0;
out:
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return rc;
}

int
bscep_req_make(
    struct bscep_req *r, const struct bscep_req_opts *o, const char *cn)
{
	unsigned char *csr = NULL, *env = NULL;
	size_t csr_len = 0, env_len = 0;
	int rc = -1;

	if (r->key == NULL &&
	    (r->key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
	        NULL)
		goto out;
	if ((r->signer = make_signer(r->key)) == NULL ||
	    (csr = make_csr(r->key, cn, o->challenge, &csr_len)) == NULL ||
	    (env = envelope(o->peer->recipient, o->cipher, csr, csr_len,
	         &env_len)) == NULL ||
	    sign_message(r, env, env_len) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_free(csr);
	OPENSSL_free(env);
	return rc;
}

/* The PrintableString attribute `oid` of `si` into buf ("" when absent
 * or too long). */
static const char *
attr_string(CMS_SignerInfo *si, const char *oid, char *buf, size_t bufsz)
{
	const ASN1_STRING *s = NULL;
	ASN1_OBJECT *obj;
	int n;

	buf[0] = '\0';
	if ((obj = OBJ_txt2obj(oid, 1)) != NULL)
		s = CMS_signed_get0_data_by_OBJ(
		    si, obj, -3, V_ASN1_PRINTABLESTRING);
	ASN1_OBJECT_free(obj);
	if (s != NULL && (n = ASN1_STRING_length(s)) > 0 && (size_t)n < bufsz) {
		memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
		buf[n] = '\0';
	}
	return buf;
}

/* 1 when the recipientNonce of `si` is r->nonce. */
static int
nonce_echoed(CMS_SignerInfo *si, const struct bscep_req *r)
{
	const ASN1_STRING *s = NULL;
	ASN1_OBJECT *obj;

	if ((obj = OBJ_txt2obj(OID_RECIPIENT_NONCE, 1)) != NULL)
		s = CMS_signed_get0_data_by_OBJ(
		    si, obj, -3, V_ASN1_OCTET_STRING);
	ASN1_OBJECT_free(obj);
	return s != NULL && ASN1_STRING_length(s) == BSCEP_NONCE_LEN &&
	    memcmp(ASN1_STRING_get0_data(s), r->nonce, BSCEP_NONCE_LEN) == 0;
}

/* §3.3.2 attributes of a SUCCESS answering `r`.  0 / -1 (why). */
static int
check_attrs(
    CMS_SignerInfo *si, const struct bscep_req *r, char *why, size_t whysz)
{
	char type[8], status[8], info[8], tid[sizeof(r->tid)];

	attr_string(si, OID_MESSAGE_TYPE, type, sizeof(type));
	attr_string(si, OID_PKI_STATUS, status, sizeof(status));
	attr_string(si, OID_FAIL_INFO, info, sizeof(info));
	attr_string(si, OID_TRANSACTION_ID, tid, sizeof(tid));
	if (strcmp(type, "3") != 0)
		return fail(why, whysz, "CertRep: messageType \"%s\"", type);
	if (strcmp(status, "0") != 0)
		return fail(why, whysz,
		    "CertRep: pkiStatus \"%s\" failInfo \"%s\"", status, info);
	if (strcmp(tid, r->tid) != 0)
		return fail(why, whysz, "CertRep: transactionID not ours");
	if (!nonce_echoed(si, r))
		return fail(why, whysz, "CertRep: recipientNonce not ours");
	return 0;
}

/*
 * Verify the SignedData `der` (signed by p->recipient) and return its
 * content in *content (a memory BIO the caller frees).  0 / -1 (why).
 */
static int
open_signed(const unsigned char *der, size_t len, const struct bscep_req *r,
    const struct bscep_peer *p, BIO **content, char *why, size_t whysz)
{
	const unsigned char *q = der;
	STACK_OF(X509) *signers = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *out = NULL;
	int rc = -1;

	if (len > BSCEP_MAX_DER ||
	    (cms = d2i_CMS_ContentInfo(NULL, &q, (long)len)) == NULL ||
	    (size_t)(q - der) != len ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		fail(why, whysz, "CertRep: not a SignedData");
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    CMS_verify(cms, p->certs, NULL, NULL, out,
	        CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		fail(why, whysz, "CertRep: signature");
		goto out;
	}
	if ((signers = CMS_get0_signers(cms)) == NULL ||
	    sk_X509_num(signers) != 1 ||
	    X509_cmp(sk_X509_value(signers, 0), p->recipient) != 0) {
		fail(why, whysz, "CertRep: not signed by the RA/CA");
		goto out;
	}
	if (check_attrs(sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0),
	        r, why, whysz) == -1)
		goto out;
	*content = out;
	out = NULL;
	rc = 0;
out:
	sk_X509_free(signers); /* certificates borrowed from cms */
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return rc;
}

/* Decrypt the EnvelopedData in `env` with r's key; the plaintext in a
 * memory BIO (caller frees) or NULL (why). */
static BIO *
open_envelope(BIO *env, const struct bscep_req *r, char *why, size_t whysz)
{
	const unsigned char *der, *q;
	CMS_ContentInfo *cms = NULL;
	BIO *out = NULL, *ret = NULL;
	char *data;
	long n;

	if ((n = BIO_get_mem_data(env, &data)) <= 0) {
		fail(why, whysz, "CertRep: SUCCESS without content");
		goto out;
	}
	der = q = (const unsigned char *)data;
	if ((cms = d2i_CMS_ContentInfo(NULL, &q, n)) == NULL || q - der != n ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
		fail(why, whysz, "CertRep: content is not an EnvelopedData");
		goto out;
	}
	if ((out = BIO_new(BIO_s_mem())) == NULL ||
	    CMS_decrypt(cms, r->key, r->signer, NULL, out, CMS_BINARY) != 1) {
		fail(why, whysz, "CertRep: envelope does not open");
		goto out;
	}
	ret = out;
	out = NULL;
out:
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return ret;
}

/* 1 when `x` is signed by one of the CA certificates of `p`. */
static int
issued_by_peer(X509 *x, const struct bscep_peer *p)
{
	X509 *ca;
	int i;

	for (i = 0; i < sk_X509_num(p->certs); i++) {
		ca = sk_X509_value(p->certs, i);
		if (X509_check_ca(ca) > 0 &&
		    X509_NAME_cmp(X509_get_issuer_name(x),
		        X509_get_subject_name(ca)) == 0 &&
		    X509_verify(x, X509_get0_pubkey(ca)) == 1)
			return 1;
	}
	ERR_clear_error();
	return 0;
}

/* The degenerate PKCS#7 in `inner` must hold a certificate for r->key
 * issued by the peer's CA.  0 / -1 (why). */
static int
check_issued(BIO *inner, const struct bscep_req *r, const struct bscep_peer *p,
    char *why, size_t whysz)
{
	STACK_OF(X509) *certs;
	X509 *x = NULL;
	char *data;
	long n;
	int i, rc = -1;

	if ((n = BIO_get_mem_data(inner, &data)) <= 0 ||
	    (certs = certs_only((const unsigned char *)data, (size_t)n)) ==
	        NULL)
		return fail(why, whysz,
		    "CertRep: envelope holds no certs-only "
		    "PKCS#7");
	for (i = 0; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (EVP_PKEY_eq(X509_get0_pubkey(x), r->key) == 1)
			break;
	}
	if (i == sk_X509_num(certs))
		fail(why, whysz, "CertRep: no certificate for our key");
	else if (!issued_by_peer(x, p))
		fail(why, whysz, "CertRep: certificate not signed by the CA");
	else
		rc = 0;
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return rc;
}

int
bscep_rep_check(const struct bscep_req *r, const struct bscep_peer *p,
    const unsigned char *der, size_t len, char *why, size_t whysz)
{
	BIO *env = NULL, *inner = NULL;
	int rc = -1;

	if (open_signed(der, len, r, p, &env, why, whysz) == -1 ||
	    (inner = open_envelope(env, r, why, whysz)) == NULL ||
	    check_issued(inner, r, p, why, whysz) == -1)
		goto out;
	rc = 0;
out:
	BIO_free(inner);
	BIO_free(env);
	ERR_clear_error();
	return rc;
}
