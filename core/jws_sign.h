/*
 * What an ACME client signs (RFC 8555 §6.2): the JWK and RFC 7638
 * thumbprint of its account key, flattened JWS requests identified by
 * `kid` or `jwk`, and the External Account Binding of newAccount
 * (RFC 8555 §7.3.4).  P-256 keys sign ES256, RSA keys RS256
 * (RFC 7518 §3.3, §3.4).  The verifying side is protocols/acme/jws.c.
 */
#ifndef ENROLLD_JWS_SIGN_H
#define ENROLLD_JWS_SIGN_H

#include <stddef.h>

#include <openssl/evp.h>

struct jws_sign_key;

/*
 * The signer of `key` (P-256 or RSA; up-ref'd): its JWK and thumbprint
 * are computed once here.  NULL on another key type or error (OpenSSL
 * errors cleared).  Free with jws_sign_key_free().
 */
struct jws_sign_key *jws_sign_key_new(EVP_PKEY *key);
/* NULL-safe. */
void jws_sign_key_free(struct jws_sign_key *k);

/* The public JWK as compact JSON, members in RFC 7638 order; borrowed. */
const char *jws_sign_key_jwk(const struct jws_sign_key *k);
/* The RFC 7638 SHA-256 thumbprint in base64url; borrowed. */
const char *jws_sign_key_thumbprint(const struct jws_sign_key *k);
/* "ES256" or "RS256"; static. */
const char *jws_sign_key_alg(const struct jws_sign_key *k);

/*
 * The flattened JWS (RFC 8555 §6.2) of `payload` ("" for POST-as-GET)
 * to `url` with `nonce`, identified by `kid` (the account URL), or by
 * the JWK when `kid` is NULL (newAccount, revocation by certificate
 * key).  Malloc'd JSON, caller frees; NULL on error.
 */
char *jws_sign_flat(const struct jws_sign_key *k, const char *url,
    const char *nonce, const char *kid, const char *payload);

/*
 * The externalAccountBinding member of newAccount (RFC 8555 §7.3.4): a
 * flattened JWS, HS256 with the CA's MAC key `mac` over the account's
 * JWK, protected {"alg", "kid": eab_kid, "url": the newAccount URL}.
 * Malloc'd JSON, caller frees; NULL on error.  `mac` is never copied.
 */
char *jws_sign_eab(const struct jws_sign_key *k, const char *eab_kid,
    const unsigned char *mac, size_t mac_len, const char *url);

#endif
