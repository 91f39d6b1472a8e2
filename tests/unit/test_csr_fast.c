/*
 * core/csr_fast.c: csr_parse must agree with d2i_X509_REQ (subject,
 * encoded SPKI, extensions, challengePassword, key) on every CSR of a
 * corpus made in-process, check the signature over the received bytes,
 * refuse what csr_from_der refuses, and let policy and
 * enroll_req_take_csr_der use its key.  Also prints csr_parse's speed
 * against d2i_X509_REQ, for the record (not asserted).
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
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/csr.h"
#include "core/enroll.h"
#include "policy/policy.h"

#define CN "fast.example.com"
#define TIMING_ROUNDS 2000

enum {
	K_RSA,
	K_P256,
	K_P384,
	K_P521,
	K_ED25519,
	K_ED448,
	K_PSS,
	K_RSA1024,
	K_K1,
	K_MAX
};

static EVP_PKEY *keys[K_MAX];

/* EVP_PKEY_Q_keygen knows no "RSA-PSS" in 3.0. */
static EVP_PKEY *
pss_keygen(void)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1 ||
	    EVP_PKEY_generate(ctx, &key) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

static int
keys_setup(void **state)
{
	size_t i;

	(void)state;
	keys[K_RSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	keys[K_P256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	keys[K_P384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	keys[K_P521] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	keys[K_ED25519] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	keys[K_ED448] = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	keys[K_PSS] = pss_keygen();
	keys[K_RSA1024] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	/* A named curve off the cached three: EVP_PKEY_fromdata. */
	keys[K_K1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	for (i = 0; i < K_MAX; i++)
		if (keys[i] == NULL)
			return -1;
	return 0;
}

static int
keys_teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < K_MAX; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

/* Options of one test CSR. */
struct spec {
	int key;         /* index into keys[] */
	const char *md;  /* digest name; NULL for EdDSA */
	const char *san; /* openssl.cnf syntax, or NULL */
	const char *pw;  /* challengePassword, or NULL */
	long version;    /* 0 but for the negative test */
};

/* The signed CSR of `s` with subject O=Acme,CN=CN.  Caller frees. */
static X509_REQ *
make_req(const struct spec *s)
{
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION *ext;
	X509_NAME *name;
	X509_REQ *req;
	EVP_PKEY *key = keys[s->key];
	const EVP_MD *md = NULL;

	assert_non_null(req = X509_REQ_new());
	assert_int_equal(X509_REQ_set_version(req, s->version), 1);
	name = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                     (const unsigned char *)"Acme", -1, -1, 0),
	    1);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                     (const unsigned char *)CN, -1, -1, 0),
	    1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (s->san != NULL) {
		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		ext = X509V3_EXT_nconf_nid(
		    NULL, NULL, NID_subject_alt_name, s->san);
		assert_non_null(ext);
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (s->pw != NULL)
		assert_int_equal(
		    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
		        MBSTRING_ASC, (const unsigned char *)s->pw, -1),
		    1);
	if (s->md != NULL)
		assert_non_null(md = EVP_get_digestbyname(s->md));
	assert_true(X509_REQ_sign(req, key, md) > 0);
	return req;
}

/* DER of `req`; OPENSSL_free it. */
static unsigned char *
der_of(X509_REQ *req, size_t *len)
{
	unsigned char *der = NULL;
	int n;

	assert_true((n = i2d_X509_REQ(req, &der)) > 0);
	*len = (size_t)n;
	return der;
}

static unsigned char *
make_der(const struct spec *s, size_t *len)
{
	X509_REQ *req = make_req(s);
	unsigned char *der = der_of(req, len);

	X509_REQ_free(req);
	return der;
}

/* i2d of the request's encoded SPKI; OPENSSL_free it. */
static unsigned char *
spki_der(X509_REQ *req, int *len)
{
	unsigned char *der = NULL;

	*len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &der);
	assert_true(*len > 0);
	return der;
}

static struct enroll_req *
idents_of(X509_REQ *csr)
{
	struct enroll_req *req;

	assert_non_null(req = enroll_req_new(ENROLL_PROTO_CLI));
	assert_int_equal(csr_collect_idents(csr, req), 0);
	return req;
}

