/*
 * ACME front end (RFC 8555): the handler table, the "acme" config
 * section, per-worker state and the routing of /acme/... to resources.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "policy/policy.h"
#include "protocols/acme/acme.h"
#include "protocols/acme/acme_int.h"

#define ACME_PREFIX "/acme/"

static const char *const acme_prefixes[] = {ACME_PREFIX, NULL};

static const char *const cfg_keys[] = {"default_profile", "profiles",
    "terms_of_service", "website", "caa_identities",
    "external_account_required", "order_lifetime_s", "nonce_lifetime_s",
    "nonce_scope", "orders_per_hour", "failed_validations_per_hour",
    "retry_after_s", "validation", NULL};
static const char *const val_keys[] = {"resolver", "trust_anchor",
    "http01_port", "tlsalpn01_port", "allow_private_targets", "timeout_ms",
    "caa", "dns_transport", NULL};

static int
key_known(const char *key, const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return 1;
	return 0;
}

static int
check_keys(const json_t *obj, const char *where, const char *const *keys,
    char *err, size_t errlen)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		if (!key_known(key, keys)) {
			snprintf(err, errlen, "%s.%s: unknown key", where, key);
			return -1;
		}
	}
	return 0;
}

/* Integer at obj.key within [min, max], default dflt.  0 / -1. */
static int
cfg_int(const json_t *obj, const char *where, const char *key, long min,
    long max, long dflt, int *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = (int)dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen,
		    "%s.%s: must be an integer from %ld to %ld", where, key,
		    min, max);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 0;
}

static int
cfg_bool(const json_t *obj, const char *where, const char *key, int dflt,
    int *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(
		    err, errlen, "%s.%s: must be true or false", where, key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* Optional string; *out malloc'd or NULL.  0 / -1. */
static int
cfg_str(const json_t *obj, const char *where, const char *key, const char *dflt,
    char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v != NULL && !json_is_string(v) && !json_is_null(v)) {
		snprintf(err, errlen, "%s.%s: must be a string", where, key);
		return -1;
	}
	if (json_is_string(v))
		dflt = json_string_value(v);
	if (dflt != NULL && (*out = strdup(dflt)) == NULL)
		return -1;
	return 0;
}

/* Array of strings into a NULL-terminated malloc'd vector. */
static int
cfg_strv(const json_t *obj, const char *where, const char *key,
    const char *dflt, char ***out, size_t *n, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key), *e;
	size_t i, count;

	if (v != NULL && !json_is_array(v)) {
		snprintf(err, errlen, "%s.%s: must be an array of strings",
		    where, key);
		return -1;
	}
	count = v != NULL ? json_array_size(v) : (dflt != NULL ? 1 : 0);
	if ((*out = calloc(count + 1, sizeof(**out))) == NULL)
		return -1;
	if (n != NULL)
		*n = count;
	if (v == NULL) {
		if (dflt != NULL && ((*out)[0] = strdup(dflt)) == NULL)
			return -1;
		return 0;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) == 0) {
			snprintf(err, errlen, "%s.%s[%zu]: must be a string",
			    where, key, i);
			return -1;
		}
		if (((*out)[i] = strdup(json_string_value(e))) == NULL)
			return -1;
	}
	return 0;
}

static void
strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

void
acme_cfg_free(struct acme_cfg *cfg)
{
	free(cfg->default_profile);
	strv_free(cfg->profiles);
	free(cfg->terms_of_service);
	free(cfg->website);
	strv_free(cfg->caa_identities);
	free((char *)cfg->validate.resolver);
	free((char *)cfg->validate.trust_anchor);
	memset(cfg, 0, sizeof(*cfg));
}

/* obj.key: one of two words, `first` (the default, 0) or `second` (1).
 * 0 / -1. */
static int
cfg_either(const json_t *obj, const char *where, const char *key,
    const char *first, const char *second, int *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	*out = 0;
	if (v == NULL || strcmp(s, first) == 0)
		return 0;
	if (strcmp(s, second) == 0) {
		*out = 1;
		return 0;
	}
	snprintf(err, errlen, "%s.%s: must be \"%s\" or \"%s\"", where, key,
	    first, second);
	return -1;
}

