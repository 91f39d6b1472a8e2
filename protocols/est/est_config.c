/*
 * The "est" config section: validation (naming the key path of every
 * error) and the parsed form the handler reads.
 *
 *   "est": {
 *     "default_profile": "default",
 *     "labels": { "routers": "router-profile" },
 *     "users": [ { "name": "dev1", "password_hash": "$pbkdf2-sha256$..." } ],
 *     "client_cert_auth": true,
 *     "serverkeygen": true,
 *     "realm": "enrolld EST"
 *   }
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocols/est/est_int.h"

#define EST_DEFAULT_PROFILE "default"
#define EST_DEFAULT_REALM "enrolld EST"
#define EST_PROFILE_NAME_MAX 128
#define EST_USERS_MAX 100000

typedef int key_check_fn(const json_t *val, char *err, size_t errlen);

int
est_label_valid(const char *label)
{
	size_t n;

	for (n = 0; label[n] != '\0'; n++) {
		if (n >= EST_LABEL_MAX)
			return 0;
		if (!((label[n] >= 'A' && label[n] <= 'Z') ||
		        (label[n] >= 'a' && label[n] <= 'z') ||
		        (label[n] >= '0' && label[n] <= '9') ||
		        label[n] == '_' || label[n] == '-'))
			return 0;
	}
	return n > 0;
}

/* 1 when s is 1..max printable ASCII bytes without `forbid` chars. */
static int
printable(const char *s, size_t max, const char *forbid)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (n >= max || s[n] < 0x20 || s[n] > 0x7e ||
		    strchr(forbid, s[n]) != NULL)
			return 0;
	return n > 0;
}

/* 1 when s is non-empty and only base64 alphabet and padding. */
static int
b64_field(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		        (s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
		        s[i] == '/' || s[i] == '='))
			return 0;
	return 1;
}

/*
 * Syntax of core/passwd.h's "$pbkdf2-sha256$ITER$SALT_B64$HASH_B64",
 * checked without running PBKDF2 so that a config check stays fast.
 */
static int
hash_format_ok(const char *s)
{
	static const char prefix[] = "$pbkdf2-sha256$";
	const char *salt, *hash;
	size_t i;

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	s += sizeof(prefix) - 1;
	for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
		;
	if (i == 0 || i > 9 || s[0] == '0' || s[i] != '$')
		return 0;
	salt = s + i + 1;
	if ((hash = strchr(salt, '$')) == NULL)
		return 0;
	if (!b64_field(salt, (size_t)(hash - salt)))
		return 0;
	hash++;
	return b64_field(hash, strlen(hash));
}

static int
check_profile_name(
    const json_t *val, const char *path, char *err, size_t errlen)
{
	if (!json_is_string(val) ||
	    !printable(json_string_value(val), EST_PROFILE_NAME_MAX, "")) {
		snprintf(err, errlen,
		    "%s: must be a profile name (a string "
		    "of 1 to %d printable characters)",
		    path, EST_PROFILE_NAME_MAX);
		return -1;
	}
	return 0;
}

static int
check_default_profile(const json_t *val, char *err, size_t errlen)
{
	return check_profile_name(val, "est.default_profile", err, errlen);
}

static int
check_labels(const json_t *val, char *err, size_t errlen)
{
	char path[128];
	const char *label;
	json_t *prof;

	if (!json_is_object(val)) {
		snprintf(err, errlen,
		    "est.labels: must be an object of "
		    "label: profile");
		return -1;
	}
	json_object_foreach((json_t *)val, label, prof)
	{
		if (!est_label_valid(label)) {
			snprintf(err, errlen,
			    "est.labels.%.64s: a label must "
			    "be 1 to %d of A-Z a-z 0-9 _ -",
			    label, EST_LABEL_MAX);
			return -1;
		}
		snprintf(path, sizeof(path), "est.labels.%s", label);
		if (check_profile_name(prof, path, err, errlen) == -1)
			return -1;
	}
	return 0;
}

static int
check_user(const json_t *user, size_t idx, char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(user)) {
		snprintf(err, errlen,
		    "est.users[%zu]: must be an object "
		    "with name and password_hash",
		    idx);
		return -1;
	}
	json_object_foreach((json_t *)user, key, v)
	{
		if (strcmp(key, "name") != 0 &&
		    strcmp(key, "password_hash") != 0) {
			snprintf(err, errlen,
			    "est.users[%zu].%.64s: unknown "
			    "key",
			    idx, key);
			return -1;
		}
	}
	v = json_object_get(user, "name");
	/* RFC 7617 §2: a user-id cannot contain a colon. */
	if (!json_is_string(v) ||
	    !printable(json_string_value(v), EST_USER_MAX, ":")) {
		snprintf(err, errlen,
		    "est.users[%zu].name: must be 1 to %d "
		    "printable characters without ':'",
		    idx, EST_USER_MAX);
		return -1;
	}
	v = json_object_get(user, "password_hash");
	if (!json_is_string(v) || !hash_format_ok(json_string_value(v))) {
		snprintf(err, errlen,
		    "est.users[%zu].password_hash: must be "
		    "\"$pbkdf2-sha256$ITER$SALT$HASH\" (enrolld passwd)",
		    idx);
		return -1;
	}
	return 0;
}

