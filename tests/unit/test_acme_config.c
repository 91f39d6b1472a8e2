/*
 * The "acme" config section (protocols/acme/acme.c acme_cfg_load, what
 * check-config runs through acme_cfg_check): defaults, accepted values of
 * acme.validation and the errors naming the key at fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocols/acme/acme_int.h"

/* {"validation": {KEY: VALUE}} with VALUE in JSON, or {} for NULL key. */
static json_t *
validation_with(const char *key, const char *json_value)
{
	json_error_t e;
	json_t *conf, *v;

	assert_non_null(conf = json_object());
	if (key == NULL)
		return conf;
	assert_non_null(v = json_loads(json_value, JSON_DECODE_ANY, &e));
	assert_int_equal(
	    json_object_set_new(conf, "validation", json_pack("{s:o}", key, v)),
	    0);
	return conf;
}

/* Load {"validation": {KEY: VALUE}}; it must succeed. */
static void
load_ok(const char *key, const char *value, struct acme_cfg *cfg)
{
	json_t *conf = validation_with(key, value);
	char err[256] = "";

	if (acme_cfg_load(cfg, conf, err, sizeof(err)) == -1)
		fail_msg("%s: %s refused: %s", key, value, err);
	json_decref(conf);
}

/* It must fail, with a message naming acme.validation.KEY and `needle`. */
static void
expect_error(const char *key, const char *value, const char *needle)
{
	json_t *conf = validation_with(key, value);
	char err[256] = "", where[64];

	snprintf(where, sizeof(where), "acme.validation.%s", key);
	assert_int_equal(acme_cfg_check(conf, err, sizeof(err)), -1);
	if (strstr(err, where) == NULL || strstr(err, needle) == NULL)
		fail_msg("%s = %s: error \"%s\" does not name %s with %s", key,
		    value, err, where, needle);
	json_decref(conf);
}

static void
test_validation_defaults(void **state)
{
	struct acme_cfg cfg;

	(void)state;
	load_ok(NULL, NULL, &cfg);
	assert_null(cfg.validate.resolver);
	assert_int_equal(cfg.validate.http01_port, 80);
	assert_int_equal(cfg.validate.tlsalpn01_port, 443);
	assert_int_equal(cfg.validate.allow_private, 0);
	assert_int_equal(cfg.validate.timeout_ms, 10000);
	assert_int_equal(cfg.validate.caa, 1);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_TCP);
	acme_cfg_free(&cfg);
}

static void
test_dns_transport(void **state)
{
	struct acme_cfg cfg;

	(void)state;
	load_ok("dns_transport", "\"udp\"", &cfg);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_UDP);
	acme_cfg_free(&cfg);
	load_ok("dns_transport", "\"tcp\"", &cfg);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_TCP);
	acme_cfg_free(&cfg);

	expect_error("dns_transport", "\"quic\"", "\"tcp\" or \"udp\"");
	expect_error("dns_transport", "\"TCP\"", "\"tcp\" or \"udp\"");
	expect_error("dns_transport", "\"\"", "\"tcp\" or \"udp\"");
	expect_error("dns_transport", "53", "\"tcp\" or \"udp\"");
	expect_error("dns_transport", "true", "\"tcp\" or \"udp\"");
	expect_error("dns_transport", "null", "\"tcp\" or \"udp\"");
}

static void
test_validation_errors(void **state)
{
	(void)state;
	expect_error("allow_private_targets", "1", "true or false");
	expect_error("timeout_ms", "50", "100 to 120000");
	expect_error("resolver", "53", "string");
	expect_error("dns_transports", "\"tcp\"", "unknown key");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation_defaults),
	    cmocka_unit_test(test_dns_transport),
	    cmocka_unit_test(test_validation_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
