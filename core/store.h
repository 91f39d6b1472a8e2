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
	void (*close)(void *conn);
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
