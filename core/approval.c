/*
 * The approval queue (core/approval.h): pending requests as store
 * objects, their state read by the pipeline and changed by the operator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/approval.h"
#include "core/encoding.h"
#include "core/enroll.h"

static const char *const state_names[] = {
    [APPROVAL_NONE] = "none",
    [APPROVAL_PENDING] = "pending",
    [APPROVAL_APPROVED] = "approved",
    [APPROVAL_REJECTED] = "rejected",
    [APPROVAL_ISSUED] = "issued",
    [APPROVAL_UPSTREAM] = "upstream",
    [APPROVAL_FAILED] = "failed",
};

static enum enroll_reason
reason_from_code(const char *code)
{
	int r;

	for (r = 0; code != NULL && r < ENROLL_REASON_MAX; r++)
		if (strcmp(enroll_reason_code((enum enroll_reason)r), code) ==
		    0)
			return (enum enroll_reason)r;
	return ENROLL_BACKEND_ERROR;
}

/* The fields a state carries in the document.  0 / -1 (unreadable). */
static int
approval_fields(const char *json, struct approval_info *out)
{
	json_t *doc = json_loads(json, 0, NULL);
	const char *s;
	int rc = -1;

	if (doc == NULL)
		return -1;
	if (out->state == APPROVAL_ISSUED) {
		if ((s = json_string_value(json_object_get(doc, "serial"))) ==
		    NULL)
			goto out;
		snprintf(out->serial, sizeof(out->serial), "%s", s);
	} else if (out->state == APPROVAL_FAILED) {
		out->reason = reason_from_code(
		    json_string_value(json_object_get(doc, "reason")));
		s = json_string_value(json_object_get(doc, "detail"));
		snprintf(out->detail, sizeof(out->detail), "%s",
		    s != NULL ? s : "the CA refused the request");
	}
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
approval_lookup(
    struct store_conn *sc, const char *key, struct approval_info *out)
{
	struct store_obj o;
	int found, rc = -1;
	size_t i;

	memset(out, 0, sizeof(*out));
	memset(&o, 0, sizeof(o));
	out->state = APPROVAL_NONE;
	if ((found = store_obj_get(sc, APPROVAL_KIND, key, &o)) == 1)
		return 0;
	if (found == -1)
		return -1;
	for (i = 1; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (o.key1 != NULL && strcmp(o.key1, state_names[i]) == 0)
			break;
	if (i == sizeof(state_names) / sizeof(state_names[0]))
		goto out;
	out->state = (enum approval_state)i;
	out->version = o.version;
	if (approval_fields(o.json, out) == -1)
		goto out;
	rc = 0;
out:
	store_obj_clear(&o);
	return rc;
}

/* The document of a pending request: who asked for what, for the
 * operator deciding on it. */
static json_t *
approval_doc(const struct enroll_req *req)
{
	json_t *doc, *names = json_array();
	size_t i;

	for (i = 0; i < req->n_idents; i++)
		json_array_append_new(names, json_string(req->idents[i].value));
	unsigned char *der = NULL;
	char *b64 = NULL;
	int len;

	/* The CSR itself, so that a poll (SCEP CertPoll) can be issued
	 * from the queue once approved. */
	if (req->csr == NULL || (len = i2d_X509_REQ(req->csr, &der)) <= 0 ||
	    (b64 = encoding_b64_encode(der, (size_t)len, 0, NULL)) == NULL) {
		OPENSSL_free(der);
		json_decref(names);
		return NULL;
	}
	OPENSSL_free(der);
	doc = json_pack("{s:s?, s:s?, s:s?, s:s, s:s, s:o, s:I, s:s, s:i}",
	    "profile", req->profile, "requester", req->requester, "subject",
	    req->subject, "protocol", enroll_proto_name(req->proto),
	    "request_id", req->id, "names", names, "created",
	    (json_int_t)time(NULL), "csr", b64, "auth", (int)req->auth);
	free(b64);
	return doc;
}

static int
approval_put(struct store_txn *t, const char *key, const char *state,
    long version, json_t *doc)
{
	struct store_obj o;
	int rc;

	memset(&o, 0, sizeof(o));
	o.kind = APPROVAL_KIND;
	o.id = (char *)key;
	o.key1 = (char *)state;
	o.status = (char *)state;
	o.version = version;
	if (doc == NULL || (o.json = json_dumps(doc, JSON_COMPACT)) == NULL)
		return -1;
	rc = store_txn_put(t, &o);
	free(o.json);
	return rc;
}

int
approval_txn_create(
    struct store_txn *t, const char *key, const struct enroll_req *req)
{
	json_t *doc = approval_doc(req);
	int rc = approval_put(t, key, "pending", 0, doc);

	json_decref(doc);
	return rc;
}

int
approval_txn_issued(
    struct store_txn *t, const char *key, long version, const char *serial)
{
	json_t *doc = json_pack(
	    "{s:s, s:I}", "serial", serial, "issued", (json_int_t)time(NULL));
	int rc = approval_put(t, key, "issued", version, doc);

	json_decref(doc);
	return rc;
}

int
approval_txn_upstream(struct store_txn *t, const char *key, long version,
    const struct enroll_req *req)
{
	json_t *doc = approval_doc(req);
	int rc = approval_put(t, key, "upstream", version, doc);

	json_decref(doc);
	return rc;
}

int
approval_txn_failed(struct store_txn *t, const char *key, long version,
    enum enroll_reason reason, const char *detail)
{
	json_t *doc = json_pack("{s:s, s:s, s:I}", "reason",
	    enroll_reason_code(reason), "detail",
	    detail != NULL ? detail : "the CA refused the request", "failed",
	    (json_int_t)time(NULL));
	int rc = approval_put(t, key, "failed", version, doc);

	json_decref(doc);
	return rc;
}

int
approval_txn_forget(struct store_txn *t, const char *key)
{
	return store_txn_delete(t, APPROVAL_KIND, key);
}

static enum enroll_proto
proto_from_name(const char *name)
{
	static const enum enroll_proto all[] = {ENROLL_PROTO_EST,
	    ENROLL_PROTO_ACME, ENROLL_PROTO_SCEP, ENROLL_PROTO_CLI};
	size_t i;

	for (i = 0; name != NULL && i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(enroll_proto_name(all[i]), name) == 0)
			return all[i];
	return ENROLL_PROTO_CLI;
}

struct each_arg {
	approval_key_fn *fn;
	void *arg;
};

static int
each_one(const struct store_obj *o, void *arg)
{
	struct each_arg *ea = arg;
	json_t *doc = json_loads(o->json, 0, NULL);
	enum enroll_proto proto = proto_from_name(
	    json_string_value(json_object_get(doc, "protocol")));

	json_decref(doc);
	return ea->fn(o->id, proto, ea->arg);
}

int
approval_each_upstream(struct store_conn *sc, approval_key_fn *fn, void *arg)
{
	struct each_arg ea = {fn, arg};

	return store_obj_find(sc, APPROVAL_KIND, 1, "upstream", each_one, &ea);
}

static const char *
or_dash(const json_t *doc, const char *key)
{
	const char *v = json_string_value(json_object_get(doc, key));

	return v != NULL ? v : "-";
}

static int
print_one(const struct store_obj *o, void *arg)
{
	json_t *doc = json_loads(o->json, 0, NULL), *n;
	long age = (long)(time(NULL) - o->created);
	size_t i;

	printf("%s\t%s\t%s\t%s\t%s\t", o->id, o->key1 ? o->key1 : "-",
	    or_dash(doc, "profile"), or_dash(doc, "requester"),
	    or_dash(doc, "subject"));
	json_array_foreach(json_object_get(doc, "names"), i, n)
	    printf("%s%s", i ? "," : "", json_string_value(n));
	printf("\t%lds\n", age);
	json_decref(doc);
	return 0;
}

int
approval_list(struct store_conn *sc, const char *state)
{
	printf("key\tstate\tprofile\trequester\tsubject\tnames\tage\n");
	return store_obj_find(sc, APPROVAL_KIND, 1, state, print_one, NULL);
}

int
approval_decide(struct store_conn *sc, const char *key, int approve)
{
	struct store_obj o;
	struct store_txn *t = NULL;
	int rc = -1, found;

	memset(&o, 0, sizeof(o));
	if ((found = store_obj_get(sc, APPROVAL_KIND, key, &o)) != 0)
		return found;
	if (o.key1 == NULL || strcmp(o.key1, "pending") != 0) {
		rc = 1; /* decided already */
		goto out;
	}
	free(o.key1);
	free(o.status);
	o.key1 = strdup(approve ? "approved" : "rejected");
	o.status = strdup(o.key1 ? o.key1 : "");
	if (o.key1 == NULL || o.status == NULL ||
	    (t = store_txn_new()) == NULL || store_txn_put(t, &o) == -1)
		goto out;
	rc = store_txn_run(sc, t) == 0 ? 0 : -1;
	t = NULL;
out:
	store_txn_free(t);
	store_obj_clear(&o);
	return rc;
}

struct enroll_req *
approval_request(
    struct store_conn *sc, const char *key, enum enroll_proto proto)
{
	struct store_obj o;
	struct enroll_req *req = NULL;
	json_t *doc = NULL;
	unsigned char *der = NULL;
	const char *csr;
	size_t len = 0;

	memset(&o, 0, sizeof(o));
	if (store_obj_get(sc, APPROVAL_KIND, key, &o) != 0 ||
	    (doc = json_loads(o.json, 0, NULL)) == NULL ||
	    (csr = json_string_value(json_object_get(doc, "csr"))) == NULL ||
	    (der = encoding_b64_decode(csr, strlen(csr), &len)) == NULL ||
	    (req = enroll_req_new(proto)) == NULL)
		goto fail;
	if (enroll_req_set_profile(req,
	        json_string_value(json_object_get(doc, "profile"))) == -1 ||
	    enroll_req_set_requester(req,
	        json_string_value(json_object_get(doc, "requester")),
	        (enum enroll_auth)json_integer_value(
	            json_object_get(doc, "auth"))) == -1 ||
	    enroll_req_take_csr_der(req, der, len) != ENROLL_OK ||
	    (req->pending_key = strdup(key)) == NULL)
		goto fail;
	req->sc = sc;
	goto out;
fail:
	enroll_req_free(req);
	req = NULL;
out:
	free(der);
	json_decref(doc);
	store_obj_clear(&o);
	return req;
}
