/*
 * The configuration of the upstream ACME CA backend ("type": "acme",
 * backends/acme/acme_backend.c, docs/config.md): each bad setting is
 * refused with a sentence naming its key, a good one makes the account
 * key once (mode 0600) and finds it again, and the chain and the wait
 * are what the pipeline will be told.  No network: init talks to
 * nobody, the engines come with worker_init.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "backends/acme/acme_backend.h"
#include "backends/acme/upstream.h"
#include "backends/backend.h"

#define GOOD_DIR "\"directory\": \"https://127.0.0.1:1/dir\""

static struct {
	char dir[64];
	const struct ca_backend *be;
} g;

/* One refused setting: the config object and the key its error names. */
struct bad_case {
	const char *json;
	const char *key;
};

static const struct bad_case bad_cases[] = {
    {"{}", "backends.acme.directory"},
    {"{\"directory\": \"http://127.0.0.1:1/dir\"}", "backends.acme.directory"},
    {"{\"directory\": 443}", "backends.acme.directory"},
    {"{\"directory\": \"\"}", "backends.acme.directory"},
    {"{" GOOD_DIR ", \"challenge\": \"tls-alpn-01\"}",
        "backends.acme.challenge"},
    {"{" GOOD_DIR ", \"challenge\": \"dns-01\"}", "backends.acme.dns_hook"},
    {"{" GOOD_DIR ", \"eab\": {\"kid\": \"k1\", \"hmac_key\": \"no*t!b64\"}}",
        "backends.acme.eab.hmac_key"},
    {"{" GOOD_DIR ", \"eab\": {\"kid\": \"k1\", \"hmac_key\": \"\"}}",
        "backends.acme.eab.hmac_key"},
    {"{" GOOD_DIR ", \"eab\": {\"hmac_key\": \"c2VjcmV0\"}}",
        "backends.acme.eab"},
    {"{" GOOD_DIR ", \"eab\": \"k1\"}", "backends.acme.eab"},
    {"{" GOOD_DIR ", \"chain\": \"no-such-chain.pem\"}", "backends.acme.chain"},
    {"{" GOOD_DIR ", \"wait_seconds\": 0}", "backends.acme.wait_seconds"},
    {"{" GOOD_DIR ", \"wait_seconds\": 301}", "backends.acme.wait_seconds"},
    {"{" GOOD_DIR ", \"wait_seconds\": \"10\"}", "backends.acme.wait_seconds"},
    {"{" GOOD_DIR ", \"order_timeout\": 9}", "backends.acme.order_timeout"},
    {"{" GOOD_DIR ", \"request_timeout\": 601}",
        "backends.acme.request_timeout"},
    {"{" GOOD_DIR ", \"revoke_interval\": -1}",
        "backends.acme.revoke_interval"},
    {"{" GOOD_DIR ", \"ca_bundle\": \"no-such-bundle.pem\"}",
        "backends.acme.ca_bundle"},
    {"{" GOOD_DIR ", \"account_key\": \"no-such-dir/acct.key\"}",
        "backends.acme.account_key"},
};

static int
group_setup(void **state)
{
	snprintf(g.dir, sizeof(g.dir), "/tmp/test_upstream_config.XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		return -1;
	g.be = ca_backend_find("acme");
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	if (g.dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", g.dir);
	}
	return 0;
}

/* A fresh directory under g.dir named `name`, its path in `out`. */
static void
subdir(const char *name, char *out, size_t outsz)
{
	assert_true((size_t)snprintf(out, outsz, "%s/%s", g.dir, name) < outsz);
	assert_int_equal(mkdir(out, 0700), 0);
}

static json_t *
conf_parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (j == NULL)
		fail_msg("bad test config %s: %s", text, e.text);
	return j;
}

/* init with `text` under `basedir`: rc, *priv (free it), err. */
static int
init(const char *text, const char *basedir, json_t **conf, void **priv,
    char *err, size_t errlen)
{
	*conf = conf_parse(text);
	*priv = NULL;
	err[0] = '\0';
	return g.be->init(*conf, basedir, priv, err, errlen);
}

static void
test_registered(void **state)
{
	assert_non_null(g.be);
	assert_ptr_equal(g.be, &acme_upstream_backend);
	assert_string_equal(g.be->name, "acme");
	assert_non_null(g.be->defer_seconds);
	assert_non_null(g.be->worker_init);
	assert_non_null(g.be->worker_free);
}

