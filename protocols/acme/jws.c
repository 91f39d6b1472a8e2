/*
 * JWS in the flattened JSON serialization (RFC 7515 §7.2.2) as ACME
 * uses it (RFC 8555 §6.2): parsing with the protected header checked,
 * and signature verification for the algorithms RFC 8555 §6.2 and
 * RFC 8037 name, plus HMAC for external account binding (§7.3.4).
 * The JWK side (keys, thumbprints) lives in jwk.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "core/encoding.h"
#include "protocols/acme/jws.h"

enum alg_kind { ALG_RSA, ALG_EC, ALG_ED25519, ALG_HMAC };

/* The algorithms we accept (RFC 7518 §3.1, RFC 8037 §3.1). */
static const struct jws_alg {
	const char *name;
	enum alg_kind kind;
	const char *md;    /* digest; NULL for EdDSA */
	const char *group; /* ECDSA: OpenSSL group name */
	const char *crv;   /* ECDSA: its NIST / JWK name */
	size_t flen;       /* ECDSA: bytes of r and of s (RFC 7518 §3.4) */
} jws_algs[] = {
    {"RS256", ALG_RSA, "SHA256", NULL, NULL, 0},
    {"ES256", ALG_EC, "SHA256", "prime256v1", "P-256", 32},
    {"ES384", ALG_EC, "SHA384", "secp384r1", "P-384", 48},
    {"ES512", ALG_EC, "SHA512", "secp521r1", "P-521", 66},
    {"EdDSA", ALG_ED25519, NULL, NULL, NULL, 0},
    {"HS256", ALG_HMAC, "SHA256", NULL, NULL, 0},
    {"HS384", ALG_HMAC, "SHA384", NULL, NULL, 0},
    {"HS512", ALG_HMAC, "SHA512", NULL, NULL, 0},
};

#define JWS_MIN_RSA_BITS 2048

struct jws {
	json_t *hdr; /* decoded protected header, owned */
	const struct jws_alg *alg;
	const char *nonce; /* these four borrowed from hdr */
	const char *url;
	const char *kid;
	const json_t *jwk;
	char *input; /* ASCII(protected "." payload), as sent */
	size_t inputlen;
	unsigned char *payload;
	size_t payloadlen;
	unsigned char *sig;
	size_t siglen;
};

/* Record `e` and a sentence for the client; NULL slots are skipped. */
void
jws_fail(struct jws_fail *f, enum jws_error e, const char *fmt, ...)
{
	va_list ap;

	if (f->err != NULL)
		*f->err = e;
	if (f->msg != NULL && f->msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(f->msg, f->msglen, fmt, ap);
		va_end(ap);
	}
}

/* The value of a base64url character (RFC 4648 §5) plus one; 0 for
 * anything else. */
static unsigned char
b64url_value1(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c - 'A' + 1);
	if (c >= 'a' && c <= 'z')
		return (unsigned char)(c - 'a' + 27);
	if (c >= '0' && c <= '9')
		return (unsigned char)(c - '0' + 53);
	if (c == '-')
		return 63;
	return c == '_' ? 64 : 0;
}

unsigned char *
jws_b64url_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char v = 0;
	size_t i;

	/* encoding_b64url_decode() also takes '+', '/', '=' and white
	 * space; RFC 7515 §2 allows none of them. */
	for (i = 0; i < inlen; i++)
		if ((v = b64url_value1((unsigned char)in[i])) == 0)
			return NULL;
	/* A last quantum of 2 or 3 characters carries 4 or 2 unused bits,
	 * which must be zero so that each value has one encoding. */
	switch (inlen % 4) {
	case 1:
		return NULL;
	case 2:
		if ((v - 1) & 0x0f)
			return NULL;
		break;
	case 3:
		if ((v - 1) & 0x03)
			return NULL;
		break;
	}
	if (inlen == 0) {
		/* The shared decoder refuses "", POST-as-GET needs it. */
		*outlen = 0;
		return calloc(1, 1);
	}
	return encoding_b64url_decode(in, inlen, outlen);
}

