/*
 * core/csr.c (and the key kinds of core/cert.c): parsing with exact
 * consumption, the self-signature, identifiers from SANs and the CN
 * fallback, challengePassword.  CSRs are made at run time with OpenSSL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/csr.h"
#include "core/enroll.h"

static EVP_PKEY *rsa1024, *rsa2048, *p256, *p384, *ed25519;

static int
setup_keys(void **state)
{
	(void)state;
	/* cert_keygen refuses 1024 bits by design; peers may still send it. */
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	rsa2048 = cert_keygen(KEY_RSA, 2048);
	p256 = cert_keygen(KEY_P256, 0);
	p384 = cert_keygen(KEY_P384, 0);
	ed25519 = cert_keygen(KEY_ED25519, 0);
	if (rsa1024 == NULL || rsa2048 == NULL || p256 == NULL ||
	    p384 == NULL || ed25519 == NULL)
		return -1;
	return 0;
}

static int
teardown_keys(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed25519);
	return 0;
}

/* Signed X509_REQ with subject O=Acme,CN=`cn` (cn may be NULL) and
 * `exts` (may be NULL) as its extension request. */
static X509_REQ *
make_req(EVP_PKEY *key, const char *cn, STACK_OF(X509_EXTENSION) *exts)
{
	const EVP_MD *md = EVP_sha256();
	X509_NAME *name;
	X509_REQ *req;

	req = X509_REQ_new();
	assert_non_null(req);
	name = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	                     (const unsigned char *)"Acme", -1, -1, 0),
	    1);
	if (cn != NULL)
		assert_int_equal(
		    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
		        (const unsigned char *)cn, -1, -1, 0),
		    1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (exts != NULL)
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
		md = NULL;
	assert_true(X509_REQ_sign(req, key, md) > 0);
	return req;
}

/* Extension stack with one SAN written in openssl.cnf syntax. */
static STACK_OF(X509_EXTENSION) *
san_exts(const char *san)
{
	STACK_OF(X509_EXTENSION) *exts;
	X509_EXTENSION *ext;

	exts = sk_X509_EXTENSION_new_null();
	assert_non_null(exts);
	ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, san);
	assert_non_null(ext);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	return exts;
}

/* DER of a CSR; malloc'd by OpenSSL. */
static unsigned char *
make_der(EVP_PKEY *key, const char *cn, const char *san, size_t *len)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *der = NULL;
	X509_REQ *req;
	int n;

	if (san != NULL)
		exts = san_exts(san);
	req = make_req(key, cn, exts);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	*len = (size_t)n;
	X509_REQ_free(req);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return der;
}

/* Parse + collect; returns the request (caller frees) and the rc. */
static struct enroll_req *
collect(EVP_PKEY *key, const char *cn, const char *san, int *rc)
{
	struct enroll_req *req;
	unsigned char *der;
	X509_REQ *csr;
	size_t len;

	der = make_der(key, cn, san, &len);
	csr = csr_from_der(der, len);
	assert_non_null(csr);
	req = enroll_req_new(ENROLL_PROTO_CLI);
	assert_non_null(req);
	*rc = csr_collect_idents(csr, req);
	X509_REQ_free(csr);
	OPENSSL_free(der);
	return req;
}

static void
assert_ident(const struct enroll_req *req, size_t i, enum ident_type type,
    const char *value)
{
	assert_true(i < req->n_idents);
	assert_int_equal(req->idents[i].type, type);
	assert_string_equal(req->idents[i].value, value);
}

static void
test_parse_exact(void **state)
{
	unsigned char *der, *longer;
	X509_REQ *csr;
	size_t len;

	(void)state;
	der = make_der(p256, "host.example.com", NULL, &len);
	csr = csr_from_der(der, len);
	assert_non_null(csr);
	X509_REQ_free(csr);
	/* Truncated by one byte. */
	assert_null(csr_from_der(der, len - 1));
	/* One trailing byte, then a whole second CSR. */
	longer = malloc(2 * len);
	assert_non_null(longer);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_null(csr_from_der(longer, len + 1));
	memcpy(longer + len, der, len);
	assert_null(csr_from_der(longer, 2 * len));
	assert_null(csr_from_der(der, 0));
	assert_null(csr_from_der((const unsigned char *)"\x30\x00", 2));
	free(longer);
	OPENSSL_free(der);
}

