/*
 * The keep-alive HTTPS client of the load drivers (see https_conn.h):
 * evhttp does the HTTP/1.1, an OpenSSL bufferevent under it the TLS.
 * The messages on stderr still name bench_acme, its one user, so that
 * its output is unchanged.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench/https_conn.h"
#include "core/server.h"

#define HTTPS_REQUEST_S 60 /* one request may wait this long */

/*
 * Split an https URL into its authority (host[:port], *alen bytes from
 * *auth) and its request-target (from the first '/' on).  0, or -1
 * when url is not https or has no path.
 */
static int
url_split(const char *url, const char **auth, size_t *alen, const char **target)
{
	const char *path;

	if (strncasecmp(url, "https://", 8) != 0 ||
	    (path = strchr(url + 8, '/')) == NULL)
		return -1;
	*auth = url + 8;
	*alen = (size_t)(path - *auth);
	*target = path;
	return 0;
}

/* A client context that trusts the CAs in `cafile` only, or NULL. */
static SSL_CTX *
tls_ctx_new(const char *cafile)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_file(ctx, cafile) != 1) {
		fprintf(
		    stderr, "bench_acme: cannot load CAs from %s\n", cafile);
		ERR_print_errors_fp(stderr); /* and empties the queue */
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int
https_origin_init(struct https_origin *og, const char *url, const char *cafile)
{
	struct evhttp_uri *uri;
	const char *auth, *target, *host = NULL;
	unsigned char bin[16];
	size_t alen, hlen = 0;
	int port = -1;

	if ((uri = evhttp_uri_parse(url)) != NULL &&
	    (host = evhttp_uri_get_host(uri)) != NULL) {
		port = evhttp_uri_get_port(uri);
		hlen = strlen(host);
		if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']')
			host++, hlen -= 2; /* an IPv6 literal */
	}
	if (host == NULL || hlen == 0 || hlen >= sizeof(og->host) ||
	    url_split(url, &auth, &alen, &target) == -1 ||
	    alen >= sizeof(og->authority)) {
		fprintf(stderr, "bench_acme: not an https URL: %s\n", url);
		if (uri != NULL)
			evhttp_uri_free(uri);
		return -1;
	}
	memcpy(og->host, host, hlen);
	og->host[hlen] = '\0';
	memcpy(og->authority, auth, alen);
	og->authority[alen] = '\0';
	og->port = port == -1 ? 443 : (ev_uint16_t)port;
	og->is_ip = inet_pton(AF_INET, og->host, bin) == 1 ||
	    inet_pton(AF_INET6, og->host, bin) == 1;
	evhttp_uri_free(uri);
	return (og->ctx = tls_ctx_new(cafile)) != NULL ? 0 : -1;
}

void
https_origin_free(struct https_origin *og)
{
	SSL_CTX_free(og->ctx);
	og->ctx = NULL;
}

/*
 * An OpenSSL bufferevent for a connection to og, not connected yet:
 * it verifies the server's certificate against og's CAs and host.
 */
static struct bufferevent *
conn_bev(const struct https_origin *og, struct event_base *base)
{
	struct bufferevent *bev;
	SSL *ssl;
	int ok;

	if ((ssl = SSL_new(og->ctx)) == NULL)
		goto fail;
	/* An address is matched against the iPAddress names; SNI and
	 * host names are for DNS names only. */
	if (og->is_ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(
		         SSL_get0_param(ssl), og->host) == 1;
	else
		ok = SSL_set1_host(ssl, og->host) == 1 &&
		    SSL_set_tlsext_host_name(ssl, og->host) == 1;
	if (!ok)
		goto fail;
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto fail; /* ssl is not taken on failure */
	/* Replies are read by their length; a peer that closes without
	 * close_notify is not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	server_join_writes(bev); /* each request one TLS record */
	return bev;
fail:
	ERR_print_errors_fp(stderr); /* and empties the queue */
	SSL_free(ssl);
	return NULL;
}

/* evhttp closed c's socket (the server did, or evhttp after an error). */
static void
conn_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct https_conn *c = arg;

	c->nodelay_fd = -1;
}

/*
 * Called once a request is queued on c.  On a new connection (its socket
 * exists by now) set TCP_NODELAY, or a write after the handshake would
 * wait for the server's delayed ACK (40 ms).
 */
static void
conn_sent(struct https_conn *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	evutil_socket_t fd = bufferevent_getfd(bev);
	int one = 1;

	if (fd == -1 || fd == c->nodelay_fd)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		c->nodelay_fd = fd;
}

int
https_conn_init(struct https_conn *c, const struct https_origin *og,
    struct event_base *base, size_t max_body)
{
	struct bufferevent *bev;

