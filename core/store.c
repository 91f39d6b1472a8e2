/*
 * The process-wide store (core/store.h): the driver registry, the writer
 * thread that commits queued sets of writes in batches, and per-thread
 * synchronous connections.  The sets of writes it commits are built in
 * store_txn.c.
 *
 * Why one writer: SQLite allows one writer at a time and every commit
 * costs an fsync.  Funnelling the loops' writes through one thread lets a
 * single transaction (one fsync) carry every set that arrived while the
 * previous one was being committed, and keeps fsync off the event loops
 * (STYLE.md rule 11).  Each set runs under its own savepoint, so a
 * conflicting one is undone without disturbing the others.
 *
 * A light set (no fsync) does not need the writer's thread, only its
 * connection: when that is free and nothing is queued before the set, it
 * is committed on the submitting loop at once, saving two thread
 * switches per set.  It is the one connection that writes, so its page
 * cache stays valid either way.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/store.h"
#include "core/store_int.h"

extern const struct store_ops store_sqlite_ops;

/* The one place that names the drivers (STYLE.md rule 2). */
static const struct store_ops *const store_drivers[] = {
    &store_sqlite_ops,
    NULL,
};

/* Expired objects are swept at most this often (seconds). */
#define STORE_EXPIRE_EVERY 60

/* One queued set of writes and who waits for it (done == NULL: nobody,
 * an audit record alone). */
struct store_job {
	struct store_job *next;
	struct store_txn *txn;   /* owned until written */
	struct event_base *base; /* borrowed; where done runs */
	store_txn_done_fn *done;
	void *arg;
	int no_conflict; /* report a conflict as -1 (store_submit_cert) */
	int rc;
	/* Room for the event that runs done (event_get_struct_event_size):
	 * posting it then needs no allocation that could fail. */
	max_align_t done_ev[];
};

