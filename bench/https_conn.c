/*
 * The keep-alive HTTPS client of the load drivers (see https_conn.h):
 * HTTP/1.1 written and parsed here, TLS by OpenSSL on the socket itself,
 * one persistent read event per open connection.  The messages on stderr
 * still name bench_acme, its one user, so that its output is unchanged.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bench/https_conn.h"

#define HTTPS_REQUEST_S 60    /* one request may wait this long */
#define HTTPS_MAX_HEAD 16384  /* status line and headers of a reply */
#define HTTPS_RX_START 8192   /* most replies fit */
#define HTTPS_MAX_CHUNK_HEX 8 /* a chunk size has at most 8 hex digits */

/* c->state: where the request in flight is. */
enum { HC_IDLE, HC_SENDING, HC_WAITING };
/* c->framing: how the body of the reply ends (RFC 9112 §6.3). */
enum { HF_NONE, HF_LENGTH, HF_CHUNKED, HF_CLOSE };

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

/*
 * A client context that trusts the CAs in `cafile` only, or NULL.  Read
 * ahead lets one read(2) take a whole record (header and body) instead
 * of two; a peer that closes without close_notify ends the stream like
 * one that sends it (replies are framed by their length).
 */
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
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return ctx;
}

/* og->addr for og->host and `port`, resolved now (blocking).  0 / -1. */
static int
origin_resolve(struct https_origin *og, int port)
{
	struct addrinfo hints, *res = NULL;
	char serv[8];
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((e = getaddrinfo(og->host, serv, &hints, &res)) != 0 ||
	    res->ai_addrlen > sizeof(og->addr)) {
		fprintf(stderr, "bench_acme: cannot resolve %s: %s\n", og->host,
		    e != 0 ? gai_strerror(e) : "address too long");
		if (res != NULL)
			freeaddrinfo(res);
		return -1;
	}
	memcpy(&og->addr, res->ai_addr, res->ai_addrlen);
	og->addr_len = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
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
	og->authority_len = alen;
	og->is_ip = inet_pton(AF_INET, og->host, bin) == 1 ||
	    inet_pton(AF_INET6, og->host, bin) == 1;
	evhttp_uri_free(uri);
	if (origin_resolve(og, port == -1 ? 443 : port) == -1)
		return -1;
	return (og->ctx = tls_ctx_new(cafile)) != NULL ? 0 : -1;
}

void
https_origin_free(struct https_origin *og)
{
	SSL_CTX_free(og->ctx);
	og->ctx = NULL;
}

/*
 * An SSL for a connection to og on `fd`, in client mode: it verifies the
 * server's certificate against og's CAs and host.  NULL on error (said on
 * stderr).
 */
static SSL *
conn_ssl(const struct https_origin *og, evutil_socket_t fd)
{
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
	/* SSL_write is retried from c->tx, which stays put; the mode is
	 * only a safety net. */
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!ok || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl); /* the first SSL_write shakes hands */
	return ssl;
fail:
	ERR_print_errors_fp(stderr); /* and empties the queue */
	SSL_free(ssl);
	return NULL;
}

/*
 * Close c's socket and TLS state, if open.  The reply bytes are dropped
 * on the next read, not here: a reply being handed over points into
 * them.
 */
static void
conn_close(struct https_conn *c)
{
	if (c->ssl == NULL)
		return;
	event_del(c->rev);
	event_del(c->wev);
	SSL_free(c->ssl);
	close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
	c->rx_off = c->rx_len;
}

static void conn_on_io(evutil_socket_t fd, short what, void *arg);

/*
 * Open a connection for c: a non-blocking TCP connect (TCP_NODELAY, or
 * a write after the handshake would wait for the server's delayed ACK)
 * and its SSL, the read event armed.  The handshake happens in the
 * first SSL_write.  0, or -1 with c closed and c->error set.
 */
