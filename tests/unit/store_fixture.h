/*
 * What the store's unit tests share: a private temporary directory for
 * SQLite files, removed with every file the store left in it, a
 * waiter that runs a loop until N store completions arrived, and
 * reading behind the store's back.  Header
 * only: each test program includes it once.
 */
#ifndef ENROLLD_TEST_STORE_FIXTURE_H
#define ENROLLD_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "core/store.h"

/* A directory under $TMPDIR (or /tmp) named after the test. */
struct tmpdb {
	char dir[64];
	char path[128]; /* DIR/enrolld.db */
};

/* Make the directory.  0 / -1. */
static inline int
tmpdb_make(struct tmpdb *t, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/%s.XXXXXX",
	    tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp", name);
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/enrolld.db", t->dir);
	return 0;
}

/* Remove DIR/FILE and its WAL and shared-memory files. */
static inline void
tmpdb_unlink(const struct tmpdb *t, const char *file)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[192];
	size_t i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s%s", t->dir, file, sfx[i]);
		unlink(p);
	}
}

/* Remove enrolld.db (and its companions) and the directory. */
static inline void
tmpdb_remove(const struct tmpdb *t)
{
	tmpdb_unlink(t, "enrolld.db");
	rmdir(t->dir);
}

/* An open store on a fresh temporary database, with one connection. */
struct store_fx {
	struct tmpdb db;
	struct store *st;
	struct store_conn *c;
};

/* Open `fx` in a directory named after the test.  0 / -1. */
static inline int
store_fx_open(struct store_fx *fx, const char *name)
{
	if (tmpdb_make(&fx->db, name) == -1 ||
	    (fx->st = store_open("sqlite", fx->db.path)) == NULL ||
	    (fx->c = store_conn_open(fx->st)) == NULL)
		return -1;
	return 0;
}

/* Close what store_fx_open opened and remove its files. */
static inline void
store_fx_close(struct store_fx *fx)
{
	store_conn_close(fx->c);
	store_close(fx->st);
	tmpdb_remove(&fx->db);
}

/* Counts completions on one loop and stops it when all arrived. */
struct waiter {
	struct event_base *base;
	int want;
	int got;
	int timed_out;
};

/* One submitted write's outcome. */
struct slot {
	struct waiter *w;
	int called;
	int rc;
};

/* A store_done_fn / store_txn_done_fn: arg is a struct slot. */
static inline void
slot_done(int rc, void *arg)
{
	struct slot *s = arg;

	s->called++;
	s->rc = rc;
	if (++s->w->got == s->w->want)
		event_base_loopbreak(s->w->base);
}

static inline void
waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	(void)fd;
	(void)what;
	w->timed_out = 1;
	event_base_loopbreak(w->base);
}

/* Run the loop until `want` completions arrived or 20 s passed.  0 / -1;
 * usable off the cmocka thread. */
static inline int
wait_all(struct waiter *w)
{
	struct timeval tv = {20, 0};
	struct event *t;

	if ((t = evtimer_new(w->base, waiter_timeout, w)) == NULL ||
	    evtimer_add(t, &tv) == -1) {
		event_free(t);
		return -1;
	}
	if (w->got < w->want)
		event_base_dispatch(w->base);
	event_free(t);
	return w->timed_out || w->got != w->want ? -1 : 0;
}

/* Queue `t` (taken) on the writer of `st` and wait for its outcome: the
 * store_txn_done_fn rc, or -2 when it could not be queued or timed out. */
static inline int
submit_wait(struct store *st, struct store_txn *t)
{
	struct waiter w = {.want = 1};
	struct slot s = {.w = &w, .rc = -2};

	if ((w.base = event_base_new()) == NULL) {
		store_txn_free(t);
		return -2;
	}
	if (store_submit_txn(st, w.base, t, slot_done, &s) == -1 ||
	    wait_all(&w) == -1)
		s.rc = -2;
	event_base_free(w.base);
	return s.rc;
}

/* One integer from the database at `path`, read behind the store's
 * back; -1 on error. */
static inline long long
tmpdb_query_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
	        SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* 1 when object (kind, id) is visible on c, 0 when not, -1 on error. */
static inline int
obj_present(struct store_conn *c, const char *kind, const char *id)
{
	struct store_obj got;
	int r = store_obj_get(c, kind, id, &got);

	store_obj_clear(&got);
	return r == 0 ? 1 : r == 1 ? 0 : -1;
}

#endif
