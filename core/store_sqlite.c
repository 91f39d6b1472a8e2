/*
 * The SQLite storage driver (struct store_ops, core/store.h).
 *
 * One struct sqlite_conn per connection, used by one thread at a time:
 * the database is opened NOMUTEX and the store layer guarantees the rest.
 * WAL journal with synchronous=FULL, so a COMMIT that returned is on disk
 * (ARCHITECTURE.md: a certificate is durable before it is returned).
 * Statements are prepared on first use and kept for the connection's life.
 * The protocol-object slots are in store_sqlite_obj.c.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "core/log.h"
#include "core/store.h"
#include "core/store_sqlite_int.h"

/* Writers wait this long for the lock held by another connection. */
#define SQLITE_BUSY_MS 5000

/*
 * Schema migrations, applied in order, each in its own transaction;
 * schema_version holds one row per applied entry.  Never edit an entry
 * once released: append a new one.
 */
static const char *const migrations[] = {
    /* v1: certificates and the audit trail. */
    "CREATE TABLE certificates ("
    "  serial TEXT PRIMARY KEY,"
    "  subject TEXT NOT NULL,"
    "  sans TEXT NOT NULL,"
    "  not_before INTEGER,"
    "  not_after INTEGER,"
    "  profile TEXT,"
    "  requester TEXT,"
    "  protocol TEXT,"
    "  request_id TEXT,"
    "  pem TEXT NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0,"
    "  revoked_at INTEGER,"
    "  revoke_reason INTEGER,"
    "  created_at INTEGER);"
    "CREATE INDEX certificates_not_after ON certificates(not_after);"
    "CREATE INDEX certificates_status ON certificates(status);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at INTEGER,"
    "  request_id TEXT,"
    "  protocol TEXT,"
    "  profile TEXT,"
    "  requester TEXT,"
    "  subject TEXT,"
    "  event TEXT,"
    "  reason TEXT,"
    "  detail TEXT,"
    "  serial TEXT);",
    /* v2: protocol objects (ACME, SCEP state) as JSON documents. */
    "CREATE TABLE objects ("
    "  kind TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  key1 TEXT,"
    "  key2 TEXT,"
    "  status TEXT,"
    "  json TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL DEFAULT 0,"
    "  version INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, id));"
    "CREATE INDEX objects_key1 ON objects(kind, key1);"
    "CREATE INDEX objects_key2 ON objects(kind, key2);"
    "CREATE INDEX objects_expires ON objects(expires) WHERE expires > 0;",
    /* v3: one-time tokens in a table of their own (core/store.h).  As
     * objects, every nonce written and taken touched five b-trees; here
     * one, and the newest tokens share its last page.  Nonces issued
     * before are dropped: a client answered badNonce takes a fresh one. */
    "CREATE TABLE nonces (id TEXT PRIMARY KEY) WITHOUT ROWID;"
    "DELETE FROM objects WHERE kind = 'acme.nonce';",
};
#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* "Unexpired at ?N", the visibility rule of every object query.  The
 * column order of OBJ_COLS is read by obj_from_row (store_sqlite_obj.c).
 * The unary plus keeps SQLite from matching the parameter against the
 * partial index objects_expires (WHERE expires > 0): that match makes the
 * plan depend on the bound value, so each new time re-prepared the
 * statement (SQLite's expmask) on every run of the lookups by key. */
#define OBJ_LIVE(n) " AND (expires = 0 OR expires > +?" #n ")"
#define OBJ_COLS                                                               \
	"SELECT kind, id, key1, key2, status, json, created, expires,"         \
	" version FROM objects"

/* BEGIN IMMEDIATE takes the write lock at once, so a writer waits in BEGIN
 * (busy_timeout) instead of failing on its first INSERT. */
static const char *const stmt_sql[ST_MAX] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    /* Prepared like the rest: the writer switches between the two for
     * nearly every batch when light and durable sets alternate. */
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    /* A worker's read snapshot: no lock until the first lookup. */
    [ST_READ_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_VERSION_GET] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
    [ST_VERSION_ADD] = "INSERT INTO schema_version(version) VALUES (?1)",
    [ST_CERT_PUT] = "INSERT INTO certificates(serial, subject, sans,"
                    " not_before, not_after, profile, requester, protocol,"
                    " request_id, pem, status, revoked_at, revoke_reason,"
                    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                    " ?9, ?10, ?11, ?12, ?13, ?14)",
    [ST_CERT_GET] = "SELECT serial, subject, sans, not_before, not_after,"
                    " profile, requester, protocol, request_id, pem, status,"
                    " revoked_at, revoke_reason FROM certificates"
                    " WHERE serial = ?1",
    [ST_CERT_REVOKE] = "UPDATE certificates SET status = 1,"
                       " revoked_at = ?2, revoke_reason = ?3"
                       " WHERE serial = ?1 AND status = 0",
    [ST_LIST_REVOKED] = "SELECT serial, revoked_at, revoke_reason"
                        " FROM certificates WHERE status = 1"
                        " ORDER BY serial",
    [ST_AUDIT_PUT] = "INSERT INTO audit(at, request_id, protocol, profile,"
                     " requester, subject, event, reason, detail, serial)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [ST_SAVEPOINT] = "SAVEPOINT txn",
    [ST_RELEASE] = "RELEASE txn",
    [ST_ROLLBACK_TO] = "ROLLBACK TO txn",
    /* An expired row still holding the key is invisible, so it is
     * replaced; an unexpired one makes the insert change nothing. */
    [ST_OBJ_INSERT] =
        "INSERT INTO objects(kind, id, key1, key2, status, json,"
        " created, expires, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
        " ?8, 1) ON CONFLICT(kind, id) DO UPDATE SET key1 = excluded.key1,"
        " key2 = excluded.key2, status = excluded.status,"
        " json = excluded.json, created = excluded.created,"
        " expires = excluded.expires, version = 1"
        " WHERE objects.expires > 0 AND objects.expires <= ?7",
    /* Same parameters as ST_OBJ_INSERT (?7 is now), plus the version
     * read (?9): a row changed meanwhile no longer matches. */
    [ST_OBJ_UPDATE] =
        "UPDATE objects SET key1 = ?3, key2 = ?4,"
        " status = ?5, json = ?6, expires = ?8,"
        " version = version + 1"
        " WHERE kind = ?1 AND id = ?2 AND version = ?9" OBJ_LIVE(7),
    /* The same when key1, key2 and expires stay as they are, the usual
     * case (a status change): SQLite leaves an index alone when the
     * statement sets none of its columns, so this writes one page where
     * ST_OBJ_UPDATE rewrites three index entries too. */
    [ST_OBJ_UPDATE_BODY] =
        "UPDATE objects SET status = ?5, json = ?6, version = version + 1"
        " WHERE kind = ?1 AND id = ?2 AND version = ?9 AND key1 IS ?3"
        " AND key2 IS ?4 AND expires = ?8" OBJ_LIVE(7),
    [ST_OBJ_DELETE] =
        "DELETE FROM objects WHERE kind = ?1 AND id = ?2" OBJ_LIVE(3),
    [ST_OBJ_GET] = OBJ_COLS " WHERE kind = ?1 AND id = ?2" OBJ_LIVE(3),
    [ST_OBJ_FIND1] = OBJ_COLS
    " WHERE kind = ?1 AND key1 = ?2" OBJ_LIVE(3) " ORDER BY created, rowid",
    [ST_OBJ_FIND2] = OBJ_COLS
    " WHERE kind = ?1 AND key2 = ?2" OBJ_LIVE(3) " ORDER BY created, rowid",
    [ST_OBJ_COUNT1] = "SELECT COUNT(*) FROM objects WHERE kind = ?1"
                      " AND key1 = ?2 AND created >= ?4" OBJ_LIVE(3),
    [ST_OBJ_COUNT2] = "SELECT COUNT(*) FROM objects WHERE kind = ?1"
                      " AND key2 = ?2 AND created >= ?4" OBJ_LIVE(3),
    /* Tokens: ?2 and ?1 of EXPIRE are the current time as a token
     * prefix, so `id >= ?2` means unexpired (store_sqlite_obj.c). */
    [ST_NONCE_PUT] = "INSERT INTO nonces(id) VALUES (?1)",
    [ST_NONCE_TAKE] = "DELETE FROM nonces WHERE id = ?1 AND id >= ?2",
    [ST_NONCE_GET] = "SELECT 1 FROM nonces WHERE id = ?1 AND id >= ?2",
    [ST_NONCE_EXPIRE] = "DELETE FROM nonces WHERE id IN (SELECT id FROM"
                        " nonces WHERE id < ?1 LIMIT 1000)",
    /* Bounded so that housekeeping never holds the write lock long. */
    [ST_OBJ_EXPIRE] = "DELETE FROM objects WHERE rowid IN (SELECT rowid"
                      " FROM objects WHERE expires > 0 AND expires <= ?1"
                      " LIMIT 1000)",
};

