/*
 * One ACME request: URL and nonce bookkeeping, JWS authentication
 * (RFC 8555 §6.2-6.5), problem documents (§6.7) and the commit that
 * makes a reply's writes durable before the reply leaves.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/encoding.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "core/rand_pool.h"
#include "protocols/acme/acme_int.h"

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"

static void acme_req_send(struct acme_req *ar);

int
acme_random_id(char *out, size_t outsz)
{
	unsigned char rnd[16];
	char *b64;

	if (rand_pool_bytes(rnd, sizeof(rnd)) == -1 ||
	    (b64 = encoding_b64url_encode(rnd, sizeof(rnd))) == NULL)
		return -1;
	snprintf(out, outsz, "%s", b64);
	free(b64);
	return 0;
}

void
acme_time(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t
acme_parse_time(const char *s)
{
	struct tm tm;
	char z = 0;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon,
	        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z) != 7 ||
	    z != 'Z')
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

void
acme_url(
    const struct acme_req *ar, char *out, size_t outsz, const char *fmt, ...)
{
	char rest[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	snprintf(out, outsz, "%s/%s", ar->base, rest);
}

/* Host header: a name or address and a port, nothing else. */
static int
host_ok(const char *h)
{
	size_t n = 0;

	for (; h[n] != '\0'; n++)
		if (!isalnum((unsigned char)h[n]) &&
		    strchr(".-:[]", h[n]) == NULL)
			return 0;
	return n > 0 && n < 200;
}

static void
acme_req_abort(struct http_req *r, void *arg)
{
	struct acme_req *ar = arg;

	/* The commit in flight still completes; then ar is only freed. */
	http_reply_text(r, 503, "client went away");
	ar->r = NULL;
}

struct acme_req *
acme_req_new(struct acme *acme, struct http_req *r)
{
	const char *host = http_req_header(r, "Host");
	struct acme_req *ar;

	if ((ar = calloc(1, sizeof(*ar))) == NULL ||
	    (ar->txn = store_txn_new()) == NULL) {
		free(ar);
		http_reply_text(r, 500, "out of memory");
		return NULL;
	}
	ar->acme = acme;
	ar->r = r;
	ar->aw = http_req_worker_state(r);
	ar->sc = worker_store_conn(http_req_worker(r));
	ar->status = 200;
	snprintf(
	    ar->profile, sizeof(ar->profile), "%s", acme->cfg.default_profile);
	if (host == NULL || !host_ok(host)) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "a Host header naming this server is required");
		return NULL;
	}
	snprintf(ar->base, sizeof(ar->base), "https://%s/acme", host);
	snprintf(
	    ar->url, sizeof(ar->url), "https://%s%s", host, http_req_path(r));
	return ar;
}

void
acme_req_free(struct acme_req *ar)
{
	if (ar == NULL)
		return;
	jws_free(ar->jws);
	json_decref(ar->payload);
	EVP_PKEY_free(ar->key);
	store_obj_clear(&ar->account);
	store_txn_free(ar->txn);
	json_decref(ar->body);
	free(ar->raw);
	if (ar->after_commit_free != NULL)
		ar->after_commit_free(ar->after_commit_arg);
	free(ar);
}

/* A fresh nonce (§7.2) in ar->nonce_new, in this process's table and,
 * with shared scope, queued in ar->txn (nonces.h). */
static int
acme_nonce_add(struct acme_req *ar)
{
	if (store_nonce_make(ar->nonce_new, sizeof(ar->nonce_new),
	        time(NULL) + ar->acme->cfg.nonce_lifetime_s) == -1 ||
	    (ar->acme->cfg.shared_nonces &&
	        store_txn_nonce_add(ar->txn, ar->nonce_new) == -1))
		return -1;
	/* Shared scope: never sent unless this set commits. */
	acme_nonces_put(ar->acme->nonces, ar->nonce_new);
	return 0;
}

static void
acme_req_headers(struct acme_req *ar)
{
	char link[600];

	if (ar->nonce_new[0] != '\0')
		http_reply_header(ar->r, "Replay-Nonce", ar->nonce_new);
	http_reply_header(ar->r, "Cache-Control", "no-store");
	snprintf(link, sizeof(link), "<%s/directory>;rel=\"index\"", ar->base);
	http_reply_header(ar->r, "Link", link);
	if (ar->link_up[0] != '\0') {
		snprintf(link, sizeof(link), "<%s>;rel=\"up\"", ar->link_up);
		http_reply_header(ar->r, "Link", link);
	}
	if (ar->location[0] != '\0')
		http_reply_header(ar->r, "Location", ar->location);
	if (ar->retry_after > 0) {
		snprintf(link, sizeof(link), "%d", ar->retry_after);
		http_reply_header(ar->r, "Retry-After", link);
	}
}

