/*
 * The pipeline's job, shared by its files: enroll.c (policy, backend,
 * store) and enroll_queue.c (the approval queue and deferring
 * backends, core/approval.h).
 */
#ifndef ENROLLD_ENROLL_INT_H
#define ENROLLD_ENROLL_INT_H

#include <openssl/x509.h>

#include "backends/backend.h"
#include "core/enroll.h"

struct event;

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
	int answered; /* the protocol has its answer (or a resumed job) */
	int deferred; /* the backend defers: its outcome goes to the queue */
	int resume;   /* enroll_resume: start the deferred backend again */
	struct event *wait_ev; /* deferred: when to tell the client to wait */
	int wait_seconds;      /* deferred: the backend's defer_seconds */
	enum enroll_reason fail_reason; /* deferred: recorded, then answered */
	char fail_detail[256];
	int with_cert;  /* req->with_cert added to the certificate's set */
	int submitting; /* inside enroll_submit: caller frees */
	int finished;
};

/* enroll.c */
void enroll_audit(const struct enroll_job *job, const char *event,
    enum enroll_reason reason, const char *detail);
/* Give the protocol its answer once (unless cancelled); the job lives on. */
void enroll_answer(
    struct enroll_job *job, enum enroll_reason reason, const char *detail);
/* Answer if not yet, then free the job (unless enroll_submit will). */
void enroll_finish(
    struct enroll_job *job, enum enroll_reason reason, const char *detail);
/* Backend completion: store the certificate, then finish. */
void enroll_issued(
    void *arg, enum enroll_reason reason, const char *detail, X509 *cert);
void enroll_issue(struct enroll_job *job);
void enroll_run(struct enroll_job *job);

/* enroll_queue.c */
/* A profile that requires approval: queue, or answer from the queue. */
void enroll_approval(struct enroll_job *job);
/* A deferring backend (backend.h defer_seconds): run it under the queue. */
void enroll_defer(
    struct enroll_job *job, const struct ca_backend *backend, void *priv);
/* A deferred backend failed: record it for the client's retries, then
 * finish. */
void enroll_defer_failed(
    struct enroll_job *job, enum enroll_reason reason, const char *detail);
/* A deferred backend issued: the queue version to mark issued (0 when
 * the queue cannot be read). */
long enroll_defer_version(struct enroll_job *job);

#endif