/* Log the connection's last error; SQLite messages name no values. */
void
sqlst_log(struct sqlite_conn *c, const char *what)
{
	const char *m = sqlite3_errmsg(c->db);
	char clean[256];

	log_error("msg=\"store sqlite: %s failed\" sqlite=\"%s\"", what,
	    log_sanitize(m, strlen(m), clean, sizeof(clean)));
}

/* The cached statement `id`, prepared on first use; NULL on error. */
sqlite3_stmt *
sqlst_stmt_get(struct sqlite_conn *c, enum stmt_id id)
{
	if (c->stmt[id] != NULL)
		return c->stmt[id];
	if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
	        SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL) != SQLITE_OK) {
		sqlst_log(c, "prepare");
		c->stmt[id] = NULL;
	}
	return c->stmt[id];
}

/* Make a used statement ready for its next run and drop borrowed text. */
void
sqlst_stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Run a statement expected to return no row (its bindings done).  0 / -1. */
int
sqlst_stmt_exec(struct sqlite_conn *c, sqlite3_stmt *st, const char *what)
{
	int rc = 0;

	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlst_log(c, what);
		rc = -1;
	}
	sqlst_stmt_done(st);
	return rc;
}

static int
stmt_run(struct sqlite_conn *c, enum stmt_id id, const char *what)
{
	sqlite3_stmt *st;

	if ((st = sqlst_stmt_get(c, id)) == NULL)
		return -1;
	return sqlst_stmt_exec(c, st, what);
}

