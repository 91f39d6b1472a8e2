/*
 * One issue through the upstream ACME CA: the engine (upacme.h) drives
 * the order; this file keeps its state in the store under the request's
 * pending key (so a restart, or another node, resumes the same upstream
 * order instead of ordering twice), publishes challenges (http-01 in
 * the store for the plain-HTTP responder, dns-01 through the operator's
 * hook) and turns the outcome into the pipeline's terms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "backends/acme/upacme.h"
#include "backends/acme/upstream.h"
#include "core/chal_store.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/spawn.h"
#include "core/store.h"

/* http-01 answers outlive any order a little. */
#define UPSTREAM_CHAL_TTL 86400

struct upstream_order {
	struct upstream_worker *w;
	struct upstream_order *next, *prev;
	struct upacme_order *o;
	ca_issue_done_fn *done;
	void *arg;
	char key[STORE_OBJ_ID_MAX + 1]; /* the pending key */
	char id[20];                    /* the request id, for logs */
	long version;                   /* of the stored upstream order */
	struct spawn_job *hook;         /* a dns-01 hook in flight */
	upacme_cont_fn *cont;           /* its continuation */
	void *cont_arg;
};

/* A store write the engine waits for. */
struct upstream_write {
	struct upstream_order *uo;
	upacme_cont_fn *cont;
	void *cont_arg;
	int persist; /* an order state: count the version */
};

static void
order_unlink(struct upstream_order *uo)
{
	if (uo->prev != NULL)
		uo->prev->next = uo->next;
	else
		uo->w->orders = uo->next;
	if (uo->next != NULL)
		uo->next->prev = uo->prev;
}

static void
write_done(int rc, void *arg)
{
	struct upstream_write *wr = arg;

	if (rc == 0 && wr->persist)
		wr->uo->version++;
	if (rc != 0)
		log_error(
		    "req=%s msg=\"upstream order state not stored\" rc=%d",
		    wr->uo->id, rc);
	wr->cont(wr->cont_arg, rc == 0 ? 0 : -1);
	free(wr);
}

/* Submit t; the engine continues when it is committed. */
static void
write_submit(struct upstream_order *uo, struct store_txn *t, int persist,
    upacme_cont_fn *cont, void *cont_arg)
{
	struct upstream_write *wr = calloc(1, sizeof(*wr));

	if (wr == NULL || t == NULL) {
		free(wr);
		store_txn_free(t);
		cont(cont_arg, -1);
		return;
	}
	wr->uo = uo;
	wr->cont = cont;
	wr->cont_arg = cont_arg;
	wr->persist = persist;
	if (store_submit_txn(gateway_store(uo->w->up->gw), uo->w->base, t,
	        write_done, wr) == -1) {
		free(wr);
		cont(cont_arg, -1);
	}
}

/* The engine's state after each step: durable, so that a restart finds
 * the upstream order again. */
static void
hook_persist(void *order_arg, const char *state_json, upacme_cont_fn *cont,
    void *cont_arg)
{
	struct upstream_order *uo = order_arg;
	struct store_txn *t = store_txn_new();
	struct store_obj o;

	memset(&o, 0, sizeof(o));
	o.kind = UPSTREAM_ORDER_KIND;
	o.id = uo->key;
	o.json = (char *)state_json;
	o.version = uo->version;
	if (t != NULL && store_txn_put(t, &o) == -1) {
		store_txn_free(t);
		t = NULL;
	}
	write_submit(uo, t, 1, cont, cont_arg);
}

static void
hook_spawned(void *arg, int status, const char *output)
{
	struct upstream_order *uo = arg;
	upacme_cont_fn *cont = uo->cont;

	uo->hook = NULL;
	uo->cont = NULL;
	if (status != 0)
		log_error("req=%s msg=\"dns-01 hook failed\" status=%d "
		          "output=\"%.200s\"",
		    uo->id, status, output != NULL ? output : "");
	cont(uo->cont_arg, status == 0 ? 0 : -1);
}

/* dns-01: `HOOK add|del FQDN VALUE`, off the loop, with a deadline. */
static void
run_hook(struct upstream_order *uo, const char *verb, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	char *argv[] = {
	    uo->w->up->hook, (char *)verb, (char *)name, (char *)value, NULL};

	uo->cont = cont;
	uo->cont_arg = cont_arg;
	if ((uo->hook = spawn_run(uo->w->base, argv, uo->w->up->hook_timeout,
	         hook_spawned, uo)) == NULL) {
		log_error("req=%s msg=\"cannot run the dns-01 hook\"", uo->id);
		uo->cont = NULL;
		cont(cont_arg, -1);
	}
}

