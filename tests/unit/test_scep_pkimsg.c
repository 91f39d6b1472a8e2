/*
 * protocols/scep/pkimsg.c and certrep.c: client pkiMessages built here
 * with OpenSSL's CMS API (as a SCEP client would) are parsed, refused
 * for each reason the parser knows, and answered with CertReps that are
 * read back the way a client reads them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/pkcs7.h"
#include "protocols/scep/pkimsg.h"

#define OID_ARC "2.16.840.1.113733.1.9."

static OSSL_PROVIDER *prov_default, *prov_legacy;
static EVP_PKEY *ra_key, *ra2_key, *signer_key, *issued_key;
static X509 *ra_cert, *ra2_cert, *signer_cert, *issued_cert;
static unsigned char *csr_der;
static size_t csr_len;
static const unsigned char req_nonce[16] = "0123456789abcdef";
static ASN1_OBJECT *oid_type, *oid_status, *oid_fail, *oid_snonce, *oid_rnonce,
    *oid_tid;

/* What a test client puts in its pkiMessage. */
struct spec {
	const char *type; /* messageType; NULL: left out */
	const char *tid;  /* transactionID; NULL: left out */
	const EVP_MD *md;
	const EVP_CIPHER *cipher;
	X509 *ra; /* envelope recipient */
	const unsigned char *content;
	size_t content_len;
};

