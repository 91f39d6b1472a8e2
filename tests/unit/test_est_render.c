/*
 * EST replies: reason -> HTTP status, base64 certs-only PKCS#7, and the
 * serverkeygen multipart/mixed body parsed back part by part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/cert.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/pkcs7.h"
#include "protocols/est/est_int.h"

static void
test_status(void **state)
{
	static const struct {
		enum enroll_reason reason;
		int status;
		unsigned retry;
	} cases[] = {
	    {ENROLL_OK, 200, 0},
	    {ENROLL_PENDING, 202, 30},
	    {ENROLL_MALFORMED, 400, 0},
	    {ENROLL_BAD_CSR, 400, 0},
	    {ENROLL_BAD_SIGNATURE, 400, 0},
	    {ENROLL_BAD_KEY, 403, 0},
	    {ENROLL_NAME_FORBIDDEN, 403, 0},
	    {ENROLL_WILDCARD_FORBIDDEN, 403, 0},
	    {ENROLL_IP_FORBIDDEN, 403, 0},
	    {ENROLL_IDENT_UNSUPPORTED, 403, 0},
	    {ENROLL_TOO_MANY_NAMES, 403, 0},
	    {ENROLL_NO_NAMES, 403, 0},
	    {ENROLL_VALIDITY, 403, 0},
	    {ENROLL_UNAUTHORIZED, 403, 0},
	    {ENROLL_RENEWAL_MISMATCH, 403, 0},
	    {ENROLL_REVOKED, 403, 0},
	    {ENROLL_NOT_FOUND, 404, 0},
	    {ENROLL_UNKNOWN_PROFILE, 500, 0},
	    {ENROLL_BACKEND_ERROR, 503, 30},
	    {ENROLL_STORE_ERROR, 500, 0},
	    {ENROLL_CONFLICT, 500, 0},
	    {ENROLL_INTERNAL, 500, 0},
	    {ENROLL_SHUTTING_DOWN, 503, 30},
	    {(enum enroll_reason)999, 500, 0},
	};
	unsigned retry;
	size_t i;

	(void)state;
	/* Every reason has a row: a new reason must be mapped on purpose. */
	assert_int_equal(
	    sizeof(cases) / sizeof(cases[0]) - 1, ENROLL_REASON_MAX);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		retry = 12345;
		assert_int_equal(est_render_status(cases[i].reason, &retry),
		    cases[i].status);
		assert_int_equal(retry, cases[i].retry);
	}
}

