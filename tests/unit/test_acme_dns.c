/*
 * The transport of protocols/acme/dns.c (acme.validation.dns_transport)
 * against a DNS responder inside the test, on the test's own loop and
 * 127.0.0.1.  Over TCP (RFC 1035 §4.2.2, two-byte length prefix) it
 * answers every A question 127.0.0.1; over UDP, when it listens there
 * too, 127.0.0.2; other questions get an empty NOERROR.  It counts the
 * connections and queries of each transport, so a test sees how its
 * answer travelled: "tcp" reaches a TCP-only server and reuses one
 * connection, "udp" never reaches it and fails within a short deadline,
 * and a whole http-01 validation does the same from its configuration.
 * With a trust anchor, its unsigned answers under the anchor are bogus.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "protocols/acme/dns.h"
#include "protocols/acme/validate.h"

#define HDR 12
#define MSG_MAX 512
#define MAX_CONNS 8
#define TOKEN "tok123"
#define KEYAUTH "tok123.thumbprintABC"
#define CHALL_PATH "/.well-known/acme-challenge/" TOKEN

struct responder {
	struct evconnlistener *lis;
	int udp_fd; /* -1: TCP only */
	struct event *udp_ev;
	int port;
	struct bufferevent *conns[MAX_CONNS];
	int tcp_accepts, tcp_queries, udp_queries;
};

struct fixture {
	struct event_base *base;
	struct responder r;
	char resolver[32];
	struct acme_dns *dns;
	struct acme_validator *v;
	struct evhttp *http;
	int http_port;
	/* outcome of the last lookup or validation */
	int called, status, octet, ok;
	char problem[64], detail[512];
};

/*
 * The answer to `q` in `out` (room for MSG_MAX + 16): A 127.0.0.`octet`
 * for an A question, no record otherwise.  Its length, or 0 when `q` is
 * not one uncompressed question.
 */
static size_t
answer(const unsigned char *q, size_t qlen, int octet, unsigned char *out)
{
	const unsigned char rr[] = {0xc0, HDR, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4,
	    127, 0, 0, (unsigned char)octet};
	size_t off = HDR;
	int is_a;

	if (qlen < HDR || qlen > MSG_MAX || q[4] != 0 || q[5] != 1)
		return 0;
	while (off < qlen && q[off] != 0 && q[off] < 64)
		off += 1 + q[off];
	if (off >= qlen || q[off] != 0 || (off += 5) > qlen)
		return 0;
	is_a = q[off - 4] == 0 && q[off - 3] == 1;
	memcpy(out, q, off);
	out[2] = 0x84 | (q[2] & 0x01); /* QR AA, RD copied */
	out[3] = 0x80;                 /* RA, NOERROR */
	memset(out + 6, 0, 6);
	out[7] = is_a;
	if (is_a) {
		memcpy(out + off, rr, sizeof(rr));
		off += sizeof(rr);
	}
	return off;
}

static void
conn_drop(struct fixture *f, struct bufferevent *bev)
{
	size_t i;

	for (i = 0; i < MAX_CONNS; i++)
		if (f->r.conns[i] == bev)
			f->r.conns[i] = NULL;
	bufferevent_free(bev);
}

/* Every complete length-prefixed query in the buffer gets its answer;
 * a malformed one ends the connection. */
static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct fixture *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char q[MSG_MAX], out[2 + MSG_MAX + 16];
	size_t qlen, alen;

	while (evbuffer_copyout(in, out, 2) == 2) {
		qlen = (size_t)out[0] << 8 | out[1];
		if (qlen <= sizeof(q) && evbuffer_get_length(in) < 2 + qlen)
			return;
		if (qlen > sizeof(q) || evbuffer_drain(in, 2) == -1 ||
		    evbuffer_remove(in, q, qlen) != (int)qlen ||
		    (alen = answer(q, qlen, 1, out + 2)) == 0) {
			conn_drop(f, bev);
			return;
		}
		f->r.tcp_queries++;
		out[0] = (unsigned char)(alen >> 8);
		out[1] = (unsigned char)alen;
		bufferevent_write(bev, out, 2 + alen);
	}
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_drop(arg, bev);
}

static void
tcp_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct fixture *f = arg;
	struct bufferevent *bev;
	size_t i;

	(void)lis;
	(void)sa;
	(void)salen;
	f->r.tcp_accepts++;
	for (i = 0; i < MAX_CONNS && f->r.conns[i] != NULL; i++)
		;
	if (i == MAX_CONNS) {
		close(fd);
		return;
	}
	assert_non_null(
	    bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE));
	f->r.conns[i] = bev;
	bufferevent_setcb(bev, tcp_read, NULL, tcp_event, f);
	assert_int_equal(bufferevent_enable(bev, EV_READ), 0);
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	unsigned char q[MSG_MAX], out[MSG_MAX + 16];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	ssize_t n;
	size_t alen;

	(void)what;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
	if (n <= 0 || (alen = answer(q, (size_t)n, 2, out)) == 0)
		return;
	f->r.udp_queries++;
	(void)sendto(fd, out, alen, 0, (struct sockaddr *)&peer, plen);
}

