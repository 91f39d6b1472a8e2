/*
 * EST authentication: the strict Basic parser, the verified-password
 * cache, client certificate verification against the CA chain and the
 * re-enroll subject/SAN rule (RFC 7030 §4.2.2).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/passwd.h"
#include "protocols/est/est_int.h"

/* "Basic " + base64 of the `len` bytes of `raw`; caller frees. */
static char *
basic_of(const char *raw, size_t len)
{
	char *b64, *hdr;

	b64 = encoding_b64_encode((const unsigned char *)raw, len, 0, NULL);
	assert_non_null(b64);
	hdr = malloc(strlen(b64) + 7);
	assert_non_null(hdr);
	snprintf(hdr, strlen(b64) + 7, "Basic %s", b64);
	free(b64);
	return hdr;
}

static void
test_basic_ok(void **state)
{
	char user[EST_USER_MAX + 1], pass[EST_PASSWORD_MAX + 1], *hdr;

	(void)state;
	/* "user:pass" */
	assert_int_equal(est_auth_parse_basic("Basic dXNlcjpwYXNz", user,
	                     sizeof(user), pass, sizeof(pass)),
	    0);
	assert_string_equal(user, "user");
	assert_string_equal(pass, "pass");
	/* Scheme case-insensitive, extra spaces tolerated. */
	assert_int_equal(est_auth_parse_basic("bAsIc   dXNlcjpwYXNz  ", user,
	                     sizeof(user), pass, sizeof(pass)),
	    0);
	/* The password may hold colons; the user ends at the first. */
	hdr = basic_of("dev1:a:b:c", 10);
	assert_int_equal(
	    est_auth_parse_basic(hdr, user, sizeof(user), pass, sizeof(pass)),
	    0);
	assert_string_equal(user, "dev1");
	assert_string_equal(pass, "a:b:c");
	free(hdr);
	/* An empty password is a password. */
	hdr = basic_of("dev1:", 5);
	assert_int_equal(
	    est_auth_parse_basic(hdr, user, sizeof(user), pass, sizeof(pass)),
	    0);
	assert_string_equal(pass, "");
	free(hdr);
}

static void
expect_bad(const char *hdr)
{
	char user[16], pass[16];

	if (est_auth_parse_basic(hdr, user, sizeof(user), pass, sizeof(pass)) !=
	    -1)
		fail_msg("accepted: \"%s\"", hdr);
}

static void
expect_bad_raw(const char *raw, size_t len)
{
	char *hdr = basic_of(raw, len);

	expect_bad(hdr);
	free(hdr);
}

static void
test_basic_bad(void **state)
{
	char *huge;

	(void)state;
	expect_bad("");
	expect_bad("Basic");
	expect_bad("Basic ");
	expect_bad("Bearer dXNlcjpwYXNz");
	expect_bad("BasicdXNlcjpwYXNz");
	expect_bad("Basic dXNlcjpwYXNz extra");
	expect_bad("Basic dXNl cjpwYXNz");
	expect_bad("Basic dXNlcjpwYXN!");
	expect_bad("Basic dXNlcjpwY"); /* truncated quantum */
	expect_bad_raw("nocolon", 7);
	expect_bad_raw(":pass", 5);                    /* empty user */
	expect_bad_raw("us\0er:pass", 10);             /* NUL */
	expect_bad_raw("user:pa\nss", 10);             /* control character */
	expect_bad_raw("a-very-long-user-name:x", 23); /* > usersz */
	expect_bad_raw("u:a-very-long-password", 22);  /* > passsz */
	huge = malloc(4096);
	assert_non_null(huge);
	memcpy(huge, "Basic ", 6);
	memset(huge + 6, 'A', 4088);
	huge[4094] = '\0';
	expect_bad(huge);
	free(huge);
}

