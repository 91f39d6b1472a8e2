/*
 * JSON Web Keys: public keys in and out of JWK form (RFC 7517, RFC 7518
 * §6 for RSA and EC, RFC 8037 §2 for Ed25519) and JWK thumbprints
 * (RFC 7638).  Public keys only: a JWK with private members is refused.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "core/encoding.h"
#include "core/log.h"
#include "protocols/acme/jws.h"

#define JWK_MIN_RSA_BITS 2048
/* Bounds the work one client can ask of us; no CA issues larger. */
#define JWK_MAX_RSA_BITS 8192
/* Go's crypto/rsa refuses e >= 2^31 as well; real keys use 65537. */
#define JWK_MAX_RSA_E_BYTES 4
#define JWK_ED25519_LEN 32

/* RFC 7518 §6.2.1.1 curve names, OpenSSL's, and the field size. */
static const struct jwk_curve {
	const char *crv;
	const char *group;
	size_t flen;
} jwk_curves[] = {
    {"P-256", "prime256v1", 32},
    {"P-384", "secp384r1", 48},
    {"P-521", "secp521r1", 66},
};

/* The curve called `name` in JWK or OpenSSL terms, or NULL. */
static const struct jwk_curve *
curve_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++)
		if (strcmp(jwk_curves[i].crv, name) == 0 ||
		    strcmp(jwk_curves[i].group, name) == 0)
			return &jwk_curves[i];
	return NULL;
}

/*
 * Decode base64url member `name` (malloc'd into *out, caller frees).
 * 0, or -1 with JWS_MALFORMED recorded when it is missing, not a string
 * or not strict base64url.
 */
static int
member_b64(const json_t *jwk, const char *name, unsigned char **out,
    size_t *outlen, struct jws_fail *f)
{
	const json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v) ||
	    (*out = jws_b64url_decode(json_string_value(v),
	         json_string_length(v), outlen)) == NULL) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7518 §6: JWK member \"%s\" must be a base64url "
		    "string",
		    name);
		return -1;
	}
	return 0;
}

/* EVP_PKEY_fromdata() for a public key of `type`; NULL on failure. */
static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/*
 * Check RSA n and e as decoded (RFC 7518 §6.3.1: minimal big-endian
 * octets) and for sane sizes.  0 / -1 (failure recorded).
 */
static int
rsa_check(const unsigned char *n, size_t nlen, const unsigned char *e,
    size_t elen, struct jws_fail *f)
{
	if (nlen == 0 || n[0] == 0 || elen == 0 || e[0] == 0) {
		jws_fail(f, JWS_BAD_KEY,
		    "RFC 7518 §6.3.1.1: \"n\" and \"e\" must use the minimum "
		    "number of octets");
		return -1;
	}
	if (nlen > JWK_MAX_RSA_BITS / 8 || elen > JWK_MAX_RSA_E_BYTES) {
		jws_fail(f, JWS_BAD_KEY,
		    "RSA key too large: at most %d-bit modulus and 32-bit "
		    "exponent",
		    JWK_MAX_RSA_BITS);
		return -1;
	}
	if ((n[nlen - 1] & 1) == 0 || (e[elen - 1] & 1) == 0 ||
	    (elen == 1 && e[0] == 1)) {
		jws_fail(f, JWS_BAD_KEY,
		    "RSA key invalid: modulus and exponent must be odd, "
		    "exponent > 1");
		return -1;
	}
	return 0;
}