static void
test_parse_pem(void **state)
{
	X509_REQ *req, *csr;
	BIO *bio;
	char *data;
	long n;

	(void)state;
	req = make_req(p256, "host.example.com", NULL);
	/* "CERTIFICATE REQUEST" */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	n = BIO_get_mem_data(bio, &data);
	csr = csr_from_pem(data, (size_t)n);
	assert_non_null(csr);
	assert_int_equal(X509_REQ_get_version(csr), 0);
	X509_REQ_free(csr);
	/* Not a CSR at all. */
	assert_null(csr_from_pem(data, 20));
	BIO_free(bio);
	/* "NEW CERTIFICATE REQUEST" */
	bio = BIO_new(BIO_s_mem());
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509_REQ_NEW(bio, req), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(strstr(data, "NEW CERTIFICATE REQUEST"));
	csr = csr_from_pem(data, (size_t)n);
	assert_non_null(csr);
	X509_REQ_free(csr);
	BIO_free(bio);
	X509_REQ_free(req);
}

/* First occurrence of `s` in buf (memmem is a GNU extension). */
static unsigned char *
find(unsigned char *buf, size_t len, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i + n <= len; i++)
		if (memcmp(buf + i, s, n) == 0)
			return buf + i;
	return NULL;
}

static void
test_signature(void **state)
{
	EVP_PKEY *keys[] = {rsa2048, p256, ed25519};
	unsigned char *der, *cn;
	X509_REQ *csr;
	size_t len, i;

	(void)state;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		der = make_der(keys[i], "tamper.example.com", NULL, &len);
		csr = csr_from_der(der, len);
		assert_non_null(csr);
		assert_int_equal(csr_verify_signature(csr), 0);
		X509_REQ_free(csr);
		/* Change one byte of the signed subject. */
		cn = find(der, len, "tamper");
		assert_non_null(cn);
		cn[0] = 'T';
		csr = csr_from_der(der, len);
		assert_non_null(csr);
		assert_int_equal(csr_verify_signature(csr), -1);
		X509_REQ_free(csr);
		OPENSSL_free(der);
	}
}

static void
test_key_kinds(void **state)
{
	static const struct {
		EVP_PKEY **key;
		enum key_kind kind;
		int bits;
	} cases[] = {
	    {&rsa1024, KEY_RSA, 1024},
	    {&rsa2048, KEY_RSA, 2048},
	    {&p256, KEY_P256, 256},
	    {&p384, KEY_P384, 384},
	    {&ed25519, KEY_ED25519, 256},
	};
	unsigned char *der;
	X509_REQ *csr;
	size_t len, i;
	int bits;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = make_der(*cases[i].key, "k.example.com", NULL, &len);
		csr = csr_from_der(der, len);
		assert_non_null(csr);
		assert_int_equal(csr_verify_signature(csr), 0);
		bits = -1;
		assert_int_equal(
		    cert_key_kind(X509_REQ_get0_pubkey(csr), &bits),
		    cases[i].kind);
		assert_int_equal(bits, cases[i].bits);
		X509_REQ_free(csr);
		OPENSSL_free(der);
	}
	assert_int_equal(cert_key_kind(NULL, &bits), KEY_UNKNOWN);
	assert_null(cert_keygen(KEY_RSA, 1024));
}

static void
test_key_kind_names(void **state)
{
	int bits = 0;

	(void)state;
	assert_string_equal(cert_key_kind_name(KEY_P384), "p384");
	assert_string_equal(cert_key_kind_name(KEY_ED25519), "ed25519");
	assert_int_equal(cert_key_kind_parse("p256", NULL), KEY_P256);
	assert_int_equal(cert_key_kind_parse("ED448", NULL), KEY_ED448);
	assert_int_equal(cert_key_kind_parse("rsa3072", &bits), KEY_RSA);
	assert_int_equal(bits, 3072);
	assert_int_equal(cert_key_kind_parse("rsa", &bits), KEY_RSA);
	assert_int_equal(bits, 3072);
	assert_int_equal(cert_key_kind_parse("unknown", NULL), -1);
	assert_int_equal(cert_key_kind_parse("dsa", NULL), -1);
}

