/*
 * The process-wide store (core/store.h): the driver registry, the writer
 * thread that commits queued certificates in batches, and per-thread
 * synchronous connections.
 *
 * Why one writer: SQLite allows one writer at a time and every commit
 * costs an fsync.  Funnelling the loops' writes through one thread lets a
 * single transaction (one fsync) carry every certificate that arrived
 * while the previous one was being committed, and keeps fsync off the
 * event loops (STYLE.md rule 11).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/store.h"

extern const struct store_ops store_sqlite_ops;

/* The one place that names the drivers (STYLE.md rule 2). */
static const struct store_ops *const store_drivers[] = {
    &store_sqlite_ops,
    NULL,
};

/* The string fields of struct audit_record, copied into a job. */
#define AUDIT_NSTR 8

/* One queued write: a certificate with its audit record, or an audit
 * record alone (rec == NULL, no completion). */
struct store_job {
	struct store_job *next;
	struct cert_record *rec; /* owned, or NULL */
	int has_audit;
	struct audit_record audit; /* its strings point into str */
	char *str[AUDIT_NSTR];
	struct event_base *base; /* borrowed; where done runs */
	store_done_fn *done;
	void *arg;
	int rc;
};

struct store {
	const struct store_ops *ops;
	char *dsn;
	void *wconn; /* the writer thread's connection */
	pthread_t writer;
	pthread_mutex_t mu; /* guards head, tail, stop */
	pthread_cond_t cv;
	struct store_job *head;
	struct store_job **tail;
	int stop;
};

struct store_conn {
	const struct store_ops *ops;
	void *conn;
};

const struct store_ops *
store_driver(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && store_drivers[i] != NULL; i++)
		if (strcmp(store_drivers[i]->name, name) == 0)
			return store_drivers[i];
	return NULL;
}

void
cert_record_clear(struct cert_record *rec)
{
	if (rec == NULL)
		return;
	free(rec->subject);
	free(rec->sans);
	free(rec->profile);
	free(rec->requester);
	free(rec->request_id);
	free(rec->pem);
	memset(rec, 0, sizeof(*rec));
}

static void
job_free(struct store_job *job)
{
	size_t i;

	if (job == NULL)
		return;
	cert_record_clear(job->rec);
	free(job->rec);
	for (i = 0; i < AUDIT_NSTR; i++)
		free(job->str[i]);
	free(job);
}

/*
 * Copy `src` into job->audit: the caller's strings are borrowed and die
 * with its request, the job outlives it.  A zero time becomes now.
 * 0 / -1 (strings copied so far are freed by job_free).
 */
static int
job_copy_audit(struct store_job *job, const struct audit_record *src)
{
	struct audit_record *a = &job->audit;
	const char **f[AUDIT_NSTR] = {&a->request_id, &a->profile,
	    &a->requester, &a->subject, &a->event, &a->reason, &a->detail,
	    &a->serial};
	size_t i;

	*a = *src;
	if (a->at == 0)
		a->at = time(NULL);
	for (i = 0; i < AUDIT_NSTR; i++) {
		if (*f[i] == NULL)
			continue;
		if ((job->str[i] = strdup(*f[i])) == NULL) {
			*f[i] = NULL;
			return -1;
		}
		*f[i] = job->str[i];
	}
	job->has_audit = 1;
	return 0;
}

/* Write one job's records in the current transaction.  0 / -1. */
static int
job_write(struct store *st, struct store_job *job)
{
	if (job->rec != NULL && st->ops->cert_put(st->wconn, job->rec) == -1)
		return -1;
	if (job->has_audit && st->ops->audit_put(st->wconn, &job->audit) == -1)
		return -1;
	return 0;
}

/*
 * Write jobs from `first` up to (not including) `end` in one transaction.
 * 0 when committed, -1 when rolled back.
 */
static int
batch_txn(struct store *st, struct store_job *first, struct store_job *end)
{
	struct store_job *j;

	if (st->ops->begin(st->wconn) == -1)
		return -1;
	for (j = first; j != end; j = j->next)
		if (job_write(st, j) == -1)
			goto fail;
	if (st->ops->commit(st->wconn) == -1)
		goto fail;
	return 0;
fail:
	st->ops->rollback(st->wconn);
	return -1;
}

