/*
 * The HTTP request as protocols see it.  The core owns the connection,
 * the limits and the reply: a handler reads the request through these
 * accessors and ends it with exactly one http_reply*() call, at once or
 * later from the same event loop (STYLE.md rule 6).  The core logs one
 * line per request when the reply is sent.
 */
#ifndef ENROLLD_HTTP_H
#define ENROLLD_HTTP_H

#include <stddef.h>

#include <openssl/x509.h>

struct http_req;
struct worker;
struct event_base;
struct gateway;

const char *http_req_id(const struct http_req *r);
/* "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS" or "OTHER". */
const char *http_req_method(const struct http_req *r);
/* The path, percent-decoded, without the query. */
const char *http_req_path(const struct http_req *r);
/* The raw query string (after '?'), or NULL. */
const char *http_req_query(const struct http_req *r);
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const struct http_req *r, const char *name);
/* The body; bytes are contiguous and stay valid until the reply. */
const unsigned char *http_req_body(struct http_req *r, size_t *len);
/* The TLS client certificate (borrowed) or NULL; not verified: the
 * protocol decides what it trusts. */
X509 *http_req_peer_cert(const struct http_req *r);
/* The peer's chain as sent (borrowed) or NULL. */
STACK_OF(X509) *http_req_peer_chain(const struct http_req *r);
/* 1 when the request came over TLS. */
int http_req_is_tls(const struct http_req *r);
/* The worker this request runs on, its loop and the gateway. */
struct worker *http_req_worker(const struct http_req *r);
struct event_base *http_req_base(const struct http_req *r);
struct gateway *http_req_gateway(const struct http_req *r);
/* The handling protocol's state for this worker (its worker_init), or
 * NULL. */
void *http_req_worker_state(const struct http_req *r);

/* Add a response header before replying (copied).  0 / -1. */
int http_reply_header(struct http_req *r, const char *name, const char *value);
/* Send the reply and end the request.  `body` is copied. */
void http_reply(struct http_req *r, int status, const char *content_type,
    const void *body, size_t len);
/* text/plain reply with a formatted sentence and a final newline. */
void http_reply_text(struct http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Called if the client goes away before the reply; the handler cancels
 * its pending work there.  The request must still get its reply call
 * (which then only frees it).  Replaces any earlier callback.
 */
typedef void http_abort_fn(struct http_req *r, void *arg);
void http_req_on_abort(struct http_req *r, http_abort_fn *fn, void *arg);

/* Compare a media type header value to `want` exactly, ignoring case,
 * surrounding spaces and parameters after ';'.  1 match, 0 not. */
int http_media_type_is(const char *header_value, const char *want);

#endif