static int
cfg_load_validation(
    struct acme_validate_cfg *vc, const json_t *v, char *err, size_t errlen)
{
	const char *w = "acme.validation";
	char *resolver = NULL, *anchor = NULL;
	int udp;

	if (v != NULL && !json_is_object(v)) {
		snprintf(err, errlen, "%s: must be an object", w);
		return -1;
	}
	if (v != NULL && check_keys(v, w, val_keys, err, errlen) == -1)
		return -1;
	if (cfg_str(v, w, "resolver", NULL, &resolver, err, errlen) == -1)
		return -1;
	vc->resolver = resolver;
	if (cfg_str(v, w, "trust_anchor", NULL, &anchor, err, errlen) == -1)
		return -1;
	vc->trust_anchor = anchor;
	if (cfg_int(v, w, "http01_port", 1, 65535, 80, &vc->http01_port, err,
	        errlen) == -1 ||
	    cfg_int(v, w, "tlsalpn01_port", 1, 65535, 443, &vc->tlsalpn01_port,
	        err, errlen) == -1 ||
	    cfg_bool(v, w, "allow_private_targets", 0, &vc->allow_private, err,
	        errlen) == -1 ||
	    cfg_int(v, w, "timeout_ms", 100, 120000, 10000, &vc->timeout_ms,
	        err, errlen) == -1 ||
	    cfg_bool(v, w, "caa", 1, &vc->caa, err, errlen) == -1 ||
	    cfg_either(
	        v, w, "dns_transport", "tcp", "udp", &udp, err, errlen) == -1)
		return -1;
	vc->dns_transport = udp ? ACME_DNS_UDP : ACME_DNS_TCP;
	return 0;
}

int
acme_cfg_load(
    struct acme_cfg *cfg, const json_t *conf, char *err, size_t errlen)
{
	const char *w = "acme";

	memset(cfg, 0, sizeof(*cfg));
	snprintf(err, errlen, "acme: out of memory");
	if (conf != NULL && !json_is_object(conf)) {
		snprintf(err, errlen, "acme: must be an object");
		return -1;
	}
	if (conf != NULL && check_keys(conf, w, cfg_keys, err, errlen) == -1)
		return -1;
	if (cfg_str(conf, w, "default_profile", "default",
	        &cfg->default_profile, err, errlen) == -1 ||
	    cfg_strv(conf, w, "profiles", cfg->default_profile, &cfg->profiles,
	        &cfg->n_profiles, err, errlen) == -1 ||
	    cfg_str(conf, w, "terms_of_service", NULL, &cfg->terms_of_service,
	        err, errlen) == -1 ||
	    cfg_str(conf, w, "website", NULL, &cfg->website, err, errlen) ==
	        -1 ||
	    cfg_strv(conf, w, "caa_identities", "enrolld.invalid",
	        &cfg->caa_identities, NULL, err, errlen) == -1 ||
	    cfg_bool(conf, w, "external_account_required", 0,
	        &cfg->eab_required, err, errlen) == -1 ||
	    cfg_int(conf, w, "order_lifetime_s", 60, 30 * 86400, 7 * 86400,
	        &cfg->order_lifetime_s, err, errlen) == -1 ||
	    cfg_int(conf, w, "nonce_lifetime_s", 10, 86400, 3600,
	        &cfg->nonce_lifetime_s, err, errlen) == -1 ||
	    cfg_either(conf, w, "nonce_scope", "node", "shared",
	        &cfg->shared_nonces, err, errlen) == -1 ||
	    cfg_int(conf, w, "orders_per_hour", 0, 10000000, 0,
	        &cfg->orders_per_hour, err, errlen) == -1 ||
	    cfg_int(conf, w, "failed_validations_per_hour", 0, 10000000, 0,
	        &cfg->failed_validations_per_hour, err, errlen) == -1 ||
	    cfg_int(conf, w, "retry_after_s", 1, 3600, 2, &cfg->retry_after_s,
	        err, errlen) == -1 ||
	    cfg_load_validation(&cfg->validate,
	        json_object_get(conf, "validation"), err, errlen) == -1)
		return -1;
	cfg->validate.caa_identities = (const char *const *)cfg->caa_identities;
	return 0;
}