static struct est_config *
config_with_user(const char *name, const char *password)
{
	struct est_config *cfg;
	char err[256], *hash;
	json_t *conf;

	hash = passwd_hash(password, 1000);
	assert_non_null(hash);
	conf = json_pack(
	    "{s:[{s:s,s:s}]}", "users", "name", name, "password_hash", hash);
	assert_non_null(conf);
	cfg = est_config_new(conf, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("config: %s", err);
	json_decref(conf);
	free(hash);
	return cfg;
}

static void
test_password_cache(void **state)
{
	struct est_config *cfg;
	struct est_auth *a;
	time_t now = 1000000;

	(void)state;
	cfg = config_with_user("alice", "s3cret");
	a = est_auth_new();
	assert_non_null(a);
	assert_false(est_auth_cache_hit(a, "alice", "s3cret", now));
	/* Failures are not cached. */
	assert_int_equal(est_auth_password(a, cfg, "alice", "wrong", now), 0);
	assert_false(est_auth_cache_hit(a, "alice", "wrong", now));
	assert_int_equal(est_auth_password(a, cfg, "bob", "s3cret", now), 0);
	assert_false(est_auth_cache_hit(a, "bob", "s3cret", now));
	/* Success is cached for a minute, for that user and password only. */
	assert_int_equal(est_auth_password(a, cfg, "alice", "s3cret", now), 1);
	assert_true(est_auth_cache_hit(a, "alice", "s3cret", now + 59));
	assert_false(est_auth_cache_hit(a, "alice", "s3cre", now));
	assert_false(est_auth_cache_hit(a, "alice", "s3cret ", now));
	assert_false(est_auth_cache_hit(a, "alic", "es3cret", now));
	assert_false(est_auth_cache_hit(a, "alice", "s3cret", now + 60));
	/* A cache entry never lets a wrong password in. */
	assert_int_equal(est_auth_password(a, cfg, "alice", "wrong", now), 0);
	/* Expired entries are re-verified and refreshed. */
	assert_int_equal(
	    est_auth_password(a, cfg, "alice", "s3cret", now + 120), 1);
	assert_true(est_auth_cache_hit(a, "alice", "s3cret", now + 121));
	est_auth_free(a);
	est_config_free(cfg);
}

/* A certificate for `cn` with optional SANs ("DNS:a,IP:1.2.3.4"),
 * signed by issuer (a self-signed CA when NULL), valid from now+from_days
 * to now+to_days. */
static X509 *
make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    const char *sans, long from_days, long to_days, long serial)
{
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	X509_NAME *name;
	X509 *x;

	x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
	name = X509_NAME_new();
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                     (const unsigned char *)cn, -1, -1, 0),
	    1);
	assert_int_equal(X509_set_subject_name(x, name), 1);
	X509_NAME_free(name);
	assert_int_equal(
	    X509_set_issuer_name(
	        x, X509_get_subject_name(issuer != NULL ? issuer : x)),
	    1);
	assert_non_null(
	    X509_time_adj_ex(X509_getm_notBefore(x), (int)from_days, 0, NULL));
	assert_non_null(
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)to_days, 0, NULL));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (issuer == NULL) {
		/* A self-signed certificate here is a CA. */
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(
		    NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	if (sans != NULL) {
		X509V3_set_ctx(
		    &ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf_nid(
		    NULL, &ctx, NID_subject_alt_name, sans);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static X509_REQ *
make_csr(const char *cn, EVP_PKEY *key, const char *sans)
{
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509_REQ *req;

	req = X509_REQ_new();
	assert_non_null(req);
	name = X509_NAME_new();
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                     (const unsigned char *)cn, -1, -1, 0),
	    1);
	assert_int_equal(X509_REQ_set_subject_name(req, name), 1);
	X509_NAME_free(name);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (sans != NULL) {
		ext = X509V3_EXT_nconf_nid(
		    NULL, NULL, NID_subject_alt_name, sans);
		assert_non_null(ext);
		exts = sk_X509_EXTENSION_new_null();
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	return req;
}

struct pki {
	EVP_PKEY *ca_key, *other_key, *leaf_key;
	X509 *ca, *other_ca;
	STACK_OF(X509) *chain;
	X509_STORE *trust;
};

static int
pki_setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->ca_key = cert_keygen(KEY_P256, 0);
	p->other_key = cert_keygen(KEY_P256, 0);
	p->leaf_key = cert_keygen(KEY_P256, 0);
	assert_non_null(p->ca_key);
	assert_non_null(p->other_key);
	assert_non_null(p->leaf_key);
	p->ca = make_cert("Test CA", p->ca_key, NULL, NULL, NULL, -1, 3650, 1);
	p->other_ca =
	    make_cert("Other CA", p->other_key, NULL, NULL, NULL, -1, 3650, 1);
	p->chain = sk_X509_new_null();
	assert_true(sk_X509_push(p->chain, p->ca) > 0);
	p->trust = est_auth_trust_new(p->chain);
	assert_non_null(p->trust);
	*state = p;
	return 0;
}

static int
pki_teardown(void **state)
{
	struct pki *p = *state;

	X509_STORE_free(p->trust);
	sk_X509_free(p->chain);
	X509_free(p->ca);
	X509_free(p->other_ca);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->other_key);
	EVP_PKEY_free(p->leaf_key);
	free(p);
	return 0;
}

static void
test_cert_verify(void **state)
{
	struct pki *p = *state;
	X509 *good, *expired, *foreign;
	char why[128];

	good =
	    make_cert("dev1", p->leaf_key, p->ca, p->ca_key, NULL, -1, 30, 10);
	expired =
	    make_cert("dev1", p->leaf_key, p->ca, p->ca_key, NULL, -30, -1, 11);
	foreign = make_cert(
	    "dev1", p->leaf_key, p->other_ca, p->other_key, NULL, -1, 30, 12);
	why[0] = '\0';
	if (est_auth_cert_verify(p->trust, good, why, sizeof(why)) != 0)
		fail_msg("good certificate refused: %s", why);
	assert_int_equal(
	    est_auth_cert_verify(p->trust, expired, why, sizeof(why)), -1);
	assert_string_equal(why, "client certificate expired");
	assert_int_equal(
	    est_auth_cert_verify(p->trust, foreign, why, sizeof(why)), -1);
	assert_string_equal(why, "client certificate not issued by this CA");
	X509_free(good);
	X509_free(expired);
	X509_free(foreign);
}

static int
match(X509 *cert, const char *cn, EVP_PKEY *key, const char *sans)
{
	struct enroll_req *req;
	char why[160];
	int m;

	req = enroll_req_new(ENROLL_PROTO_EST);
	assert_non_null(req);
	assert_int_equal(
	    enroll_req_take_csr(req, make_csr(cn, key, sans)), ENROLL_OK);
	why[0] = '\0';
	m = est_auth_renewal_match(req, cert, why, sizeof(why));
	if (m == 0)
		assert_non_null(strstr(why, "RFC 7030 §4.2.2"));
	enroll_req_free(req);
	return m;
}

static void
test_renewal_match(void **state)
{
	struct pki *p = *state;
	X509 *cert, *bare;

	cert = make_cert("dev1.example", p->leaf_key, p->ca, p->ca_key,
	    "DNS:dev1.example,DNS:alt.example,IP:192.0.2.1", -1, 30, 20);
	/* Same set in another order and case: a match. */
	assert_int_equal(match(cert, "dev1.example", p->leaf_key,
	                     "IP:192.0.2.1,DNS:ALT.example,DNS:dev1.example"),
	    1);
	/* One name missing, one added, a different IP, another subject. */
	assert_int_equal(match(cert, "dev1.example", p->leaf_key,
	                     "DNS:dev1.example,IP:192.0.2.1"),
	    0);
	assert_int_equal(
	    match(cert, "dev1.example", p->leaf_key,
	        "DNS:dev1.example,DNS:alt.example,DNS:x.example,IP:192.0.2.1"),
	    0);
	assert_int_equal(match(cert, "dev1.example", p->leaf_key,
	                     "DNS:dev1.example,DNS:alt.example,IP:192.0.2.2"),
	    0);
	assert_int_equal(match(cert, "dev2.example", p->leaf_key,
	                     "DNS:dev1.example,DNS:alt.example,IP:192.0.2.1"),
	    0);
	/* A certificate without SANs: the CSR must have none either. */
	bare = make_cert(
	    "dev1.example", p->leaf_key, p->ca, p->ca_key, NULL, -1, 30, 21);
	assert_int_equal(match(bare, "dev1.example", p->leaf_key, NULL), 1);
	assert_int_equal(
	    match(bare, "dev1.example", p->leaf_key, "DNS:other.example"), 0);
	X509_free(cert);
	X509_free(bare);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic_ok),
	    cmocka_unit_test(test_basic_bad),
	    cmocka_unit_test(test_password_cache),
	    cmocka_unit_test_setup_teardown(
	        test_cert_verify, pki_setup, pki_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_renewal_match, pki_setup, pki_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
