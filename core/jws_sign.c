/*
 * ACME client signing (see jws_sign.h): JWK, thumbprint, ES256 / RS256
 * flattened JWS and the HS256 External Account Binding.  OpenSSL 3 EVP
 * APIs only; every object freed on every path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/encoding.h"
#include "core/jws_sign.h"
#include "core/log.h"

#define ES256_COORD 32     /* P-256 coordinate and r, s sizes */
#define RSA_MIN_BITS 2048  /* what ACME servers accept */
#define RSA_MAX_BYTES 1024 /* 8192-bit modulus */

/* What jansson writes for the same objects, members in the same order. */
#define PROT_FMT "{\"alg\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\""
#define FLAT_FMT                                                               \
	"{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}"

struct jws_sign_key {
	EVP_PKEY *key;
	/*
	 * DigestSign set up once for SHA-256 and this key, copied for each
	 * signature: OpenSSL 3.0 re-fetches the digest and signature
	 * implementations (locks, name lookups) on every init.  Copying
	 * takes a const source, so concurrent signers may share it.
	 */
	EVP_MD_CTX *tmpl;
	const char *alg; /* static */
	char *jwk;       /* compact, RFC 7638 member order */
	char *thumb;
};

/* Parameter `param` of `key`, big-endian, as base64url: padded to `pad`
 * bytes (EC coordinates), or minimal when pad is 0 (RSA n, e).  NULL on
 * error. */
static char *
bn_param_b64(EVP_PKEY *key, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char raw[RSA_MAX_BYTES];
	char *ret = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
		goto out;
	if (pad != 0)
		n = BN_bn2binpad(bn, raw, (int)pad);
	else if ((size_t)BN_num_bytes(bn) <= sizeof(raw))
		n = BN_bn2bin(bn, raw);
	else
		n = -1;
	if (n > 0)
		ret = encoding_b64url_encode(raw, (size_t)n);
out:
	BN_free(bn);
	return ret;
}

/* The RFC 7638 JWK of `key` (members sorted, no white space, so the same
 * string is hashed for the thumbprint) into k->jwk.  0 / -1. */
