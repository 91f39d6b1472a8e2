/*
 * SCEP CertRep (RFC 8894 §3.3.2): the RA-signed SignedData answering a
 * pkiMessage, with for SUCCESS an EnvelopedData for the requester that
 * holds the issued certificates or the CRL.  Built with OpenSSL's CMS
 * API; the attribute OIDs come from pkimsg.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "core/pkcs7.h"
#include "protocols/scep/pkimsg.h"
#include "protocols/scep/pkimsg_int.h"

#define NONCE_LEN 16 /* §3.2.1.5: our senderNonce */

/* What one CertRep is built from (all borrowed). */
struct certrep_ctx {
	const struct scep_pkimsg *req;
	const struct scep_certrep *rep;
	X509 *ra_cert;
	EVP_PKEY *ra_key;
};

/* §3.3.2: a degenerate SignedData holding the CRL `der`.  Caller frees
 * with OPENSSL_free. */
static unsigned char *
crl_only_der(const unsigned char *der, size_t len, size_t *out_len)
{
	const unsigned char *p = der;
	unsigned char *out = NULL;
	X509_CRL *crl = NULL;
	PKCS7 *p7 = NULL;
	int n;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL || p != der + len)
		goto out;
	/* As in core/pkcs7.c: id-data eContentType, no eContent. */
	if ((p7 = PKCS7_new()) == NULL ||
	    PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1 ||
	    PKCS7_set_detached(p7, 1) != 1 || PKCS7_add_crl(p7, crl) != 1)
		goto out;
	if ((n = i2d_PKCS7(p7, &out)) <= 0) {
		out = NULL;
		goto out;
	}
	*out_len = (size_t)n;
out:
	PKCS7_free(p7);
	X509_CRL_free(crl);
	return out;
}

/*
 * §3.3.2 pkcsPKIEnvelope of a SUCCESS: the certs-only SignedData,
 * encrypted for the request's signer.  Caller frees with OPENSSL_free.
 */
static unsigned char *
certrep_envelope(
    const struct scep_pkimsg *req, const struct scep_certrep *rep, size_t *len)
{
	const EVP_CIPHER *cipher;
	STACK_OF(X509) *recips = NULL;
	CMS_ContentInfo *cms = NULL;
	unsigned char *inner = NULL, *der = NULL;
	size_t inner_len = 0;
	BIO *bio = NULL;
	int n;

	cipher = rep->cipher != NULL ? rep->cipher : scep_pkimsg_cipher(req);
	if (cipher == NULL || EVP_CIPHER_get_nid(cipher) == NID_des_cbc) {
		log_error("msg=\"scep CertRep: no content cipher, or single "
		          "DES\"");
		goto out;
	}
	if (rep->crl_der != NULL)
		inner = crl_only_der(rep->crl_der, rep->crl_len, &inner_len);
	else if (sk_X509_num(rep->certs) > 0)
		inner = pkcs7_certs_only_der(NULL, rep->certs, &inner_len);
	if (inner == NULL || inner_len > INT_MAX)
		goto out;
	if ((recips = sk_X509_new_null()) == NULL ||
	    sk_X509_push(recips, scep_pkimsg_signer(req)) == 0)
		goto out;
	if ((bio = BIO_new_mem_buf(inner, (int)inner_len)) == NULL)
		goto out;
	if ((cms = CMS_encrypt(recips, bio, cipher, CMS_BINARY)) == NULL)
		goto out;
	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		der = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	if (der == NULL)
		log_openssl(LOG_LVL_ERROR,
		    "scep CertRep: cannot build the "
		    "envelope");
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	sk_X509_free(recips);
	OPENSSL_free(inner);
	return der;
}

/* Add a PrintableString attribute.  0/-1 */
static int
add_string(CMS_SignerInfo *si, enum scep_attr a, const char *s)
{
	return CMS_signed_add1_attr_by_OBJ(si, scep_pkimsg_attr(a),
	           V_ASN1_PRINTABLESTRING, s, (int)strlen(s)) == 1
	    ? 0
	    : -1;
}

/* Add an OCTET STRING attribute.  0/-1 */
static int
add_octets(
    CMS_SignerInfo *si, enum scep_attr a, const unsigned char *p, size_t len)
{
	return CMS_signed_add1_attr_by_OBJ(si, scep_pkimsg_attr(a),
	           V_ASN1_OCTET_STRING, p, (int)len) == 1
	    ? 0
	    : -1;
}