/* Bind `s` as text, or NULL.  The text is borrowed until
 * sqlst_stmt_done(). */
int
sqlst_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Copy text column `i`; *out stays NULL for SQL NULL.  0 / -1. */
int
sqlst_column_dup(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 0;
	/* Not NULL in the row, so a NULL here is SQLite out of memory. */
	if ((t = sqlite3_column_text(st, i)) == NULL ||
	    (*out = strdup((const char *)t)) == NULL)
		return -1;
	return 0;
}

/* Copy a serial column into a fixed 41-byte field.  0 / -1 if too long. */
static int
column_serial(sqlite3_stmt *st, int i, char out[41])
{
	const unsigned char *t = sqlite3_column_text(st, i);

	if (t == NULL || strlen((const char *)t) > 40)
		return -1;
	memcpy(out, t, strlen((const char *)t) + 1);
	return 0;
}

/* Protocol column text back to the enum (stored by enroll_proto_name). */
static int
proto_parse(const char *s, enum enroll_proto *out)
{
	static const enum enroll_proto all[] = {ENROLL_PROTO_EST,
	    ENROLL_PROTO_ACME, ENROLL_PROTO_SCEP, ENROLL_PROTO_CLI};
	size_t i;

	for (i = 0; s != NULL && i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(s, enroll_proto_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	}
	return -1;
}

/* The PRAGMAs every connection needs.  0 / -1. */
static int
sqlite_configure(struct sqlite_conn *c)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc = -1;

	if (sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS) != SQLITE_OK ||
	    sqlite3_exec(c->db,
	        "PRAGMA synchronous = FULL;"
	        "PRAGMA foreign_keys = ON;",
	        NULL, NULL, NULL) != SQLITE_OK) {
		sqlst_log(c, "pragma");
		goto out;
	}
	/* journal_mode answers with the mode in force: a file system
	 * without shared memory keeps the old one, still durable. */
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st,
	        NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlst_log(c, "journal_mode");
		goto out;
	}
	mode = sqlite3_column_text(st, 0);
	if (mode == NULL || strcasecmp((const char *)mode, "wal") != 0)
		log_warn("msg=\"store sqlite: WAL unavailable, writes will "
		         "block readers\"");
	rc = 0;