/*
 * Group commit: everything queued in one transaction.  When that fails,
 * retry each job alone so that one bad record (a duplicate serial) fails
 * only itself.  Sets rc on every job.
 */
static void
batch_run(struct store *st, struct store_job *batch)
{
	struct store_job *j;
	int rc;

	rc = batch_txn(st, batch, NULL);
	for (j = batch; j != NULL; j = j->next)
		j->rc = rc;
	if (rc == 0 || batch->next == NULL)
		return;
	for (j = batch; j != NULL; j = j->next)
		j->rc = batch_txn(st, j, j->next);
}

/* On the loop of job->base: hand the outcome over, then forget the job. */
static void
job_complete_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_job *job = arg;

	job->done(job->rc, job->arg);
	job_free(job);
}

/*
 * Post each certificate's outcome to its loop; free audit-only jobs.
 * The record itself is freed here, on the writer, once written.
 */
static void
batch_complete(struct store_job *batch)
{
	static const struct timeval zero_tv = {0, 0};
	struct store_job *j, *next;

	for (j = batch; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		if (j->rc == -1 && j->rec != NULL)
			log_error("msg=\"store: certificate not stored\" "
			          "serial=%s",
			    j->rec->serial);
		else if (j->rc == -1)
			log_error("msg=\"store: audit record lost\" event=%s",
			    j->audit.event != NULL ? j->audit.event : "-");
		cert_record_clear(j->rec);
		free(j->rec);
		j->rec = NULL;
		if (j->done == NULL) {
			job_free(j);
			continue;
		}
		/* Cross-thread safe: bases are made after
		 * evthread_use_pthreads().  Only allocation fails here; the
		 * request then never hears back, so say so loudly. */
		if (event_base_once(j->base, -1, EV_TIMEOUT, job_complete_cb, j,
		        &zero_tv) == -1) {
			log_error("msg=\"store: completion lost, out of "
			          "memory\" rc=%d",
			    j->rc);
			job_free(j);
		}
	}
}

/* The writer thread: take every queued job, commit them, repeat; drains
 * the queue before it honours stop. */
static void *
writer_main(void *arg)
{
	struct store *st = arg;
	struct store_job *batch;

	for (;;) {
		pthread_mutex_lock(&st->mu);
		while (st->head == NULL && !st->stop)
			pthread_cond_wait(&st->cv, &st->mu);
		batch = st->head;
		st->head = NULL;
		st->tail = &st->head;
		pthread_mutex_unlock(&st->mu);
		if (batch == NULL)
			break;
		batch_run(st, batch);
		batch_complete(batch);
	}
	return NULL;
}

