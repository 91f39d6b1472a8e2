/*
 * The upstream order state machine (RFC 8555 §7.4): newOrder, or a
 * persisted order re-read with POST-as-GET, then what its status asks
 * for -- pending: the authorizations (upacme_authz.c), ready: finalize,
 * processing: poll, valid: the chain (upacme_chain.c), invalid: refused.
 * A persisted order the upstream no longer shows to the engine's account
 * (a new account after the upstream forgot the old one) is ordered anew.
 * Each step is a short function run from the order's `kick` event, so
 * hooks and requests always continue from the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "backends/acme/upacme_int.h"
#include "core/encoding.h"
#include "core/log.h"

#define POLL_MAX_S 10 /* the most of a Retry-After honoured */

/* Waits before each poll without a Retry-After, in ms: validation and
 * issuance mostly take well under a second, so look soon, then settle
 * at once a second. */
static const long poll_ms[] = {200, 500, 1000};

/* A hook's continuation: outlives the order when the engine is freed
 * first, so that a late `cont` finds nothing to do. */
struct upacme_cont_tok {
	struct upacme_order *o;
};

static void order_dispatch(struct upacme_order *o);

/* Run `step` from the loop after `ms` milliseconds (0: at once). */
void
upacme_order_later(struct upacme_order *o, upacme_step_fn *step, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	o->step = step;
	evtimer_add(o->kick, &tv);
}

/*
 * Run `step` (a poll) after the last answer's Retry-After, capped at
 * POLL_MAX_S, or else after the next wait of poll_ms; a new wait starts
 * with o->polls = 0.
 */
void
upacme_order_poll(struct upacme_order *o, upacme_step_fn *step)
{
	const size_t n = sizeof(poll_ms) / sizeof(poll_ms[0]);
	long ms;

	if (o->retry_after > POLL_MAX_S)
		ms = POLL_MAX_S * 1000L;
	else if (o->retry_after >= 0)
		ms = o->retry_after * 1000;
	else if (o->polls < n)
		ms = poll_ms[o->polls++];
	else
		ms = poll_ms[n - 1];
	upacme_order_later(o, step, ms);
}

struct upacme_cont_tok *
upacme_order_tok(struct upacme_order *o)
{
	struct upacme_cont_tok *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->o = o;
	o->tok = t;
	return t;
}

/* upacme_cont_fn of every hook: run o->then from the loop. */
void
upacme_order_cont(void *cont_arg, int rc)
{
	struct upacme_cont_tok *t = cont_arg;
	struct upacme_order *o = t->o;

	free(t);
	if (o == NULL)
		return; /* the order is gone */
	o->tok = NULL;
	o->cont_rc = rc;
	upacme_order_later(o, o->then, 0);
}

/* For an unpublish nobody waits for (the order is failing). */
void
upacme_order_noop_cont(void *cont_arg, int rc)
{
	free(cont_arg);
}

/* Free `o`, already unlinked; no callback. */
static void
order_free(struct upacme_order *o)
{
	size_t i;

	upacme_req_cancel(o->req);
	if (o->tok != NULL)
		o->tok->o = NULL;
	if (o->kick != NULL)
		event_free(o->kick);
	if (o->timeout != NULL)
		event_free(o->timeout);
	free(o->csr);
	EVP_PKEY_free(o->csr_key);
	json_decref(o->idents);
	free(o->replaces);
	free(o->url);
	free(o->finalize);
	free(o->cert_url);
	free(o->status);
	free(o->acct);
	for (i = 0; i < o->n_authz; i++)
		free(o->authz[i]);
	free(o->authz);
	free(o->ch_url);
	free(o->ch_name);
	free(o->ch_value);
	free(o->ch_ident);
	free(o->fail_problem);
	free(o->fail_detail);
	sk_X509_pop_free(o->chain, X509_free);
	for (i = 0; i < o->n_alt; i++)
		free(o->alt[i]);
	free(o);
}

static void
order_unlink(struct upacme_order *o)
{
	if (o->prev != NULL)
		o->prev->next = o->next;
	else if (o->u->orders == o)
		o->u->orders = o->next;
	if (o->next != NULL)
		o->next->prev = o->prev;
	o->next = o->prev = NULL;
}

/*
 * End `o`: withdraw a challenge still published (without waiting), log
 * one line, call done (which takes `chain`), free.  The order is out of
 * the engine's list first, so done may start other orders.
 */
