/*
 * Finalize (RFC 8555 §7.4): the CSR goes through the common pipeline
 * under the order's name in the request queue ("acme:ORDER").  When an
 * operator or an upstream CA answers later, the order is "processing"
 * with Retry-After, and each poll of it looks at the queue: issued makes
 * it valid, a refusal invalid, an approval issues now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/approval.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "protocols/acme/acme_int.h"

static char *
acme_pending_key(const char *order_id)
{
	size_t n = strlen(order_id) + 6;
	char *key = malloc(n);

	if (key != NULL)
		snprintf(key, n, "acme:%s", order_id);
	return key;
}

/* What finalize carries while the pipeline runs. */
struct finalize {
	struct acme_req *ar;
	struct store_obj order;
	json_t *doc;
	int polling;   /* a processing order polled, not a finalize */
	int with_cert; /* the order went into the certificate's commit */
};

static const char *
reason_problem(enum enroll_reason r, int *status)
{
	*status = 400;
	switch (r) {
	case ENROLL_MALFORMED:
	case ENROLL_BAD_CSR:
	case ENROLL_BAD_SIGNATURE:
	case ENROLL_VALIDITY:
		return ACME_ERR_BAD_CSR;
	case ENROLL_BAD_KEY:
		return ACME_ERR_BAD_PUBLIC_KEY;
	case ENROLL_NAME_FORBIDDEN:
	case ENROLL_WILDCARD_FORBIDDEN:
	case ENROLL_IP_FORBIDDEN:
	case ENROLL_TOO_MANY_NAMES:
	case ENROLL_NO_NAMES:
		return ACME_ERR_REJECTED_ID;
	case ENROLL_IDENT_UNSUPPORTED:
		return ACME_ERR_UNSUPPORTED_ID;
	case ENROLL_CONFLICT: /* another finalize, or the nonce reused */
		return ACME_ERR_BAD_NONCE;
	case ENROLL_UNAUTHORIZED:
		*status = 403;
		return ACME_ERR_UNAUTHORIZED;
	default:
		*status = 500;
		return ACME_ERR_SERVER;
	}
}

static void
finalize_free(struct finalize *f)
{
	json_decref(f->doc);
	store_obj_clear(&f->order);
	free(f);
}

/*
 * Record the order's new status (with its certificate's serial, or the
 * problem that made it invalid; error taken) in the request's
 * transaction.  0 / -1.
 */
static int
finalize_update(
    struct finalize *f, const char *status, const char *serial, json_t *error)
{
	json_object_set_new(f->doc, "status", json_string(status));
	if (serial != NULL)
		json_object_set_new(f->doc, "certificate", json_string(serial));
	if (error != NULL)
		json_object_set_new(f->doc, "error", error);
	free(f->order.status);
	f->order.status = strdup(status);
	if (f->order.status == NULL ||
	    acme_obj_save(f->ar->txn, &f->order, f->doc) == -1)
		return -1;
	return 0;
}

/* The reply: the order as it now stands.  Frees f. */
static void
finalize_reply(struct acme_req *ar, struct finalize *f, const char *status)
{
	if (strcmp(status, "processing") == 0)
		ar->retry_after = ar->acme->cfg.retry_after_s;
	ar->body = acme_order_render(ar, f->order.id, f->doc, status);
	acme_url(
	    ar, ar->location, sizeof(ar->location), "order/%s", f->order.id);
	finalize_free(f);
}

/* Update the order, commit and answer with it.  Frees f. */
static void
finalize_set(struct acme_req *ar, struct finalize *f, const char *status,
    const char *serial, json_t *error)
{
	if (finalize_update(f, status, serial, error) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		finalize_free(f);
		return;
	}
	finalize_reply(ar, f, status);
	acme_req_commit(ar);
}

/*
 * req->with_cert: the valid order naming the certificate, and this
 * request's nonces, commit in the certificate's own transaction; one
 * durable commit per finalize instead of two.  0 / -1.
 */
