/*
 * Structured logging to stderr.  One line per event:
 *   2026-11-29T08:50:00.123Z level=info req=ab12 msg="..." key=value
 * Peer bytes must go through log_sanitize() before they reach a line.
 * Secrets are never passed to these functions.
 */
#ifndef ENROLLD_LOG_H
#define ENROLLD_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Set the minimum level; default info.  Thread-safe to call once at start. */
void log_set_level(enum log_level min);
/* Parse "debug"/"info"/"warn"/"error"; -1 on anything else. */
int log_level_parse(const char *name);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

/*
 * Log `what` at `lvl` followed by every queued OpenSSL error, then clear
 * the OpenSSL error queue of this thread.
 */
void log_openssl(enum log_level lvl, const char *what);

/*
 * Copy at most `len` bytes of `in` into `out` (size `outsz`, always
 * NUL-terminated), replacing control characters, quotes, backslashes and
 * non-ASCII bytes by '?'.  Returns out.
 */
char *log_sanitize(const char *in, size_t len, char *out, size_t outsz);

#endif
