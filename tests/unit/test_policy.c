/*
 * Unit tests of policy/: profile parsing errors and every rule of
 * policy_decide, on CSRs made in-process with OpenSSL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/enroll.h"
#include "policy/policy.h"

/* Keys made once for the whole run: RSA keygen is slow. */
static EVP_PKEY *k_rsa1024, *k_rsa2048, *k_p256, *k_p384, *k_ed25519;

static int
keys_setup(void **state)
{
	k_rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	k_rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	k_p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	k_p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	k_ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k_rsa1024 == NULL || k_rsa2048 == NULL || k_p256 == NULL ||
	    k_p384 == NULL || k_ed25519 == NULL)
		return -1;
	return 0;
}

static int
keys_teardown(void **state)
{
	EVP_PKEY_free(k_rsa1024);
	EVP_PKEY_free(k_rsa2048);
	EVP_PKEY_free(k_p256);
	EVP_PKEY_free(k_p384);
	EVP_PKEY_free(k_ed25519);
	return 0;
}

/*
 * A CSR signed by `key`, subject `dn` (attribute, value pairs ending in
 * NULL: {"O", "Acme", "CN", "dev-1", NULL}), with the subjectAltName
 * `san` in openssl.cnf syntax ("DNS:a,IP:10.0.0.1") or none when NULL.
 * Caller frees.
 */
static X509_REQ *
make_csr_dn(EVP_PKEY *key, const char *const *dn, const char *san)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509_REQ *csr;
	X509_NAME *name;
	int is_ed = EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;

	assert_non_null(csr = X509_REQ_new());
	assert_int_equal(X509_REQ_set_version(csr, 0), 1);
	name = X509_REQ_get_subject_name(csr);
	for (; dn[0] != NULL; dn += 2)
		assert_int_equal(
		    X509_NAME_add_entry_by_txt(name, dn[0], MBSTRING_UTF8,
		        (const unsigned char *)dn[1], -1, -1, 0),
		    1);
	assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
	if (san != NULL) {
		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		ext =
		    X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name, san);
		assert_non_null(ext);
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	/* Ed25519 signs the message itself: no digest. */
	assert_true(X509_REQ_sign(csr, key, is_ed ? NULL : EVP_sha256()) > 0);
	return csr;
}

/* make_csr_dn with subject CN `cn`, or an empty subject when NULL. */
static X509_REQ *
make_csr(EVP_PKEY *key, const char *cn, const char *san)
{
	const char *dn[] = {"CN", cn, NULL};

	return make_csr_dn(key, cn != NULL ? dn : dn + 2, san);
}

static struct enroll_req *
req_from_csr(X509_REQ *csr, const char *requester)
{
	struct enroll_req *req;

	assert_non_null(req = enroll_req_new(ENROLL_PROTO_EST));
	assert_int_equal(enroll_req_take_csr(req, csr), ENROLL_OK);
	if (requester != NULL)
		assert_int_equal(enroll_req_set_requester(
		                     req, requester, ENROLL_AUTH_PASSWORD),
		    0);
	return req;
}

static struct enroll_req *
make_req(EVP_PKEY *key, const char *cn, const char *san, const char *requester)
{
	return req_from_csr(make_csr(key, cn, san), requester);
}

/* A P-256 request of requester "u" with subject `dn` (as make_csr_dn). */
static struct enroll_req *
make_dn_req(const char *const *dn, const char *san)
{
	return req_from_csr(make_csr_dn(k_p256, dn, san), "u");
}

/* The policy of `json` (a "profiles" object), which must parse. */
static struct policy *
load(const char *json)
{
	json_error_t jerr;
	struct policy *pol;
	json_t *root;
	char err[256] = "";

	root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		fail_msg("bad test JSON: %s", jerr.text);
	pol = policy_new(root, err, sizeof(err));
	json_decref(root);
	if (pol == NULL)
		fail_msg("policy_new: %s", err);
	return pol;
}

