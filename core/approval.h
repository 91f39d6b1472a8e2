/*
 * The approval queue of the enrollment pipeline: a profile may require an
 * operator's approval before a certificate is issued.  The request is
 * stored as pending; the protocol tells its client to come back (SCEP
 * PENDING, EST 202 + Retry-After); `enrolld pending` lists, approves or
 * rejects; the client's retry, recognised by the protocol's pending key,
 * then gets its certificate (issued once, however often it asks).
 *
 * Pending requests are store objects of kind APPROVAL_KIND, id = the
 * pending key, key1 = their state: "pending", "approved", "rejected",
 * "issued" (json "serial" then names the certificate), and for backends
 * that answer later (an upstream CA, backend.h defer_seconds) "upstream"
 * and "failed" (json "reason", "detail").
 */
#ifndef ENROLLD_APPROVAL_H
#define ENROLLD_APPROVAL_H

#include <stddef.h>

#include "core/enroll.h"
#include "core/store.h"

#define APPROVAL_KIND "enroll.pending"

enum approval_state {
	APPROVAL_NONE, /* never seen: store it as pending */
	APPROVAL_PENDING,
	APPROVAL_APPROVED, /* issue now */
	APPROVAL_REJECTED,
	APPROVAL_ISSUED,   /* issued before: serial names it */
	APPROVAL_UPSTREAM, /* with a deferring backend (an upstream CA) */
	APPROVAL_FAILED    /* that backend refused: reason, detail */
};

/* What the queue knows of one pending key. */
struct approval_info {
	enum approval_state state;
	long version;              /* for a later update */
	char serial[41];           /* APPROVAL_ISSUED */
	enum enroll_reason reason; /* APPROVAL_FAILED */
	char detail[256];          /* APPROVAL_FAILED */
};

/* The state of pending key `key` (read on the caller's connection) into
 * *out.  0 / -1 on error. */
int approval_lookup(
    struct store_conn *sc, const char *key, struct approval_info *out);

/* Queue the creation of a pending request in t.  0 / -1. */
int approval_txn_create(
    struct store_txn *t, const char *key, const struct enroll_req *req);
/* Queue "issued with serial" for an approved request (version as read). */
int approval_txn_issued(
    struct store_txn *t, const char *key, long version, const char *serial);
/* Queue "upstream" for `req` (version 0: a new key; else as read): its
 * backend works on it.  0 / -1. */
int approval_txn_upstream(struct store_txn *t, const char *key, long version,
    const struct enroll_req *req);
/* Queue "failed": the backend refused for good; the client's retries get
 * `reason` and `detail`. */
int approval_txn_failed(struct store_txn *t, const char *key, long version,
    enum enroll_reason reason, const char *detail);
/* Queue forgetting `key`: the next request with it starts afresh. */
int approval_txn_forget(struct store_txn *t, const char *key);

/* Called with each key in state "upstream" and the protocol that queued
 * it; return -1 to stop. */
typedef int approval_key_fn(
    const char *key, enum enroll_proto proto, void *arg);
/* Every key in state "upstream".  0 / -1. */
int approval_each_upstream(
    struct store_conn *sc, approval_key_fn *fn, void *arg);

/*
 * The request queued under `key`, rebuilt from its stored CSR, profile
 * and requester (a SCEP CertPoll carries no CSR).  pending_key and sc are
 * set.  Caller frees; NULL when absent or unreadable.
 */
struct enroll_req *approval_request(
    struct store_conn *sc, const char *key, enum enroll_proto proto);

/*
 * The operator's side, synchronous (CLI): print every pending request
 * (key, profile, requester, subject, age); set one approved or rejected.
 * 0, 1 when there is no such pending request, -1 on error.
 */
int approval_list(struct store_conn *sc, const char *state);
int approval_decide(struct store_conn *sc, const char *key, int approve);

#endif
