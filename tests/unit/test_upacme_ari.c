/*
 * ACME Renewal Information (RFC 9773) in the upstream engine
 * (backends/acme/upacme*.c): the certificate id of §4.1 and `replaces`
 * in newOrder (§5), sent only when the directory lists renewalInfo.
 * Pebble has no ARI, so the upstream here is the fake of fake_acme.h,
 * its newOrder scripted to refuse with rejectedIdentifier so that the
 * order ends at once, after the fake kept its JWS payload.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/acme/upacme.h"
#include "tests/unit/fake_acme.h"

/* A self-signed certificate with serial `serial` (hex) and an AKI of
 * exactly `keyid` (NULL: an AKI naming only issuer and serial).  Caller
 * frees. */
static X509 *
make_aki_cert(const unsigned char *keyid, size_t len, const char *serial)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	GENERAL_NAME *gn;
	X509_NAME *name;
	X509 *x;

	assert_non_null(key);
	assert_non_null(akid);
	x = fake_make_cert(key, "ari", serial, NULL, NULL, 0);
	if (keyid != NULL) {
		assert_non_null(akid->keyid = ASN1_OCTET_STRING_new());
		assert_int_equal(
		    ASN1_OCTET_STRING_set(akid->keyid, keyid, (int)len), 1);
	} else {
		assert_non_null(akid->issuer = GENERAL_NAMES_new());
		assert_non_null(gn = GENERAL_NAME_new());
		assert_non_null(name = X509_NAME_dup(X509_get_subject_name(x)));
		GENERAL_NAME_set0_value(gn, GEN_DIRNAME, name);
		assert_true(sk_GENERAL_NAME_push(akid->issuer, gn) > 0);
		assert_non_null(
		    akid->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(x)));
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier,
	                     akid, 0, X509V3_ADD_REPLACE),
	    1);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	AUTHORITY_KEYID_free(akid);
	EVP_PKEY_free(key);
	return x;
}

/* base64url without padding (RFC 4648 §5), by way of EVP_EncodeBlock
 * rather than the library's encoder.  Caller frees. */
static char *
ref_b64url(const unsigned char *in, size_t len)
{
	char *s = malloc(4 * ((len + 2) / 3) + 1);
	size_t i, n;

	assert_non_null(s);
	n = (size_t)EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (i = 0; i < n; i++)
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	return s;
}

/*
 * The ARI certificate id of `x` as RFC 9773 §4.1 builds it: the AKI
 * extension's keyIdentifier, ".", the serial's DER INTEGER without tag
 * and length (serials are at most 20 octets, RFC 5280 §4.1.2.2: a
 * one-octet length).  Caller frees.
 */
static char *
ref_ari_id(X509 *x)
{
	AUTHORITY_KEYID *akid;
	unsigned char *der = NULL;
	char *a, *s, *ret;
	size_t n;
	int len;

	akid = X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	a = ref_b64url(ASN1_STRING_get0_data(akid->keyid),
	    (size_t)ASN1_STRING_length(akid->keyid));
	len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
	assert_true(len > 2);
	assert_int_equal(der[0], V_ASN1_INTEGER);
	assert_int_equal(der[1], len - 2);
	s = ref_b64url(der + 2, (size_t)len - 2);
	n = strlen(a) + strlen(s) + 2;
	assert_non_null(ret = malloc(n));
	snprintf(ret, n, "%s.%s", a, s);
	OPENSSL_free(der);
	AUTHORITY_KEYID_free(akid);
	free(a);
	free(s);
	return ret;
}

/*
 * One order against the fake (renewalInfo listed when `ari`) with
 * `replaces` (or NULL): it must end REJECTED with rejectedIdentifier
 * after exactly one newOrder; fake.payload[FAKE_NEW_ORDER] holds what
 * was sent.
 */
static void
order_once(int ari, const char *replaces)
{
	static const char *const dns[] = {"a.example.com", "b.example.com"};
	static const char *const ips[] = {"192.0.2.7"};
	static const struct fake_step refuse = {.status = 400,
	    .body = "{\"type\":\"" FAKE_ERR "rejectedIdentifier\","
	            "\"detail\":\"fake upstream refuses every order\","
	            "\"status\":400}"};
	struct upacme_order_spec spec;
	struct fake_tc t;
	char url[96];
	size_t i;
	json_t *id, *prot, *payload;

	fake_reset();
	fake.ari = ari;
	fake_script(FAKE_NEW_ORDER, &refuse, 1);
	memset(&spec, 0, sizeof(spec));
	spec.dns = dns;
	spec.n_dns = 2;
	spec.ips = ips;
	spec.n_ips = 1;
	spec.replaces = replaces;
	fake_run(fake_engine(NULL, FAKE_WAIT_S - 5, 5), &spec, &t);

	assert_int_equal(t.outcome, UPACME_REJECTED);
	assert_non_null(t.problem);
	assert_string_equal(t.problem, FAKE_ERR "rejectedIdentifier");
	fake_tc_free(&t);
	assert_int_equal(t.persists + t.publishes + t.unpublishes, 0);
	assert_int_equal(fake.n_bad, 0);
	assert_int_equal(fake.n_hits[FAKE_ACCOUNT], 1);
	assert_int_equal(fake.n_hits[FAKE_NEW_ORDER], 1);

	/* Signed with the account's kid, for the newOrder URL (§6.4). */
	assert_non_null(prot = fake.prot[FAKE_NEW_ORDER]);
	snprintf(url, sizeof(url), "%s/acct/1", fake.base_url);
	assert_string_equal(
	    json_string_value(json_object_get(prot, "kid")), url);
	assert_null(json_object_get(prot, "jwk"));
	snprintf(url, sizeof(url), "%s/order", fake.base_url);
	assert_string_equal(
	    json_string_value(json_object_get(prot, "url")), url);

	/* The spec's identifiers, DNS names first (§7.1.4, RFC 8738). */
	assert_non_null(payload = fake.payload[FAKE_NEW_ORDER]);
	assert_int_equal(
	    json_array_size(json_object_get(payload, "identifiers")), 3);
	for (i = 0; i < 3; i++) {
		id = json_array_get(json_object_get(payload, "identifiers"), i);
		assert_string_equal(
		    json_string_value(json_object_get(id, "type")),
		    i < 2 ? "dns" : "ip");
		assert_string_equal(
		    json_string_value(json_object_get(id, "value")),
		    i < 2 ? dns[i] : ips[0]);
	}
}

