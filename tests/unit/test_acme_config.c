/*
 * The "acme" config section (protocols/acme/acme.c acme_cfg_load, what
 * check-config runs through acme_cfg_check): defaults, accepted values of
 * acme.validation and acme.nonce_scope, and the errors naming the key at
 * fault.
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

/* {SECTION: {KEY: VALUE}}, or {KEY: VALUE} for a NULL section, with
 * VALUE in JSON; {} for a NULL key. */
static json_t *
conf_with(const char *section, const char *key, const char *json_value)
{
	json_error_t e;
	json_t *conf, *v;

	assert_non_null(conf = json_object());
	if (key == NULL)
		return conf;
	assert_non_null(v = json_loads(json_value, JSON_DECODE_ANY, &e));
	if (section == NULL)
		assert_int_equal(json_object_set_new(conf, key, v), 0);
	else
		assert_int_equal(json_object_set_new(
		                     conf, section, json_pack("{s:o}", key, v)),
		    0);
	return conf;
}

/* Load it; it must succeed. */
static void
load_ok(const char *section, const char *key, const char *value,
    struct acme_cfg *cfg)
{
	json_t *conf = conf_with(section, key, value);
	char err[256] = "";

	if (acme_cfg_load(cfg, conf, err, sizeof(err)) == -1)
		fail_msg("%s: %s refused: %s", key, value, err);
	json_decref(conf);
}

/* It must fail, with a message naming acme[.SECTION].KEY and `needle`. */
static void
expect_error(
    const char *section, const char *key, const char *value, const char *needle)
{
	json_t *conf = conf_with(section, key, value);
	char err[256] = "", where[64];

	snprintf(where, sizeof(where), "acme.%s%s%s", section ? section : "",
	    section ? "." : "", key);
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
	load_ok(NULL, NULL, NULL, &cfg);
	assert_null(cfg.validate.resolver);
	assert_int_equal(cfg.validate.http01_port, 80);
	assert_int_equal(cfg.validate.tlsalpn01_port, 443);
	assert_int_equal(cfg.validate.allow_private, 0);
	assert_int_equal(cfg.validate.timeout_ms, 10000);
	assert_int_equal(cfg.validate.caa, 1);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_TCP);
	assert_int_equal(cfg.shared_nonces, 0);
	acme_cfg_free(&cfg);
}

static void
test_dns_transport(void **state)
{
	struct acme_cfg cfg;

	(void)state;
	load_ok("validation", "dns_transport", "\"udp\"", &cfg);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_UDP);
	acme_cfg_free(&cfg);
	load_ok("validation", "dns_transport", "\"tcp\"", &cfg);
	assert_int_equal(cfg.validate.dns_transport, ACME_DNS_TCP);
	acme_cfg_free(&cfg);

	expect_error(
	    "validation", "dns_transport", "\"quic\"", "\"tcp\" or \"udp\"");
	expect_error(
	    "validation", "dns_transport", "\"TCP\"", "\"tcp\" or \"udp\"");
	expect_error(
	    "validation", "dns_transport", "\"\"", "\"tcp\" or \"udp\"");
	expect_error("validation", "dns_transport", "53", "\"tcp\" or \"udp\"");
	expect_error(
	    "validation", "dns_transport", "true", "\"tcp\" or \"udp\"");
	expect_error(
	    "validation", "dns_transport", "null", "\"tcp\" or \"udp\"");
}

/* acme.nonce_scope: "node" (the default) or "shared" (nonces.h). */
static void
test_nonce_scope(void **state)
{
	struct acme_cfg cfg;

	(void)state;
	load_ok(NULL, "nonce_scope", "\"shared\"", &cfg);
	assert_int_equal(cfg.shared_nonces, 1);
	acme_cfg_free(&cfg);
	load_ok(NULL, "nonce_scope", "\"node\"", &cfg);
	assert_int_equal(cfg.shared_nonces, 0);
	acme_cfg_free(&cfg);

	expect_error(
	    NULL, "nonce_scope", "\"store\"", "\"node\" or \"shared\"");
	expect_error(NULL, "nonce_scope", "true", "\"node\" or \"shared\"");
}

static void
test_validation_errors(void **state)
{
	(void)state;
	expect_error(
	    "validation", "allow_private_targets", "1", "true or false");
	expect_error("validation", "timeout_ms", "50", "100 to 120000");
	expect_error("validation", "resolver", "53", "string");
	expect_error("validation", "dns_transports", "\"tcp\"", "unknown key");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation_defaults),
	    cmocka_unit_test(test_dns_transport),
	    cmocka_unit_test(test_nonce_scope),
	    cmocka_unit_test(test_validation_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