static unsigned char *
make_csr(size_t *len)
{
	X509_REQ *req;
	X509_NAME *name;
	unsigned char *der = NULL;
	int n;

	req = X509_REQ_new();
	assert_non_null(req);
	name = X509_REQ_get_subject_name(req);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)"device.example", -1, -1, 0),
	    1);
	assert_int_equal(X509_REQ_set_pubkey(req, signer_key), 1);
	assert_true(X509_REQ_sign(req, signer_key, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_REQ_free(req);
	return der;
}

static int
setup(void **state)
{
	(void)state;
	/*
	 * Single DES needs the legacy provider to build test messages.
	 * Loaded here (so pkimsg.c finds it and loads nothing) and unloaded
	 * in teardown: a provider still referenced at exit is not torn
	 * down, and LeakSanitizer reports its DRBG.
	 */
	prov_default = OSSL_PROVIDER_load(NULL, "default");
	prov_legacy = OSSL_PROVIDER_load(NULL, "legacy");
	if (prov_default == NULL || prov_legacy == NULL)
		return -1;
	ra_key = cert_keygen(KEY_RSA, 2048);
	ra2_key = cert_keygen(KEY_RSA, 2048);
	signer_key = cert_keygen(KEY_RSA, 2048);
	issued_key = cert_keygen(KEY_P256, 0);
	if (ra_key == NULL || ra2_key == NULL || signer_key == NULL ||
	    issued_key == NULL)
		return -1;
	ra_cert = cert_make_root_ca(ra_key, "SCEP RA", 30);
	ra2_cert = cert_make_root_ca(ra2_key, "Other RA", 30);
	signer_cert = cert_make_root_ca(signer_key, "SCEP SIGNER", 1);
	issued_cert = cert_make_root_ca(issued_key, "device.example", 1);
	if (ra_cert == NULL || ra2_cert == NULL || signer_cert == NULL ||
	    issued_cert == NULL)
		return -1;
	csr_der = make_csr(&csr_len);
	oid_type = OBJ_txt2obj(OID_ARC "2", 1);
	oid_status = OBJ_txt2obj(OID_ARC "3", 1);
	oid_fail = OBJ_txt2obj(OID_ARC "4", 1);
	oid_snonce = OBJ_txt2obj(OID_ARC "5", 1);
	oid_rnonce = OBJ_txt2obj(OID_ARC "6", 1);
	oid_tid = OBJ_txt2obj(OID_ARC "7", 1);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(ra_cert);
	X509_free(ra2_cert);
	X509_free(signer_cert);
	X509_free(issued_cert);
	EVP_PKEY_free(ra_key);
	EVP_PKEY_free(ra2_key);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(issued_key);
	OPENSSL_free(csr_der);
	ASN1_OBJECT_free(oid_type);
	ASN1_OBJECT_free(oid_status);
	ASN1_OBJECT_free(oid_fail);
	ASN1_OBJECT_free(oid_snonce);
	ASN1_OBJECT_free(oid_rnonce);
	ASN1_OBJECT_free(oid_tid);
	OSSL_PROVIDER_unload(prov_legacy);
	OSSL_PROVIDER_unload(prov_default);
	return 0;
}

static unsigned char *
cms_der(CMS_ContentInfo *cms, size_t *len)
{
	unsigned char *der = NULL;
	int n;

	n = i2d_CMS_ContentInfo(cms, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	return der;
}

/* EnvelopedData of the content for sp->ra. OPENSSL_free. */
static unsigned char *
client_envelope(const struct spec *sp, size_t *len)
{
	STACK_OF(X509) *recips;
	CMS_ContentInfo *cms;
	unsigned char *der;
	BIO *bio;

	recips = sk_X509_new_null();
	assert_non_null(recips);
	assert_true(sk_X509_push(recips, sp->ra) > 0);
	bio = BIO_new_mem_buf(sp->content, (int)sp->content_len);
	assert_non_null(bio);
	cms = CMS_encrypt(recips, bio, sp->cipher, CMS_BINARY);
	assert_non_null(cms);
	der = cms_der(cms, len);
	CMS_ContentInfo_free(cms);
	BIO_free(bio);
	sk_X509_free(recips);
	return der;
}

/* A client's pkiMessage (RFC 8894 §3.2) per sp.  OPENSSL_free. */
static unsigned char *
client_msg(const struct spec *sp, size_t *len)
{
	const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	unsigned char *env, *der;
	size_t env_len;
	BIO *bio;

	env = client_envelope(sp, &env_len);
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL);
	assert_non_null(cms);
	si = CMS_add1_signer(cms, signer_cert, signer_key, sp->md, flags);
	assert_non_null(si);
	if (sp->type != NULL)
		assert_int_equal(CMS_signed_add1_attr_by_OBJ(si, oid_type,
		                     V_ASN1_PRINTABLESTRING, sp->type,
		                     (int)strlen(sp->type)),
		    1);
	if (sp->tid != NULL)
		assert_int_equal(
		    CMS_signed_add1_attr_by_OBJ(si, oid_tid,
		        V_ASN1_PRINTABLESTRING, sp->tid, (int)strlen(sp->tid)),
		    1);
	assert_int_equal(CMS_signed_add1_attr_by_OBJ(si, oid_snonce,
	                     V_ASN1_OCTET_STRING, req_nonce, sizeof(req_nonce)),
	    1);
	bio = BIO_new_mem_buf(env, (int)env_len);
	assert_non_null(bio);
	assert_int_equal(CMS_final(cms, bio, NULL, CMS_BINARY), 1);
	der = cms_der(cms, len);
	BIO_free(bio);
	OPENSSL_free(env);
	CMS_ContentInfo_free(cms);
	return der;
}

static struct spec
pkcsreq(const EVP_MD *md, const EVP_CIPHER *cipher)
{
	struct spec sp = {"19", "TID-0001/abc", md, cipher, NULL, NULL, 0};

	sp.ra = ra_cert;
	sp.content = csr_der;
	sp.content_len = csr_len;
	return sp;
}

static struct scep_pkimsg *
parse(const unsigned char *der, size_t len, int allow_des,
    enum scep_parse_error *err, struct scep_pkimsg **partial)
{
	struct scep_parse_opts opts = {ra_cert, ra_key, allow_des};

	return scep_pkimsg_parse(der, len, &opts, err, partial);
}

/* Parse a message that must be good and check what every type has. */
static struct scep_pkimsg *
parse_ok(const struct spec *sp, int allow_des)
{
	struct scep_pkimsg *m, *partial = (void *)1;
	enum scep_parse_error err = SCEP_PARSE_BAD_REQUEST;
	unsigned char *der;
	size_t len;

	der = client_msg(sp, &len);
	m = parse(der, len, allow_des, &err, &partial);
	OPENSSL_free(der);
	assert_int_equal(err, SCEP_PARSE_OK);
	assert_non_null(m);
	assert_null(partial);
	assert_int_equal(scep_pkimsg_type(m), atoi(sp->type));
	assert_string_equal(scep_pkimsg_transaction_id(m), sp->tid);
	assert_int_equal(X509_cmp(scep_pkimsg_signer(m), signer_cert), 0);
	assert_int_equal(
	    EVP_MD_get_type(scep_pkimsg_md(m)), EVP_MD_get_type(sp->md));
	assert_int_equal(EVP_CIPHER_get_nid(scep_pkimsg_cipher(m)),
	    EVP_CIPHER_get_nid(sp->cipher));
	return m;
}

static void
assert_csr(const struct scep_pkimsg *m)
{
	const unsigned char *p;
	size_t len;

	p = scep_pkimsg_csr_der(m, &len);
	assert_non_null(p);
	assert_int_equal(len, csr_len);
	assert_memory_equal(p, csr_der, csr_len);
	assert_null(scep_pkimsg_issuer(m));
	assert_null(scep_pkimsg_subject(m));
	assert_null(scep_pkimsg_serial(m));
}

static void
test_pkcsreq_aes256(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	struct scep_pkimsg *m;

	(void)state;
	m = parse_ok(&sp, 0);
	assert_csr(m);
	scep_pkimsg_free(m);
}

static void
test_renewal_3des_sha1(void **state)
{
	struct spec sp = pkcsreq(EVP_sha1(), EVP_des_ede3_cbc());
	struct scep_pkimsg *m;

	(void)state;
	sp.type = "17";
	m = parse_ok(&sp, 0);
	assert_int_equal(scep_pkimsg_type(m), SCEP_RENEWAL_REQ);
	assert_csr(m);
	scep_pkimsg_free(m);
}

static void
test_des_allowed_sha512(void **state)
{
	struct spec sp = pkcsreq(EVP_sha512(), EVP_des_cbc());
	struct scep_pkimsg *m;

	(void)state;
	m = parse_ok(&sp, 1);
	assert_int_equal(
	    EVP_CIPHER_get_nid(scep_pkimsg_cipher(m)), NID_des_cbc);
	assert_csr(m);
	scep_pkimsg_free(m);
}

/* A refusal with a partial message that can still be answered. */
static struct scep_pkimsg *
parse_refused(const unsigned char *der, size_t len, int allow_des,
    enum scep_parse_error want)
{
	struct scep_pkimsg *m, *partial = NULL;
	enum scep_parse_error err = SCEP_PARSE_OK;

	m = parse(der, len, allow_des, &err, &partial);
	assert_null(m);
	assert_int_equal(err, want);
	assert_non_null(partial);
	assert_int_equal(X509_cmp(scep_pkimsg_signer(partial), signer_cert), 0);
	assert_null(scep_pkimsg_csr_der(partial, &len));
	return partial;
}

/* Refused with `want`; the partial keeps the transactionID `tid`. */
static void
refuse_spec(const struct spec *sp, int allow_des, enum scep_parse_error want,
    const char *tid)
{
	struct scep_pkimsg *partial;
	unsigned char *der;
	size_t len;

	der = client_msg(sp, &len);
	partial = parse_refused(der, len, allow_des, want);
	if (tid != NULL)
		assert_string_equal(scep_pkimsg_transaction_id(partial), tid);
	else
		assert_null(scep_pkimsg_transaction_id(partial));
	scep_pkimsg_free(partial);
	OPENSSL_free(der);
}

static void
test_des_refused(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_des_cbc());

	(void)state;
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_ALG, sp.tid);
}