out:
	sqlite3_finalize(st);
	return rc;
}

static void
sqlite_close(void *conn)
{
	struct sqlite_conn *c = conn;
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(c->stmt[i]);
	/* Every statement is finalised, so close cannot report BUSY. */
	sqlite3_close(c->db);
	free(c);
}

/*
 * Before SQLite's first use: no allocation statistics.  With them on,
 * every allocation takes one process-wide mutex, which the loops and the
 * writer then contend for.  Nothing here reads the statistics.  Refused
 * (harmlessly) when SQLite was initialised already.
 */
static void
sqlite_global_setup(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int
sqlite_open(const char *dsn, void **conn)
{
	static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
	struct sqlite_conn *c = NULL;
	int rc = -1;

	*conn = NULL;
	/* NOMUTEX still needs a library built thread-safe: connections
	 * live on several threads. */
	if (sqlite3_threadsafe() == 0) {
		log_error(
		    "msg=\"store sqlite: library built without threads\"");
		goto out;
	}
	(void)pthread_once(&setup_once, sqlite_global_setup);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if (sqlite3_open_v2(dsn, &c->db,
	        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	            SQLITE_OPEN_NOMUTEX,
	        NULL) != SQLITE_OK) {
		if (c->db != NULL)
			sqlst_log(c, "open");
		else
			log_error("msg=\"store sqlite: open failed\" "
			          "error=\"out of memory\"");
		goto out;
	}
	if (sqlite_configure(c) == -1)
		goto out;
	*conn = c;
	c = NULL;
	rc = 0;
out:
	sqlite_close(c);
	return rc;
}

static int
sqlite_begin(void *conn)
{
	return stmt_run(conn, ST_BEGIN, "begin");
}

/*
 * WAL with synchronous=NORMAL commits without fsync (the database stays
 * consistent; a power loss may undo the last commits); FULL waits for
 * the disk.  Only changed when it differs from the current mode.
 */
static int
sqlite_set_durable(void *conn, int durable)
{
	struct sqlite_conn *c = conn;

	if (c->durable == durable + 1)
		return 0;
	if (stmt_run(c, durable ? ST_SYNC_FULL : ST_SYNC_NORMAL,
	        "synchronous") == -1)
		return -1;
	c->durable = durable + 1;
	return 0;
}

static int
sqlite_commit(void *conn)
{
	return stmt_run(conn, ST_COMMIT, "commit");
}

/* Roll back; succeeds when SQLite already rolled back on its own (some
 * errors, e.g. SQLITE_FULL, end the transaction themselves). */
static int
sqlite_rollback(void *conn)
{
	struct sqlite_conn *c = conn;

	if (sqlite3_get_autocommit(c->db))
		return 0;
	return stmt_run(c, ST_ROLLBACK, "rollback");
}

/* The schema version recorded, 0 for a new database, -1 on error. */
static int
version_get(struct sqlite_conn *c)
{
	sqlite3_stmt *st;
	int v = -1;

	if ((st = sqlst_stmt_get(c, ST_VERSION_GET)) == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	else
		sqlst_log(c, "schema version");
	sqlst_stmt_done(st);
	return v;
}

/*
 * Apply the next migration, if any, in one transaction.  The version is
 * read under the write lock so two processes starting together cannot
 * both apply it.  Returns 1 when one was applied, 0 when up to date,
 * -1 on error.
 */
static int
migrate_step(struct sqlite_conn *c)
{
	sqlite3_stmt *st;
	int rc = -1, v;

	if (sqlite_begin(c) == -1)
		return -1;
	if ((v = version_get(c)) == -1)
		goto out;
	if ((size_t)v > N_MIGRATIONS) {
		log_error("msg=\"store sqlite: schema newer than this build\" "
		          "version=%d known=%zu",
		    v, N_MIGRATIONS);
		goto out;
	}
	if ((size_t)v == N_MIGRATIONS) {
		rc = sqlite_commit(c) == -1 ? -1 : 0;
		goto out;
	}
	if (sqlite3_exec(c->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
		sqlst_log(c, "migration");
		goto out;
	}
	if ((st = sqlst_stmt_get(c, ST_VERSION_ADD)) == NULL ||
	    sqlite3_bind_int(st, 1, v + 1) != SQLITE_OK ||
	    sqlst_stmt_exec(c, st, "schema version") == -1 ||
	    sqlite_commit(c) == -1)
		goto out;
	log_info("msg=\"store sqlite: schema migrated\" version=%d", v + 1);
	rc = 1;
out:
	if (rc == -1)
		sqlite_rollback(c);
	return rc;
}

static int
sqlite_migrate(void *conn)
{
	struct sqlite_conn *c = conn;
	int r;

	if (sqlite3_exec(c->db,
	        "CREATE TABLE IF NOT EXISTS schema_version"
	        "(version INTEGER NOT NULL)",
	        NULL, NULL, NULL) != SQLITE_OK) {
		sqlst_log(c, "schema_version table");
		return -1;
	}
	while ((r = migrate_step(c)) == 1)
		continue;
	return r;
}

static int
sqlite_cert_put(void *conn, const struct cert_record *rec)
{
	struct sqlite_conn *c = conn;
	int revoked = rec->status == CERT_STATUS_REVOKED;
	sqlite3_stmt *st;
	int e;

	if ((st = sqlst_stmt_get(c, ST_CERT_PUT)) == NULL)
		return -1;
	/* SQLITE_OK is 0: any failed bind leaves e non-zero. */
	e = sqlst_bind_text(st, 1, rec->serial);
	e |= sqlst_bind_text(st, 2, rec->subject);
	e |= sqlst_bind_text(st, 3, rec->sans);
	e |= sqlite3_bind_int64(st, 4, (sqlite3_int64)rec->not_before);
	e |= sqlite3_bind_int64(st, 5, (sqlite3_int64)rec->not_after);
	e |= sqlst_bind_text(st, 6, rec->profile);
	e |= sqlst_bind_text(st, 7, rec->requester);
	e |= sqlst_bind_text(st, 8, enroll_proto_name(rec->proto));
	e |= sqlst_bind_text(st, 9, rec->request_id);
	e |= sqlst_bind_text(st, 10, rec->pem);
	e |= sqlite3_bind_int(st, 11, revoked ? 1 : 0);
	e |= revoked
	    ? sqlite3_bind_int64(st, 12, (sqlite3_int64)rec->revoked_at)
	    : sqlite3_bind_null(st, 12);
	e |= revoked ? sqlite3_bind_int(st, 13, rec->revoke_reason)
	             : sqlite3_bind_null(st, 13);
	e |= sqlite3_bind_int64(st, 14, (sqlite3_int64)time(NULL));
	if (e != SQLITE_OK) {
		sqlst_log(c, "cert_put bind");
		sqlst_stmt_done(st);
		return -1;
	}
	return sqlst_stmt_exec(c, st, "cert_put");
}

/* Fill `out` from the current row of ST_CERT_GET.  0 / -1. */
static int
cert_from_row(sqlite3_stmt *st, struct cert_record *out)
{
	const char *proto = (const char *)sqlite3_column_text(st, 7);

	if (column_serial(st, 0, out->serial) == -1 ||
	    proto_parse(proto, &out->proto) == -1) {
		log_error("msg=\"store sqlite: corrupt certificate row\"");
		return -1;
	}
	out->not_before = (time_t)sqlite3_column_int64(st, 3);
	out->not_after = (time_t)sqlite3_column_int64(st, 4);
	out->status = sqlite3_column_int(st, 10) == 1 ? CERT_STATUS_REVOKED
	                                              : CERT_STATUS_VALID;
	out->revoked_at = (time_t)sqlite3_column_int64(st, 11);
	out->revoke_reason = sqlite3_column_type(st, 12) == SQLITE_NULL
	    ? -1
	    : sqlite3_column_int(st, 12);
	if (sqlst_column_dup(st, 1, &out->subject) == -1 ||
	    sqlst_column_dup(st, 2, &out->sans) == -1 ||
	    sqlst_column_dup(st, 5, &out->profile) == -1 ||
	    sqlst_column_dup(st, 6, &out->requester) == -1 ||
	    sqlst_column_dup(st, 8, &out->request_id) == -1 ||
	    sqlst_column_dup(st, 9, &out->pem) == -1)
		return -1;
	return 0;
}

static int
sqlite_cert_get(void *conn, const char *serial, struct cert_record *out)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	int rc = -1, s;

	memset(out, 0, sizeof(*out));
	if ((st = sqlst_stmt_get(c, ST_CERT_GET)) == NULL)
		return -1;
	if (sqlst_bind_text(st, 1, serial) != SQLITE_OK) {
		sqlst_log(c, "cert_get bind");
		goto out;
	}
	if ((s = sqlite3_step(st)) == SQLITE_DONE) {
		rc = 1;
		goto out;
	}
	if (s != SQLITE_ROW) {
		sqlst_log(c, "cert_get");
		goto out;
	}
	if (cert_from_row(st, out) == -1)
		goto out;
	rc = 0;
out:
	sqlst_stmt_done(st);
	if (rc == -1)
		cert_record_clear(out);
	return rc;
}

static int
sqlite_cert_revoke(void *conn, const char *serial, time_t at, int reason)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;

	if ((st = sqlst_stmt_get(c, ST_CERT_REVOKE)) == NULL)
		return -1;
	if ((sqlst_bind_text(st, 1, serial) |
	        sqlite3_bind_int64(st, 2, (sqlite3_int64)at) |
	        sqlite3_bind_int(st, 3, reason)) != SQLITE_OK) {
		sqlst_log(c, "cert_revoke bind");
		sqlst_stmt_done(st);
		return -1;
	}
	if (sqlst_stmt_exec(c, st, "cert_revoke") == -1)
		return -1;
	/* The status = 0 guard makes a second revocation change nothing. */
	return sqlite3_changes(c->db) == 1 ? 0 : 1;
}

/* Returns -1 on a database error or when fn returned -1. */
static int
sqlite_cert_list_revoked(void *conn, store_revoked_fn *fn, void *arg)
{
	struct sqlite_conn *c = conn;
	struct revoked_entry e;
	sqlite3_stmt *st;
	int rc = -1, s;

	if ((st = sqlst_stmt_get(c, ST_LIST_REVOKED)) == NULL)
		return -1;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		if (column_serial(st, 0, e.serial) == -1) {
			log_error("msg=\"store sqlite: corrupt serial\"");
			goto out;
		}
		e.revoked_at = (time_t)sqlite3_column_int64(st, 1);
		e.reason = sqlite3_column_type(st, 2) == SQLITE_NULL
		    ? -1
		    : sqlite3_column_int(st, 2);
		if (fn(&e, arg) == -1)
			goto out;
	}
	if (s != SQLITE_DONE) {
		sqlst_log(c, "cert_list_revoked");
		goto out;
	}
	rc = 0;
out:
	sqlst_stmt_done(st);
	return rc;
}