static int
make_jwk(struct jws_sign_key *k)
{
	char *a = NULL, *b = NULL;
	char curve[32];
	size_t len;
	int rc = -1;

	if (EVP_PKEY_is_a(k->key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(k->key,
		        OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
		        NULL) != 1 ||
		    strcmp(curve, "prime256v1") != 0 ||
		    (a = bn_param_b64(k->key, OSSL_PKEY_PARAM_EC_PUB_X,
		         ES256_COORD)) == NULL ||
		    (b = bn_param_b64(k->key, OSSL_PKEY_PARAM_EC_PUB_Y,
		         ES256_COORD)) == NULL)
			goto out;
		k->alg = "ES256";
		len = strlen(a) + strlen(b) + 64;
		if ((k->jwk = malloc(len)) == NULL)
			goto out;
		snprintf(k->jwk, len,
		    "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
		    "\"y\":\"%s\"}",
		    a, b);
	} else if (EVP_PKEY_is_a(k->key, "RSA")) {
		if (EVP_PKEY_get_bits(k->key) < RSA_MIN_BITS ||
		    (a = bn_param_b64(k->key, OSSL_PKEY_PARAM_RSA_E, 0)) ==
		        NULL ||
		    (b = bn_param_b64(k->key, OSSL_PKEY_PARAM_RSA_N, 0)) ==
		        NULL)
			goto out;
		k->alg = "RS256";
		len = strlen(a) + strlen(b) + 64;
		if ((k->jwk = malloc(len)) == NULL)
			goto out;
		snprintf(k->jwk, len,
		    "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
	} else
		goto out;
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

struct jws_sign_key *
jws_sign_key_new(EVP_PKEY *key)
{
	struct jws_sign_key *k, *ret = NULL;
	unsigned char md[32];

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if (EVP_PKEY_up_ref(key) != 1)
		goto out;
	k->key = key;
	if (make_jwk(k) == -1 || (k->tmpl = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit_ex(
	        k->tmpl, NULL, "SHA256", NULL, NULL, k->key, NULL) != 1 ||
	    EVP_Digest(k->jwk, strlen(k->jwk), md, NULL, EVP_sha256(), NULL) !=
	        1 ||
	    (k->thumb = encoding_b64url_encode(md, sizeof(md))) == NULL)
		goto out;
	ret = k;
	k = NULL;
out:
	if (ret == NULL)
		log_openssl(LOG_LVL_ERROR,
		    "jws_sign: account key is not P-256 or RSA >= 2048");
	jws_sign_key_free(k);
	return ret;
}

void
jws_sign_key_free(struct jws_sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->key);
	EVP_MD_CTX_free(k->tmpl);
	free(k->jwk);
	free(k->thumb);
	free(k);
}

const char *
jws_sign_key_jwk(const struct jws_sign_key *k)
{
	return k->jwk;
}

const char *
jws_sign_key_thumbprint(const struct jws_sign_key *k)
{
	return k->thumb;
}

const char *
jws_sign_key_alg(const struct jws_sign_key *k)
{
	return k->alg;
}

/* DER ECDSA-Sig-Value -> raw r||s (RFC 7518 §3.4) into out[64].  0 / -1. */
static int
ecdsa_raw(const unsigned char *der, size_t len, unsigned char *out)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int rc = -1;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return -1;
	ECDSA_SIG_get0(sig, &r, &s);
	if ((size_t)(p - der) == len &&
	    BN_bn2binpad(r, out, ES256_COORD) == ES256_COORD &&
	    BN_bn2binpad(s, out + ES256_COORD, ES256_COORD) == ES256_COORD)
		rc = 0;
	ECDSA_SIG_free(sig);
	return rc;
}

/*
 * The signature of `in` with k's algorithm, base64url.  NULL on error.
 * A copy of k->tmpl signs once (EVP_MD_CTX_FLAG_FINALISE spares the
 * context duplicate EVP_DigestSignFinal would make to stay reusable).
 */
static char *
sign_input(const struct jws_sign_key *k, const char *in)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *sig = NULL, raw[2 * ES256_COORD];
	size_t len;
	char *ret = NULL;
	int max;

	if ((max = EVP_PKEY_get_size(k->key)) <= 0 ||
	    (sig = malloc((size_t)max)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(ctx, k->tmpl) != 1)
		goto out;
	EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
	len = (size_t)max;
	if (EVP_DigestSignUpdate(ctx, in, strlen(in)) != 1 ||
	    EVP_DigestSignFinal(ctx, sig, &len) != 1)
		goto out;
	if (strcmp(k->alg, "ES256") == 0) {
		if (ecdsa_raw(sig, len, raw) == 0)
			ret = encoding_b64url_encode(raw, sizeof(raw));
	} else
		ret = encoding_b64url_encode(sig, len);
out:
	if (ret == NULL)
		log_openssl(LOG_LVL_ERROR, "jws_sign: cannot sign");
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* HS256 (RFC 7518 §3.2) of `in` with `mac`, base64url.  NULL on error. */
static char *
hs256_input(const unsigned char *mac, size_t mac_len, const char *in)
{
	unsigned char out[32];
	size_t len = 0;
	char *ret = NULL;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac, mac_len,
	        (const unsigned char *)in, strlen(in), out, sizeof(out),
	        &len) != NULL &&
	    len == sizeof(out))
		ret = encoding_b64url_encode(out, len);
	else
		log_openssl(LOG_LVL_ERROR, "jws_sign: cannot compute HS256");
	OPENSSL_cleanse(out, sizeof(out));
	return ret;
}

/*
 * The flattened JWS of the protected header `ph` (JSON text) and
 * `payload`, signed by k or, when `mac` is not NULL, by HS256 with it.
 * Base64url needs no JSON escaping, so the body is printed directly.
 * Malloc'd JSON; NULL on error.
 */
