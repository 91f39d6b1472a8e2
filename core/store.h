/*
 * Durable storage: certificates, revocations and the audit trail.
 *
 * Two layers:
 *  - struct store_ops: one driver connection, used by one thread at a time
 *    (SQLite now, PostgreSQL later).  Drivers register in store.c.
 *  - struct store: the process-wide handle.  Writes that must be durable
 *    before a reply go through store_submit_cert(), which a single writer
 *    thread commits in batches (group commit: one fsync for many
 *    certificates) and completes on the caller's event loop.  Reads use a
 *    per-thread struct store_conn.
 */
#ifndef ENROLLD_STORE_H
#define ENROLLD_STORE_H

#include <stddef.h>
#include <time.h>

#include "core/enroll.h"

struct event_base;

enum cert_status { CERT_STATUS_VALID = 0, CERT_STATUS_REVOKED = 1 };

/* One issued certificate.  Strings are owned by the record when it came
 * from the store (free with cert_record_clear). */
struct cert_record {
	char serial[41]; /* upper-case hex, primary key */
	char *subject;   /* RFC 2253 */
	char *sans;      /* "DNS:a.example,IP:192.0.2.1" */
	time_t not_before;
	time_t not_after;
	char *profile;
	char *requester; /* may be NULL */
	enum enroll_proto proto;
	char *request_id;
	char *pem; /* the certificate, PEM */
	enum cert_status status;
	time_t revoked_at; /* 0 unless revoked */
	int revoke_reason; /* RFC 5280 CRLReason, -1 unless revoked */
};

/* Free the strings of a record and zero it. NULL-safe. */
void cert_record_clear(struct cert_record *rec);

/* One policy or lifecycle decision.  All borrowed; may be NULL. */
struct audit_record {
	time_t at;
	const char *request_id;
	enum enroll_proto proto;
	const char *profile;
	const char *requester;
	const char *subject;
	const char *event;  /* "allow", "deny", "issued", "revoked", "error" */
	const char *reason; /* enroll_reason_code() */
	const char *detail;
	const char *serial;
};

/* One revoked certificate, for CRLs. */
struct revoked_entry {
	char serial[41];
	time_t revoked_at;
	int reason;
};

typedef int store_revoked_fn(const struct revoked_entry *e, void *arg);

struct store_obj;
/* Called per match, oldest first; the object is borrowed for the call.
 * Return -1 to stop. */
typedef int store_obj_fn(const struct store_obj *o, void *arg);

/* A storage driver.  Every slot is MUST.  Functions return 0 / -1 unless
 * said otherwise; a driver never logs secrets. */
struct store_ops {
	const char *name;
	/* Open one connection to `dsn` (SQLite: a file path). */
	int (*open)(const char *dsn, void **conn);
	/* Create or upgrade the schema; records the version in a table. */
	int (*migrate)(void *conn);
	int (*begin)(void *conn);
	/* Durable on disk when it returns 0. */
	int (*commit)(void *conn);
	int (*rollback)(void *conn);
	int (*cert_put)(void *conn, const struct cert_record *rec);
	/* 0 found (out filled, caller clears), 1 absent, -1 error. */
	int (*cert_get)(
	    void *conn, const char *serial, struct cert_record *out);
	/* 0 revoked now, 1 absent or already revoked, -1 error. */
	int (*cert_revoke)(
	    void *conn, const char *serial, time_t at, int reason);
	/* Call fn for every revoked certificate; stops when fn returns -1. */
	int (*cert_list_revoked)(void *conn, store_revoked_fn *fn, void *arg);
	int (*audit_put)(void *conn, const struct audit_record *rec);
	/* Protocol objects (see struct store_obj below).  put: 0 written,
	 * 1 conflict (exists on insert / version differs on update);
	 * delete: 0 deleted, 1 absent. */
	int (*obj_put)(void *conn, const struct store_obj *o);
	int (*obj_delete)(void *conn, const char *kind, const char *id);
	int (*obj_get)(void *conn, const char *kind, const char *id,
	    struct store_obj *out);
	int (*obj_find)(void *conn, const char *kind, int which,
	    const char *value, store_obj_fn *fn, void *arg);
	long (*obj_count)(void *conn, const char *kind, int which,
	    const char *value, time_t since);
	/* Nested units inside begin/commit: a conflicting set is undone
	 * without losing the rest of the batch. */
	/* Whether the next commits wait for the disk (durable 1) or not;
	 * called outside a transaction. */
	int (*set_durable)(void *conn, int durable);
	int (*savepoint)(void *conn);
	int (*release)(void *conn);
	int (*rollback_to)(void *conn);
	/* One-time tokens (store_nonce_make), against the current time:
	 * put 0 / -1; take 0 taken, 1 absent or expired; get 0 present,
	 * 1 absent or expired. */
	int (*nonce_put)(void *conn, const char *nonce);
	int (*nonce_take)(void *conn, const char *nonce);
	int (*nonce_get)(void *conn, const char *nonce);
	/* Housekeeping: delete a bounded number of objects and tokens
	 * expired at `now`, inside the caller's transaction.  0 / -1. */
	int (*obj_expire)(void *conn, time_t now);
	void (*close)(void *conn);
	/* MAY: one read snapshot over several lookups (one lock and one
	 * cache check instead of one per lookup); read_end also when
	 * read_begin failed. */
	int (*read_begin)(void *conn);
	void (*read_end)(void *conn);
	/*
	 * MAY, all four or none: light sets committed on the event loops.
	 * The writer's connection then also commits on the thread that
	 * submits a light set, when nobody else uses it; such a commit must
	 * never wait.  writer_setup marks the writer's connection: from then
	 * on its commits leave background work (SQLite: the WAL checkpoint)
	 * to maintain(), which the writer thread runs when maintain_due()
	 * says so.  try_begin is begin without waiting for a lock another
	 * connection or process holds: 0 begun, 1 busy, -1 error.
	 */
	int (*writer_setup)(void *conn);
	int (*try_begin)(void *conn);
	int (*maintain_due)(void *conn);
	void (*maintain)(void *conn);
};