static int
sqlite_audit_put(void *conn, const struct audit_record *rec)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	int e;

	if ((st = sqlst_stmt_get(c, ST_AUDIT_PUT)) == NULL)
		return -1;
	/* SQLITE_OK is 0: any failed bind leaves e non-zero. */
	e = sqlite3_bind_int64(st, 1, (sqlite3_int64)rec->at);
	e |= sqlst_bind_text(st, 2, rec->request_id);
	e |= sqlst_bind_text(st, 3, enroll_proto_name(rec->proto));
	e |= sqlst_bind_text(st, 4, rec->profile);
	e |= sqlst_bind_text(st, 5, rec->requester);
	e |= sqlst_bind_text(st, 6, rec->subject);
	e |= sqlst_bind_text(st, 7, rec->event);
	e |= sqlst_bind_text(st, 8, rec->reason);
	e |= sqlst_bind_text(st, 9, rec->detail);
	e |= sqlst_bind_text(st, 10, rec->serial);
	if (e != SQLITE_OK) {
		sqlst_log(c, "audit_put bind");
		sqlst_stmt_done(st);
		return -1;
	}
	return sqlst_stmt_exec(c, st, "audit_put");
}

static int
sqlite_savepoint(void *conn)
{
	return stmt_run(conn, ST_SAVEPOINT, "savepoint");
}

