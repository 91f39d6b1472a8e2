/*
 * ACME request signing for the load drivers: account key, JWK and
 * thumbprint, ES256 flattened JWS, finalize CSRs (see acme_jws.h).
 * OpenSSL 3 EVP APIs only; every object freed on every path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench/acme_jws.h"
#include "bench/csr.h"
#include "core/encoding.h"

/* Print the error queue (if any) and clear it. */
static void
ssl_errors(void)
{
	ERR_print_errors_fp(stderr);
	ERR_clear_error();
}

/* Coordinate `param` of `key` as 32 bytes of base64url; NULL on error. */
static char *
ec_coord(EVP_PKEY *key, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char raw[32];
	char *ret = NULL;

	if (EVP_PKEY_get_bn_param(key, param, &bn) == 1 &&
	    BN_bn2binpad(bn, raw, sizeof(raw)) == (int)sizeof(raw))
		ret = encoding_b64url_encode(raw, sizeof(raw));
	BN_free(bn);
	return ret;
}

int
bjws_account_keygen(struct bjws_account *a)
{
	unsigned char md[32];
	char *x = NULL, *y = NULL;
	size_t len;
	int rc = -1;

	if ((a->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (x = ec_coord(a->key, OSSL_PKEY_PARAM_EC_PUB_X)) == NULL ||
	    (y = ec_coord(a->key, OSSL_PKEY_PARAM_EC_PUB_Y)) == NULL)
		goto out;
	len = strlen(x) + strlen(y) + 64;
	if ((a->jwk = malloc(len)) == NULL)
		goto out;
	snprintf(a->jwk, len,
	    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
	    "\"y\":\"%s\"}",
	    x, y);
	if (EVP_Digest(a->jwk, strlen(a->jwk), md, NULL, EVP_sha256(), NULL) !=
	        1 ||
	    (a->thumb = encoding_b64url_encode(md, sizeof(md))) == NULL)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		ssl_errors();
	free(x);
	free(y);
	return rc;
}

void
bjws_account_clear(struct bjws_account *a)
{
	if (a == NULL)
		return;
	EVP_PKEY_free(a->key);
	free(a->jwk);
	free(a->thumb);
	free(a->kid);
	memset(a, 0, sizeof(*a));
}

/* ES256 over `in`: raw r||s (RFC 7518 §3.4) in base64url.  NULL on error. */
static char *
es256(EVP_PKEY *key, const char *in)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	unsigned char der[80], raw[64];
	const unsigned char *p = der;
	size_t len = sizeof(der);
	char *ret = NULL;

	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(
	        ctx, der, &len, (const unsigned char *)in, strlen(in)) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL ||
	    (size_t)(p - der) != len)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 ||
	    BN_bn2binpad(s, raw + 32, 32) != 32)
		goto out;
	ret = encoding_b64url_encode(raw, sizeof(raw));
out:
	if (ret == NULL)
		ssl_errors();
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

char *
bjws_sign(const struct bjws_account *a, const char *url, const char *nonce,
    const char *payload)
{
	json_t *prot = NULL, *body = NULL;
	char *ph = NULL, *p64 = NULL, *pl64 = NULL, *input = NULL, *sig = NULL;
	char *ret = NULL;
	size_t len;

	prot = json_pack(
	    "{s:s, s:s, s:s}", "alg", "ES256", "nonce", nonce, "url", url);
	if (prot == NULL ||
	    (a->kid != NULL
	            ? json_object_set_new(prot, "kid", json_string(a->kid))
	            : json_object_set_new(
	                  prot, "jwk", json_loads(a->jwk, 0, NULL))) == -1 ||
	    (ph = json_dumps(prot, JSON_COMPACT)) == NULL ||
	    (p64 = encoding_b64url_encode((unsigned char *)ph, strlen(ph))) ==
	        NULL)
		goto out;
	pl64 = *payload == '\0'
	    ? strdup("")
	    : encoding_b64url_encode((unsigned char *)payload, strlen(payload));
	len = strlen(p64) + (pl64 != NULL ? strlen(pl64) : 0) + 2;
	if (pl64 == NULL || (input = malloc(len)) == NULL)
		goto out;
	snprintf(input, len, "%s.%s", p64, pl64);
	if ((sig = es256(a->key, input)) == NULL ||
	    (body = json_pack("{s:s, s:s, s:s}", "protected", p64, "payload",
	         pl64, "signature", sig)) == NULL)
		goto out;
	ret = json_dumps(body, JSON_COMPACT);
out:
	json_decref(prot);
	json_decref(body);
	free(ph);
	free(p64);
	free(pl64);
	free(input);
	free(sig);
	return ret;
}

char *
bjws_csr(EVP_PKEY *key, const char *host)
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