int
acme_cfg_check(const json_t *conf, char *err, size_t errlen)
{
	struct acme_cfg cfg;
	int rc;

	rc = acme_cfg_load(&cfg, conf, err, errlen);
	acme_cfg_free(&cfg);
	return rc;
}

int
acme_profile_allowed(const struct acme *acme, const char *name)
{
	for (size_t i = 0; i < acme->cfg.n_profiles; i++)
		if (strcmp(acme->cfg.profiles[i], name) == 0)
			return 1;
	return 0;
}

static void
acme_free(void *priv)
{
	struct acme *acme = priv;

	if (acme == NULL)
		return;
	acme_cfg_free(&acme->cfg);
	acme_nonces_free(acme->nonces);
	free(acme);
}

static int
acme_init(struct gateway *gw, const json_t *conf, void **priv, char *err,
    size_t errlen)
{
	struct acme *acme;

	if ((acme = calloc(1, sizeof(*acme))) == NULL)
		return -1;
	acme->gw = gw;
	if (acme_cfg_load(&acme->cfg, conf, err, errlen) == -1)
		goto fail;
	if ((acme->nonces = acme_nonces_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < acme->cfg.n_profiles; i++) {
		if (policy_profile(gateway_policy(gw), acme->cfg.profiles[i]) ==
		    NULL) {
			snprintf(err, errlen,
			    "acme.profiles[%zu]: no profile named \"%s\"", i,
			    acme->cfg.profiles[i]);
			goto fail;
		}
	}
	if (!acme_profile_allowed(acme, acme->cfg.default_profile)) {
		snprintf(err, errlen,
		    "acme.default_profile: \"%s\" is not in acme.profiles",
		    acme->cfg.default_profile);
		goto fail;
	}
	*priv = acme;
	return 0;
fail:
	acme_free(acme);
	return -1;
}

static int
acme_worker_init(void *priv, struct event_base *base, void **wstate)
{
	struct acme_worker *aw;

	if ((aw = calloc(1, sizeof(*aw))) == NULL)
		return -1;
	aw->acme = priv;
	aw->base = base;
	if ((aw->validator = acme_validator_new(
	         base, &aw->acme->cfg.validate)) == NULL) {
		free(aw);
		return -1;
	}
	*wstate = aw;
	return 0;
}

static void
acme_worker_free(void *wstate)
{
	struct acme_worker *aw = wstate;

	if (aw == NULL)
		return;
	acme_validator_free(aw->validator);
	for (size_t i = 0; i < ACME_KEY_CACHE; i++) {
		EVP_PKEY_free(aw->keys[i].key);
		jws_verifier_free(aw->keys[i].ver);
	}
	free(aw);
}

/* Split "a/b/c" into at most n parts (in place). Returns the count. */
static size_t
split_path(char *path, char **parts, size_t n)
{
	size_t i = 0;
	char *save = NULL, *p;

	for (p = strtok_r(path, "/", &save); p != NULL && i < n;
	     p = strtok_r(NULL, "/", &save))
		parts[i++] = p;
	return p != NULL ? n + 1 : i;
}

static int
method_is(struct http_req *r, const char *m)
{
	return strcmp(http_req_method(r), m) == 0;
}

/* Resources that take a signed POST: authenticate, then dispatch. */
static void
acme_route_post(struct acme_req *ar, char **p, size_t n)
{
	int jwk_ok = n == 1 && (strcmp(p[0], "new-account") == 0);

	if (n == 1 && strcmp(p[0], "revoke-cert") == 0)
		jwk_ok = -1;
	if (acme_req_auth(ar, jwk_ok) == -1)
		return;
	if (n == 1 && strcmp(p[0], "new-account") == 0)
		acme_new_account(ar);
	else if (n == 1 && strcmp(p[0], "new-order") == 0)
		acme_new_order(ar);
	else if (n == 1 && strcmp(p[0], "key-change") == 0)
		acme_key_change(ar);
	else if (n == 1 && strcmp(p[0], "revoke-cert") == 0)
		acme_revoke(ar);
	else if (n == 2 && strcmp(p[0], "acct") == 0)
		acme_account(ar, p[1]);
	else if (n == 3 && strcmp(p[0], "acct") == 0 &&
	    strcmp(p[2], "orders") == 0)
		acme_orders_list(ar, p[1]);
	else if (n == 2 && strcmp(p[0], "order") == 0)
		acme_order(ar, p[1]);
	else if (n == 3 && strcmp(p[0], "order") == 0 &&
	    strcmp(p[2], "finalize") == 0)
		acme_finalize(ar, p[1]);
	else if (n == 2 && strcmp(p[0], "authz") == 0)
		acme_authz(ar, p[1]);
	else if (n == 3 && strcmp(p[0], "chall") == 0)
		acme_challenge(ar, p[1], p[2]);
	else if (n == 2 && strcmp(p[0], "cert") == 0)
		acme_cert_download(ar, p[1]);
	else
		acme_req_problem(
		    ar, 404, ACME_ERR_MALFORMED, "no such ACME resource");
}

/* Dispatch by path (already split, profile not yet taken off). */
static void
acme_route(struct acme_req *ar, struct http_req *r, char **p, size_t n)
{
	struct acme *acme = ar->acme;

	/* /acme/PROFILE/... selects a profile for directory and newOrder. */
	if (n >= 2 && acme_profile_allowed(acme, p[0]) &&
	    (strcmp(p[1], "directory") == 0 ||
	        strcmp(p[1], "new-order") == 0)) {
		snprintf(ar->profile, sizeof(ar->profile), "%s", p[0]);
		memmove(p, p + 1, (n - 1) * sizeof(p[0]));
		n--;
	}
	if (n == 1 && strcmp(p[0], "directory") == 0 &&
	    (method_is(r, "GET") || method_is(r, "HEAD")))
		acme_directory(ar);
	else if (n == 1 && strcmp(p[0], "new-nonce") == 0 &&
	    (method_is(r, "GET") || method_is(r, "HEAD")))
		acme_new_nonce(ar);
	else if (n == 2 && strcmp(p[0], "renewal-info") == 0 &&
	    method_is(r, "GET"))
		acme_renewal_info(ar, p[1]);
	else if (method_is(r, "POST") && n >= 1 && n <= 3)
		acme_route_post(ar, p, n);
	else if (n >= 1 && n <= 3 && !method_is(r, "POST"))
		acme_req_problem(ar, 405, ACME_ERR_MALFORMED,
		    "ACME resources take POST (RFC 8555 §6.3)");
	else
		acme_req_problem(
		    ar, 404, ACME_ERR_MALFORMED, "no such ACME resource");
}

static void
acme_handle(struct http_req *r, void *priv)
{
	struct acme *acme = priv;
	struct acme_req *ar;
	struct store_conn *sc;
	char path[512], *p[5];
	size_t n;

	if (snprintf(path, sizeof(path), "%s",
	        http_req_path(r) + strlen(ACME_PREFIX)) >= (int)sizeof(path)) {
		http_reply_text(r, 404, "no such ACME resource");
		return;
	}
	n = split_path(path, p, 4);
	if ((ar = acme_req_new(acme, r)) == NULL)
		return;
	/* The handler's lookups (nonce, account, resource) in one snapshot;
	 * whatever it starts asynchronously reads on its own later. */
	sc = ar->sc;
	store_read_begin(sc);
	acme_route(ar, r, p, n);
	store_read_end(sc);
}

const struct proto_handler acme_handler = {
    .name = "acme",
    .prefixes = acme_prefixes,
    .check = acme_cfg_check,
    .init = acme_init,
    .handle = acme_handle,
    .free = acme_free,
    .worker_init = acme_worker_init,
    .worker_free = acme_worker_free,
    .commands = acme_commands,
};
