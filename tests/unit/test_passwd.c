/*
 * core/passwd.c: PBKDF2-SHA256 hashes, the stored format, strict parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/passwd.h"

/* Small iteration count keeps the suite fast; the format is the same. */
#define ITER 1000

static void
test_hash_and_verify(void **state)
{
	char *h;

	(void)state;
	h = passwd_hash("correct horse", ITER);
	assert_non_null(h);
	assert_int_equal(strncmp(h, "$pbkdf2-sha256$1000$", 20), 0);
	/* 16-byte salt -> 24 chars, 32-byte hash -> 44 chars, padded. */
	assert_int_equal(strlen(h), 20 + 24 + 1 + 44);
	assert_int_equal(h[20 + 22], '=');
	assert_int_equal(h[strlen(h) - 1], '=');
	assert_int_equal(passwd_verify("correct horse", h), 1);
	assert_int_equal(passwd_verify("correct horsf", h), 0);
	assert_int_equal(passwd_verify("", h), 0);
	free(h);
}

static void
test_salt_is_fresh(void **state)
{
	char *a, *b;

	(void)state;
	a = passwd_hash("same", ITER);
	b = passwd_hash("same", ITER);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	assert_int_equal(passwd_verify("same", a), 1);
	assert_int_equal(passwd_verify("same", b), 1);
	free(a);
	free(b);
}

static void
test_default_iterations(void **state)
{
	char *h;

	(void)state;
	h = passwd_hash("pw", 0);
	assert_non_null(h);
	assert_int_equal(strncmp(h, "$pbkdf2-sha256$200000$", 22), 0);
	assert_int_equal(passwd_verify("pw", h), 1);
	free(h);
	assert_null(passwd_hash("pw", 999));
	assert_null(passwd_hash("pw", 10000001));
}

/*
 * Known answer: PBKDF2-HMAC-SHA256("password", "saltSALTsaltSALT", 1000,
 * 32) as computed by Python's hashlib, written in our format.  Checks
 * that other tools can produce hashes we accept and the reverse.
 */
static void
test_known_answer(void **state)
{
	static const char enc[] =
	    "$pbkdf2-sha256$1000$c2FsdFNBTFRzYWx0U0FMVA=="
	    "$RviVuqoYXwJlwdpwjXmZU95ZL1dsRTi366mc7XAO51s=";
	static const char short_salt[] =
	    "$pbkdf2-sha256$1000$c2FsdA=="
	    "$YywoEuRtRgQQK6dhjp1tFS+jKEMBpkWIpd1R6slv3vs=";

	(void)state;
	assert_int_equal(passwd_verify("password", enc), 1);
	assert_int_equal(passwd_verify("Password", enc), 0);
	/* A 4-byte salt is under the 8-byte minimum: malformed. */
	assert_int_equal(passwd_verify("password", short_salt), -1);
}

static void
test_iterations_matter(void **state)
{
	char enc[256], *h;

	(void)state;
	/* Same salt and hash, iteration count changed: a mismatch. */
	h = passwd_hash("pw", ITER);
	assert_non_null(h);
	snprintf(enc, sizeof(enc), "$pbkdf2-sha256$1001$%s", h + 20);
	assert_int_equal(passwd_verify("pw", enc), 0);
	free(h);
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "$pbkdf2-sha1$1000$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$999$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$10000001$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$01000$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$+1000$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 30 bytes */
	    "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$",
	    "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA== $"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	    "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==",
	    "$pbkdf2-sha256$1000$$"
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(passwd_verify("pw", bad[i]), -1);
	/* The same shape, well formed: a mismatch, not malformed. */
	assert_int_equal(passwd_verify("pw",
	                     "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA==$"
	                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
	    0);
}

static void
test_equal(void **state)
{
	(void)state;
	assert_int_equal(passwd_equal("abc", 3, "abc", 3), 1);
	assert_int_equal(passwd_equal("abc", 3, "abd", 3), 0);
	assert_int_equal(passwd_equal("abc", 3, "abcd", 4), 0);
	assert_int_equal(passwd_equal("", 0, "", 0), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_and_verify),
	    cmocka_unit_test(test_salt_is_fresh),
	    cmocka_unit_test(test_default_iterations),
	    cmocka_unit_test(test_known_answer),
	    cmocka_unit_test(test_iterations_matter),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
