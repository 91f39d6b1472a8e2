/*
 * Request side of the HTTPS server: the struct http_req protocols see,
 * routing by path prefix, replies, and one log line per request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/ssl.h>

#include "core/http.h"
#include "core/log.h"
#include "core/server_int.h"
#include "protocols/protocol.h"

struct http_req {
	struct evhttp_request *ev;
	struct worker *w;
	char id[24];
	struct timespec start;
	char *path;  /* decoded, without query */
	char *query; /* raw, or NULL */
	const unsigned char *body;
	size_t body_len;
	http_abort_fn *abort_fn;
	void *abort_arg;
	int aborted;
	int ev_gone; /* libevent frees ev itself: never touch it again */
	const char *method;
	char peer[64];
	const struct route *route; /* NULL until routed */
};

static double
elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) * 1e3 +
	    (double)(now.tv_nsec - start->tv_nsec) / 1e6;
}

const char *
http_req_id(const struct http_req *r)
{
	return r->id;
}

const char *
http_req_method(const struct http_req *r)
{
	return r->method;
}

static const char *
http_method_name(struct evhttp_request *ev)
{
	switch (evhttp_request_get_command(ev)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

const char *
http_req_path(const struct http_req *r)
{
	return r->path;
}

const char *
http_req_query(const struct http_req *r)
{
	return r->query;
}

const char *
http_req_header(const struct http_req *r, const char *name)
{
	return evhttp_find_header(
	    evhttp_request_get_input_headers(r->ev), name);
}

const unsigned char *
http_req_body(struct http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body;
}

static SSL *
http_req_ssl(const struct http_req *r)
{
	struct evhttp_connection *evcon;
	struct bufferevent *bev;

	if (r->aborted ||
	    (evcon = evhttp_request_get_connection(r->ev)) == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
		return NULL;
	return bufferevent_openssl_get_ssl(bev);
}

X509 *
http_req_peer_cert(const struct http_req *r)
{
	SSL *ssl = http_req_ssl(r);

	return ssl == NULL ? NULL : SSL_get0_peer_certificate(ssl);
}

STACK_OF(X509) *
http_req_peer_chain(const struct http_req *r)
{
	SSL *ssl = http_req_ssl(r);

	return ssl == NULL ? NULL : SSL_get_peer_cert_chain(ssl);
}

int
http_req_is_tls(const struct http_req *r)
{
	return http_req_ssl(r) != NULL;
}

struct worker *
http_req_worker(const struct http_req *r)
{
	return r->w;
}

struct event_base *
http_req_base(const struct http_req *r)
{
	return r->w->base;
}

struct gateway *
http_req_gateway(const struct http_req *r)
{
	return server_view(r->w->srv)->gw;
}

void *
http_req_worker_state(const struct http_req *r)
{
	return r->route == NULL || r->w->hstate == NULL
	    ? NULL
	    : r->w->hstate[r->route->handler_index];
}

int
http_reply_header(struct http_req *r, const char *name, const char *value)
{
	return evhttp_add_header(
	           evhttp_request_get_output_headers(r->ev), name, value) == 0
	    ? 0
	    : -1;
}

static void
http_req_free(struct http_req *r)
{
	free(r->path);
	free(r->query);
	free(r);
}

static void
http_log_reply(const struct http_req *r, int status)
{
	char clean[256];

	log_info("req=%s peer=%s method=%s path=\"%s\" status=%d "
	         "latency_ms=%.3f%s",
	    r->id, r->peer, r->method,
	    log_sanitize(r->path, strlen(r->path), clean, sizeof(clean)),
	    status, elapsed_ms(&r->start), r->aborted ? " aborted=1" : "");
}

/* libevent wrote the whole reply to the socket. */
static void
http_reply_written(struct evhttp_request *ev, void *arg)
{
	server_reply_flushed(arg);
}

void
http_reply(struct http_req *r, int status, const char *content_type,
    const void *body, size_t len)
{
	struct evkeyvalq *out;
	struct evhttp_connection *evcon;
	struct evbuffer *buf;
	struct worker *w = r->w;

	if (r->ev_gone) {
		http_log_reply(r, status);
		http_req_free(r);
		server_request_done(w);
		return;
	}
	out = evhttp_request_get_output_headers(r->ev);
	if ((evcon = evhttp_request_get_connection(r->ev)) != NULL)
		evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (content_type != NULL)
		evhttp_add_header(out, "Content-Type", content_type);
	if (w->draining)
		evhttp_add_header(out, "Connection", "close");
	http_log_reply(r, status);
	buf = evbuffer_new();
	if (buf != NULL && len > 0 && evbuffer_add(buf, body, len) != 0) {
		evbuffer_free(buf);
		buf = NULL;
		status = 500;
	}
	/* With the connection gone this only frees the request. */
	if (evcon != NULL) {
		w->unsent++;
		evhttp_request_set_on_complete_cb(r->ev, http_reply_written, w);
	}
	evhttp_send_reply(r->ev, status, NULL, buf);
	if (buf != NULL)
		evbuffer_free(buf);
	http_req_free(r);
	server_request_done(w);
}

void
http_reply_text(struct http_req *r, int status, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(text) - 2)
		n = (int)sizeof(text) - 2;
	text[n++] = '\n';
	http_reply(r, status, "text/plain; charset=utf-8", text, (size_t)n);
}

static void
http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_req *r = arg;

	r->aborted = 1;
	/* A request still attached to the dying connection is freed by
	 * libevent right after this callback; a detached one lives until
	 * our reply frees it. */
	if (evhttp_request_get_connection(r->ev) == evcon)
		r->ev_gone = 1;
	if (r->abort_fn != NULL)
		r->abort_fn(r, r->abort_arg);
}

void
http_req_on_abort(struct http_req *r, http_abort_fn *fn, void *arg)
{
	r->abort_fn = fn;
	r->abort_arg = arg;
}

int
http_media_type_is(const char *value, const char *want)
{
	size_t n, wlen = strlen(want);

	if (value == NULL)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strcspn(value, ";");
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	return n == wlen && strncasecmp(value, want, wlen) == 0;
}

static const struct route *
http_route(const struct server_view *v, const char *path)
{
	const struct route *best = NULL;
	size_t i;

	for (i = 0; i < v->n_routes; i++) {
		const struct route *rt = &v->routes[i];

		if (strncmp(path, rt->prefix, rt->prefix_len) == 0 &&
		    (best == NULL || rt->prefix_len > best->prefix_len))
			best = rt;
	}
	return best;
}

/* The first route of a handler owns its priv; find it for any prefix. */
static void *
http_route_priv(const struct server_view *v, const struct route *rt)
{
	size_t i;

	for (i = 0; i < v->n_routes; i++)
		if (v->routes[i].handler == rt->handler)
			return v->routes[i].priv;
	return NULL;
}

static int
http_req_parse(struct http_req *r)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
	struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
	const char *p, *q;

	if (uri == NULL || (p = evhttp_uri_get_path(uri)) == NULL || *p == '\0')
		p = "/";
	if ((r->path = evhttp_uridecode(p, 0, NULL)) == NULL)
		return -1;
	if (strlen(r->path) != strcspn(r->path, "\r\n"))
		return -1;
	if (uri != NULL && (q = evhttp_uri_get_query(uri)) != NULL &&
	    (r->query = strdup(q)) == NULL)
		return -1;
	r->body_len = evbuffer_get_length(in);
	if (r->body_len > 0 &&
	    (r->body = evbuffer_pullup(in, (ev_ssize_t)r->body_len)) == NULL)
		return -1;
	return 0;
}

