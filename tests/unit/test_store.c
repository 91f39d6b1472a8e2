/*
 * Unit tests for core/store.c and the SQLite driver: group commit through
 * the writer thread, completions on the caller's loop, one bad record
 * failing alone, revocation, migrations applied once, no allocation
 * statistics, and many loops submitting at the same time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/store.h"
#include "tests/unit/store_fixture.h"

#define N_THREADS 4
#define PER_THREAD 50

static struct tmpdb tdb;

/* A heap record with every field set; NULL on allocation failure. */
static struct cert_record *
rec_new(const char *serial)
{
	struct cert_record *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	r->subject = strdup("CN=dev1,O=Example");
	r->sans = strdup("DNS:a.example,IP:192.0.2.1");
	r->not_before = 1700000000;
	r->not_after = 1700086400;
	r->profile = strdup("routers");
	r->requester = strdup("alice");
	r->proto = ENROLL_PROTO_SCEP;
	r->request_id = strdup("0123456789abcdef");
	r->pem = strdup("-----BEGIN CERTIFICATE-----\nMIIB\n"
	                "-----END CERTIFICATE-----\n");
	r->status = CERT_STATUS_VALID;
	r->revoke_reason = -1;
	if (r->subject == NULL || r->sans == NULL || r->profile == NULL ||
	    r->requester == NULL || r->request_id == NULL || r->pem == NULL) {
		cert_record_clear(r);
		free(r);
		return NULL;
	}
	return r;
}

/* One integer from the database, read behind the store's back. */
static long long
query_int(const char *sql)
{
	return tmpdb_query_int(tdb.path, sql);
}

/* Submit a fresh record `serial` and wait for its completion. */
static int
put_one(struct store *st, const char *serial)
{
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w};
	struct audit_record a = {.event = "issued", .serial = serial};
	int rc = -1;

	if ((w.base = event_base_new()) == NULL)
		return -1;
	if (store_submit_cert(st, w.base, rec_new(serial), &a, slot_done, &s) ==
	        0 &&
	    wait_all(&w) == 0 && s.called == 1)
		rc = s.rc;
	event_base_free(w.base);
	return rc;
}

static int
group_setup(void **state)
{
	if (evthread_use_pthreads() == -1)
		return -1;
	return tmpdb_make(&tdb, "test_store");
}

static int
group_teardown(void **state)
{
	tmpdb_remove(&tdb);
	return 0;
}

static void
test_driver_registry(void **state)
{
	assert_non_null(store_driver("sqlite"));
	assert_string_equal(store_driver("sqlite")->name, "sqlite");
	assert_null(store_driver("oracle"));
	assert_null(store_driver(NULL));
	assert_null(store_open("oracle", tdb.path));
}

static void
test_put_get(void **state)
{
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w};
	struct audit_record a = {.request_id = "0123456789abcdef",
	    .proto = ENROLL_PROTO_SCEP,
	    .profile = "routers",
	    .event = "issued",
	    .serial = "0A1B2C3D4E5F6071"};
	struct cert_record got;
	struct store_conn *c;
	struct store *st;
	sqlite3_int64 used = -1, peak = -1;

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_non_null(w.base = event_base_new());
	assert_int_equal(store_submit_cert(st, w.base,
	                     rec_new("0A1B2C3D4E5F6071"), &a, slot_done, &s),
	    0);
	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(s.called, 1);
	assert_int_equal(s.rc, 0);

	assert_non_null(c = store_conn_open(st));
	assert_int_equal(store_cert_get(c, "0A1B2C3D4E5F6071", &got), 0);
	assert_string_equal(got.serial, "0A1B2C3D4E5F6071");
	assert_string_equal(got.subject, "CN=dev1,O=Example");
	assert_string_equal(got.sans, "DNS:a.example,IP:192.0.2.1");
	assert_int_equal(got.not_before, 1700000000);
	assert_int_equal(got.not_after, 1700086400);
	assert_string_equal(got.profile, "routers");
	assert_string_equal(got.requester, "alice");
	assert_int_equal(got.proto, ENROLL_PROTO_SCEP);
	assert_string_equal(got.request_id, "0123456789abcdef");
	assert_string_equal(got.pem,
	    "-----BEGIN CERTIFICATE-----\nMIIB\n"
	    "-----END CERTIFICATE-----\n");
	assert_int_equal(got.status, CERT_STATUS_VALID);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(got.revoke_reason, -1);
	cert_record_clear(&got);
	assert_null(got.subject);
	assert_int_equal(store_cert_get(c, "FFFF", &got), 1);
	/* The driver turned SQLite's allocation statistics (and their
	 * process-wide mutex) off before first use: nothing is counted. */
	assert_int_equal(
	    sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &peak, 0),
	    SQLITE_OK);
	assert_int_equal(used, 0);
	store_conn_close(c);
	store_close(st);
	event_base_free(w.base);

	assert_int_equal(
	    query_int("SELECT COUNT(*) FROM audit WHERE "
	              "event = 'issued' AND serial = '0A1B2C3D4E5F6071' AND "
	              "protocol = 'scep' AND at > 0"),
	    1);
}