static void
test_md5_refused(void **state)
{
	struct spec sp = pkcsreq(EVP_md5(), EVP_aes_128_cbc());

	(void)state;
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_ALG, sp.tid);
}

static void
test_other_ra(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());

	(void)state;
	sp.ra = ra2_cert;
	refuse_spec(&sp, 0, SCEP_PARSE_DECRYPT, sp.tid);
}

static void
test_bad_attributes(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());

	(void)state;
	sp.tid = NULL;
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_REQUEST, sp.tid);
	sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	sp.type = "99";
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_REQUEST, sp.tid);
	sp.type = NULL;
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_REQUEST, sp.tid);
	sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	sp.tid = "bad\001tid";
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_REQUEST, NULL);
	/* CertPoll whose envelope holds a CSR, not IssuerAndSubject. */
	sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	sp.type = "20";
	refuse_spec(&sp, 0, SCEP_PARSE_BAD_REQUEST, sp.tid);
}

static void
test_bad_signature(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	struct scep_pkimsg *partial;
	unsigned char *der;
	size_t len;

	(void)state;
	der = client_msg(&sp, &len);
	/* The SignerInfo's signature value ends the DER. */
	der[len - 1] ^= 0x01;
	partial = parse_refused(der, len, 0, SCEP_PARSE_BAD_SIGNATURE);
	assert_string_equal(scep_pkimsg_transaction_id(partial), sp.tid);
	scep_pkimsg_free(partial);
	OPENSSL_free(der);
}

