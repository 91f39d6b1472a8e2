/*
 * Sets of writes (core/store.h, store_txn_*): what a request queues for
 * the writer, copied as it is built so that the caller's buffers are
 * free at once, and the one place that turns a set into driver calls.
 */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/store.h"
#include "core/store_int.h"

/* The string fields of struct audit_record, copied into an operation. */
#define AUDIT_NSTR 8

enum txn_op_type {
	TXN_PUT,
	TXN_DELETE,
	TXN_CERT,
	TXN_AUDIT,
	TXN_REVOKE,
	TXN_NONCE_ADD,
	TXN_NONCE_TAKE
};

/* One write of a set.  Everything it points to is owned. */
struct txn_op {
	struct txn_op *next;
	enum txn_op_type type;
	struct store_obj obj;      /* PUT; DELETE uses kind and id, NONCE id */
	struct cert_record *rec;   /* CERT */
	struct audit_record audit; /* AUDIT: its strings point into str */
	char *str[AUDIT_NSTR];
	time_t revoked_at; /* REVOKE: serial in obj.id */
	int reason;
};

struct store_txn {
	struct txn_op *head;
	struct txn_op **tail;
	size_t n_ops;
	int light; /* may commit without waiting for the disk */
};

static void
op_free(struct txn_op *op)
{
	size_t i;

	if (op == NULL)
		return;
	store_obj_clear(&op->obj);
	cert_record_clear(op->rec);
	free(op->rec);
	for (i = 0; i < AUDIT_NSTR; i++)
		free(op->str[i]);
	free(op);
}

/* Caller frees with store_txn_free(), or hands it to the store. */
struct store_txn *
store_txn_new(void)
{
	struct store_txn *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->tail = &t->head;
	return t;
}

void
store_txn_free(struct store_txn *t)
{
	struct txn_op *op, *next;

	if (t == NULL)
		return;
	for (op = t->head; op != NULL; op = next) {
		next = op->next;
		op_free(op);
	}
	free(t);
}

/* A new operation of `type` for the caller to fill; NULL on allocation
 * failure.  Appended only by op_append(), once complete. */
static struct txn_op *
op_new(enum txn_op_type type)
{
	struct txn_op *op;

	if ((op = calloc(1, sizeof(*op))) != NULL)
		op->type = type;
	return op;
}

static void
op_append(struct store_txn *t, struct txn_op *op)
{
	*t->tail = op;
	t->tail = &op->next;
	t->n_ops++;
}

void
store_txn_move(struct store_txn *to, struct store_txn *from)
{
	if (from->head == NULL)
		return;
	*to->tail = from->head;
	to->tail = from->tail;
	to->n_ops += from->n_ops;
	from->head = NULL;
	from->tail = &from->head;
	from->n_ops = 0;
}

size_t
store_txn_size(const struct store_txn *t)
{
	return t->n_ops;
}

void
store_txn_set_light(struct store_txn *t, int light)
{
	t->light = light;
}