void
http_dispatch(struct evhttp_request *evreq, void *arg)
{
	struct worker *w = arg;
	const struct server_view *v = server_view(w->srv);
	const struct route *rt;
	struct evhttp_connection *evcon;
	struct http_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		evhttp_send_error(evreq, 500, NULL);
		return;
	}
	r->ev = evreq;
	r->w = w;
	r->method = http_method_name(evreq);
	snprintf(r->peer, sizeof(r->peer), "-");
	if ((evcon = evhttp_request_get_connection(evreq)) != NULL) {
		char *host = NULL;
		ev_uint16_t port = 0;

		evhttp_connection_get_peer(evcon, &host, &port);
		if (host != NULL)
			snprintf(r->peer, sizeof(r->peer), "%s", host);
	}
	w->inflight++;
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	snprintf(r->id, sizeof(r->id), "%08x%02x%06lx", v->id_prefix,
	    w->index & 0xff, w->next_id++ & 0xffffff);
	if (http_req_parse(r) == -1) {
		if (r->path == NULL)
			r->path = strdup("?");
		if (r->path == NULL) {
			evhttp_send_error(evreq, 500, NULL);
			http_req_free(r);
			server_request_done(w);
			return;
		}
		http_reply_text(r, 400, "malformed request target");
		return;
	}
	if ((evcon = evhttp_request_get_connection(evreq)) != NULL)
		evhttp_connection_set_closecb(evcon, http_conn_closed, r);
	if ((rt = http_route(v, r->path)) == NULL) {
		http_reply_text(r, 404, "no such resource");
		return;
	}
	r->route = rt;
	if (!rt->handler->plain_http && !http_req_is_tls(r)) {
		http_reply_text(r, 403,
		    "this resource is served over HTTPS "
		    "only");
		return;
	}
	rt->handler->handle(r, http_route_priv(v, rt));
}
