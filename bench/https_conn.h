/*
 * A small keep-alive HTTPS client for the load drivers, on libevent's
 * evhttp over OpenSSL bufferevents: one origin (host, port and the CAs
 * its certificate must chain to), any number of connections to it, one
 * request at a time on each, the reply handed to a callback from the
 * event loop.
 *
 * The structs are spelt out here only because callers embed them (a
 * connection per load slot, the origin in the driver's state); their
 * members are this module's, not to be read or written elsewhere.
 */
#ifndef ENROLLD_BENCH_HTTPS_CONN_H
#define ENROLLD_BENCH_HTTPS_CONN_H

#include <stddef.h>

#include <event2/http.h>
#include <openssl/types.h>

/* The server: where to connect and whom to trust. */
struct https_origin {
	SSL_CTX *ctx;
	char host[256];      /* address or name to connect to and verify */
	char authority[300]; /* host[:port] as in the URL: the Host header */
	ev_uint16_t port;
	int is_ip; /* the certificate must name this address; no SNI */
};

/* A reply as the transport hands it over; valid during the call only. */
struct https_reply {
	long code;         /* HTTP status, 0 when the request failed */
	const char *error; /* then why; lives as long as the connection */
	struct evkeyvalq *headers;
	struct evbuffer *body; /* at most https_conn_init's max_body bytes */
};

typedef void https_reply_fn(void *arg, const struct https_reply *r);

/* One keep-alive HTTPS connection to the origin; one request at a time. */
struct https_conn {
	const struct https_origin *og;
	struct evhttp_connection *evcon;
	https_reply_fn *done; /* for the request in flight */
	void *arg;
	const char *error; /* set by conn_on_error for conn_on_reply */
	char tls_error[128];
	evutil_socket_t nodelay_fd; /* the socket has TCP_NODELAY; or -1 */
};

/*
 * og for the server of the https URL `url`, whose certificate must chain
 * to `cafile` and name the URL's host.  0, or -1 (said on stderr).  Free
 * with https_origin_free(), also after a failure.
 */
int https_origin_init(
    struct https_origin *og, const char *url, const char *cafile);
/* Free what og holds.  Safe on a zeroed or failed og. */
void https_origin_free(struct https_origin *og);

/*
 * Make c a connection to og (which must outlive it) on base, taking
 * replies of at most `max_body` bytes.  Nothing is sent yet: evhttp
 * connects on the first request, and again on the next request after
 * the server closed the connection or a request failed.  0 / -1.
 */
int https_conn_init(struct https_conn *c, const struct https_origin *og,
    struct event_base *base, size_t max_body);
/* Close c; a request in flight is dropped without its callback.  Safe
 * on a zeroed c, and more than once. */
void https_conn_free(struct https_conn *c);

/*
 * Send a request of `type` to `url` (on c's origin) with `body` (copied;
 * NULL for none) as application/jose+json.  0: done(arg, reply) will be
 * called once, from the event loop.  -1: nothing is in flight.
 */
int https_conn_send(struct https_conn *c, enum evhttp_cmd_type type,
    const char *url, const char *body, https_reply_fn *done, void *arg);

/* Copy the value of r's header `name` into dst when it is there and fits
 * (sz bytes with the NUL); otherwise leave dst alone.  r->code != 0. */
void https_reply_header(
    const struct https_reply *r, const char *name, char *dst, size_t sz);

#endif
