/*
 * The load driver's http-01 responder on 127.0.0.1 (http01_responder.c).
 */
#ifndef ENROLLD_BENCH_HTTP01_RESPONDER_H
#define ENROLLD_BENCH_HTTP01_RESPONDER_H

#include <stddef.h>

struct event_base;
struct h01_responder;

/* The thumbprint of the account key (RFC 8555 §8.1) when some order
 * works on http-01 token `token` (len bytes, not NUL-terminated), else
 * NULL.  Asked for every request. */
typedef const char *h01_key_fn(void *arg, const char *token, size_t len);

/* Listen on 127.0.0.1:port and answer on base's loop; NULL on error
 * (errno from the socket call that failed). */
struct h01_responder *h01_responder_new(
    struct event_base *base, long port, h01_key_fn *key, void *arg);
/* Stop listening, close connections still waiting.  NULL-safe. */
void h01_responder_free(struct h01_responder *r);

#endif