/* An RSA public key from big-endian n and e; NULL on failure. */
static EVP_PKEY *
rsa_build(
    const unsigned char *nb, size_t nlen, const unsigned char *eb, size_t elen)
{
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL)
		goto out;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	pkey = pkey_fromdata("RSA", bld);
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* RFC 7518 §6.3.1: an RSA public key.  NULL with the failure recorded. */
static EVP_PKEY *
jwk_rsa(const json_t *jwk, struct jws_fail *f)
{
	unsigned char *nb = NULL, *eb = NULL;
	size_t nlen, elen, bits;
	EVP_PKEY *pkey = NULL;

	if (member_b64(jwk, "n", &nb, &nlen, f) == -1 ||
	    member_b64(jwk, "e", &eb, &elen, f) == -1 ||
	    rsa_check(nb, nlen, eb, elen, f) == -1)
		goto out;
	/* n[0] is not zero (rsa_check), so count its significant bits. */
	for (bits = nlen * 8; (nb[0] & (0x80 >> (nlen * 8 - bits))) == 0;
	     bits--)
		;
	if (bits < JWK_MIN_RSA_BITS) {
		jws_fail(f, JWS_BAD_KEY,
		    "RFC 8555 §6.2: RSA modulus of %zu bits, want at least %d",
		    bits, JWK_MIN_RSA_BITS);
		goto out;
	}
	if ((pkey = rsa_build(nb, nlen, eb, elen)) == NULL) {
		log_openssl(LOG_LVL_WARN, "jwk: building an RSA key");
		jws_fail(f, JWS_BAD_KEY, "the RSA key could not be built");
	}
out:
	free(nb);
	free(eb);
	return pkey;
}

/*
 * Is `pkey` a valid point on its curve?  The quick check (on the curve,
 * not infinity) is complete for P-256/384/521: their cofactor is 1, so
 * every curve point is in the prime-order group, and the full check's
 * n*P multiplication (as costly as a signature check, on every request
 * signed with a kid) adds nothing.
 */
static int
ec_public_ok(EVP_PKEY *pkey)
{
	EVP_PKEY_CTX *ctx;
	int ok;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		return 0;
	ok = EVP_PKEY_public_check_quick(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/*
 * RFC 7518 §6.2.1: an EC public key on P-256, P-384 or P-521, x and y
 * exactly the field size.  NULL with the failure recorded.
 */
static EVP_PKEY *
jwk_ec(const json_t *jwk, struct jws_fail *f)
{
	const struct jwk_curve *c;
	const char *crv;
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 66];
	size_t xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	crv = json_string_value(json_object_get(jwk, "crv"));
	if (crv == NULL || (c = curve_find(crv)) == NULL ||
	    strcmp(crv, c->crv) != 0) {
		jws_fail(f, JWS_BAD_KEY,
		    "RFC 7518 §6.2.1.1: \"crv\" must be P-256, P-384 or "
		    "P-521");
		goto out;
	}
	if (member_b64(jwk, "x", &x, &xlen, f) == -1 ||
	    member_b64(jwk, "y", &y, &ylen, f) == -1)
		goto out;
	if (xlen != c->flen || ylen != c->flen) {
		jws_fail(f, JWS_BAD_KEY,
		    "RFC 7518 §6.2.1.2: %s \"x\" and \"y\" must be %zu "
		    "octets",
		    c->crv, c->flen);
		goto out;
	}
	/* SEC 1 §2.3.3 uncompressed point. */
	pub[0] = 0x04;
	memcpy(pub + 1, x, c->flen);
	memcpy(pub + 1 + c->flen, y, c->flen);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(
	        bld, OSSL_PKEY_PARAM_GROUP_NAME, c->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(
	        bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * c->flen) != 1) {
		log_openssl(LOG_LVL_WARN, "jwk: building an EC key");
		jws_fail(f, JWS_BAD_KEY, "the EC key could not be built");
		goto out;
	}
	if ((pkey = pkey_fromdata("EC", bld)) == NULL || !ec_public_ok(pkey)) {
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		pkey = NULL;
		jws_fail(f, JWS_BAD_KEY,
		    "SEC 1 §3.2.2: the %s point is not a valid public key",
		    c->crv);
	}
out:
	free(x);
	free(y);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* RFC 8037 §2: an Ed25519 public key.  NULL with the failure recorded. */
static EVP_PKEY *
jwk_okp(const json_t *jwk, struct jws_fail *f)
{
	const char *crv;
	unsigned char *x = NULL;
	size_t xlen;
	EVP_PKEY *pkey = NULL;

	crv = json_string_value(json_object_get(jwk, "crv"));
	if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
		jws_fail(
		    f, JWS_BAD_KEY, "RFC 8037 §2: \"crv\" must be Ed25519");
		goto out;
	}
	if (member_b64(jwk, "x", &x, &xlen, f) == -1)
		goto out;
	if (xlen != JWK_ED25519_LEN) {
		jws_fail(f, JWS_BAD_KEY,
		    "RFC 8037 §2: Ed25519 \"x\" must be 32 octets, got %zu",
		    xlen);
		goto out;
	}
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen);
	if (pkey == NULL) {
		log_openssl(LOG_LVL_WARN, "jwk: building an Ed25519 key");
		jws_fail(f, JWS_BAD_KEY, "the Ed25519 key could not be built");
	}
out:
	free(x);
	return pkey;
}

