/*
 * Unit tests for the protocol objects of core/store.c and the SQLite
 * driver: optimistic inserts and updates, deletes (exactly once),
 * lookups by key1 / key2, rate-limit counts, expiry, sets
 * committed by the writer with one conflicting set in a batch, and the
 * migration of a v1 database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
static char v1path[128];

/* The fixture of every test: a store and a reading connection. */
struct fx {
	struct store *st;
	struct store_conn *c;
};

/* Run `sql` on `path` behind the store's back.  0 / -1. */
static int
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc;

	rc = sqlite3_open(path, &db) == SQLITE_OK &&
	        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	        sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
	    ? 0
	    : -1;
	sqlite3_close(db);
	return rc;
}

/* A borrowed object description; strings are the caller's. */
static struct store_obj
obj(const char *kind, const char *id, const char *key1, const char *key2,
    const char *json)
{
	struct store_obj o;

	memset(&o, 0, sizeof(o));
	o.kind = (char *)kind;
	o.id = (char *)id;
	o.key1 = (char *)key1;
	o.key2 = (char *)key2;
	o.status = (char *)"pending";
	o.json = (char *)json;
	return o;
}

/* Insert or update one object in its own set, synchronously. */
static int
put1(struct store_conn *c, const struct store_obj *o)
{
	struct store_txn *t;

	if ((t = store_txn_new()) == NULL || store_txn_put(t, o) == -1) {
		store_txn_free(t);
		return -2;
	}
	return store_txn_run(c, t);
}

static int
del1(struct store_conn *c, const char *kind, const char *id)
{
	struct store_txn *t;

	if ((t = store_txn_new()) == NULL ||
	    store_txn_delete(t, kind, id) == -1) {
		store_txn_free(t);
		return -2;
	}
	return store_txn_run(c, t);
}

static int
group_setup(void **state)
{
	if (evthread_use_pthreads() == -1 ||
	    tmpdb_make(&tdb, "test_store_obj") == -1)
		return -1;
	snprintf(v1path, sizeof(v1path), "%s/v1.db", tdb.dir);
	return 0;
}

static int
group_teardown(void **state)
{
	tmpdb_unlink(&tdb, "v1.db");
	tmpdb_remove(&tdb);
	return 0;
}

/* Each test starts from an empty objects table. */
static int
fx_setup(void **state)
{
	static struct fx f;

	if ((f.st = store_open("sqlite", tdb.path)) == NULL ||
	    (f.c = store_conn_open(f.st)) == NULL ||
	    raw_exec(tdb.path, "DELETE FROM objects") == -1)
		return -1;
	*state = &f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *f = *state;

	store_conn_close(f->c);
	store_close(f->st);
	return 0;
}

static void
test_roundtrip(void **state)
{
	struct fx *f = *state;
	struct store_obj o = obj("acme.order", "ord-1", "acct-7", "tok-9",
	    "{\"status\":\"pending\"}");
	struct store_obj got;
	time_t before = time(NULL), after;

	o.expires = before + 3600;
	o.created = 12345; /* ignored: the store sets it */
	assert_int_equal(put1(f->c, &o), 0);
	after = time(NULL);

	assert_int_equal(store_obj_get(f->c, "acme.order", "ord-1", &got), 0);
	assert_string_equal(got.kind, "acme.order");
	assert_string_equal(got.id, "ord-1");
	assert_string_equal(got.key1, "acct-7");
	assert_string_equal(got.key2, "tok-9");
	assert_string_equal(got.status, "pending");
	assert_string_equal(got.json, "{\"status\":\"pending\"}");
	assert_in_range(got.created, before, after);
	assert_int_equal(got.expires, before + 3600);
	assert_int_equal(got.version, 1);
	store_obj_clear(&got);
	assert_null(got.json);
	store_obj_clear(NULL);

	/* NULL keys and status stay NULL; the kind is a namespace. */
	o = obj("acme.authz", "ord-1", NULL, NULL, "{}");
	o.status = NULL;
	assert_int_equal(put1(f->c, &o), 0);
	assert_int_equal(store_obj_get(f->c, "acme.authz", "ord-1", &got), 0);
	assert_null(got.key1);
	assert_null(got.key2);
	assert_null(got.status);
	assert_int_equal(got.expires, 0);
	store_obj_clear(&got);
	assert_int_equal(store_obj_get(f->c, "acme.order", "nope", &got), 1);
	assert_int_equal(store_obj_get(f->c, "nope", "ord-1", &got), 1);
}

