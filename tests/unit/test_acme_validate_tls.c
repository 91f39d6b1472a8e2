/*
 * protocols/acme/validate.c's tls-alpn-01 probe (RFC 8737) against the
 * in-test TLS server of acme_validate_fixture.h on 127.0.0.1: the
 * validation certificate's digest, criticality and subjectAltName, and
 * ALPN.  The other challenge types are in test_acme_validate.c.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "acme_validate_fixture.h"

static void
test_tlsalpn_ok(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-ok.example.com", CERT_OK);
	run(f, ACME_TLS_ALPN_01, "tls-ok.example.com", 0);
	expect_ok(f);
}

static void
test_tlsalpn_ip_ok(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "IP:127.0.0.1", CERT_OK);
	run(f, ACME_TLS_ALPN_01, "127.0.0.1", 1);
	expect_ok(f);
}

static void
test_tlsalpn_wrong_digest(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-bad.example.com", CERT_BAD_DIGEST);
	run(f, ACME_TLS_ALPN_01, "tls-bad.example.com", 0);
	expect_fail(f, "unauthorized", "Invalid acmeValidationV1 extension");
}

static void
test_tlsalpn_not_critical(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-nc.example.com", CERT_NOT_CRITICAL);
	run(f, ACME_TLS_ALPN_01, "tls-nc.example.com", 0);
	expect_fail(f, "unauthorized", "not critical");
}

static void
test_tlsalpn_bad_san(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-san.example.com", CERT_TWO_SANS);
	run(f, ACME_TLS_ALPN_01, "tls-san.example.com", 0);
	expect_fail(f, "unauthorized", "exactly one subjectAltName");
}

static void
test_tlsalpn_no_alpn(void **state)
{
	struct fixture *f = *state;

	tls_server(f, "DNS:tls-noalpn.example.com", CERT_OK);
	f->tls_no_alpn = 1;
	run(f, ACME_TLS_ALPN_01, "tls-noalpn.example.com", 0);
	expect_fail(f, "tls", "acme-tls/1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tlsalpn_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_ip_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_wrong_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_not_critical, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_bad_san, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tlsalpn_no_alpn, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
