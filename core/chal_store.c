/*
 * http-01 answers as store objects (core/chal_store.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/chal_store.h"

/* The thumbprint half of a key authorization: base64url of a SHA-256
 * digest is 43 characters; leave room, but bound it. */
#define THUMBPRINT_MAX 128

/* Length of the run of base64url characters at s. */
static size_t
b64url_span(const char *s)
{
	return strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_");
}

int
chal_store_token_ok(const char *token)
{
	size_t n;

	if (token == NULL)
		return 0;
	n = b64url_span(token);
	return n > 0 && n <= CHAL_STORE_TOKEN_MAX && token[n] == '\0';
}

/* 1 when keyauth is "TOKEN.THUMBPRINT" for this token (RFC 8555 §8.1),
 * with a base64url thumbprint of bounded length. */
static int
keyauth_ok(const char *token, const char *keyauth)
{
	size_t tlen = strlen(token), n;
	const char *thumb;

	if (keyauth == NULL || strncmp(keyauth, token, tlen) != 0 ||
	    keyauth[tlen] != '.')
		return 0;
	thumb = keyauth + tlen + 1;
	n = b64url_span(thumb);
	return n > 0 && n <= THUMBPRINT_MAX && thumb[n] == '\0';
}

int
chal_store_txn_put(
    struct store_txn *t, const char *token, const char *keyauth, time_t expires)
{
	struct store_obj o;
	json_t *doc = NULL;
	char *json = NULL;
	int rc = -1;

	if (!chal_store_token_ok(token) || !keyauth_ok(token, keyauth) ||
	    expires <= 0)
		goto out;
	if ((doc = json_pack("{s:s}", "keyauth", keyauth)) == NULL ||
	    (json = json_dumps(doc, JSON_COMPACT)) == NULL)
		goto out;
	memset(&o, 0, sizeof(o));
	o.kind = (char *)CHAL_STORE_KIND;
	o.id = (char *)token;
	o.json = json;
	o.expires = expires;
	rc = store_txn_put(t, &o);
out:
	free(json);
	json_decref(doc);
	return rc;
}

int
chal_store_txn_delete(struct store_txn *t, const char *token)
{
	if (!chal_store_token_ok(token))
		return -1;
	return store_txn_delete(t, CHAL_STORE_KIND, token);
}

int
chal_store_get(struct store_conn *sc, const char *token, char **keyauth)
{
	struct store_obj o;
	json_error_t jerr;
	json_t *doc = NULL;
	const char *ka;
	int rc = -1, found;

	*keyauth = NULL;
	memset(&o, 0, sizeof(o));
	if (!chal_store_token_ok(token))
		return 1;
	if ((found = store_obj_get(sc, CHAL_STORE_KIND, token, &o)) != 0) {
		rc = found;
		goto out;
	}
	/* Another node wrote it: check it as if it came from outside. */
	if ((doc = json_loads(o.json, 0, &jerr)) == NULL ||
	    (ka = json_string_value(json_object_get(doc, "keyauth"))) == NULL ||
	    !keyauth_ok(token, ka))
		goto out;
	if ((*keyauth = strdup(ka)) == NULL)
		goto out;
	rc = 0;
out:
	json_decref(doc);
	store_obj_clear(&o);
	return rc;
}
