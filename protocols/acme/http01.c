/*
 * http-01 probe (RFC 8555 §8.3): GET /.well-known/acme-challenge/TOKEN
 * from the identifier, on a raw libevent bufferevent so that every byte
 * read is bounded here.  Redirects are followed as Boulder does: at most
 * ten, http or https only, to the configured http-01 port or the https
 * (tls-alpn-01) port only, every new address judged by the same policy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
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

#include "core/log.h"
#include "protocols/acme/validate_int.h"

#define HTTP01_REDIRECTS_MAX 10
#define HTTP01_HEADERS_MAX 8192 /* status line and headers together */
#define HTTP01_BODY_MAX 4096    /* a key authorization is ~90 bytes */
#define HTTP01_SHOW_MAX 128     /* of a wrong body, in the detail */
#define HTTP01_HOST_MAX 260     /* a DNS name, or "[v6]" */
#define HTTP01_PATH_MAX 1024

enum http01_state {
	H_CONNECT,
	H_STATUS,
	H_HEADERS,
	H_BODY,
	H_CHUNK_SIZE,
	H_CHUNK_DATA,
	H_CHUNK_CRLF,
	H_RESOLVE
};

struct acme_http01 {
	struct acme_probe p;
	struct bufferevent *bev;
	struct acme_dns_lookup *lookup;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char host[HTTP01_HOST_MAX]; /* Host header, as in the URL */
	char path[HTTP01_PATH_MAX];
	int https, port, redirects;
	enum http01_state state;
	int status, chunked;
	long long clen; /* -1: until EOF */
	size_t left, hdr_bytes;
	char *location;
	char body[HTTP01_BODY_MAX];
	size_t bodylen;
};

static int http01_connect(struct acme_http01 *);

/* Report failure; the caller returns at once (h may be freed). */
static void http01_fail(struct acme_http01 *h, const char *problem,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
http01_fail(struct acme_http01 *h, const char *problem, const char *fmt, ...)
{
	char detail[ACME_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	h->p.done(h->p.arg, 0, problem, detail);
}

/* The URL being fetched, for details: port shown unless standard. */
static const char *
http01_url(const struct acme_http01 *h, char *buf, size_t len)
{
	char port[12] = "";

	if (h->port != (h->https ? 443 : 80))
		snprintf(port, sizeof(port), ":%d", h->port);
	snprintf(buf, len, "%s://%s%s%s", h->https ? "https" : "http", h->host,
	    port, h->path);
	return buf;
}

/* Trailing white space is ignored, as Boulder does; the rest is exact. */
static void
http01_evaluate(struct acme_http01 *h)
{
	const char *want = h->p.req->key_authorization;
	char got[HTTP01_SHOW_MAX + 1];
	size_t n = h->bodylen;

	while (n > 0 && strchr(" \t\r\n", h->body[n - 1]) != NULL)
		n--;
	if (n == strlen(want) && memcmp(h->body, want, n) == 0) {
		h->p.done(h->p.arg, 1, NULL, "");
		return;
	}
	log_sanitize(h->body, n, got, sizeof(got));
	http01_fail(h, "unauthorized",
	    "The key authorization file from the server did not match this "
	    "challenge. Expected \"%s\" (got \"%s\")",
	    want, got);
}

/* "HTTP/1.x NNN reason"; 0 or -1. */
static int
http01_status_line(struct acme_http01 *h, const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ' || line[9] < '1' || line[9] > '5' ||
	    line[10] < '0' || line[10] > '9' || line[11] < '0' ||
	    line[11] > '9' || (line[12] != ' ' && line[12] != '\0'))
		return -1;
	h->status =
	    (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return 0;
}

/* One "Name: value" line; 0 or -1 when malformed or unsupported. */
static int
http01_header(struct acme_http01 *h, char *line)
{
	char *colon, *v, *end;
	long long n;

	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return -1;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (strcasecmp(line, "Content-Length") == 0) {
		if (v[0] == '\0' || strspn(v, "0123456789") != strlen(v) ||
		    strlen(v) > 18)
			return -1;
		n = strtoll(v, NULL, 10);
		if (h->clen != -1 && h->clen != n)
			return -1;
		h->clen = n;
	} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
		if (strcasecmp(v, "chunked") != 0)
			return -1;
		h->chunked = 1;
	} else if (strcasecmp(line, "Location") == 0) {
		free(h->location);
		if ((h->location = strdup(v)) == NULL)
			return -1;
	}
	return 0;
}

/* Host from a URL: a DNS name, or an IP literal (v6 in brackets). */
static int
http01_set_host(struct acme_http01 *h, const char *host)
{
	struct in6_addr a6;
	char inner[HTTP01_HOST_MAX];
	size_t len = strlen(host);

	if (len == 0 || len >= sizeof(h->host))
		return -1;
	if (host[0] == '[') {
		if (host[len - 1] != ']' || len - 2 >= sizeof(inner))
			return -1;
		memcpy(inner, host + 1, len - 2);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, &a6) != 1)
			return -1;
	} else if (strspn(host,
	               "abcdefghijklmnopqrstuvwxyz"
	               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len)
		return -1;
	memcpy(h->host, host, len + 1);
	return 0;
}

