/*
 * SCEP challenge webhook: one POST per undecided challenge, made with
 * libevent's evhttp client on the worker's loop (http, or https through
 * an OpenSSL bufferevent that verifies the server).
 *
 * Name resolution would block the loop (evhttp without an evdns base
 * calls getaddrinfo), so the URL's host must be a numeric address or
 * "localhost", which is taken as 127.0.0.1 without asking the resolver.
 * An evdns base per worker would lift this limit.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "protocols/scep/webhook.h"

#define HOOK_TIMEOUT_MS 5000
#define HOOK_MAX_HEADERS (16 * 1024)
#define HOOK_MAX_BODY (64 * 1024) /* the answer body is not read */

struct scep_webhook {
	char addr[INET6_ADDRSTRLEN]; /* numeric address to connect to */
	char *host;                  /* URL host: Host header, TLS name */
	char *target;                /* request-target: path and query */
	char hosthdr[300];
	unsigned short port;
	int tls;
	struct timeval timeout; /* connect, and each read or write wait */
	SSL_CTX *ctx;           /* https only */
};

/* One POST in flight.  fin is made first so that finishing can never
 * fail: it frees the connection outside evhttp's callbacks (libevent
 * forbids freeing a connection from its own request callback). */
struct hook_call {
	struct evhttp_connection *conn;
	struct event *fin;
	scep_webhook_done_fn *done;
	void *arg;
	int allowed;
	char why[96];
};

static const char *const hook_keys[] = {"url", "timeout_ms", "ca_bundle", NULL};

static void
hook_clear(struct scep_webhook *w)
{
	free(w->host);
	free(w->target);
	SSL_CTX_free(w->ctx);
	memset(w, 0, sizeof(*w));
}

/* The numeric address for host ("[v6]", v4 or localhost).  0 / -1. */
static int
hook_addr(struct scep_webhook *w, const char *host)
{
	unsigned char bin[16];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0) {
		snprintf(w->addr, sizeof(w->addr), "127.0.0.1");
		return 0;
	}
	if (n > 2 && n - 2 < sizeof(w->addr) && host[0] == '[' &&
	    host[n - 1] == ']') {
		memcpy(w->addr, host + 1, n - 2);
		w->addr[n - 2] = '\0';
		return inet_pton(AF_INET6, w->addr, bin) == 1 ? 0 : -1;
	}
	if (n >= sizeof(w->addr) || inet_pton(AF_INET, host, bin) != 1)
		return -1;
	snprintf(w->addr, sizeof(w->addr), "%s", host);
	return 0;
}

/* Fill w from `url`.  0, or -1 with err naming scep.webhook.url. */
static int
hook_parse_url(
    struct scep_webhook *w, const char *url, char *err, size_t errlen)
{
	struct evhttp_uri *u = NULL;
	const char *scheme, *host, *path, *query;
	int port, rc = -1;
	size_t n;

	if (url == NULL || (u = evhttp_uri_parse(url)) == NULL ||
	    (scheme = evhttp_uri_get_scheme(u)) == NULL ||
	    (host = evhttp_uri_get_host(u)) == NULL ||
	    (strcasecmp(scheme, "http") != 0 &&
	        strcasecmp(scheme, "https") != 0)) {
		snprintf(err, errlen,
		    "scep.webhook.url: must be an http:// or https:// URL");
		goto out;
	}
	if (evhttp_uri_get_userinfo(u) != NULL) {
		snprintf(err, errlen,
		    "scep.webhook.url: user:password@ is not supported");
		goto out;
	}
	if (hook_addr(w, host) == -1) {
		snprintf(err, errlen,
		    "scep.webhook.url: host must be a numeric address or "
		    "localhost (no DNS on the event loop), got \"%.64s\"",
		    host);
		goto out;
	}
	w->tls = strcasecmp(scheme, "https") == 0;
	port = evhttp_uri_get_port(u);
	w->port = port > 0 && port < 65536 ? (unsigned short)port
	                                   : (w->tls ? 443 : 80);
	if (port > 0)
		snprintf(
		    w->hosthdr, sizeof(w->hosthdr), "%.255s:%d", host, port);
	else
		snprintf(w->hosthdr, sizeof(w->hosthdr), "%.255s", host);
	path = evhttp_uri_get_path(u);
	if (path == NULL || path[0] == '\0')
		path = "/";
	query = evhttp_uri_get_query(u);
	n = strlen(path) + (query != NULL ? strlen(query) + 1 : 0) + 1;
	if ((w->host = strdup(host)) == NULL ||
	    (w->target = malloc(n)) == NULL) {
		snprintf(err, errlen, "scep.webhook.url: out of memory");
		goto out;
	}
	snprintf(w->target, n, "%s%s%s", path, query != NULL ? "?" : "",
	    query != NULL ? query : "");
	rc = 0;
out:
	if (u != NULL)
		evhttp_uri_free(u);
	return rc;
}

