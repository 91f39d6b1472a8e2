/*
 * protocols/acme/validate.c and its probes against real peers on
 * 127.0.0.1 (see acme_validate_fixture.h): http-01 (redirects, https
 * targets, address fallback, the address policy), dns-01, live CAA,
 * held validations, timeouts and cancellation.  tls-alpn-01 is in
 * test_acme_validate_tls.c; the address policy and the CAA decision,
 * pure functions, are in test_acme_caa.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "acme_validate_fixture.h"

/* --- http-01 ------------------------------------------------------------- */

#define CHALL_PATH "/.well-known/acme-challenge/" TOKEN

static void
test_http01_ok(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH "\r\n\t ", NULL};
	run(f, ACME_HTTP_01, "http-ok.example.com", 0);
	expect_ok(f);
}

static void
test_http01_ip_ok(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "127.0.0.1", 1);
	expect_ok(f);
}

static void
test_http01_wrong_body(void **state)
{
	struct fixture *f = *state;

	f->routes[0] =
	    (struct route){CHALL_PATH, 200, "tok123.\"wrong\"\n", NULL};
	run(f, ACME_HTTP_01, "http-wrong.example.com", 0);
	expect_fail(f, "unauthorized", "did not match this challenge");
	assert_non_null(strstr(f->detail, "Expected \"" KEYAUTH "\""));
	assert_non_null(strstr(f->detail, "tok123.?wrong?")); /* sanitised */
}

static void
test_http01_404(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_HTTP_01, "http-404.example.com", 0);
	expect_fail(f, "unauthorized", ": 404");
}

static void
test_http01_redirect(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){
	    CHALL_PATH, 302, NULL, "http://other-host.example.com:%d/moved"};
	f->routes[1] = (struct route){"/moved", 301, NULL, "/final?x=1"};
	f->routes[2] = (struct route){"/final?x=1", 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "http-redir.example.com", 0);
	expect_ok(f);
}

static void
test_http01_redirect_bad_port(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){
	    CHALL_PATH, 302, NULL, "http://127.0.0.1:1/elsewhere"};
	run(f, ACME_HTTP_01, "http-redir2.example.com", 0);
	expect_fail(f, "connection", "only port");
}

static void
test_http01_redirect_loop(void **state)
{
	struct fixture *f = *state;

	f->routes[0] = (struct route){CHALL_PATH, 302, NULL, CHALL_PATH};
	run(f, ACME_HTTP_01, "http-loop.example.com", 0);
	expect_fail(f, "connection", "Too many redirects");
}

static void
test_http01_refused(void **state)
{
	struct fixture *f = *state;

	f->cfg.http01_port = free_port(); /* nothing listens there */
	run(f, ACME_HTTP_01, "http-refused.example.com", 0);
	expect_fail(f, "connection", "127.0.0.1");
}

static void
test_private_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const ips[] = {"10.1.2.3", "192.168.0.1", "::1",
	    "fe80::1", "fd00::1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
	    "255.255.255.255", "224.0.0.1"};
	size_t i;

	f->cfg.allow_private = 0;
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	/* challtestsrv answers 127.0.0.1 for every name. */
	run(f, ACME_HTTP_01, "private.example.com", 0);
	expect_fail(f, "connection",
	    "private.example.com: 127.0.0.1 is a reserved address (loopback)");
	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		run(f, ACME_HTTP_01, ips[i], 1);
		expect_fail(f, "connection", "reserved address");
	}
}

