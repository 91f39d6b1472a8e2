/*
 * jws_flat_load (protocols/acme/jws_flat.c): the plain body shape read
 * without jansson gives the very object jansson gives, and every other
 * body is left to jansson.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "protocols/acme/jws.h"

static json_t *
flat(const char *body)
{
	return jws_flat_load((const unsigned char *)body, strlen(body));
}

/* Bodies read on the fast path: the same object as jansson's. */
static void
test_plain_bodies(void **state)
{
	static const char *const ok[] = {
	    "{\"protected\":\"eyJh\",\"payload\":\"e30\",\"signature\":"
	    "\"c2ln\"}",
	    "{\"payload\":\"\",\"signature\":\"AB-_\",\"protected\":\"eyJh\"}",
	    " {\r\n\t\"protected\" : \"eyJh\" ,\n \"payload\":\"\" , "
	    "\"signature\" :\"x\"}\n",
	    "{\"signature\":\"\",\"protected\":\"\",\"payload\":\"09az\"}",
	};
	json_t *fast, *ref;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_non_null(fast = flat(ok[i]));
		assert_non_null(
		    ref = json_loads(ok[i], JSON_REJECT_DUPLICATES, NULL));
		assert_true(json_equal(fast, ref));
		json_decref(fast);
		json_decref(ref);
	}
}

/* Every other body, valid JSON or not, goes to jansson (NULL here). */
static void
test_other_bodies(void **state)
{
	static const char *const other[] = {
	    "",
	    "{}",
	    "[]",
	    "{\"protected\":\"a\",\"payload\":\"b\"}",
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\","
	    "\"header\":{}}",
	    "{\"protected\":\"a\",\"protected\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"}x",
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"",
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\",}",
	    "{\"protected\":\"a\",\"payload\":\"b\" \"signature\":\"c\"}",
	    "{\"protected\":\"a\\/\",\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"pro\\u0074ected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":\"a=\",\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":\"a+/\",\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":1,\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":null,\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"Protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"}",
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"}{}",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		json_t *v = flat(other[i]);

		if (v != NULL)
			fail_msg("taken on the fast path: %s", other[i]);
	}
}

/*
 * Bodies put together at random from JSON fragments (fixed seed): when
 * the fast path takes one, jansson reads the same object from it.  Half
 * of them start as a plain body, so both outcomes are exercised.
 */
static void
test_same_as_jansson(void **state)
{
	static const char *const frag[] = {"{", "}", "\"protected\"",
	    "\"payload\"", "\"signature\"", "\"header\"", ":", ",", " ", "\n",
	    "\"eyJ0\"", "\"\"", "\"a\\/b\"", "\"=\"", "1", "null",
	    "\"\xc3\xa9\"", "[", "]"};
	static const char *const plain[] = {"{", "\"protected\"", ":",
	    "\"eyJ0\"", ",", "\"payload\"", ":", "\"\"", ",", "\"signature\"",
	    ":", "\"c2ln\"", "}"};
	unsigned seed = 12345, taken = 0, iter;
	char body[512];
	json_t *fast, *ref;
	size_t i, n;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		body[0] = '\0';
		n = 0;
		for (i = 0; i < 13; i++) {
			seed = seed * 1103515245u + 12345u;
			/* Keep the plain fragment mostly; replace it or
			 * add noise now and then. */
			if (iter % 2 == 0 && (seed >> 16) % 8 != 0)
				strcat(body, plain[i]);
			else
				strcat(body,
				    frag[(seed >> 16) %
				        (sizeof(frag) / sizeof(frag[0]))]);
			if ((seed >> 8) % 5 == 0)
				strcat(body, " ");
		}
		n = strlen(body);
		if ((fast = jws_flat_load((unsigned char *)body, n)) == NULL)
			continue;
		taken++;
		ref = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
		if (ref == NULL || !json_equal(fast, ref))
			fail_msg("fast path differs from jansson: %s", body);
		json_decref(fast);
		json_decref(ref);
	}
	/* Both ways were taken often enough to mean something. */
	assert_in_range(taken, 500, 19000);
}

/* A NUL inside the body ends nothing: it is not white space. */
static void
test_embedded_nul(void **state)
{
	static const char body[] =
	    "{\"protected\":\"a\",\"payload\":\"b\",\"signature\":\"c\"}\0";

	(void)state;
	assert_null(jws_flat_load((const unsigned char *)body, sizeof(body)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_bodies),
	    cmocka_unit_test(test_other_bodies),
	    cmocka_unit_test(test_same_as_jansson),
	    cmocka_unit_test(test_embedded_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
