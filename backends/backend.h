/*
 * CA backends: the pluggable signers (ARCHITECTURE.md, after curl's vtls).
 * A backend knows nothing of protocols; it gets the common request and
 * the issuance parameters the policy derived from the profile.
 */
#ifndef ENROLLD_BACKEND_H
#define ENROLLD_BACKEND_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "core/enroll.h"
#include "core/store.h"

struct event_base;
struct gateway;

/* What the policy lets the backend put in the certificate. */
struct issue_params {
	int validity_days;    /* > 0 */
	int backdate_seconds; /* notBefore = now - this */
	const int *eku_nids;  /* NID_server_auth, NID_client_auth... */
	size_t n_eku;
	unsigned key_usage; /* KU_* bits of openssl/x509v3.h; 0 = by key type */
	int subject_cn_only; /* 1: subject is CN only; 0: CSR subject */
};

/*
 * Completion of an issue call.  `cert` is owned by the callee (the
 * callback takes it); NULL unless reason is ENROLL_OK.  `detail` is a
 * sentence safe to show a client, borrowed for the call.
 * A backend may copy the CSR's SubjectPublicKeyInfo as encoded bytes
 * (decoding it again costs more than the signature in OpenSSL 3.0): then
 * X509_get0_pubkey(cert) is NULL.  Use the request's key, or decode the
 * certificate's DER, when the key object is needed.
 */
typedef void ca_issue_done_fn(
    void *arg, enum enroll_reason reason, const char *detail, X509 *cert);

struct ca_backend {
	const char *name; /* config "type" */
	/* MUST. Build an instance from its config object; relative paths are
	 * under `basedir`.  On error write a sentence naming the key to
	 * err and return -1. */
	int (*init)(const json_t *conf, const char *basedir, void **priv,
	    char *err, size_t errlen);
	/* MUST. Issue a certificate for req->csr under params.  Calls done
	 * exactly once, possibly before returning (a local signer), or
	 * later on the loop of `base` (an upstream CA). */
	void (*issue)(void *priv, struct event_base *base,
	    const struct enroll_req *req, const struct issue_params *params,
	    ca_issue_done_fn *done, void *arg);
	/* MAY. Tell the CA a certificate is revoked (local CAs need not). */
	int (*revoke)(void *priv, const char *serial, int reason);
	/* MUST. The issuing chain, issuer first; borrowed. */
	STACK_OF(X509) *(*ca_chain)(void *priv);
	/* MAY. A DER CRL listing `revoked`; malloc'd (caller frees), *len set.
	 * NULL on error. */
	unsigned char *(*crl)(void *priv, const struct revoked_entry *revoked,
	    size_t n, size_t *len);
	/* MUST. NULL-safe. */
	void (*free)(void *priv);
	/* MAY. State for one worker loop, made on the main thread before
	 * the loop runs and used only from that loop (an upstream client
	 * bound to it); issue() on the loop finds it by `base`.  `first` is
	 * 1 for exactly one worker (periodic work).  0 / -1 (logged). */
	int (*worker_init)(
	    void *priv, struct gateway *gw, struct event_base *base, int first);
	/* MAY. After that loop ended: every issue still in flight on it
	 * completes with ENROLL_SHUTTING_DOWN, then its state is freed. */
	void (*worker_free)(void *priv, struct event_base *base);
	/* MAY. > 0 for a backend whose issue may take minutes (an upstream
	 * CA): the pipeline waits that many seconds, then tells the client
	 * to come back (ENROLL_PENDING) and stores the certificate when it
	 * arrives.  Such a backend only gets requests with a pending key
	 * (enroll_req.pending_key), which it may use to find its own state
	 * for the request (a resumed upstream order). */
	int (*defer_seconds)(void *priv);
};

/* NULL-terminated registry; the only place backends are named. */
extern const struct ca_backend *const ca_backends[];
/* Backend by type name, NULL when unknown. */
const struct ca_backend *ca_backend_find(const char *name);

#endif
