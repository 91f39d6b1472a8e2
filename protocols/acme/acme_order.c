/*
 * Orders (RFC 8555 §7.4): newOrder with dns and ip identifiers (RFC
 * 8738) judged by policy at once, order fetch with the status derived
 * from its authorizations, and the account's order list (§7.1.2.1).
 * Finalize is acme_finalize.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "policy/policy.h"
#include "protocols/acme/acme_int.h"

int
acme_order_status(struct store_conn *sc, const json_t *order, time_t expires,
    char *status, size_t statussz)
{
	const char *stored =
	    json_string_value(json_object_get(order, "status"));
	const json_t *authzs = json_object_get(order, "authorizations"), *a;
	int all_valid = 1;
	size_t i;

	snprintf(status, statussz, "%s", stored ? stored : "invalid");
	if (stored == NULL || strcmp(stored, "pending") != 0)
		return 0;
	if (expires != 0 && expires <= time(NULL)) {
		snprintf(status, statussz, "invalid");
		return 0;
	}
	json_array_foreach(authzs, i, a)
	{
		struct store_obj o;
		int found;

		memset(&o, 0, sizeof(o));
		found = store_obj_get(
		    sc, ACME_KIND_AUTHZ, json_string_value(a), &o);
		if (found == -1)
			return -1;
		if (found == 1 || o.status == NULL ||
		    strcmp(o.status, "invalid") == 0 ||
		    strcmp(o.status, "deactivated") == 0 ||
		    strcmp(o.status, "revoked") == 0) {
			store_obj_clear(&o);
			snprintf(status, statussz, "invalid");
			return 0;
		}
		if (strcmp(o.status, "valid") != 0)
			all_valid = 0;
		store_obj_clear(&o);
	}
	if (all_valid)
		snprintf(status, statussz, "ready");
	return 0;
}

/* §7.1.3: the client-visible order. */
json_t *
acme_order_render(
    struct acme_req *ar, const char *id, const json_t *doc, const char *status)
{
	const json_t *a;
	json_t *out, *urls = json_array();
	char url[512];
	size_t i;

	json_array_foreach(json_object_get(doc, "authorizations"), i, a)
	{
		acme_url(
		    ar, url, sizeof(url), "authz/%s", json_string_value(a));
		json_array_append_new(urls, json_string(url));
	}
	acme_url(ar, url, sizeof(url), "order/%s/finalize", id);
	out = json_pack("{s:s, s:O, s:O, s:o, s:s}", "status", status,
	    "expires", json_object_get(doc, "expires"), "identifiers",
	    json_object_get(doc, "identifiers"), "authorizations", urls,
	    "finalize", url);
	if (out == NULL)
		return NULL;
	if (json_object_get(doc, "certificate") != NULL) {
		acme_url(ar, url, sizeof(url), "cert/%s",
		    json_string_value(json_object_get(doc, "certificate")));
		json_object_set_new(out, "certificate", json_string(url));
	}
	if (json_object_get(doc, "error") != NULL)
		json_object_set(out, "error", json_object_get(doc, "error"));
	if (json_object_get(doc, "profile") != NULL)
		json_object_set(
		    out, "profile", json_object_get(doc, "profile"));
	if (json_object_get(doc, "replaces") != NULL)
		json_object_set(
		    out, "replaces", json_object_get(doc, "replaces"));
	return out;
}

/* Canonical identifier value: DNS lower-case, IP as inet_ntop writes
 * it.  0, or -1 when the value is not of its type. */
static int
canonical_ident(const char *type, const char *value, char *out, size_t outsz)
{
	unsigned char ip[16];
	size_t i;

	if (strcmp(type, "ip") == 0) {
		if (inet_pton(AF_INET, value, ip) == 1)
			return inet_ntop(AF_INET, ip, out, outsz) ? 0 : -1;
		if (inet_pton(AF_INET6, value, ip) == 1)
			return inet_ntop(AF_INET6, ip, out, outsz) ? 0 : -1;
		return -1;
	}
	if (strlen(value) >= outsz || value[0] == '\0')
		return -1;
	for (i = 0; value[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)value[i]);
	out[i] = '\0';
	return 0;
}

/*
 * The payload's identifiers, canonical and without duplicates, in
 * *idents (caller decrefs).  0, or -1 after a problem reply.
 */