static char *
flatten(const char *ph, const char *payload, const struct jws_sign_key *k,
    const unsigned char *mac, size_t mac_len)
{
	char *p64 = NULL, *pl64 = NULL, *input = NULL, *sig = NULL;
	char *ret = NULL;
	size_t len;

	if ((p64 = encoding_b64url_encode(
	         (const unsigned char *)ph, strlen(ph))) == NULL)
		goto out;
	pl64 = *payload == '\0'
	    ? strdup("")
	    : encoding_b64url_encode(
	          (const unsigned char *)payload, strlen(payload));
	if (pl64 == NULL)
		goto out;
	len = strlen(p64) + strlen(pl64) + 2;
	if ((input = malloc(len)) == NULL)
		goto out;
	snprintf(input, len, "%s.%s", p64, pl64);
	sig = mac != NULL ? hs256_input(mac, mac_len, input)
	                  : sign_input(k, input);
	if (sig == NULL)
		goto out;
	len += strlen(sig) + sizeof(FLAT_FMT);
	if ((ret = malloc(len)) != NULL)
		snprintf(ret, len, FLAT_FMT, p64, pl64, sig);
out:
	free(p64);
	free(pl64);
	free(input);
	free(sig);
	return ret;
}

/* The compact JSON text of `prot` (taken), or NULL. */
static char *
dump_taken(json_t *prot)
{
	char *ret;

	if (prot == NULL)
		return NULL;
	ret = json_dumps(prot, JSON_COMPACT);
	json_decref(prot);
	return ret;
}

/*
 * 1 when `s` may stand between JSON quotes as it is: printable ASCII
 * other than '"' and '\\', which jansson too would write unchanged.
 */
static int
json_plain(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

/*
 * The protected header of jws_sign_flat as compact JSON, malloc'd; NULL
 * on error.  URLs and nonces are plain ASCII in practice: printed
 * directly, byte for byte what jansson would write.  Anything else
 * (escapes, UTF-8 to validate) goes through jansson.
 */
static char *
flat_header(const struct jws_sign_key *k, const char *url, const char *nonce,
    const char *kid)
{
	json_t *prot;
	char *ret;
	size_t len;

	if (json_plain(url) && json_plain(nonce) &&
	    (kid == NULL || json_plain(kid))) {
		/* The fixed text of either form is under 64 bytes. */
		len = strlen(k->alg) + strlen(nonce) + strlen(url) +
		    strlen(kid != NULL ? kid : k->jwk) + 64;
		if ((ret = malloc(len)) == NULL)
			return NULL;
		if (kid != NULL)
			snprintf(ret, len, PROT_FMT ",\"kid\":\"%s\"}", k->alg,
			    nonce, url, kid);
		else
			snprintf(ret, len, PROT_FMT ",\"jwk\":%s}", k->alg,
			    nonce, url, k->jwk);
		return ret;
	}
	prot = json_pack(
	    "{s:s, s:s, s:s}", "alg", k->alg, "nonce", nonce, "url", url);
	if (prot != NULL &&
	    (kid != NULL ? json_object_set_new(prot, "kid", json_string(kid))
	                 : json_object_set_new(prot, "jwk",
	                       json_loads(k->jwk, 0, NULL))) == -1) {
		json_decref(prot);
		return NULL;
	}
	return dump_taken(prot);
}

char *
jws_sign_flat(const struct jws_sign_key *k, const char *url, const char *nonce,
    const char *kid, const char *payload)
{
	char *ph, *ret = NULL;

	if ((ph = flat_header(k, url, nonce, kid)) != NULL)
		ret = flatten(ph, payload, k, NULL, 0);
	free(ph);
	return ret;
}

char *
jws_sign_eab(const struct jws_sign_key *k, const char *eab_kid,
    const unsigned char *mac, size_t mac_len, const char *url)
{
	char *ph, *ret = NULL;

	if (mac == NULL || mac_len == 0)
		return NULL;
	ph = dump_taken(json_pack(
	    "{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url));
	if (ph != NULL)
		ret = flatten(ph, k->jwk, NULL, mac, mac_len);
	free(ph);
	return ret;
}