static int
conn_open(struct https_conn *c)
{
	const struct https_origin *og = c->og;
	int one = 1;

	c->fd = socket(
	    og->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1)
		goto fail;
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    (connect(c->fd, (const struct sockaddr *)&og->addr, og->addr_len) ==
	            -1 &&
	        errno != EINPROGRESS) ||
	    (c->ssl = conn_ssl(og, c->fd)) == NULL)
		goto fail;
	if (event_assign(c->rev, c->base, c->fd, EV_READ | EV_PERSIST,
	        conn_on_io, c) == -1 ||
	    event_assign(c->wev, c->base, c->fd, EV_WRITE, conn_on_io, c) ==
	        -1 ||
	    event_add(c->rev, c->timeout) == -1)
		goto fail;
	return 0;
fail:
	if (c->ssl != NULL)
		conn_close(c);
	else if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->error = "cannot connect";
	return -1;
}

/*
 * Why an SSL call on c failed with SSL_get_error code `err`: OpenSSL's
 * reason when it has one, else what the socket did.  The string lives
 * in c or is static.
 */
static const char *
conn_io_error(struct https_conn *c, int err)
{
	const char *reason = NULL;
	unsigned long e;

	while ((e = ERR_get_error()) != 0)
		if (reason == NULL)
			reason = ERR_reason_error_string(e);
	if (reason != NULL) {
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS: %s", reason);
		return c->tls_error;
	}
	if (!SSL_is_init_finished(c->ssl))
		return "cannot connect";
	if (err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && (errno == 0 || errno == ECONNRESET)))
		return "connection closed";
	return "connection error";
}

/* End the request in flight on c with reply r: c is idle again. */
static void
conn_finish(struct https_conn *c, const struct https_reply *r)
{
	https_reply_fn *done = c->done;

	c->state = HC_IDLE;
	c->done = NULL;
	done(c->arg, r);
}

/* Fail the request in flight on c with `why`; the connection closes. */
static void
conn_fail(struct https_conn *c, const char *why)
{
	struct https_reply r;

	conn_close(c);
	memset(&r, 0, sizeof(r));
	r.error = why;
	conn_finish(c, &r);
}

/* The failure event: a request that failed before the loop ran. */
static void
conn_on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct https_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->done != NULL)
		conn_fail(c, c->error);
}

/* Fail the request in flight from the event loop, not from the caller's
 * stack: https_conn_send promises its callback a later loop pass. */
static void
conn_fail_later(struct https_conn *c, const char *why)
{
	conn_close(c);
	c->error = why;
	event_active(c->fev, EV_TIMEOUT, 1);
}

/*
 * Write (what is left of) the request in c->tx; the first write on a new
 * connection shakes hands first.  0: written (c->state HC_WAITING) or
 * waiting for the socket (still HC_SENDING); -1: failed, c->error says
 * why.
 */
static int
conn_flush(struct https_conn *c)
{
	int n, err;

	ERR_clear_error();
	if ((n = SSL_write(c->ssl, c->tx, (int)c->tx_len)) > 0) {
		c->state = HC_WAITING;
		if (event_pending(c->wev, EV_WRITE, NULL))
			event_del(c->wev);
		/* Read ahead may hold records no readable event will
		 * announce. */
		if (SSL_has_pending(c->ssl))
			event_active(c->rev, EV_READ, 1);
		return 0;
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ)
		return 0; /* c->rev is armed while the socket is open */
	if (err == SSL_ERROR_WANT_WRITE) {
		if (event_add(c->wev, c->timeout) == 0)
			return 0;
		c->error = "connection error";
		return -1;
	}
	c->error = conn_io_error(c, err);
	return -1;
}

/* The first `seq` (slen bytes) in [p, p + n), or NULL (memmem is GNU's). */
static const char *
find_seq(const char *p, size_t n, const char *seq, size_t slen)
{
	const char *end = p + n, *q;

	while ((size_t)(end - p) >= slen &&
	    (q = memchr(p, seq[0], (size_t)(end - p) - slen + 1)) != NULL) {
		if (memcmp(q, seq, slen) == 0)
			return q;
		p = q + 1;
	}
	return NULL;
}

