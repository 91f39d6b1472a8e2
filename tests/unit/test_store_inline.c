/*
 * Light sets committed on the submitting loop (core/store.c): they never
 * wait for a lock held elsewhere, never overtake a set queued before
 * them, undo a conflicting set whole, and the writer thread still
 * checkpoints the WAL they grow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include <event2/thread.h>

#include "core/store.h"
#include "tests/unit/store_fixture.h"

/* Frames in a WAL of `bytes` (4 KiB pages, 24-byte frame headers). */
#define WAL_FRAMES(bytes) (((bytes) > 32 ? (bytes)-32 : 0) / (4096 + 24))

static struct store_fx fx;

static int
group_setup(void **state)
{
	(void)state;
	if (evthread_use_pthreads() == -1 ||
	    store_fx_open(&fx, "test_store_inline") == -1)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	store_fx_close(&fx);
	return 0;
}

/* A light set of one token add (add 1) or take (add 0); NULL on error. */
static struct store_txn *
light_nonce(const char *nonce, int add)
{
	struct store_txn *t;

	if ((t = store_txn_new()) == NULL)
		return NULL;
	store_txn_set_light(t, 1);
	if ((add ? store_txn_nonce_add(t, nonce)
	         : store_txn_nonce_take(t, nonce)) == -1) {
		store_txn_free(t);
		return NULL;
	}
	return t;
}

/* The write lock, taken by a connection of its own as another process
 * would, and given back from a timer on the test's loop. */
struct lock_holder {
	sqlite3 *db;
	int released; /* completions seen when it was released, +1 */
	struct waiter *w;
};

static int
lock_take(struct lock_holder *h, const char *path)
{
	if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE, NULL) !=
	        SQLITE_OK ||
	    sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	        SQLITE_OK) {
		sqlite3_close(h->db);
		h->db = NULL;
		return -1;
	}
	return 0;
}

static void
lock_release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lock_holder *h = arg;

	(void)fd;
	(void)what;
	h->released = h->w->got + 1;
	(void)sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(h->db);
	h->db = NULL;
}

/* A light set that conflicts is undone whole on the loop too, the
 * object it also wrote included; one that does not is visible at once. */
static void
test_light_conflict(void **state)
{
	struct store_obj lone = {
	    .kind = "scep.txn", .id = "lone", .json = "{}"};
	char tok[STORE_NONCE_LEN + 1];
	struct store_txn *t;

	(void)state;
	assert_int_equal(
	    store_nonce_make(tok, sizeof(tok), time(NULL) + 60), 0);
	assert_non_null(t = light_nonce(tok, 1));
	assert_int_equal(submit_wait(fx.st, t), 0);
	assert_int_equal(store_nonce_live(fx.c, tok), 1);

	assert_non_null(t = light_nonce(tok, 0));
	assert_int_equal(submit_wait(fx.st, t), 0);
	assert_int_equal(store_nonce_live(fx.c, tok), 0);

	assert_non_null(t = light_nonce(tok, 0));
	assert_int_equal(store_txn_put(t, &lone), 0);
	assert_int_equal(submit_wait(fx.st, t), 1);
	assert_int_equal(obj_present(fx.c, "scep.txn", "lone"), 0);
}

/*
 * While another connection holds the write lock, a light set does not
 * wait on the loop: the loop goes on (the timer that releases the lock
 * runs before the set completes) and the set is committed once the lock
 * is free.
 */
static void
test_lock_held_elsewhere(void **state)
{
	struct timeval later = {0, 200 * 1000};
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w, .rc = -2};
	struct lock_holder h = {.w = &w};
	char tok[STORE_NONCE_LEN + 1];
	struct timespec t0, t1;
	struct store_txn *t;

	(void)state;
	assert_non_null(w.base = event_base_new());
	assert_int_equal(
	    store_nonce_make(tok, sizeof(tok), time(NULL) + 60), 0);
	assert_int_equal(lock_take(&h, fx.db.path), 0);
	assert_int_equal(event_base_once(w.base, -1, EV_TIMEOUT,
	                     lock_release_cb, &h, &later),
	    0);
	assert_non_null(t = light_nonce(tok, 1));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_submit_txn(fx.st, w.base, t, slot_done, &s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(wait_all(&w), 0);
	/* The submit returned without waiting out the lock (the store's
	 * busy timeout is 5 s), and the loop released it before the set
	 * completed. */
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_int_equal(h.released, 1);
	assert_int_equal(s.rc, 0);
	assert_int_equal(store_nonce_live(fx.c, tok), 1);
	event_base_free(w.base);
}