EVP_PKEY *
jwk_to_pkey(const json_t *jwk, enum jws_error *err, char *msg, size_t msglen)
{
	/* RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2. */
	static const char *const priv[] = {
	    "d", "p", "q", "dp", "dq", "qi", "oth", "k"};
	struct jws_fail f = {err, msg, msglen};
	const char *kty;
	EVP_PKEY *pkey = NULL;
	size_t i;

	if (!json_is_object(jwk) ||
	    (kty = json_string_value(json_object_get(jwk, "kty"))) == NULL) {
		jws_fail(&f, JWS_MALFORMED,
		    "RFC 7517 §4.1: a JWK is an object with a \"kty\" string");
		return NULL;
	}
	for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		if (json_object_get(jwk, priv[i]) != NULL) {
			jws_fail(&f, JWS_BAD_KEY,
			    "RFC 8555 §6.2: the JWK holds private member "
			    "\"%s\"",
			    priv[i]);
			return NULL;
		}
	if (strcmp(kty, "RSA") == 0)
		pkey = jwk_rsa(jwk, &f);
	else if (strcmp(kty, "EC") == 0)
		pkey = jwk_ec(jwk, &f);
	else if (strcmp(kty, "OKP") == 0)
		pkey = jwk_okp(jwk, &f);
	else
		jws_fail(&f, JWS_BAD_KEY,
		    "RFC 7518 §6.1: \"kty\" must be RSA, EC or OKP");
	if (pkey != NULL && err != NULL)
		*err = JWS_OK;
	return pkey;
}

/* Set obj[name] to the base64url of `len` bytes.  0 / -1. */
static int
set_b64(json_t *obj, const char *name, const unsigned char *in, size_t len)
{
	char *s;
	int rc;

	if ((s = encoding_b64url_encode(in, len)) == NULL)
		return -1;
	/* json_object_set_new() consumes the value even when it fails. */
	rc = json_object_set_new(obj, name, json_string(s));
	free(s);
	return rc;
}

/* Set obj[name] to the minimal big-endian octets of BIGNUM parameter
 * `param` of `key`.  0 / -1. */
static int
set_bn(json_t *obj, const char *name, EVP_PKEY *key, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char *buf = NULL;
	int n, rc = -1;

	if (EVP_PKEY_get_bn_param(key, param, &bn) != 1)
		goto out;
	n = BN_num_bytes(bn);
	if (n <= 0 || (buf = malloc((size_t)n)) == NULL)
		goto out;
	if (BN_bn2bin(bn, buf) != n)
		goto out;
	rc = set_b64(obj, name, buf, (size_t)n);
out:
	free(buf);
	BN_free(bn);
	return rc;
}

/* Fill obj with the RSA members (RFC 7518 §6.3.1).  0 / -1. */
static int
set_rsa(json_t *obj, EVP_PKEY *key)
{
	if (json_object_set_new(obj, "kty", json_string("RSA")) == -1 ||
	    set_bn(obj, "n", key, OSSL_PKEY_PARAM_RSA_N) == -1 ||
	    set_bn(obj, "e", key, OSSL_PKEY_PARAM_RSA_E) == -1)
		return -1;
	return 0;
}

/* Fill obj with the EC members: kty, crv and x, y padded to the field size
 * (RFC 7518 §6.2.1.2).  0 / -1. */