/* 1 when the comma-separated header value v (vlen bytes) has `token`. */
static int
has_token(const char *v, size_t vlen, const char *token)
{
	size_t tlen = strlen(token), i = 0, j;

	while (i < vlen) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		for (j = i; j < vlen && v[j] != ','; j++)
			;
		while (j > i && (v[j - 1] == ' ' || v[j - 1] == '\t'))
			j--;
		if (j - i == tlen && strncasecmp(v + i, token, tlen) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}

/* A decimal Content-Length of vlen bytes into *out.  0 / -1. */
static int
parse_length(const char *v, size_t vlen, size_t *out)
{
	size_t i, n = 0;

	if (vlen == 0 || vlen > 18)
		return -1;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (size_t)(v[i] - '0');
	}
	*out = n;
	return 0;
}

/*
 * Find the header `name` in the lines [p, end) (each ending in CRLF):
 * its value, white space trimmed, as *v and *vlen.  1 found, 0 not.
 */
static int
find_header(const char *p, const char *end, const char *name, const char **v,
    size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *eol, *a, *b;

	for (; p < end; p = eol + 2) {
		if ((eol = memchr(p, '\r', (size_t)(end - p))) == NULL)
			return 0;
		if ((size_t)(eol - p) <= nlen || p[nlen] != ':' ||
		    strncasecmp(p, name, nlen) != 0)
			continue;
		for (a = p + nlen + 1; a < eol && (*a == ' ' || *a == '\t');)
			a++;
		for (b = eol; b > a && (b[-1] == ' ' || b[-1] == '\t');)
			b--;
		*v = a;
		*vlen = (size_t)(b - a);
		return 1;
	}
	return 0;
}

/*
 * The status line and the framing headers of the header block in
 * c->rx[0, c->head_end): c->code, head_begin, framing, clen, keep_alive.
 * 0, or -1 (c->error set) for what is not an HTTP/1.x reply or a body
 * over the limit.
 */
static int
parse_head(struct https_conn *c)
{
	const char *p = c->rx, *end = c->rx + c->head_end - 2, *v, *eol;
	size_t vlen;
	int minor;

	c->error = "invalid reply";
	if (c->head_end < 16 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[9] < '1' ||
	    p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' ||
	    p[11] > '9' || (p[12] != ' ' && p[12] != '\r'))
		return -1;
	minor = p[7] - '0';
	c->code = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	eol = memchr(p, '\r', c->head_end);
	c->head_begin = (size_t)(eol - p) + 2;
	p += c->head_begin;
	c->keep_alive = minor == 1;
	if (find_header(p, end, "Connection", &v, &vlen))
		c->keep_alive = minor == 1 ? !has_token(v, vlen, "close")
		                           : has_token(v, vlen, "keep-alive");
	if (c->is_head || c->code < 200 || c->code == 204 || c->code == 304)
		c->framing = HF_NONE;
	else if (find_header(p, end, "Transfer-Encoding", &v, &vlen)) {
		if (!has_token(v, vlen, "chunked"))
			return -1;
		c->framing = HF_CHUNKED;
	} else if (find_header(p, end, "Content-Length", &v, &vlen)) {
		if (parse_length(v, vlen, &c->clen) == -1)
			return -1;
		c->framing = HF_LENGTH;
	} else {
		c->framing = HF_CLOSE;
		c->keep_alive = 0;
	}
	if (c->framing == HF_LENGTH && c->clen > c->max_body) {
		c->error = "reply too big";
		return -1;
	}
	return 0;
}

/*
 * The chunked body (RFC 9112 §7.1) in c->rx from c->head_end: 1 when it
 * is all in, with *body_len and *raw_end (where its last trailer line
 * ends) set, 0 when more is needed, -1 (c->error set) when it is not
 * chunked coding or decodes to over max_body.  With `copy`, the chunk
 * data is also moved down to c->head_end, in place (it only ever moves
 * towards the start).
 */