void
upacme_order_finish(struct upacme_order *o, enum upacme_outcome outcome,
    const char *problem, const char *detail, STACK_OF(X509) *chain)
{
	struct upacme *u = o->u;
	struct upacme_cont_tok *t;
	const char *what = o->url, *id;
	char url[256];

	upacme_req_cancel(o->req);
	o->req = NULL;
	if (o->tok != NULL) {
		o->tok->o = NULL;
		o->tok = NULL;
	}
	if (o->published && (t = calloc(1, sizeof(*t))) != NULL) {
		o->published = 0;
		u->hooks.unpublish(o->arg, u->challenge, o->ch_name,
		    o->ch_value, upacme_order_noop_cont, t);
	}
	if (detail == NULL)
		detail = "the upstream order failed";
	if (what == NULL) {
		/* Not made upstream: name it by its first identifier. */
		id = json_string_value(
		    json_object_get(json_array_get(o->idents, 0), "value"));
		what = id != NULL ? id : "(resumed)";
	}
	log_sanitize(what, strlen(what), url, sizeof(url));
	if (outcome == UPACME_OK)
		log_info("upacme: order %s issued", url);
	else
		log_error("upacme: order %s %s: %s%s%s", url,
		    outcome == UPACME_REJECTED ? "rejected" : "unavailable",
		    detail, problem != NULL ? " problem=" : "",
		    problem != NULL ? problem : "");
	order_unlink(o);
	o->done(o->arg, outcome, problem, detail, chain);
	order_free(o);
}

void
upacme_order_fail_resp(
    struct upacme_order *o, const struct upacme_resp *r, const char *what)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s: %s", what,
	    r->detail != NULL ? r->detail : "failed");
	upacme_order_finish(o,
	    r->outcome == UPACME_OK ? UPACME_UNAVAILABLE : r->outcome,
	    r->problem_type, buf, NULL);
}

/* POST `payload` ("" for POST-as-GET) to `url` with the account's kid;
 * `cb` gets `o`.  0 / -1 (the order is then finished). */
int
upacme_order_post(struct upacme_order *o, const char *url, const char *payload,
    const char *accept, upacme_req_fn *cb)
{
	struct upacme_req_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.method = UPACME_POST_KID;
	spec.url = url;
	spec.payload = payload;
	spec.accept = accept;
	spec.deadline = o->deadline;
	if ((o->req = upacme_req_start(o->u, &spec, cb, o)) == NULL) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "cannot make an upstream request", NULL);
		return -1;
	}
	return 0;
}

/* Replace *dst by a copy of the string member `name` of `obj` when it
 * has one.  0 / -1 (allocation). */
