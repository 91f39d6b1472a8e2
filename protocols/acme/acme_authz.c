/*
 * Authorizations and challenges (RFC 8555 §7.5): creation with a new
 * order, fetch and deactivation, the challenge response that starts a
 * validation (§7.5.1), and recording the validation's outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "protocols/acme/acme_int.h"

#define UPDATE_TRIES 5

static const char *const chall_names[] = {
    [ACME_HTTP_01] = "http-01",
    [ACME_DNS_01] = "dns-01",
    [ACME_TLS_ALPN_01] = "tls-alpn-01",
};

static int
chall_type(const char *name, enum acme_chall_type *out)
{
	for (size_t i = 0; i < sizeof(chall_names) / sizeof(chall_names[0]);
	     i++) {
		if (strcmp(name, chall_names[i]) == 0) {
			*out = (enum acme_chall_type)i;
			return 0;
		}
	}
	return -1;
}

static json_t *
chall_new(enum acme_chall_type type)
{
	char token[32];

	if (acme_random_id(token, sizeof(token)) == -1)
		return NULL;
	return json_pack("{s:s, s:s, s:s}", "type", chall_names[type], "token",
	    token, "status", "pending");
}

int
acme_authz_create(struct acme_req *ar, const char *order_id,
    const json_t *identifier, time_t expires, char *id_out, size_t idsz)
{
	const char *type =
	    json_string_value(json_object_get(identifier, "type"));
	const char *value =
	    json_string_value(json_object_get(identifier, "value"));
	int wildcard = strncmp(value, "*.", 2) == 0;
	json_t *doc = NULL, *challs = json_array();
	struct store_obj o;
	char exp[32];
	int rc = -1;

	if (acme_random_id(id_out, idsz) == -1)
		goto out;
	/* §7.1.4: a wildcard authorization names the base domain and is
	 * proven by dns-01 only; IP identifiers have no DNS (RFC 8738). */
	if (strcmp(type, "ip") == 0) {
		json_array_append_new(challs, chall_new(ACME_HTTP_01));
		json_array_append_new(challs, chall_new(ACME_TLS_ALPN_01));
	} else if (wildcard) {
		json_array_append_new(challs, chall_new(ACME_DNS_01));
	} else {
		json_array_append_new(challs, chall_new(ACME_HTTP_01));
		json_array_append_new(challs, chall_new(ACME_DNS_01));
		json_array_append_new(challs, chall_new(ACME_TLS_ALPN_01));
	}
	acme_time(expires, exp, sizeof(exp));
	doc = json_pack("{s:{s:s, s:s}, s:s, s:s, s:O, s:b}", "identifier",
	    "type", type, "value", wildcard ? value + 2 : value, "status",
	    "pending", "expires", exp, "challenges", challs, "wildcard",
	    wildcard);
	if (doc == NULL)
		goto out;
	memset(&o, 0, sizeof(o));
	o.kind = ACME_KIND_AUTHZ;
	o.id = id_out;
	o.key1 = ar->account.id;
	o.key2 = (char *)order_id;
	o.status = "pending";
	o.expires = expires + 30 * 86400;
	rc = acme_obj_save(ar->txn, &o, doc);
out:
	json_decref(doc);
	json_decref(challs);
	return rc;
}

/* The status a client sees: pending past its expiry is "expired". */
static const char *
authz_status(const json_t *doc)
{
	const char *s = json_string_value(json_object_get(doc, "status"));
	time_t e =
	    acme_parse_time(json_string_value(json_object_get(doc, "expires")));

	if (s != NULL && strcmp(s, "pending") == 0 && e != 0 && e <= time(NULL))
		return "expired";
	return s != NULL ? s : "invalid";
}

static json_t *
chall_render(struct acme_req *ar, const char *authz_id, const json_t *c)
{
	char url[512];
	json_t *out;

	acme_url(ar, url, sizeof(url), "chall/%s/%s", authz_id,
	    json_string_value(json_object_get(c, "type")));
	out = json_pack("{s:O, s:s, s:O, s:O}", "type",
	    json_object_get(c, "type"), "url", url, "token",
	    json_object_get(c, "token"), "status",
	    json_object_get(c, "status"));
	if (out != NULL && json_object_get(c, "validated") != NULL)
		json_object_set(
		    out, "validated", json_object_get(c, "validated"));
	if (out != NULL && json_object_get(c, "error") != NULL)
		json_object_set(out, "error", json_object_get(c, "error"));
	return out;
}