/* Everything policy and the signer read must be the same in both. */
static void
assert_same(X509_REQ *fast, EVP_PKEY *key, X509_REQ *ref)
{
	struct enroll_req *a, *b;
	unsigned char *sa, *sb;
	char *pa, *pb;
	int la, lb;
	size_t i;

	assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(fast),
	                     X509_REQ_get_subject_name(ref)),
	    0);
	sa = spki_der(fast, &la);
	sb = spki_der(ref, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(sa, sb, (size_t)la);
	OPENSSL_free(sa);
	OPENSSL_free(sb);
	assert_int_equal(EVP_PKEY_eq(key, X509_REQ_get0_pubkey(ref)), 1);
	assert_int_equal(
	    X509_REQ_get_attr_count(fast), X509_REQ_get_attr_count(ref));
	a = idents_of(fast);
	b = idents_of(ref);
	assert_string_equal(a->subject, b->subject);
	assert_int_equal(a->n_idents, b->n_idents);
	for (i = 0; i < a->n_idents; i++) {
		assert_int_equal(a->idents[i].type, b->idents[i].type);
		assert_string_equal(a->idents[i].value, b->idents[i].value);
	}
	enroll_req_free(a);
	enroll_req_free(b);
	pa = csr_challenge_password(fast);
	pb = csr_challenge_password(ref);
	if (pb == NULL)
		assert_null(pa);
	else {
		assert_non_null(pa);
		assert_string_equal(pa, pb);
	}
	free(pa);
	free(pb);
}

/*
 * csr_parse on der must give a request, key and verdict that agree
 * with csr_from_der's; the verdict must be `want_ok`.
 */
static void
check_der(const unsigned char *der, size_t len, int want_ok)
{
	X509_REQ *fast, *ref;
	EVP_PKEY *key = (EVP_PKEY *)1;
	int ok = -1;

	assert_non_null(ref = csr_from_der(der, len));
	fast = csr_parse(der, len, &key, &ok);
	assert_non_null(fast);
	assert_non_null(key);
	assert_int_equal(ok, want_ok);
	assert_int_equal(ok, csr_verify_signature(ref) == 0);
	assert_same(fast, key, ref);
	X509_REQ_free(fast);
	X509_REQ_free(ref);
	EVP_PKEY_free(key);
}

static const struct spec corpus[] = {
    {K_RSA, "SHA256", NULL, NULL, 0},
    {K_RSA, "SHA1", "DNS:a.example.com", NULL, 0},
    {K_RSA, "SHA512", NULL, NULL, 0},
    {K_P256, "SHA256", NULL, NULL, 0},
    {K_P384, "SHA384", NULL, NULL, 0},
    {K_P521, "SHA512", NULL, NULL, 0},
    {K_ED25519, NULL, NULL, NULL, 0},
    {K_ED448, NULL, NULL, NULL, 0},
    {K_PSS, "SHA256", "DNS:pss.example.com", "pss-secret", 0},
    {K_P256, "SHA256",
        "DNS:www.example.com,DNS:Api.Example.com,IP:10.0.0.1,"
        "IP:2001:db8::1,email:ops@example.com,URI:https://example.com/x",
        "s3cret pass", 0},
    {K_ED25519, NULL, "DNS:ed.example.com", "ed-secret", 0},
    {K_P384, "SHA224", NULL, NULL, 0},
    {K_K1, "SHA256", "DNS:k1.example.com", NULL, 0},
};

/* Also the property: whatever csr_from_der accepts, csr_parse does. */
static void
test_corpus(void **state)
{
	unsigned char *der;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		der = make_der(&corpus[i], &len);
		check_der(der, len, 1);
		OPENSSL_free(der);
	}
}

/* The SANs and the password really arrive through the fast path. */
static void
test_fields(void **state)
{
	struct spec s = corpus[9];
	struct enroll_req *req;
	unsigned char *der;
	X509_REQ *csr;
	EVP_PKEY *key;
	size_t len;
	char *pw;
	int ok;

	(void)state;
	der = make_der(&s, &len);
	assert_non_null(csr = csr_parse(der, len, &key, &ok));
	assert_int_equal(ok, 1);
	/* The key was never decoded into the request: that is the point. */
	assert_null(X509_REQ_get0_pubkey(csr));
	req = idents_of(csr);
	assert_int_equal(req->n_idents, 6);
	assert_string_equal(req->idents[1].value, "api.example.com");
	assert_string_equal(req->idents[3].value, "2001:db8::1");
	enroll_req_free(req);
	assert_non_null(pw = csr_challenge_password(csr));
	assert_string_equal(pw, "s3cret pass");
	free(pw);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
}