/* *out = a copy of s, NULL for NULL.  0 / -1. */
static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s != NULL && (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

/* A kind and id within the bounds of core/store.h.  Checked when the set
 * is built, so that a malformed one fails at once and never costs a
 * batch its group commit. */
static int
obj_key_ok(const char *kind, const char *id)
{
	return kind != NULL && id != NULL && *kind != '\0' && *id != '\0' &&
	    strlen(kind) <= STORE_OBJ_KIND_MAX &&
	    strlen(id) <= STORE_OBJ_ID_MAX;
}

int
store_txn_put(struct store_txn *t, const struct store_obj *o)
{
	struct txn_op *op = NULL;
	int rc = -1;

	if (t == NULL || o == NULL || !obj_key_ok(o->kind, o->id) ||
	    o->json == NULL || o->version < 0 || (op = op_new(TXN_PUT)) == NULL)
		goto out;
	if (dup_opt(o->kind, &op->obj.kind) == -1 ||
	    dup_opt(o->id, &op->obj.id) == -1 ||
	    dup_opt(o->key1, &op->obj.key1) == -1 ||
	    dup_opt(o->key2, &op->obj.key2) == -1 ||
	    dup_opt(o->status, &op->obj.status) == -1 ||
	    dup_opt(o->json, &op->obj.json) == -1)
		goto out;
	op->obj.expires = o->expires;
	op->obj.version = o->version;
	op_append(t, op);
	op = NULL;
	rc = 0;
out:
	op_free(op);
	return rc;
}

int
store_txn_revoke(struct store_txn *t, const char *serial, time_t at, int reason)
{
	struct txn_op *op;

	if (t == NULL || serial == NULL || strlen(serial) > 40 ||
	    (op = op_new(TXN_REVOKE)) == NULL)
		return -1;
	if (dup_opt(serial, &op->obj.id) == -1) {
		op_free(op);
		return -1;
	}
	op->revoked_at = at != 0 ? at : time(NULL);
	op->reason = reason;
	op_append(t, op);
	return 0;
}

int
store_txn_delete(struct store_txn *t, const char *kind, const char *id)
{
	struct txn_op *op = NULL;
	int rc = -1;

	if (t == NULL || !obj_key_ok(kind, id) ||
	    (op = op_new(TXN_DELETE)) == NULL ||
	    dup_opt(kind, &op->obj.kind) == -1 ||
	    dup_opt(id, &op->obj.id) == -1)
		goto out;
	op_append(t, op);
	op = NULL;
	rc = 0;
out:
	op_free(op);
	return rc;
}

/* A token operation: the token is bounded here, like an object key. */
static int
txn_nonce(struct store_txn *t, enum txn_op_type type, const char *nonce)
{
	struct txn_op *op = NULL;

	if (t == NULL || nonce == NULL || *nonce == '\0' ||
	    strlen(nonce) > STORE_OBJ_ID_MAX || (op = op_new(type)) == NULL ||
	    dup_opt(nonce, &op->obj.id) == -1) {
		op_free(op);
		return -1;
	}
	op_append(t, op);
	return 0;
}

int
store_txn_nonce_add(struct store_txn *t, const char *nonce)
{
	return txn_nonce(t, TXN_NONCE_ADD, nonce);
}

int
store_txn_nonce_take(struct store_txn *t, const char *nonce)
{
	return txn_nonce(t, TXN_NONCE_TAKE, nonce);
}

int
store_txn_cert(struct store_txn *t, struct cert_record *rec)
{
	struct txn_op *op;

	if (rec == NULL)
		return -1;
	if (t == NULL || (op = op_new(TXN_CERT)) == NULL) {
		cert_record_clear(rec);
		free(rec);
		return -1;
	}
	op->rec = rec;
	op_append(t, op);
	return 0;
}

/*
 * Copy `src`: the caller's strings are borrowed and die with its request,
 * the set outlives it.  A zero time becomes now.  0 / -1.
 */
int
store_txn_audit(struct store_txn *t, const struct audit_record *src)
{
	struct txn_op *op = NULL;
	struct audit_record *a;
	const char **f[AUDIT_NSTR];
	size_t i;
	int rc = -1;

	if (t == NULL || src == NULL || (op = op_new(TXN_AUDIT)) == NULL)
		goto out;
	a = &op->audit;
	*a = *src;
	if (a->at == 0)
		a->at = time(NULL);
	f[0] = &a->request_id;
	f[1] = &a->profile;
	f[2] = &a->requester;
	f[3] = &a->subject;
	f[4] = &a->event;
	f[5] = &a->reason;
	f[6] = &a->detail;
	f[7] = &a->serial;
	for (i = 0; i < AUDIT_NSTR; i++) {
		if (dup_opt(*f[i], &op->str[i]) == -1)
			goto out;
		*f[i] = op->str[i];
	}
	op_append(t, op);
	op = NULL;
	rc = 0;
out:
	op_free(op);
	return rc;
}

/* store_int.h */
int
store_txn_write(
    const struct store_ops *ops, void *conn, const struct store_txn *t)
{
	const struct txn_op *op;
	int r = 0;

	for (op = t->head; op != NULL && r == 0; op = op->next) {
		switch (op->type) {
		case TXN_PUT:
			r = ops->obj_put(conn, &op->obj);
			break;
		case TXN_DELETE:
			r = ops->obj_delete(conn, op->obj.kind, op->obj.id);
			break;
		case TXN_CERT:
			r = ops->cert_put(conn, op->rec);
			break;
		case TXN_AUDIT:
			r = ops->audit_put(conn, &op->audit);
			break;
		case TXN_REVOKE:
			r = ops->cert_revoke(
			    conn, op->obj.id, op->revoked_at, op->reason);
			break;
		case TXN_NONCE_ADD:
			r = ops->nonce_put(conn, op->obj.id);
			break;
		case TXN_NONCE_TAKE:
			r = ops->nonce_take(conn, op->obj.id);
			break;
		}
	}
	return r;
}

int
store_txn_is_light(const struct store_txn *t)
{
	return t->light;
}

/* Say what a failed set loses; object ids may come from peers, so only
 * the kind is named. */
void
store_txn_log_lost(const struct store_txn *t)
{
	const struct txn_op *op;

	for (op = t->head; op != NULL; op = op->next) {
		if (op->type == TXN_CERT)
			log_error("msg=\"store: certificate not stored\" "
			          "serial=%s",
			    op->rec->serial);
		else if (op->type == TXN_AUDIT)
			log_error("msg=\"store: audit record lost\" event=%s",
			    op->audit.event != NULL ? op->audit.event : "-");
		else
			log_error("msg=\"store: object not stored\" kind=%s",
			    op->obj.kind);
	}
}