static void
hook_publish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	struct upstream_order *uo = order_arg;
	struct store_txn *t;
	char *have = NULL;

	if (strcmp(type, "dns-01") == 0) {
		run_hook(uo, "add", name, value, cont, cont_arg);
		return;
	}
	/* A resumed order publishes again what may still be there. */
	if (chal_store_get(uo->w->sc, name, &have) == 0 &&
	    strcmp(have, value) == 0) {
		free(have);
		cont(cont_arg, 0);
		return;
	}
	/* Visible to every node's responder once committed; losing it to a
	 * power cut only fails a validation, so no fsync.  A stale answer
	 * for the token is replaced in the same set. */
	if ((t = store_txn_new()) != NULL) {
		store_txn_set_light(t, 1);
		if ((have != NULL && chal_store_txn_delete(t, name) == -1) ||
		    chal_store_txn_put(
		        t, name, value, time(NULL) + UPSTREAM_CHAL_TTL) == -1) {
			store_txn_free(t);
			t = NULL;
		}
	}
	free(have);
	write_submit(uo, t, 0, cont, cont_arg);
}

static void
hook_unpublish(void *order_arg, const char *type, const char *name,
    const char *value, upacme_cont_fn *cont, void *cont_arg)
{
	struct upstream_order *uo = order_arg;
	struct store_txn *t;

	if (strcmp(type, "dns-01") == 0) {
		run_hook(uo, "del", name, value, cont, cont_arg);
		return;
	}
	if ((t = store_txn_new()) != NULL) {
		store_txn_set_light(t, 1);
		if (chal_store_txn_delete(t, name) == -1) {
			store_txn_free(t);
			t = NULL;
		}
	}
	write_submit(uo, t, 0, cont, cont_arg);
}

const struct upacme_hooks upstream_order_hooks = {
    .persist = hook_persist,
    .publish = hook_publish,
    .unpublish = hook_unpublish,
};

/* The upstream's refusal in the pipeline's terms, so that each front end
 * answers in its own format (SCEP failInfo, EST status, ACME problem). */
static enum enroll_reason
refusal_reason(const char *problem_type)
{
	static const struct {
		const char *type;
		enum enroll_reason reason;
	} map[] = {
	    {"rejectedIdentifier", ENROLL_NAME_FORBIDDEN},
	    {"caa", ENROLL_NAME_FORBIDDEN},
	    {"unsupportedIdentifier", ENROLL_IDENT_UNSUPPORTED},
	    {"badCSR", ENROLL_BAD_CSR},
	    {"badPublicKey", ENROLL_BAD_KEY},
	    {"badSignatureAlgorithm", ENROLL_BAD_KEY},
	};
	const char *p;
	size_t i;

	if (problem_type == NULL)
		return ENROLL_UNAUTHORIZED;
	p = strrchr(problem_type, ':');
	p = p != NULL ? p + 1 : problem_type;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].type, p) == 0)
			return map[i].reason;
	return ENROLL_UNAUTHORIZED;
}

static void
forget_done(int rc, void *arg)
{
	(void)rc;
	(void)arg;
}

/* The upstream order is over: its stored state goes. */
static void
order_forget(struct upstream_order *uo)
{
	struct store_txn *t = store_txn_new();

	if (t == NULL ||
	    store_txn_delete(t, UPSTREAM_ORDER_KIND, uo->key) == -1) {
		store_txn_free(t);
		return;
	}
	store_txn_set_light(t, 1);
	if (store_submit_txn(gateway_store(uo->w->up->gw), uo->w->base, t,
	        forget_done, NULL) == -1)
		log_error("req=%s msg=\"upstream order state kept\"", uo->id);
}

static void
order_done(void *order_arg, enum upacme_outcome outcome,
    const char *problem_type, const char *detail, STACK_OF(X509) *chain)
{
	struct upstream_order *uo = order_arg;
	char sentence[512];
	X509 *leaf = NULL;

	order_unlink(uo);
	switch (outcome) {
	case UPACME_OK:
		leaf = sk_X509_shift(chain);
		upstream_learn_chain(uo->w->up, chain);
		sk_X509_pop_free(chain, X509_free);
		order_forget(uo);
		uo->done(uo->arg,
		    leaf != NULL ? ENROLL_OK : ENROLL_BACKEND_ERROR,
		    leaf != NULL ? NULL : "the upstream CA sent no certificate",
		    leaf);
		break;
	case UPACME_REJECTED:
		sk_X509_pop_free(chain, X509_free);
		order_forget(uo);
		snprintf(sentence, sizeof(sentence),
		    "the upstream CA refused: %s",
		    detail != NULL ? detail : "no reason given");
		uo->done(uo->arg, refusal_reason(problem_type), sentence, NULL);
		break;
	default:
		/* Kept: the next attempt resumes this upstream order. */
		sk_X509_pop_free(chain, X509_free);
		snprintf(sentence, sizeof(sentence),
		    "the upstream CA is unavailable: %s",
		    detail != NULL ? detail : "no answer");
		uo->done(uo->arg, ENROLL_BACKEND_ERROR, sentence, NULL);
		break;
	}
	free(uo);
}