static int
check_users(const json_t *val, char *err, size_t errlen)
{
	const char *name;
	size_t i, j, n;

	if (!json_is_array(val) || (n = json_array_size(val)) > EST_USERS_MAX) {
		snprintf(err, errlen,
		    "est.users: must be an array of at "
		    "most %d users",
		    EST_USERS_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (check_user(json_array_get(val, i), i, err, errlen) == -1)
			return -1;
		name = json_string_value(
		    json_object_get(json_array_get(val, i), "name"));
		/* Quadratic, but only once at startup. */
		for (j = 0; j < i; j++) {
			if (strcmp(name,
			        json_string_value(json_object_get(
			            json_array_get(val, j), "name"))) == 0) {
				snprintf(err, errlen,
				    "est.users[%zu].name: "
				    "duplicate of est.users[%zu].name",
				    i, j);
				return -1;
			}
		}
	}
	return 0;
}

static int
check_client_cert_auth(const json_t *val, char *err, size_t errlen)
{
	if (json_is_boolean(val))
		return 0;
	snprintf(err, errlen, "est.client_cert_auth: must be true or false");
	return -1;
}

static int
check_serverkeygen(const json_t *val, char *err, size_t errlen)
{
	if (json_is_boolean(val))
		return 0;
	snprintf(err, errlen, "est.serverkeygen: must be true or false");
	return -1;
}

static int
check_realm(const json_t *val, char *err, size_t errlen)
{
	/* It goes into WWW-Authenticate: Basic realm="...". */
	if (json_is_string(val) &&
	    printable(json_string_value(val), EST_REALM_MAX, "\"\\"))
		return 0;
	snprintf(err, errlen,
	    "est.realm: must be 1 to %d printable "
	    "characters without '\"' or '\\'",
	    EST_REALM_MAX);
	return -1;
}

static const struct {
	const char *key;
	key_check_fn *check;
} est_keys[] = {
    {"default_profile", check_default_profile},
    {"labels", check_labels},
    {"users", check_users},
    {"client_cert_auth", check_client_cert_auth},
    {"serverkeygen", check_serverkeygen},
    {"realm", check_realm},
};

int
est_config_check(const json_t *conf, char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	size_t i;

	if (conf == NULL)
		return 0;
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "est: must be an object");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, val)
	{
		for (i = 0; i < sizeof(est_keys) / sizeof(est_keys[0]); i++)
			if (strcmp(key, est_keys[i].key) == 0)
				break;
		if (i == sizeof(est_keys) / sizeof(est_keys[0])) {
			snprintf(err, errlen, "est.%.64s: unknown key", key);
			return -1;
		}
		if (est_keys[i].check(val, err, errlen) == -1)
			return -1;
	}
	return 0;
}

void
est_config_free(struct est_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->default_profile);
	for (i = 0; i < cfg->n_labels; i++) {
		free(cfg->labels[i].label);
		free(cfg->labels[i].profile);
	}
	free(cfg->labels);
	for (i = 0; i < cfg->n_users; i++) {
		free(cfg->users[i].name);
		free(cfg->users[i].password_hash);
	}
	free(cfg->users);
	free(cfg->realm);
	free(cfg);
}

/* A copy of the string at conf.key, or of `def` when absent. */
static char *
string_or(const json_t *conf, const char *key, const char *def)
{
	const json_t *v = json_object_get(conf, key);

	return strdup(v != NULL ? json_string_value(v) : def);
}

static int
bool_or(const json_t *conf, const char *key, int def)
{
	const json_t *v = json_object_get(conf, key);

	return v != NULL ? json_is_true(v) : def;
}

/* Copy labels and users out of an already checked section.  0 / -1. */
static int
copy_lists(struct est_config *cfg, const json_t *conf)
{
	const json_t *labels, *users, *u;
	const char *label;
	json_t *prof;
	size_t i, n;

	labels = json_object_get(conf, "labels");
	if ((n = json_object_size(labels)) > 0) {
		if ((cfg->labels = calloc(n, sizeof(*cfg->labels))) == NULL)
			return -1;
		json_object_foreach((json_t *)labels, label, prof)
		{
			i = cfg->n_labels++;
			cfg->labels[i].label = strdup(label);
			cfg->labels[i].profile =
			    strdup(json_string_value(prof));
			if (cfg->labels[i].label == NULL ||
			    cfg->labels[i].profile == NULL)
				return -1;
		}
	}
	users = json_object_get(conf, "users");
	if ((n = json_array_size(users)) > 0) {
		if ((cfg->users = calloc(n, sizeof(*cfg->users))) == NULL)
			return -1;
		for (i = 0; i < n; i++) {
			u = json_array_get(users, i);
			cfg->n_users++;
			cfg->users[i].name = strdup(
			    json_string_value(json_object_get(u, "name")));
			cfg->users[i].password_hash = strdup(json_string_value(
			    json_object_get(u, "password_hash")));
			if (cfg->users[i].name == NULL ||
			    cfg->users[i].password_hash == NULL)
				return -1;
		}
	}
	return 0;
}

struct est_config *
est_config_new(const json_t *conf, char *err, size_t errlen)
{
	struct est_config *cfg = NULL;

	if (est_config_check(conf, err, errlen) == -1)
		return NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		goto fail;
	cfg->default_profile =
	    string_or(conf, "default_profile", EST_DEFAULT_PROFILE);
	cfg->realm = string_or(conf, "realm", EST_DEFAULT_REALM);
	if (cfg->default_profile == NULL || cfg->realm == NULL)
		goto fail;
	cfg->client_cert_auth = bool_or(conf, "client_cert_auth", 1);
	cfg->serverkeygen = bool_or(conf, "serverkeygen", 1);
	if (copy_lists(cfg, conf) == -1)
		goto fail;
	return cfg;
fail:
	snprintf(err, errlen, "est: out of memory");
	est_config_free(cfg);
	return NULL;
}

const struct est_user *
est_config_user(const struct est_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}
