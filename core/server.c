/*
 * Listening side of the HTTPS server: sockets, TLS, worker threads,
 * signals and graceful shutdown.  The request side is core/http.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/server.h"
#include "core/server_int.h"
#include "core/store.h"
#include "protocols/protocol.h"

#define LISTEN_BACKLOG 1024

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[80]; /* "127.0.0.1:8443" or "[::1]:8443" */
	int tls;       /* 0: plain HTTP ("http_listen") */
};

struct server {
	struct server_view view;
	struct route *routes;
	SSL_CTX *ssl_ctx;
	struct listen_addr *addrs;
	size_t n_addrs;
	struct worker *workers;
	unsigned n_workers;
	evutil_socket_t *listen_fds; /* one per address, shared by workers */
	pthread_mutex_t turn_mu;     /* guards turn and the listeners' state */
	unsigned turn;               /* the worker that accepts next */
	size_t max_header_bytes;
	size_t max_body_bytes;
	struct timeval read_timeout;
	struct timeval shutdown_timeout;
};

const struct server_view *
server_view(const struct server *srv)
{
	return &srv->view;
}

struct store_conn *
worker_store_conn(struct worker *w)
{
	return w->store;
}

static long
conf_int(const json_t *obj, const char *key, long dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static void
ms_to_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/*
 * Parse "HOST:PORT" or "[V6]:PORT" into a socket address.  Numeric
 * addresses only: resolving names would block and hide mistakes.
 */
static int
parse_listen(
    const char *spec, struct listen_addr *out, char *err, size_t errlen)
{
	char host[64];
	const char *colon, *h = spec;
	size_t hlen;
	struct addrinfo hints, *ai = NULL;
	int gai;

	if ((colon = strrchr(spec, ':')) == NULL || colon[1] == '\0')
		goto bad;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		h = spec + 1;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if ((gai = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
		goto bad;
	memcpy(&out->ss, ai->ai_addr, ai->ai_addrlen);
	out->len = ai->ai_addrlen;
	snprintf(out->text, sizeof(out->text), "%s", spec);
	freeaddrinfo(ai);
	return 0;
bad:
	snprintf(err, errlen,
	    "listen: \"%s\" is not a numeric ADDRESS:PORT ([V6]:PORT for IPv6)",
	    spec);
	return -1;
}

/* Append the addresses of config array `key` with the given TLS mode. */
static int
server_parse_list(struct server *srv, const json_t *conf, const char *key,
    int tls, char *err, size_t errlen)
{
	const json_t *list = json_object_get(conf, key), *v;
	struct listen_addr *grown;
	size_t i, n = json_array_size(list);

	if (n == 0)
		return 0;
	grown = realloc(srv->addrs, (srv->n_addrs + n) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	srv->addrs = grown;
	memset(srv->addrs + srv->n_addrs, 0, n * sizeof(*grown));
	json_array_foreach(list, i, v)
	{
		struct listen_addr *a = &srv->addrs[srv->n_addrs];

		if (!json_is_string(v)) {
			snprintf(
			    err, errlen, "%s[%zu]: must be a string", key, i);
			return -1;
		}
		if (parse_listen(json_string_value(v), a, err, errlen) == -1)
			return -1;
		a->tls = tls;
		srv->n_addrs++;
	}
	return 0;
}

static int
server_parse_listen(
    struct server *srv, const json_t *conf, char *err, size_t errlen)
{
	if (json_array_size(json_object_get(conf, "listen")) == 0) {
		snprintf(err, errlen, "listen: must be a non-empty array");
		return -1;
	}
	if (server_parse_list(srv, conf, "listen", 1, err, errlen) == -1)
		return -1;
	/* Plain HTTP, for what must work without TLS: SCEP (RFC 8894
	 * §4.1), CRLs, ACME http-01 answers. */
	return server_parse_list(srv, conf, "http_listen", 0, err, errlen);
}

/*
 * Client certificates are requested but not verified by OpenSSL: each
 * protocol decides which ones it trusts (EST re-enrollment wants an
 * HTTP 403 for a foreign certificate, not a failed handshake).
 */
static int
accept_any_client_cert(int preverify_ok, X509_STORE_CTX *ctx)
{
	return 1;
}

static SSL_CTX *
server_tls_context(
    const struct gateway *gw, const json_t *tls, char *err, size_t errlen)
{
	const char *cert = json_string_value(json_object_get(tls, "cert"));
	const char *key = json_string_value(json_object_get(tls, "key"));
	char cpath[4096], kpath[4096];
	SSL_CTX *ctx = NULL;

	if (cert == NULL || key == NULL) {
		snprintf(err, errlen, "tls: \"cert\" and \"key\" are required");
		return NULL;
	}
	if (config_path(gateway_basedir(gw), cert, cpath, sizeof(cpath)) ||
	    config_path(gateway_basedir(gw), key, kpath, sizeof(kpath))) {
		snprintf(err, errlen, "tls: path too long");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	        SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cpath) != 1) {
		snprintf(err, errlen, "tls.cert: cannot load %s", cpath);
		goto fail_logged;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, kpath, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen,
		    "tls.key: cannot load %s or it does not match tls.cert",
		    kpath);
		goto fail_logged;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_client_cert);
	SSL_CTX_set_session_id_context(
	    ctx, (const unsigned char *)"enrolld", 7);
	return ctx;
fail:
	snprintf(err, errlen, "tls: cannot create the TLS context");
fail_logged:
	log_openssl(LOG_LVL_ERROR, err);
	SSL_CTX_free(ctx);
	return NULL;
}

static int
server_build_routes(
    struct server *srv, struct gateway *gw, char *err, size_t errlen)
{
	const json_t *conf = gateway_config(gw);
	const struct proto_handler *const *h;
	const char *const *p;
	size_t n = 0, i = 0;

	for (h = proto_handlers; *h != NULL; h++)
		for (p = (*h)->prefixes; *p != NULL; p++)
			n++;
	if ((srv->routes = calloc(n + 1, sizeof(*srv->routes))) == NULL)
		return -1;
	for (h = proto_handlers; *h != NULL; h++, srv->view.n_handlers++) {
		void *priv = NULL;

		if ((*h)->init(gw, json_object_get(conf, (*h)->name), &priv,
		        err, errlen) == -1)
			return -1;
		for (p = (*h)->prefixes; *p != NULL; p++) {
			srv->routes[i].prefix = *p;
			srv->routes[i].prefix_len = strlen(*p);
			srv->routes[i].handler = *h;
			/* The first route of a handler owns priv. */
			srv->routes[i].priv = priv;
			srv->routes[i].handler_index = srv->view.n_handlers;
			i++;
		}
	}
	srv->view.routes = srv->routes;
	srv->view.n_routes = n;
	return 0;
}

struct server *
server_new(struct gateway *gw, char *err, size_t errlen)
{
	const json_t *conf = gateway_config(gw);
	const json_t *limits = json_object_get(conf, "limits");
	struct server *srv;
	long workers;

	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return NULL;
	/* Cannot fail on Linux with default attributes. */
	(void)pthread_mutex_init(&srv->turn_mu, NULL);
	srv->view.gw = gw;
	if (RAND_bytes((unsigned char *)&srv->view.id_prefix,
	        sizeof(srv->view.id_prefix)) != 1)
		goto fail;
	workers = conf_int(conf, "workers", 0);
	if (workers <= 0)
		workers = sysconf(_SC_NPROCESSORS_ONLN);
	srv->n_workers = workers > 0 ? (unsigned)workers : 1;
	srv->max_header_bytes =
	    (size_t)conf_int(limits, "max_header_bytes", 16384);
	srv->max_body_bytes =
	    (size_t)conf_int(limits, "max_body_bytes", 1048576);
	ms_to_tv(
	    conf_int(limits, "read_timeout_ms", 10000), &srv->read_timeout);
	ms_to_tv(conf_int(limits, "shutdown_timeout_ms", 30000),
	    &srv->shutdown_timeout);
	if (server_parse_listen(srv, conf, err, errlen) == -1)
		goto fail;
	if ((srv->ssl_ctx = server_tls_context(
	         gw, json_object_get(conf, "tls"), err, errlen)) == NULL)
		goto fail;
	if (server_build_routes(srv, gw, err, errlen) == -1)
		goto fail;
	return srv;
fail:
	server_free(srv);
	return NULL;
}

void
server_free(struct server *srv)
{
	size_t i;

	if (srv == NULL)
		return;
	/* Only the first route of each handler owns its priv. */
	for (i = 0; srv->routes != NULL && i < srv->view.n_routes; i++)
		if ((i == 0 ||
		        srv->routes[i - 1].handler != srv->routes[i].handler) &&
		    srv->routes[i].handler->free)
			srv->routes[i].handler->free(srv->routes[i].priv);
	free(srv->routes);
	SSL_CTX_free(srv->ssl_ctx);
	free(srv->addrs);
	free(srv->workers);
	free(srv->listen_fds);
	pthread_mutex_destroy(&srv->turn_mu);
	free(srv);
}

#define JOIN_WRITES_MAX 16384 /* one TLS record's worth of plaintext */

/* The evbuffer callback of server_join_writes. */
static void
join_writes_cb(
    struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)arg;
	if (info->n_added > 0 && evbuffer_get_length(buf) <= JOIN_WRITES_MAX &&
	    evbuffer_peek(buf, -1, NULL, NULL, 0) > 1)
		(void)evbuffer_pullup(buf, -1);
}

void
server_join_writes(struct bufferevent *bev)
{
	/* A joined buffer may move while its write is being retried. */
	SSL_set_mode(bufferevent_openssl_get_ssl(bev),
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Best effort: without it a message only takes two records. */
	(void)evbuffer_add_cb(
	    bufferevent_get_output(bev), join_writes_cb, NULL);
}

/*
 * Connections are dealt to the workers in turn.  With a socket per worker
 * (SO_REUSEPORT) the kernel would pick by a hash of the addresses, and a
 * few long-lived keep-alive connections (a proxy, an MDM server, the
 * benchmark's four) land on one worker as often as not: it does all the
 * work while the others idle.  So the workers share one listening socket
 * per address, only the worker whose turn it is listens, and each
 * accepted connection hands the turn on to the next worker still
 * listening.
 *
 * Hand the turn from `w` to the next worker still listening, if any.
 * turn_mu is held.
 */
static void
turn_pass_locked(struct worker *w)
{
	struct server *srv = w->srv;
	struct worker *next = NULL;
	unsigned k;
	size_t i;

	for (k = 1; k < srv->n_workers; k++) {
		next = &srv->workers[(w->index + k) % srv->n_workers];
		if (next->n_bound > 0)
			break;
		next = NULL;
	}
	if (next == NULL)
		return;
	for (i = 0; i < w->n_bound; i++)
		evconnlistener_disable(
		    evhttp_bound_socket_get_listener(w->bound[i]));
	for (i = 0; i < next->n_bound; i++)
		evconnlistener_enable(
		    evhttp_bound_socket_get_listener(next->bound[i]));
	srv->turn = next->index;
}

/* After `w` accepted a connection: evhttp's bufferevent callback, on
 * w's loop. */
static void
worker_pass_turn(struct worker *w)
{
	pthread_mutex_lock(&w->srv->turn_mu);
	if (w->srv->turn == w->index)
		turn_pass_locked(w);
	pthread_mutex_unlock(&w->srv->turn_mu);
}

/* Per-connection TLS: evhttp calls this for each accepted socket. */
static struct bufferevent *
server_tls_bev(struct event_base *base, void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	struct bufferevent *bev;
	SSL *ssl;

	worker_pass_turn(w);
	if ((ssl = SSL_new(srv->ssl_ctx)) == NULL) {
		log_openssl(LOG_LVL_ERROR, "SSL_new failed");
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients that close without close_notify are common and harmless
	 * once their request has been answered. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	server_join_writes(bev);
	return bev;
}

/* The same for plain HTTP: evhttp's own choice of bufferevent. */
static struct bufferevent *
server_plain_bev(struct event_base *base, void *arg)
{
	worker_pass_turn(arg);
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

static evutil_socket_t
server_socket(struct listen_addr *a)
{
	evutil_socket_t fd;
	int one = 1;

	fd = socket(
	    a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Linux hands TCP_NODELAY on to accepted sockets: without it Nagle
	 * and delayed ACKs hold each small reply back for ~40 ms. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		goto fail;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
		goto fail;
	if (bind(fd, (struct sockaddr *)&a->ss, a->len) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* Each handler's per-worker state (protocol.h worker_init). */
static int
worker_init_handlers(struct server *srv, struct worker *w)
{
	size_t i;

	if ((w->hstate = calloc(
	         srv->view.n_handlers + 1, sizeof(*w->hstate))) == NULL)
		return -1;
	for (i = 0; i < srv->view.n_routes; i++) {
		const struct route *rt = &srv->routes[i];

		if (rt->handler->worker_init == NULL ||
		    w->hstate[rt->handler_index] != NULL)
			continue;
		if (rt->handler->worker_init(rt->priv, w->base,
		        &w->hstate[rt->handler_index]) == -1) {
			log_error("msg=\"%s: worker state failed\"",
			    rt->handler->name);
			return -1;
		}
	}
	return 0;
}

/* One of a worker's two HTTP servers: TLS, or plain. */
static struct evhttp *
worker_evhttp(struct server *srv, struct worker *w, int tls)
{
	struct evhttp *http;

	if ((http = evhttp_new(w->base)) == NULL)
		return NULL;
	evhttp_set_bevcb(http, tls ? server_tls_bev : server_plain_bev, w);
	evhttp_set_gencb(http, http_dispatch, w);
	evhttp_set_max_headers_size(http, (ev_ssize_t)srv->max_header_bytes);
	evhttp_set_max_body_size(http, (ev_ssize_t)srv->max_body_bytes);
	evhttp_set_timeout_tv(http, &srv->read_timeout);
	/* Read the rest of an oversized body before closing, so the client
	 * sees our 413 rather than a reset. */
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
	return http;
}

struct event_base *
server_loop_base(void)
{
	struct event_config *cfg;
	struct event_base *base = NULL;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) ==
	    0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* Set up one worker's loop, evhttp and sockets; runs on the main thread
 * so that bind errors are reported before anything is printed. */
static int
worker_setup(struct server *srv, struct worker *w)
{
	size_t i;

	if ((w->base = server_loop_base()) == NULL ||
	    (w->http = worker_evhttp(srv, w, 1)) == NULL ||
	    (w->http_plain = worker_evhttp(srv, w, 0)) == NULL)
		return -1;
	if ((w->bound = calloc(srv->n_addrs, sizeof(*w->bound))) == NULL ||
	    (w->bound_on = calloc(srv->n_addrs, sizeof(*w->bound_on))) == NULL)
		return -1;
	for (i = 0; i < srv->n_addrs; i++) {
		struct evhttp *on = srv->addrs[i].tls ? w->http : w->http_plain;
		struct evconnlistener *lev;

		/* The socket is the server's, closed after the workers: not
		 * on free.  Worker 0 has the first turn (worker_pass_turn). */
		lev = evconnlistener_new(w->base, NULL, NULL,
		    LEV_OPT_THREADSAFE | LEV_OPT_CLOSE_ON_EXEC |
		        (w->index == 0 ? 0 : LEV_OPT_DISABLED),
		    0, srv->listen_fds[i]);
		if (lev == NULL ||
		    (w->bound[i] = evhttp_bind_listener(on, lev)) == NULL) {
			if (lev != NULL)
				evconnlistener_free(lev);
			return -1;
		}
		w->bound_on[i] = on;
		w->n_bound++;
	}
	if ((w->store = store_conn_open(gateway_store(srv->view.gw))) == NULL)
		return -1;
	if (gateway_worker_init(
	        srv->view.gw, w->base, w->store, w == &srv->workers[0]) == -1)
		return -1;
	w->backends_ready = 1;
	return worker_init_handlers(srv, w);
}

static void
worker_teardown(struct worker *w)
{
	/* Completions may still be posted to this loop: the process is
	 * exiting, so leaving it allocated is the safe choice. */
	if (w->forced)
		return;
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->http_plain != NULL)
		evhttp_free(w->http_plain);
	for (size_t i = 0; w->hstate != NULL && i < w->srv->view.n_routes;
	     i++) {
		const struct route *rt = &w->srv->routes[i];

		if (rt->handler->worker_free != NULL &&
		    w->hstate[rt->handler_index] != NULL) {
			rt->handler->worker_free(w->hstate[rt->handler_index]);
			w->hstate[rt->handler_index] = NULL;
		}
	}
	free(w->hstate);
	if (w->backends_ready)
		gateway_worker_free(w->srv->view.gw, w->base);
	if (w->drain_timer != NULL)
		event_free(w->drain_timer);
	if (w->flush_timer != NULL)
		event_free(w->flush_timer);
	if (w->base != NULL)
		event_base_free(w->base);
	store_conn_close(w->store);
	free(w->bound);
	free(w->bound_on);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	/* A worker waiting for its turn to accept (worker_pass_turn) may
	 * have no event at all: the loop must not end on that. */
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/*
 * While draining, leave the loop once nothing is in flight and every
 * reply has reached the socket: leaving earlier would drop replies still
 * in libevent's buffers.  A client that stops reading cannot hold the
 * exit longer than DRAIN_FLUSH_MS.
 */
#define DRAIN_FLUSH_MS 2000

static void
worker_flush_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warn("msg=\"worker %u: %lu replies unsent at exit\"", w->index,
	    w->unsent);
	event_base_loopexit(w->base, NULL);
}

static void
worker_maybe_exit(struct worker *w)
{
	struct timeval tv = {
	    DRAIN_FLUSH_MS / 1000, (DRAIN_FLUSH_MS % 1000) * 1000};

	if (!w->draining || w->inflight > 0)
		return;
	if (w->unsent == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	if (w->flush_timer == NULL &&
	    (w->flush_timer = evtimer_new(w->base, worker_flush_timeout, w)) !=
	        NULL)
		evtimer_add(w->flush_timer, &tv);
}

void
server_request_done(struct worker *w)
{
	w->inflight--;
	w->served++;
	worker_maybe_exit(w);
}

void
server_reply_flushed(struct worker *w)
{
	w->unsent--;
	worker_maybe_exit(w);
}

static void
worker_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	log_warn("msg=\"worker %u: %lu requests still in flight at the "
	         "shutdown deadline\"",
	    w->index, w->inflight);
	w->forced = 1;
	event_base_loopexit(w->base, NULL);
}

/* Runs on the worker's own loop: stop accepting, then leave the loop
 * once the last in-flight request has been answered. */
static void
worker_begin_drain(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	size_t i;

	w->draining = 1;
	/* Under the lock: the turn moves on, so no connection waits for a
	 * worker that no longer listens, and none is passed to it after. */
	pthread_mutex_lock(&w->srv->turn_mu);
	for (i = 0; i < w->n_bound; i++)
		evhttp_del_accept_socket(w->bound_on[i], w->bound[i]);
	w->n_bound = 0;
	if (w->srv->turn == w->index)
		turn_pass_locked(w);
	pthread_mutex_unlock(&w->srv->turn_mu);
	worker_maybe_exit(w);
	w->drain_timer = evtimer_new(w->base, worker_drain_timeout, w);
	if (w->drain_timer != NULL)
		evtimer_add(w->drain_timer, &w->srv->shutdown_timeout);
}

static int
server_wait_signal(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigwait(&set, &sig) != 0)
		return -1;
	return sig;
}

static void
server_print_ready(const struct server *srv)
{
	size_t i;

	for (i = 0; i < srv->n_addrs; i++)
		fprintf(stderr, "listening on %s://%s\n",
		    srv->addrs[i].tls ? "https" : "http", srv->addrs[i].text);
	fflush(stderr);
	log_info("msg=\"ready\" workers=%u", srv->n_workers);
}

void
server_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int
server_run(struct server *srv)
{
	struct timeval now = {0, 0};
	unsigned i, started = 0;
	int rc = -1, sig;

	if ((srv->workers = calloc(srv->n_workers, sizeof(*srv->workers))) ==
	    NULL)
		return -1;
	if ((srv->listen_fds =
	            calloc(srv->n_addrs, sizeof(*srv->listen_fds))) == NULL)
		return -1;
	for (i = 0; i < srv->n_addrs; i++)
		srv->listen_fds[i] = -1;
	for (i = 0; i < srv->n_addrs; i++) {
		if ((srv->listen_fds[i] = server_socket(&srv->addrs[i])) < 0) {
			log_error("msg=\"cannot listen on %s: %s\"",
			    srv->addrs[i].text, strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < srv->n_workers; i++) {
		srv->workers[i].srv = srv;
		srv->workers[i].index = i;
		if (worker_setup(srv, &srv->workers[i]) == -1)
			goto out;
	}
	for (i = 0; i < srv->n_workers; i++, started++)
		if (pthread_create(&srv->workers[i].thread, NULL, worker_main,
		        &srv->workers[i]) != 0)
			goto stop;
	server_print_ready(srv);
	sig = server_wait_signal();
	log_info("msg=\"signal %d: finishing in-flight requests\"", sig);
	rc = 0;
stop:
	for (i = 0; i < started; i++)
		event_base_once(srv->workers[i].base, -1, EV_TIMEOUT,
		    worker_begin_drain, &srv->workers[i], &now);
	for (i = 0; i < started; i++)
		pthread_join(srv->workers[i].thread, NULL);
out:
	for (i = 0; i < srv->n_workers; i++)
		worker_teardown(&srv->workers[i]);
	for (i = 0; i < srv->n_addrs; i++)
		if (srv->listen_fds[i] >= 0)
			close(srv->listen_fds[i]);
	return rc;
}
