/*
 * core/pkcs7.c: certs-only SignedData built, parsed back, and read by
 * OpenSSL's own PKCS7 and CMS parsers.  The certificates come from
 * cert_make_root_ca, so the root CA and the PEM/key file helpers of
 * core/cert.c are checked here too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/pkcs7.h"

#define NCA 3

static EVP_PKEY *keys[NCA];
static X509 *cas[NCA];

static int
setup_cas(void **state)
{
	static const char *const names[NCA] = {"Root A", "Root B", "Root C"};
	static const enum key_kind kinds[NCA] = {
	    KEY_P256, KEY_ED25519, KEY_P384};
	size_t i;

	(void)state;
	for (i = 0; i < NCA; i++) {
		if ((keys[i] = cert_keygen(kinds[i], 0)) == NULL)
			return -1;
		if ((cas[i] = cert_make_root_ca(keys[i], names[i], 30)) == NULL)
			return -1;
	}
	return 0;
}

static int
teardown_cas(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NCA; i++) {
		X509_free(cas[i]);
		EVP_PKEY_free(keys[i]);
	}
	return 0;
}

/* cas[1..] as a stack of borrowed pointers (sk_X509_free only). */
static STACK_OF(X509) *
rest_stack(void)
{
	STACK_OF(X509) *sk;
	size_t i;

	sk = sk_X509_new_null();
	assert_non_null(sk);
	for (i = 1; i < NCA; i++)
		assert_true(sk_X509_push(sk, cas[i]) > 0);
	return sk;
}

static void
assert_same_certs(const STACK_OF(X509) *got)
{
	int i;

	assert_int_equal(sk_X509_num(got), NCA);
	for (i = 0; i < NCA; i++)
		assert_int_equal(X509_cmp(sk_X509_value(got, i), cas[i]), 0);
}

static void
test_roundtrip(void **state)
{
	STACK_OF(X509) *rest, *got;
	unsigned char *der;
	size_t len = 0;

	(void)state;
	rest = rest_stack();
	der = pkcs7_certs_only_der(cas[0], rest, &len);
	assert_non_null(der);
	assert_true(len > 0);
	got = pkcs7_certs_only_parse(der, len);
	assert_non_null(got);
	assert_same_certs(got);
	sk_X509_pop_free(got, X509_free);
	/* The inputs still hold their own references. */
	assert_int_equal(X509_cmp(sk_X509_value(rest, 0), cas[1]), 0);
	sk_X509_free(rest);
	OPENSSL_free(der);
}

static void
test_openssl_reads_it(void **state)
{
	STACK_OF(X509) *rest, *certs;
	const unsigned char *p;
	ASN1_OCTET_STRING **pos;
	CMS_ContentInfo *cms;
	unsigned char *der;
	PKCS7 *p7;
	size_t len = 0;

	(void)state;
	rest = rest_stack();
	der = pkcs7_certs_only_der(cas[0], rest, &len);
	assert_non_null(der);
	/* PKCS7 API */
	p = der;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_ptr_equal(p, der + len);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	/* RFC 5272 §4.1: id-data with eContent omitted. */
	assert_true(PKCS7_type_is_data(p7->d.sign->contents));
	assert_null(p7->d.sign->contents->d.data);
	assert_same_certs(p7->d.sign->cert);
	PKCS7_free(p7);
	/* CMS API */
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	assert_non_null(cms);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)), NID_pkcs7_signed);
	/* A pointer to the eContent slot, which must be empty. */
	pos = CMS_get0_content(cms);
	assert_non_null(pos);
	assert_null(*pos);
	certs = CMS_get1_certs(cms);
	assert_non_null(certs);
	assert_same_certs(certs);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	sk_X509_free(rest);
	OPENSSL_free(der);
}