/* Check conf and fill w with everything but the TLS context. */
static int
hook_parse(struct scep_webhook *w, const json_t *conf, char *err, size_t errlen)
{
	const json_t *v;
	const char *key;
	json_int_t ms = HOOK_TIMEOUT_MS;
	size_t i;

	if (!json_is_object(conf)) {
		snprintf(err, errlen, "scep.webhook: must be an object");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, v)
	{
		for (i = 0; hook_keys[i] != NULL; i++)
			if (strcmp(hook_keys[i], key) == 0)
				break;
		if (hook_keys[i] == NULL) {
			snprintf(err, errlen, "scep.webhook.%.64s: unknown key",
			    key);
			return -1;
		}
	}
	if (hook_parse_url(w, json_string_value(json_object_get(conf, "url")),
	        err, errlen) == -1)
		return -1;
	if ((v = json_object_get(conf, "timeout_ms")) != NULL &&
	    (!json_is_integer(v) || (ms = json_integer_value(v)) < 100 ||
	        ms > 60000)) {
		snprintf(err, errlen,
		    "scep.webhook.timeout_ms: must be an integer from 100 to "
		    "60000");
		return -1;
	}
	w->timeout.tv_sec = (time_t)(ms / 1000);
	w->timeout.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	v = json_object_get(conf, "ca_bundle");
	if (v != NULL && (!json_is_string(v) || !w->tls)) {
		snprintf(err, errlen,
		    "scep.webhook.ca_bundle: must be a path, and only with "
		    "an https:// URL");
		return -1;
	}
	return 0;
}

int
scep_webhook_check(const json_t *conf, char *err, size_t errlen)
{
	struct scep_webhook w;
	int rc;

	if (conf == NULL)
		return 0;
	memset(&w, 0, sizeof(w));
	rc = hook_parse(&w, conf, err, errlen);
	hook_clear(&w);
	return rc;
}

/* The client TLS context: peer verified against ca_bundle, else the
 * system's default trust store; TLS 1.2 at least. */
static SSL_CTX *
hook_ssl_ctx(
    const char *ca_bundle, const char *basedir, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char path[4096];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_bundle == NULL) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			goto fail;
	} else if (config_path(basedir, ca_bundle, path, sizeof(path)) == -1 ||
	    SSL_CTX_load_verify_file(ctx, path) != 1) {
		snprintf(err, errlen,
		    "scep.webhook.ca_bundle: cannot load \"%.200s\"",
		    ca_bundle);
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return NULL;
	}
	return ctx;
fail:
	snprintf(err, errlen, "scep.webhook: cannot make a TLS context");
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

struct scep_webhook *
scep_webhook_new(
    const json_t *conf, const char *basedir, char *err, size_t errlen)
{
	struct scep_webhook *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "scep.webhook: out of memory");
		return NULL;
	}
	if (hook_parse(w, conf, err, errlen) == -1 ||
	    (w->tls &&
	        (w->ctx = hook_ssl_ctx(
	             json_string_value(json_object_get(conf, "ca_bundle")),
	             basedir, err, errlen)) == NULL)) {
		scep_webhook_free(w);
		return NULL;
	}
	return w;
}

void
scep_webhook_free(struct scep_webhook *w)
{
	if (w == NULL)
		return;
	hook_clear(w);
	free(w);
}

/* Runs from c->fin, outside evhttp's callbacks: free everything, then
 * tell the caller. */
static void
hook_finish(evutil_socket_t fd, short what, void *arg)
{
	struct hook_call *c = arg;
	scep_webhook_done_fn *done = c->done;
	void *darg = c->arg;
	char why[sizeof(c->why)];
	int allowed = c->allowed;

	memcpy(why, c->why, sizeof(why));
	if (c->conn != NULL)
		evhttp_connection_free(c->conn);
	event_free(c->fin);
	free(c);
	ERR_clear_error(); /* a failed handshake leaves its reasons */
	done(darg, allowed, why);
}

