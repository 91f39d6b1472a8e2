/*
 * core/encoding.c: RFC 4648 §10 test vectors, strictness of the
 * decoders, line breaks, URL alphabet, hex.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/encoding.h"

static const struct {
	const char *plain;
	const char *b64;
} vectors[] = {
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/* Decode `s` and compare with `want` (NULL: must fail). */
static void
check_decode(const char *s, const char *want)
{
	unsigned char *out;
	size_t len = 0;

	out = encoding_b64_decode(s, strlen(s), &len);
	if (want == NULL) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void
test_rfc4648_vectors(void **state)
{
	size_t i, len;
	char *enc;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		enc =
		    encoding_b64_encode((const unsigned char *)vectors[i].plain,
		        strlen(vectors[i].plain), 0, &len);
		assert_non_null(enc);
		assert_string_equal(enc, vectors[i].b64);
		assert_int_equal(len, strlen(vectors[i].b64));
		free(enc);
		check_decode(vectors[i].b64, vectors[i].plain);
	}
}

static void
test_decode_padding_optional_and_space(void **state)
{
	(void)state;
	check_decode("Zg", "f");
	check_decode("Zm8", "fo");
	check_decode("Zm9v\r\nYmFy\n", "foobar");
	check_decode(" Zm 9v\tYg = = ", "foob");
}

static void
test_decode_rejects(void **state)
{
	size_t len;

	(void)state;
	check_decode("", NULL);         /* zero bytes */
	check_decode("  \r\n", NULL);   /* zero bytes */
	check_decode("Z", NULL);        /* truncated quantum */
	check_decode("Zm9vY", NULL);    /* truncated quantum */
	check_decode("Zm9v!mFy", NULL); /* invalid char */
	check_decode("Zm9v-mFy", NULL); /* URL char in std */
	check_decode("Zg=", NULL);      /* incomplete padding */
	check_decode("Zg===", NULL);    /* too much padding */
	check_decode("Zm8==", NULL);    /* too much padding */
	check_decode("Zg==Zm8=", NULL); /* data after padding */
	check_decode("=Zg=", NULL);     /* padding first */
	check_decode("Zm9v====", NULL); /* padding on full quantum */
	/* An embedded NUL is an invalid character, not an end. */
	assert_null(encoding_b64_decode("Zm9v\0YmFy", 9, &len));
	/* 8-bit bytes. */
	assert_null(encoding_b64_decode("Zm9v\xc3\xa9", 6, &len));
}

static void
test_decode_bounded_by_inlen(void **state)
{
	unsigned char *out;
	size_t len = 0;

	(void)state;
	/* Only the first 4 characters are given: "YmFy" is not read. */
	out = encoding_b64_decode("Zm9vYmFy", 4, &len);
	assert_non_null(out);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "foo", 3);
	free(out);
}

static void
test_encode_line_breaks(void **state)
{
	unsigned char buf[48];
	size_t len, i;
	char *enc;

	(void)state;
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)i;
	/* 48 bytes -> 64 characters: exactly one line, one CRLF. */
	enc = encoding_b64_encode(buf, sizeof(buf), 64, &len);
	assert_non_null(enc);
	assert_int_equal(len, 66);
	assert_string_equal(enc + 64, "\r\n");
	free(enc);
	/* 7 bytes -> 12 characters at 5 per line: 5+2, 5+2, 2+2. */
	enc = encoding_b64_encode(buf, 7, 5, &len);
	assert_non_null(enc);
	assert_string_equal(enc, "AAECA\r\nwQFBg\r\n==\r\n");
	assert_int_equal(len, strlen(enc));
	free(enc);
	/* Empty input encodes to the empty string. */
	enc = encoding_b64_encode(buf, 0, 64, &len);
	assert_non_null(enc);
	assert_string_equal(enc, "");
	assert_int_equal(len, 0);
	free(enc);
}

static void
test_roundtrip_all_lengths(void **state)
{
	unsigned char buf[100], *dec;
	size_t n, len;
	char *enc;

	(void)state;
	for (n = 0; n < sizeof(buf); n++)
		buf[n] = (unsigned char)(n * 37 + 11);
	for (n = 1; n <= sizeof(buf); n++) {
		enc = encoding_b64_encode(buf, n, 76, NULL);
		assert_non_null(enc);
		dec = encoding_b64_decode(enc, strlen(enc), &len);
		assert_non_null(dec);
		assert_int_equal(len, n);
		assert_memory_equal(dec, buf, n);
		free(dec);
		free(enc);

		enc = encoding_b64url_encode(buf, n);
		assert_non_null(enc);
		assert_null(strpbrk(enc, "+/="));
		dec = encoding_b64url_decode(enc, strlen(enc), &len);
		assert_non_null(dec);
		assert_int_equal(len, n);
		assert_memory_equal(dec, buf, n);
		free(dec);
		free(enc);
	}
}

static void
test_url_alphabet(void **state)
{
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
	unsigned char *dec;
	size_t len;
	char *enc;

	(void)state;
	enc = encoding_b64url_encode(bytes, sizeof(bytes));
	assert_non_null(enc);
	assert_string_equal(enc, "-_-_");
	free(enc);
	enc = encoding_b64_encode(bytes, sizeof(bytes), 0, NULL);
	assert_non_null(enc);
	assert_string_equal(enc, "+/+/");
	free(enc);
	/* The URL decoder also takes the standard alphabet and padding. */
	dec = encoding_b64url_decode("+/-_", 4, &len);
	assert_non_null(dec);
	assert_int_equal(len, 3);
	assert_memory_equal(dec, bytes, 3);
	free(dec);
	dec = encoding_b64url_decode("Zg==", 4, &len);
	assert_non_null(dec);
	assert_int_equal(len, 1);
	free(dec);
	assert_null(encoding_b64url_decode("Zm9v.mFy", 8, &len));
	assert_null(encoding_b64_decode("-_-_", 4, &len));
}

static void
test_hex(void **state)
{
	static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
	char *hex;

	(void)state;
	hex = encoding_hex(bytes, sizeof(bytes));
	assert_non_null(hex);
	assert_string_equal(hex, "000fa5ff");
	free(hex);
	hex = encoding_hex(bytes, 0);
	assert_non_null(hex);
	assert_string_equal(hex, "");
	free(hex);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_decode_padding_optional_and_space),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_decode_bounded_by_inlen),
	    cmocka_unit_test(test_encode_line_breaks),
	    cmocka_unit_test(test_roundtrip_all_lengths),
	    cmocka_unit_test(test_url_alphabet),
	    cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