/* A renewal of a certificate with an AKI, renewalInfo listed: replaces
 * is that certificate's ARI id (RFC 9773 §5). */
static void
test_replaces_sent(void **state)
{
	EVP_PKEY *cak, *key;
	X509 *ca, *old;
	char *id, *ref;

	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(key);
	ca = fake_make_cert(cak, "old CA", "7F", NULL, NULL, 0);
	old = fake_make_cert(
	    key, "a.example.com", "00C0FFEE0123456789ABCDEF", ca, cak, 1);
	assert_non_null(id = upacme_ari_cert_id(old));
	ref = ref_ari_id(old);
	assert_string_equal(id, ref);

	order_once(1, id);
	assert_string_equal(json_string_value(json_object_get(
	                        fake.payload[FAKE_NEW_ORDER], "replaces")),
	    id);
	assert_int_equal(json_object_size(fake.payload[FAKE_NEW_ORDER]), 2);

	free(id);
	free(ref);
	X509_free(ca);
	X509_free(old);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(key);
}

/* No renewalInfo in the directory: a server without ARI would reject an
 * unknown field, so replaces is left out. */
static void
test_replaces_without_ari(void **state)
{
	order_once(0, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	assert_null(json_object_get(fake.payload[FAKE_NEW_ORDER], "replaces"));
	assert_int_equal(json_object_size(fake.payload[FAKE_NEW_ORDER]), 1);
}

/* renewalInfo listed, but a first issuance: nothing to replace. */
static void
test_no_replaces_first_order(void **state)
{
	order_once(1, NULL);
	assert_null(json_object_get(fake.payload[FAKE_NEW_ORDER], "replaces"));
	assert_int_equal(json_object_size(fake.payload[FAKE_NEW_ORDER]), 1);
}

/* The certificate id (RFC 9773 §4.1): the RFC's own example, then
 * serials of every shape against the construction done here, then
 * certificates that have no keyIdentifier to give. */
static void
test_cert_id(void **state)
{
	static const unsigned char rfc_keyid[] = {0x69, 0x88, 0x5B, 0x6B, 0x87,
	    0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C,
	    0xDE, 0x01, 0xC8, 0xD4};
	/* High bit set (a leading zero octet), small, 20 octets, 159 bits. */
	static const char *const serials[] = {"87654321", "01", "7F", "80",
	    "0100", "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
	    "00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "1234567890ABCDEF"};
	EVP_PKEY *cak, *key;
	X509 *x, *ca;
	char *id, *ref;
	size_t i;

	x = make_aki_cert(rfc_keyid, sizeof(rfc_keyid), "87654321");
	assert_non_null(id = upacme_ari_cert_id(x));
	assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	X509_free(x);

	for (i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
		x = make_aki_cert(rfc_keyid, 1 + i * 2, serials[i]);
		assert_non_null(id = upacme_ari_cert_id(x));
		ref = ref_ari_id(x);
		assert_string_equal(id, ref);
		assert_null(strpbrk(id, "+/="));
		free(id);
		free(ref);
		X509_free(x);
	}

	/* An AKI naming the issuer by name and serial only. */
	x = make_aki_cert(NULL, 0, "05");
	assert_null(upacme_ari_cert_id(x));
	X509_free(x);

	/* No AKI at all: a self-signed CA, and an issued certificate. */
	cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(cak);
	assert_non_null(key);
	ca = fake_make_cert(cak, "no AKI CA", "03", NULL, NULL, 0);
	assert_null(upacme_ari_cert_id(ca));
	x = fake_make_cert(key, "leaf", "04", ca, cak, 0);
	assert_null(
	    X509_get_ext_d2i(x, NID_authority_key_identifier, NULL, NULL));
	assert_null(upacme_ari_cert_id(x));
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(key);
}

static int
group_setup(void **state)
{
	return fake_setup("test_upacme_ari");
}

static int
group_teardown(void **state)
{
	return fake_teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cert_id),
	    cmocka_unit_test(test_replaces_sent),
	    cmocka_unit_test(test_replaces_without_ari),
	    cmocka_unit_test(test_no_replaces_first_order),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