/* Parse an IP literal host into h->addr; 1 when it was one, else 0. */
static int
http01_literal(struct acme_http01 *h)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->addr;
	char inner[HTTP01_HOST_MAX];
	size_t len = strlen(h->host);

	memset(&h->addr, 0, sizeof(h->addr));
	if (h->host[0] == '[') {
		memcpy(inner, h->host + 1, len - 2);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, &sin6->sin6_addr) != 1)
			return 0;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)h->port);
		h->addrlen = sizeof(*sin6);
		return 1;
	}
	if (inet_pton(AF_INET, h->host, &sin->sin_addr) != 1)
		return 0;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)h->port);
	h->addrlen = sizeof(*sin);
	return 1;
}

/* Check the new address against the policy, then connect. */
static void
http01_go(struct acme_http01 *h)
{
	char why[ACME_DETAIL_MAX / 2];

	if (!acme_addr_allowed((struct sockaddr *)&h->addr,
	        h->p.cfg->allow_private, why, sizeof(why))) {
		http01_fail(h, "connection", "Redirect to %s refused: %s",
		    h->host, why);
		return;
	}
	if (http01_connect(h) == -1)
		http01_fail(
		    h, "connection", "Could not connect to %s", h->host);
}

static void
http01_resolved(
    void *arg, const struct sockaddr_storage *addrs, size_t n, const char *why)
{
	struct acme_http01 *h = arg;
	char reason[ACME_DETAIL_MAX / 2];
	size_t i;

	h->lookup = NULL;
	if (n == 0) {
		http01_fail(h, "dns", "%s", why);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!acme_addr_allowed((const struct sockaddr *)&addrs[i],
		        h->p.cfg->allow_private, reason, sizeof(reason))) {
			http01_fail(h, "connection",
			    "Redirect to %s refused: %s", h->host, reason);
			return;
		}
	}
	h->addr = addrs[0];
	if (h->addr.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&h->addr)->sin6_port =
		    htons((unsigned short)h->port);
		h->addrlen = sizeof(struct sockaddr_in6);
	} else {
		((struct sockaddr_in *)&h->addr)->sin_port =
		    htons((unsigned short)h->port);
		h->addrlen = sizeof(struct sockaddr_in);
	}
	if (http01_connect(h) == -1)
		http01_fail(
		    h, "connection", "Could not connect to %s", h->host);
}

/*
 * Point h at the Location target (absolute URL or absolute path), as
 * Boulder allows.  0, or -1 with a sentence in why.
 */
static int
http01_retarget(struct acme_http01 *h, char *why, size_t whylen)
{
	struct evhttp_uri *u = NULL;
	const char *scheme, *host, *path, *query;
	int port, rc = -1;

	if ((u = evhttp_uri_parse(h->location)) == NULL) {
		snprintf(why, whylen, "the Location is not a valid URL");
		goto out;
	}
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	if (scheme != NULL) {
		if (strcasecmp(scheme, "http") != 0 &&
		    strcasecmp(scheme, "https") != 0) {
			snprintf(
			    why, whylen, "only http and https are allowed");
			goto out;
		}
		h->https = strcasecmp(scheme, "https") == 0;
		if (host == NULL) {
			snprintf(why, whylen, "the Location has no host");
			goto out;
		}
	}
	if (host != NULL && http01_set_host(h, host) == -1) {
		snprintf(why, whylen, "the host is not valid");
		goto out;
	}
	port = h->https ? h->p.cfg->tlsalpn01_port : h->p.cfg->http01_port;
	if (evhttp_uri_get_port(u) != -1 && evhttp_uri_get_port(u) != port) {
		snprintf(why, whylen, "only port %d is allowed for %s, not %d",
		    port, h->https ? "https" : "http", evhttp_uri_get_port(u));
		goto out;
	}
	h->port = port;
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	if (path == NULL || path[0] != '/')
		path = "/";
	if ((size_t)snprintf(h->path, sizeof(h->path), "%s%s%s", path,
	        query != NULL ? "?" : "",
	        query != NULL ? query : "") >= sizeof(h->path)) {
		snprintf(why, whylen, "the path is too long");
		goto out;
	}
	rc = 0;
out:
	if (u != NULL)
		evhttp_uri_free(u);
	return rc;
}