static int
take_str(char **dst, const json_t *obj, const char *name)
{
	const char *v = json_string_value(json_object_get(obj, name));
	char *c;

	if (v == NULL)
		return 0;
	if ((c = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = c;
	return 0;
}

/* The order object `j` (RFC 8555 §7.1.3) into o; status is not taken
 * (see order_seen).  0 / -1 when it is not one. */
static int
order_read(struct upacme_order *o, const json_t *j)
{
	const json_t *az = json_object_get(j, "authorizations");
	size_t i, n;
	char **v;

	if (!json_is_string(json_object_get(j, "status")) ||
	    take_str(&o->finalize, j, "finalize") == -1 ||
	    take_str(&o->cert_url, j, "certificate") == -1)
		return -1;
	if (!json_is_array(az))
		return o->n_authz > 0 ? 0 : -1;
	if ((n = json_array_size(az)) == 0 || n > UPACME_MAX_AUTHZ ||
	    (v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (!json_is_string(json_array_get(az, i)) ||
		    (v[i] = strdup(json_string_value(json_array_get(az, i)))) ==
		        NULL)
			break;
	if (i < n) {
		while (i > 0)
			free(v[--i]);
		free(v);
		return -1;
	}
	for (i = 0; i < o->n_authz; i++)
		free(o->authz[i]);
	free(o->authz);
	o->authz = v;
	o->n_authz = n;
	return 0;
}

/* The state handed to persist: what resuming needs.  Malloc'd JSON. */
static char *
state_json(const struct upacme_order *o)
{
	json_t *s, *az;
	char *ret = NULL;
	size_t i;

	if ((az = json_array()) == NULL)
		return NULL;
	for (i = 0; i < o->n_authz; i++)
		if (json_array_append_new(az, json_string(o->authz[i])) == -1) {
			json_decref(az);
			return NULL;
		}
	s = json_pack("{s:s, s:s?, s:s?, s:o, s:s, s:s?}", "order", o->url,
	    "finalize", o->finalize, "certificate", o->cert_url,
	    "authorizations", az, "status", o->status, "account", o->acct);
	if (s != NULL)
		ret = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	return ret;
}

static void
after_persist(struct upacme_order *o)
{
	if (o->cont_rc != 0) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "cannot save the upstream order's state", NULL);
		return;
	}
	order_dispatch(o);
}

/*
 * An order object arrived: read it; when its status changed, persist
 * before going on (RFC 8555 §7.1.6 transitions), then dispatch.
 */
static void
order_seen(struct upacme_order *o, const json_t *j)
{
	const char *st = json_string_value(json_object_get(j, "status"));
	struct upacme_cont_tok *t;
	char *state;

	if (order_read(o, j) == -1) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "the upstream order object is malformed (RFC 8555 §7.1.3)",
		    NULL);
		return;
	}
	if (o->status != NULL && strcmp(o->status, st) == 0) {
		order_dispatch(o);
		return;
	}
	free(o->status);
	if ((o->status = strdup(st)) == NULL ||
	    (state = state_json(o)) == NULL) {
		upacme_order_finish(
		    o, UPACME_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	if ((t = upacme_order_tok(o)) == NULL) {
		free(state);
		upacme_order_finish(
		    o, UPACME_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	o->then = after_persist;
	o->u->hooks.persist(o->arg, state, upacme_order_cont, t);
	free(state);
}

/* An answer carrying the order object (fetch, finalize). */
static void
on_order(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;

	o->req = NULL;
	o->retry_after = r->retry_after;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream order");
		return;
	}
	if (!json_is_object(r->json)) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "the upstream order answer is not JSON", NULL);
		return;
	}
	order_seen(o, r->json);
}

/* POST-as-GET the order (RFC 8555 §7.4 "poll"). */
static void
order_fetch_now(struct upacme_order *o)
{
	upacme_order_post(o, o->url, "", NULL, on_order);
}

/* Poll the order (upacme_order_poll). */
void
upacme_order_fetch(struct upacme_order *o)
{
	upacme_order_poll(o, order_fetch_now);
}

static void
on_new_order(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;

	o->req = NULL;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream newOrder");
		return;
	}
	if (r->location == NULL || !json_is_object(r->json) ||
	    (o->url = strdup(r->location)) == NULL ||
	    (r->kid != NULL && (o->acct = strdup(r->kid)) == NULL)) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "upstream newOrder gave no order URL (RFC 8555 §7.4)",
		    NULL);
		return;
	}
	order_seen(o, r->json);
}

/* newOrder (RFC 8555 §7.4), with `replaces` (RFC 9773 §5) when the
 * directory offers renewalInfo. */
static void
order_new(struct upacme_order *o)
{
	json_t *p;
	char *payload = NULL;

	p = json_pack("{s:O}", "identifiers", o->idents);
	if (p == NULL ||
	    (o->replaces != NULL &&
	        upacme_dir_url(o->u, "renewalInfo") != NULL &&
	        json_object_set_new(p, "replaces", json_string(o->replaces)) ==
	            -1) ||
	    (payload = json_dumps(p, JSON_COMPACT)) == NULL) {
		json_decref(p);
		upacme_order_finish(
		    o, UPACME_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	upacme_order_post(
	    o, upacme_dir_url(o->u, "newOrder"), payload, NULL, on_new_order);
	json_decref(p);
	free(payload);
}

/* Finalize (RFC 8555 §7.4) with the device's CSR as sent. */
static void
order_finalize(struct upacme_order *o)
{
	char *csr, *payload = NULL;
	json_t *p = NULL;

	if ((csr = encoding_b64url_encode(o->csr, o->csr_len)) == NULL ||
	    (p = json_pack("{s:s}", "csr", csr)) == NULL ||
	    (payload = json_dumps(p, JSON_COMPACT)) == NULL)
		upacme_order_finish(
		    o, UPACME_UNAVAILABLE, NULL, "out of memory", NULL);
	else {
		o->polls = 0; /* a "processing" answer starts a new wait */
		upacme_order_post(o, o->finalize, payload, NULL, on_order);
	}
	free(csr);
	json_decref(p);
	free(payload);
}

/* Go where the order's status points. */
static void
order_dispatch(struct upacme_order *o)
{
	const char *st = o->status;

	if (strcmp(st, "pending") == 0) {
		if (o->authz_done)
			upacme_order_fetch(o); /* the server is catching up */
		else
			upacme_authz_begin(o);
	} else if (strcmp(st, "ready") == 0) {
		if (o->finalize == NULL)
			upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
			    "the upstream order has no finalize URL", NULL);
		else
			order_finalize(o);
	} else if (strcmp(st, "processing") == 0)
		upacme_order_fetch(o);
	else if (strcmp(st, "valid") == 0) {
		if (o->cert_url == NULL)
			upacme_order_fetch(o);
		else
			upacme_chain_fetch(o);
	} else if (strcmp(st, "invalid") == 0)
		upacme_order_finish(o, UPACME_REJECTED, NULL,
		    "the upstream CA marked the order invalid", NULL);
	else
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "the upstream order has an unknown status", NULL);
}