/* Look a driver up by name ("sqlite"); NULL when unknown. */
const struct store_ops *store_driver(const char *name);

struct store;
struct store_conn;

/*
 * Open `dsn` with driver `driver`, migrate the schema and start the writer
 * thread.  NULL on error (logged).  Free with store_close().
 */
struct store *store_open(const char *driver, const char *dsn);
/* Commit what is queued, stop the writer thread, close. NULL-safe. */
void store_close(struct store *st);

/* 0 on success, -1 on failure. Called on the loop of `base`. */
typedef void store_done_fn(int rc, void *arg);

/*
 * Queue `rec` (taken: cleared and freed by the store) and `audit`
 * (copied) for one durable transaction.  `done` runs later on the loop
 * of `base` after the commit returned.  Returns 0 when queued, -1 when
 * not (done will not run; rec is still taken).
 * `base` must have been created after evthread_use_pthreads().
 */
int store_submit_cert(struct store *st, struct event_base *base,
    struct cert_record *rec, const struct audit_record *audit,
    store_done_fn *done, void *arg);

/* Queue an audit record (copied); written in the next batch. 0 / -1. */
int store_submit_audit(struct store *st, const struct audit_record *audit);

/*
 * Protocol objects: ACME accounts, orders, authorizations, nonces, SCEP
 * transactions... kept as JSON documents in one table so that core
 * knows no protocol's schema.  Looked up by (kind, id) or by the indexed
 * fields key1 / key2.  Writes are optimistic: an update names the
 * version it read, and fails as a conflict when another writer (another
 * worker, another node) changed the object meanwhile.
 */
#define STORE_OBJ_KIND_MAX 32
#define STORE_OBJ_ID_MAX 128

struct store_obj {
	char *kind;     /* namespace, "acme.order"; at most 32 bytes */
	char *id;       /* unique within kind; at most 128 bytes */
	char *key1;     /* indexed lookup field, or NULL */
	char *key2;     /* indexed lookup field, or NULL */
	char *status;   /* free text, or NULL */
	char *json;     /* the document */
	time_t created; /* set by the store on insert */
	time_t expires; /* 0 = never; expired objects are not returned */
	long version;   /* as read; 0 for an object not yet stored */
};

/* Free the strings of an object and zero it.  NULL-safe. */
void store_obj_clear(struct store_obj *o);

/* 0 found (out filled, caller clears), 1 absent or expired, -1 error. */
int store_obj_get(struct store_conn *c, const char *kind, const char *id,
    struct store_obj *out);

/* Every unexpired object of `kind` whose key1 (which 1) or key2 (which 2)
 * equals value.  0, or -1 on error or when fn stopped. */
int store_obj_find(struct store_conn *c, const char *kind, int which,
    const char *value, store_obj_fn *fn, void *arg);
/* How many unexpired objects of kind with key1/key2 = value were created
 * at or after `since` (rate limits).  -1 on error. */
long store_obj_count(struct store_conn *c, const char *kind, int which,
    const char *value, time_t since);