static const struct jws_alg *
alg_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(jws_algs) / sizeof(jws_algs[0]); i++)
		if (strcmp(jws_algs[i].name, name) == 0)
			return &jws_algs[i];
	return NULL;
}

/*
 * Decode the string member `name` of the JWS object into *out (malloc'd,
 * caller frees).  `empty_ok` admits "" (the POST-as-GET payload).
 * 0, or -1 with the failure recorded.
 */
static int
member_b64(const json_t *obj, const char *name, int empty_ok,
    unsigned char **out, size_t *outlen, struct jws_fail *f)
{
	const json_t *v;
	size_t len;

	v = json_object_get(obj, name);
	len = json_string_length(v);
	if (!json_is_string(v) || (len == 0 && !empty_ok)) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7515 §7.2.2: \"%s\" must be a non-empty string", name);
		return -1;
	}
	*out = jws_b64url_decode(json_string_value(v), len, outlen);
	if (*out == NULL) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7515 §2: \"%s\" is not base64url without padding",
		    name);
		return -1;
	}
	return 0;
}

/*
 * The algorithm of the protected header: known, not "none", HMAC only
 * for an EAB JWS.  0 / -1 (failure recorded).
 */
static int
header_alg(struct jws *j, int allow_hmac, struct jws_fail *f)
{
	const char *alg;

	alg = json_string_value(json_object_get(j->hdr, "alg"));
	if (alg == NULL) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7515 §4.1.1: the protected header needs an \"alg\" "
		    "string");
		return -1;
	}
	j->alg = alg_find(alg);
	if (j->alg == NULL || (j->alg->kind == ALG_HMAC && !allow_hmac)) {
		jws_fail(f, JWS_BAD_ALG,
		    "RFC 8555 §6.2: algorithm not accepted here; want one of "
		    "RS256 ES256 ES384 ES512 EdDSA");
		return -1;
	}
	return 0;
}

/*
 * Check the decoded protected header (RFC 8555 §6.2, §6.4, §6.5) and
 * point j's fields into it.  0 / -1 (failure recorded).
 */
static int
header_check(struct jws *j, int allow_hmac, struct jws_fail *f)
{
	const json_t *v, *jwk, *kid;

	if (header_alg(j, allow_hmac, f) == -1)
		return -1;
	/* We understand no extension, and an unencoded payload (RFC 7797)
	 * would change the signing input. */
	if (json_object_get(j->hdr, "crit") != NULL ||
	    json_object_get(j->hdr, "b64") != NULL) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7515 §4.1.11: \"crit\" and \"b64\" are not "
		    "supported");
		return -1;
	}
	j->url = json_string_value(json_object_get(j->hdr, "url"));
	if (j->url == NULL || *j->url == '\0') {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 8555 §6.4: the protected header needs a \"url\"");
		return -1;
	}
	if ((v = json_object_get(j->hdr, "nonce")) != NULL &&
	    (j->nonce = json_string_value(v)) == NULL) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 8555 §6.5: \"nonce\" must be a string");
		return -1;
	}
	jwk = json_object_get(j->hdr, "jwk");
	kid = json_object_get(j->hdr, "kid");
	if ((jwk == NULL) == (kid == NULL)) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 8555 §6.2: the protected header needs exactly one "
		    "of \"jwk\" and \"kid\"");
		return -1;
	}
	if (jwk != NULL && (!json_is_object(jwk) || j->alg->kind == ALG_HMAC)) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 8555 §6.2: \"jwk\" must be a public key object");
		return -1;
	}
	if (kid != NULL && json_string_length(kid) == 0) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 8555 §6.2: \"kid\" must be a non-empty string");
		return -1;
	}
	j->jwk = jwk;
	j->kid = json_string_value(kid);
	return 0;
}

/*
 * Decode and parse the "protected" member into j->hdr, a JSON object
 * without duplicate names (RFC 7515 §5.2 step 4).  0 / -1.
 */