static void
assert_not_pkcs7(const unsigned char *der, size_t len)
{
	struct scep_pkimsg *m, *partial = (void *)1;
	enum scep_parse_error err = SCEP_PARSE_OK;

	m = parse(der, len, 0, &err, &partial);
	assert_null(m);
	assert_null(partial);
	assert_int_equal(err, SCEP_PARSE_NOT_PKCS7);
}

static void
test_not_pkcs7(void **state)
{
	static const unsigned char garbage[] = "\x30\x03\x02\x01\x05 junk";
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	unsigned char *der, *longer, *bag;
	size_t len, bag_len;

	(void)state;
	assert_not_pkcs7(garbage, sizeof(garbage));
	assert_not_pkcs7(garbage, 0);
	assert_not_pkcs7(csr_der, csr_len);
	der = client_msg(&sp, &len);
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_not_pkcs7(longer, len + 1);
	assert_not_pkcs7(der, len - 1);
	/* A certs-only bag is a SignedData without a signer. */
	bag = pkcs7_certs_only_der(ra_cert, NULL, &bag_len);
	assert_non_null(bag);
	assert_not_pkcs7(bag, bag_len);
	OPENSSL_free(bag);
	free(longer);
	OPENSSL_free(der);
}

static void
test_certpoll(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_128_cbc());
	unsigned char *is = NULL, *p;
	struct scep_pkimsg *m;
	int n1, n2;
	size_t len;

	(void)state;
	/* IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name } */
	n1 = i2d_X509_NAME(X509_get_subject_name(ra_cert), NULL);
	n2 = i2d_X509_NAME(X509_get_subject_name(signer_cert), NULL);
	assert_true(n1 > 0 && n2 > 0 && n1 + n2 < 65536);
	len = 4 + (size_t)n1 + (size_t)n2;
	is = malloc(len);
	assert_non_null(is);
	is[0] = 0x30;
	is[1] = 0x82;
	is[2] = (unsigned char)((n1 + n2) >> 8);
	is[3] = (unsigned char)(n1 + n2);
	p = is + 4;
	i2d_X509_NAME(X509_get_subject_name(ra_cert), &p);
	i2d_X509_NAME(X509_get_subject_name(signer_cert), &p);
	sp.type = "20";
	sp.content = is;
	sp.content_len = len;
	m = parse_ok(&sp, 0);
	assert_int_equal(X509_NAME_cmp(scep_pkimsg_issuer(m),
	                     X509_get_subject_name(ra_cert)),
	    0);
	assert_int_equal(X509_NAME_cmp(scep_pkimsg_subject(m),
	                     X509_get_subject_name(signer_cert)),
	    0);
	assert_null(scep_pkimsg_serial(m));
	assert_null(scep_pkimsg_csr_der(m, &len));
	scep_pkimsg_free(m);
	free(is);
}

