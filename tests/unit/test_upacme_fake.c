/*
 * The upstream ACME engine (backends/acme/upacme*.c) against an upstream
 * that misbehaves: the scriptable fake of fake_acme.h answering 5xx,
 * rubbish, oversized bodies, badNonce, rateLimited, nothing at all, an
 * invalid authorization or a wrong certificate.  Each case checks the
 * outcome the owner is told, the problem type, a detail fit to show
 * (present, no control characters) and how long the order took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "backends/acme/upacme.h"
#include "tests/unit/fake_acme.h"

#define PROBLEM(type, detail)                                                  \
	"{\"type\":\"" FAKE_ERR type "\",\"detail\":\"" detail "\"}"

/* A challenge whose validation failed (RFC 8555 §7.1.4 "error"); the
 * upstream's detail carries a newline the engine must not pass on. */
#define AUTHZ_INVALID                                                          \
	"{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\","            \
	"\"value\":\"a.example.com\"},\"challenges\":[{\"type\":\"http-01\","  \
	"\"url\":\"$B/chall/1\",\"token\":\"" FAKE_TOKEN "\","                 \
	"\"status\":\"invalid\",\"error\":{\"type\":\"" FAKE_ERR "caa\","      \
	"\"detail\":\"CAA forbids\\nissuance\\u001b[31m\"}}]}"

/* One order for a.example.com through a new engine for `dir_url` (NULL:
 * the fake's directory). */
static void
order(struct fake_tc *t, const char *dir_url, int order_timeout,
    int request_timeout)
{
	static const char *const dns[] = {"a.example.com"};
	struct upacme_order_spec spec;

	memset(&spec, 0, sizeof(spec));
	spec.dns = dns;
	spec.n_dns = 1;
	fake_run(
	    fake_engine(dir_url, order_timeout, request_timeout), &spec, t);
}

/* The order ended with `outcome` and `problem` (NULL: none) within
 * `max_s` seconds, with a detail to show that contains `says`. */
static void
assert_end(const struct fake_tc *t, enum upacme_outcome outcome,
    const char *problem, const char *says, double max_s)
{
	const unsigned char *p;
	char want[128];

	assert_int_equal(t->outcome, outcome);
	if (problem == NULL)
		assert_null(t->problem);
	else {
		snprintf(want, sizeof(want), "%s%s", FAKE_ERR, problem);
		assert_non_null(t->problem);
		assert_string_equal(t->problem, want);
	}
	assert_true(t->ended - t->started <= max_s);
	if (outcome == UPACME_OK)
		return;
	assert_non_null(t->detail);
	assert_true(strlen(t->detail) > 0);
	for (p = (const unsigned char *)t->detail; *p != '\0'; p++)
		assert_false(*p < 0x20 || *p == 0x7f);
	if (strstr(t->detail, says) == NULL)
		fail_msg("detail \"%s\" does not say \"%s\"", t->detail, says);
	assert_int_equal(t->n_chain, 0);
}

/* Gap in seconds between requests i-1 and i to `ep`. */
static double
gap(enum fake_ep ep, size_t i)
{
	return fake.hits[ep][i].at - fake.hits[ep][i - 1].at;
}

static int
setup(void **state)
{
	fake_reset();
	return 0;
}

static int
teardown(void **state)
{
	assert_int_equal(fake.n_bad, 0);
	fake_reset();
	return 0;
}

/* The fake unscripted: an issuance, so that every failure below is the
 * script's doing. */
static void
test_issues(void **state)
{
	struct fake_tc t;

	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_OK, NULL, NULL, 5);
	assert_int_equal(t.n_chain, 2);
	assert_int_equal(t.publishes, 1);
	assert_int_equal(t.unpublishes, 1);
	assert_int_equal(fake.n_hits[FAKE_CHALL], 1);
	assert_int_equal(fake.n_hits[FAKE_FINALIZE], 1);
	assert_int_equal(fake.n_hits[FAKE_CERT], 1);
	fake_tc_free(&t);
}

/* 5xx on the directory is retried, each time after the Retry-After
 * given (RFC 8555 §6.6) rather than the engine's own backoff (1 s, then
 * 2 s); the order then goes on, here to a refusal. */
static void
test_directory_5xx(void **state)
{
	const struct fake_step dir[] = {
	    {.status = 500,
	        .body = PROBLEM("serverInternal", "down"),
	        .headers = "Retry-After: 2"},
	    {.status = 503, .headers = "Retry-After: 1"},
	};
	const struct fake_step refuse = {
	    .status = 400, .body = PROBLEM("rejectedIdentifier", "no")};
	struct fake_tc t;

	fake_script(FAKE_DIR, dir, 2);
	fake_script(FAKE_NEW_ORDER, &refuse, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, "rejectedIdentifier", "no", 5);
	assert_int_equal(fake.n_hits[FAKE_DIR], 3);
	assert_true(gap(FAKE_DIR, 1) >= 1.9);
	assert_true(gap(FAKE_DIR, 2) >= 0.9 && gap(FAKE_DIR, 2) < 1.9);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 1);
	fake_tc_free(&t);
}