static void
test_san_idents(void **state)
{
	struct enroll_req *req;
	int rc;

	(void)state;
	req = collect(p256, "ignored.example.com",
	    "DNS:WWW.Example.COM,IP:192.0.2.7,IP:2001:DB8:0:0:0:0:0:1,"
	    "email:Admin@Example.com,URI:https://example.com/Dev,"
	    "otherName:1.2.3.4;UTF8:ignored,DNS:*.Example.com",
	    &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 6);
	assert_ident(req, 0, IDENT_DNS, "www.example.com");
	assert_ident(req, 1, IDENT_IP, "192.0.2.7");
	assert_int_equal(req->idents[1].ip_len, 4);
	assert_ident(req, 2, IDENT_IP, "2001:db8::1");
	assert_int_equal(req->idents[2].ip_len, 16);
	assert_ident(req, 3, IDENT_EMAIL, "Admin@Example.com");
	assert_ident(req, 4, IDENT_URI, "https://example.com/Dev");
	assert_ident(req, 5, IDENT_DNS, "*.example.com");
	assert_string_equal(req->subject, "CN=ignored.example.com,O=Acme");
	enroll_req_free(req);
}

static void
test_cn_fallback(void **state)
{
	struct enroll_req *req;
	int rc;

	(void)state;
	/* No SAN: a host name CN. */
	req = collect(rsa2048, "Host.Example.COM", NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 1);
	assert_ident(req, 0, IDENT_DNS, "host.example.com");
	enroll_req_free(req);
	/* An IP CN, canonicalised. */
	req = collect(p256, "2001:DB8::0:1", NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 1);
	assert_ident(req, 0, IDENT_IP, "2001:db8::1");
	enroll_req_free(req);
	req = collect(p256, "192.0.2.9", NULL, &rc);
	assert_int_equal(rc, 0);
	assert_ident(req, 0, IDENT_IP, "192.0.2.9");
	enroll_req_free(req);
	/* SAN with an email only: the CN still counts. */
	req = collect(p256, "*.example.com", "email:a@example.com", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 2);
	assert_ident(req, 0, IDENT_EMAIL, "a@example.com");
	assert_ident(req, 1, IDENT_DNS, "*.example.com");
	enroll_req_free(req);
	/* A dNSName SAN: the CN is not looked at. */
	req = collect(p256, "other.example.com", "DNS:a.example.com", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 1);
	assert_ident(req, 0, IDENT_DNS, "a.example.com");
	enroll_req_free(req);
	/* An iPAddress SAN also suppresses the CN. */
	req = collect(p256, "other.example.com", "IP:10.0.0.1", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 1);
	assert_ident(req, 0, IDENT_IP, "10.0.0.1");
	enroll_req_free(req);
}

static void
test_cn_not_a_name(void **state)
{
	static const char *const cns[] = {"John Smith", "-bad.example.com",
	    "bad-.example.com", "a..example.com", "example.com.",
	    "*.*.example.com", "host_1.example.com", "*."};
	struct enroll_req *req;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cns) / sizeof(cns[0]); i++) {
		req = collect(p256, cns[i], NULL, &rc);
		assert_int_equal(rc, 0);
		assert_int_equal(req->n_idents, 0);
		assert_non_null(req->subject);
		enroll_req_free(req);
	}
	/* No CN at all. */
	req = collect(p256, NULL, NULL, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(req->n_idents, 0);
	assert_string_equal(req->subject, "O=Acme");
	enroll_req_free(req);
}

/* Collect from a CSR carrying `exts`; returns the rc. */
static int
collect_exts(STACK_OF(X509_EXTENSION) *exts)
{
	struct enroll_req *req;
	unsigned char *der = NULL;
	X509_REQ *csr, *parsed;
	int n, rc;

	csr = make_req(p256, "x.example.com", exts);
	n = i2d_X509_REQ(csr, &der);
	assert_true(n > 0);
	parsed = csr_from_der(der, (size_t)n);
	assert_non_null(parsed);
	req = enroll_req_new(ENROLL_PROTO_CLI);
	assert_non_null(req);
	rc = csr_collect_idents(parsed, req);
	enroll_req_free(req);
	X509_REQ_free(parsed);
	X509_REQ_free(csr);
	OPENSSL_free(der);
	return rc;
}

/* SAN extension holding one dNSName of `len` raw bytes. */
static X509_EXTENSION *
raw_dns_ext(const char *name, int len)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gen;
	ASN1_IA5STRING *ia5;
	X509_EXTENSION *ext;

	gens = GENERAL_NAMES_new();
	gen = GENERAL_NAME_new();
	ia5 = ASN1_IA5STRING_new();
	assert_true(gens != NULL && gen != NULL && ia5 != NULL);
	assert_int_equal(ASN1_STRING_set(ia5, name, len), 1);
	GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
	assert_true(sk_GENERAL_NAME_push(gens, gen) > 0);
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	assert_non_null(ext);
	GENERAL_NAMES_free(gens);
	return ext;
}

