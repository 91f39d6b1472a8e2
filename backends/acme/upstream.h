/*
 * The upstream ACME CA backend ("type": "acme"), shared by its files:
 * acme_backend.c (config, per-worker engines, the learned chain),
 * upstream_order.c (issue: persistence and challenge publication around
 * the engine of upacme.h) and upstream_revoke.c (revocations forwarded).
 */
#ifndef ENROLLD_UPSTREAM_H
#define ENROLLD_UPSTREAM_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "backends/acme/upacme.h"
#include "backends/backend.h"

/* Store kinds: one upstream order per pending key, and the serials whose
 * revocation reached the upstream. */
#define UPSTREAM_ORDER_KIND "upstream.order"
#define UPSTREAM_REVOKED_KIND "upstream.revoked"
#define UPSTREAM_MAX_WORKERS 64

struct upstream_order;

/* One worker loop's part: its engine and the orders in flight on it. */
struct upstream_worker {
	struct upstream *up;
	struct event_base *base;
	struct upacme *engine;
	struct store_conn *sc;
	struct upstream_order *orders; /* list, for worker_free */
	struct event *sweep;           /* revocations (first worker) */
	int sweeping;
};

/* The backend instance; read-only once workers run except `chain`. */
struct upstream {
	struct gateway *gw;
	struct upacme_conf conf; /* strings point into the config or below */
	EVP_PKEY *account_key;
	unsigned char *eab_key;
	size_t eab_key_len;
	char *hook; /* dns-01 hook command, or NULL */
	int hook_timeout;
	int wait_seconds;
	int revoke_interval;   /* seconds; 0: do not forward revocations */
	char chain_path[4096]; /* where a learned chain is kept */
	pthread_mutex_t chain_lock;
	STACK_OF(X509) *chain; /* issuers of what the upstream issues */
	STACK_OF(X509) *empty; /* served while nothing is known */
	struct upstream_worker *workers[UPSTREAM_MAX_WORKERS];
	size_t n_workers;
};

/* acme_backend.c */
/* The worker whose loop is `base`, or NULL. */
struct upstream_worker *upstream_worker_of(
    struct upstream *up, struct event_base *base);
/* Remember the issuers of a downloaded chain, the first time (kept in
 * chain_path for the next start).  `issuers` is borrowed. */
void upstream_learn_chain(struct upstream *up, STACK_OF(X509) *issuers);

/* upstream_order.c */
extern const struct upacme_hooks upstream_order_hooks;
void upstream_issue(void *priv, struct event_base *base,
    const struct enroll_req *req, const struct issue_params *params,
    ca_issue_done_fn *done, void *arg);
/* Complete every order of `w` with ENROLL_SHUTTING_DOWN and free them. */
void upstream_orders_end(struct upstream_worker *w);

/* upstream_revoke.c */
/* Start forwarding revocations from `w`'s loop every revoke_interval. */
int upstream_revoke_start(struct upstream_worker *w);

#endif