/* One byte changed at `off` of a copy of der: parses, does not verify. */
static void
check_flipped(const unsigned char *der, size_t len, size_t off)
{
	unsigned char *bad;

	assert_true(off < len);
	assert_non_null(bad = malloc(len));
	memcpy(bad, der, len);
	bad[off] ^= 0x01;
	check_der(bad, len, 0);
	free(bad);
}

/* Where the CN's value starts in der. */
static size_t
cn_offset(const unsigned char *der, size_t len)
{
	size_t i, n = strlen(CN);

	for (i = 0; i + n <= len; i++)
		if (memcmp(der + i, CN, n) == 0)
			return i;
	fail_msg("CN not found in the DER");
	return 0;
}

static void
test_bad_signature(void **state)
{
	static const size_t which[] = {0, 3, 5, 6, 7, 8};
	unsigned char *der;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		der = make_der(&corpus[which[i]], &len);
		/* The last byte lies in the signature BIT STRING. */
		check_flipped(der, len, len - 1);
		/* A byte of the CN, inside the signed info. */
		check_flipped(der, len, cn_offset(der, len) + 1);
		OPENSSL_free(der);
	}
}

/* An ECDSA signature algorithm on an RSA key: parses, does not verify. */
static void
test_wrong_sig_type(void **state)
{
	struct spec s = {K_RSA, "SHA256", NULL, NULL, 0};
	X509_ALGOR *alg;
	X509_REQ *req;
	unsigned char *der;
	size_t len;

	(void)state;
	req = make_req(&s);
	assert_non_null(alg = X509_ALGOR_new());
	assert_int_equal(
	    X509_ALGOR_set0(
	        alg, OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL),
	    1);
	assert_int_equal(X509_REQ_set1_signature_algo(req, alg), 1);
	X509_ALGOR_free(alg);
	der = der_of(req, &len);
	check_der(der, len, 0);
	OPENSSL_free(der);
	X509_REQ_free(req);
}

static void
assert_refused(const unsigned char *der, size_t len)
{
	EVP_PKEY *key = (EVP_PKEY *)1;
	int ok = 1;

	assert_null(csr_parse(der, len, &key, &ok));
	assert_null(key);
	assert_int_equal(ok, 0);
}

static void
test_refused(void **state)
{
	struct spec s = {K_P256, "SHA256", NULL, NULL, 0};
	unsigned char *der, *buf;
	size_t len;

	(void)state;
	der = make_der(&s, &len);
	assert_non_null(buf = malloc(len + 1));
	memcpy(buf, der, len);
	buf[len] = 0x00;
	assert_refused(buf, len + 1); /* trailing garbage */
	assert_refused(buf, len - 1); /* truncated */
	assert_refused(buf, 0);
	assert_refused(NULL, len);
	buf[0] = 0x31; /* SET, not SEQUENCE */
	assert_refused(buf, len);
	free(buf);
	OPENSSL_free(der);
	s.version = 1; /* RFC 2986 §4.1: only 0 */
	der = make_der(&s, &len);
	assert_refused(der, len);
	OPENSSL_free(der);
	/* The fallback path refuses trailing bytes as well. */
	s.key = K_PSS;
	s.version = 0;
	der = make_der(&s, &len);
	assert_non_null(buf = malloc(len + 1));
	memcpy(buf, der, len);
	buf[len] = 0x05;
	assert_refused(buf, len + 1);
	free(buf);
	OPENSSL_free(der);
}

/*
 * A P-256 point moved off the curve: the fast import refuses it, and so
 * does OpenSSL's decoder after it, so no key and no request.
 */
static void
test_off_curve(void **state)
{
	unsigned char pub[65], *der;
	size_t publen, len, i;
	X509_REQ *ref;

	(void)state;
	assert_int_equal(
	    EVP_PKEY_get_octet_string_param(keys[K_P256],
	        OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &publen),
	    1);
	assert_int_equal(publen, sizeof(pub));
	der = make_der(&corpus[3], &len);
	for (i = 0; i + publen <= len; i++)
		if (memcmp(der + i, pub, publen) == 0)
			break;
	assert_true(i + publen <= len);
	der[i + 10] ^= 0x01; /* inside X */
	/* d2i_X509_REQ still parses it, with no usable key. */
	assert_non_null(ref = csr_from_der(der, len));
	assert_null(X509_REQ_get0_pubkey(ref));
	X509_REQ_free(ref);
	assert_refused(der, len);
	OPENSSL_free(der);
}