static json_t *
authz_render(struct acme_req *ar, const char *id, const json_t *doc)
{
	json_t *out, *challs = json_array();
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(doc, "challenges"), i, c)
	    json_array_append_new(challs, chall_render(ar, id, c));
	out = json_pack("{s:O, s:s, s:O, s:o}", "identifier",
	    json_object_get(doc, "identifier"), "status", authz_status(doc),
	    "expires", json_object_get(doc, "expires"), "challenges", challs);
	if (out != NULL && json_is_true(json_object_get(doc, "wildcard")))
		json_object_set_new(out, "wildcard", json_true());
	return out;
}

void
acme_authz(struct acme_req *ar, const char *id)
{
	const json_t *st = json_object_get(ar->payload, "status");
	struct store_obj o;
	json_t *doc = NULL;

	if (acme_obj_load_owned(
	        ar, ACME_KIND_AUTHZ, "authorization", id, &o, &doc) == -1)
		return;
	if (st != NULL) {
		/* §7.5.2: the client may only deactivate. */
		if (!json_is_string(st) ||
		    strcmp(json_string_value(st), "deactivated") != 0) {
			acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
			    "an authorization can only be deactivated");
			goto out;
		}
		json_object_set_new(doc, "status", json_string("deactivated"));
		free(o.status);
		o.status = strdup("deactivated");
		if (o.status == NULL || acme_obj_save(ar->txn, &o, doc) == -1) {
			acme_req_problem(
			    ar, 500, ACME_ERR_SERVER, "out of memory");
			goto out;
		}
	}
	ar->body = authz_render(ar, id, doc);
	acme_req_commit(ar);
out:
	json_decref(doc);
	store_obj_clear(&o);
}

/* A validation in flight; outlives the request that started it. */
struct validation {
	struct acme *acme;
	struct store_conn *sc;
	struct event_base *base;
	char authz_id[64];
	char type[16];
	char *detail_url;
	struct acme_challenge_req creq;
	char *ident, *token, *keyauth, *account_uri;
	char account_id[64];
	/* The outcome, kept to write it again after a conflict. */
	int ok;
	char problem[48];
	char *detail;
	int tries;
	int recorded;        /* the outcome is stored */
	struct acme_req *ar; /* the challenge POST, answered when done */
	struct acme_validation *val; /* held until the POST is committed */
};

/*
 * The challenge POST waits for its validation (bounded by the
 * validation's own timeout), so that its reply already says valid or
 * invalid and a client need not poll: RFC 8555 §7.5.1 lets the server
 * validate before it answers.  Without a recorded outcome it says
 * "processing" and the client polls as usual.
 */
static void
validation_reply(struct validation *v)
{
	struct acme_req *ar = v->ar;
	char now[32], type[96];

	v->ar = NULL;
	if (ar->body != NULL && v->recorded) {
		json_object_set_new(ar->body, "status",
		    json_string(v->ok ? "valid" : "invalid"));
		if (v->ok) {
			acme_time(time(NULL), now, sizeof(now));
			json_object_set_new(
			    ar->body, "validated", json_string(now));
		} else {
			snprintf(type, sizeof(type),
			    "urn:ietf:params:acme:error:%s", v->problem);
			json_object_set_new(ar->body, "error",
			    json_pack("{s:s, s:s, s:i}", "type", type, "detail",
			        v->detail ? v->detail : "", "status", 400));
		}
	}
	acme_req_send_now(ar);
}

static void
validation_free(struct validation *v)
{
	if (v == NULL)
		return;
	if (v->ar != NULL)
		validation_reply(v);
	acme_validation_cancel(v->val);
	free(v->ident);
	free(v->token);
	free(v->keyauth);
	free(v->account_uri);
	free(v->detail);
	free(v);
}

static int validation_record(struct validation *v);
static int validation_count_failure(struct validation *v, struct store_txn *t);

static void
validation_saved(int rc, void *arg)
{
	struct validation *v = arg;

	/* A conflict: the authorization changed meanwhile (deactivated,
	 * another challenge's result): write on top of the new version. */
	if (rc == 1 && ++v->tries < UPDATE_TRIES && validation_record(v) == 0)
		return;
	if (rc != 0)
		log_error("msg=\"acme: validation result of %s not stored\" "
		          "rc=%d",
		    v->authz_id, rc);
	else
		v->recorded = 1;
	validation_free(v);
}