static X509 *
self_signed(EVP_PKEY *key)
{
	X509_NAME *name;
	X509 *x;

	x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	        (const unsigned char *)"device.example", -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

/* Every line of b64 ends in CRLF and holds at most 76 characters. */
static void
check_lines(const char *b64, size_t len)
{
	const char *p = b64, *end = b64 + len, *crlf;

	assert_true(len >= 2);
	assert_memory_equal(end - 2, "\r\n", 2);
	while (p < end) {
		crlf = strstr(p, "\r\n");
		assert_non_null(crlf);
		assert_true(crlf - p <= 76);
		assert_true(crlf > p);
		p = crlf + 2;
	}
}

/* The one certificate of a base64 certs-only PKCS#7; caller frees. */
static X509 *
only_cert(const char *b64, size_t len)
{
	STACK_OF(X509) *certs;
	unsigned char *der;
	size_t derlen;
	X509 *x;

	der = encoding_b64_decode(b64, len, &derlen);
	assert_non_null(der);
	certs = pkcs7_certs_only_parse(der, derlen);
	assert_non_null(certs);
	assert_int_equal(sk_X509_num(certs), 1);
	x = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	free(der);
	return x;
}

static void
test_certs_b64(void **state)
{
	EVP_PKEY *key;
	X509 *cert, *back;
	size_t len;
	char *b64;

	(void)state;
	key = cert_keygen(KEY_P256, 0);
	assert_non_null(key);
	cert = self_signed(key);
	b64 = est_render_certs_b64(cert, NULL, &len);
	assert_non_null(b64);
	assert_int_equal(strlen(b64), len);
	check_lines(b64, len);
	back = only_cert(b64, len);
	assert_int_equal(X509_cmp(back, cert), 0);
	X509_free(back);
	free(b64);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* The part between "--boundary\r\n" at *pos and the next delimiter:
 * checks its two headers, returns its body (borrowed) and length. */
static const char *
next_part(const char *delim, const char *ctype, const char **pos, size_t *len)
{
	char head[256];
	const char *p = *pos, *next;

	snprintf(head, sizeof(head),
	    "%s\r\nContent-Type: %s\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n",
	    delim, ctype);
	assert_memory_equal(p, head, strlen(head));
	p += strlen(head);
	next = strstr(p, delim);
	assert_non_null(next);
	*len = (size_t)(next - p);
	*pos = next;
	return p;
}

static void
test_serverkeygen_multipart(void **state)
{
	PKCS8_PRIV_KEY_INFO *p8;
	const unsigned char *q;
	const char *pos, *part;
	char ctype[96], delim[96], closing[100], *body;
	unsigned char *der;
	EVP_PKEY *key, *back_key;
	X509 *cert, *back;
	size_t len, plen, derlen;

	(void)state;
	key = cert_keygen(KEY_P256, 0);
	assert_non_null(key);
	cert = self_signed(key);
	body = est_render_serverkeygen(key, cert, &len, ctype, sizeof(ctype));
	assert_non_null(body);
	assert_int_equal(strlen(body), len);
	assert_int_equal(strncmp(ctype, "multipart/mixed; boundary=", 26), 0);
	assert_true(strlen(ctype + 26) >= 16);
	snprintf(delim, sizeof(delim), "--%s", ctype + 26);
	snprintf(closing, sizeof(closing), "%s--\r\n", delim);

	/* Part 1: PKCS#8 PrivateKeyInfo of the very key. */
	pos = body;
	part = next_part(delim, "application/pkcs8", &pos, &plen);
	check_lines(part, plen);
	der = encoding_b64_decode(part, plen, &derlen);
	assert_non_null(der);
	q = der;
	p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)derlen);
	assert_non_null(p8);
	assert_ptr_equal(q, der + derlen);
	back_key = EVP_PKCS82PKEY(p8);
	assert_non_null(back_key);
	assert_int_equal(EVP_PKEY_eq(back_key, key), 1);
	EVP_PKEY_free(back_key);
	PKCS8_PRIV_KEY_INFO_free(p8);
	free(der);

	/* Part 2: the certificate, certs-only PKCS#7. */
	part = next_part(delim, "application/pkcs7-mime; smime-type=certs-only",
	    &pos, &plen);
	check_lines(part, plen);
	back = only_cert(part, plen);
	assert_int_equal(X509_cmp(back, cert), 0);
	X509_free(back);

	/* Then the closing delimiter and nothing after it. */
	assert_string_equal(pos, closing);

	free(body);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Two renderings use different boundaries. */
static void
test_boundary_random(void **state)
{
	char ct1[96], ct2[96], *b1, *b2;
	EVP_PKEY *key, *ca_key;
	X509 *cert;
	size_t l1, l2;

	(void)state;
	/* Rendering does not care that the key is not the cert's. */
	key = cert_keygen(KEY_ED25519, 0);
	ca_key = cert_keygen(KEY_P256, 0);
	assert_non_null(key);
	assert_non_null(ca_key);
	cert = self_signed(ca_key);
	b1 = est_render_serverkeygen(key, cert, &l1, ct1, sizeof(ct1));
	b2 = est_render_serverkeygen(key, cert, &l2, ct2, sizeof(ct2));
	assert_non_null(b1);
	assert_non_null(b2);
	assert_string_not_equal(ct1, ct2);
	/* A too-small Content-Type buffer fails cleanly. */
	assert_null(est_render_serverkeygen(key, cert, &l1, ct1, 20));
	free(b1);
	free(b2);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_certs_b64),
	    cmocka_unit_test(test_serverkeygen_multipart),
	    cmocka_unit_test(test_boundary_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