/* Submit a durable insert of object `id`, then at once a light update
 * of it, on w->base; their outcomes go to slots a and b. */
static void
insert_then_update(
    struct waiter *w, const char *id, struct slot *a, struct slot *b)
{
	struct store_obj o = {
	    .kind = "scep.txn", .id = (char *)id, .json = "{}"};
	struct store_txn *t;

	assert_non_null(t = store_txn_new());
	assert_int_equal(store_txn_put(t, &o), 0);
	assert_int_equal(store_submit_txn(fx.st, w->base, t, slot_done, a), 0);
	o.version = 1;
	o.json = "{\"n\":2}";
	assert_non_null(t = store_txn_new());
	store_txn_set_light(t, 1);
	assert_int_equal(store_txn_put(t, &o), 0);
	assert_int_equal(store_submit_txn(fx.st, w->base, t, slot_done, b), 0);
}

/* Object `id` is at version 2 with the update's body. */
static void
assert_updated(const char *id)
{
	struct store_obj got;

	assert_int_equal(store_obj_get(fx.c, "scep.txn", id, &got), 0);
	assert_int_equal(got.version, 2);
	assert_string_equal(got.json, "{\"n\":2}");
	store_obj_clear(&got);
}

/*
 * A light set never commits before a set queued ahead of it: it updates
 * the object the queued set inserts, so overtaking would be a conflict.
 * Once with the writer waiting for a lock held elsewhere, then many
 * times back to back, mostly before the writer thread has woken up.
 */
static void
test_queued_not_overtaken(void **state)
{
	struct timeval later = {0, 200 * 1000};
	struct waiter w = {.want = 2};
	struct slot s[2] = {{.w = &w, .rc = -2}, {.w = &w, .rc = -2}};
	struct lock_holder h = {.w = &w};
	char id[32];
	int i;

	(void)state;
	assert_non_null(w.base = event_base_new());
	assert_int_equal(lock_take(&h, fx.db.path), 0);
	assert_int_equal(event_base_once(w.base, -1, EV_TIMEOUT,
	                     lock_release_cb, &h, &later),
	    0);
	insert_then_update(&w, "held", &s[0], &s[1]);
	assert_int_equal(wait_all(&w), 0);
	assert_int_equal(h.released, 1);
	assert_int_equal(s[0].rc, 0);
	assert_int_equal(s[1].rc, 0);
	assert_updated("held");

	for (i = 0; i < 50; i++) {
		w.got = 0;
		s[0].rc = s[1].rc = -2;
		snprintf(id, sizeof(id), "quick%d", i);
		insert_then_update(&w, id, &s[0], &s[1]);
		assert_int_equal(wait_all(&w), 0);
		assert_int_equal(s[0].rc, 0);
		assert_int_equal(s[1].rc, 0);
		assert_updated(id);
	}
	event_base_free(w.base);
}

/*
 * Light sets committed on the loop leave the checkpoint to the writer
 * thread, which still runs it: 3000 commits of a frame or more each end
 * with a WAL of about SQLite's 1000-page threshold, not 3000 pages.
 */
static void
test_wal_checkpointed(void **state)
{
	char tok[STORE_NONCE_LEN + 1], wal[160];
	struct store_txn *t;
	struct stat sb;
	int i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		assert_int_equal(
		    store_nonce_make(tok, sizeof(tok), time(NULL) + 60), 0);
		assert_non_null(t = light_nonce(tok, 1));
		assert_int_equal(submit_wait(fx.st, t), 0);
	}
	snprintf(wal, sizeof(wal), "%s-wal", fx.db.path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_in_range(WAL_FRAMES((long long)sb.st_size), 1, 1500);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_light_conflict),
	    cmocka_unit_test(test_lock_held_elsewhere),
	    cmocka_unit_test(test_queued_not_overtaken),
	    cmocka_unit_test(test_wal_checkpointed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
