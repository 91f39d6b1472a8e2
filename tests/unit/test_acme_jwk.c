/*
 * protocols/acme/jwk.c: JWK import of bad keys (too small, off the curve,
 * private members, odd exponents, unknown types and curves, malformed
 * members), export and re-import of every key type, and RFC 7638
 * thumbprints (the RFC's own example, every type, missing members).  The
 * keys and b64u() come from jws_fixture.h; JWS verification is tested in
 * test_acme_jws.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "jws_fixture.h"
#include "protocols/acme/jws.h"

/* jwk_to_pkey() of JSON text `s`: the error, JWS_OK when it built. */
static enum jws_error
jwk_err(const char *s)
{
	enum jws_error err = JWS_OK;
	char msg[256] = "";
	EVP_PKEY *k;
	json_t *jwk;

	assert_non_null(jwk = json_loads(s, 0, NULL));
	k = jwk_to_pkey(jwk, &err, msg, sizeof(msg));
	json_decref(jwk);
	if (k == NULL)
		assert_true(msg[0] != '\0');
	else
		assert_int_equal(err, JWS_OK);
	EVP_PKEY_free(k);
	return err;
}

/* jwk_err() of jwk_from_pkey(key) with member `name` (if not NULL)
 * replaced by base64url(val). */
static enum jws_error
jwk_with_err(EVP_PKEY *key, const char *name, const void *val, size_t len)
{
	enum jws_error e;
	json_t *jwk;
	char *b, *s;

	assert_non_null(jwk = jwk_from_pkey(key));
	if (name != NULL) {
		b = b64u(val, len);
		assert_int_equal(
		    json_object_set_new(jwk, name, json_string(b)), 0);
		free(b);
	}
	assert_non_null(s = json_dumps(jwk, JSON_COMPACT));
	json_decref(jwk);
	e = jwk_err(s);
	free(s);
	return e;
}

/* The decoded bytes of member `name` of jwk_from_pkey(key). */
static unsigned char *
jwk_member(EVP_PKEY *key, const char *name, size_t *len)
{
	json_t *jwk;
	unsigned char *v;
	const char *s;

	assert_non_null(jwk = jwk_from_pkey(key));
	assert_non_null(s = json_string_value(json_object_get(jwk, name)));
	v = jws_b64url_decode(s, strlen(s), len);
	assert_non_null(v);
	json_decref(jwk);
	return v;
}

static void
test_jwk_bad_keys(void **state)
{
	unsigned char *v;
	size_t len;

	(void)state;
	/* RSA-1024: too small. */
	assert_int_equal(jwk_with_err(rsa1024, NULL, NULL, 0), JWS_BAD_KEY);
	/* EC point off the curve: flip a bit of y. */
	v = jwk_member(p256, "y", &len);
	assert_int_equal(len, 32);
	v[31] ^= 0x01;
	assert_int_equal(jwk_with_err(p256, "y", v, len), JWS_BAD_KEY);
	/* x one byte short. */
	assert_int_equal(jwk_with_err(p256, "x", v, 31), JWS_BAD_KEY);
	free(v);
	/* A private member. */
	assert_int_equal(jwk_with_err(p256, "d", "secret", 6), JWS_BAD_KEY);
	assert_int_equal(jwk_with_err(rsa2048, "p", "secret", 6), JWS_BAD_KEY);
	/* RSA: even exponent, exponent 1, leading zero octet in n. */
	assert_int_equal(
	    jwk_with_err(rsa2048, "e", "\x01\x00\x00", 3), JWS_BAD_KEY);
	assert_int_equal(jwk_with_err(rsa2048, "e", "\x01", 1), JWS_BAD_KEY);
	v = jwk_member(rsa2048, "n", &len);
	assert_int_equal(len, 256);
	assert_non_null(v = realloc(v, len + 1));
	memmove(v + 1, v, len);
	v[0] = 0;
	assert_int_equal(jwk_with_err(rsa2048, "n", v, len + 1), JWS_BAD_KEY);
	free(v);
	/* Ed25519 x of 31 bytes. */
	assert_int_equal(
	    jwk_with_err(ed25519, "x", "0123456789", 10), JWS_BAD_KEY);
	/* Unknown types and curves; shape errors. */
	assert_int_equal(
	    jwk_err("{\"kty\":\"oct\",\"k\":\"AAAA\"}"), JWS_BAD_KEY);
	assert_int_equal(jwk_err("{\"kty\":\"DSA\"}"), JWS_BAD_KEY);
	assert_int_equal(jwk_err("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":"
	                         "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	                         "\"}"),
	    JWS_BAD_KEY);
	assert_int_equal(jwk_err("{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":"
	                         "\"AA\",\"y\":\"AA\"}"),
	    JWS_BAD_KEY);
	assert_int_equal(jwk_err("{\"kty\":\"EC\",\"crv\":\"prime256v1\","
	                         "\"x\":\"AA\",\"y\":\"AA\"}"),
	    JWS_BAD_KEY);
	assert_int_equal(
	    jwk_err("{\"kty\":\"RSA\",\"e\":\"AQAB\"}"), JWS_MALFORMED);
	assert_int_equal(jwk_err("{\"kty\":\"RSA\",\"n\":\"AQA=\","
	                         "\"e\":\"AQAB\"}"),
	    JWS_MALFORMED);
	assert_int_equal(jwk_err("{\"n\":\"AQAB\"}"), JWS_MALFORMED);
	assert_int_equal(jwk_err("[1]"), JWS_MALFORMED);
}