/* Redirect to https on the https port; chunked body over TLS. */
static void
test_http01_redirect_https_chunked(void **state)
{
	struct fixture *f = *state;
	char loc[128];

	tls_server(f, "DNS:https-target.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	f->tls_http_reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                    "\r\n6\r\ntok123\r\n"
	                    "e;ext=1\r\n.thumbprintABC\r\n0\r\n\r\n";
	snprintf(loc, sizeof(loc),
	    "https://https-target.example.com:%d/.well-known/x", f->tls_port);
	f->routes[0] = (struct route){CHALL_PATH, 307, NULL, loc};
	run(f, ACME_HTTP_01, "http-https.example.com", 0);
	expect_ok(f);
}

/* No Content-Length, no chunking: the body ends at EOF. */
static void
test_http01_eof_body(void **state)
{
	struct fixture *f = *state;
	char loc[128];

	tls_server(f, "DNS:https-eof.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	f->tls_http_reply = "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n" KEYAUTH "\n";
	snprintf(loc, sizeof(loc), "https://127.0.0.1:%d/y", f->tls_port);
	f->routes[0] = (struct route){CHALL_PATH, 308, NULL, loc};
	run(f, ACME_HTTP_01, "http-eof.example.com", 0);
	expect_ok(f);
}

/* AAAA ::1 is tried first (nothing listens on it), then A 127.0.0.1. */
static void
test_http01_fallback_v4(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mgmt_post("/add-aaaa",
	                     "{\"host\":\"dual.example.com.\","
	                     "\"addresses\":[\"::1\"]}"),
	    0);
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	run(f, ACME_HTTP_01, "dual.example.com", 0);
	expect_ok(f);
	/* Both families dead: the last failure is reported. */
	f->cfg.http01_port = free_port();
	acme_validator_free(f->v);
	f->v = NULL;
	run(f, ACME_HTTP_01, "dual.example.com", 0);
	expect_fail(f, "connection", "127.0.0.1: Connection refused");
}

/* --- dns-01 -------------------------------------------------------------- */

static char *
keyauth_digest(void)
{
	unsigned char md[32];
	unsigned int len = 0;
	static char out[64];
	int n;

	assert_int_equal(
	    EVP_Digest(KEYAUTH, strlen(KEYAUTH), md, &len, EVP_sha256(), NULL),
	    1);
	n = EVP_EncodeBlock((unsigned char *)out, md, (int)len);
	/* to base64url without padding */
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

static void
test_dns01_ok(void **state)
{
	struct fixture *f = *state;

	set_txt("dns-ok.example.com", keyauth_digest());
	run(f, ACME_DNS_01, "dns-ok.example.com", 0);
	expect_ok(f);
}

static void
test_dns01_wrong(void **state)
{
	struct fixture *f = *state;

	set_txt("dns-wrong.example.com", "not-the-digest");
	run(f, ACME_DNS_01, "dns-wrong.example.com", 0);
	expect_fail(
	    f, "unauthorized", "Incorrect TXT record \"not-the-digest\"");
}

static void
test_dns01_missing(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_DNS_01, "dns-missing.example.com", 0);
	if (strcmp(f->problem, "dns") != 0)
		expect_fail(f, "unauthorized", "No TXT record found");
	assert_false(f->ok);
}

static void
test_dns01_servfail(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    mgmt_post("/set-servfail",
	        "{\"host\":\"_acme-challenge.dns-sf.example.com.\"}"),
	    0);
	run(f, ACME_DNS_01, "dns-sf.example.com", 0);
	expect_fail(f, "dns", "DNS problem");
}

static void
test_dns01_ip_refused(void **state)
{
	struct fixture *f = *state;

	run(f, ACME_DNS_01, "127.0.0.1", 1);
	expect_fail(f, "malformed", "RFC 8738");
}

static void
test_bad_resolver(void **state)
{
	struct fixture *f = *state;

	f->cfg.resolver = "127.0.0.1:notaport";
	assert_null(acme_validator_new(f->base, &f->cfg));
	f->cfg.resolver = "[::1]:53";
	f->v = acme_validator_new(f->base, &f->cfg);
	assert_non_null(f->v);
}

/* --- CAA ----------------------------------------------------------------- */