/* The responder on an ephemeral port, on UDP too when `with_udp`; the
 * fixture's resolver names it. */
static void
responder_start(struct fixture *f, int with_udp)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_non_null(f->r.lis = evconnlistener_new_bind(f->base, tcp_accept,
	                    f, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	                    (struct sockaddr *)&sin, sizeof(sin)));
	assert_int_equal(getsockname(evconnlistener_get_fd(f->r.lis),
	                     (struct sockaddr *)&sin, &len),
	    0);
	f->r.port = ntohs(sin.sin_port);
	snprintf(f->resolver, sizeof(f->resolver), "127.0.0.1:%d", f->r.port);
	if (!with_udp)
		return;
	assert_int_not_equal(f->r.udp_fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	assert_int_equal(evutil_make_socket_nonblocking(f->r.udp_fd), 0);
	assert_int_equal(
	    bind(f->r.udp_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_non_null(f->r.udp_ev = event_new(f->base, f->r.udp_fd,
	                    EV_READ | EV_PERSIST, udp_read, f));
	assert_int_equal(event_add(f->r.udp_ev, NULL), 0);
}

/* --- lookups ------------------------------------------------------------- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Run the loop until a callback breaks it or `ms` have passed (a timer
 * of its own: a pending loopexit would cut the next wait short). */
static void
wait_ms(struct fixture *f, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	struct event *ev;

	assert_non_null(ev = evtimer_new(f->base, deadline_cb, f->base));
	assert_int_equal(evtimer_add(ev, &tv), 0);
	event_base_dispatch(f->base);
	event_free(ev);
}

static void
lookup_done(void *arg, const struct acme_dns_result *res)
{
	struct fixture *f = arg;

	f->called++;
	f->status = res->status;
	f->octet = res->n == 1 && res->len[0] == 4 ? res->rdata[0][3] : -1;
	event_base_loopbreak(f->base);
}

/* Ask for the A record of `name`; wait at most `ms`.  The answer's last
 * octet (1 over TCP, 2 over UDP), or -1 when none came in time. */
static int
lookup_a(struct fixture *f, const char *name, int ms)
{
	struct acme_dns_query *q;

	f->called = 0;
	f->octet = -1;
	assert_non_null(
	    q = acme_dns_query(f->dns, name, ACME_DNS_A, lookup_done, f));
	wait_ms(f, ms);
	if (f->called == 0) {
		acme_dns_cancel(q);
		return -1;
	}
	assert_int_equal(f->called, 1);
	return f->status == ACME_DNS_OK ? f->octet : -1;
}

/* TCP reaches a TCP-only server, and one connection carries every query
 * (libunbound keeps it for the next one). */
static void
test_tcp_reaches_tcp_only(void **state)
{
	struct fixture *f = *state;
	char name[64];
	int i;

	responder_start(f, 0);
	assert_non_null(
	    f->dns = acme_dns_new(f->base, f->resolver, NULL, ACME_DNS_TCP));
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d.tcp-only.example.com", i);
		assert_int_equal(lookup_a(f, name, 5000), 1);
	}
	assert_int_equal(f->r.tcp_queries, 5);
	assert_int_equal(f->r.tcp_accepts, 1);
}

/* UDP, kept as it was, does not reach it: no answer, no connection. */
static void
test_udp_misses_tcp_only(void **state)
{
	struct fixture *f = *state;

	responder_start(f, 0);
	assert_non_null(
	    f->dns = acme_dns_new(f->base, f->resolver, NULL, ACME_DNS_UDP));
	assert_int_equal(lookup_a(f, "udp.tcp-only.example.com", 2000), -1);
	assert_int_equal(f->r.tcp_accepts, 0);
}

/* With a trust anchor the answers are validated: this responder signs
 * nothing, so under the anchored zone an A record is bogus; without one
 * (every other test) the same answer is used as is. */
static void
test_trust_anchor_validates(void **state)
{
	struct fixture *f = *state;
	char ta[] = "/tmp/test_acme_dns_ta.XXXXXX";
	int fd;
	FILE *fp;

	responder_start(f, 0);
	assert_true((fd = mkstemp(ta)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	fprintf(fp,
	    "signed.example.com. 3600 IN DS 12345 13 2 "
	    "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n");
	assert_int_equal(fclose(fp), 0);
	assert_non_null(
	    f->dns = acme_dns_new(f->base, f->resolver, ta, ACME_DNS_TCP));
	/* libunbound reads the file when the first query goes out. */
	assert_int_equal(lookup_a(f, "a.signed.example.com", 5000), -1);
	unlink(ta);
	assert_int_equal(f->called, 1);
	assert_int_equal(f->status, ACME_DNS_BOGUS);
	/* Outside the anchored zone nothing is checked. */
	assert_int_equal(lookup_a(f, "a.plain.example.net", 5000), 1);
}

/* With both transports served, each setting gets its own answer, and the
 * other transport sees nothing. */
static void
test_each_transport_alone(void **state)
{
	struct fixture *f = *state;

	responder_start(f, 1);
	assert_non_null(
	    f->dns = acme_dns_new(f->base, f->resolver, NULL, ACME_DNS_TCP));
	assert_int_equal(lookup_a(f, "both.example.com", 5000), 1);
	assert_int_equal(f->r.udp_queries, 0);
	acme_dns_free(f->dns);
	f->r.tcp_queries = f->r.tcp_accepts = 0;
	assert_non_null(
	    f->dns = acme_dns_new(f->base, f->resolver, NULL, ACME_DNS_UDP));
	assert_int_equal(lookup_a(f, "both.example.com", 5000), 2);
	assert_int_equal(f->r.tcp_accepts, 0);
	assert_int_equal(f->r.tcp_queries, 0);
}

/* --- a whole validation -------------------------------------------------- */

static void
http_cb(struct evhttp_request *req, void *arg)
{
	(void)arg;
	if (strcmp(evhttp_request_get_uri(req), CHALL_PATH) != 0) {
		evhttp_send_error(req, 404, NULL);
		return;
	}
	evbuffer_add(
	    evhttp_request_get_output_buffer(req), KEYAUTH, strlen(KEYAUTH));
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void
validate_done(void *arg, int ok, const char *problem, const char *detail)
{
	struct fixture *f = arg;

	f->called++;
	f->ok = ok;
	snprintf(f->problem, sizeof(f->problem), "%s",
	    problem != NULL ? problem : "");
	snprintf(f->detail, sizeof(f->detail), "%s", detail);
	event_base_loopbreak(f->base);
}

/* An http-01 validation of a name only the TCP-only responder knows,
 * with the transport `t`; its 1.5 s timeout bounds the failure. */
static void
validate_with(struct fixture *f, enum acme_dns_transport t)
{
	static const char *const ids[] = {"ca.example", NULL};
	struct acme_validate_cfg cfg = {.resolver = f->resolver,
	    .http01_port = f->http_port,
	    .tlsalpn01_port = 1,
	    .allow_private = 1,
	    .timeout_ms = 1500,
	    .caa = 0,
	    .caa_identities = ids,
	    .dns_transport = t};
	struct acme_challenge_req req = {ACME_HTTP_01, 0,
	    "web.tcp-only.example.com", TOKEN, KEYAUTH, 0,
	    "https://ca.example/acct/1"};

	acme_validator_free(f->v);
	assert_non_null(f->v = acme_validator_new(f->base, &cfg));
	f->called = 0;
	assert_non_null(acme_validate(f->v, &req, validate_done, f));
	wait_ms(f, 10000);
	assert_int_equal(f->called, 1);
}

static void
test_validation_follows_config(void **state)
{
	struct fixture *f = *state;
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	responder_start(f, 0);
	assert_non_null(f->http = evhttp_new(f->base));
	evhttp_set_gencb(f->http, http_cb, f);
	assert_non_null(
	    bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0));
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
	                     (struct sockaddr *)&sin, &len),
	    0);
	f->http_port = ntohs(sin.sin_port);

	validate_with(f, ACME_DNS_TCP);
	if (!f->ok)
		fail_msg("tcp: wanted success, got %s \"%s\"", f->problem,
		    f->detail);
	assert_true(f->r.tcp_queries >= 2); /* AAAA and A */

	f->r.tcp_queries = f->r.tcp_accepts = 0;
	validate_with(f, ACME_DNS_UDP);
	if (f->ok || strcmp(f->problem, "dns") != 0)
		fail_msg("udp: wanted a dns problem, got ok=%d %s \"%s\"",
		    f->ok, f->problem, f->detail);
	assert_int_equal(f->r.tcp_accepts, 0);
}

/* --- fixture ------------------------------------------------------------- */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || (f->base = event_base_new()) == NULL)
		return -1;
	f->r.udp_fd = -1;
	*state = f;
	return 0;
}

/* Clients first (their connections close), then the responder. */
static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	acme_validator_free(f->v);
	acme_dns_free(f->dns);
	if (f->http != NULL)
		evhttp_free(f->http);
	for (i = 0; i < MAX_CONNS; i++)
		if (f->r.conns[i] != NULL)
			bufferevent_free(f->r.conns[i]);
	if (f->r.lis != NULL)
		evconnlistener_free(f->r.lis);
	if (f->r.udp_ev != NULL)
		event_free(f->r.udp_ev);
	if (f->r.udp_fd != -1)
		close(f->r.udp_fd);
	event_base_free(f->base);
	free(f);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_tcp_reaches_tcp_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_udp_misses_tcp_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_each_transport_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_validation_follows_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_trust_anchor_validates, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