/* Lengths are bounded; a malformed object never reaches a set. */
static void
test_limits(void **state)
{
	struct fx *f = *state;
	struct store_obj o = obj("k", "i", NULL, NULL, "{}");
	struct store_obj got;
	struct store_txn *t;
	char kind[STORE_OBJ_KIND_MAX + 2], id[STORE_OBJ_ID_MAX + 2];

	memset(kind, 'k', sizeof(kind) - 1);
	kind[sizeof(kind) - 1] = '\0';
	memset(id, 'i', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_non_null(t = store_txn_new());
	o.kind = kind;
	assert_int_equal(store_txn_put(t, &o), -1);
	o.kind = (char *)"k";
	o.id = id;
	assert_int_equal(store_txn_put(t, &o), -1);
	assert_int_equal(store_txn_delete(t, "k", id), -1);
	o.id = (char *)"i";
	o.json = NULL;
	assert_int_equal(store_txn_put(t, &o), -1);
	assert_int_equal(store_txn_delete(t, NULL, "i"), -1);
	assert_int_equal(store_obj_get(f->c, kind, "i", &got), -1);
	assert_int_equal(store_obj_get(f->c, "k", id, &got), -1);

	/* At the limits exactly: accepted. */
	kind[STORE_OBJ_KIND_MAX] = '\0';
	id[STORE_OBJ_ID_MAX] = '\0';
	o = obj(kind, id, NULL, NULL, "{}");
	assert_int_equal(store_txn_put(t, &o), 0);
	assert_int_equal(store_txn_run(f->c, t), 0);
	assert_int_equal(obj_present(f->c, kind, id), 1);
}

/* An insert of an existing id conflicts and undoes its whole set. */
static void
test_insert_conflict(void **state)
{
	struct fx *f = *state;
	struct store_obj a = obj("acme.account", "A", "jwk-a", NULL, "{}");
	struct store_obj b = obj("acme.account", "B", "jwk-b", NULL, "{}");
	struct store_obj got;
	struct store_txn *t;

	assert_int_equal(put1(f->c, &b), 0);
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_put(t, &a), 0);
	b.json = (char *)"{\"second\":true}";
	assert_int_equal(store_txn_put(t, &b), 0);
	assert_int_equal(store_txn_run(f->c, t), 1);

	assert_int_equal(obj_present(f->c, "acme.account", "A"), 0);
	assert_int_equal(store_obj_get(f->c, "acme.account", "B", &got), 0);
	assert_string_equal(got.json, "{}");
	assert_int_equal(got.version, 1);
	store_obj_clear(&got);
}

/* Order "O" of test_update_versions as stored: its keys stay "acct" and
 * "finalize" through every update. */
static void
expect_order(struct store_conn *c, long version, const char *json,
    const char *status, time_t created)
{
	struct store_obj got;

	assert_int_equal(store_obj_get(c, "acme.order", "O", &got), 0);
	assert_int_equal(got.version, version);
	assert_string_equal(got.json, json);
	assert_string_equal(got.status, status);
	assert_string_equal(got.key1, "acct");
	assert_string_equal(got.key2, "finalize");
	assert_int_equal(got.created, created);
	store_obj_clear(&got);
}