static int
chunked_walk(struct https_conn *c, int copy, size_t *body_len, size_t *raw_end)
{
	const char *rx = c->rx, *eol;
	size_t p = c->head_end, n, len = 0, digits;
	int x;

	c->error = "invalid reply";
	for (;;) {
		if ((eol = find_seq(rx + p, c->rx_len - p, "\r\n", 2)) == NULL)
			return 0;
		for (n = 0, digits = 0; rx + p + digits < eol; digits++) {
			x = rx[p + digits];
			if (x >= '0' && x <= '9')
				x -= '0';
			else if ((x | 0x20) >= 'a' && (x | 0x20) <= 'f')
				x = (x | 0x20) - 'a' + 10;
			else
				break;
			n = n * 16 + (size_t)x;
		}
		if (digits == 0 || digits > HTTPS_MAX_CHUNK_HEX ||
		    (rx + p + digits != eol && rx[p + digits] != ';' &&
		        rx[p + digits] != ' ' && rx[p + digits] != '\t'))
			return -1;
		p = (size_t)(eol - rx) + 2;
		if (n == 0)
			break;
		if (len + n > c->max_body) {
			c->error = "reply too big";
			return -1;
		}
		if (c->rx_len - p < n + 2)
			return 0;
		if (rx[p + n] != '\r' || rx[p + n + 1] != '\n')
			return -1;
		if (copy)
			memmove(c->rx + c->head_end + len, rx + p, n);
		len += n;
		p += n + 2;
	}
	/* Trailer lines, up to the empty one. */
	while ((eol = find_seq(rx + p, c->rx_len - p, "\r\n", 2)) != NULL) {
		if (eol == rx + p) {
			*body_len = len;
			*raw_end = p + 2;
			return 1;
		}
		p = (size_t)(eol - rx) + 2;
	}
	return 0;
}

/*
 * How much of a reply c->rx holds: 1 when it is complete (*body_len and
 * *raw_end set, a chunked body decoded in place), 0 when more is
 * needed, -1 (c->error set) when it is not a valid reply.  An interim
 * 1xx reply is dropped on the way.
 */
static int
reply_parse(struct https_conn *c, size_t *body_len, size_t *raw_end)
{
	const char *e;
	int rc;

	while (c->head_end == 0) {
		c->scanned = c->scanned > 3 ? c->scanned - 3 : 0;
		e = find_seq(
		    c->rx + c->scanned, c->rx_len - c->scanned, "\r\n\r\n", 4);
		c->scanned = c->rx_len;
		if (e == NULL) {
			c->error = "reply too big";
			return c->rx_len > HTTPS_MAX_HEAD ? -1 : 0;
		}
		c->head_end = (size_t)(e - c->rx) + 4;
		if (parse_head(c) == -1)
			return -1;
		if (c->code >= 200)
			break;
		memmove(c->rx, c->rx + c->head_end, c->rx_len - c->head_end);
		c->rx_len -= c->head_end;
		c->head_end = c->scanned = 0;
	}
	switch (c->framing) {
	case HF_NONE:
		*body_len = 0;
		*raw_end = c->head_end;
		return 1;
	case HF_LENGTH:
		*body_len = c->clen;
		*raw_end = c->head_end + c->clen;
		return c->rx_len >= *raw_end ? 1 : 0;
	case HF_CHUNKED:
		/* Decoded once, when it is all in. */
		if ((rc = chunked_walk(c, 0, body_len, raw_end)) != 1)
			return rc;
		return chunked_walk(c, 1, body_len, raw_end);
	default:
		c->error = "reply too big";
		return c->rx_len - c->head_end > c->max_body ? -1 : 0;
	}
}

/*
 * Hand the complete reply in c->rx (body_len bytes of body from
 * c->head_end, raw_end bytes in all) to the caller.  Bytes past it were
 * not asked for: the connection is closed, as it is when the server
 * said so.
 */
