/*
 * The drivers' CSR (bench/csr.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/x509v3.h>

#include "bench/csr.h"
#include "core/encoding.h"

X509_REQ *
bcsr_new(
    EVP_PKEY *key, const char *host, const char *challenge, const EVP_MD *md)
{
	X509_REQ *req = NULL, *ret = NULL;
	X509_EXTENSION *ext = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	char san[300];

	if (snprintf(san, sizeof(san), "DNS:%s", host) >= (int)sizeof(san) ||
	    (req = X509_REQ_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	        MBSTRING_ASC, (const unsigned char *)host, -1, -1, 0) ||
	    !X509_REQ_set_pubkey(req, key))
		goto out;
	if ((ext = X509V3_EXT_conf_nid(
	         NULL, NULL, NID_subject_alt_name, san)) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto out;
	ext = NULL; /* owned by exts now */
	if (!X509_REQ_add_extensions(req, exts) ||
	    (challenge != NULL &&
	        !X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	            MBSTRING_ASC, (const unsigned char *)challenge, -1)) ||
	    X509_REQ_sign(req, key, md) <= 0)
		goto out;
	ret = req;
	req = NULL;
out:
	X509_REQ_free(req);
	X509_EXTENSION_free(ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return ret;
}

char *
bcsr_b64url(EVP_PKEY *key, const char *host)
{
	X509_REQ *req;
	unsigned char *der = NULL;
	char *ret = NULL;
	int len;

	if ((req = bcsr_new(key, host, NULL, EVP_sha256())) != NULL &&
	    (len = i2d_X509_REQ(req, &der)) > 0)
		ret = encoding_b64url_encode(der, (size_t)len);
	OPENSSL_free(der);
	X509_REQ_free(req);
	return ret;
}