static int
header_load(struct jws *j, const json_t *obj, struct jws_fail *f)
{
	unsigned char *raw = NULL;
	size_t len;
	json_error_t jerr;
	int rc = -1;

	if (member_b64(obj, "protected", 0, &raw, &len, f) == -1)
		goto out;
	j->hdr =
	    json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j->hdr)) {
		jws_fail(f, JWS_MALFORMED,
		    "RFC 7515 §5.2: the protected header is not a JSON object "
		    "with unique member names (position %d)",
		    j->hdr == NULL ? jerr.position : 0);
		goto out;
	}
	rc = 0;
out:
	free(raw);
	return rc;
}

/* Keep ASCII(protected "." payload) exactly as sent (RFC 7515 §5.2
 * step 8).  0 / -1. */
static int
input_keep(struct jws *j, const json_t *obj, struct jws_fail *f)
{
	const json_t *p = json_object_get(obj, "protected");
	const json_t *q = json_object_get(obj, "payload");
	size_t plen = json_string_length(p), qlen = json_string_length(q);

	/* Both lengths are bounded by the body that held them. */
	if ((j->input = malloc(plen + qlen + 2)) == NULL) {
		jws_fail(f, JWS_MALFORMED, "out of memory");
		return -1;
	}
	memcpy(j->input, json_string_value(p), plen);
	j->input[plen] = '.';
	memcpy(j->input + plen + 1, json_string_value(q), qlen);
	j->inputlen = plen + 1 + qlen;
	j->input[j->inputlen] = '\0';
	return 0;
}

struct jws *
jws_parse_json(const json_t *obj, int allow_hmac, enum jws_error *err,
    char *msg, size_t msglen)
{
	struct jws_fail f = {err, msg, msglen};
	struct jws *j = NULL, *ret = NULL;

	/* RFC 8555 §6.2: flattened serialization, no unprotected header. */
	if (!json_is_object(obj) || json_object_size(obj) != 3 ||
	    !json_is_string(json_object_get(obj, "protected")) ||
	    !json_is_string(json_object_get(obj, "payload")) ||
	    !json_is_string(json_object_get(obj, "signature"))) {
		jws_fail(&f, JWS_MALFORMED,
		    "RFC 8555 §6.2: want a flattened JWS with exactly "
		    "\"protected\", \"payload\" and \"signature\"");
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		jws_fail(&f, JWS_MALFORMED, "out of memory");
		goto out;
	}
	if (header_load(j, obj, &f) == -1 ||
	    header_check(j, allow_hmac, &f) == -1)
		goto out;
	if (member_b64(obj, "payload", 1, &j->payload, &j->payloadlen, &f) ==
	    -1)
		goto out;
	if (member_b64(obj, "signature", 0, &j->sig, &j->siglen, &f) == -1)
		goto out;
	if (input_keep(j, obj, &f) == -1)
		goto out;
	if (err != NULL)
		*err = JWS_OK;
	ret = j;
	j = NULL;
out:
	jws_free(j);
	return ret;
}

struct jws *
jws_parse(const unsigned char *body, size_t len, int allow_hmac,
    enum jws_error *err, char *msg, size_t msglen)
{
	struct jws_fail f = {err, msg, msglen};
	json_error_t jerr;
	json_t *obj;
	struct jws *j;