/* Send the prepared reply (JSON body, raw body or empty) and free ar. */
static void
acme_req_send(struct acme_req *ar)
{
	char *text = NULL;
	int problem;

	if (ar->r == NULL) {
		acme_req_free(ar);
		return;
	}
	acme_req_headers(ar);
	if (ar->raw != NULL) {
		http_reply(
		    ar->r, ar->status, ar->raw_type, ar->raw, ar->raw_len);
	} else if (ar->body != NULL &&
	    (text = json_dumps(ar->body, JSON_INDENT(2))) != NULL) {
		problem = json_object_get(ar->body, "type") != NULL &&
		    ar->status >= 400;
		http_reply(ar->r, ar->status,
		    problem ? "application/problem+json" : "application/json",
		    text, strlen(text));
	} else {
		http_reply(ar->r, ar->status, NULL, NULL, 0);
	}
	free(text);
	acme_req_free(ar);
}

void
acme_req_send_now(struct acme_req *ar)
{
	acme_req_send(ar);
}

int
acme_req_commit_into(struct acme_req *ar, struct store_txn *t)
{
	if (acme_nonce_add(ar) == -1)
		return -1;
	store_txn_move(t, ar->txn);
	return 0;
}

static void
acme_problem_committed(int rc, void *arg)
{
	struct acme_req *ar = arg;

	/* Without a stored nonce the reply still explains the error. */
	if (rc != 0)
		ar->nonce_new[0] = '\0';
	acme_req_send(ar);
}

void
acme_req_problem_sub(struct acme_req *ar, int status, const char *type,
    json_t *subproblems, const char *detail)
{
	char full[96], clean[256];

	snprintf(full, sizeof(full), ACME_ERR_PREFIX "%s", type);
	json_decref(ar->body);
	free(ar->raw);
	ar->raw = NULL;
	ar->body = json_pack("{s:s, s:s, s:i}", "type", full, "detail", detail,
	    "status", status);
	/* An object is merged as extra members ("algorithms"), an array
	 * becomes "subproblems". */
	if (ar->body != NULL && json_is_array(subproblems))
		json_object_set(ar->body, "subproblems", subproblems);
	else if (ar->body != NULL && json_is_object(subproblems))
		json_object_update(ar->body, subproblems);
	json_decref(subproblems);
	ar->status = status;
	log_info("req=%s acme problem=%s status=%d detail=\"%s\"",
	    ar->r != NULL ? http_req_id(ar->r) : "-", type, status,
	    log_sanitize(detail, strlen(detail), clean, sizeof(clean)));
	/* A problem carries a fresh nonce too (§6.5); nothing else of the
	 * request is written. */
	store_txn_free(ar->txn);
	ar->nonce_new[0] = '\0';
	if ((ar->txn = store_txn_new()) == NULL || acme_nonce_add(ar) == -1) {
		ar->nonce_new[0] = '\0';
		acme_req_send(ar);
		return;
	}
	/* Node-scoped nonces: nothing to write. */
	if (store_txn_size(ar->txn) == 0) {
		acme_req_send(ar);
		return;
	}
	store_txn_set_light(ar->txn, 1);
	if (store_submit_txn(gateway_store(ar->acme->gw), http_req_base(ar->r),
	        ar->txn, acme_problem_committed, ar) == -1) {
		ar->txn = NULL;
		ar->nonce_new[0] = '\0';
		acme_req_send(ar);
		return;
	}
	ar->txn = NULL; /* taken by the store */
	http_req_on_abort(ar->r, acme_req_abort, ar);
}

void
acme_req_problem(
    struct acme_req *ar, int status, const char *type, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	acme_req_problem_sub(ar, status, type, NULL, detail);
}

static void
acme_committed(int rc, void *arg)
{
	struct acme_req *ar = arg;

	ar->txn = NULL;
	if (rc == 1) {
		/* Another request used the nonce, or changed an object
		 * this one read, while it was being processed. */
		acme_req_problem(ar, 400, ACME_ERR_BAD_NONCE,
		    "the nonce was used concurrently, or the resource "
		    "changed meanwhile; retry");
		return;
	}
	if (rc == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER,
		    "the request could not be stored");
		return;
	}
	if (ar->after_commit != NULL) {
		ar->after_commit(ar, ar->after_commit_arg);
		ar->after_commit = NULL;
		ar->after_commit_free = NULL;
		/* The work started now answers the request itself. */
		if (ar->hold_reply)
			return;
	}
	acme_req_send(ar);
}