/* Updates name the version read; a stale one conflicts. */
static void
test_update_versions(void **state)
{
	struct fx *f = *state;
	struct store_obj o = obj("acme.order", "O", "acct", NULL, "{\"v\":1}");
	struct store_obj got, stale;
	time_t created;

	assert_int_equal(put1(f->c, &o), 0);
	assert_int_equal(store_obj_get(f->c, "acme.order", "O", &got), 0);
	assert_int_equal(got.version, 1);
	created = got.created;
	stale = got;

	o.version = 1;
	o.json = (char *)"{\"v\":2}";
	o.status = (char *)"ready";
	o.key2 = (char *)"finalize";
	assert_int_equal(put1(f->c, &o), 0);
	expect_order(f->c, 2, "{\"v\":2}", "ready", created);

	/* Another worker still holds version 1. */
	free(stale.json);
	assert_non_null(stale.json = strdup("{\"v\":\"lost\"}"));
	assert_int_equal(put1(f->c, &stale), 1);
	store_obj_clear(&stale);
	assert_int_equal(store_obj_get(f->c, "acme.order", "O", &got), 0);
	assert_int_equal(got.version, 2);
	assert_string_equal(got.json, "{\"v\":2}");
	store_obj_clear(&got);

	/* Keys unchanged (the statement that leaves the indexes alone):
	 * the body changes, the version moves, the key is still found. */
	o.version = 2;
	o.json = (char *)"{\"v\":3}";
	o.status = (char *)"valid";
	assert_int_equal(put1(f->c, &o), 0);
	expect_order(f->c, 3, "{\"v\":3}", "valid", created);
	/* ... and a stale version with the same keys still conflicts. */
	o.version = 2;
	o.json = (char *)"{\"v\":\"lost\"}";
	assert_int_equal(put1(f->c, &o), 1);
	assert_int_equal(store_obj_get(f->c, "acme.order", "O", &got), 0);
	assert_int_equal(got.version, 3);
	store_obj_clear(&got);

	/* Updating what does not exist is a conflict too. */
	o = obj("acme.order", "ghost", NULL, NULL, "{}");
	o.version = 3;
	assert_int_equal(put1(f->c, &o), 1);
	assert_int_equal(obj_present(f->c, "acme.order", "ghost"), 0);
}

/* An object is deleted exactly once. */
static void
test_delete_twice(void **state)
{
	struct fx *f = *state;
	struct store_obj n = obj("scep.txn", "n-1", NULL, NULL, "{}");

	assert_int_equal(put1(f->c, &n), 0);
	assert_int_equal(del1(f->c, "scep.txn", "n-1"), 0);
	assert_int_equal(obj_present(f->c, "scep.txn", "n-1"), 0);
	assert_int_equal(del1(f->c, "scep.txn", "n-1"), 1);
	assert_int_equal(del1(f->c, "scep.txn", "never"), 1);
}

struct found {
	int n;
	int stop_after;
	char id[8][16];
	long version[8];
};

static int
collect(const struct store_obj *o, void *arg)
{
	struct found *fd = arg;

	if (fd->n < 8) {
		snprintf(fd->id[fd->n], sizeof(fd->id[0]), "%s", o->id);
		fd->version[fd->n] = o->version;
	}
	fd->n++;
	return fd->stop_after != 0 && fd->n >= fd->stop_after ? -1 : 0;
}

/* Objects P, Q, R, S of kind "acme.authz" (and one of another kind). */
static void
find_fixture(struct store_conn *c)
{
	struct store_obj o[] = {
	    obj("acme.authz", "P", "acct-1", "dns:a", "{}"),
	    obj("acme.authz", "Q", "acct-2", "dns:a", "{}"),
	    obj("acme.authz", "R", "acct-1", "dns:b", "{}"),
	    obj("acme.authz", "S", "acct-1", NULL, "{}"),
	    obj("acme.order", "T", "acct-1", "dns:a", "{}"),
	};
	size_t i;

	for (i = 0; i < sizeof(o) / sizeof(o[0]); i++)
		assert_int_equal(put1(c, &o[i]), 0);
}

