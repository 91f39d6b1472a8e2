/*
 * Degenerate "certs-only" SignedData (RFC 5652 §5; RFC 7030 §4.1.3;
 * RFC 8894 §3.4): certificates in a SignedData with no signers and no
 * encapsulated content.  Built and read with OpenSSL's PKCS7 API.
 */
#include <limits.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "core/log.h"
#include "core/pkcs7.h"

/* Add `cert` (the PKCS7 takes its own reference). 0 / -1. */
static int
add_cert(PKCS7 *p7, X509 *cert)
{
	return PKCS7_add_certificate(p7, cert) == 1 ? 0 : -1;
}

/*
 * RFC 5272 §4.1 (the Simple PKI Response that RFC 7030 reuses): the
 * eContentType is id-data and eContent is omitted.  PKCS7_set_detached
 * drops the empty OCTET STRING that PKCS7_content_new puts there.
 */
static PKCS7 *
certs_only_new(void)
{
	PKCS7 *p7;

	if ((p7 = PKCS7_new()) == NULL)
		return NULL;
	if (PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
	    PKCS7_content_new(p7, NID_pkcs7_data) != 1 ||
	    PKCS7_set_detached(p7, 1) != 1) {
		PKCS7_free(p7);
		return NULL;
	}
	return p7;
}

unsigned char *
pkcs7_certs_only_der(X509 *first, STACK_OF(X509) *rest, size_t *len)
{
	unsigned char *der = NULL, *ret = NULL;
	PKCS7 *p7 = NULL;
	int i, n;

	if ((p7 = certs_only_new()) == NULL)
		goto out;
	if (first != NULL && add_cert(p7, first) == -1)
		goto out;
	for (i = 0; i < sk_X509_num(rest); i++)
		if (add_cert(p7, sk_X509_value(rest, i)) == -1)
			goto out;
	if ((n = i2d_PKCS7(p7, &der)) <= 0)
		goto out;
	*len = (size_t)n;
	ret = der;
	der = NULL;
out:
	if (ret == NULL)
		log_openssl(LOG_LVL_ERROR, "cannot build certs-only PKCS#7");
	OPENSSL_free(der);
	PKCS7_free(p7);
	return ret;
}

/* Up-referenced copy of `certs` (NULL reads as empty).  NULL on error. */
static STACK_OF(X509) *
copy_certs(const STACK_OF(X509) *certs)
{
	STACK_OF(X509) *out = NULL, *ret = NULL;
	X509 *cert;
	int i;

	if ((out = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++) {
		cert = sk_X509_value(certs, i);
		if (X509_up_ref(cert) != 1)
			goto out;
		if (sk_X509_push(out, cert) == 0) {
			X509_free(cert);
			goto out;
		}
	}
	ret = out;
	out = NULL;
out:
	sk_X509_pop_free(out, X509_free);
	return ret;
}

/*
 * Refuses anything that is not exactly one SignedData without signers
 * (a signed message is not a certificate bag).  An empty bag gives an
 * empty stack.
 */
STACK_OF(X509) *
pkcs7_certs_only_parse(const unsigned char *der, size_t len)
{
	STACK_OF(X509) *certs = NULL;
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL)
		goto out;
	if (p != der + len)
		goto out;
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL)
		goto out;
	if (sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) > 0)
		goto out;
	certs = copy_certs(p7->d.sign->cert);
out:
	if (certs == NULL)
		ERR_clear_error();
	PKCS7_free(p7);
	return certs;
}