/*
 * A directory that is not one: UNAVAILABLE.  The device's request is
 * not at fault, the gateway's configuration or the upstream is, so the
 * device should come back later rather than hear "refused" (REJECTED
 * means: do not retry this request); also when the URL answers 404.
 */
static void
test_directory_not_acme(void **state)
{
	const struct fake_step bad[] = {
	    {.status = 200, .type = "text/html", .body = "<html>hi</html>"},
	    {.status = 200,
	        .type = "application/json",
	        .body = "{\"newNonce\":\"$B/nonce\","
	                "\"newAccount\":\"$B/account\"}"},
	    {.status = 200, .type = "application/json", .body = "{\"newOr"},
	    {.status = 404, .body = PROBLEM("malformed", "no such page")},
	};
	struct fake_tc t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fake_reset();
		fake_script(FAKE_DIR, &bad[i], 1);
		order(&t, NULL, 10, 2);
		assert_end(&t, UPACME_UNAVAILABLE, i < 3 ? NULL : "malformed",
		    i < 3 ? "not an ACME directory" : "no such page", 1);
		assert_int_equal(fake.n_hits[FAKE_DIR], 1);
		assert_int_equal(fake.n_hits[FAKE_ACCOUNT], 0);
		fake_tc_free(&t);
	}
}

/* An answer over 1 MiB (UPACME_MAX_BODY) ends the transfer there. */
static void
test_body_too_large(void **state)
{
	const struct fake_step big = {.pad = 1536 * 1024};
	struct fake_tc t;

	fake_script(FAKE_DIR, &big, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "larger than 1 MiB", 2);
	assert_int_equal(fake.n_hits[FAKE_DIR], 1);
	fake_tc_free(&t);
}

/* newAccount 201 without the account URL (RFC 8555 §7.3): no order. */
static void
test_account_no_location(void **state)
{
	const struct fake_step acct = {.no_location = 1};
	struct fake_tc t;

	fake_script(FAKE_ACCOUNT, &acct, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "no account URL", 1);
	assert_int_equal(fake.n_hits[FAKE_ACCOUNT], 1);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 0);
	fake_tc_free(&t);
}

/*
 * badNonce twice: the first retry is at once with the nonce that came
 * with the error (RFC 8555 §6.5); the second failure falls to the
 * bounded backoff (1 s here) and the third answer counts.
 */
static void
test_bad_nonce_twice(void **state)
{
	const struct fake_step no[] = {
	    {.status = 400, .body = PROBLEM("badNonce", "stale")},
	    {.status = 400, .body = PROBLEM("badNonce", "stale")},
	    {.status = 400, .body = PROBLEM("rejectedIdentifier", "no")},
	};
	struct fake_tc t;
	size_t i;

	fake_script(FAKE_NEW_ORDER, no, 3);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, "rejectedIdentifier", "no", 3);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 3);
	for (i = 1; i < 3; i++)
		assert_int_equal(fake.hits[FAKE_NEW_ORDER][i].nonce_in,
		    fake.hits[FAKE_NEW_ORDER][i - 1].nonce_out);
	assert_true(gap(FAKE_NEW_ORDER, 1) < 0.5);
	assert_true(gap(FAKE_NEW_ORDER, 2) >= 0.9);
	fake_tc_free(&t);
}

/* badNonce for ever: bounded by the order's deadline (and at most five
 * transfers per request). */
static void
test_bad_nonce_always(void **state)
{
	const struct fake_step no = {
	    .status = 400, .body = PROBLEM("badNonce", "stale"), .again = 1};
	struct fake_tc t;

	fake_script(FAKE_NEW_ORDER, &no, 1);
	order(&t, NULL, 3, 2);
	assert_end(&t, UPACME_UNAVAILABLE, "badNonce", "stale", 3.5);
	assert_true(fake.n_hits[FAKE_NEW_ORDER] >= 2);
	assert_true(fake.n_hits[FAKE_NEW_ORDER] <= 5);
	fake_tc_free(&t);
}

/* rateLimited until after the deadline: give up at once, not sleep
 * through the order's time. */
static void
test_rate_limited(void **state)
{
	const struct fake_step slow = {.status = 429,
	    .body = PROBLEM("rateLimited", "too many"),
	    .headers = "Retry-After: 3600"};
	struct fake_tc t;

	fake_script(FAKE_NEW_ORDER, &slow, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, "rateLimited", "too many", 1);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 1);
	fake_tc_free(&t);
}

/* A problem type that is no URI (a control character in it) is dropped
 * rather than logged or passed to the device; the refusal stands. */
static void
test_problem_type_unfit(void **state)
{
	const struct fake_step no = {.status = 403,
	    .body = "{\"type\":\"" FAKE_ERR "rejected\\nIdentifier\","
	            "\"detail\":\"no\"}"};
	struct fake_tc t;

	fake_script(FAKE_NEW_ORDER, &no, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, NULL, "no", 1);
	fake_tc_free(&t);
}

