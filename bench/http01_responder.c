/*
 * The load driver's http-01 responder (RFC 8555 §8.3): a few lines of
 * HTTP/1.1 over plain sockets on 127.0.0.1, on the driver's event loop.
 * GET /.well-known/acme-challenge/TOKEN is answered 200 with the key
 * authorization when the driver says the token is live, else 404; every
 * connection closes after its answer.
 *
 * Hand-rolled rather than an evhttp server because the driver shares the
 * two cores with the server it measures: a validation request has nearly
 * always arrived when its connection is accepted, so it is answered at
 * once, and only a request still incomplete then costs memory, an event
 * and a timeout.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bench/http01_responder.h"

#define CHALL_PREFIX "/.well-known/acme-challenge/"
#define H01_BACKLOG 128
#define H01_MAX_REQUEST 4096 /* a validation request's header block */
#define H01_MAX_REPLY 1024
#define H01_TIMEOUT_S 30 /* for the rest of a request to come */

/* A connection whose request was not all in when it was accepted. */
struct h01_conn {
	struct h01_responder *r;
	evutil_socket_t fd;
	struct event *ev;
	struct h01_conn *next, **prevp;
	char buf[H01_MAX_REQUEST];
	size_t len;
};

struct h01_responder {
	struct event_base *base;
	h01_key_fn *key;
	void *arg;
	evutil_socket_t lfd;
	struct event *lev;
	struct h01_conn *waiting;
};

/*
 * The reply to the request whose header block is req[0, len) (it ends
 * in CRLF CRLF), into out[sz]: 200 with token "." thumbprint (RFC 8555
 * §8.3) for a token some slot is working on, else 404; the connection
 * closes after it.  Returns its length, or 0 when it does not fit.
 */
static size_t
h01_reply(
    struct h01_responder *r, const char *req, size_t len, char *out, size_t sz)
{
	const char *path, *end, *tp, *eol = memchr(req, '\r', len);
	const size_t plen = strlen(CHALL_PREFIX);
	int n;

	/* Method SP request-target SP version: the target's path alone,
	 * without a query (as evhttp_uri_get_path gave it). */
	path = memchr(req, ' ', (size_t)(eol - req));
	end = path != NULL ? memchr(path + 1, ' ', (size_t)(eol - path - 1))
	                   : NULL;
	if (end != NULL) {
		const char *q = memchr(path + 1, '?', (size_t)(end - path - 1));

		end = q != NULL ? q : end;
		path++;
	}
	if (end != NULL && (size_t)(end - path) > plen &&
	    memcmp(path, CHALL_PREFIX, plen) == 0 &&
	    (tp = r->key(r->arg, path + plen, (size_t)(end - path) - plen)) !=
	        NULL) {
		int tlen = (int)((size_t)(end - path) - plen);

		n = snprintf(out, sz,
		    "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n"
		    "%.*s.%s",
		    (size_t)tlen + 1 + strlen(tp), tlen, path + plen, tp);
	} else
		n = snprintf(out, sz,
		    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n");
	return n > 0 && (size_t)n < sz ? (size_t)n : 0;
}

/*
 * Read what the responder connection `fd` has into buf (*len bytes so
 * far, sz with the NUL); once the header block is in, answer.  1 when
 * fd is done with (answered, or to be closed unanswered: EOF, an error,
 * a request over sz), 0 when more is to come.
 */
static int
h01_serve(struct h01_responder *r, evutil_socket_t fd, char *buf, size_t sz,
    size_t *len)
{
	char out[H01_MAX_REPLY];
	ssize_t n;
	size_t rlen;

	n = recv(fd, buf + *len, sz - 1 - *len, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return 1;
	*len += (size_t)n;
	buf[*len] = '\0';
	if (strstr(buf, "\r\n\r\n") == NULL)
		return *len < sz - 1 ? 0 : 1;
	/* A fresh socket's buffer takes a few hundred bytes at once; a
	 * short write fails the validation, as it should. */
	if ((rlen = h01_reply(r, buf, *len, out, sizeof(out))) > 0)
		(void)send(fd, out, rlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	return 1;
}

/* Close a waiting responder connection and forget it. */
static void
h01_close(struct h01_conn *h)
{
	if (h->ev != NULL)
		event_free(h->ev);
	close(h->fd);
	if (h->next != NULL)
		h->next->prevp = h->prevp;
	*h->prevp = h->next;
	free(h);
}

/* A waiting responder connection is readable, or idle for too long. */
static void
on_h01_io(evutil_socket_t fd, short what, void *arg)
{
	struct h01_conn *h = arg;

	if ((what & EV_TIMEOUT) ||
	    h01_serve(h->r, fd, h->buf, sizeof(h->buf), &h->len))
		h01_close(h);
}

/*
 * The http-01 responder's listener is readable: accept one connection
 * (more wake the loop again) and serve it at once, its request being
 * usually in by now.  Only otherwise does it get memory, an event and
 * a timeout.  The socket stays blocking: it is only read and written
 * with MSG_DONTWAIT, which spares an fcntl.
 */
static void
on_h01_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct h01_responder *r = arg;
	struct timeval tv = {H01_TIMEOUT_S, 0};
	struct h01_conn *h;
	char buf[H01_MAX_REQUEST];
	size_t len = 0;
	evutil_socket_t fd;

	(void)what;
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	if (h01_serve(r, fd, buf, sizeof(buf), &len) ||
	    (h = calloc(1, sizeof(*h))) == NULL) {
		close(fd);
		return;
	}
	h->r = r;
	h->fd = fd;
	memcpy(h->buf, buf, len);
	h->len = len;
	h->next = r->waiting;
	h->prevp = &r->waiting;
	if (r->waiting != NULL)
		r->waiting->prevp = &h->next;
	r->waiting = h;
	if ((h->ev = event_new(
	         r->base, fd, EV_READ | EV_PERSIST, on_h01_io, h)) == NULL ||
	    event_add(h->ev, &tv) == -1)
		h01_close(h);
}

struct h01_responder *
h01_responder_new(
    struct event_base *base, long port, h01_key_fn *key, void *arg)
{
	struct h01_responder *r;
	struct sockaddr_in sin;
	int one = 1;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->lfd = -1;
	r->base = base;
	r->key = key;
	r->arg = arg;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((r->lfd = socket(AF_INET,
	         SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(r->lfd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    listen(r->lfd, H01_BACKLOG) ||
	    (r->lev = event_new(base, r->lfd, EV_READ | EV_PERSIST,
	         on_h01_accept, r)) == NULL ||
	    event_add(r->lev, NULL) == -1) {
		h01_responder_free(r);
		return NULL;
	}
	return r;
}

void
h01_responder_free(struct h01_responder *r)
{
	if (r == NULL)
		return;
	while (r->waiting != NULL)
		h01_close(r->waiting);
	if (r->lev != NULL)
		event_free(r->lev);
	if (r->lfd != -1)
		close(r->lfd);
	free(r);
}