struct store {
	const struct store_ops *ops;
	char *dsn;
	void *wconn;   /* the writer's connection, used under wmu */
	int inline_ok; /* the driver can commit light sets on the loops */
	pthread_t writer;
	/* Held while wconn is used; taken before mu when both are. */
	pthread_mutex_t wmu;
	pthread_mutex_t mu; /* guards head, tail, stop, chores */
	pthread_cond_t cv;
	struct store_job *head;
	struct store_job **tail;
	int stop;
	int chores;         /* the driver's maintain() is due */
	time_t last_expire; /* under wmu */
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

void
store_obj_clear(struct store_obj *o)
{
	if (o == NULL)
		return;
	free(o->kind);
	free(o->id);
	free(o->key1);
	free(o->key2);
	free(o->status);
	free(o->json);
	memset(o, 0, sizeof(*o));
}

static void
job_free(struct store_job *job)
{
	if (job == NULL)
		return;
	store_txn_free(job->txn);
	free(job);
}

/*
 * Write `t` in the connection's open transaction and end it: committed
 * (0), or rolled back after a conflict (1) or an error (-1).  The one
 * way a set alone is committed: by the writer, on a loop, by the CLI.
 */
static int
set_commit(const struct store_ops *ops, void *conn, const struct store_txn *t)
{
	int r;

	if ((r = store_txn_write(ops, conn, t)) == 0 && ops->commit(conn) == -1)
		r = -1;
	if (r != 0)
		ops->rollback(conn);
	return r;
}

/*
 * Housekeeping in the writer's open transaction, under its own savepoint:
 * sweep a bounded number of expired objects, at most every
 * STORE_EXPIRE_EVERY seconds.  Best effort: they are invisible already,
 * so a failure only delays the sweep.  Inside the batch rather than after
 * it so that it costs no extra fsync and never holds the write lock once
 * the completions have gone out.
 */
static void
store_expire(struct store *st)
{
	const struct store_ops *ops = st->ops;
	time_t now = time(NULL);

	if (now - st->last_expire < STORE_EXPIRE_EVERY)
		return;
	st->last_expire = now;
	if (ops->savepoint(st->wconn) == -1)
		return;
	if (ops->obj_expire(st->wconn, now) == 0) {
		ops->release(st->wconn);
	} else {
		ops->rollback_to(st->wconn);
		log_warn("msg=\"store: expired objects not swept\"");
	}
}

/*
 * Write jobs from `first` up to (not including) `end` in one transaction,
 * each under a savepoint: a conflicting job is undone alone (rc 1).  A
 * job alone needs no savepoint: its conflict undoes the transaction
 * (and that batch's expiry sweep, which the next sweep redoes).
 * 0 when committed or the lone job conflicted (rc set on each job), -1
 * when all was rolled back.
 */
static int
batch_txn(struct store *st, struct store_job *first, struct store_job *end)
{
	const struct store_ops *ops = st->ops;
	struct store_job *j;
	int r;

	/* fsync only when some set in the batch must survive a crash. */
	for (j = first; j != end && store_txn_is_light(j->txn); j = j->next)
		;
	if (ops->set_durable(st->wconn, j != end) == -1 ||
	    ops->begin(st->wconn) == -1)
		return -1;
	store_expire(st);
	if (first->next == end) {
		first->rc = set_commit(ops, st->wconn, first->txn);
		return first->rc == -1 ? -1 : 0;
	}
	for (j = first; j != end; j = j->next) {
		if (ops->savepoint(st->wconn) == -1 ||
		    (r = store_txn_write(ops, st->wconn, j->txn)) == -1)
			goto fail;
		if ((r == 1 ? ops->rollback_to(st->wconn)
		            : ops->release(st->wconn)) == -1)
			goto fail;
		j->rc = r;
	}
	if (ops->commit(st->wconn) == -1)
		goto fail;
	return 0;
fail:
	ops->rollback(st->wconn);
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

	if (batch_txn(st, batch, NULL) == 0)
		return;
	for (j = batch; j != NULL; j = j->next)
		if (batch->next == NULL || batch_txn(st, j, j->next) == -1)
			j->rc = -1;
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
 * Post one job's outcome to its loop, or free it when nobody waits.  The
 * written records are freed here, on the thread that wrote them.
 */
static void
job_complete(struct store_job *j)
{
	struct event *ev = (struct event *)j->done_ev;

	if (j->rc == -1)
		store_txn_log_lost(j->txn);
	/* A certificate's caller knows only 0 / -1. */
	if (j->rc == 1 && j->no_conflict)
		j->rc = -1;
	store_txn_free(j->txn);
	j->txn = NULL;
	if (j->done == NULL) {
		job_free(j);
		return;
	}
	/* Cross-thread safe: bases are made after evthread_use_pthreads().
	 * The event lives in the job, so nothing here can fail but a base
	 * that does not exist. */
	if (event_assign(ev, j->base, -1, 0, job_complete_cb, j) == -1) {
		log_error("msg=\"store: completion lost\" rc=%d", j->rc);
		job_free(j);
		return;
	}
	event_active(ev, EV_TIMEOUT, 1);
}

static void
batch_complete(struct store_job *batch)
{
	struct store_job *j, *next;

	for (j = batch; j != NULL; j = next) {
		next = j->next;
		j->next = NULL;
		job_complete(j);
	}
}

/* Wait for queued jobs or chores; NULL with *stop set once store_close()
 * began and nothing is left.  The jobs are taken under wmu, held on
 * return, so that no set committed on a loop overtakes them. */
static struct store_job *
writer_take(struct store *st, int *stop)
{
	struct store_job *batch;

	pthread_mutex_lock(&st->mu);
	while (st->head == NULL && !st->stop && !st->chores)
		pthread_cond_wait(&st->cv, &st->mu);
	*stop = st->head == NULL && st->stop;
	st->chores = 0;
	pthread_mutex_unlock(&st->mu);
	if (*stop)
		return NULL;
	pthread_mutex_lock(&st->wmu);
	pthread_mutex_lock(&st->mu);
	batch = st->head;
	st->head = NULL;
	st->tail = &st->head;
	pthread_mutex_unlock(&st->mu);
	return batch;
}

/* The writer thread: take every queued job, commit them, answer them,
 * run the driver's chores, repeat; drains the queue before it honours
 * stop. */
static void *
writer_main(void *arg)
{
	struct store *st = arg;
	struct store_job *batch;
	int stop;

	for (;;) {
		batch = writer_take(st, &stop);
		if (stop)
			break;
		if (batch != NULL)
			batch_run(st, batch);
		/* The answers go out first: a checkpoint copies up to a
		 * thousand pages and syncs the database file, and no caller
		 * needs to wait for that. */
		batch_complete(batch);
		if (st->inline_ok && st->ops->maintain_due(st->wconn))
			st->ops->maintain(st->wconn);
		pthread_mutex_unlock(&st->wmu);
	}
	return NULL;
}

/* A job for `t` (taken: freed here on failure); done may be NULL.
 * NULL on allocation failure. */
static struct store_job *
job_new(struct store_txn *t, struct event_base *base, store_txn_done_fn *done,
    void *arg)
{
	struct store_job *job;

	if ((job = calloc(1, sizeof(*job) + event_get_struct_event_size())) ==
	    NULL) {
		store_txn_free(t);
		return NULL;
	}
	job->txn = t;
	job->base = base;
	job->done = done;
	job->arg = arg;
	return job;
}

/* Append `job` (taken), or refuse once store_close() began.  0 / -1. */
static int
store_enqueue(struct store *st, struct store_job *job)
{
	int rc = -1;

	if (job == NULL)
		return -1;
	pthread_mutex_lock(&st->mu);
	if (!st->stop) {
		*st->tail = job;
		st->tail = &job->next;
		pthread_cond_signal(&st->cv);
		rc = 0;
	}
	pthread_mutex_unlock(&st->mu);
	if (rc == -1)
		job_free(job);
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
	if (st->ops->writer_setup != NULL && st->ops->try_begin != NULL &&
	    st->ops->maintain_due != NULL && st->ops->maintain != NULL) {
		if (st->ops->writer_setup(st->wconn) == -1)
			goto fail;
		st->inline_ok = 1;
	}
	if (pthread_mutex_init(&st->mu, NULL) != 0)
		goto fail;
	if (pthread_mutex_init(&st->wmu, NULL) != 0) {
		pthread_mutex_destroy(&st->mu);
		goto fail;
	}
	if (pthread_cond_init(&st->cv, NULL) != 0) {
		pthread_mutex_destroy(&st->wmu);
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
		pthread_mutex_destroy(&st->wmu);
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
	pthread_mutex_destroy(&st->wmu);
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
	struct store_job *job;
	struct store_txn *t;

	if (rec == NULL)
		return -1;
	if (st == NULL || base == NULL || done == NULL ||
	    (t = store_txn_new()) == NULL) {
		cert_record_clear(rec);
		free(rec);
		return -1;
	}
	if (store_txn_cert(t, rec) == -1 ||
	    (audit != NULL && store_txn_audit(t, audit) == -1)) {
		store_txn_free(t);
		return -1;
	}
	if ((job = job_new(t, base, done, arg)) == NULL)
		return -1;
	job->no_conflict = 1;
	return store_enqueue(st, job);
}

int
store_submit_audit(struct store *st, const struct audit_record *audit)
{
	struct store_txn *t;

	if (st == NULL || audit == NULL || (t = store_txn_new()) == NULL)
		return -1;
	if (store_txn_audit(t, audit) == -1) {
		store_txn_free(t);
		return -1;
	}
	return store_enqueue(st, job_new(t, NULL, NULL, NULL));
}

/*
 * Whether the writer's connection is free for a set committed here: wmu
 * taken (held on 1), nothing queued that the set would overtake, no
 * store_close() begun and no sweep of expired objects due (the writer
 * does that inside a batch).
 */
static int
inline_claim(struct store *st)
{
	int free_now;

	if (!st->inline_ok || pthread_mutex_trylock(&st->wmu) != 0)
		return 0;
	pthread_mutex_lock(&st->mu);
	free_now = st->head == NULL && !st->stop;
	pthread_mutex_unlock(&st->mu);
	if (free_now && time(NULL) - st->last_expire < STORE_EXPIRE_EVERY)
		return 1;
	pthread_mutex_unlock(&st->wmu);
	return 0;
}

/*
 * Commit the light set of `job` on the caller's thread when the writer's
 * connection is free and its lock is not held elsewhere: 0 done (job->rc
 * set, completion posted), -1 declined (job untouched).  Never waits: a
 * commit without fsync costs what a lookup does, less than the two thread
 * switches of the writer's round trip.  A checkpoint it makes due is left
 * to the writer thread.
 */
static int
store_commit_inline(struct store *st, struct store_job *job)
{
	const struct store_ops *ops = st->ops;
	int r, chores;

	if (!store_txn_is_light(job->txn) || !inline_claim(st))
		return -1;
	if (ops->set_durable(st->wconn, 0) == -1 ||
	    ops->try_begin(st->wconn) != 0) {
		pthread_mutex_unlock(&st->wmu);
		return -1;
	}
	r = set_commit(ops, st->wconn, job->txn);
	chores = ops->maintain_due(st->wconn);
	pthread_mutex_unlock(&st->wmu);
	if (chores) {
		pthread_mutex_lock(&st->mu);
		st->chores = 1;
		pthread_cond_signal(&st->cv);
		pthread_mutex_unlock(&st->mu);
	}
	job->rc = r;
	job_complete(job);
	return 0;
}

int
store_submit_txn(struct store *st, struct event_base *base, struct store_txn *t,
    store_txn_done_fn *done, void *arg)
{
	struct store_job *job;

	if (st == NULL || base == NULL || done == NULL || t == NULL) {
		store_txn_free(t);
		return -1;
	}
	if ((job = job_new(t, base, done, arg)) == NULL)
		return -1;
	if (store_commit_inline(st, job) == 0)
		return 0;
	return store_enqueue(st, job);
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

int
store_obj_get(struct store_conn *c, const char *kind, const char *id,
    struct store_obj *out)
{
	return c->ops->obj_get(c->conn, kind, id, out);
}

int
store_nonce_live(struct store_conn *c, const char *nonce)
{
	int r;

	if (nonce == NULL || *nonce == '\0' || strlen(nonce) > STORE_OBJ_ID_MAX)
		return 0;
	r = c->ops->nonce_get(c->conn, nonce);
	return r == -1 ? -1 : r == 0;
}

int
store_obj_find(struct store_conn *c, const char *kind, int which,
    const char *value, store_obj_fn *fn, void *arg)
{
	return c->ops->obj_find(c->conn, kind, which, value, fn, arg);
}

long
store_obj_count(struct store_conn *c, const char *kind, int which,
    const char *value, time_t since)
{
	return c->ops->obj_count(c->conn, kind, which, value, since);
}

void
store_read_begin(struct store_conn *c)
{
	if (c != NULL && c->ops->read_begin != NULL)
		(void)c->ops->read_begin(c->conn);
}

void
store_read_end(struct store_conn *c)
{
	if (c != NULL && c->ops->read_end != NULL)
		c->ops->read_end(c->conn);
}

/* The writer's rules on the caller's connection, without a batch: a
 * conflict or an error rolls the whole set back. */
int
store_txn_run(struct store_conn *c, struct store_txn *t)
{
	int rc = -1;

	if (c == NULL || t == NULL || c->ops->begin(c->conn) == -1)
		goto out;
	if ((rc = set_commit(c->ops, c->conn, t)) == -1)
		store_txn_log_lost(t);
out:
	store_txn_free(t);
	return rc;
}
