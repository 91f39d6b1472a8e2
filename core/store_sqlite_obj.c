/*
 * The SQLite storage driver, protocol objects (struct store_obj,
 * core/store.h): optimistic puts, deletes and lookups by key on the
 * objects table, every query hiding expired rows; and the one-time
 * tokens of the nonces table.  The statements
 * themselves are in store_sqlite.c; see core/store_sqlite_int.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/store.h"
#include "core/store_sqlite_int.h"

/* A kind, and an id unless id_too is 0, within the documented bounds.
 * 0 / -1 (logged). */
static int
obj_key_check(const char *kind, const char *id, int id_too)
{
	if (kind == NULL || *kind == '\0' ||
	    strlen(kind) > STORE_OBJ_KIND_MAX ||
	    (id_too &&
	        (id == NULL || *id == '\0' || strlen(id) > STORE_OBJ_ID_MAX))) {
		log_error("msg=\"store sqlite: object kind or id missing or "
		          "too long\" kind_max=%d id_max=%d",
		    STORE_OBJ_KIND_MAX, STORE_OBJ_ID_MAX);
		return -1;
	}
	return 0;
}

/* Bind kind (?1) and id (?2) and the current time (?n).  0 / -1. */
static int
obj_bind_key(struct sqlite_conn *c, sqlite3_stmt *st, const char *kind,
    const char *id, int n)
{
	if ((sqlst_bind_text(st, 1, kind) | sqlst_bind_text(st, 2, id) |
	        sqlite3_bind_int64(st, n, (sqlite3_int64)time(NULL))) !=
	    SQLITE_OK) {
		sqlst_log(c, "object bind");
		sqlst_stmt_done(st);
		return -1;
	}
	return 0;
}

/*
 * Run one put statement (`which`) for `o`: 0 it changed the row, 1 it
 * changed nothing, -1 error.
 */
static int
obj_put_run(
    struct sqlite_conn *c, enum stmt_id which, const struct store_obj *o)
{
	sqlite3_stmt *st;
	int e;

	if ((st = sqlst_stmt_get(c, which)) == NULL ||
	    obj_bind_key(c, st, o->kind, o->id, 7) == -1)
		return -1;
	/* SQLITE_OK is 0: any failed bind leaves e non-zero. */
	e = sqlst_bind_text(st, 3, o->key1);
	e |= sqlst_bind_text(st, 4, o->key2);
	e |= sqlst_bind_text(st, 5, o->status);
	e |= sqlst_bind_text(st, 6, o->json);
	e |= sqlite3_bind_int64(st, 8, (sqlite3_int64)o->expires);
	if (o->version != 0)
		e |= sqlite3_bind_int64(st, 9, (sqlite3_int64)o->version);
	if (e != SQLITE_OK) {
		sqlst_log(c, "obj_put bind");
		sqlst_stmt_done(st);
		return -1;
	}
	if (sqlst_stmt_exec(c, st, "obj_put") == -1)
		return -1;
	return sqlite3_changes(c->db) == 1 ? 0 : 1;
}

/*
 * Insert (o->version 0) or update (the stored version must be
 * o->version).  0 written, 1 conflict, -1 error.  An update first tries
 * the statement that leaves the keys (and so the indexes) alone.
 */
int
sqlst_obj_put(void *conn, const struct store_obj *o)
{
	struct sqlite_conn *c = conn;
	int r;

	if (obj_key_check(o->kind, o->id, 1) == -1 || o->json == NULL ||
	    o->version < 0)
		return -1;
	if (o->version == 0)
		return obj_put_run(c, ST_OBJ_INSERT, o);
	if ((r = obj_put_run(c, ST_OBJ_UPDATE_BODY, o)) != 1)
		return r;
	return obj_put_run(c, ST_OBJ_UPDATE, o);
}

/* 0 deleted, 1 absent or expired, -1 error. */
int
sqlst_obj_delete(void *conn, const char *kind, const char *id)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;

	if (obj_key_check(kind, id, 1) == -1 ||
	    (st = sqlst_stmt_get(c, ST_OBJ_DELETE)) == NULL ||
	    obj_bind_key(c, st, kind, id, 3) == -1 ||
	    sqlst_stmt_exec(c, st, "obj_delete") == -1)
		return -1;
	return sqlite3_changes(c->db) == 1 ? 0 : 1;
}

/* Fill `out` from the current row of an OBJ_COLS query (store_sqlite.c).
 * 0 / -1; the caller clears out on failure. */
static int
obj_from_row(sqlite3_stmt *st, struct store_obj *out)
{
	out->created = (time_t)sqlite3_column_int64(st, 6);
	out->expires = (time_t)sqlite3_column_int64(st, 7);
	out->version = (long)sqlite3_column_int64(st, 8);
	if (sqlst_column_dup(st, 0, &out->kind) == -1 ||
	    sqlst_column_dup(st, 1, &out->id) == -1 ||
	    sqlst_column_dup(st, 2, &out->key1) == -1 ||
	    sqlst_column_dup(st, 3, &out->key2) == -1 ||
	    sqlst_column_dup(st, 4, &out->status) == -1 ||
	    sqlst_column_dup(st, 5, &out->json) == -1)
		return -1;
	return 0;
}