/* enroll_req_take_csr_der keeps the key and verdict; policy uses them. */
static void
test_take_and_policy(void **state)
{
	static const char json[] = "{\"p\": {\"requesters\": [\"alice\"]}}";
	struct spec s = {K_P256, "SHA256", "DNS:h.example.com", NULL, 0};
	const struct profile *prof;
	struct policy_decision d;
	struct enroll_req *req;
	struct policy *pol;
	json_error_t jerr;
	char err[256];
	unsigned char *der;
	json_t *root;
	size_t len;

	(void)state;
	assert_non_null(root = json_loads(json, 0, &jerr));
	assert_non_null(pol = policy_new(root, err, sizeof(err)));
	json_decref(root);
	assert_non_null(prof = policy_profile(pol, "p"));
	der = make_der(&s, &len);

	assert_non_null(req = enroll_req_new(ENROLL_PROTO_EST));
	assert_int_equal(
	    enroll_req_set_requester(req, "alice", ENROLL_AUTH_PASSWORD), 0);
	assert_int_equal(enroll_req_take_csr_der(req, der, len), ENROLL_OK);
	assert_non_null(req->csr_key);
	assert_int_equal(req->csr_sig_ok, 1);
	assert_int_equal(req->n_idents, 1);
	assert_int_equal(policy_decide(prof, req, &d), RC_OK);
	/* The verdict is what the signature rule reads now. */
	req->csr_sig_ok = 0;
	assert_int_equal(policy_decide(prof, req, &d), RC_ERROR);
	assert_int_equal(d.reason, ENROLL_BAD_SIGNATURE);
	/* A garbage body is malformed; the request holds no CSR after. */
	assert_int_equal(
	    enroll_req_take_csr_der(req, der, len - 3), ENROLL_MALFORMED);
	assert_null(req->csr);
	assert_null(req->csr_key);
	enroll_req_free(req);
	OPENSSL_free(der);

	/* The key rule judges csr_key: RSA-1024 is under the minimum. */
	s.key = K_RSA1024;
	der = make_der(&s, &len);
	assert_non_null(req = enroll_req_new(ENROLL_PROTO_EST));
	assert_int_equal(
	    enroll_req_set_requester(req, "alice", ENROLL_AUTH_PASSWORD), 0);
	assert_int_equal(enroll_req_take_csr_der(req, der, len), ENROLL_OK);
	assert_int_equal(policy_decide(prof, req, &d), RC_ERROR);
	assert_int_equal(d.reason, ENROLL_BAD_KEY);
	assert_non_null(strstr(d.detail, "1024"));
	enroll_req_free(req);
	OPENSSL_free(der);
	policy_free(pol);
}

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Not an assertion: numbers to quote.  d2i alone, d2i plus verify
 * (what csr_parse replaces), csr_parse. */
static void
test_timing(void **state)
{
	struct spec s = {K_P256, "SHA256", "DNS:t.example.com", NULL, 0};
	const unsigned char *p;
	unsigned char *der;
	double t0, t_d2i, t_ver, t_fast;
	X509_REQ *csr;
	EVP_PKEY *key;
	size_t len;
	int i, ok, good = 0;

	(void)state;
	der = make_der(&s, &len);
	t0 = now_us();
	for (i = 0; i < TIMING_ROUNDS; i++) {
		p = der;
		csr = d2i_X509_REQ(NULL, &p, (long)len);
		good += csr != NULL;
		X509_REQ_free(csr);
	}
	t_d2i = (now_us() - t0) / TIMING_ROUNDS;
	t0 = now_us();
	for (i = 0; i < TIMING_ROUNDS; i++) {
		p = der;
		csr = d2i_X509_REQ(NULL, &p, (long)len);
		good += csr_verify_signature(csr) == 0;
		X509_REQ_free(csr);
	}
	t_ver = (now_us() - t0) / TIMING_ROUNDS;
	t0 = now_us();
	for (i = 0; i < TIMING_ROUNDS; i++) {
		csr = csr_parse(der, len, &key, &ok);
		good += csr != NULL && ok;
		X509_REQ_free(csr);
		EVP_PKEY_free(key);
	}
	t_fast = (now_us() - t0) / TIMING_ROUNDS;
	assert_int_equal(good, 3 * TIMING_ROUNDS);
	print_message("P-256 CSR, %d rounds: d2i_X509_REQ %.1f us, "
	              "d2i_X509_REQ + X509_REQ_verify %.1f us, "
	              "csr_parse (incl. verify) %.1f us\n",
	    TIMING_ROUNDS, t_d2i, t_ver, t_fast);
	OPENSSL_free(der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_wrong_sig_type),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_off_curve),
	    cmocka_unit_test(test_take_and_policy),
	    cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