	c->og = og;
	c->nodelay_fd = -1;
	if ((bev = conn_bev(og, base)) == NULL)
		return -1;
	c->evcon = evhttp_connection_base_bufferevent_new(
	    base, NULL, bev, og->host, og->port);
	if (c->evcon == NULL) {
		bufferevent_free(bev);
		return -1;
	}
	/* Connecting, and each wait for the server to read or answer. */
	evhttp_connection_set_timeout(c->evcon, HTTPS_REQUEST_S);
	evhttp_connection_set_max_body_size(c->evcon, (ev_ssize_t)max_body);
	evhttp_connection_set_closecb(c->evcon, conn_on_close, c);
	return 0;
}

void
https_conn_free(struct https_conn *c)
{
	if (c->evcon != NULL)
		evhttp_connection_free(c->evcon);
	c->evcon = NULL;
}

/*
 * The TLS reason of a failure on c, or NULL when it was not TLS's.  The
 * bufferevent keeps OpenSSL's errors and SSL_get_error's code (no
 * reason: a refused or reset connection has only that one).
 */
static const char *
conn_tls_error(struct https_conn *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	const char *reason = NULL;
	unsigned long err;

	while ((err = bufferevent_get_openssl_error(bev)) != 0)
		if (reason == NULL)
			reason = ERR_reason_error_string(err);
	ERR_clear_error();
	if (reason == NULL)
		return NULL;
	snprintf(c->tls_error, sizeof(c->tls_error), "TLS: %s", reason);
	return c->tls_error;
}

/* evhttp says why the request in flight failed (before conn_on_reply). */
static void
conn_on_error(enum evhttp_request_error e, void *arg)
{
	struct https_conn *c = arg;

	if ((c->error = conn_tls_error(c)) != NULL)
		return;
	c->error = e == EVREQ_HTTP_TIMEOUT   ? "timeout"
	    : e == EVREQ_HTTP_EOF            ? "connection closed"
	    : e == EVREQ_HTTP_INVALID_HEADER ? "invalid reply"
	    : e == EVREQ_HTTP_DATA_TOO_LONG  ? "reply too big"
	                                     : "connection error";
}

/*
 * evhttp's completion: hand the reply, or the failure, to the caller of
 * https_conn_send.  A failed request comes as NULL after conn_on_error; one
 * that could not connect (TCP or TLS) as a request with status 0 and
 * no conn_on_error.
 */
static void
conn_on_reply(struct evhttp_request *req, void *arg)
{
	struct https_conn *c = arg;
	struct https_reply r;

	memset(&r, 0, sizeof(r));
	if (req != NULL)
		r.code = evhttp_request_get_response_code(req);
	if (r.code <= 0) {
		c->nodelay_fd = -1; /* evhttp closed the socket */
		r.code = 0;
		if ((r.error = c->error) == NULL &&
		    (r.error = conn_tls_error(c)) == NULL)
			r.error = "cannot connect";
	} else {
		r.headers = evhttp_request_get_input_headers(req);
		r.body = evhttp_request_get_input_buffer(req);
	}
	c->done(c->arg, &r);
}

int
https_conn_send(struct https_conn *c, enum evhttp_cmd_type type,
    const char *url, const char *body, https_reply_fn *done, void *arg)
{
	struct evhttp_request *req;
	struct evkeyvalq *h;
	const char *auth, *target;
	size_t alen;

	if (url_split(url, &auth, &alen, &target) == -1 ||
	    alen != strlen(c->og->authority) ||
	    strncasecmp(auth, c->og->authority, alen) != 0 ||
	    (req = evhttp_request_new(conn_on_reply, c)) == NULL)
		return -1;
	evhttp_request_set_error_cb(req, conn_on_error);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", c->og->authority) != 0 ||
	    (body != NULL &&
	        (evhttp_add_header(
	             h, "Content-Type", "application/jose+json") != 0 ||
	            evbuffer_add(evhttp_request_get_output_buffer(req), body,
	                strlen(body)) != 0))) {
		evhttp_request_free(req);
		return -1;
	}
	c->done = done;
	c->arg = arg;
	c->error = NULL;
	/* req is evhttp's from here on, also when this fails. */
	if (evhttp_make_request(c->evcon, req, type, target) != 0)
		return -1;
	conn_sent(c);
	return 0;
}

void
https_reply_header(
    const struct https_reply *r, const char *name, char *dst, size_t sz)
{
	const char *v = evhttp_find_header(r->headers, name);
	size_t n;

	if (v != NULL && (n = strlen(v)) < sz)
		memcpy(dst, v, n + 1);
}