/* policy_new on `json` must fail with an error containing `want`. */
static void
load_fails(const char *json, const char *want)
{
	json_error_t jerr;
	struct policy *pol;
	json_t *root;
	char err[256] = "";

	assert_non_null(root = json_loads(json, 0, &jerr));
	pol = policy_new(root, err, sizeof(err));
	json_decref(root);
	if (pol != NULL) {
		policy_free(pol);
		fail_msg("policy_new accepted %s", json);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

/*
 * Decide `req` under profile `name` of `pol`; check the reason, and
 * that the detail contains `want` when not NULL.  Frees req.
 */
static void
expect(const struct policy *pol, const char *name, struct enroll_req *req,
    enum enroll_reason reason, const char *want)
{
	const struct profile *prof;
	struct policy_decision d;
	enum rc rc;

	assert_non_null(prof = policy_profile(pol, name));
	memset(&d, 0, sizeof(d));
	rc = policy_decide(prof, req, &d);
	enroll_req_free(req);
	if (d.reason != reason)
		fail_msg("reason %s, wanted %s (detail: %s)",
		    enroll_reason_code(d.reason), enroll_reason_code(reason),
		    d.detail);
	assert_int_equal(rc, reason == ENROLL_OK ? RC_OK : RC_ERROR);
	if (want != NULL && strstr(d.detail, want) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", d.detail, want);
}

static void
test_allow(void **state)
{
	struct policy *pol =
	    load("{\"web\": {\"requesters\": [\"alice\"],"
	         "\"dns\": {\"allow_suffixes\": [\"example.com\"]}}}");

	expect(pol, "web",
	    make_req(k_p256, "www.example.com",
	        "DNS:www.example.com,DNS:example.com", "alice"),
	    ENROLL_OK, "allowed by profile web");
	/* CN fallback: no SAN, the CN is a host name. */
	expect(pol, "web",
	    make_req(k_rsa2048, "api.example.com", NULL, "alice"), ENROLL_OK,
	    NULL);
	expect(pol, "web",
	    make_req(k_ed25519, NULL, "DNS:a.example.com", "alice"), ENROLL_OK,
	    NULL);
	policy_free(pol);
}

static void
test_requester(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"named\": {\"requesters\": [\"alice\", \"bob\"]},"
	         "\"any\": {},"
	         "\"anon\": {\"allow_anonymous\": true, \"requesters\": []}}");

	expect(pol, "named",
	    make_req(k_p256, NULL, "DNS:h.example.com", "mallory"),
	    ENROLL_UNAUTHORIZED,
	    "requester mallory is not allowed to use profile named");
	expect(pol, "named", make_req(k_p256, NULL, "DNS:h.example.com", "bob"),
	    ENROLL_OK, NULL);
	expect(pol, "named", make_req(k_p256, NULL, "DNS:h.example.com", NULL),
	    ENROLL_UNAUTHORIZED, "anonymous requests are not allowed");
	/* Default requesters ["*"]: anyone authenticated, nobody else. */
	expect(pol, "any", make_req(k_p256, NULL, "DNS:h.example.com", "carol"),
	    ENROLL_OK, NULL);
	expect(pol, "any", make_req(k_p256, NULL, "DNS:h.example.com", NULL),
	    ENROLL_UNAUTHORIZED, "anonymous");
	expect(pol, "anon", make_req(k_p256, NULL, "DNS:h.example.com", NULL),
	    ENROLL_OK, NULL);
	expect(pol, "anon", make_req(k_p256, NULL, "DNS:h.example.com", "dave"),
	    ENROLL_UNAUTHORIZED, "dave");
	policy_free(pol);
}

static void
test_no_csr(void **state)
{
	struct policy *pol = load("{\"p\": {}}");
	struct enroll_req *req;

	assert_non_null(req = enroll_req_new(ENROLL_PROTO_ACME));
	assert_int_equal(
	    enroll_req_set_requester(req, "alice", ENROLL_AUTH_ACCOUNT), 0);
	assert_int_equal(enroll_req_add_ident(req, IDENT_DNS, "a.example"), 0);
	expect(pol, "p", req, ENROLL_BAD_CSR, "no CSR");
	policy_free(pol);
}

/* Flip the last byte of the DER: it is inside the signature BIT STRING. */
static X509_REQ *
tampered(X509_REQ *csr)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509_REQ *out;
	int len;

	assert_true((len = i2d_X509_REQ(csr, &der)) > 0);
	X509_REQ_free(csr);
	der[len - 1] ^= 0x01;
	p = der;
	assert_non_null(out = d2i_X509_REQ(NULL, &p, len));
	assert_ptr_equal(p, der + len);
	OPENSSL_free(der);
	return out;
}

static void
test_bad_signature(void **state)
{
	struct policy *pol = load("{\"p\": {\"requesters\": [\"alice\"]}}");

	expect(pol, "p",
	    req_from_csr(
	        tampered(make_csr(k_p256, NULL, "DNS:a.example.com")), "alice"),
	    ENROLL_BAD_SIGNATURE, "signature");
	expect(pol, "p",
	    req_from_csr(
	        tampered(make_csr(k_rsa2048, NULL, "DNS:a.example.com")),
	        "alice"),
	    ENROLL_BAD_SIGNATURE, NULL);
	/* The requester rule comes first. */
	expect(pol, "p",
	    req_from_csr(
	        tampered(make_csr(k_p256, NULL, "DNS:a.example.com")), "eve"),
	    ENROLL_UNAUTHORIZED, NULL);
	policy_free(pol);
}

static void
test_key(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"ec\": {\"key_types\": [\"rsa\", \"p256\"]},"
	         "\"big\": {\"rsa_min_bits\": 3072},"
	         "\"def\": {}}");
	struct enroll_req *req;

	expect(pol, "ec", make_req(k_p384, NULL, "DNS:a.example.com", "u"),
	    ENROLL_BAD_KEY,
	    "key type p384 is not allowed by profile ec (allowed: rsa, p256)");
	expect(pol, "ec", make_req(k_ed25519, NULL, "DNS:a.example.com", "u"),
	    ENROLL_BAD_KEY, "ed25519");
	expect(pol, "ec", make_req(k_p256, NULL, "DNS:a.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "def", make_req(k_rsa1024, NULL, "DNS:a.example.com", "u"),
	    ENROLL_BAD_KEY,
	    "RSA key of 1024 bits is below the minimum "
	    "of 2048 bits");
	expect(pol, "def", make_req(k_p384, NULL, "DNS:a.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "big", make_req(k_rsa2048, NULL, "DNS:a.example.com", "u"),
	    ENROLL_BAD_KEY, "minimum of 3072 bits");

	/* serverkeygen: the key we made is judged too. */
	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	assert_int_equal(EVP_PKEY_up_ref(k_p384), 1);
	req->server_key = k_p384;
	expect(
	    pol, "ec", req, ENROLL_BAD_KEY, "server-generated key type p384");
	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	assert_int_equal(EVP_PKEY_up_ref(k_rsa2048), 1);
	req->server_key = k_rsa2048;
	expect(pol, "ec", req, ENROLL_OK, NULL);
	policy_free(pol);
}

static void
test_name_count(void **state)
{
	struct policy *pol = load("{\"p\": {\"max_sans\": 2}}");

	expect(pol, "p", make_req(k_p256, "Sensor 42 in hall B", NULL, "u"),
	    ENROLL_NO_NAMES, "no identifier");
	expect(pol, "p",
	    make_req(k_p256, NULL,
	        "DNS:a.example.com,DNS:b.example.com,DNS:c.example.com", "u"),
	    ENROLL_TOO_MANY_NAMES, "3 identifiers, over the maximum of 2");
	expect(pol, "p",
	    make_req(k_p256, NULL, "DNS:a.example.com,DNS:b.example.com", "u"),
	    ENROLL_OK, NULL);
	policy_free(pol);
}

static void
test_suffixes(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"s\": {\"dns\": {\"allow_suffixes\": [\"Example.COM\"]}},"
	         "\"sub\": {\"dns\": {\"allow_suffixes\": [\".example.com\","
	         "\"corp.test\"]}},"
	         "\"any\": {}}");

	expect(pol, "s", make_req(k_p256, NULL, "DNS:example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "s", make_req(k_p256, NULL, "DNS:a.b.EXAMPLE.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "s", make_req(k_p256, NULL, "DNS:badexample.com", "u"),
	    ENROLL_NAME_FORBIDDEN,
	    "DNS name badexample.com is outside the "
	    "allowed suffixes (example.com)");
	expect(pol, "s",
	    make_req(k_p256, NULL, "DNS:example.com.evil.org", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	/* One bad name among good ones denies the request. */
	expect(pol, "s",
	    make_req(k_p256, NULL, "DNS:www.example.com,DNS:evil.org", "u"),
	    ENROLL_NAME_FORBIDDEN, "evil.org");
	expect(pol, "sub", make_req(k_p256, NULL, "DNS:example.com", "u"),
	    ENROLL_NAME_FORBIDDEN,
	    "outside the allowed suffixes (.example.com, corp.test)");
	expect(pol, "sub", make_req(k_p256, NULL, "DNS:www.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "sub", make_req(k_p256, NULL, "DNS:corp.test", "u"),
	    ENROLL_OK, NULL);
	/* No suffix list: any valid name, single labels included. */
	expect(pol, "any",
	    make_req(k_p256, NULL, "DNS:localhost,DNS:evil.org", "u"),
	    ENROLL_OK, NULL);
	policy_free(pol);
}

static void
test_dns_syntax(void **state)
{
	struct policy *pol = load("{\"any\": {\"max_sans\": 1}}");
	char san[400];

	expect(pol, "any", make_req(k_p256, NULL, "DNS:-a.example.com", "u"),
	    ENROLL_NAME_FORBIDDEN, "not a valid host name");
	expect(pol, "any", make_req(k_p256, NULL, "DNS:a-.example.com", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	expect(pol, "any", make_req(k_p256, NULL, "DNS:a..example.com", "u"),
	    ENROLL_NAME_FORBIDDEN, "empty label");
	expect(pol, "any", make_req(k_p256, NULL, "DNS:a_b.example.com", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	expect(pol, "any", make_req(k_p256, NULL, "DNS:example.com.", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	expect(pol, "any", make_req(k_p256, NULL, "DNS:10.0.0.1", "u"),
	    ENROLL_NAME_FORBIDDEN, "all digits");
	expect(pol, "any", make_req(k_p256, NULL, "DNS:a-b.x9.example", "u"),
	    ENROLL_OK, NULL);
	/* A 63-character label passes, 64 does not. */
	snprintf(san, sizeof(san), "DNS:%.63s.example",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	expect(pol, "any", make_req(k_p256, NULL, san, "u"), ENROLL_OK, NULL);
	snprintf(san, sizeof(san), "DNS:%.64s.example",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	expect(pol, "any", make_req(k_p256, NULL, san, "u"),
	    ENROLL_NAME_FORBIDDEN, "longer than 63");
	/* 5 labels of 50 + "a.b" = 5 * 51 + 3 = 258 characters. */
	snprintf(san, sizeof(san), "DNS:%s.%s.%s.%s.%s.a.b",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	expect(pol, "any", make_req(k_p256, NULL, san, "u"),
	    ENROLL_NAME_FORBIDDEN, "longer than 253");
	policy_free(pol);
}

static void
test_wildcard(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"off\": {\"dns\": {\"allow_suffixes\": [\"example.com\"]}},"
	         "\"on\": {\"dns\": {\"allow_suffixes\": [\"example.com\"],"
	         "\"allow_wildcards\": true}},"
	         "\"sub\": {\"dns\": {\"allow_suffixes\": [\".example.com\"],"
	         "\"allow_wildcards\": true}},"
	         "\"any\": {\"dns\": {\"allow_wildcards\": true}}}");

	expect(pol, "off", make_req(k_p256, NULL, "DNS:*.example.com", "u"),
	    ENROLL_WILDCARD_FORBIDDEN,
	    "wildcard DNS name *.example.com is not allowed by profile off");
	expect(pol, "on", make_req(k_p256, NULL, "DNS:*.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "on", make_req(k_p256, NULL, "DNS:*.a.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "on", make_req(k_p256, NULL, "DNS:*.badexample.com", "u"),
	    ENROLL_NAME_FORBIDDEN, "*.badexample.com");
	expect(pol, "on", make_req(k_p256, NULL, "DNS:a.*.example.com", "u"),
	    ENROLL_WILDCARD_FORBIDDEN, "not the whole leftmost label");
	expect(pol, "on", make_req(k_p256, NULL, "DNS:w*.example.com", "u"),
	    ENROLL_WILDCARD_FORBIDDEN, "leftmost label");
	expect(pol, "on", make_req(k_p256, NULL, "DNS:*.*.example.com", "u"),
	    ENROLL_WILDCARD_FORBIDDEN, NULL);
	/* "*.example.com" covers only subdomains: inside ".example.com". */
	expect(pol, "sub", make_req(k_p256, NULL, "DNS:*.example.com", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "any", make_req(k_p256, NULL, "DNS:*.com", "u"),
	    ENROLL_WILDCARD_FORBIDDEN, "top-level domain");
	policy_free(pol);
}

static void
test_ip(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"def\": {},"
	         "\"net\": {\"ip\": {\"allow\": [\"10.0.0.0/8\", "
	         "\"192.168.1.0/25\", \"2001:db8::/32\", \"203.0.113.7\"]}},"
	         "\"none\": {\"ip\": {\"allow\": []}},"
	         "\"v6\": {\"ip\": {\"allow\": [\"::/0\"]}}}");

	expect(pol, "def", make_req(k_p256, NULL, "IP:127.0.0.1", "u"),
	    ENROLL_OK, NULL);
	expect(
	    pol, "def", make_req(k_p256, NULL, "IP:::1", "u"), ENROLL_OK, NULL);
	expect(pol, "def", make_req(k_p256, NULL, "IP:10.0.0.1", "u"),
	    ENROLL_IP_FORBIDDEN,
	    "IP address 10.0.0.1 is outside the allowed "
	    "networks (127.0.0.0/8, ::1/128)");
	expect(pol, "net", make_req(k_p256, NULL, "IP:10.255.0.1", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:11.0.0.1", "u"),
	    ENROLL_IP_FORBIDDEN, "11.0.0.1");
	expect(pol, "net", make_req(k_p256, NULL, "IP:192.168.1.127", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:192.168.1.128", "u"),
	    ENROLL_IP_FORBIDDEN, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:203.0.113.7", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:203.0.113.8", "u"),
	    ENROLL_IP_FORBIDDEN, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:2001:db8:1::5", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "net", make_req(k_p256, NULL, "IP:2001:db9::1", "u"),
	    ENROLL_IP_FORBIDDEN, "2001:db9::1");
	/* An IPv4-mapped IPv6 address is not in an IPv4 network. */
	expect(pol, "net", make_req(k_p256, NULL, "IP:::ffff:10.0.0.1", "u"),
	    ENROLL_IP_FORBIDDEN, NULL);
	expect(pol, "none", make_req(k_p256, NULL, "IP:127.0.0.1", "u"),
	    ENROLL_IP_FORBIDDEN, "allows no IP addresses");
	/* "::/0" is every IPv6 address and no IPv4 one. */
	expect(pol, "v6", make_req(k_p256, NULL, "IP:2001:db8::1", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "v6", make_req(k_p256, NULL, "IP:10.0.0.1", "u"),
	    ENROLL_IP_FORBIDDEN, "outside the allowed networks (::/0)");
	/* CN fallback to an IP. */
	expect(pol, "def", make_req(k_p256, "127.0.0.2", NULL, "u"), ENROLL_OK,
	    NULL);
	policy_free(pol);
}

static void
test_email_uri(void **state)
{
	struct policy *pol =
	    load("{\"no\": {},"
	         "\"yes\": {\"allow_email\": true, \"allow_uri\": true}}");

	expect(pol, "no",
	    make_req(
	        k_p256, NULL, "DNS:a.example.com,email:ops@example.com", "u"),
	    ENROLL_IDENT_UNSUPPORTED,
	    "email address ops@example.com is not allowed by profile no");
	expect(pol, "no",
	    make_req(k_p256, NULL, "URI:spiffe://example.com/web", "u"),
	    ENROLL_IDENT_UNSUPPORTED, "URI spiffe://example.com/web");
	expect(pol, "yes",
	    make_req(k_p256, NULL,
	        "DNS:a.example.com,email:ops@example.com,"
	        "URI:spiffe://example.com/web",
	        "u"),
	    ENROLL_OK, NULL);
	policy_free(pol);
}

static void
test_validity(void **state)
{
	struct policy *pol = load("{\"p\": {\"validity_days\": 30, "
	                          "\"max_validity_days\": 60}}");
	const struct profile *prof = policy_profile(pol, "p");
	struct issue_params ip;
	struct enroll_req *req;

	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	req->validity_days = 61;
	expect(pol, "p", req, ENROLL_VALIDITY,
	    "requested validity of 61 days is over the maximum of 60");
	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	req->validity_days = -5;
	expect(pol, "p", req, ENROLL_VALIDITY, NULL);
	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	req->validity_days = 60;
	policy_issue_params(prof, req, &ip);
	assert_int_equal(ip.validity_days, 60);
	expect(pol, "p", req, ENROLL_OK, NULL);
	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	policy_issue_params(prof, req, &ip);
	assert_int_equal(ip.validity_days, 30);
	enroll_req_free(req);
	policy_free(pol);
}

static void
test_issue_params(void **state)
{
	struct policy *pol =
	    load("{\"d\": {},"
	         "\"c\": {\"eku\": [\"codeSigning\", \"emailProtection\"],"
	         "\"subject\": \"cn\"}}");
	struct issue_params ip;
	struct enroll_req *req;
	const int *nids;
	size_t n;

	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	policy_issue_params(policy_profile(pol, "d"), req, &ip);
	assert_int_equal(ip.validity_days, 90);
	assert_int_equal(ip.backdate_seconds, 300);
	assert_int_equal(ip.n_eku, 2);
	assert_int_equal(ip.eku_nids[0], NID_server_auth);
	assert_int_equal(ip.eku_nids[1], NID_client_auth);
	assert_int_equal(ip.key_usage, 0);
	assert_int_equal(ip.subject_cn_only, 0);
	policy_issue_params(policy_profile(pol, "c"), req, &ip);
	assert_int_equal(ip.n_eku, 2);
	assert_int_equal(ip.eku_nids[0], NID_code_sign);
	assert_int_equal(ip.eku_nids[1], NID_email_protect);
	assert_int_equal(ip.subject_cn_only, 1);
	nids = profile_eku_nids(policy_profile(pol, "c"), &n);
	assert_int_equal(n, 2);
	assert_int_equal(nids[0], NID_code_sign);
	enroll_req_free(req);
	policy_free(pol);
}

static void
test_accessors(void **state)
{
	struct policy *pol = load("{\"a\": {\"backend\": \"upstream\"},"
	                          "\"b\": {\"rsa_min_bits\": 3072},"
	                          "\"c\": {\"key_types\": [\"p384\", \"rsa\"]},"
	                          "\"d\": {\"max_validity_days\": 30}}");
	const struct profile *prof;
	int bits = -1;

	assert_int_equal(policy_profile_count(pol), 4);
	assert_string_equal(profile_name(policy_profile_at(pol, 0)), "a");
	assert_string_equal(profile_name(policy_profile_at(pol, 3)), "d");
	assert_null(policy_profile_at(pol, 4));
	assert_null(policy_profile(pol, "nope"));
	assert_null(policy_profile(pol, NULL));
	assert_string_equal(
	    profile_backend(policy_profile(pol, "a")), "upstream");
	assert_string_equal(profile_backend(policy_profile(pol, "b")), "local");
	prof = policy_profile(pol, "a");
	assert_int_equal(profile_preferred_key(prof, &bits), KEY_RSA);
	assert_int_equal(bits, 2048);
	prof = policy_profile(pol, "b");
	assert_int_equal(profile_preferred_key(prof, &bits), KEY_RSA);
	assert_int_equal(bits, 3072);
	prof = policy_profile(pol, "c");
	assert_int_equal(profile_preferred_key(prof, NULL), KEY_P384);
	policy_free(pol);
}

/* A default validity over a lowered maximum follows the maximum. */
static void
test_default_validity_capped(void **state)
{
	struct policy *pol = load("{\"d\": {\"max_validity_days\": 30}}");
	struct issue_params ip;
	struct enroll_req *req;

	req = make_req(k_p256, NULL, "DNS:a.example.com", "u");
	policy_issue_params(policy_profile(pol, "d"), req, &ip);
	assert_int_equal(ip.validity_days, 30);
	enroll_req_free(req);
	policy_free(pol);
}

static void
test_subject_cn_pattern(void **state)
{
	struct policy *pol = load(
	    "{"
	    "\"iot\": {\"subject_rules\": {\"cn_pattern\": \"dev-[0-9]+\"}},"
	    "\"alt\": {\"subject_rules\": {\"cn_pattern\": \"dev-1|dev-2\"}},"
	    "\"br\": {\"subject_rules\": {\"cn_pattern\": "
	    "\"[])]+|[[:digit:]]+|dev\\\\)\"}}}");
	const char *two_cn[] = {"CN", "xdev-1", "CN", "dev-7", NULL};
	const char *two_cn_bad[] = {"CN", "dev-7", "CN", "xdev-1", NULL};
	const char *no_cn[] = {"O", "Acme", NULL};

	/* CN fallback: the CN is the identifier and matches. */
	expect(
	    pol, "iot", make_req(k_p256, "dev-42", NULL, "u"), ENROLL_OK, NULL);
	expect(pol, "iot", make_req(k_p256, "dev-42", "DNS:a.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "iot", make_req(k_p256, "sensor-1", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN,
	    "subject CN \"sensor-1\" does not match "
	    "profiles.iot.subject_rules.cn_pattern");
	/* Anchored at both ends: a match inside the CN is not enough. */
	expect(pol, "iot", make_req(k_p256, "xdev-1", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, "\"xdev-1\"");
	expect(pol, "iot", make_req(k_p256, "dev-1x", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, "\"dev-1x\"");
	expect(pol, "iot", make_req(k_p256, "dev-", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	/* The anchors hold for every branch of an alternation. */
	expect(pol, "alt", make_req(k_p256, "dev-2", "DNS:a.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "alt", make_req(k_p256, "dev-1x", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	expect(pol, "alt", make_req(k_p256, "xdev-2", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	/* The last CN is the one judged. */
	expect(
	    pol, "iot", make_dn_req(two_cn, "DNS:a.example"), ENROLL_OK, NULL);
	expect(pol, "iot", make_dn_req(two_cn_bad, "DNS:a.example"),
	    ENROLL_NAME_FORBIDDEN, "\"xdev-1\"");
	/* No CN at all: denied, even with a SAN. */
	expect(pol, "iot", make_dn_req(no_cn, "DNS:a.example"), ENROLL_BAD_CSR,
	    "subject has no CN, required by "
	    "profiles.iot.subject_rules.cn_pattern");
	expect(pol, "iot", make_req(k_p256, NULL, "DNS:a.example", "u"),
	    ENROLL_BAD_CSR, "no CN");
	/* ')' inside a bracket and an escaped ')' are literals. */
	expect(pol, "br", make_req(k_p256, ")]", "DNS:a.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "br", make_req(k_p256, "123", "DNS:a.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "br", make_req(k_p256, "dev)", "DNS:a.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "br", make_req(k_p256, "dev", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	expect(pol, "br", make_req(k_p256, "1a", "DNS:a.example", "u"),
	    ENROLL_NAME_FORBIDDEN, NULL);
	policy_free(pol);
}

static void
test_subject_require(void **state)
{
	struct policy *pol =
	    load("{"
	         "\"iot\": {\"subject_rules\": {\"require\": [\"O\"]}},"
	         "\"ou\": {\"subject_rules\": {\"require\": [\"OU\", \"C\","
	         "\"emailAddress\"]}}}");
	const char *with_o[] = {"O", "Acme", "CN", "dev-1", NULL};
	const char *without_o[] = {"OU", "Acme", "CN", "dev-1", NULL};
	const char *full[] = {"C", "DE", "OU", "Plant 4", "emailAddress",
	    "ops@example.com", "CN", "dev-1", NULL};
	const char *no_ou[] = {
	    "C", "DE", "emailAddress", "ops@example.com", "CN", "dev-1", NULL};
	const char *no_mail[] = {
	    "C", "DE", "OU", "Plant 4", "CN", "dev-1", NULL};
	X509_REQ *csr;

	expect(pol, "iot", make_dn_req(with_o, NULL), ENROLL_OK, NULL);
	expect(pol, "iot", make_dn_req(without_o, NULL), ENROLL_BAD_CSR,
	    "subject has no O, required by profile iot");
	expect(pol, "iot", make_req(k_p256, "dev-1", "DNS:a.example", "u"),
	    ENROLL_BAD_CSR, "subject has no O");
	/* An O that is present but empty does not count. */
	csr = make_csr(k_p256, "dev-1", NULL);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr), "O",
	        V_ASN1_UTF8STRING, (const unsigned char *)"", 0, -1, 0),
	    1);
	assert_true(X509_REQ_sign(csr, k_p256, EVP_sha256()) > 0);
	expect(pol, "iot", req_from_csr(csr, "u"), ENROLL_BAD_CSR,
	    "subject has no O");
	expect(pol, "ou", make_dn_req(full, NULL), ENROLL_OK, NULL);
	expect(pol, "ou", make_dn_req(no_ou, NULL), ENROLL_BAD_CSR,
	    "subject has no OU, required by profile ou");
	expect(pol, "ou", make_dn_req(no_mail, NULL), ENROLL_BAD_CSR,
	    "subject has no emailAddress");
	policy_free(pol);
}

static void
test_subject_cn_only(void **state)
{
	struct policy *pol =
	    load("{\"strict\": {\"subject_rules\": {\"allow_cn_only\": false}},"
	         "\"loose\": {\"subject_rules\": {\"allow_cn_only\": true}},"
	         "\"def\": {}}");

	expect(pol, "strict", make_req(k_p256, "dev-1.example", NULL, "u"),
	    ENROLL_NO_NAMES,
	    "the CSR has no subjectAltName extension and "
	    "profiles.strict.subject_rules.allow_cn_only is false");
	expect(pol, "strict",
	    make_req(k_p256, "dev-1.example", "DNS:dev-1.example", "u"),
	    ENROLL_OK, NULL);
	expect(pol, "strict", make_req(k_p256, NULL, "DNS:dev-1.example", "u"),
	    ENROLL_OK, NULL);
	/* The CN fallback stays the default. */
	expect(pol, "loose", make_req(k_p256, "dev-1.example", NULL, "u"),
	    ENROLL_OK, NULL);
	expect(pol, "def", make_req(k_p256, "dev-1.example", NULL, "u"),
	    ENROLL_OK, NULL);
	policy_free(pol);
}

static void
test_subject_config_errors(void **state)
{
	static const struct {
		const char *rules, *want;
	} cases[] = {
	    {"{\"cn_pattern\": \"dev-(\"}",
	        "profiles.iot.subject_rules.cn_pattern: not a POSIX extended "
	        "regular expression ("},
	    {"{\"cn_pattern\": \"a{2,1}\"}",
	        "profiles.iot.subject_rules.cn_pattern: not a POSIX"},
	    {"{\"cn_pattern\": \"dev-[0-9\"}",
	        "profiles.iot.subject_rules.cn_pattern: a '[' has no closing"},
	    {"{\"cn_pattern\": \"a)|(b\"}",
	        "profiles.iot.subject_rules.cn_pattern: a ')' closes no '('"},
	    {"{\"cn_pattern\": \"(a)\\\\1\"}",
	        "profiles.iot.subject_rules.cn_pattern: back-references"},
	    {"{\"cn_pattern\": \"\"}",
	        "profiles.iot.subject_rules.cn_pattern: must be a non-empty"},
	    {"{\"cn_pattern\": 7}", "profiles.iot.subject_rules.cn_pattern"},
	    {"{\"cn_regex\": \"x\"}",
	        "profiles.iot.subject_rules.cn_regex: unknown key"},
	    {"{\"require\": [\"SN\"]}",
	        "profiles.iot.subject_rules.require[0]: \"SN\" is not one of"},
	    {"{\"require\": [\"O\", \"O\"]}",
	        "profiles.iot.subject_rules.require[1]: \"O\" is listed twice"},
	    {"{\"require\": \"O\"}",
	        "profiles.iot.subject_rules.require: must be an array"},
	    {"{\"allow_cn_only\": 0}",
	        "profiles.iot.subject_rules.allow_cn_only: must be true or "
	        "false"},
	    {"[]", "profiles.iot.subject_rules: must be an object"},
	};
	char json[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json),
		    "{\"iot\": {\"subject_rules\": %s}}", cases[i].rules);
		load_fails(json, cases[i].want);
	}
}

static void
test_config_errors(void **state)
{
	load_fails("{}", "profiles: at least one profile is required");
	load_fails("[]", "profiles: must be an object");
	load_fails("{\"web\": 3}", "profiles.web: must be an object");
	load_fails("{\"web\": {\"foo\": 1}}", "profiles.web.foo: unknown key");
	load_fails("{\"web\": {\"dns\": {\"allow_suffix\": []}}}",
	    "profiles.web.dns.allow_suffix: unknown key");
	load_fails(
	    "{\"web\": {\"dns\": []}}", "profiles.web.dns: must be an object");
	load_fails("{\"web\": {\"rsa_min_bits\": 1024}}",
	    "profiles.web.rsa_min_bits: must be an integer from 2048");
	load_fails("{\"web\": {\"max_sans\": \"ten\"}}",
	    "profiles.web.max_sans: must be an integer from 1 to 1000");
	load_fails("{\"web\": {\"max_sans\": 0}}", "profiles.web.max_sans");
	load_fails("{\"web\": {\"max_sans\": 2.5}}", "profiles.web.max_sans");
	load_fails("{\"web\": {\"allow_email\": 1}}",
	    "profiles.web.allow_email: must be true or false");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"10.0.0.0/33\"]}}}",
	    "profiles.web.ip.allow[0]: \"10.0.0.0/33\" has a prefix length");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"::1/8\", \"::/129\"]}}}",
	    "profiles.web.ip.allow[0]");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"::/0\", \"::/129\"]}}}",
	    "profiles.web.ip.allow[1]");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"10.0.0.1/8\"]}}}",
	    "bits set beyond its prefix");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"10.0.0/8\"]}}}",
	    "not an IPv4 or IPv6 address");
	load_fails("{\"web\": {\"ip\": {\"allow\": [\"10.0.0.0/+8\"]}}}",
	    "prefix length");
	load_fails("{\"web\": {\"ip\": {\"allow\": [8]}}}",
	    "profiles.web.ip.allow[0]: must be a string");
	load_fails("{\"web\": {\"key_types\": [\"dsa\"]}}",
	    "profiles.web.key_types[0]: \"dsa\" is not one of");
	load_fails("{\"web\": {\"key_types\": []}}",
	    "profiles.web.key_types: must list at least one");
	load_fails("{\"web\": {\"key_types\": [\"rsa\", \"rsa\"]}}",
	    "profiles.web.key_types[1]: \"rsa\" is listed twice");
	load_fails("{\"web\": {\"eku\": [\"anyUse\"]}}",
	    "profiles.web.eku[0]: \"anyUse\" is not one of");
	load_fails("{\"web\": {\"subject\": \"dn\"}}",
	    "profiles.web.subject: must be \"csr\" or \"cn\"");
	load_fails("{\"web\": {\"validity_days\": 100, "
	           "\"max_validity_days\": 90}}",
	    "profiles.web.validity_days: 100 is more than max_validity_days");
	load_fails("{\"web\": {\"dns\": {\"allow_suffixes\": [\"*.x.com\"]}}}",
	    "profiles.web.dns.allow_suffixes[0]: \"*.x.com\" is not a DNS "
	    "suffix");
	load_fails("{\"web\": {\"requesters\": [\"\"]}}",
	    "profiles.web.requesters[0]");
	load_fails("{\"web\": {\"backend\": \"\"}}", "profiles.web.backend");
	load_fails("{\"a b\": {}}", "profiles: profile name \"a b\"");
	/* The first bad profile is reported, after a good one. */
	load_fails("{\"ok\": {}, \"bad\": {\"max_sans\": 5000}}",
	    "profiles.bad.max_sans");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allow),
	    cmocka_unit_test(test_requester),
	    cmocka_unit_test(test_no_csr),
	    cmocka_unit_test(test_bad_signature),
	    cmocka_unit_test(test_key),
	    cmocka_unit_test(test_name_count),
	    cmocka_unit_test(test_suffixes),
	    cmocka_unit_test(test_dns_syntax),
	    cmocka_unit_test(test_wildcard),
	    cmocka_unit_test(test_ip),
	    cmocka_unit_test(test_email_uri),
	    cmocka_unit_test(test_validity),
	    cmocka_unit_test(test_issue_params),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_default_validity_capped),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_subject_cn_pattern),
	    cmocka_unit_test(test_subject_require),
	    cmocka_unit_test(test_subject_cn_only),
	    cmocka_unit_test(test_subject_config_errors),
	};

	return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
