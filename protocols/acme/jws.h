/*
 * JSON Web Signature for ACME (RFC 7515 flattened JSON serialization,
 * RFC 8555 §6.2), JSON Web Keys (RFC 7517/7518, RFC 8037) and JWK
 * thumbprints (RFC 7638).  Private to protocols/acme/.
 */
#ifndef ENROLLD_ACME_JWS_H
#define ENROLLD_ACME_JWS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

/* Why a JWS was refused; the ACME layer maps these to problem types. */
enum jws_error {
	JWS_OK = 0,
	JWS_MALFORMED,    /* urn:ietf:params:acme:error:malformed */
	JWS_BAD_ALG,      /* badSignatureAlgorithm */
	JWS_BAD_KEY,      /* badPublicKey */
	JWS_BAD_SIGNATURE /* malformed ("JWS verification error"), as Boulder */
};

struct jws;

/* Where a parser reports why it refused: the caller's error slots
 * (shared by jws.c and jwk.c). */
struct jws_fail {
	enum jws_error *err;
	char *msg;
	size_t msglen;
};
void jws_fail(struct jws_fail *f, enum jws_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parse a request body holding one flattened JWS JSON object with exactly
 * "protected", "payload" and "signature" (no "header", no general
 * serialization), each base64url without padding.  The protected header
 * must be a JSON object with "alg" (one of RS256, ES256, ES384, ES512,
 * EdDSA; HS256/384/512 only when allow_hmac, for EAB), "url" (string) and
 * exactly one of "jwk" (object) or "kid" (string); "nonce" is read when
 * present (ACME requires it on outer JWS; EAB inner JWS must not have
 * one).  "b64": false and any "crit" are refused.
 * Returns the parsed JWS (caller frees) or NULL with *err set and a
 * sentence for the client in msg.
 */
struct jws *jws_parse(const unsigned char *body, size_t len, int allow_hmac,
    enum jws_error *err, char *msg, size_t msglen);
/* A body of exactly "protected", "payload" and "signature" with plain
 * base64url values, as the JSON object jansson would have made of it;
 * NULL for any other body (then parse it with jansson).  jws_flat.c. */
json_t *jws_flat_load(const unsigned char *body, size_t len);
/* Parse an already-decoded JSON value (the EAB object inside a payload). */
struct jws *jws_parse_json(const json_t *obj, int allow_hmac,
    enum jws_error *err, char *msg, size_t msglen);
void jws_free(struct jws *j);

const char *jws_alg(const struct jws *j);
const char *jws_nonce(const struct jws *j); /* NULL when absent */
const char *jws_url(const struct jws *j);
const char *jws_kid(const struct jws *j);   /* NULL when jwk is used */
const json_t *jws_jwk(const struct jws *j); /* NULL when kid is used */
/* The decoded payload; len 0 for POST-as-GET (payload ""). */
const unsigned char *jws_payload(const struct jws *j, size_t *len);
/* The payload parsed as a JSON object, or NULL (not JSON / empty). */
json_t *jws_payload_json(const struct jws *j);

/*
 * Verify the signature with `key`.  The alg must fit the key (RS256 with
 * RSA >= 2048 bits, ES256 with P-256, ES384 with P-384, ES512 with P-521,
 * EdDSA with Ed25519); ECDSA signatures are the raw r||s of RFC 7518
 * §3.4.  JWS_OK, JWS_BAD_ALG (alg/key mismatch) or JWS_BAD_SIGNATURE.
 */
enum jws_error jws_verify(const struct jws *j, EVP_PKEY *key);

/*
 * A key's verification state kept across requests (ECDSA keys): the
 * digest and the signature operation fetched and set up once, instead of
 * by name on every request.  NULL for other keys or on failure; callers
 * then pass NULL below.  The verifier holds its own reference to the key;
 * one thread uses it at a time.
 */
struct jws_verifier;
struct jws_verifier *jws_verifier_new(EVP_PKEY *key);
void jws_verifier_free(struct jws_verifier *v);
/* jws_verify(j, key), through v when v is the key's verifier (or
 * NULL); the same answers. */
enum jws_error jws_verify_with(
    const struct jws *j, EVP_PKEY *key, struct jws_verifier *v);
/*
 * RFC 7518 §3.4: an ECDSA signature travels as r || s, each flen bytes;
 * OpenSSL verifies a DER ECDSA-Sig-Value.  Writes that DER into der and
 * returns its length; 0 when siglen is not 2 * flen or flen is over 66
 * (P-521's).
 */
#define JWS_ECDSA_DER_MAX (3 + 2 * (2 + 67))
size_t jws_ecdsa_der(const unsigned char *sig, size_t siglen, size_t flen,
    unsigned char der[JWS_ECDSA_DER_MAX]);
/* Verify an HS256/384/512 JWS (EAB, RFC 8555 §7.3.4) with a MAC key. */
enum jws_error jws_verify_hmac(
    const struct jws *j, const unsigned char *key, size_t keylen);

/*
 * The public key of a JWK: RSA (n, e; modulus >= 2048 bits), EC (crv
 * P-256/P-384/P-521, x, y of the curve's length, point on the curve),
 * OKP (crv Ed25519, x).  Private members ("d", ...) are refused.  Caller
 * frees.  NULL with *err JWS_BAD_KEY or JWS_MALFORMED.
 */
EVP_PKEY *jwk_to_pkey(
    const json_t *jwk, enum jws_error *err, char *msg, size_t msglen);
/* The JWK of a public key (RSA, EC P-256/384/521, Ed25519), only the
 * required members.  Caller json_decref's; NULL on error. */
json_t *jwk_from_pkey(EVP_PKEY *key);
/* RFC 7638 thumbprint: base64url(SHA-256(canonical JWK)), 43 chars + NUL
 * into out (>= 44 bytes).  0 / -1. */
int jwk_thumbprint(const json_t *jwk, char *out, size_t outsz);

/*
 * Strict base64url as RFC 7515 §2 wants it: URL-safe alphabet only, no
 * padding, no white space, unused trailing bits zero.  Returns a malloc'd
 * buffer (caller frees) of at least one byte, so "" gives a non-NULL
 * empty buffer; NULL on bad input or allocation failure.  Shared by jws.c
 * and jwk.c.
 */
unsigned char *jws_b64url_decode(const char *in, size_t inlen, size_t *outlen);

#endif