void
acme_req_commit(struct acme_req *ar)
{
	struct store_txn *t;

	/* Only what a client cannot redo waits for the disk (durable). */
	store_txn_set_light(ar->txn, !ar->durable);
	if (acme_nonce_add(ar) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	t = ar->txn;
	ar->txn = NULL;
	/* A POST-as-GET with node-scoped nonces writes nothing.  (Work
	 * started after the commit keeps the usual path, which watches for
	 * the client going away meanwhile.) */
	if (store_txn_size(t) == 0 && ar->after_commit == NULL) {
		store_txn_free(t);
		acme_committed(0, ar);
		return;
	}
	if (store_submit_txn(gateway_store(ar->acme->gw), http_req_base(ar->r),
	        t, acme_committed, ar) == -1) {
		if ((ar->txn = store_txn_new()) == NULL) {
			acme_req_send(ar);
			return;
		}
		acme_req_problem(ar, 500, ACME_ERR_SERVER,
		    "the request could not be stored");
		return;
	}
	http_req_on_abort(ar->r, acme_req_abort, ar);
}

static void
auth_jws_problem(struct acme_req *ar, enum jws_error e, const char *msg)
{
	switch (e) {
	case JWS_BAD_ALG:
		/* §6.2: the problem lists the algorithms we accept. */
		acme_req_problem_sub(ar, 400, ACME_ERR_BAD_SIG_ALG,
		    json_pack("{s:[sssss]}", "algorithms", "RS256", "ES256",
		        "ES384", "ES512", "EdDSA"),
		    msg);
		break;
	case JWS_BAD_KEY:
		acme_req_problem(ar, 400, ACME_ERR_BAD_PUBLIC_KEY, "%s", msg);
		break;
	default:
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED, "%s", msg);
		break;
	}
}

/*
 * §6.5: the nonce must be one we issued and not used yet (nonces.h).
 * Node scope: claimed from this process's table, and that is all.
 * Shared scope: a nonce not in the table is looked up in the store, and
 * using it is part of this request's transaction, so a replay loses the
 * race.
 */