/* A NULL requester comes back NULL; the protocol text maps back. */
static void
test_null_requester(void **state)
{
	struct cert_record *r, got;
	struct store_conn *c;
	struct store *st;
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w};

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_non_null(w.base = event_base_new());
	assert_non_null(r = rec_new("AB01"));
	free(r->requester);
	r->requester = NULL;
	r->proto = ENROLL_PROTO_ACME;
	assert_int_equal(
	    store_submit_cert(st, w.base, r, NULL, slot_done, &s), 0);
	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(s.rc, 0);
	assert_non_null(c = store_conn_open(st));
	assert_int_equal(store_cert_get(c, "AB01", &got), 0);
	assert_null(got.requester);
	assert_int_equal(got.proto, ENROLL_PROTO_ACME);
	cert_record_clear(&got);
	store_conn_close(c);
	store_close(st);
	event_base_free(w.base);
}

/*
 * A duplicate serial fails alone while a good record of the same batch
 * commits.  A second connection holds the write lock so the writer is
 * stuck in BEGIN while both are queued: they must share one batch.
 */
static void
test_duplicate_in_batch(void **state)
{
	struct waiter w = {.want = 3};
	struct slot first = {.w = &w}, dup = {.w = &w}, good = {.w = &w};
	struct cert_record *r, got;
	struct store_conn *c;
	struct store *st;
	sqlite3 *lock = NULL;

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_int_equal(put_one(st, "D0"), 0);
	assert_non_null(w.base = event_base_new());

	assert_int_equal(sqlite3_open(tdb.path, &lock), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_submit_cert(st, w.base, rec_new("D1"), NULL,
	                     slot_done, &first),
	    0);
	usleep(100 * 1000); /* the writer takes D1 and waits for the lock */
	assert_non_null(r = rec_new("D0"));
	free(r->subject);
	assert_non_null(r->subject = strdup("CN=impostor"));
	assert_int_equal(
	    store_submit_cert(st, w.base, r, NULL, slot_done, &dup), 0);
	assert_int_equal(store_submit_cert(
	                     st, w.base, rec_new("D2"), NULL, slot_done, &good),
	    0);
	assert_int_equal(
	    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);

	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(first.called, 1);
	assert_int_equal(first.rc, 0);
	assert_int_equal(dup.called, 1);
	assert_int_equal(dup.rc, -1);
	assert_int_equal(good.called, 1);
	assert_int_equal(good.rc, 0);

	assert_non_null(c = store_conn_open(st));
	assert_int_equal(store_cert_get(c, "D0", &got), 0);
	assert_string_equal(got.subject, "CN=dev1,O=Example");
	cert_record_clear(&got);
	assert_int_equal(store_cert_get(c, "D2", &got), 0);
	cert_record_clear(&got);
	store_conn_close(c);
	store_close(st);
	event_base_free(w.base);
}

/*
 * A certificate and its audit record are one set: a duplicate serial
 * writes neither.  A refused submission still takes the record.
 */
