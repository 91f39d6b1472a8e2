/*
 * SCEP challenge validation by a webhook (Intune/Jamf-style setups): the
 * CSR and the challenge are POSTed as JSON to a configured URL, and any
 * 2xx answer allows the request.  The call runs on the worker's event
 * loop and never blocks it.
 */
#ifndef ENROLLD_SCEP_WEBHOOK_H
#define ENROLLD_SCEP_WEBHOOK_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct scep_webhook;

/* Validate `scep.webhook` (NULL = not configured is fine): an object
 * with `url` (http:// or https://, numeric host or localhost),
 * `timeout_ms` (100..60000) and `ca_bundle` (string).  0, or -1 with a
 * sentence naming the key in err. */
int scep_webhook_check(const json_t *conf, char *err, size_t errlen);

/* The webhook of a checked `scep.webhook`; `ca_bundle` is relative to
 * basedir.  NULL with err set on failure.  Shared by every worker; the
 * caller frees it with scep_webhook_free() after the workers are gone. */
struct scep_webhook *scep_webhook_new(
    const json_t *conf, const char *basedir, char *err, size_t errlen);
void scep_webhook_free(struct scep_webhook *w);

typedef void scep_webhook_done_fn(void *arg, int allowed, const char *why);

/*
 * POST json_body (copied) to the webhook from base's loop.  On 0, done
 * runs exactly once, later, on that loop: allowed 1 for a 2xx answer,
 * else 0 with why ("status=403", "timeout", ...; never the body).  On
 * -1 (out of memory) done never runs.
 */
int scep_webhook_call(struct scep_webhook *w, struct event_base *base,
    const char *json_body, scep_webhook_done_fn *done, void *arg);

#endif
