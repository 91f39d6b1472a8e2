/*
 * The upstream ACME engine (see upacme.h): settings, the directory
 * (RFC 8555 §7.1.1) and the account (§7.3, with External Account
 * Binding, §7.3.4), fetched once per engine when the first operation
 * needs them, and registered again when the upstream forgets the account
 * (its database reset, the account deleted).  Orders are upacme_order.c,
 * revocation upacme_revoke.c, requests upacme_http.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "backends/acme/upacme_int.h"
#include "core/curl_ev.h"
#include "core/encoding.h"
#include "core/jws_sign.h"
#include "core/log.h"

static void account_register(struct upacme *u);

const char *
upacme_dir_url(struct upacme *u, const char *name)
{
	return json_string_value(json_object_get(u->dir, name));
}

/* The account cannot be had: every waiting operation fails with this. */
static void
account_fail(struct upacme *u, const struct upacme_resp *r, const char *detail)
{
	free(u->acct_problem);
	free(u->acct_detail);
	u->acct_problem = NULL;
	u->acct = UPACME_ACCT_FAILED;
	u->acct_outcome = r != NULL ? r->outcome : UPACME_REJECTED;
	if (r != NULL && r->problem_type != NULL)
		u->acct_problem = strdup(r->problem_type);
	u->acct_detail = strdup(detail);
	log_error("upacme: account at %s: %s", u->directory_url, detail);
	upacme_order_account_ready(u);
	upacme_revoke_account_ready(u);
	upacme_req_account_ready(u);
}

/* newAccount answered (RFC 8555 §7.3): the account URL is Location. */
static void
on_account(void *arg, struct upacme_resp *r)
{
	struct upacme *u = arg;
	char clean[256];

	u->acct_req = NULL;
	if (r->outcome != UPACME_OK) {
		account_fail(
		    u, r, r->detail != NULL ? r->detail : "newAccount failed");
		return;
	}
	free(u->kid);
	if (r->location == NULL || (u->kid = strdup(r->location)) == NULL) {
		r->outcome = UPACME_UNAVAILABLE;
		account_fail(u, r, "upstream newAccount gave no account URL");
		return;
	}
	u->acct = UPACME_ACCT_READY;
	log_info("upacme: account %s ready at %s",
	    log_sanitize(u->kid, strlen(u->kid), clean, sizeof(clean)),
	    u->directory_url);
	upacme_order_account_ready(u);
	upacme_revoke_account_ready(u);
	upacme_req_account_ready(u);
}

/* The newAccount payload: terms agreed, contact, EAB when configured.
 * Malloc'd JSON; NULL on error. */
static char *
account_payload(struct upacme *u, const char *url)
{
	json_t *p;
	char *eab = NULL, *ret = NULL;

	if ((p = json_pack("{s:b}", "termsOfServiceAgreed", 1)) == NULL)
		return NULL;
	if (u->contact != NULL &&
	    json_object_set_new(p, "contact", json_pack("[s]", u->contact)) ==
	        -1)
		goto out;
	if (u->eab_kid != NULL &&
	    ((eab = jws_sign_eab(u->key, u->eab_kid, u->eab_mac, u->eab_mac_len,
	          url)) == NULL ||
	        json_object_set_new(p, "externalAccountBinding",
	            json_loads(eab, 0, NULL)) == -1))
		goto out;
	ret = json_dumps(p, JSON_COMPACT);
out:
	free(eab);
	json_decref(p);
	return ret;
}

/* POST newAccount with the JWK.  The same key gives the same account,
 * so this is safe to repeat after a failure. */
static void
account_register(struct upacme *u)
{
	struct upacme_req_spec spec;
	char *payload;

	memset(&spec, 0, sizeof(spec));
	spec.method = UPACME_POST_JWK;
	spec.url = upacme_dir_url(u, "newAccount");
	spec.deadline = upacme_now() + u->order_timeout;
	if ((payload = account_payload(u, spec.url)) == NULL) {
		account_fail(u, NULL, "cannot make the newAccount request");
		return;
	}
	spec.payload = payload;
	if ((u->acct_req = upacme_req_start(u, &spec, on_account, u)) == NULL)
		account_fail(u, NULL, "cannot make the newAccount request");
	free(payload);
}

