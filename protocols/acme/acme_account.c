/*
 * Accounts (RFC 8555 §7.3): newAccount with onlyReturnExisting and
 * External Account Binding (§7.3.4), fetch, update and deactivation
 * (§7.3.2, §7.3.6), and key rollover (§7.3.5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "core/log.h"
#include "protocols/acme/acme_int.h"

#define MAX_CONTACTS 10

struct find_first {
	char id[130];
	char status[32];
};

static int
first_match(const struct store_obj *o, void *arg)
{
	struct find_first *f = arg;

	snprintf(f->id, sizeof(f->id), "%s", o->id);
	snprintf(
	    f->status, sizeof(f->status), "%s", o->status ? o->status : "");
	return -1; /* the first is enough */
}

/* The account whose key has this thumbprint: 0 found (f filled), 1 none,
 * -1 error. */
static int
account_by_thumbprint(
    struct store_conn *sc, const char *tp, struct find_first *f)
{
	memset(f, 0, sizeof(*f));
	if (store_obj_find(sc, ACME_KIND_ACCOUNT, 1, tp, first_match, f) ==
	        -1 &&
	    f->id[0] == '\0')
		return -1;
	return f->id[0] != '\0' ? 0 : 1;
}

/* §7.3: the client-visible account object. */
static json_t *
account_render(struct acme_req *ar, const char *id, const json_t *doc)
{
	char url[512];
	json_t *out;

	acme_url(ar, url, sizeof(url), "acct/%s/orders", id);
	out = json_pack("{s:O, s:s}", "status", json_object_get(doc, "status"),
	    "orders", url);
	if (out == NULL)
		return NULL;
	json_object_set_new(out, "contact",
	    json_object_get(doc, "contact")
	        ? json_incref(json_object_get(doc, "contact"))
	        : json_array());
	if (json_object_get(doc, "termsOfServiceAgreed") != NULL)
		json_object_set(out, "termsOfServiceAgreed",
		    json_object_get(doc, "termsOfServiceAgreed"));
	return out;
}

/* §7.3: mailto: URLs only, one address, no header fields.  0, or -1
 * after a problem reply. */
static int
check_contacts(struct acme_req *ar, const json_t *contact)
{
	const json_t *c;
	const char *s, *at;
	size_t i;

	if (contact == NULL)
		return 0;
	if (!json_is_array(contact) ||
	    json_array_size(contact) > MAX_CONTACTS) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "contact must be an array of at most %d URLs",
		    MAX_CONTACTS);
		return -1;
	}
	json_array_foreach(contact, i, c)
	{
		if (!json_is_string(c) || json_string_length(c) > 254) {
			acme_req_problem(ar, 400, ACME_ERR_CONTACT,
			    "contact[%zu] is not a URL string", i);
			return -1;
		}
		s = json_string_value(c);
		if (strncmp(s, "mailto:", 7) != 0) {
			acme_req_problem(ar, 400, ACME_ERR_UNSUPPORTED_CONTACT,
			    "only mailto: contacts are supported");
			return -1;
		}
		at = strchr(s + 7, '@');
		if (at == NULL || at == s + 7 || at[1] == '\0' ||
		    strpbrk(s + 7, "?,; <>\"") != NULL) {
			acme_req_problem(ar, 400, ACME_ERR_CONTACT,
			    "contact[%zu] is not a single mailto: address", i);
			return -1;
		}
	}
	return 0;
}

/*
 * §7.3.4: the binding must be an HMAC JWS by a key we issued, over this
 * request's jwk, for this URL, not used before.  Records the binding in
 * ar->txn.  0, or -1 after a problem reply.
 */
static int
check_eab(struct acme_req *ar, const json_t *eab, const char *account_id)
{
	struct store_obj o;
	struct jws *inner = NULL;
	json_t *doc = NULL, *bound = NULL;
	unsigned char *key = NULL;
	size_t keylen = 0, plen;
	enum jws_error e;
	char msg[256];
	int rc = -1, found;
	const unsigned char *p;

	memset(&o, 0, sizeof(o));
	if ((inner = jws_parse_json(eab, 1, &e, msg, sizeof(msg))) == NULL ||
	    jws_kid(inner) == NULL || jws_nonce(inner) != NULL ||
	    strncmp(jws_alg(inner), "HS", 2) != 0) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "externalAccountBinding must be an HS256/384/512 JWS with "
		    "a kid and no nonce (RFC 8555 §7.3.4)");
		goto out;
	}
	if (strcmp(jws_url(inner), ar->url) != 0) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "externalAccountBinding url must be the newAccount URL");
		goto out;
	}
	found = acme_obj_load(ar->sc, ACME_KIND_EAB, jws_kid(inner), &o, &doc);
	if (found != 0 || o.key1 != NULL) {
		acme_req_problem(ar, 400, ACME_ERR_UNAUTHORIZED,
		    "unknown or already used external account key id");
		goto out;
	}
	key = encoding_b64url_decode(
	    json_string_value(json_object_get(doc, "hmac_key")),
	    json_string_length(json_object_get(doc, "hmac_key")), &keylen);
	if (key == NULL || jws_verify_hmac(inner, key, keylen) != JWS_OK) {
		acme_req_problem(ar, 400, ACME_ERR_UNAUTHORIZED,
		    "externalAccountBinding signature does not verify");
		goto out;
	}
	p = jws_payload(inner, &plen);
	bound = json_loadb((const char *)p, plen, 0, NULL);
	if (bound == NULL || !json_equal(bound, jws_jwk(ar->jws))) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "externalAccountBinding payload must be the account jwk");
		goto out;
	}
	/* Bind: key1 = the account, so the key id cannot be used again. */
	free(o.status);
	o.key1 = strdup(account_id);
	o.status = strdup("bound");
	if (o.key1 == NULL || o.status == NULL ||
	    store_txn_put(ar->txn, &o) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (key != NULL)
		OPENSSL_cleanse(key, keylen);
	free(key);
	json_decref(bound);
	json_decref(doc);
	jws_free(inner);
	store_obj_clear(&o);
	return rc;
}