	/* The caller bounded len by the listener's maximum body size. */
	if ((obj = jws_flat_load(body, len)) == NULL)
		obj = json_loadb(
		    (const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		jws_fail(&f, JWS_MALFORMED,
		    "RFC 8555 §6.2: the body is not JSON with unique member "
		    "names (position %d)",
		    jerr.position);
		return NULL;
	}
	j = jws_parse_json(obj, allow_hmac, err, msg, msglen);
	json_decref(obj);
	return j;
}

void
jws_free(struct jws *j)
{
	if (j == NULL)
		return;
	json_decref(j->hdr);
	free(j->input);
	free(j->payload);
	free(j->sig);
	free(j);
}

const char *
jws_alg(const struct jws *j)
{
	return j->alg->name;
}

const char *
jws_nonce(const struct jws *j)
{
	return j->nonce;
}

const char *
jws_url(const struct jws *j)
{
	return j->url;
}

const char *
jws_kid(const struct jws *j)
{
	return j->kid;
}

const json_t *
jws_jwk(const struct jws *j)
{
	return j->jwk;
}

const unsigned char *
jws_payload(const struct jws *j, size_t *len)
{
	*len = j->payloadlen;
	return j->payload;
}

/* A new reference (caller json_decref's), or NULL. */
json_t *
jws_payload_json(const struct jws *j)
{
	json_t *v;

	if (j->payloadlen == 0)
		return NULL;
	v = json_loadb((const char *)j->payload, j->payloadlen,
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* Does `key` have the type (and size or curve) that `a` needs? */
static int
key_fits(const struct jws_alg *a, EVP_PKEY *key)
{
	char group[64];

	switch (a->kind) {
	case ALG_RSA:
		return EVP_PKEY_is_a(key, "RSA") &&
		    EVP_PKEY_get_bits(key) >= JWS_MIN_RSA_BITS;
	case ALG_EC:
		if (!EVP_PKEY_is_a(key, "EC"))
			return 0;
		if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) !=
		    1) {
			ERR_clear_error();
			return 0;
		}
		return strcmp(group, a->group) == 0 ||
		    strcmp(group, a->crv) == 0;
	case ALG_ED25519:
		return EVP_PKEY_is_a(key, "ED25519");
	case ALG_HMAC:
		break;
	}
	return 0;
}

/* One DER INTEGER of the unsigned big-endian `n` bytes at v (n <= 66)
 * at der; its length.  Minimal: leading zero bytes dropped, one put back
 * where the first bit would read as a sign. */
static size_t
der_uint(const unsigned char *v, size_t n, unsigned char *der)
{
	size_t pad, len;

	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	pad = (v[0] & 0x80) != 0;
	len = pad + n;
	der[0] = 0x02;
	der[1] = (unsigned char)len;
	der[2] = 0;
	memcpy(der + 2 + pad, v, n);
	return 2 + len;
}

/* Written out rather than through BIGNUMs and i2d_ECDSA_SIG, which cost
 * more than the rest of a verification's bookkeeping. */
size_t
jws_ecdsa_der(const unsigned char *sig, size_t siglen, size_t flen,
    unsigned char der[JWS_ECDSA_DER_MAX])
{
	unsigned char ints[2 * (2 + 67)];
	size_t n, hdr;

	if (flen == 0 || flen > 66 || siglen != 2 * flen)
		return 0;
	n = der_uint(sig, flen, ints);
	n += der_uint(sig + flen, flen, ints + n);
	/* Up to 138 content bytes: past 127 the length takes two bytes. */
	hdr = n < 0x80 ? 2 : 3;
	der[0] = 0x30;
	if (hdr == 2)
		der[1] = (unsigned char)n;
	else {
		der[1] = 0x81;
		der[2] = (unsigned char)n;
	}
	memcpy(der + hdr, ints, n);
	return hdr + n;
}

/* One-shot verification of j's signing input; RSA keys get PKCS#1 v1.5
 * (RS256, RFC 7518 §3.3).  JWS_OK or JWS_BAD_SIGNATURE. */
static enum jws_error
digest_verify(
    const struct jws *j, EVP_PKEY *key, const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	enum jws_error e = JWS_BAD_SIGNATURE;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit_ex(
	        ctx, &pctx, j->alg->md, NULL, NULL, key, NULL) != 1)
		goto out;
	if (j->alg->kind == ALG_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)j->input,
	        j->inputlen) == 1)
		e = JWS_OK;