/* A failed validation, counted per account for an hour (rate limit). */
static int
validation_count_failure(struct validation *v, struct store_txn *t)
{
	struct store_obj f;
	char id[32];

	if (acme_random_id(id, sizeof(id)) == -1)
		return -1;
	memset(&f, 0, sizeof(f));
	f.kind = ACME_KIND_VFAIL;
	f.id = id;
	f.key1 = v->account_id;
	f.json = "{}";
	f.expires = time(NULL) + 3600;
	return store_txn_put(t, &f);
}

/* Write the outcome into the authorization: the challenge and the
 * authorization both become valid or invalid (§7.1.6). */
static int
validation_record(struct validation *v)
{
	int ok = v->ok;
	const char *problem = v->problem, *detail = v->detail;
	struct store_obj o;
	struct store_txn *t = NULL;
	json_t *doc = NULL, *c;
	char now[32], type[96];
	size_t i;
	int rc = -1;

	if (acme_obj_load(v->sc, ACME_KIND_AUTHZ, v->authz_id, &o, &doc) != 0)
		return -1;
	if (strcmp(json_string_value(json_object_get(doc, "status")),
	        "pending") != 0) {
		/* Deactivated or decided meanwhile: nothing to record. */
		json_decref(doc);
		store_obj_clear(&o);
		validation_free(v);
		return 0;
	}
	acme_time(time(NULL), now, sizeof(now));
	json_array_foreach(json_object_get(doc, "challenges"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "type")),
		        v->type) != 0)
			continue;
		json_object_set_new(
		    c, "status", json_string(ok ? "valid" : "invalid"));
		if (ok) {
			json_object_set_new(c, "validated", json_string(now));
		} else {
			snprintf(type, sizeof(type),
			    "urn:ietf:params:acme:error:%s", problem);
			json_object_set_new(c, "error",
			    json_pack("{s:s, s:s, s:i}", "type", type, "detail",
			        detail, "status", 400));
		}
	}
	json_object_set_new(
	    doc, "status", json_string(ok ? "valid" : "invalid"));
	free(o.status);
	o.status = strdup(ok ? "valid" : "invalid");
	/* Bookkeeping like the order itself (acme_req.durable): a client
	 * whose validation a power cut undid validates again. */
	if (o.status != NULL && (t = store_txn_new()) != NULL)
		store_txn_set_light(t, 1);
	if (t != NULL && acme_obj_save(t, &o, doc) == 0 &&
	    (ok || validation_count_failure(v, t) == 0) &&
	    store_submit_txn(gateway_store(v->acme->gw), v->base, t,
	        validation_saved, v) == 0) {
		t = NULL;
		rc = 0;
	}
	store_txn_free(t);
	json_decref(doc);
	store_obj_clear(&o);
	return rc;
}

static void
validation_done(void *arg, int ok, const char *problem, const char *detail)
{
	struct validation *v = arg;
	char clean[256];

	v->val = NULL;
	log_info("msg=\"acme validation\" authz=%s type=%s ident=%s ok=%d "
	         "problem=%s detail=\"%s\"",
	    v->authz_id, v->type, v->ident, ok, ok ? "-" : problem,
	    detail ? log_sanitize(detail, strlen(detail), clean, sizeof(clean))
	           : "");
	v->ok = ok;
	snprintf(v->problem, sizeof(v->problem), "%s",
	    problem ? problem : ACME_ERR_SERVER);
	free(v->detail);
	v->detail = strdup(detail ? detail : "");
	if (v->detail == NULL || validation_record(v) == -1) {
		log_error("msg=\"acme: cannot record validation of %s\"",
		    v->authz_id);
		validation_free(v);
	}
}

/*
 * The commit that marked the challenge processing (and spent the nonce)
 * is in: let the validation, which has been resolving names meanwhile,
 * connect and answer.
 */
static void
validation_start(struct acme_req *ar, void *arg)
{
	struct validation *v = arg;

	v->ar = ar;
	ar->hold_reply = 1;
	if (v->val == NULL) {
		validation_done(
		    v, 0, "serverInternal", "the validation could not start");
		return;
	}
	acme_validation_release(v->val);
}