static int
set_ec(json_t *obj, EVP_PKEY *key)
{
	const struct jwk_curve *c;
	char group[64];
	BIGNUM *x = NULL, *y = NULL;
	unsigned char xb[66], yb[66];
	int rc = -1;

	if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1 ||
	    (c = curve_find(group)) == NULL)
		goto out;
	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
	    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
		goto out;
	if (BN_bn2binpad(x, xb, (int)c->flen) < 0 ||
	    BN_bn2binpad(y, yb, (int)c->flen) < 0)
		goto out;
	if (json_object_set_new(obj, "kty", json_string("EC")) == -1 ||
	    json_object_set_new(obj, "crv", json_string(c->crv)) == -1 ||
	    set_b64(obj, "x", xb, c->flen) == -1 ||
	    set_b64(obj, "y", yb, c->flen) == -1)
		goto out;
	rc = 0;
out:
	BN_free(x);
	BN_free(y);
	return rc;
}

/* Fill obj with the OKP members of an Ed25519 key (RFC 8037 §2).
 * 0 / -1. */
static int
set_okp(json_t *obj, EVP_PKEY *key)
{
	unsigned char x[JWK_ED25519_LEN];
	size_t len = sizeof(x);

	if (EVP_PKEY_get_raw_public_key(key, x, &len) != 1 || len != sizeof(x))
		return -1;
	if (json_object_set_new(obj, "kty", json_string("OKP")) == -1 ||
	    json_object_set_new(obj, "crv", json_string("Ed25519")) == -1)
		return -1;
	return set_b64(obj, "x", x, len);
}

json_t *
jwk_from_pkey(EVP_PKEY *key)
{
	json_t *obj;
	int rc = -1;

	if ((obj = json_object()) == NULL)
		return NULL;
	if (EVP_PKEY_is_a(key, "RSA"))
		rc = set_rsa(obj, key);
	else if (EVP_PKEY_is_a(key, "EC"))
		rc = set_ec(obj, key);
	else if (EVP_PKEY_is_a(key, "ED25519"))
		rc = set_okp(obj, key);
	if (rc == -1) {
		ERR_clear_error();
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/*
 * RFC 7638 §3.2: the required members of each key type, in the
 * lexicographic order the hash input uses.
 */
static const char *const *
thumb_members(const char *kty)
{
	static const char *const rsa[] = {"e", "kty", "n", NULL};
	static const char *const ec[] = {"crv", "kty", "x", "y", NULL};
	static const char *const okp[] = {"crv", "kty", "x", NULL};

	if (strcmp(kty, "RSA") == 0)
		return rsa;
	if (strcmp(kty, "EC") == 0)
		return ec;
	if (strcmp(kty, "OKP") == 0)
		return okp;
	return NULL;
}

int
jwk_thumbprint(const json_t *jwk, char *out, size_t outsz)
{
	const char *const *m;
	const char *kty;
	const json_t *v;
	json_t *canon = NULL;
	char *s = NULL, *b64 = NULL;
	unsigned char md[32];
	size_t mdlen = 0;
	int rc = -1;

	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL || (m = thumb_members(kty)) == NULL ||
	    (canon = json_object()) == NULL)
		goto out;
	for (; *m != NULL; m++) {
		v = json_object_get(jwk, *m);
		if (!json_is_string(v) ||
		    json_object_set_new(canon, *m,
		        json_stringn(
		            json_string_value(v), json_string_length(v))) == -1)
			goto out;
	}
	/* §3.3: no white space, members sorted, UTF-8 as is. */
	if ((s = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	if (EVP_Q_digest(NULL, "SHA256", NULL, s, strlen(s), md, &mdlen) != 1 ||
	    mdlen != sizeof(md)) {
		log_openssl(LOG_LVL_WARN, "jwk: SHA-256");
		goto out;
	}
	if ((b64 = encoding_b64url_encode(md, mdlen)) == NULL ||
	    strlen(b64) + 1 > outsz)
		goto out;
	memcpy(out, b64, strlen(b64) + 1);
	rc = 0;
out:
	json_decref(canon);
	free(s);
	free(b64);
	return rc;
}