static void
caa_run(struct fixture *f, const char *ident, int wildcard)
{
	struct acme_challenge_req req = {ACME_HTTP_01, 0, ident, TOKEN, KEYAUTH,
	    wildcard, "https://ca.example/acct/1"};
	struct timeval guard = {15, 0};

	f->cfg.caa = 1;
	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	start_validator(f);
	f->called = 0;
	assert_non_null(acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
}

static void
test_caa_live(void **state)
{
	struct fixture *f = *state;

	caa_run(f, "no-caa.example.com", 0);
	expect_ok(f);

	add_caa("caa-ok.example.com", "issue", OUR_CA);
	caa_run(f, "caa-ok.example.com", 0);
	expect_ok(f);

	add_caa("caa-deny.example.com", "issue", "other-ca.example");
	caa_run(f, "caa-deny.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-deny.example.com");

	/* RFC 8659 §3: the parent's RRset is relevant for a child. */
	add_caa("caa-parent.example.com", "issue", "other-ca.example");
	caa_run(f, "a.b.caa-parent.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-parent.example.com");

	/* RFC 8657 accounturi and validationmethods. */
	add_caa("caa-acct.example.com", "issue",
	    OUR_CA "; accounturi=https://ca.example/acct/2");
	caa_run(f, "caa-acct.example.com", 0);
	expect_fail(f, "caa", "prevents issuance");
	add_caa("caa-acct2.example.com", "issue",
	    OUR_CA "; accounturi=https://ca.example/acct/1");
	caa_run(f, "caa-acct2.example.com", 0);
	expect_ok(f);
	add_caa("caa-meth.example.com", "issue",
	    OUR_CA "; validationmethods=dns-01,tls-alpn-01");
	caa_run(f, "caa-meth.example.com", 0);
	expect_fail(f, "caa", "prevents issuance");

	/* issuewild governs wildcards only. */
	add_caa("caa-wild.example.com", "issuewild", ";");
	caa_run(f, "caa-wild.example.com", 1);
	expect_fail(f, "caa", "issuewild");
	caa_run(f, "caa-wild.example.com", 0);
	expect_ok(f);

	/* Fail closed: SERVFAIL on a parent while climbing. */
	assert_int_equal(
	    mgmt_post("/set-servfail", "{\"host\":\"caa-sf.example.com.\"}"),
	    0);
	caa_run(f, "x.caa-sf.example.com", 0);
	expect_fail(f, "dns", "SERVFAIL looking up CAA for caa-sf.example.com");

	/* All names are asked at once, but the closest RRset decides: a
	 * parent's SERVFAIL no longer matters (Boulder's parseResults). */
	assert_int_equal(
	    mgmt_post("/set-servfail", "{\"host\":\"caa-sfp.example.com.\"}"),
	    0);
	add_caa("x.caa-sfp.example.com", "issue", OUR_CA);
	caa_run(f, "x.caa-sfp.example.com", 0);
	expect_ok(f);
}

/* CAA runs beside the challenge: a forbidding record ends the validation
 * while the http-01 server is still silent, instead of a timeout. */
static void
test_caa_beside_challenge(void **state)
{
	struct fixture *f = *state;

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	add_caa("caa-first.example.com", "issue", "other-ca.example");
	caa_run(f, "caa-first.example.com", 0);
	expect_fail(f, "caa", "CAA record for caa-first.example.com");
}

/* Run the loop for ms milliseconds. */
static void
spin(struct fixture *f, int ms)
{
	struct timeval tv = {0, ms * 1000};

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

/* A held validation resolves names but neither connects nor answers
 * until released; a cancelled one never does either. */
static void
test_held(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 0, "held.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_challenge_req missing = {ACME_DNS_01, 0,
	    "held-missing.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct timeval guard = {15, 0};
	struct acme_validation *val;

	f->routes[0] = (struct route){CHALL_PATH, 200, KEYAUTH, NULL};
	start_validator(f);
	assert_non_null(val = acme_validate_held(f->v, &req, done_cb, f));
	spin(f, 300);
	assert_int_equal(f->called, 0);
	assert_int_equal(f->http_hits, 0);
	acme_validation_release(val);
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
	expect_ok(f);
	assert_int_equal(f->http_hits, 1);

	/* Decided while held (no TXT record): the answer waits. */
	f->called = 0;
	assert_non_null(val = acme_validate_held(f->v, &missing, done_cb, f));
	spin(f, 300);
	assert_int_equal(f->called, 0);
	acme_validation_release(val);
	event_base_loopexit(f->base, &guard);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 1);
	expect_fail(f, "unauthorized", "No TXT record");

	/* Cancelled while held: nothing is fetched, nothing answers. */
	f->called = 0;
	assert_non_null(val = acme_validate_held(f->v, &req, done_cb, f));
	spin(f, 300);
	acme_validation_cancel(val);
	spin(f, 100);
	assert_int_equal(f->called, 0);
	assert_int_equal(f->http_hits, 1);
}

/* --- timeout and cancel -------------------------------------------------- */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_timeout(void **state)
{
	struct fixture *f = *state;
	double t0, dt;

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	f->cfg.tlsalpn01_port = f->silent_port;
	f->cfg.timeout_ms = 400;
	t0 = now();
	run(f, ACME_HTTP_01, "127.0.0.1", 1);
	dt = now() - t0;
	expect_fail(f, "connection", "Timed out after 400 ms");
	assert_true(dt >= 0.35 && dt < 3.0);
	run(f, ACME_TLS_ALPN_01, "127.0.0.1", 1);
	expect_fail(f, "connection", "Timed out");
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 0, "cancel.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_challenge_req req2 = {
	    ACME_DNS_01, 0, "cancel.example.com", TOKEN, KEYAUTH, 0, NULL};
	struct acme_validation *val, *val2;
	struct timeval tv = {0, 300 * 1000};

	silent_server(f);
	f->cfg.http01_port = f->silent_port;
	start_validator(f);
	f->called = 0;
	/* One cancelled while connected, one while its DNS query is out. */
	assert_non_null(val = acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
	acme_validation_cancel(val);
	assert_non_null(val2 = acme_validate(f->v, &req2, done_cb, f));
	acme_validation_cancel(val2);
	/* One left in flight for acme_validator_free in teardown. */
	assert_non_null(acme_validate(f->v, &req, done_cb, f));
	tv.tv_usec = 300 * 1000;
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
}

/* A finished-early validation (policy refusal) is cancellable too. */
static void
test_cancel_before_reply(void **state)
{
	struct fixture *f = *state;
	struct acme_challenge_req req = {
	    ACME_HTTP_01, 1, "10.0.0.1", TOKEN, KEYAUTH, 0, NULL};
	struct timeval tv = {0, 100 * 1000};

	f->cfg.allow_private = 0;
	start_validator(f);
	f->called = 0;
	acme_validation_cancel(acme_validate(f->v, &req, done_cb, f));
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->called, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http01_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http01_ip_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_wrong_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http01_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_bad_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_redirect_https_chunked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_eof_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_fallback_v4, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_http01_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_private_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns01_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns01_wrong, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_servfail, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_dns01_ip_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_resolver, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_caa_live, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_caa_beside_challenge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_held, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_cancel_before_reply, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