/*
 * A resumed order's first read was refused as not found or not ours,
 * and it was made by another account than the one that asked (RFC 8555
 * §7.4: orders are per account; after the upstream forgot the account
 * the new one cannot see the old one's orders).  An order persisted
 * before the account was recorded counts as another's.
 */
static int
order_orphaned(const struct upacme_order *o, const struct upacme_resp *r)
{
	if (r->outcome != UPACME_REJECTED ||
	    (r->status != 404 && !upacme_problem_is(r, "unauthorized") &&
	        !upacme_problem_is(r, "accountDoesNotExist")))
		return 0;
	return o->acct == NULL || r->kid == NULL ||
	    strcmp(o->acct, r->kid) != 0;
}

/* Forget the upstream order `o` was resumed with; newOrder instead. */
static void
order_restart(struct upacme_order *o, const struct upacme_resp *r)
{
	char url[256];
	size_t i;

	log_sanitize(o->url, strlen(o->url), url, sizeof(url));
	log_info("upacme: order %s belongs to an account the upstream CA no "
	         "longer knows (%s); ordering again",
	    url, r->detail != NULL ? r->detail : "refused");
	free(o->url);
	free(o->finalize);
	free(o->cert_url);
	free(o->status);
	free(o->acct);
	o->url = o->finalize = o->cert_url = o->status = o->acct = NULL;
	for (i = 0; i < o->n_authz; i++)
		free(o->authz[i]);
	free(o->authz);
	o->authz = NULL;
	o->n_authz = 0;
	order_new(o); /* persisted anew: o->status is NULL */
}

/* The first answer about a resumed order. */
static void
on_resumed(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;

	if (order_orphaned(o, r) && json_array_size(o->idents) > 0) {
		o->req = NULL;
		order_restart(o, r);
		return;
	}
	/* Shown to this account: an older state learns whose it is. */
	if (r->outcome == UPACME_OK && o->acct == NULL && r->kid != NULL)
		o->acct = strdup(r->kid);
	on_order(arg, r);
}

/* First step once the account is there. */
static void
order_begin(struct upacme_order *o)
{
	if (o->url != NULL) /* resumed: newOrder only if orphaned */
		upacme_order_post(o, o->url, "", NULL, on_resumed);
	else
		order_new(o);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct upacme_order *o = arg;
	struct upacme *u = o->u;

	if (o->waiting_acct) {
		if (u->acct == UPACME_ACCT_BUSY || u->acct == UPACME_ACCT_NONE)
			return; /* woken again when it is decided */
		o->waiting_acct = 0;
		if (u->acct == UPACME_ACCT_FAILED) {
			upacme_order_finish(o, u->acct_outcome, u->acct_problem,
			    u->acct_detail, NULL);
			return;
		}
	}
	o->step(o);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct upacme_order *o = arg;
	char buf[128];

	snprintf(buf, sizeof(buf),
	    "the upstream order did not complete within %d s",
	    o->u->order_timeout);
	upacme_order_finish(o, UPACME_UNAVAILABLE, NULL, buf, NULL);
}

void
upacme_order_account_ready(struct upacme *u)
{
	struct upacme_order *o;

	for (o = u->orders; o != NULL; o = o->next)
		if (o->waiting_acct)
			upacme_order_later(o, o->step, 0);
}

void
upacme_order_free_all(struct upacme *u)
{
	struct upacme_order *o;

	while ((o = u->orders) != NULL) {
		order_unlink(o);
		order_free(o);
	}
}

