/*
 * The enrollment pipeline: policy -> backend (async) -> durable store ->
 * the protocol's completion.  Every decision leaves an audit record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "core/approval.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"
#include "policy/policy.h"

struct enroll_job {
	struct gateway *gw;
	struct event_base *base;
	struct enroll_req *req;
	const struct profile *prof;
	enroll_done_fn *done;
	void *arg;
	X509 *cert;
	char serial[41];
	char allow_detail[256]; /* the policy's sentence, audited with the
	                           certificate in one transaction */
	long approval_version;  /* > 0: an approved request, mark it issued */
	int cancelled;
	int submitting; /* inside enroll_submit: caller frees */
	int finished;
};

static void
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

/* Hand the outcome to the protocol exactly once, then free the job
 * unless enroll_submit is still on the stack and will. */
static void
enroll_finish(
    struct enroll_job *job, enum enroll_reason reason, const char *detail)
{
	struct enroll_result res = {
	    .reason = reason,
	    .detail = detail,
	    .cert = reason == ENROLL_OK ? job->cert : NULL,
	    .chain = NULL,
	    .serial = reason == ENROLL_OK ? job->serial : NULL,
	};

	if (reason == ENROLL_OK && job->prof != NULL)
		res.chain = gateway_ca_chain(job->gw, job->prof);
	if (!job->cancelled && job->done != NULL)
		job->done(job->req, &res, job->arg);
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

	if (rc == -1) {
		enroll_audit(job, "error", ENROLL_STORE_ERROR,
		    "the certificate could not be stored");
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the certificate could not be stored durably");
		return;
	}
	enroll_finish(job, ENROLL_OK, NULL);
}

/*
 * One durable transaction: the policy's decision, the certificate and
 * its "issued" record.  Takes rec.
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
	if (store_submit_txn(
	        gateway_store(job->gw), job->base, t, enroll_stored, job) == -1)
		goto fail;
	return;
fail:
	enroll_finish(job, ENROLL_STORE_ERROR,
	    "the certificate could not be stored durably");
}

/* Backend completion: store the certificate before anyone sees it. */
static void
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
		enroll_audit(job, "allow", ENROLL_OK, job->allow_detail);
		enroll_audit(job, "error", reason, detail);
		enroll_finish(
		    job, reason, detail ? detail : "the CA backend failed");
		return;
	}
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

static void enroll_issue(struct enroll_job *job);

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
static void
enroll_approval(struct enroll_job *job)
{
	struct store_txn *t;
	char serial[41];
	long version = 0;
	int state;

	if (job->req->pending_key == NULL || job->req->sc == NULL) {
		enroll_finish(job, ENROLL_UNAUTHORIZED,
		    "this profile requires approval, which this protocol "
		    "cannot wait for");
		return;
	}
	state = approval_state(job->req->sc, job->req->pending_key, serial,
	    sizeof(serial), &version);
	switch (state) {
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
		enroll_reissue(job, serial);
		return;
	case APPROVAL_APPROVED:
		job->approval_version = version;
		enroll_issue(job);
		return;
	default:
		enroll_finish(job, ENROLL_STORE_ERROR,
		    "the approval queue cannot be read");
		return;
	}
}

static void
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
	policy_issue_params(job->prof, job->req, &params);
	backend->issue(priv, job->base, job->req, &params, enroll_issued, job);
}

static void
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