static void
conn_deliver(struct https_conn *c, size_t body_len, size_t raw_end)
{
	struct https_reply r;

	memset(&r, 0, sizeof(r));
	r.code = c->code;
	r.head = c->rx + c->head_begin;
	r.head_len = c->head_end - 2 - c->head_begin;
	r.body = c->rx + c->head_end;
	r.body_len = body_len;
	c->rx[c->head_end + body_len] = '\0'; /* rx_cap > rx_len */
	if (!c->keep_alive || c->rx_len > raw_end)
		conn_close(c);
	c->rx_off = c->rx_len;
	conn_finish(c, &r);
}

/* Room in c->rx for at least one more byte and the NUL.  0, or -1 at
 * the limit of a reply (or out of memory: the reply is lost as well). */
static int
rx_room(struct https_conn *c)
{
	size_t max = c->max_body + HTTPS_MAX_HEAD + 1, cap;
	char *p;

	if (c->rx_len + 1 < c->rx_cap)
		return 0;
	if (c->rx_cap >= max)
		return -1;
	cap = c->rx_cap * 2 < max ? c->rx_cap * 2 : max;
	if ((p = realloc(c->rx, cap)) == NULL)
		return -1;
	c->rx = p;
	c->rx_cap = cap;
	return 0;
}

/*
 * SSL_read failed (SSL_get_error code `err`) while a reply was read: at
 * the end of the stream, the end of a body framed by the close; else a
 * failed request.
 */
static void
conn_read_end(struct https_conn *c, int err)
{
	int eof = err == SSL_ERROR_ZERO_RETURN ||
	    (err == SSL_ERROR_SYSCALL && errno == 0);

	if (eof && c->head_end != 0 && c->framing == HF_CLOSE) {
		c->keep_alive = 0;
		conn_deliver(c, c->rx_len - c->head_end, c->rx_len);
	} else
		conn_fail(c, conn_io_error(c, err));
}

/*
 * Read what the socket has for c, up to a complete reply, which goes to
 * the caller.  Anything read while no request is in flight (the server
 * closing an idle connection, or junk) closes the connection.
 */
static void
conn_read(struct https_conn *c)
{
	size_t body_len, raw_end;
	int n, err, rc;

	if (c->rx_off > 0) {
		memmove(c->rx, c->rx + c->rx_off, c->rx_len - c->rx_off);
		c->rx_len -= c->rx_off;
		c->rx_off = 0;
	}
	for (;;) {
		if (rx_room(c) == -1) {
			conn_fail(c, "reply too big");
			return;
		}
		ERR_clear_error();
		n = SSL_read(c->ssl, c->rx + c->rx_len,
		    (int)(c->rx_cap - 1 - c->rx_len));
		if (n > 0 && c->state == HC_IDLE) {
			conn_close(c);
			return;
		}
		if (n > 0) {
			c->rx_len += (size_t)n;
			if ((rc = reply_parse(c, &body_len, &raw_end)) == 1)
				conn_deliver(c, body_len, raw_end);
			else if (rc == -1)
				conn_fail(c, c->error);
			if (rc != 0)
				return;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			return;
		if (err == SSL_ERROR_WANT_WRITE &&
		    event_add(c->wev, c->timeout) == 0)
			return;
		if (c->state == HC_IDLE)
			conn_close(c);
		else
			conn_read_end(c, err);
		return;
	}
}

/* The socket of c is readable or writable, or it waited too long. */
static void
conn_on_io(evutil_socket_t fd, short what, void *arg)
{
	struct https_conn *c = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		/* The read event's timer also runs on an idle socket. */
		if (c->state != HC_IDLE)
			conn_fail(c, "timeout");
		return;
	}
	if (c->state == HC_SENDING) {
		if (conn_flush(c) == -1) {
			conn_fail(c, c->error);
			return;
		}
		if (c->state == HC_SENDING)
			return;
	}
	conn_read(c);
}

int
https_conn_init(struct https_conn *c, const struct https_origin *og,
    struct event_base *base, size_t max_body)
{
	struct timeval tv = {HTTPS_REQUEST_S, 0};