static void
reply_existing(struct acme_req *ar, const char *id)
{
	struct store_obj o;
	json_t *doc = NULL;

	if (acme_obj_load(ar->sc, ACME_KIND_ACCOUNT, id, &o, &doc) != 0) {
		acme_req_problem(
		    ar, 500, ACME_ERR_SERVER, "account lookup failed");
		return;
	}
	acme_url(ar, ar->location, sizeof(ar->location), "acct/%s", id);
	ar->body = account_render(ar, id, doc);
	ar->status = 200;
	json_decref(doc);
	store_obj_clear(&o);
	ar->durable = 1;
	acme_req_commit(ar);
}

void
acme_new_account(struct acme_req *ar)
{
	const json_t *p = ar->payload;
	const json_t *eab = json_object_get(p, "externalAccountBinding");
	struct find_first f;
	struct store_obj o;
	char id[32], now[32];
	json_t *doc;
	int found;

	if ((found = account_by_thumbprint(ar->sc, ar->thumbprint, &f)) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		return;
	}
	if (found == 0) {
		if (strcmp(f.status, "valid") != 0) {
			acme_req_problem(ar, 401, ACME_ERR_UNAUTHORIZED,
			    "the account of this key is %s", f.status);
			return;
		}
		reply_existing(ar, f.id);
		return;
	}
	if (json_is_true(json_object_get(p, "onlyReturnExisting"))) {
		acme_req_problem(ar, 400, ACME_ERR_NO_ACCOUNT,
		    "no account exists with this key");
		return;
	}
	if (ar->acme->cfg.terms_of_service != NULL &&
	    !json_is_true(json_object_get(p, "termsOfServiceAgreed"))) {
		acme_req_problem(ar, 403, ACME_ERR_USER_ACTION,
		    "the terms of service (%s) must be agreed to",
		    ar->acme->cfg.terms_of_service);
		return;
	}
	if (check_contacts(ar, json_object_get(p, "contact")) == -1)
		return;
	if (acme_random_id(id, sizeof(id)) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of randomness");
		return;
	}
	if (eab == NULL && ar->acme->cfg.eab_required) {
		acme_req_problem(ar, 400, ACME_ERR_EAB_REQUIRED,
		    "this server requires an external account binding "
		    "(RFC 8555 §7.3.4)");
		return;
	}
	if (eab != NULL && check_eab(ar, eab, id) == -1)
		return;
	acme_time(time(NULL), now, sizeof(now));
	doc = json_pack("{s:s, s:O, s:s}", "status", "valid", "jwk",
	    jws_jwk(ar->jws), "createdAt", now);
	if (doc == NULL) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	json_object_set_new(doc, "contact",
	    json_object_get(p, "contact")
	        ? json_incref(json_object_get(p, "contact"))
	        : json_array());
	json_object_set_new(doc, "termsOfServiceAgreed",
	    json_boolean(
	        json_is_true(json_object_get(p, "termsOfServiceAgreed"))));
	memset(&o, 0, sizeof(o));
	o.kind = ACME_KIND_ACCOUNT;
	o.id = id;
	o.key1 = ar->thumbprint;
	o.status = "valid";
	if (acme_obj_save(ar->txn, &o, doc) == -1) {
		json_decref(doc);
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	ar->status = 201;
	acme_url(ar, ar->location, sizeof(ar->location), "acct/%s", id);
	ar->body = account_render(ar, id, doc);
	json_decref(doc);
	log_info("req=%s acme new account %s", acme_req_id(ar), id);
	ar->durable = 1;
	acme_req_commit(ar);
}

/* 1 when the request is signed by the account `id` itself. */
static int
own_account(struct acme_req *ar, const char *id)
{
	return ar->account.id != NULL && strcmp(ar->account.id, id) == 0;
}

void
acme_account(struct acme_req *ar, const char *id)
{
	const json_t *p = ar->payload, *status;
	json_t *doc = NULL;
	struct store_obj o;

	if (!own_account(ar, id)) {
		acme_req_problem(ar, 401, ACME_ERR_UNAUTHORIZED,
		    "an account can only be read or changed by its own key");
		return;
	}
	if (acme_obj_load(ar->sc, ACME_KIND_ACCOUNT, id, &o, &doc) != 0) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		return;
	}
	status = json_object_get(p, "status");
	if (status != NULL &&
	    (!json_is_string(status) ||
	        strcmp(json_string_value(status), "deactivated") != 0)) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "an account's status can only be set to \"deactivated\"");
		goto out;
	}
	if (json_object_get(p, "contact") != NULL &&
	    check_contacts(ar, json_object_get(p, "contact")) == -1)
		goto out;
	if (p != NULL && (status != NULL || json_object_get(p, "contact"))) {
		if (status != NULL) {
			json_object_set_new(
			    doc, "status", json_string("deactivated"));
			free(o.status);
			o.status = strdup("deactivated");
		}
		if (json_object_get(p, "contact") != NULL)
			json_object_set(
			    doc, "contact", json_object_get(p, "contact"));
		if (acme_obj_save(ar->txn, &o, doc) == -1) {
			acme_req_problem(
			    ar, 500, ACME_ERR_SERVER, "out of memory");
			goto out;
		}
	}
	ar->body = account_render(ar, id, doc);
	ar->durable = 1;
	acme_req_commit(ar);