out:
	EVP_MD_CTX_free(ctx);
	/* A bad signature is the client's failure, not ours to log. */
	ERR_clear_error();
	return e;
}

enum jws_error
jws_verify(const struct jws *j, EVP_PKEY *key)
{
	unsigned char der[JWS_ECDSA_DER_MAX];
	size_t derlen;

	if (key == NULL || j->alg->kind == ALG_HMAC || !key_fits(j->alg, key))
		return JWS_BAD_ALG;
	if (j->alg->kind != ALG_EC)
		return digest_verify(j, key, j->sig, j->siglen);
	if ((derlen = jws_ecdsa_der(j->sig, j->siglen, j->alg->flen, der)) == 0)
		return JWS_BAD_SIGNATURE;
	return digest_verify(j, key, der, derlen);
}

struct jws_verifier {
	const struct jws_alg *alg; /* the only one the key fits */
	EVP_MD *md;
	EVP_PKEY_CTX *pctx; /* EVP_PKEY_verify_init done */
};

void
jws_verifier_free(struct jws_verifier *v)
{
	if (v == NULL)
		return;
	EVP_MD_free(v->md);
	EVP_PKEY_CTX_free(v->pctx);
	free(v);
}

struct jws_verifier *
jws_verifier_new(EVP_PKEY *key)
{
	struct jws_verifier *v = NULL;
	size_t i;

	for (i = 0; i < sizeof(jws_algs) / sizeof(jws_algs[0]); i++)
		if (jws_algs[i].kind == ALG_EC && key_fits(&jws_algs[i], key))
			break;
	if (i == sizeof(jws_algs) / sizeof(jws_algs[0]) ||
	    (v = calloc(1, sizeof(*v))) == NULL)
		goto fail;
	v->alg = &jws_algs[i];
	if ((v->md = EVP_MD_fetch(NULL, v->alg->md, NULL)) == NULL ||
	    (v->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    EVP_PKEY_verify_init(v->pctx) != 1)
		goto fail;
	return v;
fail:
	ERR_clear_error();
	jws_verifier_free(v);
	return NULL;
}

/*
 * ECDSA over the digest of j's signing input with the prepared context:
 * what EVP_DigestVerify does, without its fetches.  v->alg == j->alg
 * stands for key_fits(), as the verifier was made for that key.
 */
enum jws_error
jws_verify_with(const struct jws *j, EVP_PKEY *key, struct jws_verifier *v)
{
	unsigned char md[EVP_MAX_MD_SIZE], der[JWS_ECDSA_DER_MAX];
	unsigned int mdlen = 0;
	size_t derlen;
	enum jws_error e = JWS_BAD_SIGNATURE;

	if (v == NULL || key == NULL || v->alg != j->alg)
		return jws_verify(j, key);
	if ((derlen = jws_ecdsa_der(j->sig, j->siglen, j->alg->flen, der)) ==
	        0 ||
	    EVP_Digest(j->input, j->inputlen, md, &mdlen, v->md, NULL) != 1)
		goto out;
	if (EVP_PKEY_verify(v->pctx, der, derlen, md, mdlen) == 1)
		e = JWS_OK;
out:
	/* A bad signature is the client's failure, not ours to log. */
	ERR_clear_error();
	return e;
}

enum jws_error
jws_verify_hmac(const struct jws *j, const unsigned char *key, size_t keylen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	enum jws_error e = JWS_BAD_SIGNATURE;

	if (j->alg->kind != ALG_HMAC)
		return JWS_BAD_ALG;
	if (keylen == 0)
		return JWS_BAD_SIGNATURE;
	if (EVP_Q_mac(NULL, "HMAC", NULL, j->alg->md, NULL, key, keylen,
	        (const unsigned char *)j->input, j->inputlen, mac, sizeof(mac),
	        &maclen) == NULL) {
		ERR_clear_error();
		goto out;
	}
	if (j->siglen == maclen && CRYPTO_memcmp(mac, j->sig, maclen) == 0)
		e = JWS_OK;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return e;
}