static void
test_find(void **state)
{
	struct fx *f = *state;
	struct found fd;

	find_fixture(f->c);
	memset(&fd, 0, sizeof(fd));
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 1, "acct-1", collect, &fd), 0);
	assert_int_equal(fd.n, 3);
	assert_string_equal(fd.id[0], "P");
	assert_string_equal(fd.id[1], "R");
	assert_string_equal(fd.id[2], "S");
	assert_int_equal(fd.version[0], 1);

	memset(&fd, 0, sizeof(fd));
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 2, "dns:a", collect, &fd), 0);
	assert_int_equal(fd.n, 2);
	assert_string_equal(fd.id[0], "P");
	assert_string_equal(fd.id[1], "Q");

	/* Oldest first by creation time, not by insertion. */
	assert_int_equal(raw_exec(tdb.path,
	                     "UPDATE objects SET created = created - 100 "
	                     "WHERE kind = 'acme.authz' AND id = 'S'"),
	    0);
	memset(&fd, 0, sizeof(fd));
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 1, "acct-1", collect, &fd), 0);
	assert_int_equal(fd.n, 3);
	assert_string_equal(fd.id[0], "S");
	assert_string_equal(fd.id[1], "P");
	assert_string_equal(fd.id[2], "R");

	memset(&fd, 0, sizeof(fd));
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 1, "nobody", collect, &fd), 0);
	assert_int_equal(fd.n, 0);
	fd.stop_after = 1;
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 1, "acct-1", collect, &fd), -1);
	assert_int_equal(fd.n, 1);
	assert_int_equal(
	    store_obj_find(f->c, "acme.authz", 3, "acct-1", collect, &fd), -1);
}

static void
test_count(void **state)
{
	struct fx *f = *state;
	time_t now = time(NULL);

	find_fixture(f->c);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 1, "acct-1", now - 60), 3);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 2, "dns:a", now - 60), 2);
	assert_int_equal(
	    store_obj_count(f->c, "acme.order", 2, "dns:a", now - 60), 1);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 1, "acct-1", now + 60), 0);
	assert_int_equal(raw_exec(tdb.path,
	                     "UPDATE objects SET created = created - 3600 "
	                     "WHERE kind = 'acme.authz' AND id = 'P'"),
	    0);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 1, "acct-1", now - 60), 2);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 1, "acct-1", now - 7200), 3);
	assert_int_equal(
	    store_obj_count(f->c, "acme.authz", 0, "acct-1", now - 60), -1);
}

/* Expired objects are invisible everywhere and their ids reusable. */
static void
test_expired(void **state)
{
	struct fx *f = *state;
	struct store_obj o = obj("acme.nonce", "old", "k", "k2", "{\"a\":1}");
	struct store_obj got;
	struct found fd;
	time_t now = time(NULL);

	o.expires = now - 5;
	assert_int_equal(put1(f->c, &o), 0);
	assert_int_equal(tmpdb_query_int(tdb.path,
	                     "SELECT COUNT(*) FROM objects "
	                     "WHERE id = 'old'"),
	    1);
	assert_int_equal(obj_present(f->c, "acme.nonce", "old"), 0);
	memset(&fd, 0, sizeof(fd));
	assert_int_equal(
	    store_obj_find(f->c, "acme.nonce", 1, "k", collect, &fd), 0);
	assert_int_equal(fd.n, 0);
	assert_int_equal(
	    store_obj_count(f->c, "acme.nonce", 2, "k2", now - 60), 0);
	assert_int_equal(del1(f->c, "acme.nonce", "old"), 1);
	/* Its version cannot be updated either. */
	o.version = 1;
	assert_int_equal(put1(f->c, &o), 1);

	/* Inserted again: a fresh object. */
	o = obj("acme.nonce", "old", "k", NULL, "{\"a\":2}");
	o.expires = now + 60;
	assert_int_equal(put1(f->c, &o), 0);
	assert_int_equal(store_obj_get(f->c, "acme.nonce", "old", &got), 0);
	assert_string_equal(got.json, "{\"a\":2}");
	assert_null(got.key2);
	assert_int_equal(got.version, 1);
	assert_int_equal(got.expires, now + 60);
	store_obj_clear(&got);
	/* Live now, so a second insert conflicts. */
	assert_int_equal(put1(f->c, &o), 1);
	assert_int_equal(
	    store_obj_count(f->c, "acme.nonce", 1, "k", now - 60), 1);
}