out:
	json_decref(doc);
	store_obj_clear(&o);
}

/* §7.3.5 checks of the inner JWS; its new key in *newkey.  0 / -1. */
static int
key_change_inner(struct acme_req *ar, struct jws **inner, EVP_PKEY **newkey,
    char *tp, size_t tpsz)
{
	const json_t *ip;
	json_t *payload = NULL, *oldjwk = NULL;
	enum jws_error e;
	char msg[256];
	int rc = -1;

	if (ar->payload == NULL ||
	    (*inner = jws_parse_json(ar->payload, 0, &e, msg, sizeof(msg))) ==
	        NULL ||
	    jws_jwk(*inner) == NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "keyChange payload must be a JWS signed with the new jwk");
		goto out;
	}
	if (strcmp(jws_url(*inner), ar->url) != 0) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "inner JWS url must equal the outer url");
		goto out;
	}
	if ((*newkey = jwk_to_pkey(jws_jwk(*inner), &e, msg, sizeof(msg))) ==
	        NULL ||
	    jws_verify(*inner, *newkey) != JWS_OK) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "inner JWS does not verify with its jwk");
		goto out;
	}
	payload = jws_payload_json(*inner);
	ip = payload;
	oldjwk = jwk_from_pkey(ar->key);
	if (ip == NULL || !json_is_string(json_object_get(ip, "account")) ||
	    strcmp(json_string_value(json_object_get(ip, "account")),
	        jws_kid(ar->jws)) != 0 ||
	    oldjwk == NULL ||
	    !json_equal(json_object_get(ip, "oldKey"), oldjwk)) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "inner payload must name this account and its old key");
		goto out;
	}
	if (jwk_thumbprint(jws_jwk(*inner), tp, tpsz) == -1) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_PUBLIC_KEY,
		    "cannot compute the new key's thumbprint");
		goto out;
	}
	rc = 0;
out:
	json_decref(payload);
	json_decref(oldjwk);
	return rc;
}

void
acme_key_change(struct acme_req *ar)
{
	struct jws *inner = NULL;
	EVP_PKEY *newkey = NULL;
	json_t *doc = NULL;
	struct find_first f;
	struct store_obj o;
	char tp[64], url[512];

	memset(&o, 0, sizeof(o));
	if (ar->account.id == NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "keyChange is signed with the account's kid");
		goto out;
	}
	if (key_change_inner(ar, &inner, &newkey, tp, sizeof(tp)) == -1)
		goto out;
	if (account_by_thumbprint(ar->sc, tp, &f) == 0) {
		acme_url(ar, url, sizeof(url), "acct/%s", f.id);
		snprintf(ar->location, sizeof(ar->location), "%s", url);
		acme_req_problem(ar, 409, ACME_ERR_MALFORMED,
		    "the new key is already in use by an account");
		goto out;
	}
	if (acme_obj_load(
	        ar->sc, ACME_KIND_ACCOUNT, ar->account.id, &o, &doc) != 0) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
		goto out;
	}
	json_object_set(doc, "jwk", (json_t *)jws_jwk(inner));
	free(o.key1);
	if ((o.key1 = strdup(tp)) == NULL ||
	    acme_obj_save(ar->txn, &o, doc) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		goto out;
	}
	ar->body = account_render(ar, o.id, doc);
	ar->durable = 1;
	acme_req_commit(ar);
out:
	json_decref(doc);
	store_obj_clear(&o);
	jws_free(inner);
	EVP_PKEY_free(newkey);
}