static int
finalize_with_cert(void *arg, const char *serial, struct store_txn *t)
{
	struct finalize *f = arg;

	if (finalize_update(f, "valid", serial, NULL) == -1 ||
	    acme_req_commit_into(f->ar, t) == -1)
		return -1;
	f->with_cert = 1;
	return 0;
}

/* The pipeline's answer to a finalize, or to a poll of a processing
 * order (f->polling): a refusal then makes the order invalid. */
static void
finalize_done(
    struct enroll_req *req, const struct enroll_result *res, void *arg)
{
	struct finalize *f = arg;
	struct acme_req *ar = f->ar;
	const char *type, *detail;
	int status;

	if (res->reason == ENROLL_OK && f->with_cert) {
		finalize_reply(ar, f, "valid");
		acme_req_send_now(ar);
		return;
	}
	if (res->reason == ENROLL_OK) {
		finalize_set(ar, f, "valid", res->serial, NULL);
		return;
	}
	if (res->reason == ENROLL_PENDING) {
		/* An operator or an upstream CA decides: the client polls
		 * the order (§7.4, "processing" with Retry-After). */
		finalize_set(ar, f, "processing", NULL, NULL);
		return;
	}
	type = reason_problem(res->reason, &status);
	detail = res->detail ? res->detail : enroll_reason_code(res->reason);
	if (f->polling) {
		finalize_set(ar, f, "invalid", NULL,
		    json_pack("{s:s, s:s, s:i}", "type", type, "detail", detail,
		        "status", status));
		return;
	}
	acme_req_problem(ar, status, type, "%s", detail);
	finalize_free(f);
}

/* The CSR must name exactly the order's identifiers (§7.4). */
static int
csr_matches(const struct enroll_req *req, const json_t *idents)
{
	const json_t *e;
	size_t i, j, n = 0;

	json_array_foreach(idents, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *v = json_string_value(json_object_get(e, "value"));
		enum ident_type want =
		    strcmp(t, "ip") == 0 ? IDENT_IP : IDENT_DNS;

		for (j = 0; j < req->n_idents; j++)
			if (req->idents[j].type == want &&
			    strcmp(req->idents[j].value, v) == 0)
				break;
		if (j == req->n_idents)
			return 0;
		n++;
	}
	return n == req->n_idents;
}

/* Build the enrollment of a finalize.  NULL after a problem reply. */
static struct enroll_req *
finalize_req(struct acme_req *ar, const char *order_id, const json_t *doc)
{
	const char *csr =
	    json_string_value(json_object_get(ar->payload, "csr"));
	struct enroll_req *req = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	char who[64];

	snprintf(who, sizeof(who), "acme:%s", ar->account.id);
	if (csr == NULL ||
	    (der = encoding_b64url_decode(csr, strlen(csr), &len)) == NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "finalize needs \"csr\", base64url DER (RFC 8555 §7.4)");
		return NULL;
	}
	if ((req = enroll_req_new(ENROLL_PROTO_ACME)) == NULL ||
	    enroll_req_set_requester(req, who, ENROLL_AUTH_ACCOUNT) == -1 ||
	    enroll_req_set_profile(req,
	        json_string_value(json_object_get(doc, "profile"))) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		goto fail;
	}
	snprintf(req->id, sizeof(req->id), "%s", http_req_id(ar->r));
	if (enroll_req_take_csr_der(req, der, len) != ENROLL_OK) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_CSR,
		    "the CSR is not one DER PKCS#10 request");
		goto fail;
	}
	if (!csr_matches(req, json_object_get(doc, "identifiers"))) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_CSR,
		    "the CSR must name exactly the order's identifiers");
		goto fail;
	}
	if (req->csr_key != NULL && EVP_PKEY_eq(req->csr_key, ar->key) == 1) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_CSR,
		    "the certificate key must not be the account key");
		goto fail;
	}
	/* An approval or an upstream CA may answer later: the order is the
	 * request's name in the queue. */
	if ((req->pending_key = acme_pending_key(order_id)) == NULL) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		goto fail;
	}
	req->sc = ar->sc;
	free(der);
	return req;