/* The directory arrived: keep it, check EAB, then the account. */
static void
on_directory(void *arg, struct upacme_resp *r)
{
	struct upacme *u = arg;
	json_t *meta;

	u->acct_req = NULL;
	if (r->outcome != UPACME_OK) {
		/* Even a 4xx: a wrong directory URL is the gateway's to mend,
		 * not the device's request refused for good. */
		r->outcome = UPACME_UNAVAILABLE;
		account_fail(u, r,
		    r->detail != NULL ? r->detail : "no upstream directory");
		return;
	}
	if (r->json == NULL || !json_is_object(r->json) ||
	    !json_is_string(json_object_get(r->json, "newNonce")) ||
	    !json_is_string(json_object_get(r->json, "newAccount")) ||
	    !json_is_string(json_object_get(r->json, "newOrder"))) {
		r->outcome = UPACME_UNAVAILABLE;
		account_fail(u, r,
		    "the upstream directory is not an ACME "
		    "directory (RFC 8555 §7.1.1)");
		return;
	}
	u->dir = json_incref(r->json);
	meta = json_object_get(u->dir, "meta");
	if (json_is_true(json_object_get(meta, "externalAccountRequired")) &&
	    u->eab_kid == NULL) {
		account_fail(u, NULL,
		    "the upstream CA requires External Account Binding "
		    "(RFC 8555 §7.3.4) and no eab_kid is configured");
		return;
	}
	account_register(u);
}

