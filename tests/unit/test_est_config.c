/*
 * The "est" config section: defaults, a full section, and every bad
 * value refused with an error naming its key path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "protocols/est/est_int.h"

#define HASH "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo"

static json_t *
parse(const char *text)
{
	json_error_t jerr;
	json_t *j;

	j = json_loads(text, 0, &jerr);
	if (j == NULL)
		fail_msg("bad test JSON: %s: %s", jerr.text, text);
	return j;
}

static void
test_defaults(void **state)
{
	struct est_config *cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(est_config_check(NULL, err, sizeof(err)), 0);
	cfg = est_config_new(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->default_profile, "default");
	assert_string_equal(cfg->realm, "enrolld EST");
	assert_int_equal(cfg->client_cert_auth, 1);
	assert_int_equal(cfg->serverkeygen, 1);
	assert_int_equal(cfg->n_labels, 0);
	assert_int_equal(cfg->n_users, 0);
	assert_null(est_config_user(cfg, "anyone"));
	est_config_free(cfg);
}

static void
test_full(void **state)
{
	struct est_config *cfg;
	const struct est_user *u;
	char err[256] = "";
	json_t *j;

	(void)state;
	j = parse(
	    "{\"default_profile\": \"web\","
	    " \"labels\": {\"routers\": \"net\", \"cam_2-x\": \"iot\"},"
	    " \"users\": [{\"name\": \"dev1\", \"password_hash\": \"" HASH
	    "\"}, {\"name\": \"dev 2\", \"password_hash\": \"" HASH "\"}],"
	    " \"client_cert_auth\": false, \"serverkeygen\": false,"
	    " \"realm\": \"lab EST\"}");
	cfg = est_config_new(j, err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->default_profile, "web");
	assert_string_equal(cfg->realm, "lab EST");
	assert_int_equal(cfg->client_cert_auth, 0);
	assert_int_equal(cfg->serverkeygen, 0);
	assert_int_equal(cfg->n_labels, 2);
	assert_string_equal(cfg->labels[0].label, "routers");
	assert_string_equal(cfg->labels[0].profile, "net");
	assert_string_equal(cfg->labels[1].label, "cam_2-x");
	assert_int_equal(cfg->n_users, 2);
	u = est_config_user(cfg, "dev 2");
	assert_non_null(u);
	assert_string_equal(u->password_hash, HASH);
	assert_null(est_config_user(cfg, "dev"));
	est_config_free(cfg);
	json_decref(j);
}

static const struct {
	const char *conf;
	const char *err_prefix;
} bad[] = {
    {"[]", "est: "},
    {"{\"colour\": 1}", "est.colour: unknown key"},
    {"{\"default_profile\": 3}", "est.default_profile: "},
    {"{\"default_profile\": \"\"}", "est.default_profile: "},
    {"{\"labels\": []}", "est.labels: "},
    {"{\"labels\": {\"a b\": \"x\"}}", "est.labels.a b: "},
    {"{\"labels\": {\"a/b\": \"x\"}}", "est.labels.a/b: "},
    {"{\"labels\": {\"ok\": 1}}", "est.labels.ok: "},
    {"{\"labels\": {\"ok\": \"\"}}", "est.labels.ok: "},
    {"{\"users\": {}}", "est.users: "},
    {"{\"users\": [1]}", "est.users[0]: "},
    {"{\"users\": [{\"password_hash\": \"" HASH "\"}]}", "est.users[0].name: "},
    {"{\"users\": [{\"name\": \"a:b\", \"password_hash\": \"" HASH "\"}]}",
        "est.users[0].name: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\": \"" HASH "\","
     " \"salt\": 1}]}",
        "est.users[0].salt: unknown key"},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\": \"" HASH "\"},"
     " {\"name\": \"b\", \"password_hash\": \"hunter2\"}]}",
        "est.users[1].password_hash: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\":"
     " \"$pbkdf2-sha256$0$c2FsdA$aGFzaA\"}]}",
        "est.users[0].password_hash: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\":"
     " \"$pbkdf2-sha256$1000$c2FsdA\"}]}",
        "est.users[0].password_hash: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\":"
     " \"$pbkdf2-sha1$1000$c2FsdA$aGFzaA\"}]}",
        "est.users[0].password_hash: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\":"
     " \"$pbkdf2-sha256$1000$c2F*sdA$aGFzaA\"}]}",
        "est.users[0].password_hash: "},
    {"{\"users\": [{\"name\": \"a\", \"password_hash\": \"" HASH "\"},"
     " {\"name\": \"a\", \"password_hash\": \"" HASH "\"}]}",
        "est.users[1].name: duplicate"},
    {"{\"client_cert_auth\": \"yes\"}", "est.client_cert_auth: "},
    {"{\"serverkeygen\": 1}", "est.serverkeygen: "},
    {"{\"realm\": \"a\\\"b\"}", "est.realm: "},
    {"{\"realm\": \"\"}", "est.realm: "},
    {"{\"realm\": \"tab\\there\"}", "est.realm: "},
};

static void
test_bad(void **state)
{
	char err[256];
	json_t *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = parse(bad[i].conf);
		err[0] = '\0';
		if (est_config_check(j, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i].conf);
		if (strncmp(
		        err, bad[i].err_prefix, strlen(bad[i].err_prefix)) != 0)
			fail_msg("%s: error \"%s\", want prefix \"%s\"",
			    bad[i].conf, err, bad[i].err_prefix);
		/* est_config_new refuses the same with the same words. */
		assert_null(est_config_new(j, err, sizeof(err)));
		assert_true(strncmp(err, bad[i].err_prefix,
		                strlen(bad[i].err_prefix)) == 0);
		json_decref(j);
	}
}

static void
test_label_syntax(void **state)
{
	char label[EST_LABEL_MAX + 2];

	(void)state;
	assert_true(est_label_valid("a"));
	assert_true(est_label_valid("Router_01-b"));
	assert_false(est_label_valid(""));
	assert_false(est_label_valid("a.b"));
	assert_false(est_label_valid("caf\xc3\xa9"));
	memset(label, 'x', EST_LABEL_MAX);
	label[EST_LABEL_MAX] = '\0';
	assert_true(est_label_valid(label));
	label[EST_LABEL_MAX] = 'x';
	label[EST_LABEL_MAX + 1] = '\0';
	assert_false(est_label_valid(label));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_label_syntax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