/* The identifiers of `spec` as newOrder wants them (RFC 8555 §9.7.7,
 * RFC 8738).  NULL on error. */
static json_t *
idents_new(const struct upacme_order_spec *spec)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < spec->n_dns + spec->n_ips; i++) {
		int dns = i < spec->n_dns;
		const char *v = dns ? spec->dns[i] : spec->ips[i - spec->n_dns];

		if (v == NULL ||
		    json_array_append_new(a,
		        json_pack("{s:s, s:s}", "type", dns ? "dns" : "ip",
		            "value", v)) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* A persisted state (see state_json) into o.  0 / -1. */
static int
resume_read(struct upacme_order *o, const char *state)
{
	json_t *j;
	int rc = -1;

	if ((j = json_loads(state, 0, NULL)) == NULL ||
	    !json_is_string(json_object_get(j, "order")) ||
	    strncmp(json_string_value(json_object_get(j, "order")), "https://",
	        8) != 0)
		goto out;
	if (take_str(&o->url, j, "order") == -1 ||
	    take_str(&o->status, j, "status") == -1 ||
	    take_str(&o->finalize, j, "finalize") == -1 ||
	    take_str(&o->cert_url, j, "certificate") == -1 ||
	    take_str(&o->acct, j, "account") == -1 ||
	    (json_is_array(json_object_get(j, "authorizations")) &&
	        json_array_size(json_object_get(j, "authorizations")) > 0 &&
	        order_read(o, j) == -1))
		goto out;
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* The device's CSR into o: copied, and its key kept to check the leaf.
 * 0 / -1. */
static int
csr_take(struct upacme_order *o, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req;
	int rc = -1;

	if (der == NULL || len == 0 || len > UPACME_MAX_BODY ||
	    (req = d2i_X509_REQ(NULL, &p, (long)len)) == NULL)
		return -1;
	if ((size_t)(p - der) == len &&
	    (o->csr_key = X509_REQ_get_pubkey(req)) != NULL &&
	    (o->csr = malloc(len)) != NULL) {
		memcpy(o->csr, der, len);
		o->csr_len = len;
		rc = 0;
	}
	X509_REQ_free(req);
	return rc;
}

/* A new order for `spec`, linked into u, not yet started.  NULL on error
 * (logged). */
static struct upacme_order *
order_new_from(struct upacme *u, const struct upacme_order_spec *spec)
{
	struct upacme_order *o;
	const char *why = "out of memory";

	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	o->u = u;
	o->retry_after = -1;
	if (csr_take(o, spec->csr_der, spec->csr_len) == -1)
		why = "the CSR is not one DER CertificationRequest";
	else if (spec->resume_state == NULL && spec->n_dns + spec->n_ips == 0)
		why = "nothing to order";
	else if (spec->resume_state != NULL &&
	    resume_read(o, spec->resume_state) == -1)
		why = "the state to resume is not one this engine saved";
	else if ((o->idents = idents_new(spec)) == NULL ||
	    (spec->replaces != NULL &&
	        (o->replaces = strdup(spec->replaces)) == NULL) ||
	    (o->kick = evtimer_new(u->base, on_kick, o)) == NULL ||
	    (o->timeout = evtimer_new(u->base, on_timeout, o)) == NULL)
		why = "out of memory";
	else
		why = NULL;
	if (why != NULL) {
		log_error("upacme: cannot start an order: %s", why);
		order_free(o);
		return NULL;
	}
	if ((o->next = u->orders) != NULL)
		o->next->prev = o;
	u->orders = o;
	return o;
}

struct upacme_order *
upacme_order_start(struct upacme *u, const struct upacme_order_spec *spec,
    upacme_done_fn *done, void *order_arg)
{
	struct upacme_order *o;
	struct timeval tv = {u->order_timeout, 0};

	if ((o = order_new_from(u, spec)) == NULL)
		return NULL;
	o->done = done;
	o->arg = order_arg;
	o->deadline = upacme_now() + u->order_timeout;
	o->step = order_begin;
	o->waiting_acct = 1;
	if (evtimer_add(o->timeout, &tv) == -1) {
		order_unlink(o);
		order_free(o);
		return NULL;
	}
	upacme_account_need(u);
	if (u->acct == UPACME_ACCT_READY || u->acct == UPACME_ACCT_FAILED)
		upacme_order_later(o, order_begin, 0);
	return o;
}