/* Every bad setting: -1 and an error that names the key. */
static void
test_bad(void **state)
{
	char base[128], err[256], path[192];
	json_t *conf;
	void *priv;
	size_t i;

	subdir("bad", base, sizeof(base));
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		assert_int_equal(init(bad_cases[i].json, base, &conf, &priv,
		                     err, sizeof(err)),
		    -1);
		if (strstr(err, bad_cases[i].key) == NULL)
			fail_msg("%s: error \"%s\" does not name %s",
			    bad_cases[i].json, err, bad_cases[i].key);
		g.be->free(priv);
		json_decref(conf);
	}
	/* A refused directory is refused before any key is made. */
	snprintf(path, sizeof(path), "%s/upstream-account.key", base);
	unlink(path);
	assert_int_equal(init("{\"directory\": \"http://x/\"}", base, &conf,
	                     &priv, err, sizeof(err)),
	    -1);
	assert_int_not_equal(access(path, F_OK), 0);
	g.be->free(priv);
	json_decref(conf);
	g.be->free(NULL);
}

/* The account key: made once with mode 0600 whatever the umask, then
 * the same key on every start. */
static void
test_good(void **state)
{
	static const char text[] =
	    "{" GOOD_DIR ", \"wait_seconds\": 42, \"contact\": "
	    "\"mailto:ops@example.com\", \"eab\": "
	    "{\"kid\": \"k1\", \"hmac_key\": "
	    "\"c2VjcmV0LWtleQ\"}}";
	char base[128], err[256], path[192];
	struct upstream *up1, *up2;
	struct stat st;
	json_t *c1, *c2;
	void *p1, *p2;
	EVP_PKEY *onfile;
	STACK_OF(X509) *chain;
	FILE *f;
	mode_t old;

	subdir("good", base, sizeof(base));
	snprintf(path, sizeof(path), "%s/upstream-account.key", base);
	old = umask(0);
	assert_int_equal(init(text, base, &c1, &p1, err, sizeof(err)), 0);
	umask(old);
	assert_string_equal(err, "");
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	up1 = p1;
	assert_non_null(up1->account_key);
	assert_ptr_equal(up1->conf.account_key, up1->account_key);
	assert_int_equal(EVP_PKEY_get_base_id(up1->account_key), EVP_PKEY_EC);
	assert_string_equal(up1->conf.challenge, "http-01");
	assert_string_equal(up1->conf.eab_kid, "k1");
	assert_int_equal(up1->conf.eab_hmac_key_len, 10);
	assert_memory_equal(up1->conf.eab_hmac_key, "secret-key", 10);
	assert_int_equal(up1->conf.order_timeout, 300);
	assert_int_equal(up1->conf.request_timeout, 30);
	assert_null(up1->conf.ca_bundle);

	/* Nothing learned yet: an empty chain, never NULL. */
	chain = g.be->ca_chain(p1);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 0);
	assert_int_equal(g.be->defer_seconds(p1), 42);

	/* The file holds that key, and a second start loads it. */
	assert_non_null(f = fopen(path, "r"));
	onfile = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(onfile);
	assert_int_equal(EVP_PKEY_eq(onfile, up1->account_key), 1);
	assert_int_equal(init(text, base, &c2, &p2, err, sizeof(err)), 0);
	up2 = p2;
	assert_ptr_not_equal(up2->account_key, up1->account_key);
	assert_int_equal(EVP_PKEY_eq(up2->account_key, up1->account_key), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	EVP_PKEY_free(onfile);
	g.be->free(p1);
	g.be->free(p2);
	json_decref(c1);
	json_decref(c2);
}

/* Defaults, and a configured chain file served as the CA chain. */
static void
test_defaults_and_chain(void **state)
{
	char base[128], err[256], path[192];
	json_t *conf;
	void *priv;
	EVP_PKEY *key;
	X509 *x;
	FILE *f;
	STACK_OF(X509) *chain;

	subdir("chain", base, sizeof(base));
	assert_int_equal(
	    init("{" GOOD_DIR "}", base, &conf, &priv, err, sizeof(err)), 0);
	assert_int_equal(g.be->defer_seconds(priv), 10);
	assert_int_equal(sk_X509_num(g.be->ca_chain(priv)), 0);
	g.be->free(priv);
	json_decref(conf);

	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(key);
	assert_non_null(x = X509_new());
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 9), 1);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	        MBSTRING_ASC, (const unsigned char *)"upstream CA", -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/ca.pem", base);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(init("{" GOOD_DIR ", \"chain\": \"ca.pem\", "
	                      "\"ca_bundle\": \"ca.pem\", "
	                      "\"challenge\": \"dns-01\", "
	                      "\"dns_hook\": \"/bin/true\"}",
	                     base, &conf, &priv, err, sizeof(err)),
	    0);
	chain = g.be->ca_chain(priv);
	assert_int_equal(sk_X509_num(chain), 1);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), x), 0);
	assert_string_equal(((struct upstream *)priv)->conf.ca_bundle, path);
	assert_string_equal(((struct upstream *)priv)->hook, "/bin/true");
	g.be->free(priv);
	json_decref(conf);
	X509_free(x);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registered),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_defaults_and_chain),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