/* SAN extension whose value is `len` raw bytes. */
static X509_EXTENSION *
raw_san_ext(const unsigned char *value, int len)
{
	ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;

	os = ASN1_OCTET_STRING_new();
	assert_non_null(os);
	assert_int_equal(ASN1_OCTET_STRING_set(os, value, len), 1);
	ext = X509_EXTENSION_create_by_NID(NULL, NID_subject_alt_name, 0, os);
	assert_non_null(ext);
	ASN1_OCTET_STRING_free(os);
	return ext;
}

/* collect_exts on a stack of the one extension `ext` (consumed). */
static int
collect_one(X509_EXTENSION *ext)
{
	STACK_OF(X509_EXTENSION) *exts;
	int rc;

	exts = sk_X509_EXTENSION_new_null();
	assert_non_null(exts);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	rc = collect_exts(exts);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

static void
test_bad_sans(void **state)
{
	static const char *const bad[] = {"a\0b.example.com", "a b.example",
	    "a\x01.example", "caf\xc3\xa9.example", ""};
	static const int lens[] = {15, 11, 11, 13, 0};
	/* SEQUENCE { dNSName "ok.example" } followed by one stray byte. */
	static const unsigned char trailing[] = {0x30, 0x0c, 0x82, 0x0a, 'o',
	    'k', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x00};
	/* SEQUENCE { iPAddress of 5 bytes } */
	static const unsigned char ip5[] = {
	    0x30, 0x07, 0x87, 0x05, 1, 2, 3, 4, 5};
	STACK_OF(X509_EXTENSION) *exts;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(collect_one(raw_dns_ext(bad[i], lens[i])), -1);
	/* The same constructions, clean, work. */
	assert_int_equal(collect_one(raw_dns_ext("ok.example", 10)), 0);
	assert_int_equal(
	    collect_one(raw_san_ext(trailing, (int)sizeof(trailing) - 1)), 0);
	assert_int_equal(
	    collect_one(raw_san_ext(trailing, (int)sizeof(trailing))), -1);
	assert_int_equal(collect_one(raw_san_ext(ip5, (int)sizeof(ip5))), -1);
	/* Not DER at all. */
	assert_int_equal(collect_one(raw_san_ext(ip5 + 2, 3)), -1);
	/* Two SAN extensions (RFC 5280 §4.2: at most one). */
	exts = sk_X509_EXTENSION_new_null();
	assert_non_null(exts);
	assert_true(
	    sk_X509_EXTENSION_push(exts, raw_dns_ext("ok.example", 10)) > 0);
	assert_true(
	    sk_X509_EXTENSION_push(exts, raw_dns_ext("ok2.example", 11)) > 0);
	assert_int_equal(collect_exts(exts), -1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void
test_subject_replaced(void **state)
{
	struct enroll_req *req;
	unsigned char *der;
	X509_REQ *csr;
	size_t len;

	(void)state;
	req = enroll_req_new(ENROLL_PROTO_CLI);
	assert_non_null(req);
	req->subject = strdup("CN=old");
	assert_non_null(req->subject);
	der = make_der(p256, "new.example.com", NULL, &len);
	csr = csr_from_der(der, len);
	assert_non_null(csr);
	/* Through enroll_req_take_csr: it owns csr from here. */
	assert_int_equal(enroll_req_take_csr(req, csr), ENROLL_OK);
	assert_string_equal(req->subject, "CN=new.example.com,O=Acme");
	assert_int_equal(req->n_idents, 1);
	enroll_req_free(req);
	OPENSSL_free(der);
}

static void
test_challenge_password(void **state)
{
	X509_REQ *req;
	char *pw;

	(void)state;
	req = make_req(p256, "x.example.com", NULL);
	assert_null(csr_challenge_password(req));
	assert_int_equal(
	    X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
	        MBSTRING_ASC, (const unsigned char *)"s3cret-otp", -1),
	    1);
	pw = csr_challenge_password(req);
	assert_non_null(pw);
	assert_string_equal(pw, "s3cret-otp");
	free(pw);
	X509_REQ_free(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_exact),
	    cmocka_unit_test(test_parse_pem),
	    cmocka_unit_test(test_signature),
	    cmocka_unit_test(test_key_kinds),
	    cmocka_unit_test(test_key_kind_names),
	    cmocka_unit_test(test_san_idents),
	    cmocka_unit_test(test_cn_fallback),
	    cmocka_unit_test(test_cn_not_a_name),
	    cmocka_unit_test(test_bad_sans),
	    cmocka_unit_test(test_subject_replaced),
	    cmocka_unit_test(test_challenge_password),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
