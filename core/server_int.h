/*
 * Private to core/server.c and core/http.c: the worker layout and the
 * entry points between the listener side and the request side.
 */
#ifndef ENROLLD_SERVER_INT_H
#define ENROLLD_SERVER_INT_H

#include <pthread.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/http.h>

struct gateway;
struct proto_handler;
struct store_conn;

struct route {
	const char *prefix;
	size_t prefix_len;
	const struct proto_handler *handler;
	void *priv;
	size_t handler_index; /* into worker.hstate */
};

struct worker {
	struct server *srv;
	unsigned index;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp *http_plain; /* "http_listen" sockets, no TLS */
	struct evhttp_bound_socket **bound;
	struct evhttp **bound_on; /* which of the two each socket is on */
	size_t n_bound;
	struct store_conn *store;
	void **hstate; /* per handler: its worker_init state */
	struct event *drain_timer;
	struct event *flush_timer;
	unsigned long inflight; /* requests dispatched, not yet replied */
	unsigned long unsent;   /* replies given to libevent, not yet written */
	unsigned long served;
	unsigned long next_id;
	int draining;
	int forced;         /* left with requests in flight: keep the loop */
	int backends_ready; /* gateway_worker_init done: free it too */
};

/* Shared, read-only while workers run. */
struct server_view {
	struct gateway *gw;
	const struct route *routes;
	size_t n_routes;
	size_t n_handlers;
	unsigned id_prefix; /* random, makes request ids unique per run */
};

/* The server's shared view (server.c). */
const struct server_view *server_view(const struct server *srv);

/* evhttp generic callback: wraps the request and dispatches it (http.c). */
void http_dispatch(struct evhttp_request *evreq, void *worker);

/* A reply was handed to libevent (server.c). */
void server_request_done(struct worker *w);
/* A reply was written out to the socket (server.c). */
void server_reply_flushed(struct worker *w);

#endif