/* 0 found (out filled, caller clears), 1 absent or expired, -1 error. */
int
sqlst_obj_get(
    void *conn, const char *kind, const char *id, struct store_obj *out)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	int rc = -1, s;

	memset(out, 0, sizeof(*out));
	if (obj_key_check(kind, id, 1) == -1 ||
	    (st = sqlst_stmt_get(c, ST_OBJ_GET)) == NULL ||
	    obj_bind_key(c, st, kind, id, 3) == -1)
		return -1;
	if ((s = sqlite3_step(st)) == SQLITE_DONE) {
		rc = 1;
		goto out;
	}
	if (s != SQLITE_ROW) {
		sqlst_log(c, "obj_get");
		goto out;
	}
	if (obj_from_row(st, out) == -1)
		goto out;
	rc = 0;
out:
	sqlst_stmt_done(st);
	if (rc == -1)
		store_obj_clear(out);
	return rc;
}

/*
 * The statement of a lookup on key1 (which 1) or key2 (which 2), with
 * kind, value and now bound; NULL on error.
 */
static sqlite3_stmt *
obj_key_stmt(struct sqlite_conn *c, enum stmt_id id1, enum stmt_id id2,
    const char *kind, int which, const char *value)
{
	sqlite3_stmt *st;

	if ((which != 1 && which != 2) || value == NULL ||
	    obj_key_check(kind, NULL, 0) == -1)
		return NULL;
	if ((st = sqlst_stmt_get(c, which == 1 ? id1 : id2)) == NULL ||
	    obj_bind_key(c, st, kind, value, 3) == -1)
		return NULL;
	return st;
}

/* Calls fn per unexpired match, oldest first.  0, or -1 on error or when
 * fn returned -1. */
int
sqlst_obj_find(void *conn, const char *kind, int which, const char *value,
    store_obj_fn *fn, void *arg)
{
	struct sqlite_conn *c = conn;
	struct store_obj o;
	sqlite3_stmt *st;
	int rc = -1, s;

	memset(&o, 0, sizeof(o));
	if ((st = obj_key_stmt(
	         c, ST_OBJ_FIND1, ST_OBJ_FIND2, kind, which, value)) == NULL)
		return -1;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		/* Copied: column text is const and dies at the next step. */
		if (obj_from_row(st, &o) == -1 || fn(&o, arg) == -1)
			goto out;
		store_obj_clear(&o);
	}
	if (s != SQLITE_DONE) {
		sqlst_log(c, "obj_find");
		goto out;
	}
	rc = 0;
out:
	store_obj_clear(&o);
	sqlst_stmt_done(st);
	return rc;
}

/* Unexpired matches created at or after since; -1 on error. */
long
sqlst_obj_count(
    void *conn, const char *kind, int which, const char *value, time_t since)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	long n = -1;

	if ((st = obj_key_stmt(
	         c, ST_OBJ_COUNT1, ST_OBJ_COUNT2, kind, which, value)) == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 4, (sqlite3_int64)since) != SQLITE_OK)
		sqlst_log(c, "obj_count bind");
	else if (sqlite3_step(st) == SQLITE_ROW)
		n = (long)sqlite3_column_int64(st, 0);
	else
		sqlst_log(c, "obj_count");
	sqlst_stmt_done(st);
	return n;
}

int
sqlst_obj_expire(void *conn, time_t now)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	char key[9];

	if ((st = sqlst_stmt_get(c, ST_OBJ_EXPIRE)) == NULL)
		return -1;
	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)now) != SQLITE_OK) {
		sqlst_log(c, "obj_expire bind");
		sqlst_stmt_done(st);
		return -1;
	}
	if (sqlst_stmt_exec(c, st, "obj_expire") == -1 ||
	    (st = sqlst_stmt_get(c, ST_NONCE_EXPIRE)) == NULL)
		return -1;
	store_nonce_time_key(now, key);
	if (sqlst_bind_text(st, 1, key) != SQLITE_OK) {
		sqlst_log(c, "nonce_expire bind");
		sqlst_stmt_done(st);
		return -1;
	}
	return sqlst_stmt_exec(c, st, "nonce_expire");
}

/* Bind the token (?1) and, for all but PUT, now as a prefix (?2). */
static sqlite3_stmt *
nonce_stmt(struct sqlite_conn *c, enum stmt_id which, const char *nonce)
{
	sqlite3_stmt *st;
	char key[9];
	int e;

	if ((st = sqlst_stmt_get(c, which)) == NULL)
		return NULL;
	e = sqlst_bind_text(st, 1, nonce);
	if (which != ST_NONCE_PUT) {
		store_nonce_time_key(time(NULL), key);
		/* SQLITE_TRANSIENT: key is on this stack. */
		e |= sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
	}
	if (e != SQLITE_OK) {
		sqlst_log(c, "nonce bind");
		sqlst_stmt_done(st);
		return NULL;
	}
	return st;
}

int
sqlst_nonce_put(void *conn, const char *nonce)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;

	if ((st = nonce_stmt(c, ST_NONCE_PUT, nonce)) == NULL)
		return -1;
	return sqlst_stmt_exec(c, st, "nonce_put");
}

int
sqlst_nonce_take(void *conn, const char *nonce)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;

	if ((st = nonce_stmt(c, ST_NONCE_TAKE, nonce)) == NULL ||
	    sqlst_stmt_exec(c, st, "nonce_take") == -1)
		return -1;
	return sqlite3_changes(c->db) == 1 ? 0 : 1;
}

int
sqlst_nonce_get(void *conn, const char *nonce)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	int r;

	if ((st = nonce_stmt(c, ST_NONCE_GET, nonce)) == NULL)
		return -1;
	r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		sqlst_log(c, "nonce_get");
	sqlst_stmt_done(st);
	return r == SQLITE_ROW ? 0 : r == SQLITE_DONE ? 1 : -1;
}
