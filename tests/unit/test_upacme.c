/*
 * backends/acme/upacme*.c against real peers on 127.0.0.1, started once
 * for the program by upacme_peers.h: pebble A (badNonce injection,
 * alternate roots, a blocklist) for http-01, dns-01, refusals, resume
 * and chain preference; B for External Account Binding; C, restarted on
 * the same ports, for a lost account and poll speed.  Also the parsers
 * that need no peer (Retry-After, which refusals mean the account is
 * gone).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "backends/acme/upacme.h"
#include "backends/acme/upacme_int.h"
#include "core/encoding.h"
#include "tests/unit/upacme_peers.h"

#define ERR "urn:ietf:params:acme:error:"
#define FAST_ORDER_S 1.5 /* an http-01 order with PEBBLE_VA_NOSLEEP */

/* ---- cases ------------------------------------------------------------ */

static void
on_revoked(void *arg, int rc, const char *detail)
{
	struct tc *t = arg;

	t->revoked = rc == 0 ? 1 : -1;
	event_base_loopbreak(g.base);
}

/* Two names by http-01 on A (badNonce injected): the chain verifies to
 * root 0; then revocation. */
static void
test_http01(void **state)
{
	const char *names[] = {"a1.example.com", "a2.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 2, NULL);
	run_until_done(&t);
	assert_true(t.persists >= 2); /* pending, then ready / valid */
	assert_true(t.same_order);
	assert_issued(&t, key, g.a_mgmt, 0);

	assert_int_equal(
	    upacme_revoke(u, sk_X509_value(t.chain, 0), 1, on_revoked, &t), 0);
	run_until(&t.revoked);
	assert_int_equal(t.revoked, 1);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* A name and its wildcard by dns-01 through challtestsrv's /set-txt. */
static void
test_dns01(void **state)
{
	const char *names[] = {"d.example.com", "*.d.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;

	tc_init(&t);
	conf_init(&c, g.a_port, "dns-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 2, NULL);
	run_until_done(&t);
	assert_issued(&t, key, g.a_mgmt, 0);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* A wildcard cannot be proven by http-01: refused before publishing. */
static void
test_wildcard_http01(void **state)
{
	const char *names[] = {"*.w.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(strstr(t.detail, "dns-01"));
	upacme_free(u);
	tc_clear(&t);
}

static void
test_blocked(void **state)
{
	const char *names[] = {BLOCKED};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;

	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(t.problem);
	assert_string_equal(t.problem, ERR "rejectedIdentifier");
	assert_non_null(t.detail);
	assert_int_equal(t.persists, 0); /* no order was made */
	upacme_free(u);
	tc_clear(&t);
}

/* Nothing listens: unavailable, and within the order's timeout. */
static void
test_down(void **state)
{
	const char *names[] = {"down.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	time_t t0 = time(NULL);

	tc_init(&t);
	conf_init(&c, g.closed, "http-01");
	c.order_timeout = 6;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_UNAVAILABLE);
	assert_null(t.chain);
	assert_true(time(NULL) - t0 <= c.order_timeout + 1);
	upacme_free(u);
	tc_clear(&t);
}

/* Stop after newOrder, free the engine mid-flight, resume with a new
 * one: the certificate comes from the same upstream order. */
static void
test_resume(void **state)
{
	const char *names[] = {"r.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t1, t2;
	EVP_PKEY *key;
	X509 *root;
	unsigned char *csr;
	size_t len;
	struct upacme_order_spec spec;

	tc_init(&t1);
	t1.stop_at_persist = 1;
	conf_init(&c, g.a_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t1, names, 1, NULL);
	event_base_dispatch(g.base);
	assert_int_equal(t1.done, 0);
	assert_non_null(t1.first_state);
	upacme_free(u); /* in flight: no callback may come */
	assert_int_equal(t1.done, 0);

	tc_init(&t2);
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	csr = make_csr(key, names, 1, &len);
	memset(&spec, 0, sizeof(spec));
	spec.csr_der = csr;
	spec.csr_len = len;
	spec.resume_state = t1.first_state;
	assert_non_null(upacme_order_start(u, &spec, on_done, &t2));
	free(csr);
	run_until_done(&t2);
	assert_int_equal(t2.outcome, UPACME_OK);
	assert_true(t2.persists >= 1);
	assert_string_equal(t2.order_url, t1.order_url);
	assert_true(t2.same_order);
	root = fetch_root(g.a_mgmt, 0);
	check_chain(t2.chain, key, root);

	/* A state that is not ours starts nothing (and calls nothing). */
	spec.resume_state = "{\"order\":\"http://x/\"}";
	csr = make_csr(key, names, 1, &len);
	spec.csr_der = csr;
	spec.csr_len = len;
	assert_null(upacme_order_start(u, &spec, on_done, &t2));
	free(csr);
	X509_free(root);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t1);
	tc_clear(&t2);
}

/* B requires EAB: without it the order is refused with a clear detail,
 * with it the certificate is issued. */
static void
test_eab(void **state)
{
	const char *names[] = {"e.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key, *rsa;
	unsigned char *mac;
	size_t mac_len;

	tc_init(&t);
	conf_init(&c, g.b_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u, &t, names, 1, NULL));
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(strstr(t.detail, "External Account Binding"));
	upacme_free(u);
	tc_clear(&t);

	/* An RSA account this time: RS256 requests, HS256 binding. */
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(rsa);
	mac = encoding_b64url_decode(EAB_KEY, strlen(EAB_KEY), &mac_len);
	assert_non_null(mac);
	tc_init(&t);
	c.account_key = rsa;
	c.eab_kid = EAB_KID;
	c.eab_hmac_key = mac;
	c.eab_hmac_key_len = mac_len;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	free(mac);
	EVP_PKEY_free(rsa);
	key = order(u, &t, names, 1, NULL);
	run_until_done(&t);
	assert_issued(&t, key, g.b_mgmt, 0);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* The CN of `x`'s subject, into buf. */
static void
subject_cn(X509 *x, char *buf, size_t len)
{
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	                NID_commonName, buf, (int)len) > 0);
}

/* PEBBLE_ALTERNATE_ROOTS=1: prefer root 1's CN, get the chain to it. */
static void
test_alternate(void **state)
{
	const char *names[] = {"alt.example.com"};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	EVP_PKEY *key;
	X509 *root, *last;
	char cn[128], iss[128];

	root = fetch_root(g.a_mgmt, 1);
	subject_cn(root, cn, sizeof(cn));
	tc_init(&t);
	conf_init(&c, g.a_port, "http-01");
	c.preferred_chain = cn;
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	key = order(u, &t, names, 1, NULL);
	run_until_done(&t);
	assert_int_equal(t.outcome, UPACME_OK);
	last = sk_X509_value(t.chain, sk_X509_num(t.chain) - 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_issuer_name(last),
	                NID_commonName, iss, sizeof(iss)) > 0);
	assert_string_equal(iss, cn);
	check_chain(t.chain, key, root);
	X509_free(root);
	EVP_PKEY_free(key);
	upacme_free(u);
	tc_clear(&t);
}

/* The member `name` of the persisted state `state`, or NULL. */
static char *
state_get(const char *state, const char *name)
{
	json_t *j = json_loads(state, 0, NULL);
	const char *v;
	char *ret = NULL;

	assert_non_null(j);
	if ((v = json_string_value(json_object_get(j, name))) != NULL)
		ret = strdup(v);
	json_decref(j);
	return ret;
}

/*
 * C forgets everything (a restart on the same ports: new roots, no
 * accounts) between two orders of one engine: the kid-signed newOrder
 * meets accountDoesNotExist, the engine registers again and issues
 * under the new root.  At the same time an order persisted under the
 * old account is resumed: the upstream does not know it, so it is
 * ordered anew and the new order persisted; so is an order saved
 * without its account that the upstream does not know.
 */
static void
test_stale_account(void **state)
{
	const char *n1[] = {"s1.example.com"}, *n2[] = {"s2.example.com"};
	const char *n3[] = {"s3.example.com"};
	struct upacme_conf c;
	struct upacme *u, *u2;
	struct tc t1, t2, t3, t4, t5;
	EVP_PKEY *k1, *k3, *k4;
	X509 *old_root, *root;
	char *old_kid, *acct, old_state[160];

	tc_init(&t1);
	conf_init(&c, g.c_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	k1 = order(u, &t1, n1, 1, NULL);
	run_until_done(&t1);
	assert_int_equal(t1.outcome, UPACME_OK);
	old_root = fetch_root(g.c_mgmt, 0);
	check_chain(t1.chain, k1, old_root);
	assert_non_null(u->kid);
	old_kid = strdup(u->kid);
	assert_non_null(old_kid);
	acct = state_get(t1.first_state, "account");
	assert_non_null(acct);
	assert_string_equal(acct, old_kid);
	free(acct);

	/* An order of the old account, persisted and left (a restart). */
	tc_init(&t2);
	t2.stop_at_persist = 1;
	assert_non_null(u2 = upacme_new(g.base, &c, &hooks));
	EVP_PKEY_free(order(u2, &t2, n2, 1, NULL));
	event_base_dispatch(g.base);
	assert_non_null(t2.first_state);
	upacme_free(u2);

	stop_pid(g.pids[g.npids - 1]);
	assert_int_equal(start_c(), 0);
	root = fetch_root(g.c_mgmt, 0);
	assert_int_not_equal(X509_cmp(root, old_root), 0);

	tc_init(&t3);
	tc_init(&t4);
	k3 = order(u, &t3, n3, 1, NULL);
	k4 = order(u, &t4, n2, 1, t2.first_state);
	run_until(&t3.done);
	run_until(&t4.done);
	assert_int_equal(t3.outcome, UPACME_OK);
	check_chain(t3.chain, k3, root);
	assert_non_null(u->kid);
	assert_string_not_equal(u->kid, old_kid);

	assert_int_equal(t4.outcome, UPACME_OK);
	check_chain(t4.chain, k4, root);
	assert_non_null(t4.order_url);
	assert_string_not_equal(t4.order_url, t2.order_url);
	assert_true(t4.same_order);
	acct = state_get(t4.first_state, "account");
	assert_non_null(acct);
	assert_string_equal(acct, u->kid);
	free(acct);

	/* A state saved before the account was recorded, of an order the
	 * upstream does not know: ordered anew as well. */
	snprintf(old_state, sizeof(old_state),
	    "{\"order\":\"https://127.0.0.1:%d/my-order/gone\","
	    "\"status\":\"pending\"}",
	    g.c_port);
	tc_init(&t5);
	EVP_PKEY_free(order(u, &t5, n1, 1, old_state));
	run_until_done(&t5);
	assert_int_equal(t5.outcome, UPACME_OK);
	assert_non_null(t5.order_url);
	assert_null(strstr(t5.order_url, "/gone"));

	free(old_kid);
	X509_free(old_root);
	X509_free(root);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k3);
	EVP_PKEY_free(k4);
	upacme_free(u);
	tc_clear(&t1);
	tc_clear(&t2);
	tc_clear(&t3);
	tc_clear(&t4);
	tc_clear(&t5);
}

/*
 * Polls come soon after the challenge and after finalize: an http-01
 * order on C (validation without pebble's random sleep) takes less than
 * FAST_ORDER_S, where one-second polls took two.  The best of two
 * orders, for a loaded machine.
 */
static void
test_poll_speed(void **state)
{
	const char *names[][1] = {{"p1.example.com"}, {"p2.example.com"}};
	struct upacme_conf c;
	struct upacme *u;
	struct tc t;
	double t0, took, best = 1e9;
	size_t i;

	conf_init(&c, g.c_port, "http-01");
	assert_non_null(u = upacme_new(g.base, &c, &hooks));
	for (i = 0; i < 2; i++) {
		tc_init(&t);
		t0 = upacme_now();
		EVP_PKEY_free(order(u, &t, names[i], 1, NULL));
		run_until_done(&t);
		took = upacme_now() - t0;
		assert_int_equal(t.outcome, UPACME_OK);
		fprintf(stderr, "test_poll_speed: order %zu took %.3f s\n", i,
		    took);
		if (took < best)
			best = took;
		tc_clear(&t);
	}
	assert_true(best < FAST_ORDER_S);
	upacme_free(u);
}

/* Which refusals of a kid-signed request mean the account is gone. */
static void
test_account_gone(void **state)
{
	static const struct {
		const char *type, *detail;
		int gone;
	} cases[] = {
	    {ERR "accountDoesNotExist", "Account https://x/acct/1 not found.",
	        1},
	    {ERR "accountDoesNotExist", NULL, 1},
	    {ERR "unauthorized",
	        "Account is not valid, has status \"deactivated\"", 1},
	    {ERR "unauthorized", "No registration exists matching provided key",
	        1},
	    {ERR "unauthorized", "account UNKNOWN to this server", 1},
	    {ERR "unauthorized",
	        "User account ID doesn't match account ID in "
	        "authorization",
	        0},
	    {ERR "unauthorized", "Order is not owned by this requester", 0},
	    {ERR "unauthorized", NULL, 0},
	    {ERR "malformed", "Account not found", 0},
	    {NULL, "Account not found", 0},
	};
	struct upacme_resp r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.problem_type = (char *)cases[i].type;
		r.json = cases[i].detail != NULL
		    ? json_pack("{s:s}", "detail", cases[i].detail)
		    : json_object();
		assert_non_null(r.json);
		if (upacme_account_gone(&r) != cases[i].gone)
			fail_msg("case %zu: \"%s\"", i,
			    cases[i].detail != NULL ? cases[i].detail : "");
		json_decref(r.json);
	}
}

/* Retry-After (RFC 9110 §10.2.3): seconds or an HTTP-date. */
static void
test_retry_after(void **state)
{
	double now = 1445412480.0; /* Wed, 21 Oct 2015 07:28:00 GMT */

	assert_int_equal(upacme_retry_after_parse("120", now), 120);
	assert_int_equal(upacme_retry_after_parse(" 0", now), 0);
	assert_int_equal(upacme_retry_after_parse("99999999", now), 86400);
	assert_int_equal(
	    upacme_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT", now), 30);
	assert_int_equal(
	    upacme_retry_after_parse("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
	assert_int_equal(upacme_retry_after_parse("soon", now), -1);
	assert_int_equal(upacme_retry_after_parse("12x", now), -1);
	assert_int_equal(upacme_retry_after_parse("", now), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_http01),
	    cmocka_unit_test(test_dns01),
	    cmocka_unit_test(test_wildcard_http01),
	    cmocka_unit_test(test_blocked),
	    cmocka_unit_test(test_down),
	    cmocka_unit_test(test_resume),
	    cmocka_unit_test(test_eab),
	    cmocka_unit_test(test_alternate),
	    cmocka_unit_test(test_account_gone),
	    cmocka_unit_test(test_poll_speed),
	    cmocka_unit_test(test_stale_account),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