/* A 3xx with Location: close this connection and fetch the target. */
static void
http01_redirect(struct acme_http01 *h)
{
	char why[ACME_DETAIL_MAX / 2], loc[HTTP01_SHOW_MAX + 1];

	if (h->location == NULL) {
		http01_fail(h, "connection", "Redirect (%d) without Location",
		    h->status);
		return;
	}
	log_sanitize(h->location, strlen(h->location), loc, sizeof(loc));
	if (++h->redirects > HTTP01_REDIRECTS_MAX) {
		http01_fail(
		    h, "connection", "Too many redirects (at \"%s\")", loc);
		return;
	}
	if (http01_retarget(h, why, sizeof(why)) == -1) {
		http01_fail(h, "connection", "Invalid redirect to \"%s\": %s",
		    loc, why);
		return;
	}
	bufferevent_free(h->bev);
	h->bev = NULL;
	if (http01_literal(h)) {
		http01_go(h);
		return;
	}
	h->state = H_RESOLVE;
	if ((h->lookup = acme_dns_lookup_addrs(
	         h->p.dns, h->host, http01_resolved, h)) == NULL)
		http01_fail(h, "dns", "Could not look up %s", h->host);
}

/*
 * Headers complete: redirect, refuse the status, or expect the body.
 * Returns 1 when the body follows, -1 when h has been handed on.
 */
static int
http01_headers_done(struct acme_http01 *h)
{
	char url[HTTP01_HOST_MAX + HTTP01_PATH_MAX + 16];

	if (h->status == 301 || h->status == 302 || h->status == 303 ||
	    h->status == 307 || h->status == 308) {
		http01_redirect(h);
		return -1;
	}
	if (h->status != 200) {
		http01_fail(h, "unauthorized", "Invalid response from %s: %d",
		    http01_url(h, url, sizeof(url)), h->status);
		return -1;
	}
	if (h->chunked)
		h->state = H_CHUNK_SIZE;
	else {
		h->state = H_BODY;
		h->left = h->clen >= 0 ? (size_t)h->clen : (size_t)-1;
	}
	return 1;
}

/*
 * Consume status line and headers.  Returns 1 when the body starts,
 * 0 to wait for more, -1 when h has been reported (stop touching it).
 */
static int
http01_read_head(struct acme_http01 *h, struct evbuffer *in)
{
	char *line;
	size_t n;
	int bad;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		h->hdr_bytes += n + 2;
		if (n == 0 && h->state == H_HEADERS) {
			free(line);
			return http01_headers_done(h);
		}
		bad = h->hdr_bytes > HTTP01_HEADERS_MAX ||
		    (h->state == H_STATUS ? http01_status_line(h, line)
		                          : http01_header(h, line)) == -1;
		free(line);
		if (bad) {
			http01_fail(h, "connection",
			    "%s: malformed or oversized HTTP response header",
			    h->host);
			return -1;
		}
		h->state = H_HEADERS;
	}
	if (h->hdr_bytes + evbuffer_get_length(in) > HTTP01_HEADERS_MAX) {
		http01_fail(h, "connection",
		    "%s: HTTP response header too long", h->host);
		return -1;
	}
	return 0;
}

/* Copy up to `max` body bytes; returns 1 when the body buffer is full. */
static int
http01_take(struct acme_http01 *h, struct evbuffer *in, size_t max)
{
	size_t room = sizeof(h->body) - h->bodylen, n;
	int got;

	n = evbuffer_get_length(in);
	if (n > max)
		n = max;
	if (n > room)
		n = room;
	if (n > 0 && (got = evbuffer_remove(in, h->body + h->bodylen, n)) > 0) {
		h->bodylen += (size_t)got;
		h->left -= (size_t)got;
	}
	return h->bodylen == sizeof(h->body);
}

/* Chunked body (RFC 9112 §7.1); trailers are not read. 0, 1 done, -1. */
static int
http01_read_chunks(struct acme_http01 *h, struct evbuffer *in)
{
	char *line, *end;
	size_t n;

	for (;;) {
		if (h->state == H_CHUNK_DATA) {
			if (http01_take(h, in, h->left))
				return 1;
			if (h->left > 0)
				return 0;
			h->state = H_CHUNK_CRLF;
		}
		if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
			return evbuffer_get_length(in) > 64 ? -1 : 0;
		if (h->state == H_CHUNK_CRLF) {
			free(line);
			if (n != 0)
				return -1;
			h->state = H_CHUNK_SIZE;
			continue;
		}
		errno = 0;
		h->left = strtoul(line, &end, 16);
		if (end == line || errno != 0 ||
		    (*end != '\0' && *end != ';')) {
			free(line);
			return -1;
		}
		free(line);
		if (h->left == 0)
			return 1;
		h->state = H_CHUNK_DATA;
	}
}