/* §3.3.2 authenticated attributes of a CertRep.  0/-1 */
static int
certrep_attrs(CMS_SignerInfo *si, const struct scep_pkimsg *req,
    const struct scep_certrep *rep)
{
	const unsigned char *peer_nonce;
	unsigned char nonce[NONCE_LEN];
	const char *tid;
	size_t peer_len;
	char num[16];

	if (add_string(si, SCEP_ATTR_MESSAGE_TYPE, "3") == -1)
		return -1;
	(void)snprintf(num, sizeof(num), "%d", (int)rep->status);
	if (add_string(si, SCEP_ATTR_PKI_STATUS, num) == -1)
		return -1;
	if (rep->status == SCEP_FAILURE) {
		(void)snprintf(num, sizeof(num), "%d", (int)rep->fail_info);
		if (add_string(si, SCEP_ATTR_FAIL_INFO, num) == -1)
			return -1;
	}
	/* A partial request may lack these; the reply still goes out. */
	tid = scep_pkimsg_transaction_id(req);
	if (tid != NULL && add_string(si, SCEP_ATTR_TRANSACTION_ID, tid) == -1)
		return -1;
	peer_nonce = scep_pkimsg_sender_nonce(req, &peer_len);
	if (peer_nonce != NULL &&
	    add_octets(si, SCEP_ATTR_RECIPIENT_NONCE, peer_nonce, peer_len) ==
	        -1)
		return -1;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    add_octets(si, SCEP_ATTR_SENDER_NONCE, nonce, sizeof(nonce)) == -1)
		return -1;
	return 0;
}

/*
 * §3.3.2 the outer SignedData: RA certificate included, id-data
 * content (the envelope, or empty for FAILURE and PENDING, as the
 * reference server micromdm/scep sends).  Caller frees with
 * OPENSSL_free.
 */
static unsigned char *
certrep_sign(const struct certrep_ctx *c, const unsigned char *env,
    size_t env_len, size_t *len)
{
	static const unsigned char empty[1];
	const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	unsigned char *der = NULL;
	const EVP_MD *md;
	BIO *bio = NULL;
	int n;

	/* The request's digest; a partial one refused for it gets SHA-256. */
	if ((md = scep_pkimsg_md(c->req)) == NULL)
		md = EVP_sha256();
	if (env_len > INT_MAX)
		goto out;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL)) ==
	    NULL)
		goto out;
	si = CMS_add1_signer(cms, c->ra_cert, c->ra_key, md, flags);
	if (si == NULL || certrep_attrs(si, c->req, c->rep) == -1)
		goto out;
	bio = BIO_new_mem_buf(
	    env != NULL ? env : empty, env != NULL ? (int)env_len : 0);
	if (bio == NULL || CMS_final(cms, bio, NULL, flags) != 1)
		goto out;
	if ((n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		der = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	if (der == NULL)
		log_openssl(LOG_LVL_ERROR, "scep CertRep: cannot sign");
	BIO_free(bio);
	CMS_ContentInfo_free(cms);
	return der;
}

unsigned char *
scep_certrep_der(const struct scep_pkimsg *req, const struct scep_certrep *rep,
    X509 *ra_cert, EVP_PKEY *ra_key, size_t *len)
{
	const struct certrep_ctx c = {req, rep, ra_cert, ra_key};
	unsigned char *env = NULL, *der = NULL, *ret = NULL;
	size_t env_len = 0, der_len = 0;

	if (req == NULL || rep == NULL || ra_cert == NULL || ra_key == NULL ||
	    scep_pkimsg_attr(SCEP_ATTR_MESSAGE_TYPE) == NULL)
		goto out;
	if (rep->status == SCEP_SUCCESS) {
		if (scep_pkimsg_signer(req) == NULL)
			goto out;
		if ((env = certrep_envelope(req, rep, &env_len)) == NULL)
			goto out;
	}
	if ((der = certrep_sign(&c, env, env_len, &der_len)) == NULL)
		goto out;
	/* The contract promises malloc'd memory, not OpenSSL's. */
	if ((ret = malloc(der_len)) == NULL)
		goto out;
	memcpy(ret, der, der_len);
	*len = der_len;
out:
	OPENSSL_free(env);
	OPENSSL_free(der);
	return ret;
}