/* The writer sweeps expired rows in its first batch. */
static void
test_expired_swept(void **state)
{
	struct fx *f = *state;
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w};
	struct store_obj o = obj("scep.txn", "x", NULL, NULL, "{}");
	struct store_txn *t;
	char id[16];
	int i;

	o.expires = time(NULL) - 1;
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "gone%d", i);
		o.id = id;
		assert_int_equal(put1(f->c, &o), 0);
	}
	assert_int_equal(
	    tmpdb_query_int(tdb.path, "SELECT COUNT(*) FROM objects"), 5);

	/* The fixture's store is fresh: its writer has not swept yet. */
	assert_non_null(w.base = event_base_new());
	o = obj("scep.txn", "kept", NULL, NULL, "{}");
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_put(t, &o), 0);
	assert_int_equal(store_submit_txn(f->st, w.base, t, slot_done, &s), 0);
	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(s.rc, 0);
	event_base_free(w.base);
	/* Swept in the batch, so before the completion: only "kept" left. */
	assert_int_equal(
	    tmpdb_query_int(tdb.path, "SELECT COUNT(*) FROM objects"), 1);
	assert_int_equal(obj_present(f->c, "scep.txn", "kept"), 1);
}

/* A minimal heap certificate record; NULL on allocation failure. */
static struct cert_record *
cert_new(const char *serial, const char *subject)
{
	struct cert_record *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	r->proto = ENROLL_PROTO_ACME;
	r->revoke_reason = -1;
	if ((r->subject = strdup(subject)) == NULL ||
	    (r->sans = strdup("")) == NULL ||
	    (r->pem = strdup("PEM")) == NULL) {
		cert_record_clear(r);
		free(r);
		return NULL;
	}
	return r;
}

/*
 * Two sets in one batch, the second conflicting: only it is undone.  A
 * second connection holds the write lock while they are queued, so the
 * writer takes them together.
 */
static void
test_batch_conflict(void **state)
{
	struct fx *f = *state;
	struct waiter w = {.want = 3};
	struct slot first = {.w = &w}, bad = {.w = &w}, good = {.w = &w};
	struct store_obj b = obj("acme.account", "B", NULL, NULL, "{}");
	struct store_obj x = obj("acme.order", "X", NULL, NULL, "{}");
	struct store_obj y = obj("acme.order", "Y", NULL, NULL, "{}");
	struct store_obj z = obj("acme.order", "Z", NULL, NULL, "{}");
	struct audit_record a = {.event = "batchtest", .detail = "z"};
	struct store_txn *t1, *t2, *t3;
	struct cert_record got;
	sqlite3 *lock = NULL;

	assert_int_equal(put1(f->c, &b), 0);
	assert_non_null(w.base = event_base_new());
	assert_non_null(t1 = store_txn_new());
	assert_int_equal(store_txn_put(t1, &x), 0);
	assert_non_null(t2 = store_txn_new());
	assert_int_equal(store_txn_put(t2, &y), 0);
	assert_int_equal(store_txn_cert(t2, cert_new("BA7C4", "CN=c")), 0);
	assert_int_equal(store_txn_put(t2, &b), 0); /* B exists: conflict */
	assert_non_null(t3 = store_txn_new());
	assert_int_equal(store_txn_put(t3, &z), 0);
	assert_int_equal(store_txn_delete(t3, "acme.account", "B"), 0);
	assert_int_equal(store_txn_audit(t3, &a), 0);

	assert_int_equal(sqlite3_open(tdb.path, &lock), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t1, slot_done, &first), 0);
	usleep(100 * 1000); /* the writer takes t1 and waits for the lock */
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t2, slot_done, &bad), 0);
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t3, slot_done, &good), 0);
	assert_int_equal(
	    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);

	assert_int_equal(wait_all(&w), 0);
	event_base_free(w.base);
	assert_int_equal(first.called, 1);
	assert_int_equal(first.rc, 0);
	assert_int_equal(bad.called, 1);
	assert_int_equal(bad.rc, 1);
	assert_int_equal(good.called, 1);
	assert_int_equal(good.rc, 0);

	assert_int_equal(obj_present(f->c, "acme.order", "X"), 1);
	assert_int_equal(obj_present(f->c, "acme.order", "Y"), 0);
	assert_int_equal(store_cert_get(f->c, "BA7C4", &got), 1);
	assert_int_equal(obj_present(f->c, "acme.order", "Z"), 1);
	assert_int_equal(obj_present(f->c, "acme.account", "B"), 0);
	assert_int_equal(tmpdb_query_int(tdb.path,
	                     "SELECT COUNT(*) FROM audit WHERE "
	                     "event = 'batchtest' AND "
	                     "detail = 'z' AND at > 0"),
	    1);
}

