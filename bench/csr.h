/*
 * The CSR every load driver sends: subject CN and one dNSName for a host,
 * optionally a challengePassword (SCEP, RFC 8894 §2.3).
 */
#ifndef ENROLLD_BENCH_CSR_H
#define ENROLLD_BENCH_CSR_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A CSR of `key` for `host`, with `challenge` when not NULL, signed with
 * `md` (NULL for EdDSA).  The caller frees it; NULL on error. */
X509_REQ *bcsr_new(
    EVP_PKEY *key, const char *host, const char *challenge, const EVP_MD *md);

/* The same CSR (no challenge, SHA-256) as base64url DER, the finalize
 * payload of ACME.  The caller frees it; NULL on error. */
char *bcsr_b64url(EVP_PKEY *key, const char *host);

#endif