static void
test_duplicate_drops_audit(void **state)
{
	struct audit_record a = {.event = "dupaudit", .serial = "F0"};
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w};
	struct store *st;

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_int_equal(put_one(st, "F0"), 0);
	assert_non_null(w.base = event_base_new());
	assert_int_equal(
	    store_submit_cert(st, w.base, rec_new("F0"), &a, slot_done, &s), 0);
	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(s.called, 1);
	assert_int_equal(s.rc, -1);
	assert_int_equal(
	    store_submit_cert(st, NULL, rec_new("F1"), &a, slot_done, &s), -1);
	assert_int_equal(
	    store_submit_cert(st, w.base, NULL, &a, slot_done, &s), -1);
	assert_int_equal(store_submit_audit(NULL, &a), -1);
	store_close(st);
	event_base_free(w.base);
	assert_int_equal(s.called, 1);
	assert_int_equal(query_int("SELECT COUNT(*) FROM audit WHERE "
	                           "event = 'dupaudit'"),
	    0);
	assert_int_equal(
	    query_int("SELECT COUNT(*) FROM certificates WHERE serial = 'F1'"),
	    0);
}

struct revoked_list {
	int n;
	int stop_after;
	struct revoked_entry e[8];
};

static int
collect_revoked(const struct revoked_entry *e, void *arg)
{
	struct revoked_list *l = arg;

	if (l->n < 8)
		l->e[l->n] = *e;
	l->n++;
	return l->stop_after != 0 && l->n >= l->stop_after ? -1 : 0;
}

static void
test_revoke(void **state)
{
	struct revoked_list l = {0}, l2 = {.stop_after = 1};
	struct cert_record got;
	struct store_conn *c;
	struct store *st;

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_int_equal(put_one(st, "E0"), 0);
	assert_int_equal(put_one(st, "E1"), 0);
	assert_int_equal(put_one(st, "E2"), 0);
	assert_non_null(c = store_conn_open(st));

	assert_int_equal(store_cert_revoke(c, "E1", 1700001000, 1), 0);
	assert_int_equal(store_cert_revoke(c, "E1", 1700002000, 4), 1);
	assert_int_equal(store_cert_revoke(c, "NOSUCH", 1700001000, 1), 1);
	assert_int_equal(store_cert_revoke(c, "E2", 1700003000, 5), 0);

	assert_int_equal(store_cert_get(c, "E1", &got), 0);
	assert_int_equal(got.status, CERT_STATUS_REVOKED);
	assert_int_equal(got.revoked_at, 1700001000);
	assert_int_equal(got.revoke_reason, 1);
	cert_record_clear(&got);
	assert_int_equal(store_cert_get(c, "E0", &got), 0);
	assert_int_equal(got.status, CERT_STATUS_VALID);
	cert_record_clear(&got);

	assert_int_equal(store_list_revoked(c, collect_revoked, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.e[0].serial, "E1");
	assert_int_equal(l.e[0].revoked_at, 1700001000);
	assert_int_equal(l.e[0].reason, 1);
	assert_string_equal(l.e[1].serial, "E2");
	assert_int_equal(l.e[1].reason, 5);
	/* The callback stops the walk. */
	assert_int_equal(store_list_revoked(c, collect_revoked, &l2), -1);
	assert_int_equal(l2.n, 1);
	store_conn_close(c);
	store_close(st);

	/* One audit record per revocation that happened, none for the
	 * refused ones. */
	assert_int_equal(
	    query_int("SELECT COUNT(*) FROM audit WHERE "
	              "event = 'revoked' AND serial = 'E1' AND detail = "
	              "'crlReason=1' "
	              "AND at = 1700001000 AND subject = 'CN=dev1,O=Example'"),
	    1);
	assert_int_equal(query_int("SELECT COUNT(*) FROM audit WHERE "
	                           "event = 'revoked'"),
	    2);
}

/* A revocation inside a transaction: once, then a conflict that undoes
 * the whole set. */
static void
test_revoke_txn(void **state)
{
	struct store_conn *c;
	struct store_txn *t;
	struct cert_record got;
	struct store *st;

	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_int_equal(put_one(st, "T1"), 0);
	assert_non_null(c = store_conn_open(st));
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_revoke(t, "T1", 1700005000, 4), 0);
	assert_int_equal(store_txn_run(c, t), 0);
	assert_int_equal(store_cert_get(c, "T1", &got), 0);
	assert_int_equal(got.status, CERT_STATUS_REVOKED);
	assert_int_equal(got.revoked_at, 1700005000);
	assert_int_equal(got.revoke_reason, 4);
	cert_record_clear(&got);
	/* Again, together with a second write: the conflict undoes both. */
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_revoke(t, "T1", 1700006000, 1), 0);
	assert_int_equal(store_txn_revoke(t, "NOSUCH", 1700006000, 1), 0);
	assert_int_equal(store_txn_run(c, t), 1);
	assert_int_equal(store_cert_get(c, "T1", &got), 0);
	assert_int_equal(got.revoked_at, 1700005000);
	cert_record_clear(&got);
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_revoke(t,
	                     "0123456789012345678901234567890"
	                     "1234567890AB",
	                     0, 1),
	    -1);
	store_txn_free(t);
	store_conn_close(c);
	store_close(st);
}