static int
sqlite_release(void *conn)
{
	return stmt_run(conn, ST_RELEASE, "release");
}

/* Undo to the savepoint, then drop it: ROLLBACK TO keeps it open. */
static int
sqlite_rollback_to(void *conn)
{
	if (stmt_run(conn, ST_ROLLBACK_TO, "rollback to") == -1)
		return -1;
	return stmt_run(conn, ST_RELEASE, "release");
}

/*
 * A deferred transaction: the read lock and the check of the WAL are
 * taken once, at the first lookup, and the page cache stays valid for
 * the lookups after it (a new read transaction drops the whole cache
 * whenever the writer committed in between, which it nearly always has).
 */
static int
sqlite_read_begin(void *conn)
{
	struct sqlite_conn *c = conn;

	if (!sqlite3_get_autocommit(c->db))
		return -1;
	return stmt_run(c, ST_READ_BEGIN, "read begin");
}

static void
sqlite_read_end(void *conn)
{
	struct sqlite_conn *c = conn;

	/* A lookup's error may have ended it already. */
	if (!sqlite3_get_autocommit(c->db) &&
	    stmt_run(c, ST_COMMIT, "read end") == -1)
		(void)sqlite_rollback(c);
}

/* Pages the WAL may hold before the writer checkpoints it: SQLite's own
 * autocheckpoint default. */