/* GetCert (21) and GetCRL (22): IssuerAndSerialNumber of issued_cert. */
static void
test_getcert_getcrl(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	static const char *const types[] = {"21", "22"};
	PKCS7_ISSUER_AND_SERIAL *ias;
	struct scep_pkimsg *m;
	unsigned char *der = NULL;
	size_t i;
	int n;

	(void)state;
	ias = PKCS7_ISSUER_AND_SERIAL_new();
	assert_non_null(ias);
	assert_int_equal(
	    X509_NAME_set(&ias->issuer, X509_get_issuer_name(issued_cert)), 1);
	ASN1_INTEGER_free(ias->serial);
	ias->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(issued_cert));
	assert_non_null(ias->serial);
	n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, &der);
	assert_true(n > 0);
	sp.content = der;
	sp.content_len = (size_t)n;
	for (i = 0; i < 2; i++) {
		sp.type = types[i];
		m = parse_ok(&sp, 0);
		assert_int_equal(X509_NAME_cmp(scep_pkimsg_issuer(m),
		                     X509_get_issuer_name(issued_cert)),
		    0);
		assert_int_equal(ASN1_INTEGER_cmp(scep_pkimsg_serial(m),
		                     X509_get0_serialNumber(issued_cert)),
		    0);
		assert_null(scep_pkimsg_subject(m));
		scep_pkimsg_free(m);
	}
	OPENSSL_free(der);
	PKCS7_ISSUER_AND_SERIAL_free(ias);
}

/* The one PrintableString value of attribute `oid`, as a C string in
 * buf; NULL when absent. */
static const char *
rep_string(CMS_SignerInfo *si, ASN1_OBJECT *oid, char *buf, size_t bufsz)
{
	const ASN1_STRING *s;
	int n;

	s = CMS_signed_get0_data_by_OBJ(si, oid, -3, V_ASN1_PRINTABLESTRING);
	if (s == NULL)
		return NULL;
	n = ASN1_STRING_length(s);
	assert_true(n > 0 && (size_t)n < bufsz);
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
	buf[n] = '\0';
	return buf;
}

/*
 * Read a CertRep the way a client does: the RA's signature, then the
 * attributes.  Returns the encapsulated content (malloc'd, *len).
 */
static unsigned char *
client_read_rep(const unsigned char *der, size_t len, const char *status,
    const char *fail, const EVP_MD *md, size_t *out_len)
{
	const unsigned char *p = der;
	STACK_OF(X509) *signers;
	const ASN1_STRING *rn, *sn;
	CMS_ContentInfo *cms;
	X509_ALGOR *dig;
	CMS_SignerInfo *si;
	PKCS7 *p7;
	unsigned char *out;
	char *data, buf[64];
	BIO *bio;
	long n;

	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	assert_non_null(cms);
	assert_ptr_equal(p, der + len);
	assert_int_equal(
	    OBJ_obj2nid(CMS_get0_eContentType(cms)), NID_pkcs7_data);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(CMS_verify(cms, NULL, NULL, NULL, bio,
	                     CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY),
	    1);
	signers = CMS_get0_signers(cms);
	assert_int_equal(sk_X509_num(signers), 1);
	assert_int_equal(X509_cmp(sk_X509_value(signers, 0), ra_cert), 0);
	sk_X509_free(signers);
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	assert_int_equal(OBJ_obj2nid(dig->algorithm), EVP_MD_get_type(md));
	assert_string_equal(rep_string(si, oid_type, buf, sizeof(buf)), "3");
	assert_string_equal(
	    rep_string(si, oid_status, buf, sizeof(buf)), status);
	if (fail != NULL)
		assert_string_equal(
		    rep_string(si, oid_fail, buf, sizeof(buf)), fail);
	else
		assert_null(rep_string(si, oid_fail, buf, sizeof(buf)));
	assert_string_equal(
	    rep_string(si, oid_tid, buf, sizeof(buf)), "TID-0001/abc");
	rn = CMS_signed_get0_data_by_OBJ(
	    si, oid_rnonce, -3, V_ASN1_OCTET_STRING);
	assert_non_null(rn);
	assert_int_equal(ASN1_STRING_length(rn), sizeof(req_nonce));
	assert_memory_equal(
	    ASN1_STRING_get0_data(rn), req_nonce, sizeof(req_nonce));
	sn = CMS_signed_get0_data_by_OBJ(
	    si, oid_snonce, -3, V_ASN1_OCTET_STRING);
	assert_non_null(sn);
	assert_int_equal(ASN1_STRING_length(sn), 16);
	assert_memory_not_equal(
	    ASN1_STRING_get0_data(sn), req_nonce, sizeof(req_nonce));
	/* micromdm/scep reads replies with a PKCS#7 parser. */
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_ptr_equal(p, der + len);
	assert_int_equal(
	    sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)), 1);
	PKCS7_free(p7);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n >= 0);
	out = malloc((size_t)n + 1);
	assert_non_null(out);
	if (n > 0)
		memcpy(out, data, (size_t)n);
	*out_len = (size_t)n;
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return out;
}