void
upacme_account_need(struct upacme *u)
{
	struct upacme_req_spec spec;

	if (u->acct == UPACME_ACCT_BUSY || u->acct == UPACME_ACCT_READY)
		return;
	u->acct = UPACME_ACCT_BUSY;
	if (u->dir != NULL) {
		account_register(u);
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.method = UPACME_GET;
	spec.url = u->directory_url;
	spec.deadline = upacme_now() + u->order_timeout;
	if ((u->acct_req = upacme_req_start(u, &spec, on_directory, u)) == NULL)
		account_fail(u, NULL, "cannot fetch the upstream directory");
}

/*
 * The upstream does not know the account a kid-signed request named:
 * accountDoesNotExist (RFC 8555 §6.7), or unauthorized with a detail
 * that says the account is unknown or deactivated -- what CAs answered
 * before that type existed.  Other unauthorized answers (a foreign
 * order, a failed check) are not about the account.
 */
int
upacme_account_gone(const struct upacme_resp *r)
{
	static const char *const says[] = {"not found", "does not exist",
	    "doesn't exist", "unknown", "no such", "deactivated", "not valid",
	    "no account", "no registration"};
	const char *d;
	char low[256];
	size_t i;

	if (upacme_problem_is(r, "accountDoesNotExist"))
		return 1;
	if (!upacme_problem_is(r, "unauthorized") ||
	    (d = json_string_value(json_object_get(r->json, "detail"))) == NULL)
		return 0;
	for (i = 0; i < sizeof(low) - 1 && d[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)d[i]);
	low[i] = '\0';
	if (strstr(low, "account") == NULL &&
	    strstr(low, "registration") == NULL)
		return 0;
	for (i = 0; i < sizeof(says) / sizeof(says[0]); i++)
		if (strstr(low, says[i]) != NULL)
			return 1;
	return 0;
}

/*
 * A request signed with `kid` found the account gone (see
 * upacme_account_gone).  Unless the account was registered anew since
 * that request was signed, drop it and run newAccount again with the
 * same key (and EAB): every kid-signed request waits for it in the
 * request layer, and operations that have not started wait as at first.
 */
void
upacme_account_lost(struct upacme *u, const char *kid)
{
	char clean[256];

	if (u->acct != UPACME_ACCT_READY || u->kid == NULL || kid == NULL ||
	    strcmp(u->kid, kid) != 0)
		return; /* being registered, or registered anew already */
	log_info("upacme: the upstream CA at %s no longer knows account %s; "
	         "registering again",
	    u->directory_url,
	    log_sanitize(u->kid, strlen(u->kid), clean, sizeof(clean)));
	free(u->kid);
	u->kid = NULL;
	u->acct = UPACME_ACCT_NONE;
	upacme_account_need(u);
}

/* Copy the strings of `c` into `u`.  0 / -1. */
static int
conf_copy(struct upacme *u, const struct upacme_conf *c)
{
	const struct {
		char **to;
		const char *from;
	} s[] = {
	    {&u->directory_url, c->directory_url},
	    {&u->ca_bundle, c->ca_bundle},
	    {&u->contact, c->contact},
	    {&u->eab_kid, c->eab_kid},
	    {&u->challenge, c->challenge},
	    {&u->preferred_chain, c->preferred_chain},
	};
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (s[i].from != NULL && (*s[i].to = strdup(s[i].from)) == NULL)
			return -1;
	if (c->eab_kid != NULL) {
		if ((u->eab_mac = malloc(c->eab_hmac_key_len)) == NULL)
			return -1;
		memcpy(u->eab_mac, c->eab_hmac_key, c->eab_hmac_key_len);
		u->eab_mac_len = c->eab_hmac_key_len;
	}
	u->order_timeout = c->order_timeout;
	u->request_timeout = c->request_timeout;
	return 0;
}

/* The settings make sense.  0, or -1 with the reason logged. */
static int
conf_check(const struct upacme_conf *c, const struct upacme_hooks *h)
{
	const char *why = NULL;

	if (c->directory_url == NULL ||
	    strncmp(c->directory_url, "https://", 8) != 0)
		why = "directory_url must be an https URL";
	else if (c->account_key == NULL)
		why = "no account key";
	else if (c->challenge == NULL ||
	    (strcmp(c->challenge, "http-01") != 0 &&
	        strcmp(c->challenge, "dns-01") != 0))
		why = "challenge must be http-01 or dns-01";
	else if (c->order_timeout <= 0 || c->request_timeout <= 0)
		why = "order_timeout and request_timeout must be > 0";
	else if (c->eab_kid != NULL &&
	    (c->eab_hmac_key == NULL || c->eab_hmac_key_len == 0))
		why = "eab_kid needs an HMAC key";
	else if (h == NULL || h->persist == NULL || h->publish == NULL ||
	    h->unpublish == NULL)
		why = "persist, publish and unpublish hooks are required";
	if (why != NULL)
		log_error("upacme: %s", why);
	return why != NULL ? -1 : 0;
}

struct upacme *
upacme_new(struct event_base *base, const struct upacme_conf *conf,
    const struct upacme_hooks *hooks)
{
	struct upacme *u;

	if (conf_check(conf, hooks) == -1 ||
	    (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->base = base;
	u->hooks = *hooks;
	if (conf_copy(u, conf) == -1 ||
	    (u->key = jws_sign_key_new(conf->account_key)) == NULL ||
	    (u->cev = curl_ev_new(base, upacme_req_done_curl, u)) == NULL) {
		log_error("upacme: cannot set up the engine for %s",
		    conf->directory_url);
		upacme_free(u);
		return NULL;
	}
	return u;
}

void
upacme_free(struct upacme *u)
{
	size_t i;

	if (u == NULL)
		return;
	upacme_order_free_all(u);
	upacme_revoke_free_all(u);
	while (u->reqs != NULL)
		upacme_req_cancel(u->reqs);
	curl_ev_free(u->cev);
	jws_sign_key_free(u->key);
	for (i = 0; i < u->n_nonces; i++)
		free(u->nonces[i]);
	json_decref(u->dir);
	free(u->kid);
	free(u->acct_problem);
	free(u->acct_detail);
	free(u->directory_url);
	free(u->ca_bundle);
	free(u->contact);
	free(u->eab_kid);
	free(u->challenge);
	free(u->preferred_chain);
	OPENSSL_clear_free(u->eab_mac, u->eab_mac_len);
	free(u);
}

/* The content octets of the DER of `ai` (the INTEGER without its tag and
 * length), base64url.  NULL on error. */
static char *
serial_b64(const ASN1_INTEGER *ai)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	long clen;
	int len, tag, cls;
	char *ret = NULL;

	if ((len = i2d_ASN1_INTEGER(ai, &der)) <= 0)
		return NULL;
	p = der;
	if ((ASN1_get_object(&p, &clen, &tag, &cls, len) & 0x80) == 0 &&
	    tag == V_ASN1_INTEGER && clen > 0 &&
	    (long)(p - der) + clen == (long)len)
		ret = encoding_b64url_encode(p, (size_t)clen);
	OPENSSL_free(der);
	return ret;
}

char *
upacme_ari_cert_id(X509 *cert)
{
	const ASN1_OCTET_STRING *aki;
	char *a = NULL, *s = NULL, *ret = NULL;
	size_t len;

	if ((aki = X509_get0_authority_key_id(cert)) == NULL ||
	    (a = encoding_b64url_encode(ASN1_STRING_get0_data(aki),
	         (size_t)ASN1_STRING_length(aki))) == NULL ||
	    (s = serial_b64(X509_get0_serialNumber(cert))) == NULL)
		goto out;
	len = strlen(a) + strlen(s) + 2;
	if ((ret = malloc(len)) != NULL)
		snprintf(ret, len, "%s.%s", a, s);
out:
	free(a);
	free(s);
	return ret;
}
