/*
 * The pipeline's queue (core/approval.h): requests waiting for an
 * operator, and requests a deferring backend (an upstream CA) works on
 * while the client comes back.  The client's retries, recognised by the
 * protocol's pending key, are answered from the queue's state; the
 * certificate is issued once however often they ask.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backends/backend.h"
#include "core/approval.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/enroll_int.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"

/* The pending request is stored: tell the client to come back. */
static void
enroll_queued(int rc, void *arg)
{
	struct enroll_job *job = arg;

	if (rc != 0) {
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the request could not be queued for approval");
		return;
	}
	enroll_audit(job, "pending", ENROLL_PENDING, job->req->pending_key);
	enroll_finish(
	    job, ENROLL_PENDING, "waiting for an operator's approval");
}

/* A request approved and issued before: hand out that certificate. */
static void
enroll_reissue(struct enroll_job *job, const char *serial)
{
	struct cert_record rec;

	memset(&rec, 0, sizeof(rec));
	if (store_cert_get(job->req->sc, serial, &rec) != 0 ||
	    (job->cert = cert_from_pem(rec.pem, strlen(rec.pem))) == NULL) {
		cert_record_clear(&rec);
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the approved certificate cannot be read");
		return;
	}
	snprintf(job->serial, sizeof(job->serial), "%s", rec.serial);
	cert_record_clear(&rec);
	enroll_finish(job, ENROLL_OK, NULL);
}

/*
 * A profile that requires approval (core/approval.h): queue the request
 * the first time, then answer from its state on every retry.
 */
void
enroll_approval(struct enroll_job *job)
{
	struct approval_info info;
	struct store_txn *t;

	if (job->req->pending_key == NULL || job->req->sc == NULL) {
		enroll_finish(job, ENROLL_UNAUTHORIZED,
		    "this profile requires approval, which this protocol "
		    "cannot wait for");
		return;
	}
	if (approval_lookup(job->req->sc, job->req->pending_key, &info) == -1) {
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the approval queue cannot be read");
		return;
	}
	switch (info.state) {
	case APPROVAL_NONE:
		if ((t = store_txn_new()) == NULL ||
		    approval_txn_create(t, job->req->pending_key, job->req) ==
		        -1) {
			store_txn_free(t);
			enroll_finish(job, ENROLL_INTERNAL, "out of memory");
			return;
		}
		if (store_submit_txn(gateway_store(job->gw), job->base, t,
		        enroll_queued, job) == -1)
			enroll_queued(-1, job);
		return;
	case APPROVAL_PENDING:
		enroll_finish(
		    job, ENROLL_PENDING, "waiting for an operator's approval");
		return;
	case APPROVAL_REJECTED:
		enroll_audit(job, "deny", ENROLL_UNAUTHORIZED,
		    "rejected by an operator");
		enroll_finish(
		    job, ENROLL_UNAUTHORIZED, "rejected by an operator");
		return;
	case APPROVAL_ISSUED:
		enroll_reissue(job, info.serial);
		return;
	case APPROVAL_APPROVED:
		job->approval_version = info.version;
		enroll_issue(job);
		return;
	default:
		/* Approved, then handed to a deferring backend. */
		enroll_issue(job);
		return;
	}
}

/* The client waited long enough: it comes back (SCEP CertPoll, EST
 * retry, ACME order poll) while the backend goes on. */
static void
enroll_wait_over(evutil_socket_t fd, short what, void *arg)
{
	struct enroll_job *job = arg;

	enroll_answer(job, ENROLL_PENDING, "waiting for the upstream CA");
}

/* The request is queued as "upstream": hand it to the backend. */
static void
enroll_defer_start(struct enroll_job *job, int wait_seconds)
{
	struct timeval tv = {wait_seconds, 0};

	job->deferred = 1;
	if (!job->answered &&
	    ((job->wait_ev = evtimer_new(job->base, enroll_wait_over, job)) ==
	            NULL ||
	        evtimer_add(job->wait_ev, &tv) == -1)) {
		enroll_finish(job, ENROLL_INTERNAL, "out of memory");
		return;
	}
	enroll_issue(job);
}

static void
enroll_defer_queued(int rc, void *arg)
{
	struct enroll_job *job = arg;

	if (rc == 1) {
		/* Another request with this key (a retry racing the first)
		 * queued it: that one drives the backend. */
		enroll_finish(
		    job, ENROLL_PENDING, "waiting for the upstream CA");
		return;
	}
	if (rc != 0) {
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the request could not be queued for the upstream CA");
		return;
	}
	enroll_audit(job, "upstream", ENROLL_PENDING, job->req->pending_key);
	enroll_defer_start(job, job->wait_seconds);
}

/*
 * An upstream CA certifies names, and enrolld answers its challenges
 * for the device: a request must name something.  A device that sends
 * only a CN already has it as its identifier (csr_collect_idents), judged
 * by policy like a SAN.  0, or -1 after finishing the job.
 */
static int
enroll_defer_names(struct enroll_job *job)
{
	if (job->req->n_idents > 0)
		return 0;
	enroll_finish(job, ENROLL_NO_NAMES,
	    "the CA of this profile certifies DNS names or IP addresses, and "
	    "the request has none (not even as CN)");
	return -1;
}

void
enroll_defer(
    struct enroll_job *job, const struct ca_backend *backend, void *priv)
{
	struct approval_info info;
	struct store_txn *t;
	int wait = backend->defer_seconds(priv);