/* Open the envelope of a SUCCESS with the requester's key: the inner
 * degenerate SignedData.  malloc'd.  The envelope must also read as
 * PKCS#7 (micromdm/scep) with the cipher asked for. */
static unsigned char *
client_open(
    const unsigned char *env, size_t env_len, int cipher_nid, size_t *len)
{
	const unsigned char *p = env;
	CMS_ContentInfo *cms;
	unsigned char *out;
	PKCS7 *p7;
	char *data;
	BIO *bio;
	long n;

	p7 = d2i_PKCS7(NULL, &p, (long)env_len);
	assert_non_null(p7);
	assert_ptr_equal(p, env + env_len);
	assert_true(PKCS7_type_is_enveloped(p7));
	assert_int_equal(
	    OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm),
	    cipher_nid);
	PKCS7_free(p7);
	p = env;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)env_len);
	assert_non_null(cms);
	assert_ptr_equal(p, env + env_len);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_enveloped);
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(
	    CMS_decrypt(cms, signer_key, signer_cert, NULL, bio, CMS_BINARY),
	    1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	out = malloc((size_t)n);
	assert_non_null(out);
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return out;
}

static void
test_certrep_success(void **state)
{
	struct spec sp = pkcsreq(EVP_sha512(), EVP_aes_256_cbc());
	struct scep_certrep rep = {SCEP_SUCCESS, 0, NULL, NULL, 0, NULL};
	unsigned char *der, *env, *inner;
	size_t len, env_len, inner_len;
	STACK_OF(X509) *certs, *got;
	struct scep_pkimsg *m;

	(void)state;
	m = parse_ok(&sp, 0);
	certs = sk_X509_new_null();
	assert_non_null(certs);
	assert_true(sk_X509_push(certs, issued_cert) > 0);
	assert_true(sk_X509_push(certs, ra_cert) > 0);
	rep.certs = certs;
	rep.cipher = EVP_aes_128_cbc();
	der = scep_certrep_der(m, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	env = client_read_rep(der, len, "0", NULL, EVP_sha512(), &env_len);
	inner = client_open(env, env_len, NID_aes_128_cbc, &inner_len);
	got = pkcs7_certs_only_parse(inner, inner_len);
	assert_non_null(got);
	assert_int_equal(sk_X509_num(got), 2);
	assert_int_equal(X509_cmp(sk_X509_value(got, 0), issued_cert), 0);
	assert_int_equal(X509_cmp(sk_X509_value(got, 1), ra_cert), 0);
	sk_X509_pop_free(got, X509_free);
	free(inner);
	free(env);
	free(der);
	/* Without a cipher of its own the reply uses the request's. */
	rep.cipher = NULL;
	der = scep_certrep_der(m, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	free(der);
	/* Single DES is never used for a reply. */
	rep.cipher = EVP_des_cbc();
	assert_null(scep_certrep_der(m, &rep, ra_cert, ra_key, &len));
	/* SUCCESS with nothing to send is a caller error. */
	rep.cipher = EVP_aes_128_cbc();
	rep.certs = NULL;
	assert_null(scep_certrep_der(m, &rep, ra_cert, ra_key, &len));
	sk_X509_free(certs);
	scep_pkimsg_free(m);
	ERR_clear_error();
}

static unsigned char *
make_crl(size_t *len)
{
	X509_CRL *crl;
	ASN1_TIME *t;
	unsigned char *der = NULL;
	int n;

	crl = X509_CRL_new();
	assert_non_null(crl);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ra_cert)), 1);
	t = X509_gmtime_adj(NULL, 0);
	assert_non_null(t);
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_true(X509_CRL_sign(crl, ra_key, EVP_sha256()) > 0);
	n = i2d_X509_CRL(crl, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return der;
}