/* evhttp says why the request failed; a TLS failure (an unknown CA, a
 * name mismatch) shows as EOF, so the OpenSSL reason is asked first. */
static void
hook_error(enum evhttp_request_error e, void *arg)
{
	struct hook_call *c = arg;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
	unsigned long ssl_err =
	    bev != NULL ? bufferevent_get_openssl_error(bev) : 0;
	const char *reason;

	if (ssl_err != 0) {
		reason = ERR_reason_error_string(ssl_err);
		snprintf(c->why, sizeof(c->why), "TLS: %s",
		    reason != NULL ? reason : "handshake failed");
		return;
	}
	snprintf(c->why, sizeof(c->why), "%s",
	    e == EVREQ_HTTP_TIMEOUT              ? "timeout"
	        : e == EVREQ_HTTP_EOF            ? "connection closed"
	        : e == EVREQ_HTTP_DATA_TOO_LONG  ? "answer too long"
	        : e == EVREQ_HTTP_INVALID_HEADER ? "invalid answer"
	                                         : "connection or TLS error");
}

/* evhttp's completion: req is NULL when the request failed (hook_error
 * said why). */
static void
hook_response(struct evhttp_request *req, void *arg)
{
	struct hook_call *c = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;

	if (code != 0)
		snprintf(c->why, sizeof(c->why), "status=%d", code);
	c->allowed = code >= 200 && code < 300;
	event_active(c->fin, EV_TIMEOUT, 1);
}

/* A bufferevent for one connection to w, or NULL. */
static struct bufferevent *
hook_bev(struct scep_webhook *w, struct event_base *base)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (!w->tls)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(w->ctx)) == NULL)
		return NULL;
	/* An IP address is matched against the certificate's iPAddress
	 * names (OpenSSL 3); SNI carries host names only. */
	if (SSL_set1_host(ssl, w->host) != 1 ||
	    (strcasecmp(w->host, "localhost") == 0 &&
	        SSL_set_tlsext_host_name(ssl, w->host) != 1)) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl); /* not taken on failure */
		return NULL;
	}
	/* The answer is read by its length; a peer that skips
	 * close_notify afterwards is not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Connection, request, headers and body; 0, or -1 with nothing
 * pending (c->conn may be set and is freed by hook_finish). */
static int
hook_start(struct scep_webhook *w, struct hook_call *c, struct event_base *base,
    const char *json_body)
{
	struct evhttp_request *req;
	struct evkeyvalq *h;
	struct bufferevent *bev;

	if ((bev = hook_bev(w, base)) == NULL)
		return -1;
	c->conn = evhttp_connection_base_bufferevent_new(
	    base, NULL, bev, w->addr, w->port);
	if (c->conn == NULL) {
		bufferevent_free(bev);
		return -1;
	}
	evhttp_connection_set_timeout_tv(c->conn, &w->timeout);
	evhttp_connection_set_max_headers_size(c->conn, HOOK_MAX_HEADERS);
	evhttp_connection_set_max_body_size(c->conn, HOOK_MAX_BODY);
	if ((req = evhttp_request_new(hook_response, c)) == NULL)
		return -1;
	evhttp_request_set_error_cb(req, hook_error);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", w->hosthdr) != 0 ||
	    evhttp_add_header(h, "Content-Type", "application/json") != 0 ||
	    evhttp_add_header(h, "Connection", "close") != 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), json_body,
	        strlen(json_body)) != 0) {
		evhttp_request_free(req);
		return -1;
	}
	/* Takes req, also when it fails. */
	return evhttp_make_request(c->conn, req, EVHTTP_REQ_POST, w->target);
}

int
scep_webhook_call(struct scep_webhook *w, struct event_base *base,
    const char *json_body, scep_webhook_done_fn *done, void *arg)
{
	struct hook_call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -1;
	if ((c->fin = evtimer_new(base, hook_finish, c)) == NULL) {
		free(c);
		return -1;
	}
	c->done = done;
	c->arg = arg;
	snprintf(c->why, sizeof(c->why), "connection or TLS error");
	if (hook_start(w, c, base, json_body) == -1) {
		/* Never call done from here: the caller is mid-way. */
		snprintf(c->why, sizeof(c->why), "request not sent");
		event_active(c->fin, EV_TIMEOUT, 1);
	}
	return 0;
}
