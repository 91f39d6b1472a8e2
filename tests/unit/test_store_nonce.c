/*
 * One-time tokens of core/store.h (ACME nonces) on the SQLite driver:
 * their format, taken exactly once and never once expired, swept by the
 * writer, and a conflicting take undoing the set it belongs to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <event2/thread.h>

#include "core/store.h"
#include "tests/unit/store_fixture.h"

static struct tmpdb tdb;
static struct store *st;
static struct store_conn *conn;

static int
group_setup(void **state)
{
	(void)state;
	if (evthread_use_pthreads() == -1 ||
	    tmpdb_make(&tdb, "test_store_nonce") == -1 ||
	    (st = store_open("sqlite", tdb.path)) == NULL ||
	    (conn = store_conn_open(st)) == NULL)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	store_conn_close(conn);
	store_close(st);
	tmpdb_remove(&tdb);
	return 0;
}

/* Run one token operation (add 1, take 0) in its own set, on the
 * caller's connection. */
static int
nonce1(const char *nonce, int add)
{
	struct store_txn *t;

	if ((t = store_txn_new()) == NULL ||
	    (add ? store_txn_nonce_add(t, nonce)
	         : store_txn_nonce_take(t, nonce)) == -1) {
		store_txn_free(t);
		return -2;
	}
	return store_txn_run(conn, t);
}

static long long
nonce_rows(void)
{
	return tmpdb_query_int(tdb.path, "SELECT COUNT(*) FROM nonces");
}

/* A token is taken exactly once, and not at all once expired; the
 * writer's sweep removes the expired ones. */
static void
test_nonces(void **state)
{
	struct store_obj lone = {
	    .kind = "scep.txn", .id = "lone", .json = "{}"};
	char live[STORE_NONCE_LEN + 1], old[STORE_NONCE_LEN + 1];
	char small[STORE_NONCE_LEN], prefix[9];
	struct store_txn *t;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(store_nonce_make(small, sizeof(small), now), -1);
	assert_int_equal(store_nonce_make(live, sizeof(live), now + 60), 0);
	assert_int_equal(strlen(live), STORE_NONCE_LEN);
	snprintf(
	    prefix, sizeof(prefix), "%08llx", (unsigned long long)(now + 60));
	assert_memory_equal(live, prefix, 8);
	assert_int_equal(store_nonce_make(old, sizeof(old), now - 5), 0);
	assert_string_not_equal(live, old);

	assert_int_equal(store_nonce_live(conn, live), 0);
	assert_int_equal(nonce1(live, 1), 0);
	assert_int_equal(nonce1(old, 1), 0);
	assert_int_equal(store_nonce_live(conn, live), 1);
	assert_int_equal(store_nonce_live(conn, old), 0);
	assert_int_equal(store_nonce_live(conn, ""), 0);
	assert_int_equal(nonce1(old, 0), 1);
	assert_int_equal(nonce1(live, 0), 0);
	assert_int_equal(store_nonce_live(conn, live), 0);
	assert_int_equal(nonce1(live, 0), 1);
	assert_int_equal(nonce1("never-issued", 0), 1);

	/* The expired token is still a row until the writer sweeps (its
	 * first batch does). */
	assert_int_equal(nonce_rows(), 1);
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_nonce_add(t, live), 0);
	assert_int_equal(submit_wait(st, t), 0);
	assert_int_equal(nonce_rows(), 1);
	assert_int_equal(store_nonce_live(conn, live), 1);

	/* A set alone in its batch that conflicts (the token is gone) is
	 * undone whole, the object it also wrote included; the writer goes
	 * on. */
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_put(t, &lone), 0);
	assert_int_equal(store_txn_nonce_take(t, old), 0);
	assert_int_equal(submit_wait(st, t), 1);
	assert_int_equal(obj_present(conn, "scep.txn", "lone"), 0);
	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_nonce_take(t, live), 0);
	assert_int_equal(submit_wait(st, t), 0);
	assert_int_equal(store_nonce_live(conn, live), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nonces),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
