/*
 * Private to core/store_sqlite.c (connection, schema, certificates,
 * audit, transactions) and core/store_sqlite_obj.c (protocol objects):
 * the connection layout, the statement ids and the statement helpers.
 * The SQL of every statement lives in store_sqlite.c (stmt_sql[]).
 */
#ifndef ENROLLD_STORE_SQLITE_INT_H
#define ENROLLD_STORE_SQLITE_INT_H

#include <time.h>

#include <sqlite3.h>

#include "core/store.h"

/* One per prepared statement; indexes stmt_sql[] and sqlite_conn.stmt. */
enum stmt_id {
	ST_BEGIN,
	ST_READ_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_VERSION_GET,
	ST_VERSION_ADD,
	ST_CERT_PUT,
	ST_CERT_GET,
	ST_CERT_REVOKE,
	ST_LIST_REVOKED,
	ST_AUDIT_PUT,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_OBJ_INSERT,
	ST_OBJ_UPDATE,
	ST_OBJ_UPDATE_BODY,
	ST_SYNC_FULL,
	ST_SYNC_NORMAL,
	ST_NONCE_PUT,
	ST_NONCE_TAKE,
	ST_NONCE_GET,
	ST_NONCE_EXPIRE,
	ST_OBJ_DELETE,
	ST_OBJ_GET,
	ST_OBJ_FIND1,
	ST_OBJ_FIND2,
	ST_OBJ_COUNT1,
	ST_OBJ_COUNT2,
	ST_OBJ_EXPIRE,
	ST_MAX
};

/* One connection, used by one thread at a time. */
struct sqlite_conn {
	int durable;    /* 0 unknown, 1 NORMAL, 2 FULL (set_durable) */
	int wal_frames; /* in the WAL after our last commit (writer only) */
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_MAX];
};

/* Log the connection's last error as "`what` failed"; names no values. */
void sqlst_log(struct sqlite_conn *c, const char *what);
/* The cached statement `id`, prepared on first use; NULL on error
 * (logged).  Borrowed: the connection finalises it on close. */
sqlite3_stmt *sqlst_stmt_get(struct sqlite_conn *c, enum stmt_id id);
/* Make a used statement ready for its next run and drop borrowed text. */
void sqlst_stmt_done(sqlite3_stmt *st);
/* Step a statement expected to return no row (its bindings done), then
 * sqlst_stmt_done() it.  0 / -1 (logged as `what`). */
int sqlst_stmt_exec(struct sqlite_conn *c, sqlite3_stmt *st, const char *what);
/* Bind `s` as text, or NULL.  The text is borrowed until
 * sqlst_stmt_done().  Returns the SQLite code (SQLITE_OK is 0). */
int sqlst_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copy text column `i` into *out (malloc'd, caller frees); *out stays
 * NULL for SQL NULL.  0 / -1. */
int sqlst_column_dup(sqlite3_stmt *st, int i, char **out);

/* The protocol-object slots of store_sqlite_ops (store_sqlite_obj.c);
 * contracts as struct store_ops in core/store.h. */
int sqlst_obj_put(void *conn, const struct store_obj *o);
int sqlst_obj_delete(void *conn, const char *kind, const char *id);
int sqlst_obj_get(
    void *conn, const char *kind, const char *id, struct store_obj *out);
int sqlst_obj_find(void *conn, const char *kind, int which, const char *value,
    store_obj_fn *fn, void *arg);
long sqlst_obj_count(
    void *conn, const char *kind, int which, const char *value, time_t since);
int sqlst_obj_expire(void *conn, time_t now);
int sqlst_nonce_put(void *conn, const char *nonce);
int sqlst_nonce_take(void *conn, const char *nonce);
int sqlst_nonce_get(void *conn, const char *nonce);

#endif