/*
 * A set with an error (a duplicate serial) rolls its batch back; retried
 * alone it fails with -1 and its batch neighbour commits.
 */
static void
test_batch_error(void **state)
{
	struct fx *f = *state;
	struct waiter w = {.want = 3};
	struct slot first = {.w = &w}, bad = {.w = &w}, good = {.w = &w};
	struct store_obj p = obj("acme.order", "P1", NULL, NULL, "{}");
	struct store_obj q = obj("acme.order", "Q1", NULL, NULL, "{}");
	struct store_txn *t0, *t1, *t2;
	struct cert_record got;
	sqlite3 *lock = NULL;

	assert_non_null(t0 = store_txn_new());
	assert_int_equal(store_txn_cert(t0, cert_new("D0B1E", "CN=x")), 0);
	assert_int_equal(store_txn_run(f->c, t0), 0);
	/* Taken even when refused (ASan reports a leak otherwise). */
	assert_int_equal(store_txn_cert(NULL, cert_new("FF", "CN=f")), -1);
	assert_int_equal(store_txn_cert(t0 = store_txn_new(), NULL), -1);

	assert_non_null(w.base = event_base_new());
	assert_non_null(t1 = store_txn_new());
	assert_int_equal(store_txn_put(t1, &p), 0);
	assert_int_equal(store_txn_cert(t1, cert_new("D0B1E", "CN=y")), 0);
	assert_non_null(t2 = store_txn_new());
	assert_int_equal(store_txn_put(t2, &q), 0);

	assert_int_equal(sqlite3_open(tdb.path, &lock), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t0, slot_done, &first), 0);
	usleep(100 * 1000); /* the writer takes t0 and waits for the lock */
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t1, slot_done, &bad), 0);
	assert_int_equal(
	    store_submit_txn(f->st, w.base, t2, slot_done, &good), 0);
	assert_int_equal(
	    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lock);
	assert_int_equal(wait_all(&w), 0);
	event_base_free(w.base);
	assert_int_equal(first.rc, 0);
	assert_int_equal(bad.called, 1);
	assert_int_equal(bad.rc, -1);
	assert_int_equal(good.called, 1);
	assert_int_equal(good.rc, 0);
	assert_int_equal(obj_present(f->c, "acme.order", "P1"), 0);
	assert_int_equal(obj_present(f->c, "acme.order", "Q1"), 1);
	assert_int_equal(store_cert_get(f->c, "D0B1E", &got), 0);
	assert_string_equal(got.subject, "CN=x");
	cert_record_clear(&got);
}

/* Submissions that cannot be queued free the set and report -1. */
static void
test_submit_refused(void **state)
{
	struct fx *f = *state;
	struct waiter w = {0};
	struct slot s = {.w = &w};
	struct store_txn *t;

	assert_non_null(w.base = event_base_new());
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_submit_txn(f->st, NULL, t, slot_done, &s), -1);
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_submit_txn(NULL, w.base, t, slot_done, &s), -1);
	assert_int_equal(
	    store_submit_txn(f->st, w.base, NULL, slot_done, &s), -1);
	assert_int_equal(store_txn_run(f->c, NULL), -1);
	/* An empty set commits. */
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_run(f->c, t), 0);
	event_base_free(w.base);
	assert_int_equal(s.called, 0);
}

struct loop_arg {
	struct store *st;
	int idx;
	int ok;     /* completions with rc 0 */
	int failed; /* submit, wait or rc failures */
};

