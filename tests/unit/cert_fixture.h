/*
 * What unit tests that make their own certificates share.  Header only:
 * each test program includes it once.
 */
#ifndef ENROLLD_TEST_CERT_FIXTURE_H
#define ENROLLD_TEST_CERT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Add the extension `nid` written as openssl.cnf `value` (e.g.
 * "critical,CA:TRUE") to x, issued by `issuer` (x itself when self-signed,
 * for the key identifiers).  Fails the test on error. */
static inline void
fixture_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

#endif