static void
test_certrep_crl(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_des_ede3_cbc());
	struct scep_certrep rep = {SCEP_SUCCESS, 0, NULL, NULL, 0, NULL};
	unsigned char *crl, *der, *env, *inner, *crl_back = NULL;
	size_t crl_len, len, env_len, inner_len;
	struct scep_pkimsg *m;
	const unsigned char *p;
	PKCS7 *p7;
	int n;

	(void)state;
	m = parse_ok(&sp, 0);
	crl = make_crl(&crl_len);
	rep.crl_der = crl;
	rep.crl_len = crl_len;
	der = scep_certrep_der(m, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	env = client_read_rep(der, len, "0", NULL, EVP_sha256(), &env_len);
	inner = client_open(env, env_len, NID_des_ede3_cbc, &inner_len);
	p = inner;
	p7 = d2i_PKCS7(NULL, &p, (long)inner_len);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_X509_CRL_num(p7->d.sign->crl), 1);
	assert_true(sk_X509_num(p7->d.sign->cert) <= 0);
	n = i2d_X509_CRL(sk_X509_CRL_value(p7->d.sign->crl, 0), &crl_back);
	assert_int_equal(n, crl_len);
	assert_memory_equal(crl_back, crl, crl_len);
	/* A CRL that is not exactly one CRL is refused. */
	rep.crl_len = crl_len - 1;
	assert_null(scep_certrep_der(m, &rep, ra_cert, ra_key, &len));
	OPENSSL_free(crl_back);
	PKCS7_free(p7);
	free(inner);
	free(env);
	free(der);
	OPENSSL_free(crl);
	scep_pkimsg_free(m);
	ERR_clear_error();
}

/* FAILURE and PENDING: no envelope, an empty id-data content. */
static void
test_certrep_failure_pending(void **state)
{
	struct spec sp = pkcsreq(EVP_sha256(), EVP_aes_256_cbc());
	struct scep_certrep rep = {
	    SCEP_FAILURE, SCEP_BAD_REQUEST, NULL, NULL, 0, NULL};
	unsigned char *der, *content;
	size_t len, content_len;
	struct scep_pkimsg *m;

	(void)state;
	m = parse_ok(&sp, 0);
	der = scep_certrep_der(m, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	content =
	    client_read_rep(der, len, "2", "2", EVP_sha256(), &content_len);
	assert_int_equal(content_len, 0);
	free(content);
	free(der);
	rep.status = SCEP_PENDING;
	der = scep_certrep_der(m, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	content =
	    client_read_rep(der, len, "3", NULL, EVP_sha256(), &content_len);
	assert_int_equal(content_len, 0);
	free(content);
	free(der);
	scep_pkimsg_free(m);
}

/* A refused request (bad signature, MD5) is answered from its partial
 * message; MD5 is replaced by SHA-256. */
static void
test_certrep_from_partial(void **state)
{
	struct spec sp = pkcsreq(EVP_md5(), EVP_aes_256_cbc());
	struct scep_certrep rep = {
	    SCEP_FAILURE, SCEP_BAD_ALG, NULL, NULL, 0, NULL};
	unsigned char *msg, *der, *content;
	size_t msg_len, len, content_len;
	struct scep_pkimsg *partial;

	(void)state;
	msg = client_msg(&sp, &msg_len);
	partial = parse_refused(msg, msg_len, 0, SCEP_PARSE_BAD_ALG);
	assert_null(scep_pkimsg_md(partial));
	der = scep_certrep_der(partial, &rep, ra_cert, ra_key, &len);
	assert_non_null(der);
	content =
	    client_read_rep(der, len, "2", "0", EVP_sha256(), &content_len);
	assert_int_equal(content_len, 0);
	free(content);
	free(der);
	scep_pkimsg_free(partial);
	OPENSSL_free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkcsreq_aes256),
	    cmocka_unit_test(test_renewal_3des_sha1),
	    cmocka_unit_test(test_des_allowed_sha512),
	    cmocka_unit_test(test_des_refused),
	    cmocka_unit_test(test_md5_refused),
	    cmocka_unit_test(test_other_ra),
	    cmocka_unit_test(test_bad_attributes),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_not_pkcs7),
	    cmocka_unit_test(test_certpoll),
	    cmocka_unit_test(test_getcert_getcrl),
	    cmocka_unit_test(test_certrep_success),
	    cmocka_unit_test(test_certrep_crl),
	    cmocka_unit_test(test_certrep_failure_pending),
	    cmocka_unit_test(test_certrep_from_partial),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