static int
auth_nonce(struct acme_req *ar)
{
	const char *nonce = jws_nonce(ar->jws);
	int shared = ar->acme->cfg.shared_nonces;

	if (nonce == NULL || strlen(nonce) > 64) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_NONCE,
		    "the JWS protected header has no usable nonce "
		    "(RFC 8555 §6.5)");
		return -1;
	}
	if (!acme_nonces_claim(ar->acme->nonces, nonce, time(NULL)) &&
	    (!shared || store_nonce_live(ar->sc, nonce) != 1)) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_NONCE,
		    "unknown, expired or already used nonce");
		return -1;
	}
	if (shared && store_txn_nonce_take(ar->txn, nonce) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * Account keys, per worker: building an EVP_PKEY from a stored JWK on
 * every kid request costs a key import.  Keyed by account id and object
 * version, so a keyChange (which bumps the version) is never served a
 * stale key.
 */
static unsigned
key_slot(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id != '\0'; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % ACME_KEY_CACHE;
}

/* A new reference to the cached key, or NULL; *ver its verifier
 * (borrowed: the slot may be reused once the handler returned). */
static EVP_PKEY *
key_cache_get(struct acme_worker *aw, const char *id, long version,
    struct jws_verifier **ver)
{
	struct acme_key_slot *k;

	if (aw == NULL)
		return NULL;
	k = &aw->keys[key_slot(id)];
	if (k->key == NULL || k->version != version || strcmp(k->id, id) != 0 ||
	    EVP_PKEY_up_ref(k->key) != 1)
		return NULL;
	*ver = k->ver;
	return k->key;
}

static void
key_cache_put(struct acme_worker *aw, const char *id, long version,
    EVP_PKEY *key, struct jws_verifier **ver)
{
	struct acme_key_slot *k;

	if (aw == NULL || key == NULL || strlen(id) >= sizeof(k->id) ||
	    EVP_PKEY_up_ref(key) != 1)
		return;
	k = &aw->keys[key_slot(id)];
	EVP_PKEY_free(k->key);
	jws_verifier_free(k->ver);
	snprintf(k->id, sizeof(k->id), "%s", id);
	k->version = version;
	k->key = key;
	k->ver = jws_verifier_new(key);
	*ver = k->ver;
}

/* kid (§6.2): the account URL we gave out; it must exist and be valid. */
static int
auth_kid(struct acme_req *ar, const char *kid)
{
	char prefix[300];
	const char *id;
	json_t *doc = NULL;
	enum jws_error e;
	char msg[256];
	int found;

	snprintf(prefix, sizeof(prefix), "%s/acct/", ar->base);
	if (strncmp(kid, prefix, strlen(prefix)) != 0 ||
	    strchr(id = kid + strlen(prefix), '/') != NULL || strlen(id) > 64) {
		acme_req_problem(ar, 400, ACME_ERR_NO_ACCOUNT,
		    "kid is not an account URL of this server");
		return -1;
	}
	/* The document is parsed only for a key not cached yet. */
	found = store_obj_get(ar->sc, ACME_KIND_ACCOUNT, id, &ar->account);
	if (found != 0) {
		if (found == 1)
			acme_req_problem(
			    ar, 400, ACME_ERR_NO_ACCOUNT, "no account %s", id);
		else
			acme_req_problem(
			    ar, 500, ACME_ERR_SERVER, "account lookup failed");
		return -1;
	}
	if (ar->account.status == NULL ||
	    strcmp(ar->account.status, "valid") != 0) {
		acme_req_problem(ar, 401, ACME_ERR_UNAUTHORIZED,
		    "account %s is %s", id,
		    ar->account.status ? ar->account.status : "unknown");
		return -1;
	}
	if ((ar->key = key_cache_get(
	         ar->aw, id, ar->account.version, &ar->ver)) == NULL &&
	    (doc = json_loads(ar->account.json, 0, NULL)) != NULL) {
		ar->key = jwk_to_pkey(
		    json_object_get(doc, "jwk"), &e, msg, sizeof(msg));
		key_cache_put(
		    ar->aw, id, ar->account.version, ar->key, &ar->ver);
	}
	json_decref(doc);
	if (ar->key == NULL) {
		acme_req_problem(
		    ar, 500, ACME_ERR_SERVER, "stored account key unusable");
		return -1;
	}
	return 0;
}

static int
auth_jwk(struct acme_req *ar, const json_t *jwk)
{
	enum jws_error e;
	char msg[256];

	if ((ar->key = jwk_to_pkey(jwk, &e, msg, sizeof(msg))) == NULL) {
		auth_jws_problem(ar, e, msg);
		return -1;
	}
	if (jwk_thumbprint(jwk, ar->thumbprint, sizeof(ar->thumbprint)) == -1) {
		acme_req_problem(ar, 400, ACME_ERR_BAD_PUBLIC_KEY,
		    "cannot compute the JWK thumbprint");
		return -1;
	}
	return 0;
}

int
acme_req_auth(struct acme_req *ar, int jwk_mode)
{
	const unsigned char *body, *payload;
	size_t len, plen;
	enum jws_error e;
	char msg[256];

	if (!http_media_type_is(http_req_header(ar->r, "Content-Type"),
	        "application/jose+json")) {
		acme_req_problem(ar, 415, ACME_ERR_MALFORMED,
		    "Content-Type must be application/jose+json "
		    "(RFC 8555 §6.2)");
		return -1;
	}
	body = http_req_body(ar->r, &len);
	if ((ar->jws = jws_parse(body, len, 0, &e, msg, sizeof(msg))) == NULL) {
		auth_jws_problem(ar, e, msg);
		return -1;
	}
	if (strcmp(jws_url(ar->jws), ar->url) != 0) {
		acme_req_problem(ar, 401, ACME_ERR_UNAUTHORIZED,
		    "the JWS url \"%.200s\" is not the request URL \"%s\" "
		    "(RFC 8555 §6.4)",
		    jws_url(ar->jws), ar->url);
		return -1;
	}
	if (auth_nonce(ar) == -1)
		return -1;
	if (jwk_mode == 1 && jws_kid(ar->jws) != NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "this resource takes a jwk, not a kid (RFC 8555 §6.2)");
		return -1;
	}
	if (jwk_mode == 0 && jws_jwk(ar->jws) != NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "this resource takes a kid, not a jwk (RFC 8555 §6.2)");
		return -1;
	}
	if (jws_kid(ar->jws) != NULL ? auth_kid(ar, jws_kid(ar->jws)) == -1
	                             : auth_jwk(ar, jws_jwk(ar->jws)) == -1)
		return -1;
	e = jws_verify_with(ar->jws, ar->key, ar->ver);
	ar->ver = NULL; /* the slot may change once we return */
	if (e != JWS_OK) {
		auth_jws_problem(ar, e,
		    e == JWS_BAD_ALG ? "the JWS alg does not fit the key"
		                     : "JWS verification error");
		return -1;
	}
	payload = jws_payload(ar->jws, &plen);
	if (plen > 0 && (ar->payload = jws_payload_json(ar->jws)) == NULL) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "the JWS payload is not a JSON object");
		return -1;
	}
	(void)payload;
	return 0;
}
