/*
 * EST reply bodies (RFC 7030 §4.1.3, §4.2.3, §4.4.2; RFC 8951 §3):
 * base64 certs-only PKCS#7, the serverkeygen multipart/mixed body, and
 * the HTTP status of each pipeline outcome.  No HTTP I/O here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "core/encoding.h"
#include "core/pkcs7.h"
#include "protocols/est/est_int.h"

/* RFC 2045 §6.8: base64 lines of at most 76 characters. */
#define EST_B64_LINE 76
/* Seconds a client should wait before asking again (RFC 7030 §4.2.3). */
#define EST_RETRY_AFTER 30

/*
 * RFC 7030 §4.2.3: 202 + Retry-After while pending; 4xx for what the
 * client can fix or may not do; 5xx for our side (503 + Retry-After
 * when the CA is unreachable: come back later).  Every policy denial,
 * and an upstream CA's refusal, is 403: understood and refused.
 */
int
est_render_status(enum enroll_reason reason, unsigned *retry_after)
{
	*retry_after = 0;
	switch (reason) {
	case ENROLL_OK:
		return 200;
	case ENROLL_PENDING:
		*retry_after = EST_RETRY_AFTER;
		return 202;
	case ENROLL_MALFORMED:
	case ENROLL_BAD_CSR:
	case ENROLL_BAD_SIGNATURE:
		return 400;
	case ENROLL_BAD_KEY:
	case ENROLL_NAME_FORBIDDEN:
	case ENROLL_WILDCARD_FORBIDDEN:
	case ENROLL_IP_FORBIDDEN:
	case ENROLL_IDENT_UNSUPPORTED:
	case ENROLL_TOO_MANY_NAMES:
	case ENROLL_NO_NAMES:
	case ENROLL_VALIDITY:
	case ENROLL_UNAUTHORIZED:
	case ENROLL_RENEWAL_MISMATCH:
	case ENROLL_REVOKED:
		return 403;
	case ENROLL_NOT_FOUND:
		return 404;
	case ENROLL_SHUTTING_DOWN:
	case ENROLL_BACKEND_ERROR: /* the CA (an upstream one) is away */
		*retry_after = EST_RETRY_AFTER;
		return 503;
	case ENROLL_UNKNOWN_PROFILE: /* init checked every profile */
	case ENROLL_STORE_ERROR:
	case ENROLL_CONFLICT: /* EST adds no writes of its own */
	case ENROLL_INTERNAL:
	case ENROLL_REASON_MAX:
		break;
	}
	return 500;
}

char *
est_render_certs_b64(X509 *first, STACK_OF(X509) *rest, size_t *len)
{
	unsigned char *der;
	size_t derlen;
	char *b64;

	if ((der = pkcs7_certs_only_der(first, rest, &derlen)) == NULL)
		return NULL;
	b64 = encoding_b64_encode(der, derlen, EST_B64_LINE, len);
	OPENSSL_free(der);
	return b64;
}

/* Base64 lines of the PKCS#8 PrivateKeyInfo of key; the caller must
 * cleanse and free.  NULL on error. */
static char *
pkcs8_b64(EVP_PKEY *key, size_t *len)
{
	PKCS8_PRIV_KEY_INFO *p8;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int n;

	if ((p8 = EVP_PKEY2PKCS8(key)) == NULL)
		goto out;
	if ((n = i2d_PKCS8_PRIV_KEY_INFO(p8, &der)) <= 0) {
		der = NULL;
		goto out;
	}
	b64 = encoding_b64_encode(der, (size_t)n, EST_B64_LINE, len);
	OPENSSL_cleanse(der, (size_t)n);
out:
	ERR_clear_error();
	OPENSSL_free(der);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return b64;
}

/*
 * RFC 7030 §4.4.2: the private key part first, then the certificate;
 * RFC 8951 §3.2: both base64.  The boundary is random so it cannot
 * occur in the base64 text (which has no '-').
 */
char *
est_render_serverkeygen(
    EVP_PKEY *key, X509 *cert, size_t *len, char *ctype, size_t ctypesz)
{
	unsigned char rnd[16];
	char *keyb64 = NULL, *certb64 = NULL, *hex = NULL, *body = NULL;
	char head1[192], head2[192], tail[64];
	size_t keylen = 0, certlen = 0, h1, h2, t, off;
	int n;

	if ((keyb64 = pkcs8_b64(key, &keylen)) == NULL)
		goto out;
	if ((certb64 = est_render_certs_b64(cert, NULL, &certlen)) == NULL)
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    (hex = encoding_hex(rnd, sizeof(rnd))) == NULL)
		goto out;
	n = snprintf(ctype, ctypesz, "multipart/mixed; boundary=est%s", hex);
	if (n < 0 || (size_t)n >= ctypesz)
		goto out;
	h1 = (size_t)snprintf(head1, sizeof(head1),
	    "--est%s\r\n"
	    "Content-Type: application/pkcs8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n",
	    hex);
	h2 = (size_t)snprintf(head2, sizeof(head2),
	    "--est%s\r\n"
	    "Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n",
	    hex);
	t = (size_t)snprintf(tail, sizeof(tail), "--est%s--\r\n", hex);
	if ((body = malloc(h1 + keylen + h2 + certlen + t + 1)) == NULL)
		goto out;
	memcpy(body, head1, h1);
	off = h1;
	memcpy(body + off, keyb64, keylen);
	off += keylen;
	memcpy(body + off, head2, h2);
	off += h2;
	memcpy(body + off, certb64, certlen);
	off += certlen;
	memcpy(body + off, tail, t);
	off += t;
	body[off] = '\0';
	*len = off;
out:
	ERR_clear_error();
	if (keyb64 != NULL)
		OPENSSL_cleanse(keyb64, keylen);
	free(keyb64);
	free(certb64);
	free(hex);
	return body;
}
