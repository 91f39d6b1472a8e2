/*
 * Revocations forwarded to the upstream ACME CA.  A certificate is
 * revoked in enrolld's store first (CLI, ACME revokeCert), by any node;
 * the first worker of each node then looks, every revoke_interval, for
 * revoked certificates of this backend that the upstream has not been
 * told of, and revokes them there with the account key.  A marker
 * object per serial records that the upstream knows, so each is sent
 * once, and a CA that is down is simply asked again next time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "backends/acme/upstream.h"
#include "core/cert.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"
#include "policy/policy.h"

/* Bounded work per sweep: the rest waits for the next one. */
#define REVOKE_BATCH 32

struct revoke_batch {
	struct upstream_worker *w;
	struct revoked_entry todo[REVOKE_BATCH];
	size_t n, next;
};

static void revoke_next(struct revoke_batch *rb);

/* A revoked certificate of this backend the upstream was not told of. */
static int
revoke_collect(const struct revoked_entry *e, void *arg)
{
	struct revoke_batch *rb = arg;
	struct store_obj o;

	memset(&o, 0, sizeof(o));
	if (rb->n == REVOKE_BATCH)
		return -1;
	if (store_obj_get(rb->w->sc, UPSTREAM_REVOKED_KIND, e->serial, &o) ==
	    0) {
		store_obj_clear(&o);
		return 0;
	}
	rb->todo[rb->n++] = *e;
	return 0;
}

static void
marker_done(int rc, void *arg)
{
	struct revoke_batch *rb = arg;

	if (rc != 0)
		log_error("msg=\"upstream revocation not recorded\"");
	revoke_next(rb);
}

static void
revoked_upstream(void *arg, int rc, const char *detail)
{
	struct revoke_batch *rb = arg;
	const struct revoked_entry *e = &rb->todo[rb->next - 1];
	struct store_txn *t;
	struct store_obj o;

	if (rc != 0) {
		log_error("serial=%s msg=\"upstream revocation failed\" "
		          "detail=\"%.200s\"",
		    e->serial, detail != NULL ? detail : "");
		revoke_next(rb);
		return;
	}
	log_info("serial=%s msg=\"revoked upstream\"", e->serial);
	memset(&o, 0, sizeof(o));
	o.kind = UPSTREAM_REVOKED_KIND;
	o.id = (char *)e->serial;
	o.json = "{}";
	if ((t = store_txn_new()) == NULL || store_txn_put(t, &o) == -1 ||
	    store_submit_txn(gateway_store(rb->w->up->gw), rb->w->base, t,
	        marker_done, rb) == -1) {
		store_txn_free(t);
		revoke_next(rb);
	}
}

/* Whether the certificate `serial` came from this backend; its parsed
 * form in *cert when it did. */
static int
revoke_ours(struct upstream_worker *w, const char *serial, X509 **cert)
{
	struct cert_record rec;
	const struct profile *prof;
	void *priv = NULL;
	int ours = 0;

	memset(&rec, 0, sizeof(rec));
	*cert = NULL;
	if (store_cert_get(w->sc, serial, &rec) == 0 &&
	    (prof = policy_profile(gateway_policy(w->up->gw), rec.profile)) !=
	        NULL &&
	    gateway_backend(w->up->gw, prof, &priv) != NULL && priv == w->up &&
	    (*cert = cert_from_pem(rec.pem, strlen(rec.pem))) != NULL)
		ours = 1;
	cert_record_clear(&rec);
	return ours;
}

static void
revoke_next(struct revoke_batch *rb)
{
	struct upstream_worker *w = rb->w;
	X509 *cert;

	while (rb->next < rb->n) {
		const struct revoked_entry *e = &rb->todo[rb->next++];

		if (!revoke_ours(w, e->serial, &cert))
			continue;
		if (upacme_revoke(w->engine, cert, e->reason, revoked_upstream,
		        rb) == 0) {
			X509_free(cert);
			return;
		}
		X509_free(cert);
	}
	w->sweeping = 0;
	free(rb);
}

static void
revoke_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_worker *w = arg;
	struct revoke_batch *rb;

	if (w->sweeping || (rb = calloc(1, sizeof(*rb))) == NULL)
		return;
	rb->w = w;
	w->sweeping = 1;
	/* -1 also when the batch is full: the rest comes next time. */
	(void)store_list_revoked(w->sc, revoke_collect, rb);
	revoke_next(rb);
}

int
upstream_revoke_start(struct upstream_worker *w)
{
	struct timeval tv = {w->up->revoke_interval, 0};

	if ((w->sweep = event_new(w->base, -1, EV_PERSIST, revoke_sweep, w)) ==
	        NULL ||
	    event_add(w->sweep, &tv) == -1)
		return -1;
	return 0;
}
