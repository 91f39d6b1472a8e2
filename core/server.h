/*
 * The HTTPS server: one libevent loop per worker thread, each accepting
 * on its own SO_REUSEPORT socket per listen address, TLS through
 * OpenSSL bufferevents, routing by path prefix to the protocol handlers.
 */
#ifndef ENROLLD_SERVER_H
#define ENROLLD_SERVER_H

#include <stddef.h>

struct server;
struct gateway;

/*
 * Build the server from the gateway's config ("listen", "workers", "tls",
 * "limits"): TLS context, routes, and bound listening sockets.  NULL on
 * error with a sentence in err.  Caller frees with server_free.
 */
struct server *server_new(struct gateway *gw, char *err, size_t errlen);

/*
 * Start the workers, print "listening on https://ADDR:PORT" per address,
 * and serve until SIGTERM or SIGINT; then stop accepting, let in-flight
 * requests finish (bounded by limits.shutdown_timeout_ms) and return 0.
 * -1 when a worker could not start.
 */
int server_run(struct server *srv);

void server_free(struct server *srv);

struct event_base;
/*
 * A new event loop as the workers run theirs: epoll's change list, so
 * the enable/disable pairs a connection makes within one loop turn cost
 * one epoll_ctl instead of one each.  Its documented hazard, a file
 * descriptor cloned by dup(), must not arise on it.  NULL on error.
 */
struct event_base *server_loop_base(void);

struct bufferevent;
/*
 * evhttp queues a message's start line and headers, then its body, as
 * separate chains of the connection's output, and libevent's OpenSSL
 * bufferevent writes every chain as a TLS record and a syscall of its
 * own.  On `bev` (an OpenSSL bufferevent), chains are joined as they are
 * queued, so that a small message leaves as one record in one write;
 * writing waits for the loop, so the body is in by then.
 */
void server_join_writes(struct bufferevent *bev);

/*
 * Block SIGTERM, SIGINT and SIGPIPE in the calling thread and every
 * thread it creates afterwards; server_run takes the first two with
 * sigwait.  Call before any thread (the store writer) is started.
 */
void server_block_signals(void);

#endif