static int
order_identifiers(struct acme_req *ar, json_t **idents)
{
	const json_t *list = json_object_get(ar->payload, "identifiers"), *e;
	char value[300];
	json_t *out = json_array(), *id;
	size_t i, j;

	*idents = NULL;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > ACME_MAX_IDENTS) {
		json_decref(out);
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "identifiers must be an array of 1 to %d objects",
		    ACME_MAX_IDENTS);
		return -1;
	}
	json_array_foreach(list, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *v = json_string_value(json_object_get(e, "value"));

		if (t == NULL || v == NULL) {
			json_decref(out);
			acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
			    "identifiers[%zu] needs a type and a value", i);
			return -1;
		}
		if (strcmp(t, "dns") != 0 && strcmp(t, "ip") != 0) {
			json_decref(out);
			acme_req_problem(ar, 400, ACME_ERR_UNSUPPORTED_ID,
			    "identifier type \"%.32s\" is not supported "
			    "(dns, ip)",
			    t);
			return -1;
		}
		if (canonical_ident(t, v, value, sizeof(value)) == -1) {
			json_decref(out);
			acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
			    "identifiers[%zu] is not a valid %s value", i, t);
			return -1;
		}
		json_array_foreach(
		    out, j, id) if (strcmp(json_string_value(json_object_get(id,
		                               "value")),
		                        value) == 0) break;
		if (j == json_array_size(out))
			json_array_append_new(out,
			    json_pack("{s:s, s:s}", "type", t, "value", value));
	}
	*idents = out;
	return 0;
}

/* RFC 8555 §7.4: each identifier judged by policy, subproblems per
 * refused one.  0, or -1 after a problem reply. */
static int
order_policy(
    struct acme_req *ar, const struct profile *prof, const json_t *idents)
{
	struct policy_decision d;
	struct enroll_req *req = NULL;
	json_t *subs = json_array();
	const json_t *e;
	char who[64];
	size_t i;

	snprintf(who, sizeof(who), "acme:%s", ar->account.id);
	json_array_foreach(idents, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *v = json_string_value(json_object_get(e, "value"));

		enroll_req_free(req);
		if ((req = enroll_req_new(ENROLL_PROTO_ACME)) == NULL ||
		    enroll_req_set_requester(req, who, ENROLL_AUTH_ACCOUNT) ==
		        -1 ||
		    enroll_req_add_ident(req,
		        strcmp(t, "ip") == 0 ? IDENT_IP : IDENT_DNS, v) == -1)
			goto oom;
		if (policy_check_identifiers(prof, req, &d) != RC_OK)
			json_array_append_new(subs,
			    json_pack("{s:s, s:s, s:O}", "type",
			        "urn:ietf:params:acme:error:rejectedIdentifier",
			        "detail", d.detail, "identifier", e));
	}
	enroll_req_free(req);
	if (json_array_size(subs) == 0) {
		json_decref(subs);
		return 0;
	}
	acme_req_problem_sub(ar, 400, ACME_ERR_REJECTED_ID, subs,
	    "policy forbids issuing for one or more identifiers");
	return -1;
oom:
	enroll_req_free(req);
	json_decref(subs);
	acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
	return -1;
}

/* The profile of a new order: payload "profile", else the path's. */
static const char *
order_profile(struct acme_req *ar)
{
	const json_t *p = json_object_get(ar->payload, "profile");

	if (p == NULL)
		return ar->profile;
	if (!json_is_string(p) ||
	    !acme_profile_allowed(ar->acme, json_string_value(p))) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "unknown profile; the directory's meta.profiles lists "
		    "them");
		return NULL;
	}
	return json_string_value(p);
}

/* RFC 9773 §5: "replaces" names a certificate of this account.  0, or
 * -1 after a problem reply. */
static int
order_replaces(struct acme_req *ar)
{
	const json_t *r = json_object_get(ar->payload, "replaces");
	struct cert_record rec;
	char who[64];
	int ok;

	snprintf(who, sizeof(who), "acme:%s", ar->account.id);
	ok = json_is_string(r) &&
	    acme_certid_lookup(ar->sc, json_string_value(r), &rec) == 0;
	ok = ok && rec.requester != NULL && strcmp(rec.requester, who) == 0;
	if (json_is_string(r))
		cert_record_clear(&rec);
	if (ok)
		return 0;
	acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
	    "replaces must name a certificate of this account "
	    "(RFC 9773 §5)");
	return -1;
}

