/*
 * The enrollment pipeline: policy -> backend (async) -> durable store ->
 * the protocol's completion.  Every decision leaves an audit record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "core/approval.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/enroll_int.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"
#include "policy/policy.h"

void
enroll_audit(const struct enroll_job *job, const char *event,
    enum enroll_reason reason, const char *detail)
{
	struct audit_record a = {
	    .at = time(NULL),
	    .request_id = job->req->id,
	    .proto = job->req->proto,
	    .profile = job->req->profile,
	    .requester = job->req->requester,
	    .subject = job->req->subject,
	    .event = event,
	    .reason = enroll_reason_code(reason),
	    .detail = detail,
	    .serial = job->serial[0] ? job->serial : NULL,
	};
	char clean[256];

	/* Denials and errors at info; allows are implied by "issued". */
	log_msg(reason == ENROLL_OK ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    "req=%s event=%s reason=%s profile=%s detail=\"%s\"", job->req->id,
	    event, a.reason, job->req->profile ? job->req->profile : "-",
	    detail ? log_sanitize(detail, strlen(detail), clean, sizeof(clean))
	           : "");
	if (store_submit_audit(gateway_store(job->gw), &a) == -1)
		log_error("req=%s msg=\"audit record lost\"", job->req->id);
}

static void
enroll_job_free(struct enroll_job *job)
{
	enroll_req_free(job->req);
	X509_free(job->cert);
	free(job);
}

void
enroll_answer(
    struct enroll_job *job, enum enroll_reason reason, const char *detail)
{
	struct enroll_result res = {
	    .reason = reason,
	    .detail = detail,
	    .cert = reason == ENROLL_OK ? job->cert : NULL,
	    .chain = NULL,
	    .serial = reason == ENROLL_OK ? job->serial : NULL,
	};

	if (job->answered)
		return;
	job->answered = 1;
	if (reason == ENROLL_OK && job->prof != NULL)
		res.chain = gateway_ca_chain(job->gw, job->prof);
	if (!job->cancelled && job->done != NULL)
		job->done(job->req, &res, job->arg);
}

void
enroll_finish(
    struct enroll_job *job, enum enroll_reason reason, const char *detail)
{
	enroll_answer(job, reason, detail);
	if (job->wait_ev != NULL) {
		event_free(job->wait_ev);
		job->wait_ev = NULL;
	}
	job->finished = 1;
	if (!job->submitting)
		enroll_job_free(job);
}

static char *
enroll_sans_text(const struct enroll_req *req)
{
	static const char *const prefix[] = {
	    [IDENT_DNS] = "DNS:",
	    [IDENT_IP] = "IP:",
	    [IDENT_EMAIL] = "email:",
	    [IDENT_URI] = "URI:",
	};
	size_t i, len = 1;
	char *s;

	for (i = 0; i < req->n_idents; i++)
		len += strlen(req->idents[i].value) + 8;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < req->n_idents; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, prefix[req->idents[i].type]);
		strcat(s, req->idents[i].value);
	}
	return s;
}

/* Describe the issued certificate for the store.  0 / -1. */
static int
enroll_record(const struct enroll_job *job, struct cert_record *rec)
{
	const struct enroll_req *req = job->req;

	memset(rec, 0, sizeof(*rec));
	memcpy(rec->serial, job->serial, sizeof(rec->serial));
	rec->not_before = cert_asn1_time(X509_get0_notBefore(job->cert));
	rec->not_after = cert_asn1_time(X509_get0_notAfter(job->cert));
	rec->proto = req->proto;
	rec->status = CERT_STATUS_VALID;
	rec->revoke_reason = -1;
	if ((rec->subject = cert_name_text(X509_get_subject_name(job->cert))) ==
	        NULL ||
	    (rec->sans = enroll_sans_text(req)) == NULL ||
	    (rec->profile = strdup(req->profile)) == NULL ||
	    (req->requester != NULL &&
	        (rec->requester = strdup(req->requester)) == NULL) ||
	    (rec->request_id = strdup(req->id)) == NULL ||
	    (rec->pem = cert_to_pem(job->cert)) == NULL) {
		cert_record_clear(rec);
		return -1;
	}
	return 0;
}

static void
enroll_stored(int rc, void *arg)
{
	struct enroll_job *job = arg;

	if (rc == 1 && job->with_cert) {
		enroll_audit(job, "error", ENROLL_CONFLICT,
		    "the request changed meanwhile; nothing was stored");
		enroll_finish(job, ENROLL_CONFLICT,
		    "the request changed meanwhile; retry");
		return;
	}
	if (rc == -1) {
		enroll_audit(job, "error", ENROLL_STORE_ERROR,
		    "the certificate could not be stored");
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the certificate could not be stored durably");
		return;
	}
	enroll_finish(job, ENROLL_OK, NULL);
}

/* The caller's own writes (req->with_cert), when it still waits for
 * this very enrollment.  0 / -1. */
static int
enroll_with_cert(struct enroll_job *job, struct store_txn *t)
{
	struct enroll_req *req = job->req;

	if (req->with_cert == NULL || job->answered || job->deferred ||
	    job->approval_version > 0)
		return 0;
	job->with_cert = 1;
	return req->with_cert(req->with_cert_arg, job->serial, t);
}

/*
 * One durable transaction: the policy's decision, the certificate and
 * its "issued" record, and the caller's writes that go with it.  Takes
 * rec.
 */