/* Append a job, or refuse once store_close() began.  0 / -1. */
static int
store_enqueue(struct store *st, struct store_job *job)
{
	int rc = -1;

	pthread_mutex_lock(&st->mu);
	if (!st->stop) {
		*st->tail = job;
		st->tail = &job->next;
		pthread_cond_signal(&st->cv);
		rc = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

struct store *
store_open(const char *driver, const char *dsn)
{
	struct store *st = NULL;
	int locks = 0;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto fail;
	if ((st->ops = store_driver(driver)) == NULL) {
		log_error("msg=\"store: unknown driver\" driver=%s",
		    driver != NULL ? driver : "-");
		goto fail;
	}
	if ((st->dsn = strdup(dsn)) == NULL ||
	    st->ops->open(dsn, &st->wconn) == -1 ||
	    st->ops->migrate(st->wconn) == -1)
		goto fail;
	st->tail = &st->head;
	if (pthread_mutex_init(&st->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&st->cv, NULL) != 0) {
		pthread_mutex_destroy(&st->mu);
		goto fail;
	}
	locks = 1;
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
		log_error("msg=\"store: cannot start writer thread\"");
		goto fail;
	}
	return st;
fail:
	if (locks) {
		pthread_cond_destroy(&st->cv);
		pthread_mutex_destroy(&st->mu);
	}
	if (st != NULL) {
		if (st->wconn != NULL)
			st->ops->close(st->wconn);
		free(st->dsn);
		free(st);
	}
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	st->stop = 1;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	/* The writer commits what is queued before it returns. */
	pthread_join(st->writer, NULL);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	st->ops->close(st->wconn);
	free(st->dsn);
	free(st);
}

int
store_submit_cert(struct store *st, struct event_base *base,
    struct cert_record *rec, const struct audit_record *audit,
    store_done_fn *done, void *arg)
{
	struct store_job *job = NULL;
	int rc = -1;

	if (rec == NULL)
		return -1;
	if (st == NULL || base == NULL || done == NULL ||
	    (job = calloc(1, sizeof(*job))) == NULL)
		goto out;
	job->rec = rec;
	rec = NULL;
	job->base = base;
	job->done = done;
	job->arg = arg;
	if (audit != NULL && job_copy_audit(job, audit) == -1)
		goto out;
	if (store_enqueue(st, job) == -1)
		goto out;
	job = NULL;
	rc = 0;
out:
	if (rec != NULL) {
		cert_record_clear(rec);
		free(rec);
	}
	job_free(job);
	return rc;
}

int
store_submit_audit(struct store *st, const struct audit_record *audit)
{
	struct store_job *job = NULL;
	int rc = -1;

	if (st == NULL || audit == NULL ||
	    (job = calloc(1, sizeof(*job))) == NULL)
		goto out;
	if (job_copy_audit(job, audit) == -1 || store_enqueue(st, job) == -1)
		goto out;
	job = NULL;
	rc = 0;
out:
	job_free(job);
	return rc;
}

/* Caller frees with store_conn_close().  NULL on error (logged). */
struct store_conn *
store_conn_open(struct store *st)
{
	struct store_conn *c;

	if (st == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ops = st->ops;
	if (c->ops->open(st->dsn, &c->conn) == -1) {
		free(c);
		return NULL;
	}
	return c;
}

void
store_conn_close(struct store_conn *c)
{
	if (c == NULL)
		return;
	c->ops->close(c->conn);
	free(c);
}

/* 0 found (out filled, caller clears), 1 absent, -1 error. */
int
store_cert_get(
    struct store_conn *c, const char *serial, struct cert_record *out)
{
	return c->ops->cert_get(c->conn, serial, out);
}

/*
 * The audit record of a revocation, describing the certificate revoked.
 * Reads the certificate inside the caller's transaction.  0 / -1.
 */
static int
revoke_audit(struct store_conn *c, const char *serial, time_t at, int reason)
{
	struct cert_record cert;
	struct audit_record a;
	char detail[32];
	int rc;

	if (c->ops->cert_get(c->conn, serial, &cert) != 0)
		return -1;
	snprintf(detail, sizeof(detail), "crlReason=%d", reason);
	memset(&a, 0, sizeof(a));
	a.at = at;
	a.request_id = cert.request_id;
	a.proto = cert.proto;
	a.profile = cert.profile;
	a.requester = cert.requester;
	a.subject = cert.subject;
	a.event = "revoked";
	a.detail = detail;
	a.serial = cert.serial;
	rc = c->ops->audit_put(c->conn, &a);
	cert_record_clear(&cert);
	return rc;
}

int
store_cert_revoke(
    struct store_conn *c, const char *serial, time_t at, int reason)
{
	int r;

	/* revoked_at is 0 only for a valid certificate. */
	if (at == 0)
		at = time(NULL);
	if (c->ops->begin(c->conn) == -1)
		return -1;
	if ((r = c->ops->cert_revoke(c->conn, serial, at, reason)) != 0)
		goto out;
	if (revoke_audit(c, serial, at, reason) == -1 ||
	    c->ops->commit(c->conn) == -1) {
		r = -1;
		goto out;
	}
	return 0;
out:
	/* Absent or already revoked changed nothing: roll back as well. */
	c->ops->rollback(c->conn);
	return r;
}

int
store_list_revoked(struct store_conn *c, store_revoked_fn *fn, void *arg)
{
	return c->ops->cert_list_revoked(c->conn, fn, arg);
}
