/*
 * A small keep-alive HTTPS client for the load drivers: HTTP/1.1 over an
 * OpenSSL connection on a non-blocking socket, driven by one libevent
 * loop.  One origin (host, port and the CAs its certificate must chain
 * to), any number of connections to it, one request at a time on each,
 * the reply handed to a callback from the event loop.
 *
 * It is hand-rolled rather than libevent's evhttp over an OpenSSL
 * bufferevent because the driver shares the two cores with the server
 * it measures: evhttp defers every write to the next loop pass (an
 * EPOLLOUT round trip, two epoll_ctl per request), reads each TLS record
 * in two read(2)s and allocates a request, header list and buffers per
 * exchange.  Here a request is written at once, a reply is usually read
 * in one read(2), and the socket stays registered for reading only.
 *
 * The structs are spelt out here only because callers embed them (a
 * connection per load slot, the origin in the driver's state); their
 * members are this module's, not to be read or written elsewhere.
 */
#ifndef ENROLLD_BENCH_HTTPS_CONN_H
#define ENROLLD_BENCH_HTTPS_CONN_H

#include <sys/socket.h>

#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/types.h>

/* The server: where to connect and whom to trust. */
struct https_origin {
	SSL_CTX *ctx;
	char host[256];      /* address or name to connect to and verify */
	char authority[300]; /* host[:port] as in the URL: the Host header */
	size_t authority_len;
	struct sockaddr_storage addr; /* resolved once, by https_origin_init */
	socklen_t addr_len;
	int is_ip; /* the certificate must name this address; no SNI */
};

/* A reply as the transport hands it over; valid during the call only. */
struct https_reply {
	long code;         /* HTTP status, 0 when the request failed */
	const char *error; /* then why; lives as long as the connection */
	const char *head;  /* the header lines after the status line */
	size_t head_len;
	const char *body; /* NUL-terminated, chunked coding removed */
	size_t body_len;  /* at most https_conn_init's max_body */
};

typedef void https_reply_fn(void *arg, const struct https_reply *r);

/* One keep-alive HTTPS connection to the origin; one request at a time. */
struct https_conn {
	const struct https_origin *og;
	struct event_base *base;
	const struct timeval *timeout; /* a common timeout of base */
	struct event *rev;  /* readable; persistent while the socket is open */
	struct event *wev;  /* writable, while a write or connect waits */
	struct event *fev;  /* a failure to report from the event loop */
	SSL *ssl;           /* NULL while closed */
	evutil_socket_t fd; /* -1 while closed */
	int state;          /* HC_IDLE, HC_SENDING or HC_WAITING */
	int is_head;        /* the request in flight is a HEAD */
	https_reply_fn *done; /* for the request in flight */
	void *arg;
	const char *error; /* why the request in flight failed */
	char tls_error[128];
	/* The request being written: SSL_write is retried with it. */
	char *tx;
	size_t tx_len, tx_cap;
	/* The reply read so far; rx_off bytes of it are a finished reply. */
	char *rx;
	size_t rx_len, rx_cap, rx_off, max_body;
	/* What is known of the reply being read (https_conn.c's parser). */
	size_t head_begin; /* the first header line */
	size_t head_end;   /* past the empty line; 0 until it is in */
	size_t scanned;    /* how far the search for its end got */
	size_t clen;       /* Content-Length */
	int framing;       /* how the body ends */
	int keep_alive;
	long code;
};

/*
 * og for the server of the https URL `url`, whose certificate must chain
 * to `cafile` and name the URL's host; the host is resolved here, once
 * (blocking).  0, or -1 (said on stderr).  Free with https_origin_free(),
 * also after a failure.
 */
int https_origin_init(
    struct https_origin *og, const char *url, const char *cafile);
/* Free what og holds.  Safe on a zeroed or failed og. */
void https_origin_free(struct https_origin *og);

/*
 * Make c a connection to og (which must outlive it) on base, taking
 * replies of at most `max_body` bytes.  Nothing is sent yet: c connects
 * on the first request, and again on the next request after the server
 * closed the connection or a request failed.  0 / -1; free with
 * https_conn_free() in both cases.
 */
int https_conn_init(struct https_conn *c, const struct https_origin *og,
    struct event_base *base, size_t max_body);
/* Close c; a request in flight is dropped without its callback.  Safe
 * on a zeroed c, and more than once; not from c's own callback. */
void https_conn_free(struct https_conn *c);

/*
 * Send a GET, HEAD or POST (`type`) to `url` (on c's origin) with `body`
 * (copied; NULL for none) as application/jose+json.  0: done(arg, reply)
 * will be called once, from the event loop (also for a failure to
 * connect or write).  -1: nothing is in flight (a bad URL, another
 * request in flight, no memory).  May be called from c's callback.
 */
int https_conn_send(struct https_conn *c, enum evhttp_cmd_type type,
    const char *url, const char *body, https_reply_fn *done, void *arg);

/* Copy the value of r's header `name` (the first one, white space
 * trimmed) into dst when it is there and fits (sz bytes with the NUL);
 * otherwise leave dst alone.  r->code != 0. */
void https_reply_header(
    const struct https_reply *r, const char *name, char *dst, size_t sz);

#endif