/*
 * One-time tokens (ACME nonces), shared by every node on the store.  A
 * token begins with its expiry, eight lowercase hex digits of Unix time,
 * then 22 random base64url characters: tokens sort by expiry, so a
 * driver keeps them in a small table of their own and sweeps it without
 * an index.  Taking one is a write that conflicts when it is gone, so a
 * token is used once however many nodes see it.
 */
#define STORE_NONCE_LEN 30

/* A fresh token expiring at `expires` into buf (at least
 * STORE_NONCE_LEN + 1 bytes).  0 / -1. */
int store_nonce_make(char *buf, size_t len, time_t expires);
/* 1 when `nonce` is stored and unexpired, 0 when not, -1 on error. */
int store_nonce_live(struct store_conn *c, const char *nonce);
/* A token's prefix for time t: a token expiring then sorts from it. */
void store_nonce_time_key(time_t t, char key[9]);
/* 1 when `nonce` has not expired at `now` (by its prefix), else 0. */
int store_nonce_unexpired(const char *nonce, time_t now);

/* Run the lookups on `c` up to store_read_end() in one snapshot.  Best
 * effort: without it each lookup runs alone.  Nothing may be written on
 * `c` in between (store_txn_run). */
void store_read_begin(struct store_conn *c);
void store_read_end(struct store_conn *c);

/*
 * A set of writes committed together, durably, by the writer thread:
 * object puts and deletes, certificates, audit records.  A conflict on
 * any put or delete undoes the whole set (and only it).
 */
struct store_txn;

struct store_txn *store_txn_new(void);
void store_txn_free(struct store_txn *t);
/* Insert (o->version 0: conflict if (kind, id) exists) or update (only
 * when the stored version is o->version; it becomes o->version + 1).
 * Copied.  0 / -1 (allocation). */
int store_txn_put(struct store_txn *t, const struct store_obj *o);
/* Delete exactly one unexpired object: conflict when it is absent (a
 * nonce consumed twice).  0 / -1. */
int store_txn_delete(struct store_txn *t, const char *kind, const char *id);
/* Store a token from store_nonce_make / take one: a conflict when it is
 * absent or expired (used twice).  Copied.  0 / -1. */
int store_txn_nonce_add(struct store_txn *t, const char *nonce);
int store_txn_nonce_take(struct store_txn *t, const char *nonce);
/* Revoke a valid certificate (RFC 5280 CRLReason `reason`): a conflict
 * when it is absent or already revoked.  0 / -1. */
int store_txn_revoke(
    struct store_txn *t, const char *serial, time_t at, int reason);
/* Add a certificate (taken, even on failure) / an audit record (copied). */
int store_txn_cert(struct store_txn *t, struct cert_record *rec);
int store_txn_audit(struct store_txn *t, const struct audit_record *a);

/* Move every write of `from` to the end of `to`; `from` is left empty
 * (its lightness unchanged).  Both non-NULL. */
void store_txn_move(struct store_txn *to, struct store_txn *from);
/* How many writes the set holds. */
size_t store_txn_size(const struct store_txn *t);
/*
 * A light set may be committed without waiting for the disk (no fsync):
 * it is visible to every reader at once and stays consistent, but a
 * power loss may undo it.  For bookkeeping whose loss is harmless, such
 * as using an ACME nonce on a read-only request.  A batch is committed
 * durably as soon as one set in it is not light.
 */
void store_txn_set_light(struct store_txn *t, int light);

/* rc: 0 committed, 1 conflict (nothing of the set written), -1 error. */
typedef void store_txn_done_fn(int rc, void *arg);
/*
 * Queue `t` (taken, freed by the store).  done runs on the loop of base
 * after the commit.  0 when queued; -1 when not (done will not run).
 */
int store_submit_txn(struct store *st, struct event_base *base,
    struct store_txn *t, store_txn_done_fn *done, void *arg);

/* Run `t` now on the caller's connection, in its own transaction (the
 * CLI, tests).  Returns like store_txn_done_fn's rc.  t is taken. */
int store_txn_run(struct store_conn *c, struct store_txn *t);

/* A synchronous connection for one thread (a worker's reads, the CLI). */
struct store_conn *store_conn_open(struct store *st);
void store_conn_close(struct store_conn *c);
int store_cert_get(
    struct store_conn *c, const char *serial, struct cert_record *out);
/* Revoke and write an audit record in one transaction. 0 / 1 / -1 as
 * store_ops.cert_revoke. */
int store_cert_revoke(
    struct store_conn *c, const char *serial, time_t at, int reason);
int store_list_revoked(struct store_conn *c, store_revoked_fn *fn, void *arg);

#endif