/* One loop thread: submit PER_THREAD sets of one object, wait. */
static void *
loop_main(void *arg)
{
	struct loop_arg *la = arg;
	struct waiter w = {.want = PER_THREAD};
	struct slot s[PER_THREAD];
	struct store_obj o = obj("acme.order", NULL, "acct-c", NULL, "{}");
	struct store_txn *t;
	char id[32];
	int i;

	memset(s, 0, sizeof(s));
	if ((w.base = event_base_new()) == NULL) {
		la->failed = PER_THREAD;
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		s[i].w = &w;
		snprintf(id, sizeof(id), "c-%d-%d", la->idx, i);
		o.id = id; /* copied by store_txn_put */
		if ((t = store_txn_new()) == NULL ||
		    store_txn_put(t, &o) == -1 ||
		    store_submit_txn(la->st, w.base, t, slot_done, &s[i]) ==
		        -1) {
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
test_concurrent(void **state)
{
	struct fx *f = *state;
	struct loop_arg la[N_THREADS];
	pthread_t t[N_THREADS];
	int i;

	for (i = 0; i < N_THREADS; i++) {
		la[i] = (struct loop_arg){.st = f->st, .idx = i};
		assert_int_equal(
		    pthread_create(&t[i], NULL, loop_main, &la[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(la[i].failed, 0);
		assert_int_equal(la[i].ok, PER_THREAD);
	}
	assert_int_equal(store_obj_count(f->c, "acme.order", 1, "acct-c", 0),
	    N_THREADS * PER_THREAD);
}

/* The v1 schema exactly as released, with one certificate. */
static const char v1_sql[] =
    "CREATE TABLE schema_version(version INTEGER NOT NULL);"
    "INSERT INTO schema_version VALUES (1);"
    "CREATE TABLE certificates (serial TEXT PRIMARY KEY,"
    " subject TEXT NOT NULL, sans TEXT NOT NULL, not_before INTEGER,"
    " not_after INTEGER, profile TEXT, requester TEXT, protocol TEXT,"
    " request_id TEXT, pem TEXT NOT NULL,"
    " status INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER,"
    " revoke_reason INTEGER, created_at INTEGER);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE INDEX certificates_status ON certificates(status);"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at INTEGER, request_id TEXT, protocol TEXT, profile TEXT,"
    " requester TEXT, subject TEXT, event TEXT, reason TEXT, detail TEXT,"
    " serial TEXT);"
    "INSERT INTO certificates(serial, subject, sans, not_before, not_after,"
    " profile, requester, protocol, request_id, pem, status, created_at)"
    " VALUES ('01AB', 'CN=old', 'DNS:old.example', 1600000000, 1700000000,"
    " 'legacy', NULL, 'est', 'r-1', 'OLDPEM', 0, 1600000000);";

static void
test_migrate_v1(void **state)
{
	struct store_obj o = obj("acme.order", "after", NULL, NULL, "{}");
	struct cert_record got;
	struct store_conn *c;
	struct store *st;

	assert_int_equal(raw_exec(v1path, v1_sql), 0);
	assert_int_equal(tmpdb_query_int(v1path,
	                     "SELECT COUNT(*) FROM sqlite_master WHERE "
	                     "name = 'objects'"),
	    0);
	assert_non_null(st = store_open("sqlite", v1path));
	assert_non_null(c = store_conn_open(st));
	assert_int_equal(store_cert_get(c, "01AB", &got), 0);
	assert_string_equal(got.subject, "CN=old");
	assert_string_equal(got.sans, "DNS:old.example");
	assert_int_equal(got.proto, ENROLL_PROTO_EST);
	assert_null(got.requester);
	assert_string_equal(got.pem, "OLDPEM");
	cert_record_clear(&got);
	assert_int_equal(put1(c, &o), 0);
	assert_int_equal(obj_present(c, "acme.order", "after"), 1);
	store_conn_close(c);
	store_close(st);
	assert_int_equal(
	    tmpdb_query_int(v1path, "SELECT MAX(version) FROM schema_version"),
	    3);
	assert_int_equal(
	    tmpdb_query_int(v1path, "SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(tmpdb_query_int(v1path,
	                     "SELECT COUNT(*) FROM sqlite_master "
	                     "WHERE type = 'index' AND name "
	                     "LIKE 'objects_%'"),
	    3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_roundtrip, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_limits, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_insert_conflict, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_update_versions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_delete_twice, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_find, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_count, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_expired, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_expired_swept, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_conflict, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_error, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_submit_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_concurrent, fx_setup, fx_teardown),
	    cmocka_unit_test(test_migrate_v1),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