#define SQLITE_CHECKPOINT_PAGES 1000

/* In place of SQLite's autocheckpoint on the writer's connection: a
 * commit made on an event loop must not copy the WAL into the database
 * and wait for the disk.  Counts the frames for sqlite_maintain_due. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sqlite_conn *c = arg;

	(void)db;
	(void)name;
	c->wal_frames = frames;
	return SQLITE_OK;
}

static int
sqlite_writer_setup(void *conn)
{
	struct sqlite_conn *c = conn;

	(void)sqlite3_wal_hook(c->db, wal_hook, c);
	return 0;
}

/* BEGIN IMMEDIATE without the busy timeout: a lock held by another
 * connection or process answers 1 at once. */
static int
sqlite_try_begin(void *conn)
{
	struct sqlite_conn *c = conn;
	sqlite3_stmt *st;
	int s;

	if ((st = sqlst_stmt_get(c, ST_BEGIN)) == NULL)
		return -1;
	(void)sqlite3_busy_timeout(c->db, 0);
	if ((s = sqlite3_step(st) & 0xff) != SQLITE_DONE && s != SQLITE_BUSY)
		sqlst_log(c, "begin");
	sqlst_stmt_done(st);
	(void)sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
	return s == SQLITE_DONE ? 0 : s == SQLITE_BUSY ? 1 : -1;
}

static int
sqlite_maintain_due(void *conn)
{
	struct sqlite_conn *c = conn;

	return c->wal_frames >= SQLITE_CHECKPOINT_PAGES;
}

/*
 * A passive checkpoint, as autocheckpoint would have run: it copies what
 * no reader still needs and never waits for a lock.  What it leaves is
 * counted again by the next commit.
 */
static void
sqlite_maintain(void *conn)
{
	struct sqlite_conn *c = conn;
	int s;

	c->wal_frames = 0;
	s = sqlite3_wal_checkpoint_v2(
	    c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if ((s & 0xff) != SQLITE_OK && (s & 0xff) != SQLITE_BUSY)
		sqlst_log(c, "checkpoint");
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .migrate = sqlite_migrate,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .cert_put = sqlite_cert_put,
    .cert_get = sqlite_cert_get,
    .cert_revoke = sqlite_cert_revoke,
    .cert_list_revoked = sqlite_cert_list_revoked,
    .audit_put = sqlite_audit_put,
    .obj_put = sqlst_obj_put,
    .obj_delete = sqlst_obj_delete,
    .obj_get = sqlst_obj_get,
    .obj_find = sqlst_obj_find,
    .obj_count = sqlst_obj_count,
    .set_durable = sqlite_set_durable,
    .savepoint = sqlite_savepoint,
    .release = sqlite_release,
    .rollback_to = sqlite_rollback_to,
    .nonce_put = sqlst_nonce_put,
    .nonce_take = sqlst_nonce_take,
    .nonce_get = sqlst_nonce_get,
    .obj_expire = sqlst_obj_expire,
    .close = sqlite_close,
    .read_begin = sqlite_read_begin,
    .read_end = sqlite_read_end,
    .writer_setup = sqlite_writer_setup,
    .try_begin = sqlite_try_begin,
    .maintain_due = sqlite_maintain_due,
    .maintain = sqlite_maintain,
};