static void
test_first_or_rest_only(void **state)
{
	STACK_OF(X509) *got;
	unsigned char *der;
	size_t len;

	(void)state;
	der = pkcs7_certs_only_der(cas[2], NULL, &len);
	assert_non_null(der);
	got = pkcs7_certs_only_parse(der, len);
	assert_non_null(got);
	assert_int_equal(sk_X509_num(got), 1);
	assert_int_equal(X509_cmp(sk_X509_value(got, 0), cas[2]), 0);
	sk_X509_pop_free(got, X509_free);
	OPENSSL_free(der);
	/* An empty bag is well formed and gives an empty stack. */
	der = pkcs7_certs_only_der(NULL, NULL, &len);
	assert_non_null(der);
	got = pkcs7_certs_only_parse(der, len);
	assert_non_null(got);
	assert_int_equal(sk_X509_num(got), 0);
	sk_X509_free(got);
	OPENSSL_free(der);
}

static void
test_parse_rejects(void **state)
{
	unsigned char *der, *longer, *sdata = NULL;
	BIO *data;
	PKCS7 *p7;
	size_t len;
	int n;

	(void)state;
	der = pkcs7_certs_only_der(cas[0], NULL, &len);
	assert_non_null(der);
	assert_null(pkcs7_certs_only_parse(der, len - 1));
	assert_null(pkcs7_certs_only_parse(der, 0));
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_null(pkcs7_certs_only_parse(longer, len + 1));
	free(longer);
	OPENSSL_free(der);
	/* A certificate is DER but not a ContentInfo. */
	sdata = NULL;
	n = i2d_X509(cas[0], &sdata);
	assert_true(n > 0);
	assert_null(pkcs7_certs_only_parse(sdata, (size_t)n));
	OPENSSL_free(sdata);
	/* A real signed message (one signer) is not a certs-only bag. */
	data = BIO_new_mem_buf("hello", 5);
	assert_non_null(data);
	p7 = PKCS7_sign(cas[0], keys[0], NULL, data, PKCS7_BINARY);
	assert_non_null(p7);
	sdata = NULL;
	n = i2d_PKCS7(p7, &sdata);
	assert_true(n > 0);
	assert_null(pkcs7_certs_only_parse(sdata, (size_t)n));
	OPENSSL_free(sdata);
	PKCS7_free(p7);
	BIO_free(data);
}

static void
test_root_ca(void **state)
{
	const ASN1_OCTET_STRING *ski, *akid;
	const ASN1_INTEGER *serial;
	X509_EXTENSION *ext;
	char hex[64], *subject;
	time_t now = time(NULL), nb, na;
	size_t i;
	int idx;

	(void)state;
	for (i = 0; i < NCA; i++) {
		/* Self-signed, signature checked. */
		assert_int_equal(X509_self_signed(cas[i], 1), 1);
		assert_int_equal(X509_check_ca(cas[i]), 1);
		assert_int_equal(X509_get_version(cas[i]), X509_VERSION_3);
		assert_int_equal(X509_get_key_usage(cas[i]),
		    KU_KEY_CERT_SIGN | KU_CRL_SIGN | KU_DIGITAL_SIGNATURE);
		idx = X509_get_ext_by_NID(cas[i], NID_basic_constraints, -1);
		ext = X509_get_ext(cas[i], idx);
		assert_non_null(ext);
		assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
		idx = X509_get_ext_by_NID(cas[i], NID_key_usage, -1);
		ext = X509_get_ext(cas[i], idx);
		assert_non_null(ext);
		assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
		ski = X509_get0_subject_key_id(cas[i]);
		akid = X509_get0_authority_key_id(cas[i]);
		assert_non_null(ski);
		assert_non_null(akid);
		assert_int_equal(ASN1_OCTET_STRING_cmp(ski, akid), 0);
		/* 16-octet positive serial. */
		serial = X509_get0_serialNumber(cas[i]);
		assert_int_equal(ASN1_STRING_type(serial), V_ASN1_INTEGER);
		assert_int_equal(ASN1_STRING_length(serial), 16);
		assert_int_equal(cert_serial_hex(cas[i], hex, sizeof(hex)), 0);
		assert_int_equal(strlen(hex), 32);
		assert_int_equal(cert_serial_hex(cas[i], hex, 32), -1);
		/* Validity. */
		nb = cert_asn1_time(X509_get0_notBefore(cas[i]));
		na = cert_asn1_time(X509_get0_notAfter(cas[i]));
		assert_true(nb <= now - 299 && nb >= now - 310);
		assert_true(
		    na >= now + 30 * 86400 - 10 && na <= now + 30 * 86400 + 10);
	}
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(cas[0]),
	                         X509_get0_serialNumber(cas[1])),
	    0);
	subject = cert_name_text(X509_get_subject_name(cas[0]));
	assert_non_null(subject);
	assert_string_equal(subject, "CN=Root A,O=enrolld");
	free(subject);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cas[0]),
	                     X509_get_issuer_name(cas[0])),
	    0);
	assert_null(cert_make_root_ca(keys[0], "x", 0));
	assert_null(cert_make_root_ca(keys[0], "", 10));
	assert_int_equal(cert_asn1_time(NULL), -1);
}

