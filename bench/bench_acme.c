/*
 * bench_acme: full-order ACME load driver (RFC 8555) with a built-in
 * http-01 responder.
 *
 *   bench_acme --dir URL --cacert FILE -n N -c C --http-port H
 *       [--label NAME] [--timeout S] [--poll-ms MS]
 *
 * Before the clock starts: N P-256 keys and CSRs (o<i>.bench.example),
 * the directory, one ES256 account (newAccount, jwk) and one nonce per
 * slot, which also opens the slot's keep-alive TLS connection.  Timed:
 * N orders, C in flight at once, each newOrder -> authz -> challenge
 * {} -> poll the authz every MS until valid -> finalize -> poll the order
 * until valid (when the server answers "processing") -> certificate,
 * whose leaf must carry the order's key.  One event loop (libevent) runs
 * the HTTPS client (https_conn.c: HTTP/1.1 over OpenSSL on the socket,
 * one keep-alive connection per slot) and the http-01 responder
 * (http01_responder.c, 127.0.0.1:H), which answers the tokens the slots
 * have learnt.  Both are hand-rolled rather than libevent's evhttp: the
 * driver shares the cores with the server it measures, and evhttp cost
 * it about a sixth more CPU per order.
 * See bench/README.md for the method.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "bench/acme_opts.h"
#include "bench/csr.h"
#include "bench/http01_responder.h"
#include "bench/https_conn.h"
#include "bench/stats.h"
#include "core/jws_sign.h"
#include "core/server.h"

#define BENCH_MAX_REPLY (64 * 1024) /* a chain of a few PEM certs */
#define BENCH_ORDER_S 120.0         /* one order may take this long */
#define BENCH_SHOW_ERRORS 5
#define ERR_BADNONCE "urn:ietf:params:acme:error:badNonce"

/* What a slot waits for; the reply is judged by it. */
enum step {
	ST_NONCE,
	ST_ORDER,
	ST_AUTHZ,
	ST_CHALL,
	ST_POLL_AUTHZ,
	ST_FINALIZE,
	ST_POLL_ORDER,
	ST_CERT,
};

static const char *const step_names[] = {"newNonce", "newOrder", "authz",
    "challenge", "authz poll", "finalize", "order poll", "certificate"};

/* One order to place; made before the clock starts. */
struct order {
	EVP_PKEY *key;
	char *csr; /* base64url DER */
	char *pem; /* the chain downloaded, checked after the clock */
};

struct bench;

/* One of C concurrent order runners, with its own connection. */
struct slot {
	struct bench *b;
	struct https_conn conn;
	struct event *pause; /* between polls */
	long order;          /* index in b->orders, -1 when idle */
	enum step step;
	long sync_code;  /* set-up: status of the reply, -1 failed, 0 waiting */
	int fetching;    /* a HEAD newNonce runs before the signed POST */
	int retried;     /* the badNonce retry of this POST is used */
	double start;    /* newOrder sent */
	const char *url; /* target of the signed POST (borrowed) */
	char *payload;   /* its payload, "" for POST-as-GET */
	char *jws;
	char *order_url, *authz_url, *chall_url, *final_url, *cert_url;
	char nonce[256];
	char location[1024];
	char token[256];    /* http-01 token this slot answers for */
	unsigned char *buf; /* the reply's body, NUL-terminated */
	size_t len;
};

struct bench {
	const struct bacme_opts *o;
	struct event_base *base;
	struct event *deadline;
	struct h01_responder *h01;
	struct https_origin origin;
	struct jws_sign_key *acct; /* ES256 account key */
	char *kid;                 /* its URL once registered */
	json_t *dir;
	struct order *orders;
	struct slot *slots;
	double *lat_ms;
	double t0, elapsed;
	double cpu0, cpu; /* this driver's CPU seconds, timed part */
	long next, done, nlat, failed, badnonce, requests, polls, warm;
	int stopped;
};

static void slot_send_signed(struct slot *s);
static void order_start(struct slot *s);
static void on_reply(void *arg, const struct https_reply *r);

