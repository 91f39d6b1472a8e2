/*
 * The local CA backend: a CA certificate and key read from files, every
 * certificate and CRL signed in process by OpenSSL.
 *
 * Private to backends/: backend.c includes this header for the registry
 * alone; local.c (instance), signer.c (certificates) and crl.c (CRLs)
 * share struct local_ca through it.  Nothing outside backends/ may
 * include it (ARCHITECTURE.md: the core never names a backend).
 */
#ifndef ENROLLD_BACKENDS_LOCAL_H
#define ENROLLD_BACKENDS_LOCAL_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"

extern const struct ca_backend local_ca_backend;

/* One configured local CA: the backend's priv.  Read-only after init,
 * so worker threads may sign with it concurrently. */
struct local_ca {
	X509 *cert;            /* the issuing CA certificate */
	EVP_PKEY *key;         /* its private key */
	STACK_OF(X509) *chain; /* cert first, then the intermediates above */
	int crl_days;          /* nextUpdate = lastUpdate + crl_days */
	const EVP_MD *md;      /* signing digest; NULL for EdDSA */
};

/*
 * Digest to sign with `key` (RFC 5758 §3.2 / RFC 8032: SHA-256 for RSA
 * and P-256, SHA-384 for P-384, SHA-512 for P-521, none for EdDSA) into
 * *md.  0, or -1 for a key the local CA cannot sign with.
 */
int local_ca_sign_md(const EVP_PKEY *key, const EVP_MD **md);

/*
 * authorityKeyIdentifier (RFC 5280 §4.2.1.1) naming `ca`: its
 * subjectKeyIdentifier, or the SHA-1 of its public key when it has none.
 * Caller frees with AUTHORITY_KEYID_free.  NULL on error.
 */
AUTHORITY_KEYID *local_ca_akid(const struct local_ca *ca);

/* signer.c: the backend's issue slot (synchronous; see backend.h). */
void local_ca_issue(void *priv, struct event_base *base,
    const struct enroll_req *req, const struct issue_params *params,
    ca_issue_done_fn *done, void *arg);

/* crl.c: the backend's crl slot; the buffer is malloc'd, caller free()s. */
unsigned char *local_ca_crl(
    void *priv, const struct revoked_entry *revoked, size_t n, size_t *len);

#endif