static void
http01_read(struct bufferevent *bev, void *arg)
{
	struct acme_http01 *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	int r;

	if (h->state == H_STATUS || h->state == H_HEADERS) {
		if (http01_read_head(h, in) != 1)
			return;
	}
	if (h->state == H_BODY) {
		if (h->left == 0 || http01_take(h, in, h->left) || h->left == 0)
			http01_evaluate(h);
		return;
	}
	if ((r = http01_read_chunks(h, in)) == 1)
		http01_evaluate(h);
	else if (r == -1)
		http01_fail(
		    h, "connection", "%s: malformed chunked body", h->host);
}

static void
http01_send(struct acme_http01 *h)
{
	h->state = H_STATUS;
	h->clen = -1;
	h->chunked = 0;
	h->hdr_bytes = 0;
	h->bodylen = 0;
	free(h->location);
	h->location = NULL;
	if (evbuffer_add_printf(bufferevent_get_output(h->bev),
	        "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: enrolld "
	        "validation\r\nAccept: */*\r\nConnection: close\r\n\r\n",
	        h->path, h->host) < 0 ||
	    bufferevent_enable(h->bev, EV_READ) == -1)
		http01_fail(
		    h, "connection", "%s: cannot send the request", h->host);
}

static void
http01_event(struct bufferevent *bev, short what, void *arg)
{
	struct acme_http01 *h = arg;
	char addr[ACME_ADDR_STR_MAX], err[160] = "";
	unsigned long e;
	int sockerr = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		http01_send(h);
		return;
	}
	if ((what & BEV_EVENT_EOF) && h->state == H_BODY && h->clen == -1) {
		http01_evaluate(h);
		return;
	}
	acme_addr_str((struct sockaddr *)&h->addr, addr, sizeof(addr));
	if (h->https && (e = bufferevent_get_openssl_error(bev)) != 0) {
		ERR_error_string_n(e, err, sizeof(err));
		http01_fail(h, "tls", "%s: TLS error: %s", addr, err);
	} else if (what & BEV_EVENT_EOF)
		http01_fail(h, "connection",
		    "%s: Connection closed before a complete response", addr);
	else
		http01_fail(h, "connection", "%s: %s", addr,
		    evutil_socket_error_to_string(sockerr));
}

/* Open a connection to h->addr (TLS when https); 0 or -1. */
static int
http01_connect(struct acme_http01 *h)
{
	SSL *ssl = NULL;

	h->state = H_CONNECT;
	if (h->https) {
		if ((ssl = SSL_new(h->p.ssl_ctx)) == NULL ||
		    (h->host[0] != '[' &&
		        SSL_set_tlsext_host_name(ssl, h->host) != 1)) {
			log_openssl(LOG_LVL_ERROR, "acme http-01: SSL_new");
			SSL_free(ssl);
			return -1;
		}
		/* A body may end at EOF; servers often skip close_notify. */
		SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
		/* On failure libevent has already freed ssl (CLOSE_ON_FREE). */
		h->bev = bufferevent_openssl_socket_new(h->p.base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (h->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(h->bev, 1);
	} else
		h->bev = bufferevent_socket_new(
		    h->p.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (h->bev == NULL)
		return -1;
	bufferevent_setcb(h->bev, http01_read, NULL, http01_event, h);
	/* Bound what a fast peer can queue between two read callbacks. */
	bufferevent_setwatermark(h->bev, EV_READ, 0, HTTP01_HEADERS_MAX * 2);
	if (bufferevent_socket_connect(
	        h->bev, (struct sockaddr *)&h->addr, (int)h->addrlen) == -1) {
		bufferevent_free(h->bev);
		h->bev = NULL;
		return -1;
	}
	return 0;
}

struct acme_http01 *
acme_http01_start(const struct acme_probe *p)
{
	struct acme_http01 *h;
	const char *ident = p->req->ident;
	int n;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->p = *p;
	h->port = p->cfg->http01_port;
	memcpy(&h->addr, p->addr, p->addrlen);
	h->addrlen = p->addrlen;
	n = snprintf(h->host, sizeof(h->host),
	    p->addr->sa_family == AF_INET6 && p->req->ident_is_ip ? "[%s]"
	                                                          : "%s",
	    ident);
	if (n < 0 || (size_t)n >= sizeof(h->host) ||
	    (size_t)snprintf(h->path, sizeof(h->path),
	        "/.well-known/acme-challenge/%s",
	        p->req->token) >= sizeof(h->path) ||
	    http01_connect(h) == -1) {
		acme_http01_free(h);
		return NULL;
	}
	return h;
}

void
acme_http01_free(struct acme_http01 *h)
{
	if (h == NULL)
		return;
	if (h->bev != NULL)
		bufferevent_free(h->bev);
	acme_dns_lookup_cancel(h->lookup);
	free(h->location);
	free(h);
}