	c->og = og;
	c->base = base;
	c->fd = -1;
	c->max_body = max_body;
	c->rx_cap = HTTPS_RX_START;
	/* Every connection's timers in one O(1) queue. */
	if ((c->timeout = event_base_init_common_timeout(base, &tv)) == NULL ||
	    (c->rev = event_new(base, -1, 0, conn_on_io, c)) == NULL ||
	    (c->wev = event_new(base, -1, 0, conn_on_io, c)) == NULL ||
	    (c->fev = event_new(base, -1, 0, conn_on_fail, c)) == NULL ||
	    (c->rx = malloc(c->rx_cap)) == NULL)
		return -1;
	return 0;
}

void
https_conn_free(struct https_conn *c)
{
	conn_close(c);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->fev != NULL)
		event_free(c->fev);
	free(c->rx);
	free(c->tx);
	c->rev = c->wev = c->fev = NULL;
	c->rx = c->tx = NULL;
	c->rx_cap = c->tx_cap = 0;
}

/*
 * The request of `method` to `target` with `body` (NULL for none) into
 * c->tx, as one buffer: it goes out in one SSL_write, one TLS record.
 * 0 / -1.
 */
static int
tx_build(struct https_conn *c, const char *method, const char *target,
    const char *body)
{
	size_t blen = body != NULL ? strlen(body) : 0, need;
	char *p;
	int n;

	need =
	    strlen(method) + strlen(target) + c->og->authority_len + blen + 128;
	if (need > c->tx_cap) {
		if ((p = realloc(c->tx, need)) == NULL)
			return -1;
		c->tx = p;
		c->tx_cap = need;
	}
	if (body != NULL)
		n = snprintf(c->tx, c->tx_cap,
		    "%s %s HTTP/1.1\r\nHost: %s\r\n"
		    "Content-Type: application/jose+json\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    method, target, c->og->authority, blen);
	else
		n = snprintf(c->tx, c->tx_cap,
		    "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, target,
		    c->og->authority);
	if (n < 0 || (size_t)n + blen >= c->tx_cap)
		return -1;
	memcpy(c->tx + n, body != NULL ? body : "", blen);
	c->tx_len = (size_t)n + blen;
	return 0;
}

int
https_conn_send(struct https_conn *c, enum evhttp_cmd_type type,
    const char *url, const char *body, https_reply_fn *done, void *arg)
{
	const char *auth, *target, *method;
	size_t alen;

	method = type == EVHTTP_REQ_GET ? "GET"
	    : type == EVHTTP_REQ_HEAD   ? "HEAD"
	    : type == EVHTTP_REQ_POST   ? "POST"
	                                : NULL;
	if (method == NULL || c->state != HC_IDLE || c->rev == NULL ||
	    url_split(url, &auth, &alen, &target) == -1 ||
	    alen != c->og->authority_len ||
	    strncasecmp(auth, c->og->authority, alen) != 0 ||
	    tx_build(c, method, target, body) == -1)
		return -1;
	c->done = done;
	c->arg = arg;
	c->error = NULL;
	c->is_head = type == EVHTTP_REQ_HEAD;
	c->head_end = c->scanned = 0;
	c->state = HC_SENDING;
	/* On an open connection, adding the read event again restarts its
	 * timer: the wait for this reply. */
	if (c->ssl == NULL) {
		if (conn_open(c) == -1) {
			conn_fail_later(c, c->error);
			return 0;
		}
	} else if (event_add(c->rev, c->timeout) == -1) {
		conn_fail_later(c, "connection error");
		return 0;
	}
	if (conn_flush(c) == -1)
		conn_fail_later(c, c->error);
	return 0;
}

void
https_reply_header(
    const struct https_reply *r, const char *name, char *dst, size_t sz)
{
	const char *v;
	size_t vlen;

	if (r->head != NULL &&
	    find_header(r->head, r->head + r->head_len, name, &v, &vlen) &&
	    vlen < sz) {
		memcpy(dst, v, vlen);
		dst[vlen] = '\0';
	}
}
