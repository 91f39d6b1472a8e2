/*
 * The configuration file (JSON, documented in docs/config.md).  This
 * module owns the core keys ("listen", "workers", "tls", "limits",
 * "store", "log", "backends"); "profiles" belong to policy/ and each
 * protocol checks its own section.
 */
#ifndef ENROLLD_CONFIG_H
#define ENROLLD_CONFIG_H

#include <stddef.h>

#include <jansson.h>

/*
 * Parse `path` (duplicate keys rejected).  Returns the root object, or
 * NULL with a sentence in err naming the line and column.  Caller
 * json_decref's.
 */
json_t *config_load(const char *path, char *err, size_t errlen);

/*
 * Check every core key's type and range and that no unknown top-level
 * key is present.  0, or -1 with a sentence naming the key in err.
 */
int config_check_core(const json_t *root, char *err, size_t errlen);

/*
 * The directory relative paths in the config are resolved against: the
 * directory of `path`.  malloc'd; caller frees.
 */
char *config_basedir(const char *path);

/*
 * Join `rel` to `basedir` unless it is absolute.  Writes to out; 0, or
 * -1 when it does not fit.
 */
int config_path(const char *basedir, const char *rel, char *out, size_t outsz);

#endif
