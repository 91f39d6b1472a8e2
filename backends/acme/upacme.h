/*
 * The upstream ACME client engine (RFC 8555), as a CA backend uses it:
 * one engine per worker loop, on libcurl's multi interface driven by
 * that loop (core/curl_ev.h).  It knows nothing of the store or of
 * enrolld's protocols: persistence and challenge publication are
 * callbacks, so that backends/acme/acme_backend.c decides where state
 * lives (store objects shared by every node).
 *
 * An order is driven to its end: directory (once) -> newAccount (once
 * per engine; the same key gives the same account; again when the
 * upstream has forgotten it, which also re-orders a persisted order of
 * the lost account) -> newOrder ->
 * authorizations -> publish + answer one challenge each -> poll ->
 * unpublish -> finalize with the device's own CSR -> poll the order ->
 * download the chain (an alternate one when its root matches the
 * preferred issuer).  Every request honours Retry-After, retries at once
 * on badNonce with the fresh nonce (a second badNonce then backs off like
 * a 5xx), and backs off on 5xx and rateLimited until the order's
 * deadline.
 */
#ifndef ENROLLD_UPACME_H
#define ENROLLD_UPACME_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct event_base;
struct upacme;
struct upacme_order;

/* Settings; strings are copied by upacme_new. */
struct upacme_conf {
	const char *directory_url; /* https://... */
	const char *ca_bundle;     /* PEM file to trust, NULL: system */
	EVP_PKEY *account_key;     /* P-256 or RSA; up-ref'd */
	const char *contact;       /* "mailto:..." or NULL */
	const char *eab_kid;       /* External Account Binding, or NULL */
	const unsigned char *eab_hmac_key; /* raw (decoded) HMAC key */
	size_t eab_hmac_key_len;
	const char *challenge;       /* "http-01" or "dns-01" */
	const char *preferred_chain; /* issuer CN of the preferred root, or
	                                NULL: the default chain */
	int order_timeout;           /* seconds an order may take, > 0 */
	int request_timeout;         /* seconds per HTTP request, > 0 */
};

/* Continue the engine after an asynchronous callback: rc 0 ok, -1 failed. */
typedef void upacme_cont_fn(void *cont_arg, int rc);

/*
 * What the engine asks of its owner.  Each callback must call `cont`
 * exactly once, now or later on the same loop (also after upacme_free:
 * it then does nothing).
 *  - persist: save `state_json` (a JSON object the engine understands,
 *    see upacme_order_start) for the order `order_arg`; called after
 *    newOrder returned its URL and whenever the order's status changes.
 *    A failed persist fails the order (UPACME_UNAVAILABLE).
 *  - publish / unpublish: make a challenge answerable / withdraw it.
 *    http-01: name = the token, value = the key authorization.
 *    dns-01: name = the FQDN "_acme-challenge.example.com" (no trailing
 *    dot), value = the TXT value (base64url SHA-256 of the key
 *    authorization).  A failed unpublish is logged and ignored.
 */
struct upacme_hooks {
	void (*persist)(void *order_arg, const char *state_json,
	    upacme_cont_fn *cont, void *cont_arg);
	void (*publish)(void *order_arg, const char *type, const char *name,
	    const char *value, upacme_cont_fn *cont, void *cont_arg);
	void (*unpublish)(void *order_arg, const char *type, const char *name,
	    const char *value, upacme_cont_fn *cont, void *cont_arg);
};

enum upacme_outcome {
	UPACME_OK,       /* chain set */
	UPACME_REJECTED, /* the upstream refused for good (rejectedIdentifier,
	                       unauthorized, caa, badCSR, an invalid
	                       authorization or order ...): do not retry */
	UPACME_UNAVAILABLE, /* transport errors, 5xx, rateLimited, timeout:
	                       a later attempt may succeed */
};

/*
 * End of an order.  `problem_type` is the upstream's RFC 8555 problem
 * type ("urn:ietf:params:acme:error:rejectedIdentifier") or NULL;
 * `detail` a sentence safe to show a client (borrowed for the call).
 * `chain` (UPACME_OK only) is the certificate first, then its issuers,
 * taken by the callee.  The order handle is freed after this returns.
 */
typedef void upacme_done_fn(void *order_arg, enum upacme_outcome outcome,
    const char *problem_type, const char *detail, STACK_OF(X509) *chain);

/* An engine on `base`.  NULL on error (logged).  Free before `base`,
 * never from inside one of its callbacks. */
struct upacme *upacme_new(struct event_base *base,
    const struct upacme_conf *conf, const struct upacme_hooks *hooks);
/* Abandon every order in flight (no callback runs) and free.  NULL-safe. */
void upacme_free(struct upacme *u);

/* What to order. */
struct upacme_order_spec {
	const unsigned char *csr_der; /* the device's CSR, sent as is */
	size_t csr_len;
	const char *const *dns; /* dNSName identifiers */
	size_t n_dns;
	const char *const *ips; /* IP identifiers, canonical text (RFC 8738) */
	size_t n_ips;
	const char *replaces;     /* ARI certificate id (RFC 9773 §4.1) of the
	                         certificate being renewed, or NULL; sent
	                         only when the directory has renewalInfo */
	const char *resume_state; /* a state_json from persist: continue that
	                             upstream order instead of a new one */
};

/*
 * Start (or resume) an order; `done` runs exactly once on the engine's
 * loop, never before this returns.  Returns the handle, or NULL when
 * nothing was started (done will not run).
 */
struct upacme_order *upacme_order_start(struct upacme *u,
    const struct upacme_order_spec *spec, upacme_done_fn *done,
    void *order_arg);

/* The ARI certificate id of `cert`: base64url(AKI keyIdentifier) "."
 * base64url(serial DER content).  Malloc'd; NULL on error. */
char *upacme_ari_cert_id(X509 *cert);

/*
 * Revoke `cert` upstream with the account key (RFC 8555 §7.6).  `done`
 * gets 0 when revoked (or already revoked), -1 otherwise.  0 when
 * started, -1 when not (done will not run).
 */
typedef void upacme_revoke_fn(void *arg, int rc, const char *detail);
int upacme_revoke(struct upacme *u, X509 *cert, int reason,
    upacme_revoke_fn *done, void *arg);

#endif
