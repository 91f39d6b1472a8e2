/*
 * What the unit tests of protocols/acme/jws.c and jwk.c share: one key
 * of every type and size they need (RSA-2048, RSA-1024, P-256, P-384,
 * P-521, Ed25519), made once per program by the cmocka group setup
 * jws_fx_setup() and freed by jws_fx_teardown(), and b64u(), base64url
 * that fails the test on error.  Used by test_acme_jws.c (JWS
 * verification) and test_acme_jwk.c (JWK import/export, thumbprints).
 * Header only: each test program includes it once; everything is static
 * so a program need not use every helper.
 */
#ifndef ENROLLD_TEST_JWS_FIXTURE_H
#define ENROLLD_TEST_JWS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "core/encoding.h"

static EVP_PKEY *rsa2048, *rsa1024, *p256, *p384, *p521, *ed25519;

/* base64url of len bytes at p, malloc'd; fails the test on error. */
static inline char *
b64u(const void *p, size_t len)
{
	char *s = encoding_b64url_encode(p, len);

	assert_non_null(s);
	return s;
}

/* cmocka group setup: make every key.  0 / -1. */
static inline int
jws_fx_setup(void **state)
{
	(void)state;
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return rsa2048 && rsa1024 && p256 && p384 && p521 && ed25519 ? 0 : -1;
}

/* cmocka group teardown: free what jws_fx_setup made (NULL is fine). */
static inline int
jws_fx_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(ed25519);
	return 0;
}

#endif
