/*
 * The upstream ACME CA backend: certificates for EST, SCEP and ACME
 * clients come from an external ACME CA (RFC 8555), under enrolld's
 * policy.  This file holds the configuration, one client engine per
 * worker loop, and the issuer chain learned from the upstream.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "backends/acme/acme_backend.h"
#include "backends/acme/upstream.h"
#include "backends/backend.h"
#include "core/cert.h"
#include "core/config.h"
#include "core/encoding.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"

static int upstream_init(const json_t *, const char *, void **, char *, size_t);
static STACK_OF(X509) *upstream_ca_chain(void *);
static void upstream_free(void *);
static int upstream_worker_init(
    void *, struct gateway *, struct event_base *, int);
static void upstream_worker_free(void *, struct event_base *);
static int upstream_defer_seconds(void *);

const struct ca_backend acme_upstream_backend = {
    .name = "acme",
    .init = upstream_init,
    .issue = upstream_issue,
    .ca_chain = upstream_ca_chain,
    .free = upstream_free,
    .worker_init = upstream_worker_init,
    .worker_free = upstream_worker_free,
    .defer_seconds = upstream_defer_seconds,
};

/* An optional string member; -1 with err when present but not a
 * non-empty string. */
static int
conf_string(const json_t *conf, const char *key, const char **out, char *err,
    size_t errlen)
{
	const json_t *v = json_object_get(conf, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		snprintf(err, errlen, "backends.acme.%s: wanted a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

/* An optional integer member in [lo, hi], else dflt. */
static int
conf_int(const json_t *conf, const char *key, int lo, int hi, int dflt,
    int *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(conf, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(err, errlen,
		    "backends.acme.%s: wanted an integer from %d to %d", key,
		    lo, hi);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

/* The account key: kept in a file so that every start (and every node
 * given the same file) is the same upstream account; made once. */
static int
load_account_key(const json_t *conf, const char *basedir, struct upstream *up,
    char *err, size_t errlen)
{
	const char *rel;
	char path[PATH_MAX];

	if (conf_string(conf, "account_key", &rel, err, errlen) == -1)
		return -1;
	if (config_path(basedir, rel != NULL ? rel : "upstream-account.key",
	        path, sizeof(path)) == -1) {
		snprintf(err, errlen, "backends.acme.account_key: too long");
		return -1;
	}
	if (access(path, F_OK) == 0) {
		if ((up->account_key = cert_load_key(path)) == NULL) {
			snprintf(err, errlen,
			    "backends.acme.account_key: cannot read %s", path);
			return -1;
		}
		return 0;
	}
	if ((up->account_key = cert_keygen(KEY_P256, 0)) == NULL ||
	    cert_save_key(path, up->account_key, 0) == -1) {
		snprintf(err, errlen,
		    "backends.acme.account_key: cannot create %s", path);
		return -1;
	}
	log_info("msg=\"upstream ACME account key created\" path=%s", path);
	return 0;
}

static int
load_eab(const json_t *conf, struct upstream *up, char *err, size_t errlen)
{
	const json_t *eab = json_object_get(conf, "eab");
	const char *kid, *hmac;

	if (eab == NULL)
		return 0;
	kid = json_string_value(json_object_get(eab, "kid"));
	hmac = json_string_value(json_object_get(eab, "hmac_key"));
	if (!json_is_object(eab) || kid == NULL || kid[0] == '\0' ||
	    hmac == NULL) {
		snprintf(err, errlen,
		    "backends.acme.eab: wanted {\"kid\", \"hmac_key\"}");
		return -1;
	}
	if ((up->eab_key = encoding_b64url_decode(
	         hmac, strlen(hmac), &up->eab_key_len)) == NULL ||
	    up->eab_key_len == 0) {
		snprintf(
		    err, errlen, "backends.acme.eab.hmac_key: not base64url");
		return -1;
	}
	up->conf.eab_kid = kid;
	up->conf.eab_hmac_key = up->eab_key;
	up->conf.eab_hmac_key_len = up->eab_key_len;
	return 0;
}

/* The issuers to publish: the configured chain file, else the one
 * learned from an earlier download. */
static int
load_chain(const json_t *conf, const char *basedir, struct upstream *up,
    char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const char *rel;
	char learned[64];

	if (conf_string(conf, "chain", &rel, err, errlen) == -1)
		return -1;
	/* One file per upstream directory. */
	if (EVP_Digest(up->conf.directory_url, strlen(up->conf.directory_url),
	        md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < 6) {
		snprintf(err, errlen, "backends.acme.directory: cannot hash");
		return -1;
	}
	snprintf(learned, sizeof(learned),
	    "upstream-%02x%02x%02x%02x%02x%02x-chain.pem", md[0], md[1], md[2],
	    md[3], md[4], md[5]);
	if (config_path(basedir, rel != NULL ? rel : learned, up->chain_path,
	        sizeof(up->chain_path)) == -1) {
		snprintf(err, errlen, "backends.acme.chain: too long");
		return -1;
	}
	if ((up->empty = sk_X509_new_null()) == NULL) {
		snprintf(err, errlen, "backends.acme: out of memory");
		return -1;
	}
	if (access(up->chain_path, F_OK) != 0) {
		if (rel == NULL)
			return 0;
		snprintf(err, errlen, "backends.acme.chain: no file %s",
		    up->chain_path);
		return -1;
	}
	if ((up->chain = cert_load_pem_chain(up->chain_path)) == NULL) {
		snprintf(err, errlen, "backends.acme.chain: cannot read %s",
		    up->chain_path);
		return -1;
	}
	return 0;
}

static int
check_challenge(
    const json_t *conf, struct upstream *up, char *err, size_t errlen)
{
	const char *ch;

	if (conf_string(conf, "challenge", &ch, err, errlen) == -1 ||
	    conf_string(
	        conf, "dns_hook", (const char **)&up->hook, err, errlen) == -1)
		return -1;
	up->conf.challenge = ch != NULL ? ch : "http-01";
	if (strcmp(up->conf.challenge, "http-01") != 0 &&
	    strcmp(up->conf.challenge, "dns-01") != 0) {
		snprintf(err, errlen,
		    "backends.acme.challenge: \"http-01\" or \"dns-01\"");
		return -1;
	}
	if (strcmp(up->conf.challenge, "dns-01") == 0 && up->hook == NULL) {
		snprintf(err, errlen,
		    "backends.acme.dns_hook: dns-01 needs a hook command");
		return -1;
	}
	if (up->hook != NULL && (up->hook = strdup(up->hook)) == NULL)
		return -1;
	return 0;
}

static int
upstream_init(const json_t *conf, const char *basedir, void **priv, char *err,
    size_t errlen)
{
	struct upstream *up;
	const char *bundle;
	char path[PATH_MAX];

	if ((up = calloc(1, sizeof(*up))) == NULL)
		return -1;
	*priv = up;
	pthread_mutex_init(&up->chain_lock, NULL);
	if (conf_string(conf, "directory", &up->conf.directory_url, err,
	        errlen) == -1 ||
	    up->conf.directory_url == NULL ||
	    strncmp(up->conf.directory_url, "https://", 8) != 0) {
		snprintf(err, errlen,
		    "backends.acme.directory: an https:// URL is required");
		return -1;
	}
	if (conf_string(conf, "ca_bundle", &bundle, err, errlen) == -1 ||
	    conf_string(conf, "contact", &up->conf.contact, err, errlen) ==
	        -1 ||
	    conf_string(conf, "preferred_chain", &up->conf.preferred_chain, err,
	        errlen) == -1 ||
	    conf_int(conf, "order_timeout", 10, 86400, 300,
	        &up->conf.order_timeout, err, errlen) == -1 ||
	    conf_int(conf, "request_timeout", 1, 600, 30,
	        &up->conf.request_timeout, err, errlen) == -1 ||
	    conf_int(conf, "wait_seconds", 1, 300, 10, &up->wait_seconds, err,
	        errlen) == -1 ||
	    conf_int(conf, "hook_timeout", 1, 3600, 60, &up->hook_timeout, err,
	        errlen) == -1 ||
	    conf_int(conf, "revoke_interval", 0, 86400, 10,
	        &up->revoke_interval, err, errlen) == -1 ||
	    check_challenge(conf, up, err, errlen) == -1 ||
	    load_eab(conf, up, err, errlen) == -1 ||
	    load_account_key(conf, basedir, up, err, errlen) == -1 ||
	    load_chain(conf, basedir, up, err, errlen) == -1)
		return -1;
	up->conf.account_key = up->account_key;
	if (bundle != NULL) {
		if (config_path(basedir, bundle, path, sizeof(path)) == -1 ||
		    access(path, R_OK) != 0) {
			snprintf(err, errlen,
			    "backends.acme.ca_bundle: cannot read %s", bundle);
			return -1;
		}
		/* upacme_new copies it; keep ours for its lifetime. */
		if ((up->conf.ca_bundle = strdup(path)) == NULL)
			return -1;
	}
	return 0;
}

static void
upstream_free(void *priv)
{
	struct upstream *up = priv;

	if (up == NULL)
		return;
	EVP_PKEY_free(up->account_key);
	free(up->eab_key);
	free(up->hook);
	free((char *)up->conf.ca_bundle);
	sk_X509_pop_free(up->chain, X509_free);
	sk_X509_free(up->empty);
	pthread_mutex_destroy(&up->chain_lock);
	free(up);
}

static STACK_OF(X509) *
upstream_ca_chain(void *priv)
{
	struct upstream *up = priv;
	STACK_OF(X509) *chain;

	/* Set at most once, never freed while workers run. */
	pthread_mutex_lock(&up->chain_lock);
	chain = up->chain != NULL ? up->chain : up->empty;
	pthread_mutex_unlock(&up->chain_lock);
	return chain;
}

void
upstream_learn_chain(struct upstream *up, STACK_OF(X509) *issuers)
{
	STACK_OF(X509) *copy = NULL;
	X509 *certs[16];
	int i, n = sk_X509_num(issuers);

	if (n <= 0)
		return;
	pthread_mutex_lock(&up->chain_lock);
	if (up->chain == NULL && (copy = X509_chain_up_ref(issuers)) != NULL)
		up->chain = copy;
	pthread_mutex_unlock(&up->chain_lock);
	if (copy == NULL)
		return;
	for (i = 0; i < n && i < 16; i++)
		certs[i] = sk_X509_value(copy, i);
	if (cert_save_pem(up->chain_path, certs, (size_t)i, 1) == -1)
		log_error("msg=\"cannot keep the upstream chain\" path=%s",
		    up->chain_path);
}

struct upstream_worker *
upstream_worker_of(struct upstream *up, struct event_base *base)
{
	size_t i;

	for (i = 0; i < up->n_workers; i++)
		if (up->workers[i]->base == base)
			return up->workers[i];
	return NULL;
}

static int
upstream_defer_seconds(void *priv)
{
	return ((struct upstream *)priv)->wait_seconds;
}

static int
upstream_worker_init(
    void *priv, struct gateway *gw, struct event_base *base, int first)
{
	struct upstream *up = priv;
	struct upstream_worker *w;

	if (up->n_workers == UPSTREAM_MAX_WORKERS ||
	    (w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	up->gw = gw;
	w->up = up;
	w->base = base;
	up->workers[up->n_workers++] = w;
	if ((w->sc = store_conn_open(gateway_store(gw))) == NULL ||
	    (w->engine = upacme_new(base, &up->conf, &upstream_order_hooks)) ==
	        NULL)
		return -1;
	if (first && up->revoke_interval > 0 && upstream_revoke_start(w) == -1)
		return -1;
	return 0;
}

static void
upstream_worker_free(void *priv, struct event_base *base)
{
	struct upstream *up = priv;
	struct upstream_worker *w = upstream_worker_of(up, base);
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < up->n_workers; i++)
		if (up->workers[i] == w)
			up->workers[i] = up->workers[--up->n_workers];
	upstream_orders_end(w);
	upacme_free(w->engine);
	if (w->sweep != NULL)
		event_free(w->sweep);
	store_conn_close(w->sc);
	free(w);
}