/* The identifiers of req as the engine wants them.  0 / -1. */
static int
order_spec(const struct enroll_req *req, struct upacme_order_spec *spec,
    const char **dns, const char **ips, unsigned char **der)
{
	int len;
	size_t i;

	for (i = 0; i < req->n_idents; i++) {
		if (req->idents[i].type == IDENT_DNS)
			dns[spec->n_dns++] = req->idents[i].value;
		else if (req->idents[i].type == IDENT_IP)
			ips[spec->n_ips++] = req->idents[i].value;
		else
			return -1;
	}
	if ((len = i2d_X509_REQ(req->csr, der)) <= 0)
		return -1;
	spec->csr_der = *der;
	spec->csr_len = (size_t)len;
	spec->dns = dns;
	spec->ips = ips;
	return 0;
}

void
upstream_issue(void *priv, struct event_base *base,
    const struct enroll_req *req, const struct issue_params *params,
    ca_issue_done_fn *done, void *arg)
{
	struct upstream *up = priv;
	struct upstream_worker *w = upstream_worker_of(up, base);
	struct upacme_order_spec spec;
	struct upstream_order *uo = NULL;
	struct store_obj saved;
	const char **dns = NULL, **ips = NULL;
	unsigned char *der = NULL;
	char *replaces = NULL;
	const char *fail = "out of memory";
	enum enroll_reason reason = ENROLL_INTERNAL;

	(void)params; /* the upstream's own profile decides validity */
	memset(&spec, 0, sizeof(spec));
	memset(&saved, 0, sizeof(saved));
	if (w == NULL || req->pending_key == NULL ||
	    strlen(req->pending_key) > STORE_OBJ_ID_MAX) {
		fail = "the upstream CA is not reachable from here";
		goto fail;
	}
	if ((uo = calloc(1, sizeof(*uo))) == NULL ||
	    (dns = calloc(req->n_idents + 1, sizeof(*dns))) == NULL ||
	    (ips = calloc(req->n_idents + 1, sizeof(*ips))) == NULL)
		goto fail;
	if (order_spec(req, &spec, dns, ips, &der) == -1) {
		reason = ENROLL_IDENT_UNSUPPORTED;
		fail = "the upstream CA takes DNS names and IP addresses only";
		goto fail;
	}
	if (req->renewal_of != NULL &&
	    (replaces = upacme_ari_cert_id(req->renewal_of)) != NULL)
		spec.replaces = replaces;
	/* An upstream order made for this request before (a restart, an
	 * unreachable CA) is resumed, never ordered again. */
	if (store_obj_get(
	        w->sc, UPSTREAM_ORDER_KIND, req->pending_key, &saved) == 0) {
		spec.resume_state = saved.json;
		uo->version = saved.version;
	}
	uo->w = w;
	uo->done = done;
	uo->arg = arg;
	snprintf(uo->key, sizeof(uo->key), "%s", req->pending_key);
	snprintf(uo->id, sizeof(uo->id), "%s", req->id);
	if ((uo->o = upacme_order_start(w->engine, &spec, order_done, uo)) ==
	    NULL) {
		reason = ENROLL_BACKEND_ERROR;
		fail = "the upstream order could not be started";
		goto fail;
	}
	uo->next = w->orders;
	if (w->orders != NULL)
		w->orders->prev = uo;
	w->orders = uo;
	log_info("req=%s msg=\"upstream order %s\" key=%s", req->id,
	    spec.resume_state != NULL ? "resumed" : "started", uo->key);
	uo = NULL;
	goto out;
fail:
	done(arg, reason, fail, NULL);
out:
	free(uo);
	free(dns);
	free(ips);
	OPENSSL_free(der);
	free(replaces);
	store_obj_clear(&saved);
}

void
upstream_orders_end(struct upstream_worker *w)
{
	struct upstream_order *uo;

	while ((uo = w->orders) != NULL) {
		order_unlink(uo);
		if (uo->hook != NULL)
			spawn_cancel(uo->hook);
		uo->done(uo->arg, ENROLL_SHUTTING_DOWN,
		    "enrolld is stopping; the order resumes at the next start",
		    NULL);
		free(uo);
	}
}