static void
test_pem_memory(void **state)
{
	char *pem;
	X509 *back;

	(void)state;
	pem = cert_to_pem(cas[1]);
	assert_non_null(pem);
	assert_int_equal(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28), 0);
	back = cert_from_pem(pem, strlen(pem));
	assert_non_null(back);
	assert_int_equal(X509_cmp(back, cas[1]), 0);
	X509_free(back);
	assert_null(cert_from_pem(pem, 40));
	free(pem);
}

static void
test_pem_files(void **state)
{
	char dir[] = "/tmp/enrolld-test-XXXXXX", certs[64], keyf[64];
	STACK_OF(X509) *chain;
	struct stat st;
	EVP_PKEY *key;
	X509 *one;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(certs, sizeof(certs), "%s/chain.pem", dir);
	snprintf(keyf, sizeof(keyf), "%s/key.pem", dir);
	/* Certificates in order, 0644. */
	assert_int_equal(cert_save_pem(certs, cas, NCA, 0), 0);
	assert_int_equal(stat(certs, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(cert_save_pem(certs, cas, NCA, 0), -1);
	chain = cert_load_pem_chain(certs);
	assert_non_null(chain);
	assert_same_certs(chain);
	sk_X509_pop_free(chain, X509_free);
	one = cert_load_pem(certs);
	assert_non_null(one);
	assert_int_equal(X509_cmp(one, cas[0]), 0);
	X509_free(one);
	assert_int_equal(cert_save_pem(certs, cas + 2, 1, 1), 0);
	chain = cert_load_pem_chain(certs);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 1);
	sk_X509_pop_free(chain, X509_free);
	/* Key: PKCS#8, 0600, no silent overwrite. */
	assert_int_equal(cert_save_key(keyf, keys[1], 0), 0);
	assert_int_equal(stat(keyf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cert_save_key(keyf, keys[0], 0), -1);
	key = cert_load_key(keyf);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(key, keys[1]), 1);
	EVP_PKEY_free(key);
	assert_int_equal(cert_save_key(keyf, keys[0], 1), 0);
	key = cert_load_key(keyf);
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_eq(key, keys[0]), 1);
	EVP_PKEY_free(key);
	/* A key file is not a certificate file. */
	assert_null(cert_load_pem_chain(keyf));
	assert_null(cert_load_pem("/nonexistent/enrolld.pem"));
	unlink(certs);
	unlink(keyf);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_openssl_reads_it),
	    cmocka_unit_test(test_first_or_rest_only),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_root_ca),
	    cmocka_unit_test(test_pem_memory),
	    cmocka_unit_test(test_pem_files),
	};

	return cmocka_run_group_tests(tests, setup_cas, teardown_cas);
}