	if (job->req->pending_key == NULL || job->req->sc == NULL) {
		enroll_finish(job, ENROLL_UNAUTHORIZED,
		    "this profile's CA answers later, which this request "
		    "cannot wait for");
		return;
	}
	if (enroll_defer_names(job) == -1)
		return;
	if (approval_lookup(job->req->sc, job->req->pending_key, &info) == -1) {
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the request queue cannot be read");
		return;
	}
	switch (info.state) {
	case APPROVAL_ISSUED:
		enroll_reissue(job, info.serial);
		return;
	case APPROVAL_FAILED:
		enroll_finish(job, info.reason, info.detail);
		return;
	case APPROVAL_UPSTREAM:
		if (job->resume) {
			enroll_defer_start(job, wait);
			return;
		}
		enroll_finish(
		    job, ENROLL_PENDING, "waiting for the upstream CA");
		return;
	case APPROVAL_NONE:
	case APPROVAL_APPROVED:
		break;
	default:
		enroll_finish(job, ENROLL_INTERNAL,
		    "the request is in an unexpected queue state");
		return;
	}
	/* Durable before the backend starts: a restart resumes it. */
	if ((t = store_txn_new()) == NULL ||
	    approval_txn_upstream(
	        t, job->req->pending_key, info.version, job->req) == -1) {
		store_txn_free(t);
		enroll_finish(job, ENROLL_INTERNAL, "out of memory");
		return;
	}
	job->wait_seconds = wait;
	if (store_submit_txn(gateway_store(job->gw), job->base, t,
	        enroll_defer_queued, job) == -1)
		enroll_defer_queued(-1, job);
}

long
enroll_defer_version(struct enroll_job *job)
{
	struct approval_info info;

	if (approval_lookup(job->req->sc, job->req->pending_key, &info) == -1 ||
	    info.state != APPROVAL_UPSTREAM)
		return 0;
	return info.version;
}

static void
enroll_defer_recorded(int rc, void *arg)
{
	struct enroll_job *job = arg;

	if (rc != 0)
		log_error(
		    "req=%s msg=\"the upstream outcome was not recorded\"",
		    job->req->id);
	enroll_finish(job, job->fail_reason, job->fail_detail);
}

void
enroll_defer_failed(
    struct enroll_job *job, enum enroll_reason reason, const char *detail)
{
	struct store_txn *t = store_txn_new();
	long version = enroll_defer_version(job);
	int rc = -1;

	job->fail_reason = reason;
	snprintf(job->fail_detail, sizeof(job->fail_detail), "%s", detail);
	/* Unreachable or busy: the next request starts again (the backend
	 * resumes its own upstream order).  Anything else is the CA's
	 * answer, and every retry gets it. */
	if (t != NULL && version > 0)
		rc = reason == ENROLL_BACKEND_ERROR
		    ? approval_txn_forget(t, job->req->pending_key)
		    : approval_txn_failed(
		          t, job->req->pending_key, version, reason, detail);
	if (rc == -1 ||
	    store_submit_txn(gateway_store(job->gw), job->base, t,
	        enroll_defer_recorded, job) == -1) {
		if (rc == -1)
			store_txn_free(t);
		enroll_defer_recorded(-1, job);
	}
}

struct resume_keys {
	char **keys;
	enum enroll_proto *protos;
	size_t n, cap;
};

static int
resume_collect(const char *key, enum enroll_proto proto, void *arg)
{
	struct resume_keys *rk = arg;

	if (rk->n == rk->cap) {
		size_t cap = rk->cap ? rk->cap * 2 : 16;
		char **keys = realloc(rk->keys, cap * sizeof(*keys));
		enum enroll_proto *protos;

		if (keys == NULL)
			return -1;
		rk->keys = keys;
		if ((protos = realloc(rk->protos, cap * sizeof(*protos))) ==
		    NULL)
			return -1;
		rk->protos = protos;
		rk->cap = cap;
	}
	if ((rk->keys[rk->n] = strdup(key)) == NULL)
		return -1;
	rk->protos[rk->n++] = proto;
	return 0;
}

void
enroll_resume(
    struct gateway *gw, struct event_base *base, struct store_conn *sc)
{
	struct resume_keys rk = {0};
	struct enroll_job *job;
	struct enroll_req *req;
	size_t i;

	/* Keys first: the jobs read the store while starting. */
	if (approval_each_upstream(sc, resume_collect, &rk) == -1)
		log_error("msg=\"cannot list the requests an upstream CA "
		          "owes\"");
	for (i = 0; i < rk.n; i++) {
		if ((req = approval_request(sc, rk.keys[i], rk.protos[i])) ==
		        NULL ||
		    (job = calloc(1, sizeof(*job))) == NULL) {
			log_error("key=%s msg=\"cannot resume\"", rk.keys[i]);
			enroll_req_free(req);
			continue;
		}
		log_info("req=%s key=%s msg=\"resuming an upstream request\"",
		    req->id, rk.keys[i]);
		job->gw = gw;
		job->base = base;
		job->req = req;
		job->resume = 1;
		job->answered = 1;
		enroll_run(job);
	}
	for (i = 0; i < rk.n; i++)
		free(rk.keys[i]);
	free(rk.keys);
	free(rk.protos);
}
