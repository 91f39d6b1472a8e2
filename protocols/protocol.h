/*
 * Protocol front ends (after nginx modules): each registers a table; the
 * core routes by path prefix and never names a protocol itself.
 */
#ifndef ENROLLD_PROTOCOL_H
#define ENROLLD_PROTOCOL_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct http_req;
struct gateway;

/* A command-line subcommand a protocol adds: `enrolld NAME ARGS...`. */
struct proto_command {
	const char *name;
	const char *usage;                 /* after "enrolld " */
	int (*run)(int argc, char **argv); /* argv[0] is the name */
};

struct proto_handler {
	const char *name; /* config section name: "est" */
	/* MUST. Requests whose path starts with one of these prefixes come
	 * to this handler; NULL-terminated. */
	const char *const *prefixes;
	/* MAY. Validate the config section (may be NULL when absent)
	 * without side effects; on error write a sentence naming the key
	 * and return -1. */
	int (*check)(const json_t *conf, char *err, size_t errlen);
	/* MUST. Build the handler's state.  Called once, before workers
	 * start; `gw` is fully built.  0 / -1 (err written). */
	int (*init)(struct gateway *gw, const json_t *conf, void **priv,
	    char *err, size_t errlen);
	/* MUST. Handle one request; always ends in one http_reply*() call,
	 * now or later on the same loop.  Runs on a worker thread: state in
	 * priv is shared between workers and read-only after init, unless
	 * the handler locks it. */
	void (*handle)(struct http_req *r, void *priv);
	/* MAY. NULL-safe. */
	void (*free)(void *priv);
	/* MAY. State of one worker, made on the main thread before that
	 * worker's loop runs and used only from that loop (a resolver bound
	 * to it, say); handle() finds it with http_req_worker_state().
	 * 0 / -1. */
	int (*worker_init)(void *priv, struct event_base *base, void **wstate);
	/* MAY. After the worker's loop ended.  NULL-safe. */
	void (*worker_free)(void *wstate);
	/* 1 when the handler also serves requests that came over plain HTTP
	 * ("http_listen"); others answer those with 403. */
	int plain_http;
	/* MAY. Subcommands, ended by one with a NULL name. */
	const struct proto_command *commands;
};

/* NULL-terminated registry (protocols/registry.c). */
extern const struct proto_handler *const proto_handlers[];

#endif