static void
test_reopen_migrates_once(void **state)
{
	struct cert_record got;
	struct store_conn *c;
	struct store *st;

	/* v1 certificates and audit, v2 protocol objects, v3 tokens. */
	assert_int_equal(query_int("SELECT COUNT(*) FROM schema_version"), 3);
	assert_non_null(st = store_open("sqlite", tdb.path));
	assert_non_null(c = store_conn_open(st));
	assert_int_equal(store_cert_get(c, "0A1B2C3D4E5F6071", &got), 0);
	cert_record_clear(&got);
	store_conn_close(c);
	store_close(st);
	assert_int_equal(query_int("SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(
	    query_int("SELECT MAX(version) FROM schema_version"), 3);
	/* WAL is a property of the file: it stays after close. */
	assert_int_equal(query_int("SELECT COUNT(*) FROM pragma_journal_mode "
	                           "WHERE journal_mode = 'wal'"),
	    1);
}

/* store_close() commits what is still queued. */
static void
test_close_drains(void **state)
{
	struct audit_record a = {.event = "drain", .detail = "x"};
	struct store *st;
	char id[32];
	int i;

	assert_non_null(st = store_open("sqlite", tdb.path));
	for (i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "drain%d", i);
		a.request_id = id; /* copied: reused at once */
		assert_int_equal(store_submit_audit(st, &a), 0);
	}
	store_close(st);
	assert_int_equal(query_int("SELECT COUNT(DISTINCT request_id) FROM "
	                           "audit WHERE event = 'drain'"),
	    20);
}

struct loop_arg {
	struct store *st;
	int idx;
	int ok;     /* completions with rc 0 */
	int failed; /* submit, wait or rc failures */
};

/* One loop thread: submit PER_THREAD certificates, wait for them all. */
static void *
loop_main(void *arg)
{
	struct loop_arg *la = arg;
	struct waiter w = {.want = PER_THREAD};
	struct slot s[PER_THREAD];
	char serial[41];
	int i;

	memset(s, 0, sizeof(s));
	if ((w.base = event_base_new()) == NULL) {
		la->failed = PER_THREAD;
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		s[i].w = &w;
		snprintf(serial, sizeof(serial), "C%02d%04d", la->idx, i);
		if (store_submit_cert(la->st, w.base, rec_new(serial), NULL,
		        slot_done, &s[i]) == -1) {
			la->failed++;
			w.want--;
		}
	}
	if (wait_all(&w) == -1)
		la->failed++;
	for (i = 0; i < PER_THREAD; i++)
		if (s[i].called == 1 && s[i].rc == 0)
			la->ok++;
	event_base_free(w.base);
	return NULL;
}

static void
test_concurrent_submits(void **state)
{
	struct loop_arg la[N_THREADS];
	pthread_t t[N_THREADS];
	struct store *st;
	int i;

	assert_non_null(st = store_open("sqlite", tdb.path));
	for (i = 0; i < N_THREADS; i++) {
		la[i] = (struct loop_arg){.st = st, .idx = i};
		assert_int_equal(
		    pthread_create(&t[i], NULL, loop_main, &la[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(la[i].failed, 0);
		assert_int_equal(la[i].ok, PER_THREAD);
	}
	store_close(st);
	assert_int_equal(query_int("SELECT COUNT(*) FROM certificates WHERE "
	                           "serial LIKE 'C%'"),
	    N_THREADS * PER_THREAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_driver_registry),
	    cmocka_unit_test(test_put_get),
	    cmocka_unit_test(test_null_requester),
	    cmocka_unit_test(test_duplicate_in_batch),
	    cmocka_unit_test(test_duplicate_drops_audit),
	    cmocka_unit_test(test_revoke),
	    cmocka_unit_test(test_revoke_txn),
	    cmocka_unit_test(test_reopen_migrates_once),
	    cmocka_unit_test(test_close_drains),
	    cmocka_unit_test(test_concurrent_submits),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
