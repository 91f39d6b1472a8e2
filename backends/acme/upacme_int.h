/*
 * Internals shared by the upacme*.c files only: the engine and order
 * layouts, the request layer (upacme_http.c) and the chain helpers
 * (upacme_chain.c).  Nothing here is seen by the backend.
 */
#ifndef ENROLLD_UPACME_INT_H
#define ENROLLD_UPACME_INT_H

#include <stddef.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "backends/acme/upacme.h"

#define UPACME_MAX_BODY (1024 * 1024) /* any one response */
#define UPACME_MAX_HDR 2048           /* one header value kept */
#define UPACME_MAX_ALT 4              /* alternate chains looked at */
#define UPACME_MAX_NONCES 8           /* pool of unused nonces */
#define UPACME_MAX_AUTHZ 100          /* authorizations per order */
#define UPACME_MAX_CHAIN 10           /* certificates in a chain */

#define UPACME_ERR "urn:ietf:params:acme:error:"

struct curl_ev;
struct jws_sign_key;
struct upacme_req;
struct upacme_revoke;

enum upacme_acct {
	UPACME_ACCT_NONE,
	UPACME_ACCT_BUSY,
	UPACME_ACCT_READY,
	UPACME_ACCT_FAILED
};

struct upacme {
	struct event_base *base;
	struct curl_ev *cev;
	struct upacme_hooks hooks;
	struct jws_sign_key *key;
	char *directory_url, *ca_bundle, *contact, *eab_kid, *challenge;
	char *preferred_chain;
	unsigned char *eab_mac;
	size_t eab_mac_len;
	int order_timeout, request_timeout;

	json_t *dir; /* the directory, once fetched */
	char *kid;   /* account URL, once registered; NULL again when the
	                upstream forgot it, until registered anew */
	enum upacme_acct acct;
	enum upacme_outcome acct_outcome; /* when UPACME_ACCT_FAILED */
	char *acct_problem, *acct_detail;
	struct upacme_req *acct_req;

	char *nonces[UPACME_MAX_NONCES];
	size_t n_nonces;
	struct upacme_req *reqs;       /* every request in flight */
	struct upacme_order *orders;   /* every order in flight */
	struct upacme_revoke *revokes; /* every revocation in flight */
	unsigned long next_id;
};

/* One upstream response as the layers above see it. */
struct upacme_resp {
	enum upacme_outcome outcome; /* OK: a 2xx answer */
	long status;                 /* HTTP status, 0 without one */
	char *location, *content_type;
	char *alt[UPACME_MAX_ALT]; /* Link rel="alternate" targets */
	size_t n_alt;
	unsigned char *body;
	size_t len;
	json_t *json;       /* body when it is JSON, else NULL */
	char *problem_type; /* RFC 7807 type, or NULL */
	char *detail;       /* a sentence for the client, never NULL
	                         on failure */
	long retry_after;   /* seconds, -1 when absent */
	char *kid;          /* the account a POST_KID request was last
	                       signed with, else NULL */
};

/* What a request is. */
enum upacme_method { UPACME_GET, UPACME_POST_JWK, UPACME_POST_KID };

struct upacme_req_spec {
	enum upacme_method method;
	const char *url;
	const char *payload; /* signed methods: "" for POST-as-GET */
	const char *accept;  /* Accept header, or NULL */
	double deadline;     /* upacme_now() value after which to give up */
};

/* A request ended.  `r` is borrowed for the call; the request is already
 * gone, so the callback may start others or free its owner. */
typedef void upacme_req_fn(void *arg, struct upacme_resp *r);

struct upacme_cont_tok;
typedef void upacme_step_fn(struct upacme_order *o);

/* One order, from upacme_order_start until its done callback. */
struct upacme_order {
	struct upacme *u;
	struct upacme_order *next, *prev; /* u->orders */
	upacme_done_fn *done;
	void *arg;
	unsigned char *csr;
	size_t csr_len;
	EVP_PKEY *csr_key; /* the leaf must carry it */
	json_t *idents;    /* [{"type", "value"}] for newOrder */
	char *replaces;
	double deadline;
	struct event *kick;    /* runs `step`, now or after a pause */
	struct event *timeout; /* the order's deadline */
	upacme_step_fn *step;
	upacme_step_fn *then; /* after a persist or an unpublish */
	int waiting_acct;
	int cont_rc;                 /* of the last hook */
	struct upacme_cont_tok *tok; /* the hook in flight */
	struct upacme_req *req;      /* the request in flight */

	/* The upstream order (RFC 8555 §7.1.3), as persisted. */
	char *url, *finalize, *cert_url, *status;
	char *acct; /* the kid that made it; NULL: unknown (older state) */
	char **authz;
	size_t n_authz, ai; /* ai: the authorization being worked on */
	int authz_done;     /* every authorization seen valid */
	long retry_after;   /* of the last answer, -1 when none */
	size_t polls;       /* of this wait without Retry-After */

	/* The challenge being answered. */
	char *ch_url, *ch_name, *ch_value, *ch_ident;
	int published;
	int ch_posted; /* the server is validating it already */
	char *fail_problem, *fail_detail; /* kept across an unpublish */

	/* Chains: the default one while alternates are looked at. */
	STACK_OF(X509) *chain;
	char *alt[UPACME_MAX_ALT];
	size_t n_alt, alt_i;
};

/* upacme_http.c */
double upacme_now(void);
struct upacme_req *upacme_req_start(struct upacme *u,
    const struct upacme_req_spec *spec, upacme_req_fn *cb, void *arg);
void upacme_req_cancel(struct upacme_req *r);
void upacme_req_done_curl(CURL *easy, CURLcode result, void *arg);
long upacme_retry_after_parse(const char *value, double now_wall);
int upacme_problem_is(const struct upacme_resp *r, const char *name);
char *upacme_problem_type_dup(const char *type);
void upacme_req_account_ready(struct upacme *u);

/* upacme.c */
void upacme_account_need(struct upacme *u);
int upacme_account_gone(const struct upacme_resp *r);
void upacme_account_lost(struct upacme *u, const char *kid);
const char *upacme_dir_url(struct upacme *u, const char *name);

/* upacme_order.c */
void upacme_order_later(struct upacme_order *o, upacme_step_fn *step, long ms);
void upacme_order_poll(struct upacme_order *o, upacme_step_fn *step);
void upacme_order_finish(struct upacme_order *o, enum upacme_outcome outcome,
    const char *problem, const char *detail, STACK_OF(X509) *chain);
void upacme_order_fail_resp(
    struct upacme_order *o, const struct upacme_resp *r, const char *what);
int upacme_order_post(struct upacme_order *o, const char *url,
    const char *payload, const char *accept, upacme_req_fn *cb);
void upacme_order_fetch(struct upacme_order *o);
struct upacme_cont_tok *upacme_order_tok(struct upacme_order *o);
void upacme_order_cont(void *cont_arg, int rc);
void upacme_order_noop_cont(void *cont_arg, int rc);

/* upacme_authz.c */
void upacme_authz_begin(struct upacme_order *o);

/* upacme_chain.c */
void upacme_chain_fetch(struct upacme_order *o);

/* upacme_order.c and upacme_revoke.c: wake every operation waiting for
 * the account (u->acct is READY or FAILED); free all without callbacks. */
void upacme_order_account_ready(struct upacme *u);
void upacme_order_free_all(struct upacme *u);
void upacme_revoke_account_ready(struct upacme *u);
void upacme_revoke_free_all(struct upacme *u);

#endif