void
acme_new_order(struct acme_req *ar)
{
	const struct profile *prof;
	const char *pname;
	json_t *idents = NULL, *authzs = NULL, *doc = NULL;
	const json_t *e;
	struct store_obj o;
	char id[32], aid[32], exp[32];
	time_t expires = time(NULL) + ar->acme->cfg.order_lifetime_s;
	size_t i;

	if (ar->payload == NULL || json_object_get(ar->payload, "notBefore") ||
	    json_object_get(ar->payload, "notAfter")) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "newOrder needs identifiers; notBefore and notAfter are "
		    "not supported");
		return;
	}
	if ((pname = order_profile(ar)) == NULL)
		return;
	prof = policy_profile(gateway_policy(ar->acme->gw), pname);
	if (order_identifiers(ar, &idents) == -1)
		return;
	if (order_policy(ar, prof, idents) == -1 ||
	    acme_rate_check(ar, ACME_KIND_ORDER, ar->acme->cfg.orders_per_hour,
	        "new orders") == -1)
		goto out;
	if (acme_random_id(id, sizeof(id)) == -1)
		goto oom;
	authzs = json_array();
	json_array_foreach(idents, i, e)
	{
		if (acme_authz_create(ar, id, e, expires, aid, sizeof(aid)) ==
		    -1)
			goto oom;
		json_array_append_new(authzs, json_string(aid));
	}
	acme_time(expires, exp, sizeof(exp));
	doc = json_pack("{s:s, s:s, s:O, s:O, s:s}", "status", "pending",
	    "expires", exp, "identifiers", idents, "authorizations", authzs,
	    "profile", pname);
	if (doc == NULL)
		goto oom;
	if (json_object_get(ar->payload, "replaces") != NULL) {
		if (order_replaces(ar) == -1)
			goto out;
		json_object_set(
		    doc, "replaces", json_object_get(ar->payload, "replaces"));
	}
	memset(&o, 0, sizeof(o));
	o.kind = ACME_KIND_ORDER;
	o.id = id;
	o.key1 = ar->account.id;
	o.status = "pending";
	o.expires = expires + 30 * 86400; /* kept a while after */
	if (acme_obj_save(ar->txn, &o, doc) == -1)
		goto oom;
	ar->status = 201;
	acme_url(ar, ar->location, sizeof(ar->location), "order/%s", id);
	ar->body = acme_order_render(ar, id, doc, "pending");
	acme_req_commit(ar);
	goto out;
oom:
	acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
out:
	json_decref(idents);
	json_decref(authzs);
	json_decref(doc);
}

void
acme_order(struct acme_req *ar, const char *id)
{
	struct store_obj o;
	json_t *doc = NULL;
	char status[16];

	if (acme_obj_load_owned(ar, ACME_KIND_ORDER, "order", id, &o, &doc) ==
	    -1)
		return;
	if (acme_order_status(ar->sc, doc,
	        acme_parse_time(
	            json_string_value(json_object_get(doc, "expires"))),
	        status, sizeof(status)) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		goto out;
	}
	if (strcmp(status, "processing") == 0) {
		/* Takes o and doc. */
		acme_order_processing(ar, &o, doc);
		return;
	}
	ar->body = acme_order_render(ar, id, doc, status);
	acme_req_commit(ar);
out:
	json_decref(doc);
	store_obj_clear(&o);
}

struct order_list {
	struct acme_req *ar;
	json_t *urls;
};

static int
list_one(const struct store_obj *o, void *arg)
{
	struct order_list *l = arg;
	char url[512];

	acme_url(l->ar, url, sizeof(url), "order/%s", o->id);
	json_array_append_new(l->urls, json_string(url));
	return 0;
}

void
acme_orders_list(struct acme_req *ar, const char *account_id)
{
	struct order_list l = {ar, json_array()};

	if (ar->account.id == NULL || strcmp(ar->account.id, account_id) != 0) {
		json_decref(l.urls);
		acme_req_problem(ar, 401, ACME_ERR_UNAUTHORIZED,
		    "only the account itself may list its orders");
		return;
	}
	if (store_obj_find(
	        ar->sc, ACME_KIND_ORDER, 1, account_id, list_one, &l) == -1) {
		json_decref(l.urls);
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		return;
	}
	ar->body = json_pack("{s:o}", "orders", l.urls);
	acme_req_commit(ar);
}
