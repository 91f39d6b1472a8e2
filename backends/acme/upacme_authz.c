/*
 * The authorizations of an upstream order (RFC 8555 §7.5), one after
 * the other: fetch; when pending pick the configured challenge, publish
 * its answer through the owner's hook (http-01 §8.3, dns-01 §8.4), tell
 * the server to validate (§7.5.1), poll the authorization until valid or
 * invalid, withdraw the answer.  Then back to the order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "backends/acme/upacme_int.h"
#include "core/encoding.h"
#include "core/jws_sign.h"
#include "core/log.h"

#define TOKEN_MAX 256

static void authz_next(struct upacme_order *o);
static void authz_poll(struct upacme_order *o);

/* A token is base64url (RFC 8555 §8.1): it becomes a file name and a
 * DNS record's input, so nothing else passes. */
static int
token_ok(const char *t)
{
	size_t n = strlen(t);

	return n > 0 && n <= TOKEN_MAX &&
	    strspn(t,
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	        "0123456789-_") == n;
}

/* An identifier from upstream is a DNS name, wildcard or IP address: it
 * goes into a DNS record name and into log lines. */
static int
ident_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < 256 &&
	    strspn(id,
	        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	        "0123456789.-*:") == n;
}

/* The published name and value of challenge `token` for identifier
 * `ident` into o->ch_name, o->ch_value (RFC 8555 §8.1, §8.3, §8.4).
 * 0 / -1. */
static int
answer_make(struct upacme_order *o, const char *token, const char *ident)
{
	struct upacme *u = o->u;
	const char *thumb = jws_sign_key_thumbprint(u->key);
	unsigned char md[32];
	char *ka;
	size_t len;
	int rc = -1;

	len = strlen(token) + strlen(thumb) + 2;
	if ((ka = malloc(len)) == NULL)
		return -1;
	snprintf(ka, len, "%s.%s", token, thumb);
	free(o->ch_name);
	free(o->ch_value);
	o->ch_name = o->ch_value = NULL;
	if (strcmp(u->challenge, "http-01") == 0) {
		if ((o->ch_name = strdup(token)) != NULL) {
			o->ch_value = ka;
			ka = NULL;
		}
	} else {
		if (strncmp(ident, "*.", 2) == 0)
			ident += 2; /* a wildcard is proven on its base */
		len = strlen(ident) + sizeof("_acme-challenge.");
		if ((o->ch_name = malloc(len)) != NULL &&
		    EVP_Digest(ka, strlen(ka), md, NULL, EVP_sha256(), NULL) ==
		        1 &&
		    (o->ch_value = encoding_b64url_encode(md, sizeof(md))) !=
		        NULL)
			snprintf(o->ch_name, len, "_acme-challenge.%s", ident);
	}
	if (o->ch_name != NULL && o->ch_value != NULL)
		rc = 0;
	free(ka);
	return rc;
}

/* A failed validation's problem (RFC 8555 §7.1.4 challenge "error"),
 * kept until the answer is withdrawn. */
static void
fail_keep(struct upacme_order *o, const json_t *authz)
{
	const json_t *chs = json_object_get(authz, "challenges"), *ch, *err;
	const char *type = NULL, *detail = NULL;
	char clean[256], buf[512];
	size_t i;

	json_array_foreach(chs, i, ch)
	{
		if ((err = json_object_get(ch, "error")) == NULL)
			continue;
		type = json_string_value(json_object_get(err, "type"));
		detail = json_string_value(json_object_get(err, "detail"));
		break;
	}
	log_sanitize(detail != NULL ? detail : "no detail",
	    detail != NULL ? strlen(detail) : 9, clean, sizeof(clean));
	snprintf(buf, sizeof(buf),
	    "upstream CA: the authorization for %s is invalid: %s",
	    o->ch_ident != NULL ? o->ch_ident : "an identifier", clean);
	free(o->fail_problem);
	free(o->fail_detail);
	o->fail_problem = upacme_problem_type_dup(type);
	o->fail_detail = strdup(buf);
}

/* After the unpublish hook (its result only logged): next authorization,
 * or the failure kept. */
static void
after_unpublish(struct upacme_order *o)
{
	if (o->cont_rc != 0)
		log_error("upacme: order %s: cannot withdraw %s %s", o->url,
		    o->u->challenge, o->ch_name);
	if (o->fail_detail != NULL) {
		upacme_order_finish(
		    o, UPACME_REJECTED, o->fail_problem, o->fail_detail, NULL);
		return;
	}
	o->ai++;
	authz_next(o);
}

/* Withdraw the published answer, then after_unpublish. */
static void
unpublish(struct upacme_order *o)
{
	struct upacme_cont_tok *t;

	o->published = 0;
	if ((t = upacme_order_tok(o)) == NULL) {
		upacme_order_finish(
		    o, UPACME_UNAVAILABLE, NULL, "out of memory", NULL);
		return;
	}
	o->then = after_unpublish;
	o->u->hooks.unpublish(o->arg, o->u->challenge, o->ch_name, o->ch_value,
	    upacme_order_cont, t);
}

/* The authorization answered a poll. */
static void
on_authz_poll(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;
	const char *st;

	o->req = NULL;
	o->retry_after = r->retry_after;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream authorization");
		return;
	}
	st = json_string_value(json_object_get(r->json, "status"));
	if (st != NULL && strcmp(st, "valid") == 0)
		unpublish(o);
	else if (st != NULL &&
	    (strcmp(st, "pending") == 0 || strcmp(st, "processing") == 0))
		upacme_order_poll(o, authz_poll);
	else {
		fail_keep(o, r->json);
		unpublish(o);
	}
}