static void
test_jwk_round_trip(void **state)
{
	EVP_PKEY *keys[6];
	const char *kty[] = {"RSA", "RSA", "EC", "EC", "EC", "OKP"};
	enum jws_error err;
	EVP_PKEY *back;
	json_t *jwk;
	size_t i;

	(void)state;
	keys[0] = rsa2048;
	keys[1] = rsa1024; /* exports fine; import refuses it */
	keys[2] = p256;
	keys[3] = p384;
	keys[4] = p521;
	keys[5] = ed25519;
	for (i = 0; i < 6; i++) {
		assert_non_null(jwk = jwk_from_pkey(keys[i]));
		assert_string_equal(
		    json_string_value(json_object_get(jwk, "kty")), kty[i]);
		assert_null(json_object_get(jwk, "d"));
		back = jwk_to_pkey(jwk, &err, NULL, 0);
		if (i == 1) {
			assert_null(back);
			assert_int_equal(err, JWS_BAD_KEY);
		} else {
			assert_non_null(back);
			assert_int_equal(EVP_PKEY_eq(keys[i], back), 1);
		}
		EVP_PKEY_free(back);
		json_decref(jwk);
	}
	/* P-521 coordinates are padded to 66 octets (88 characters). */
	assert_non_null(jwk = jwk_from_pkey(p521));
	assert_int_equal(json_string_length(json_object_get(jwk, "x")), 88);
	assert_int_equal(json_string_length(json_object_get(jwk, "y")), 88);
	json_decref(jwk);
}

static void
test_thumbprint(void **state)
{
	/* RFC 7638 §3.1, with extra members that must not count. */
	static const char rfc[] =
	    "{\"kty\":\"RSA\","
	    "\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAA"
	    "tVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_"
	    "2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
	    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08"
	    "qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0L"
	    "s1jF44-csFCur-kEgU8awapJzKnqDKgw\","
	    "\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
	char out[44], out2[44];
	json_t *jwk;
	EVP_PKEY *k;
	enum jws_error err;

	(void)state;
	assert_non_null(jwk = json_loads(rfc, 0, NULL));
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), 0);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_int_equal(jwk_thumbprint(jwk, out, 43), -1);
	/* The RFC key is a valid 2048-bit key and survives the round trip. */
	assert_non_null(k = jwk_to_pkey(jwk, &err, NULL, 0));
	json_decref(jwk);
	assert_non_null(jwk = jwk_from_pkey(k));
	assert_int_equal(jwk_thumbprint(jwk, out2, sizeof(out2)), 0);
	assert_string_equal(out, out2);
	json_decref(jwk);
	EVP_PKEY_free(k);

	/* Every type; missing members fail. */
	assert_non_null(jwk = jwk_from_pkey(ed25519));
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 43);
	json_object_del(jwk, "crv");
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), -1);
	json_decref(jwk);
	assert_non_null(jwk = jwk_from_pkey(p384));
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), 0);
	json_object_set_new(jwk, "y", json_integer(1));
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), -1);
	json_decref(jwk);
	assert_non_null(
	    jwk = json_loads("{\"kty\":\"oct\",\"k\":\"AA\"}", 0, NULL));
	assert_int_equal(jwk_thumbprint(jwk, out, sizeof(out)), -1);
	json_decref(jwk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jwk_bad_keys),
	    cmocka_unit_test(test_jwk_round_trip),
	    cmocka_unit_test(test_thumbprint),
	};

	return cmocka_run_group_tests(tests, jws_fx_setup, jws_fx_teardown);
}