static struct validation *
validation_new(struct acme_req *ar, const char *authz_id, const json_t *doc,
    const json_t *chall, enum acme_chall_type type)
{
	const json_t *ident = json_object_get(doc, "identifier");
	struct validation *v;
	char tp[64], buf[256];
	json_t *jwk = NULL;
	json_t *adoc = NULL;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->acme = ar->acme;
	v->sc = ar->sc;
	v->base = http_req_base(ar->r);
	snprintf(v->authz_id, sizeof(v->authz_id), "%s", authz_id);
	snprintf(v->account_id, sizeof(v->account_id), "%s", ar->account.id);
	snprintf(v->type, sizeof(v->type), "%s", chall_names[type]);
	adoc = json_loads(ar->account.json, 0, NULL);
	jwk = adoc != NULL ? json_object_get(adoc, "jwk") : NULL;
	if (jwk == NULL || jwk_thumbprint(jwk, tp, sizeof(tp)) == -1)
		goto fail;
	snprintf(buf, sizeof(buf), "%s.%s",
	    json_string_value(json_object_get(chall, "token")), tp);
	v->ident = strdup(json_string_value(json_object_get(ident, "value")));
	v->token = strdup(json_string_value(json_object_get(chall, "token")));
	v->keyauth = strdup(buf);
	acme_url(ar, buf, sizeof(buf), "acct/%s", ar->account.id);
	v->account_uri = strdup(buf);
	if (v->ident == NULL || v->token == NULL || v->keyauth == NULL ||
	    v->account_uri == NULL)
		goto fail;
	v->creq.type = type;
	v->creq.ident_is_ip =
	    strcmp(json_string_value(json_object_get(ident, "type")), "ip") ==
	    0;
	v->creq.ident = v->ident;
	v->creq.token = v->token;
	v->creq.key_authorization = v->keyauth;
	v->creq.wildcard = json_is_true(json_object_get(doc, "wildcard"));
	v->creq.account_uri = v->account_uri;
	json_decref(adoc);
	return v;
fail:
	json_decref(adoc);
	validation_free(v);
	return NULL;
}

void
acme_challenge(struct acme_req *ar, const char *authz_id, const char *type)
{
	enum acme_chall_type ct;
	struct store_obj o;
	json_t *doc = NULL, *c = NULL, *found = NULL;
	struct validation *v;
	size_t i;

	if (chall_type(type, &ct) == -1) {
		acme_req_problem(
		    ar, 404, ACME_ERR_MALFORMED, "no such challenge");
		return;
	}
	if (acme_obj_load_owned(
	        ar, ACME_KIND_AUTHZ, "authorization", authz_id, &o, &doc) == -1)
		return;
	json_array_foreach(json_object_get(doc, "challenges"), i,
	    c) if (strcmp(json_string_value(json_object_get(c, "type")),
	               type) == 0) found = c;
	if (found == NULL) {
		acme_req_problem(ar, 404, ACME_ERR_MALFORMED,
		    "this authorization offers no %s challenge", type);
		goto out;
	}
	/* §7.5.1: a POST with {} asks for validation; POST-as-GET only
	 * reads.  Only a pending challenge of a pending authorization
	 * starts one; any other state is just reported. */
	if (ar->payload != NULL && strcmp(authz_status(doc), "pending") == 0 &&
	    strcmp(json_string_value(json_object_get(found, "status")),
	        "pending") == 0) {
		if (acme_rate_check(ar, ACME_KIND_VFAIL,
		        ar->acme->cfg.failed_validations_per_hour,
		        "failed validations") == -1)
			goto out;
		json_object_set_new(found, "status", json_string("processing"));
		if ((v = validation_new(ar, authz_id, doc, found, ct)) ==
		        NULL ||
		    acme_obj_save(ar->txn, &o, doc) == -1) {
			validation_free(v);
			acme_req_problem(
			    ar, 500, ACME_ERR_SERVER, "out of memory");
			goto out;
		}
		v->val = acme_validate_held(
		    ar->aw->validator, &v->creq, validation_done, v);
		ar->after_commit = validation_start;
		ar->after_commit_free = (void (*)(void *))validation_free;
		ar->after_commit_arg = v;
	}
	acme_url(ar, ar->link_up, sizeof(ar->link_up), "authz/%s", authz_id);
	ar->body = chall_render(ar, authz_id, found);
	acme_req_commit(ar);
out:
	json_decref(doc);
	store_obj_clear(&o);
}