/* A listener that takes the TCP connection and never says a word (not
 * even TLS): the request times out after request_timeout, and the next
 * attempt would pass the order's deadline. */
static void
test_silent_listener(void **state)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct fake_tc t;
	char url[96];
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/dir",
	    (unsigned)ntohs(sa.sin_port));
	order(&t, url, 2, 1);
	assert_int_equal(close(fd), 0);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "upstream", 2.5);
	assert_true(t.ended - t.started >= 0.9);
	fake_tc_free(&t);
}

/* newOrder read and never answered: the same, mid-order. */
static void
test_silent_new_order(void **state)
{
	const struct fake_step hang = {.delay_ms = -1};
	struct fake_tc t;

	fake_script(FAKE_NEW_ORDER, &hang, 1);
	order(&t, NULL, 2, 1);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "upstream", 2.5);
	assert_true(t.ended - t.started >= 0.9);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 1);
	fake_tc_free(&t);
}

/* A slow answer within request_timeout is waited for. */
static void
test_slow_answer(void **state)
{
	const struct fake_step slow = {.delay_ms = 600};
	struct fake_tc t;

	fake_script(FAKE_NEW_ORDER, &slow, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_OK, NULL, NULL, 5);
	assert_true(t.ended - t.started >= 0.6);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 1);
	fake_tc_free(&t);
}

/* The challenge failed validation: REJECTED with the challenge's problem
 * type, its detail cleaned, the answer withdrawn. */
static void
test_authz_invalid(void **state)
{
	const struct fake_step az[] = {
	    {.delay_ms = 0}, /* the usual: pending */
	    {.status = 200, .type = "application/json", .body = AUTHZ_INVALID},
	};
	struct fake_tc t;

	fake_script(FAKE_AUTHZ, az, 2);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, "caa", "CAA forbids", 5);
	assert_non_null(strstr(t.detail, "a.example.com"));
	assert_int_equal(t.publishes, 1);
	assert_int_equal(t.unpublishes, 1);
	assert_int_equal(fake.n_hits[FAKE_CHALL], 1);
	assert_int_equal(fake.n_hits[FAKE_FINALIZE], 0);
	fake_tc_free(&t);
}

/* Invalid when first read (validated and failed before this engine
 * looked, a resumed order): the same problem type; an unknown status
 * is refused with a clean detail. */
static void
test_authz_invalid_at_once(void **state)
{
	const struct fake_step invalid = {
	    .status = 200, .type = "application/json", .body = AUTHZ_INVALID};
	const struct fake_step odd = {.status = 200,
	    .type = "application/json",
	    .body = "{\"status\":\"in\\nvalid\\u007f\",\"challenges\":[]}"};
	struct fake_tc t;

	fake_script(FAKE_AUTHZ, &invalid, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, "caa", "CAA forbids", 5);
	assert_int_equal(t.publishes, 0);
	assert_int_equal(fake.n_hits[FAKE_CHALL], 0);
	fake_tc_free(&t);

	fake_reset();
	fake_script(FAKE_AUTHZ, &odd, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_REJECTED, NULL, "authorization is", 5);
	assert_int_equal(t.publishes, 0);
	fake_tc_free(&t);
}

/* The certificate is not PEM, a broken PEM block, or for another key:
 * no chain reaches the owner. */
static void
test_bad_certificate(void **state)
{
	const char *const pem_bad = "-----BEGIN CERTIFICATE-----\n"
	                            "AAAA\n-----END CERTIFICATE-----\n";
	struct fake_step cert = {
	    .status = 200, .type = "application/pem-certificate-chain"};
	EVP_PKEY *other;
	X509 *x;
	char *pem;
	struct fake_tc t;

	cert.body = "this is not PEM\n";
	fake_script(FAKE_CERT, &cert, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "not a PEM chain", 5);
	assert_int_equal(fake.n_hits[FAKE_CERT], 1);
	fake_tc_free(&t);

	fake_reset();
	cert.body = pem_bad;
	fake_script(FAKE_CERT, &cert, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "not a PEM chain", 5);
	fake_tc_free(&t);

	assert_non_null(other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	x = fake_make_cert(other, "other", "0B", fake.ca_cert, fake.ca_key, 1);
	pem = fake_pem_cat(fake_pem_cat(NULL, x), fake.ca_cert);
	fake_reset();
	cert.body = pem;
	fake_script(FAKE_CERT, &cert, 1);
	order(&t, NULL, 10, 2);
	assert_end(&t, UPACME_UNAVAILABLE, NULL, "not for the CSR's key", 5);
	fake_tc_free(&t);
	free(pem);
	X509_free(x);
	EVP_PKEY_free(other);
}

static int
group_setup(void **state)
{
	return fake_setup("test_upacme_fake");
}

static int
group_teardown(void **state)
{
	return fake_teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_issues, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_directory_5xx, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_directory_not_acme, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_body_too_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_account_no_location, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_nonce_twice, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_nonce_always, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limited, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_problem_type_unfit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_silent_listener, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_silent_new_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_answer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_authz_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_authz_invalid_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_certificate, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
