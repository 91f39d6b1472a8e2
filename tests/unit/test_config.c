/*
 * Config validation: core keys (config_check_core) and the whole file as
 * check-config sees it (gateway_new without a store), each bad case
 * asserting the key its message names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/cert.h"
#include "core/config.h"
#include "core/gateway.h"

static char tmpdir[64];

/* A minimal valid config; tests patch one key at a time. */
static const char *const base_config =
    "{\"listen\": [\"127.0.0.1:8443\"], \"workers\": 1,"
    " \"tls\": {\"cert\": \"ca.pem\", \"key\": \"ca.key\"},"
    " \"limits\": {\"max_body_bytes\": 65536, \"read_timeout_ms\": 5000},"
    " \"store\": {\"driver\": \"sqlite\", \"path\": \"x.db\"},"
    " \"log\": {\"level\": \"info\"},"
    " \"backends\": {\"local\": {\"type\": \"local\", \"cert\": \"ca.pem\","
    "   \"key\": \"ca.key\"}},"
    " \"profiles\": {\"default\": {\"max_sans\": 5}},"
    " \"est\": {\"default_profile\": \"default\"}}";

static json_t *
config_with(const char *path, const char *json_value)
{
	json_error_t e;
	json_t *root = json_loads(base_config, 0, &e), *obj = root, *v;
	char buf[256], *tok, *next, *save = NULL;

	assert_non_null(root);
	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while ((next = strtok_r(NULL, ".", &save)) != NULL) {
		obj = json_object_get(obj, tok);
		assert_non_null(obj);
		tok = next;
	}
	if (json_value == NULL) {
		json_object_del(obj, tok);
		return root;
	}
	v = json_loads(json_value, JSON_DECODE_ANY, &e);
	assert_non_null(v);
	json_object_set_new(obj, tok, v);
	return root;
}

/* Expect config_check_core to fail naming `key`. */
static void
expect_core_error(const char *path, const char *value, const char *key)
{
	json_t *root = config_with(path, value);
	char err[512] = "";

	assert_int_equal(config_check_core(root, err, sizeof(err)), -1);
	if (strstr(err, key) == NULL)
		fail_msg("error \"%s\" does not name %s", err, key);
	json_decref(root);
}

static void
test_core_valid(void **state)
{
	json_t *root = config_with("workers", "2");
	char err[512] = "";

	assert_int_equal(config_check_core(root, err, sizeof(err)), 0);
	json_decref(root);
}

static void
test_core_errors(void **state)
{
	expect_core_error("listen", NULL, "listen");
	expect_core_error("listen", "[]", "listen");
	expect_core_error("listen", "[8443]", "listen[0]");
	expect_core_error("workers", "\"two\"", "workers");
	expect_core_error("workers", "1000", "workers");
	expect_core_error("tls.cert", NULL, "tls.cert");
	expect_core_error("tls.colour", "\"blue\"", "tls.colour");
	expect_core_error(
	    "limits.max_body_bytes", "10", "limits.max_body_bytes");
	expect_core_error(
	    "limits.read_timeout_ms", "\"5s\"", "limits.read_timeout_ms");
	expect_core_error("store.driver", "\"oracle\"", "store.driver");
	expect_core_error("log.level", "\"loud\"", "log.level");
	expect_core_error("backends", "{}", "backends");
	expect_core_error(
	    "backends.local", "{\"cert\": \"x\"}", "backends.local");
	expect_core_error("frobnicate", "true", "frobnicate");
}

/* gateway_new(open_store 0) is what check-config runs. */
static void
expect_gateway_error(const char *path, const char *value, const char *key)
{
	json_t *root = config_with(path, value);
	struct gateway *gw;
	char err[512] = "";

	gw = gateway_new(root, tmpdir, 0, err, sizeof(err));
	assert_null(gw);
	if (strstr(err, key) == NULL)
		fail_msg("error \"%s\" does not name %s", err, key);
}

static void
test_gateway_valid(void **state)
{
	json_t *root = config_with("workers", "1");
	struct gateway *gw;
	char err[512] = "";

	gw = gateway_new(root, tmpdir, 0, err, sizeof(err));
	if (gw == NULL)
		fail_msg("valid config refused: %s", err);
	gateway_free(gw);
}

static void
test_gateway_errors(void **state)
{
	expect_gateway_error(
	    "profiles.default.max_sans", "0", "profiles.default.max_sans");
	expect_gateway_error("profiles.default.rsa_min_bits", "1024",
	    "profiles.default.rsa_min_bits");
	expect_gateway_error(
	    "profiles.default.backend", "\"nope\"", "profiles.default.backend");
	expect_gateway_error(
	    "backends.local.type", "\"hsm9000\"", "backends.local.type");
	expect_gateway_error(
	    "backends.local.key", "\"missing.key\"", "backends.local.key");
	expect_gateway_error(
	    "est.default_profile", "42", "est.default_profile");
	expect_gateway_error("est.users", "[{\"name\": \"a\"}]", "est.users");
}

static int
setup(void **state)
{
	EVP_PKEY *key;
	X509 *ca;
	char path[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/enrolld-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	if ((key = cert_keygen(KEY_P256, 0)) == NULL ||
	    (ca = cert_make_root_ca(key, "test CA", 30)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/ca.key", tmpdir);
	if (cert_save_key(path, key, 0) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
	if (cert_save_pem(path, &ca, 1, 0) == -1)
		return -1;
	EVP_PKEY_free(key);
	X509_free(ca);
	return 0;
}

static int
teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/ca.key", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ca.pem", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_core_valid),
	    cmocka_unit_test(test_core_errors),
	    cmocka_unit_test(test_gateway_valid),
	    cmocka_unit_test(test_gateway_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
