/*
 * What an ACME load driver signs and sends (RFC 8555): an ES256 account
 * key with its JWK and thumbprint (RFC 7638), flattened JWS requests
 * (RFC 8555 §6.2, RFC 7518 §3.4) and the CSRs of finalize.  Keys and
 * CSRs are made before the clock starts; signing runs per request.
 */
#ifndef ENROLLD_BENCH_ACME_JWS_H
#define ENROLLD_BENCH_ACME_JWS_H

#include <openssl/evp.h>

/* An account as the driver holds it.  Every member is owned; free them
 * with bjws_account_clear(). */
struct bjws_account {
	EVP_PKEY *key; /* P-256 */
	char *jwk;     /* compact JSON */
	char *thumb;   /* RFC 7638, base64url */
	char *kid;     /* the account URL once registered, else NULL */
};

/*
 * A fresh ES256 key into a->key, its JWK (members in RFC 7638 order, so
 * the same string is hashed for the thumbprint) and thumbprint.  0 / -1
 * (OpenSSL errors printed); on failure what was made stays in `a` for
 * bjws_account_clear().
 */
int bjws_account_keygen(struct bjws_account *a);
/* Free the members of `a` and zero it.  NULL-safe. */
void bjws_account_clear(struct bjws_account *a);

/*
 * The flattened JWS (RFC 8555 §6.2) of `payload` ("" for POST-as-GET)
 * to `url` with `nonce`, identified by a->kid, or by a->jwk when kid is
 * NULL.  Malloc'd, caller frees; NULL on error.
 */
char *bjws_sign(const struct bjws_account *a, const char *url,
    const char *nonce, const char *payload);

/*
 * A CSR for `host` (CN and one dNSName) signed by `key`, as base64url
 * DER.  The caller frees it; NULL on error.
 */
char *bjws_csr(EVP_PKEY *key, const char *host);

#endif