static void
authz_poll(struct upacme_order *o)
{
	upacme_order_post(o, o->authz[o->ai], "", NULL, on_authz_poll);
}

/* The server took the challenge: poll its authorization. */
static void
on_challenge(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;

	o->req = NULL;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream challenge");
		return;
	}
	o->retry_after = r->retry_after;
	o->polls = 0;
	upacme_order_poll(o, authz_poll);
}

/* The answer is published: ask the server to validate (§7.5.1). */
static void
after_publish(struct upacme_order *o)
{
	if (o->cont_rc != 0) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "cannot publish the challenge answer", NULL);
		return;
	}
	o->published = 1;
	o->polls = 0;
	if (o->ch_posted) /* validating already (a resumed order) */
		upacme_order_later(o, authz_poll, 0);
	else
		upacme_order_post(o, o->ch_url, "{}", NULL, on_challenge);
}

/* The configured challenge of a pending authorization `az`, or NULL. */
static const json_t *
challenge_pick(const struct upacme_order *o, const json_t *az)
{
	const json_t *ch;
	const char *type;
	size_t i;

	json_array_foreach(json_object_get(az, "challenges"), i, ch)
	{
		type = json_string_value(json_object_get(ch, "type"));
		if (type != NULL && strcmp(type, o->u->challenge) == 0)
			return ch;
	}
	return NULL;
}

/* The identifier of authorization `az` ("*." prefixed for a wildcard,
 * §7.1.4) into o->ch_ident; NULL there when it is missing or unfit. */
static void
authz_ident(struct upacme_order *o, const json_t *az)
{
	const char *ident;
	char buf[512];

	ident = json_string_value(
	    json_object_get(json_object_get(az, "identifier"), "value"));
	free(o->ch_ident);
	o->ch_ident = NULL;
	if (ident == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s%s",
	    json_is_true(json_object_get(az, "wildcard")) ? "*." : "", ident);
	if (ident_ok(buf))
		o->ch_ident = strdup(buf);
}

/* Work on the pending authorization `az`: publish its answer. */
static void
authz_answer(struct upacme_order *o, const json_t *az)
{
	const json_t *ch = challenge_pick(o, az);
	const char *token, *url, *st;
	struct upacme_cont_tok *t;
	char buf[512];

	authz_ident(o, az);
	if (o->ch_ident == NULL) {
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "the upstream authorization names no usable identifier",
		    NULL);
		return;
	}
	if (ch == NULL) {
		snprintf(buf, sizeof(buf),
		    "the upstream CA offers no %s challenge for %s "
		    "(wildcards need dns-01)",
		    o->u->challenge, o->ch_ident);
		upacme_order_finish(o, UPACME_REJECTED, NULL, buf, NULL);
		return;
	}
	token = json_string_value(json_object_get(ch, "token"));
	url = json_string_value(json_object_get(ch, "url"));
	free(o->ch_url);
	if (token == NULL || url == NULL || !token_ok(token) ||
	    (o->ch_url = strdup(url)) == NULL ||
	    answer_make(o, token, o->ch_ident) == -1 ||
	    (t = upacme_order_tok(o)) == NULL) {
		o->ch_url = NULL;
		upacme_order_finish(o, UPACME_UNAVAILABLE, NULL,
		    "the upstream challenge is malformed (RFC 8555 §8)", NULL);
		return;
	}
	st = json_string_value(json_object_get(ch, "status"));
	o->ch_posted = st != NULL && strcmp(st, "processing") == 0;
	o->then = after_publish;
	o->u->hooks.publish(o->arg, o->u->challenge, o->ch_name, o->ch_value,
	    upacme_order_cont, t);
}

static void
on_authz(void *arg, struct upacme_resp *r)
{
	struct upacme_order *o = arg;
	const char *st;
	char clean[32], buf[256];

	o->req = NULL;
	if (r->outcome != UPACME_OK) {
		upacme_order_fail_resp(o, r, "upstream authorization");
		return;
	}
	st = json_string_value(json_object_get(r->json, "status"));
	if (st != NULL && strcmp(st, "valid") == 0) {
		o->ai++;
		authz_next(o);
	} else if (st != NULL && strcmp(st, "pending") == 0)
		authz_answer(o, r->json);
	else if (st != NULL && strcmp(st, "invalid") == 0) {
		/* Validated and failed before this engine looked (a resumed
		 * order, an authorization the upstream reused): the device
		 * hears the challenge's problem all the same. */
		authz_ident(o, r->json);
		fail_keep(o, r->json);
		upacme_order_finish(
		    o, UPACME_REJECTED, o->fail_problem, o->fail_detail, NULL);
	} else {
		/* Bytes from the upstream: cleaned and cut. */
		log_sanitize(st != NULL ? st : "unusable",
		    st != NULL ? strlen(st) : 8, clean, sizeof(clean));
		snprintf(buf, sizeof(buf),
		    "upstream CA: an authorization is %s", clean);
		upacme_order_finish(o, UPACME_REJECTED, NULL, buf, NULL);
	}
}

/* Fetch authorization o->ai, or re-read the order when all are done. */
static void
authz_next(struct upacme_order *o)
{
	if (o->ai >= o->n_authz) {
		o->authz_done = 1;
		o->retry_after = 0; /* at once, then the usual waits */
		o->polls = 0;
		upacme_order_fetch(o);
		return;
	}
	upacme_order_post(o, o->authz[o->ai], "", NULL, on_authz);
}

void
upacme_authz_begin(struct upacme_order *o)
{
	o->ai = 0;
	o->authz_done = 0;
	authz_next(o);
}
