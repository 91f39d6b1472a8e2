/*
 * libcurl's multi-socket interface driven by a libevent loop, for the
 * load drivers (the pattern of curl's docs/examples/hiperfifo.c): one
 * libevent event per socket libcurl watches, one timer for libcurl's
 * timeouts, and a callback per finished transfer.
 */
#ifndef ENROLLD_BENCH_CURL_EV_H
#define ENROLLD_BENCH_CURL_EV_H

#include <curl/curl.h>
#include <event2/event.h>

/* Sockets are looked up by fd: a larger one fails its transfer. */
#define BCEV_MAX_FD 65536

struct bcev;

/* A transfer ended with `result`; `easy` is already out of the multi
 * handle and may be reused or added again. */
typedef void bcev_done_fn(CURL *easy, CURLcode result, void *arg);

/*
 * A multi handle whose sockets and timer run on `base`; `done` is called
 * with `arg` for every finished transfer.  NULL on error.  Free with
 * bcev_free() before `base`.
 */
struct bcev *bcev_new(struct event_base *base, bcev_done_fn *done, void *arg);
/* The multi handle, borrowed: add and remove easy handles on it, set
 * its limits; never clean it up. */
CURLM *bcev_multi(struct bcev *ce);
/* Clean the multi handle up (remove every easy handle first), then free
 * the events.  NULL-safe. */
void bcev_free(struct bcev *ce);

#endif