/* The timed part is over: wall time and this driver's CPU time. */
static void
clock_stop(struct bench *b)
{
	b->elapsed = bstat_now() - b->t0;
	b->cpu = bstat_cpu() - b->cpu0;
}

/* N keys and CSRs into b->orders, before the clock starts.  0 / -1. */
static int
make_orders(struct bench *b)
{
	char host[64];
	long i;

	for (i = 0; i < b->o->n; i++) {
		struct order *od = &b->orders[i];

		snprintf(host, sizeof(host), "o%ld.bench.example", i);
		if ((od->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
		        NULL ||
		    (od->csr = bcsr_b64url(od->key, host)) == NULL) {
			ERR_print_errors_fp(stderr); /* and empties the queue */
			return -1;
		}
	}
	return 0;
}

/* Keep what the ACME logic reads of r: Replay-Nonce, Location, body. */
static void
slot_take_reply(struct slot *s, const struct https_reply *r)
{
	if (r->code == 0)
		return;
	https_reply_header(r, "Replay-Nonce", s->nonce, sizeof(s->nonce));
	https_reply_header(r, "Location", s->location, sizeof(s->location));
	/* slot_init bounds the body below BENCH_MAX_REPLY. */
	memcpy(s->buf, r->body, r->body_len);
	s->len = r->body_len;
	s->buf[s->len] = '\0';
}

/* The connection and buffer of a slot.  0 / -1. */
static int
slot_init(struct bench *b, struct slot *s)
{
	s->b = b;
	s->order = -1;
	if ((s->buf = malloc(BENCH_MAX_REPLY)) == NULL ||
	    https_conn_init(
	        &s->conn, &b->origin, b->base, BENCH_MAX_REPLY - 1) == -1)
		return -1;
	return 0;
}

static void
slot_free(struct slot *s)
{
	https_conn_free(&s->conn);
	if (s->pause != NULL)
		event_free(s->pause);
	free(s->buf);
	free(s->payload);
	free(s->jws);
	free(s->order_url);
	free(s->authz_url);
	free(s->chall_url);
	free(s->final_url);
	free(s->cert_url);
}

/*
 * Send a GET, HEAD or POST of `body` (NULL for none) to `url` on the
 * slot's connection; `done` gets the reply.  0, or -1 with nothing sent.
 */
static int
slot_request(struct slot *s, enum evhttp_cmd_type type, const char *url,
    const char *body, https_reply_fn *done)
{
	s->len = 0;
	s->buf[0] = '\0';
	s->location[0] = '\0';
	s->b->requests++;
	return https_conn_send(&s->conn, type, url, body, done, s);
}

/* A string member of `doc`, or NULL. */
static const char *
jstr(const json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

static int
same(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/*
 * Account for the end of the order on `s` (failed unless ok) and start
 * the next one.  The slot's state is reset; b->done counts the order.
 */
static void
order_end(struct slot *s, int ok)
{
	struct bench *b = s->b;

	if (ok)
		b->lat_ms[b->nlat++] = (bstat_now() - s->start) * 1000.0;
	else
		b->failed++;
	free(s->order_url);
	free(s->authz_url);
	free(s->chall_url);
	free(s->final_url);
	free(s->cert_url);
	s->order_url = s->authz_url = s->chall_url = NULL;
	s->final_url = s->cert_url = NULL;
	s->token[0] = '\0';
	s->order = -1;
	if (++b->done == b->o->n) {
		clock_stop(b);
		event_base_loopbreak(b->base);
	} else if (b->next < b->o->n)
		order_start(s);
}

/* Fail the order on `s`: say why (the first few), then move on. */
static void
order_fail(struct slot *s, const char *fmt, ...)
{
	va_list ap;

	if (s->b->failed < BENCH_SHOW_ERRORS) {
		fprintf(stderr,
		    "bench_acme %s: order %ld at %s: ", s->b->o->label,
		    s->order, step_names[s->step]);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	order_end(s, 0);
}

/*
 * Fail the order with what the server said: the problem document of the
 * reply, of the object or of its first failed challenge, on one line.
 */
static void
order_fail_doc(struct slot *s, long code, const json_t *doc)
{
	const json_t *err = json_object_get(doc, "error"), *c;
	const char *st = jstr(doc, "status");
	char *text;
	size_t i;

	json_array_foreach(json_object_get(doc, "challenges"), i, c)
	{
		if (err == NULL)
			err = json_object_get(c, "error");
	}
	if (err == NULL)
		err = doc;
	text = err != NULL ? json_dumps(err, JSON_COMPACT) : NULL;
	order_fail(s, "HTTP %ld, status %s: %.300s", code, st ? st : "-",
	    text != NULL ? text : (char *)s->buf);
	free(text);
}

/* A request of the timed part; on_reply takes the reply. */
static void
slot_send(struct slot *s, enum evhttp_cmd_type type, const char *url,
    const char *body)
{
	if (slot_request(s, type, url, body, on_reply) == -1)
		order_fail(s, "cannot send a request to %s", url);
}

/*
 * Send a signed POST of `payload` (malloc'd, taken over) to `url`
 * (borrowed; it lives until the order ends) and wait for `step`.
 */
static void
slot_post(struct slot *s, enum step step, const char *url, char *payload)
{
	s->step = step;
	s->url = url;
	free(s->payload);
	s->payload = payload;
	s->retried = 0;
	if (payload == NULL) {
		order_fail(s, "out of memory");
		return;
	}
	slot_send_signed(s);
}

/* Send s->payload to s->url with the slot's nonce, or fetch one first. */
static void
slot_send_signed(struct slot *s)
{
	const char *nurl = jstr(s->b->dir, "newNonce");

	if (s->nonce[0] == '\0') {
		/* No nonce came with the last reply: ask (RFC 8555 §7.2). */
		s->fetching = 1;
		slot_send(s, EVHTTP_REQ_HEAD, nurl, NULL);
		return;
	}
	free(s->jws);
	s->jws =
	    jws_sign_flat(s->b->acct, s->url, s->nonce, s->b->kid, s->payload);
	s->nonce[0] = '\0'; /* one use only */
	if (s->jws == NULL) {
		order_fail(s, "cannot sign the request");
		return;
	}
	slot_send(s, EVHTTP_REQ_POST, s->url, s->jws);
}

static void
order_start(struct slot *s)
{
	struct bench *b = s->b;
	char *payload;

	s->order = b->next++;
	s->start = bstat_now();
	payload = malloc(128);
	if (payload != NULL)
		snprintf(payload, 128,
		    "{\"identifiers\":[{\"type\":\"dns\",\"value\":"
		    "\"o%ld.bench.example\"}]}",
		    s->order);
	slot_post(s, ST_ORDER, jstr(b->dir, "newOrder"), payload);
}

/* Poll again after --poll-ms, as step `step`. */
static void
slot_wait(struct slot *s, enum step step)
{
	struct timeval tv;

	if (bstat_now() - s->start > BENCH_ORDER_S) {
		order_fail(s, "not done after %.0f s", BENCH_ORDER_S);
		return;
	}
	s->step = step;
	s->b->polls++;
	tv.tv_sec = s->b->o->poll_ms / 1000;
	tv.tv_usec = s->b->o->poll_ms % 1000 * 1000;
	evtimer_add(s->pause, &tv);
}

static void
on_pause(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;

	if (s->step == ST_POLL_AUTHZ)
		slot_post(s, s->step, s->authz_url, strdup(""));
	else
		slot_post(s, s->step, s->order_url, strdup(""));
}

static void
finalize(struct slot *s)
{
	const char *csr = s->b->orders[s->order].csr;
	size_t len = strlen(csr) + 16;
	char *payload = malloc(len);

	if (payload != NULL)
		snprintf(payload, len, "{\"csr\":\"%s\"}", csr);
	slot_post(s, ST_FINALIZE, s->final_url, payload);
}

/* 201 with Location; one authorization; a finalize URL. */
static void
on_order(struct slot *s, long code, const json_t *doc)
{
	const json_t *az = json_object_get(doc, "authorizations");

	if (code != 201 || s->location[0] == '\0' || json_array_size(az) != 1 ||
	    jstr(doc, "finalize") == NULL) {
		order_fail(s,
		    "HTTP %ld, want 201, Location, one authorization "
		    "and finalize",
		    code);
		return;
	}
	s->order_url = strdup(s->location);
	s->authz_url = strdup(json_string_value(json_array_get(az, 0)));
	s->final_url = strdup(jstr(doc, "finalize"));
	if (s->order_url == NULL || s->authz_url == NULL ||
	    s->final_url == NULL) {
		order_fail(s, "out of memory");
		return;
	}
	slot_post(s, ST_AUTHZ, s->authz_url, strdup(""));
}

/* Pick the http-01 challenge; publish its token; answer it with {}. */
static void
on_authz(struct slot *s, const json_t *doc)
{
	const json_t *c;
	size_t i;

	if (same(jstr(doc, "status"), "valid")) {
		finalize(s); /* reused authorization: nothing to prove */
		return;
	}
	json_array_foreach(json_object_get(doc, "challenges"), i, c)
	{
		if (!same(jstr(c, "type"), "http-01") ||
		    jstr(c, "url") == NULL || jstr(c, "token") == NULL ||
		    strlen(jstr(c, "token")) >= sizeof(s->token))
			continue;
		snprintf(s->token, sizeof(s->token), "%s", jstr(c, "token"));
		if ((s->chall_url = strdup(jstr(c, "url"))) == NULL) {
			order_fail(s, "out of memory");
			return;
		}
		slot_post(s, ST_CHALL, s->chall_url, strdup("{}"));
		return;
	}
	order_fail(s, "no usable http-01 challenge: %.200s", (char *)s->buf);
}

/* The challenge or authorization reply: valid, still pending, failed. */
static void
on_authz_state(struct slot *s, const json_t *doc)
{
	const char *st = jstr(doc, "status");

	if (same(st, "valid"))
		finalize(s);
	else if (same(st, "pending") || same(st, "processing"))
		slot_wait(s, ST_POLL_AUTHZ);
	else
		order_fail_doc(s, 200, doc);
}

/* The finalize or order reply: valid with a certificate, or wait. */
static void
on_order_state(struct slot *s, const json_t *doc)
{
	const char *st = jstr(doc, "status");

	if (same(st, "valid") && jstr(doc, "certificate") != NULL) {
		if ((s->cert_url = strdup(jstr(doc, "certificate"))) == NULL)
			order_fail(s, "out of memory");
		else
			slot_post(s, ST_CERT, s->cert_url, strdup(""));
	} else if (same(st, "processing") || same(st, "ready"))
		slot_wait(s, ST_POLL_ORDER);
	else
		order_fail_doc(s, 200, doc);
}

/* 1 when `pem` is a chain whose first certificate carries `key`. */
static int
chain_ok(const char *pem, EVP_PKEY *key)
{
	BIO *bio;
	X509 *x = NULL;
	int ok;

	bio = BIO_new_mem_buf(pem, -1);
	if (bio != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	ok = x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1;
	X509_free(x);
	BIO_free(bio);
	ERR_clear_error();
	return ok;
}

/*
 * The chain arrived: keep it and end the order.  It is checked after
 * the clock (check_chains): parsing a certificate costs OpenSSL 3.0's
 * key decoder search, CPU the server would otherwise not get.
 */
static void
on_cert(struct slot *s)
{
	struct order *od = &s->b->orders[s->order];

	if ((od->pem = malloc(s->len + 1)) == NULL) {
		order_fail(s, "out of memory");
		return;
	}
	memcpy(od->pem, s->buf, s->len);
	od->pem[s->len] = '\0';
	order_end(s, 1);
}

/* After the clock: every downloaded chain carries its order's key. */
static void
check_chains(struct bench *b)
{
	long i, bad = 0;

	for (i = 0; i < b->o->n; i++) {
		if (b->orders[i].pem == NULL ||
		    chain_ok(b->orders[i].pem, b->orders[i].key))
			continue;
		if (bad++ < BENCH_SHOW_ERRORS)
			fprintf(stderr,
			    "order %ld: not a PEM chain for the "
			    "order's key\n",
			    i);
	}
	b->failed += bad;
	b->nlat -= bad;
}

/* A nonce arrived on a slot that asked for one. */
static void
on_nonce(struct slot *s, long code)
{
	struct bench *b = s->b;
	long i;

	s->fetching = 0;
	if (s->nonce[0] == '\0') {
		if (s->order == -1) {
			fprintf(stderr,
			    "bench_acme: newNonce: HTTP %ld, "
			    "no Replay-Nonce\n",
			    code);
			b->stopped = 1;
			event_base_loopbreak(b->base);
		} else
			order_fail(
			    s, "newNonce: HTTP %ld, no Replay-Nonce", code);
		return;
	}
	if (s->order != -1) {
		slot_send_signed(s);
		return;
	}
	/* Warm-up: every slot has a connection and a nonce; start. */
	if (++b->warm == b->o->c) {
		b->t0 = bstat_now();
		b->cpu0 = bstat_cpu();
		b->requests = 0;
		for (i = 0; i < b->o->c; i++)
			order_start(&b->slots[i]);
	}
}

/*
 * Judge the reply that just ended on `s` (HTTP status `code`, or 0 and
 * why the request failed) and take the next step.
 */
static void
slot_done(struct slot *s, long code, const char *error)
{
	json_t *doc = NULL;

	if (code == 0) {
		if (s->order == -1) {
			fprintf(stderr, "bench_acme: warm-up: %s\n", error);
			s->b->stopped = 1;
			event_base_loopbreak(s->b->base);
		} else
			order_fail(s, "%s", error);
		return;
	}
	if (s->fetching) {
		on_nonce(s, code);
		return;
	}
	if (s->step != ST_CERT || code >= 400)
		doc = json_loadb((char *)s->buf, s->len, 0, NULL);
	if (code >= 400 && same(jstr(doc, "type"), ERR_BADNONCE) &&
	    !s->retried) {
		/* As real clients do: once, with the nonce of this reply. */
		s->retried = 1;
		s->b->badnonce++;
		slot_send_signed(s);
	} else if (code >= 300)
		order_fail_doc(s, code, doc);
	else if (s->step != ST_CERT && s->step != ST_ORDER && doc == NULL)
		order_fail(
		    s, "HTTP %ld, not JSON: %.200s", code, (char *)s->buf);
	else if (s->step == ST_ORDER)
		on_order(s, code, doc);
	else if (s->step == ST_AUTHZ)
		on_authz(s, doc);
	else if (s->step == ST_CHALL || s->step == ST_POLL_AUTHZ)
		on_authz_state(s, doc);
	else if (s->step == ST_FINALIZE || s->step == ST_POLL_ORDER)
		on_order_state(s, doc);
	else
		on_cert(s);
	json_decref(doc);
}

/* The reply to a request of the timed part or warm-up (https_reply_fn). */
static void
on_reply(void *arg, const struct https_reply *r)
{
	struct slot *s = arg;

	slot_take_reply(s, r);
	slot_done(s, r->code, r->error);
}

/*
 * The responder's question (h01_key_fn): the account key's thumbprint
 * when some slot works on http-01 token `token` (tlen bytes), else NULL.
 */
static const char *
token_thumbprint(void *arg, const char *token, size_t tlen)
{
	struct bench *b = arg;
	long i;

	for (i = 0; i < b->o->c; i++) {
		struct slot *s = &b->slots[i];

		if (s->order != -1 && strlen(s->token) == tlen &&
		    memcmp(s->token, token, tlen) == 0)
			return jws_sign_key_thumbprint(b->acct);
	}
	return NULL;
}

/* The global timeout: whatever is not done has failed. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	fprintf(stderr, "bench_acme %s: %ld s timeout, %ld orders not done\n",
	    b->o->label, b->o->timeout_s, b->o->n - b->done);
	b->failed += b->o->n - b->done;
	clock_stop(b);
	event_base_loopbreak(b->base);
}

/* The reply to a set-up request: keep it, stop waiting (https_reply_fn). */
static void
on_sync_reply(void *arg, const struct https_reply *r)
{
	struct slot *s = arg;

	slot_take_reply(s, r);
	if (r->code == 0)
		fprintf(stderr, "bench_acme: %s\n", r->error);
	s->sync_code = r->code != 0 ? r->code : -1;
}

/*
 * One request on `s` before the clock (GET the directory, HEAD a nonce,
 * POST newAccount): runs the event loop until its reply is in.  Returns
 * the HTTP status, -1 when the request failed (said on stderr).
 */
static long
sync_req(struct slot *s, enum evhttp_cmd_type type, const char *url,
    const char *body)
{
	s->sync_code = 0;
	if (slot_request(s, type, url, body, on_sync_reply) == -1) {
		fprintf(
		    stderr, "bench_acme: cannot send a request to %s\n", url);
		return -1;
	}
	while (s->sync_code == 0)
		if (event_base_loop(s->b->base, EVLOOP_ONCE) != 0) {
			fprintf(stderr, "bench_acme: no reply from %s\n", url);
			return -1;
		}
	return s->sync_code;
}

/* A fresh P-256 account key and its signer into b->acct.  0 / -1. */
static int
account_keygen(struct bench *b)
{
	EVP_PKEY *key;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		ERR_print_errors_fp(stderr); /* and empties the queue */
		return -1;
	}
	b->acct = jws_sign_key_new(key);
	EVP_PKEY_free(key);
	return b->acct != NULL ? 0 : -1;
}

/* Directory, one nonce, newAccount (jwk); sets b->dir and b->kid. */
static int
setup_account(struct bench *b)
{
	struct slot s;
	char *jws = NULL;
	long code;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	if (slot_init(b, &s) == -1 ||
	    sync_req(&s, EVHTTP_REQ_GET, b->o->dir, NULL) != 200 ||
	    (b->dir = json_loadb((char *)s.buf, s.len, 0, NULL)) == NULL ||
	    jstr(b->dir, "newNonce") == NULL ||
	    jstr(b->dir, "newAccount") == NULL ||
	    jstr(b->dir, "newOrder") == NULL) {
		fprintf(
		    stderr, "bench_acme: no ACME directory at %s\n", b->o->dir);
		goto out;
	}
	if (sync_req(&s, EVHTTP_REQ_HEAD, jstr(b->dir, "newNonce"), NULL) ==
	        -1 ||
	    s.nonce[0] == '\0' ||
	    (jws = jws_sign_flat(b->acct, jstr(b->dir, "newAccount"), s.nonce,
	         NULL, "{\"termsOfServiceAgreed\":true}")) == NULL)
		goto out;
	code = sync_req(&s, EVHTTP_REQ_POST, jstr(b->dir, "newAccount"), jws);
	if ((code != 201 && code != 200) || s.location[0] == '\0' ||
	    (b->kid = strdup(s.location)) == NULL) {
		fprintf(stderr, "bench_acme: newAccount: HTTP %ld: %.300s\n",
		    code, (char *)s.buf);
		goto out;
	}
	rc = 0;
out:
	free(jws);
	slot_free(&s);
	return rc;
}

/* Event base, the server's origin, the responder.  0 / -1. */
static int
setup_loop(struct bench *b)
{
	const struct bacme_opts *o = b->o;

	if ((b->base = server_loop_base()) == NULL ||
	    (b->deadline = evtimer_new(b->base, on_deadline, b)) == NULL ||
	    https_origin_init(&b->origin, o->dir, o->cacert) == -1)
		return -1;
	if ((b->h01 = h01_responder_new(
	         b->base, o->port, token_thumbprint, b)) == NULL) {
		fprintf(stderr, "bench_acme: cannot listen on 127.0.0.1:%ld\n",
		    o->port);
		return -1;
	}
	return 0;
}

/* The slots, each sending its warm-up HEAD newNonce; the deadline. */
static int
setup_slots(struct bench *b)
{
	struct timeval tv = {b->o->timeout_s, 0};
	long i;

	b->t0 = bstat_now(); /* again when the warm-up is over */
	for (i = 0; i < b->o->c; i++) {
		struct slot *s = &b->slots[i];

		if (slot_init(b, s) == -1 ||
		    (s->pause = evtimer_new(b->base, on_pause, s)) == NULL)
			return -1;
		/* Warm-up: a nonce, and the slot's TLS connection. */
		s->fetching = 1;
		if (slot_request(s, EVHTTP_REQ_HEAD, jstr(b->dir, "newNonce"),
		        NULL, on_reply) == -1)
			return -1;
	}
	return evtimer_add(b->deadline, &tv);
}

static void
report(struct bench *b)
{
	const struct bacme_opts *o = b->o;
	double rate = b->elapsed > 0 ? b->nlat / b->elapsed : 0;

	bstat_sort(b->lat_ms, b->nlat);
	printf("acme orders %s c=%ld n=%ld: %.1f orders/s p50=%.1f ms "
	       "p99=%.1f ms failed=%ld badnonce_retries=%ld\n",
	    o->label, o->c, o->n, rate,
	    bstat_percentile(b->lat_ms, b->nlat, 50),
	    bstat_percentile(b->lat_ms, b->nlat, 99), b->failed, b->badnonce);
	fprintf(stderr,
	    "bench_acme %s: %.2f s, %ld requests (%.1f/order), "
	    "%ld polls, driver CPU %.2f ms/order\n",
	    o->label, b->elapsed, b->requests,
	    (double)b->requests / (double)o->n, b->polls,
	    b->cpu * 1000 / (double)o->n);
	fflush(stdout);
}

static void
bench_free(struct bench *b)
{
	long i;

	for (i = 0; b->slots != NULL && i < b->o->c; i++)
		if (b->slots[i].b != NULL)
			slot_free(&b->slots[i]);
	https_origin_free(&b->origin);
	h01_responder_free(b->h01);
	if (b->deadline != NULL)
		event_free(b->deadline);
	if (b->base != NULL)
		event_base_free(b->base);
	for (i = 0; b->orders != NULL && i < b->o->n; i++) {
		EVP_PKEY_free(b->orders[i].key);
		free(b->orders[i].csr);
		free(b->orders[i].pem);
	}
	free(b->orders);
	free(b->slots);
	free(b->lat_ms);
	json_decref(b->dir);
	jws_sign_key_free(b->acct);
	free(b->kid);
}

static int
run(const struct bacme_opts *o)
{
	struct bench b;
	int rc = 1;

	memset(&b, 0, sizeof(b));
	b.o = o;
	b.orders = calloc((size_t)o->n, sizeof(*b.orders));
	b.slots = calloc((size_t)o->c, sizeof(*b.slots));
	b.lat_ms = calloc((size_t)o->n, sizeof(*b.lat_ms));
	if (b.orders == NULL || b.slots == NULL || b.lat_ms == NULL)
		goto out;
	if (make_orders(&b) == -1 || account_keygen(&b) == -1 ||
	    setup_loop(&b) == -1 || setup_account(&b) == -1 ||
	    setup_slots(&b) == -1) {
		fprintf(stderr, "bench_acme %s: set-up failed\n", o->label);
		goto out;
	}
	event_base_dispatch(b.base);
	if (b.stopped)
		goto out;
	check_chains(&b);
	report(&b);
	rc = b.failed == 0 ? 0 : 1;
out:
	bench_free(&b);
	return rc;
}

int
main(int argc, char **argv)
{
	struct bacme_opts o;
	int rc;

	bacme_opts_parse(argc, argv, &o);
	/* A write on a connection the server closed must fail (EPIPE, a
	 * failed request), not kill the driver: OpenSSL's socket BIO uses
	 * write(2), without MSG_NOSIGNAL. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return 1;
	rc = run(&o);
	libevent_global_shutdown();
	return rc;
}