fail:
	free(der);
	enroll_req_free(req);
	return NULL;
}

void
acme_finalize(struct acme_req *ar, const char *id)
{
	struct finalize *f;
	struct enroll_req *req;
	char status[16];

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	f->ar = ar;
	if (acme_obj_load_owned(
	        ar, ACME_KIND_ORDER, "order", id, &f->order, &f->doc) == -1) {
		free(f);
		return;
	}
	if (acme_order_status(ar->sc, f->doc,
	        acme_parse_time(
	            json_string_value(json_object_get(f->doc, "expires"))),
	        status, sizeof(status)) == -1 ||
	    strcmp(status, "ready") != 0) {
		acme_req_problem(ar, 403, ACME_ERR_ORDER_NOT_READY,
		    "the order is %s, not ready (RFC 8555 §7.4)", status);
		finalize_free(f);
		return;
	}
	if ((req = finalize_req(ar, f->order.id, f->doc)) == NULL) {
		finalize_free(f);
		return;
	}
	req->with_cert = finalize_with_cert;
	req->with_cert_arg = f;
	/* The order's status is "ready" in storage: set it only when the
	 * certificate exists, in the same transaction as the reply.
	 * finalize_done may run (and end ar) before this returns, so the
	 * job handle is not kept: the pipeline finishes on its own. */
	(void)enroll_submit(
	    ar->acme->gw, http_req_base(ar->r), req, finalize_done, f);
}

void
acme_order_processing(struct acme_req *ar, struct store_obj *o, json_t *doc)
{
	struct approval_info info;
	struct enroll_req *req;
	struct finalize *f;
	char *key = acme_pending_key(o->id);

	if ((f = calloc(1, sizeof(*f))) == NULL || key == NULL) {
		free(f);
		free(key);
		json_decref(doc);
		store_obj_clear(o);
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	f->ar = ar;
	f->order = *o;
	f->doc = doc;
	f->polling = 1;
	memset(o, 0, sizeof(*o));
	if (approval_lookup(ar->sc, key, &info) == -1) {
		free(key);
		finalize_free(f);
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		return;
	}
	switch (info.state) {
	case APPROVAL_PENDING:
	case APPROVAL_UPSTREAM:
		free(key);
		finalize_set(ar, f, "processing", NULL, NULL);
		return;
	case APPROVAL_ISSUED:
		free(key);
		finalize_set(ar, f, "valid", info.serial, NULL);
		return;
	case APPROVAL_FAILED:
	case APPROVAL_REJECTED: {
		const char *type;
		int status;

		free(key);
		if (info.state == APPROVAL_REJECTED) {
			info.reason = ENROLL_UNAUTHORIZED;
			snprintf(info.detail, sizeof(info.detail),
			    "rejected by an operator");
		}
		type = reason_problem(info.reason, &status);
		finalize_set(ar, f, "invalid", NULL,
		    json_pack("{s:s, s:s, s:i}", "type", type, "detail",
		        info.detail, "status", status));
		return;
	}
	case APPROVAL_NONE:
		/* Forgotten: the upstream CA was unreachable. */
		free(key);
		finalize_set(ar, f, "invalid", NULL,
		    json_pack("{s:s, s:s, s:i}", "type", ACME_ERR_SERVER,
		        "detail",
		        "the CA could not be reached; place a new order",
		        "status", 500));
		return;
	default:
		break;
	}
	/* Approved by an operator: issue now, through the pipeline. */
	req = approval_request(ar->sc, key, ENROLL_PROTO_ACME);
	free(key);
	if (req == NULL) {
		finalize_free(f);
		acme_req_problem(ar, 500, ACME_ERR_SERVER,
		    "the queued request cannot be read");
		return;
	}
	snprintf(req->id, sizeof(req->id), "%s", http_req_id(ar->r));
	(void)enroll_submit(
	    ar->acme->gw, http_req_base(ar->r), req, finalize_done, f);
}
