/*
 * Loading the JSON configuration and checking the core keys.  Checks are
 * data: one table row per key, so a new key is one line.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

enum key_kind_cfg { CFG_STRING, CFG_INT, CFG_BOOL, CFG_OBJECT, CFG_ARRAY };

struct key_rule {
	const char *name;
	enum key_kind_cfg kind;
	long min, max; /* CFG_INT only */
	int required;
};

static const struct key_rule top_rules[] = {
    {"listen", CFG_ARRAY, 0, 0, 1},
    {"http_listen", CFG_ARRAY, 0, 0, 0},
    {"workers", CFG_INT, 0, 256, 0},
    {"tls", CFG_OBJECT, 0, 0, 1},
    {"limits", CFG_OBJECT, 0, 0, 0},
    {"store", CFG_OBJECT, 0, 0, 1},
    {"log", CFG_OBJECT, 0, 0, 0},
    {"backends", CFG_OBJECT, 0, 0, 1},
    {"profiles", CFG_OBJECT, 0, 0, 1},
    {"est", CFG_OBJECT, 0, 0, 0},
    {"acme", CFG_OBJECT, 0, 0, 0},
    {"scep", CFG_OBJECT, 0, 0, 0},
    {"public_url", CFG_STRING, 0, 0, 0},
    {NULL, 0, 0, 0, 0},
};

static const struct key_rule tls_rules[] = {
    {"cert", CFG_STRING, 0, 0, 1},
    {"key", CFG_STRING, 0, 0, 1},
    {NULL, 0, 0, 0, 0},
};

static const struct key_rule limits_rules[] = {
    {"max_header_bytes", CFG_INT, 1024, 1048576, 0},
    {"max_body_bytes", CFG_INT, 1024, 67108864, 0},
    {"read_timeout_ms", CFG_INT, 100, 600000, 0},
    {"shutdown_timeout_ms", CFG_INT, 0, 600000, 0},
    {NULL, 0, 0, 0, 0},
};

static const struct key_rule store_rules[] = {
    {"driver", CFG_STRING, 0, 0, 1},
    {"path", CFG_STRING, 0, 0, 1},
    {NULL, 0, 0, 0, 0},
};

static const struct key_rule log_rules[] = {
    {"level", CFG_STRING, 0, 0, 0},
    {NULL, 0, 0, 0, 0},
};

static const char *const kind_names[] = {
    [CFG_STRING] = "a string",
    [CFG_INT] = "an integer",
    [CFG_BOOL] = "true or false",
    [CFG_OBJECT] = "an object",
    [CFG_ARRAY] = "an array",
};

json_t *
config_load(const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		snprintf(err, errlen, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(
		    err, errlen, "%s: the top level must be an object", path);
		json_decref(root);
		return NULL;
	}
	return root;
}

static int
kind_matches(const json_t *v, enum key_kind_cfg kind)
{
	switch (kind) {
	case CFG_STRING:
		return json_is_string(v);
	case CFG_INT:
		return json_is_integer(v);
	case CFG_BOOL:
		return json_is_boolean(v);
	case CFG_OBJECT:
		return json_is_object(v);
	case CFG_ARRAY:
		return json_is_array(v);
	}
	return 0;
}

/* Check `obj` (named `where`) against rules; unknown keys are errors so
 * that a typo never silently falls back to a default. */
static int
check_object(const json_t *obj, const char *where, const struct key_rule *rules,
    char *err, size_t errlen)
{
	const struct key_rule *r;
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (r = rules; r->name != NULL; r++)
			if (strcmp(r->name, key) == 0)
				break;
		if (r->name == NULL) {
			snprintf(err, errlen, "%s%s%s: unknown key", where,
			    *where ? "." : "", key);
			return -1;
		}
	}
	for (r = rules; r->name != NULL; r++) {
		v = json_object_get(obj, r->name);
		if (v == NULL) {
			if (!r->required)
				continue;
			snprintf(err, errlen, "%s%s%s: required key is missing",
			    where, *where ? "." : "", r->name);
			return -1;
		}
		if (!kind_matches(v, r->kind)) {
			snprintf(err, errlen, "%s%s%s: must be %s", where,
			    *where ? "." : "", r->name, kind_names[r->kind]);
			return -1;
		}
		if (r->kind == CFG_INT &&
		    (json_integer_value(v) < r->min ||
		        json_integer_value(v) > r->max)) {
			snprintf(err, errlen,
			    "%s%s%s: must be an integer from %ld to %ld", where,
			    *where ? "." : "", r->name, r->min, r->max);
			return -1;
		}
	}
	return 0;
}

static int
check_backends(const json_t *backends, char *err, size_t errlen)
{
	const char *name;
	const json_t *b;

	if (json_object_size(backends) == 0) {
		snprintf(err, errlen, "backends: at least one is required");
		return -1;
	}
	json_object_foreach((json_t *)backends, name, b)
	{
		if (!json_is_object(b) ||
		    !json_is_string(json_object_get(b, "type"))) {
			snprintf(err, errlen,
			    "backends.%s: must be an object with a \"type\"",
			    name);
			return -1;
		}
	}
	return 0;
}

int
config_check_core(const json_t *root, char *err, size_t errlen)
{
	const json_t *v;
	const char *lvl;
	size_t i;

	if (check_object(root, "", top_rules, err, errlen) == -1 ||
	    check_object(json_object_get(root, "tls"), "tls", tls_rules, err,
	        errlen) == -1 ||
	    check_object(json_object_get(root, "store"), "store", store_rules,
	        err, errlen) == -1)
		return -1;
	if ((v = json_object_get(root, "limits")) != NULL &&
	    check_object(v, "limits", limits_rules, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(root, "log")) != NULL) {
		if (check_object(v, "log", log_rules, err, errlen) == -1)
			return -1;
		lvl = json_string_value(json_object_get(v, "level"));
		if (lvl != NULL && log_level_parse(lvl) < 0) {
			snprintf(err, errlen,
			    "log.level: must be one of debug, "
			    "info, warn, error");
			return -1;
		}
	}
	if (strcmp(json_string_value(json_object_get(
	               json_object_get(root, "store"), "driver")),
	        "sqlite") != 0) {
		snprintf(err, errlen,
		    "store.driver: only \"sqlite\" is "
		    "available in this build");
		return -1;
	}
	json_array_foreach(json_object_get(root, "listen"), i, v)
	{
		if (!json_is_string(v)) {
			snprintf(
			    err, errlen, "listen[%zu]: must be a string", i);
			return -1;
		}
	}
	if (json_array_size(json_object_get(root, "listen")) == 0) {
		snprintf(err, errlen, "listen: at least one address is needed");
		return -1;
	}
	return check_backends(json_object_get(root, "backends"), err, errlen);
}

char *
config_basedir(const char *path)
{
	char *copy, *dir, *out;

	if ((copy = strdup(path)) == NULL)
		return NULL;
	dir = dirname(copy);
	out = strdup(dir);
	free(copy);
	return out;
}

int
config_path(const char *basedir, const char *rel, char *out, size_t outsz)
{
	int n;

	if (rel[0] == '/')
		n = snprintf(out, outsz, "%s", rel);
	else
		n = snprintf(out, outsz, "%s/%s", basedir, rel);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}
