/*
 * libcurl's multi-socket interface driven by a libevent loop, for the
 * outbound HTTP clients (the pattern of curl's docs/examples/hiperfifo.c):
 * one libevent event per socket libcurl watches, one timer for libcurl's
 * timeouts, and a callback per finished transfer.
 */
#ifndef ENROLLD_CURL_EV_H
#define ENROLLD_CURL_EV_H

#include <curl/curl.h>
#include <event2/event.h>

/* Sockets are looked up by fd: a larger one fails its transfer. */
#define CURL_EV_MAX_FD 65536

struct curl_ev;

/* A transfer ended with `result`; `easy` is already out of the multi
 * handle and may be reused or added again. */
typedef void curl_ev_done_fn(CURL *easy, CURLcode result, void *arg);

/*
 * A multi handle whose sockets and timer run on `base`; `done` is called
 * with `arg` for every finished transfer.  NULL on error.  Free with
 * curl_ev_free() before `base`.
 */
struct curl_ev *curl_ev_new(
    struct event_base *base, curl_ev_done_fn *done, void *arg);
/* The multi handle, borrowed: add and remove easy handles on it, set
 * its limits; never clean it up. */
CURLM *curl_ev_multi(struct curl_ev *ce);
/* Clean the multi handle up (remove every easy handle first), then free
 * the events.  NULL-safe. */
void curl_ev_free(struct curl_ev *ce);

#endif