static void
enroll_store(struct enroll_job *job, struct cert_record *rec,
    const struct audit_record *issued)
{
	struct audit_record allow = *issued;
	struct store_txn *t;

	allow.event = "allow";
	allow.detail = job->allow_detail;
	allow.serial = NULL;
	if ((t = store_txn_new()) == NULL || store_txn_audit(t, &allow) == -1) {
		/* rec not handed over yet */
		cert_record_clear(rec);
		free(rec);
		store_txn_free(t);
		goto fail;
	}
	/* From here on the transaction owns rec, on every path. */
	if (store_txn_cert(t, rec) == -1 || store_txn_audit(t, issued) == -1 ||
	    (job->approval_version > 0 &&
	        approval_txn_issued(t, job->req->pending_key,
	            job->approval_version, job->serial) == -1)) {
		store_txn_free(t);
		goto fail;
	}
	if (enroll_with_cert(job, t) == -1) {
		store_txn_free(t);
		enroll_finish(job, ENROLL_INTERNAL, "out of memory");
		return;
	}
	if (store_submit_txn(
	        gateway_store(job->gw), job->base, t, enroll_stored, job) == -1)
		goto fail;
	return;
fail:
	enroll_finish(job, ENROLL_STORE_ERROR,
	    "the certificate could not be stored durably");
}

/* Backend completion: store the certificate before anyone sees it. */
void
enroll_issued(
    void *arg, enum enroll_reason reason, const char *detail, X509 *cert)
{
	struct enroll_job *job = arg;
	struct cert_record *rec;
	struct audit_record a;

	if (reason != ENROLL_OK || cert == NULL) {
		X509_free(cert);
		if (reason == ENROLL_OK)
			reason = ENROLL_BACKEND_ERROR;
		if (detail == NULL)
			detail = "the CA backend failed";
		if (reason == ENROLL_SHUTTING_DOWN) {
			/* Resumed at the next start. */
			enroll_finish(job, reason, detail);
			return;
		}
		enroll_audit(job, "allow", ENROLL_OK, job->allow_detail);
		enroll_audit(job, "error", reason, detail);
		if (job->deferred)
			enroll_defer_failed(job, reason, detail);
		else
			enroll_finish(job, reason, detail);
		return;
	}
	if (job->deferred)
		job->approval_version = enroll_defer_version(job);
	job->cert = cert;
	if ((rec = malloc(sizeof(*rec))) == NULL ||
	    cert_serial_hex(cert, job->serial, sizeof(job->serial)) == -1 ||
	    enroll_record(job, rec) == -1) {
		free(rec);
		enroll_finish(job, ENROLL_INTERNAL, "out of memory");
		return;
	}
	memset(&a, 0, sizeof(a));
	a.at = time(NULL);
	a.request_id = job->req->id;
	a.proto = job->req->proto;
	a.profile = job->req->profile;
	a.requester = job->req->requester;
	a.subject = rec->subject;
	a.event = "issued";
	a.reason = enroll_reason_code(ENROLL_OK);
	a.serial = job->serial;
	log_info("req=%s event=issued serial=%s profile=%s", job->req->id,
	    job->serial, job->req->profile);
	enroll_store(job, rec, &a);
}

void
enroll_issue(struct enroll_job *job)
{
	struct issue_params params;
	const struct ca_backend *backend;
	void *priv;

	if ((backend = gateway_backend(job->gw, job->prof, &priv)) == NULL) {
		enroll_finish(
		    job, ENROLL_BACKEND_ERROR, "the profile has no CA backend");
		return;
	}
	if (backend->defer_seconds != NULL &&
	    backend->defer_seconds(priv) > 0 && !job->deferred) {
		enroll_defer(job, backend, priv);
		return;
	}
	/* Resumed, but the profile's CA now answers at once (the config
	 * changed): issue, and close the queued request with it. */
	if (job->resume && !job->deferred)
		job->approval_version = enroll_defer_version(job);
	policy_issue_params(job->prof, job->req, &params);
	backend->issue(priv, job->base, job->req, &params, enroll_issued, job);
}

void
enroll_run(struct enroll_job *job)
{
	struct policy_decision d;

	job->prof = policy_profile(gateway_policy(job->gw), job->req->profile);
	if (job->prof == NULL) {
		enroll_audit(
		    job, "deny", ENROLL_UNKNOWN_PROFILE, "no such profile");
		enroll_finish(job, ENROLL_UNKNOWN_PROFILE, "no such profile");
		return;
	}
	if (policy_decide(job->prof, job->req, &d) != RC_OK) {
		enroll_audit(job, "deny", d.reason, d.detail);
		enroll_finish(job, d.reason, d.detail);
		return;
	}
	snprintf(job->allow_detail, sizeof(job->allow_detail), "%s", d.detail);
	if (profile_requires_approval(job->prof))
		enroll_approval(job);
	else
		enroll_issue(job);
}

struct enroll_job *
enroll_submit(struct gateway *gw, struct event_base *base,
    struct enroll_req *req, enroll_done_fn *done, void *arg)
{
	struct enroll_job *job;
	struct enroll_result res = {
	    .reason = ENROLL_INTERNAL,
	    .detail = "out of memory",
	};

	if ((job = calloc(1, sizeof(*job))) == NULL) {
		done(req, &res, arg);
		enroll_req_free(req);
		return NULL;
	}
	job->gw = gw;
	job->base = base;
	job->req = req;
	job->done = done;
	job->arg = arg;
	job->submitting = 1;
	enroll_run(job);
	job->submitting = 0;
	if (job->finished) {
		enroll_job_free(job);
		return NULL;
	}
	return job;
}

void
enroll_cancel(struct enroll_job *job)
{
	if (job != NULL)
		job->cancelled = 1;
}
