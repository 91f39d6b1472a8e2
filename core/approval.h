/*
 * The approval queue of the enrollment pipeline: a profile may require an
 * operator's approval before a certificate is issued.  The request is
 * stored as pending; the protocol tells its client to come back (SCEP
 * PENDING, EST 202 + Retry-After); `enrolld pending` lists, approves or
 * rejects; the client's retry, recognised by the protocol's pending key,
 * then gets its certificate (issued once, however often it asks).
 *
 * Pending requests are store objects of kind APPROVAL_KIND, id = the
 * pending key, key1 = their state: "pending", "approved", "rejected" or
 * "issued" (json "serial" then names the certificate).
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
	APPROVAL_ISSUED /* issued before: *serial names it */
};

/*
 * The state of pending key `key` (read on the caller's connection).
 * For APPROVAL_ISSUED the serial is copied into serial (>= 41 bytes).
 * *version gets the object's version for a later update.  -1 on error.
 */
int approval_state(struct store_conn *sc, const char *key, char *serial,
    size_t serialsz, long *version);

/* Queue the creation of a pending request in t.  0 / -1. */
int approval_txn_create(
    struct store_txn *t, const char *key, const struct enroll_req *req);
/* Queue "issued with serial" for an approved request (version as read). */
int approval_txn_issued(
    struct store_txn *t, const char *key, long version, const char *serial);

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
