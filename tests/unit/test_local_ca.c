/*
 * Unit tests of the local CA backend (backends/local/): a CA made at run
 * time in a temporary directory, certificates issued through the backend
 * table and checked with OpenSSL's own verifier, CRLs parsed back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/store.h"
#include "tests/unit/cert_fixture.h"

#define DAY 86400

static char tmpdir[64];

/* What the issue callback saw. */
struct got {
	int calls;
	enum enroll_reason reason;
	X509 *cert;
};

/* A test CA: its key, certificate and backend instance. */
struct tca {
	EVP_PKEY *key;
	X509 *cert;
	const struct ca_backend *be;
	void *priv;
};

static void
on_done(void *arg, enum enroll_reason reason, const char *detail, X509 *cert)
{
	struct got *g = arg;

	(void)detail;
	g->calls++;
	g->reason = reason;
	g->cert = cert;
}

static const EVP_MD *
md_for(EVP_PKEY *key)
{
	switch (cert_key_kind(key, NULL)) {
	case KEY_ED25519:
	case KEY_ED448:
		return NULL;
	case KEY_P384:
		return EVP_sha384();
	default:
		return EVP_sha256();
	}
}

/* A self-signed certificate for key, valid `days`; a CA unless !is_ca. */
static X509 *
self_signed(EVP_PKEY *key, const char *cn, int days, int is_ca)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                     (const unsigned char *)cn, -1, -1, 0),
	    1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(
	    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * DAY));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	fixture_add_ext(x, x, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	fixture_add_ext(x, x, NID_key_usage,
	    is_ca ? "critical,keyCertSign,cRLSign"
	          : "critical,digitalSignature");
	fixture_add_ext(x, x, NID_subject_key_identifier, "hash");
	assert_true(X509_sign(x, key, md_for(key)) > 0);
	return x;
}

static void
path_in(char *out, size_t sz, const char *file)
{
	snprintf(out, sz, "%s/%s", tmpdir, file);
}

/* Write a key and certificate into the temporary directory. */
static void
save(EVP_PKEY *key, const char *keyfile, X509 *cert, const char *certfile)
{
	char p[256];

	if (key != NULL) {
		path_in(p, sizeof(p), keyfile);
		assert_int_equal(cert_save_key(p, key, 1), 0);
	}
	if (cert != NULL) {
		path_in(p, sizeof(p), certfile);
		assert_int_equal(cert_save_pem(p, &cert, 1, 1), 0);
	}
}

/* Backend init from a JSON text; returns init's result, err filled. */
static int
init_json(const char *text, void **priv, char *err, size_t errlen)
{
	const struct ca_backend *be = ca_backend_find("local");
	json_error_t jerr;
	json_t *conf;
	int rc;

	assert_non_null(be);
	conf = json_loads(text, 0, &jerr);
	assert_non_null(conf);
	err[0] = '\0';
	rc = be->init(conf, tmpdir, priv, err, errlen);
	json_decref(conf);
	return rc;
}

/* A CA of `kind`, valid `days`, saved and loaded by the backend. */
static void
tca_make(struct tca *t, enum key_kind kind, int bits, int days)
{
	char err[512];

	memset(t, 0, sizeof(*t));
	t->be = ca_backend_find("local");
	assert_non_null(t->be);
	t->key = cert_keygen(kind, bits);
	assert_non_null(t->key);
	t->cert = cert_make_root_ca(t->key, "enrolld test CA", days);
	assert_non_null(t->cert);
	save(t->key, "ca.key", t->cert, "ca.pem");
	assert_int_equal(init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	                           "\"key\":\"ca.key\",\"crl_days\":7}",
	                     &t->priv, err, sizeof(err)),
	    0);
	assert_non_null(t->priv);
}

static void
tca_free(struct tca *t)
{
	t->be->free(t->priv);
	X509_free(t->cert);
	EVP_PKEY_free(t->key);
}

/*
 * A request with a signed CSR for a fresh key of `kind`.  The CSR
 * carries a SAN the policy did not approve (evil.example), which must
 * not reach the certificate.  cn NULL: empty subject.
 */
static struct enroll_req *
make_req(enum key_kind kind, const char *cn)
{
	struct enroll_req *req = enroll_req_new(ENROLL_PROTO_EST);
	STACK_OF(X509_EXTENSION) *exts;
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	EVP_PKEY *key;
	X509_REQ *csr;

	assert_non_null(req);
	key = cert_keygen(kind, 2048);
	assert_non_null(key);
	csr = X509_REQ_new();
	assert_non_null(csr);
	if (cn != NULL) {
		assert_int_equal(
		    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr),
		        "O", MBSTRING_ASC, (const unsigned char *)"Example", -1,
		        -1, 0),
		    1);
		assert_int_equal(
		    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(csr),
		        "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
		        0),
		    1);
	}
	assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
	X509V3_set_ctx(&ctx, NULL, NULL, csr, NULL, 0);
	ext = X509V3_EXT_conf_nid(
	    NULL, &ctx, NID_subject_alt_name, "DNS:evil.example");
	assert_non_null(ext);
	exts = sk_X509_EXTENSION_new_null();
	assert_non_null(exts);
	assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
	assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_true(X509_REQ_sign(csr, key, md_for(key)) > 0);
	EVP_PKEY_free(key);
	req->csr = csr;
	assert_int_equal(
	    enroll_req_add_ident(req, IDENT_DNS, "www.example.com"), 0);
	assert_int_equal(enroll_req_add_ident(req, IDENT_IP, "192.0.2.7"), 0);
	assert_int_equal(enroll_req_add_ident(req, IDENT_IP, "2001:db8::1"), 0);
	return req;
}

static const int server_client[] = {NID_server_auth, NID_client_auth};

static struct issue_params
default_params(void)
{
	struct issue_params p = {
	    .validity_days = 90,
	    .backdate_seconds = 300,
	    .eku_nids = server_client,
	    .n_eku = 2,
	    .key_usage = 0,
	    .subject_cn_only = 0,
	};
	return p;
}

static X509 *
issue_ok(
    struct tca *t, const struct enroll_req *req, const struct issue_params *p)
{
	struct got g = {0};

	t->be->issue(t->priv, NULL, req, p, on_done, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.reason, ENROLL_OK);
	assert_non_null(g.cert);
	return g.cert;
}

/* X509_verify_cert against a store holding only the CA, purpose
 * sslserver, on the certificate as a client decodes it (the signer
 * copies the CSR's encoded key and leaves the in-memory key unset). */
static void
assert_chain_ok(X509 *issued, X509 *ca)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *leaf;
	int len;

	assert_non_null(store);
	assert_non_null(ctx);
	len = i2d_X509(issued, &der);
	assert_true(len > 0);
	p = der;
	leaf = d2i_X509(NULL, &p, len);
	assert_non_null(leaf);
	OPENSSL_free(der);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	assert_int_equal(
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s",
		    X509_verify_cert_error_string(
		        X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
}

static int
ext_critical(X509 *x, int nid)
{
	int idx = X509_get_ext_by_NID(x, nid, -1);

	assert_true(idx >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, idx));
}

/* The SAN holds exactly the three identifiers of make_req, in order. */
static void
assert_san(X509 *x, int want_critical)
{
	static const unsigned char v4[] = {192, 0, 2, 7};
	static const unsigned char v6[] = {
	    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn;
	int crit = -1;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	assert_non_null(gens);
	assert_int_equal(crit, want_critical);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 3);
	gn = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(gn->type, GEN_DNS);
	assert_int_equal(ASN1_STRING_length(gn->d.dNSName), 15);
	assert_memory_equal(
	    ASN1_STRING_get0_data(gn->d.dNSName), "www.example.com", 15);
	gn = sk_GENERAL_NAME_value(gens, 1);
	assert_int_equal(gn->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), 4);
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.iPAddress), v4, 4);
	gn = sk_GENERAL_NAME_value(gens, 2);
	assert_int_equal(gn->type, GEN_IPADD);
	assert_int_equal(ASN1_STRING_length(gn->d.iPAddress), 16);
	assert_memory_equal(ASN1_STRING_get0_data(gn->d.iPAddress), v6, 16);
	GENERAL_NAMES_free(gens);
}

/* Everything every issued certificate must have. */
static void
assert_leaf(X509 *x, struct tca *t, int days, int sig_nid)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	const ASN1_OCTET_STRING *ski, *aki;
	EXTENDED_KEY_USAGE *eku;
	BIGNUM *bn;
	time_t now = time(NULL);

	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_verify(x, t->key), 1);
	assert_int_equal(X509_get_signature_nid(x), sig_nid);
	assert_chain_ok(x, t->cert);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x),
	                     X509_get_subject_name(t->cert)),
	    0);

	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	assert_non_null(bn);
	assert_false(BN_is_negative(bn));
	assert_true(BN_num_bits(bn) >= 64);
	assert_true(BN_num_bits(bn) <= 159);
	BN_free(bn);

	assert_true(X509_get_extension_flags(x) & EXFLAG_BCONS);
	assert_false(X509_get_extension_flags(x) & EXFLAG_CA);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(ext_critical(x, NID_basic_constraints), 1);
	assert_int_equal(ext_critical(x, NID_key_usage), 1);

	assert_int_equal(
	    X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	assert_non_null(eku);
	assert_int_equal(sk_ASN1_OBJECT_num(eku), 2);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);

	ski = X509_get0_subject_key_id(x);
	aki = X509_get0_authority_key_id(x);
	assert_non_null(ski);
	assert_non_null(aki);
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen), 1);
	assert_int_equal(ASN1_STRING_length(ski), (int)mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, mdlen);
	assert_int_equal(
	    ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(t->cert)), 0);

	/* notBefore = now - 300, notAfter = now + days (a minute's slack). */
	assert_true(
	    ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 300 - 60) > 0);
	assert_true(
	    ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), now - 300 + 60) < 0);
	assert_true(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x),
	                now + (time_t)days * DAY - 60) > 0);
	assert_true(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x),
	                now + (time_t)days * DAY + 60) < 0);
}

static void
run_issue(enum key_kind ca_kind, int ca_bits, int sig_nid)
{
	struct issue_params p = default_params();
	struct enroll_req *req;
	struct tca t;
	X509 *x;

	tca_make(&t, ca_kind, ca_bits, 3650);
	req = make_req(KEY_P256, "www.example.com");
	x = issue_ok(&t, req, &p);
	assert_leaf(x, &t, 90, sig_nid);
	assert_san(x, 0);
	/* The CSR subject is kept whole: O and CN. */
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x),
	                     X509_REQ_get_subject_name(req->csr)),
	    0);
	/* An EC leaf key only signs. */
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	X509_free(x);
	enroll_req_free(req);
	tca_free(&t);
}

static void
test_issue_p256_ca(void **state)
{
	(void)state;
	run_issue(KEY_P256, 0, NID_ecdsa_with_SHA256);
}

static void
test_issue_p384_ca(void **state)
{
	(void)state;
	run_issue(KEY_P384, 0, NID_ecdsa_with_SHA384);
}

static void
test_issue_rsa_ca(void **state)
{
	(void)state;
	run_issue(KEY_RSA, 2048, NID_sha256WithRSAEncryption);
}

static void
test_issue_ed25519_ca(void **state)
{
	(void)state;
	run_issue(KEY_ED25519, 0, NID_ED25519);
}

/* RSA leaves may also encipher keys; an explicit key_usage wins. */
static void
test_key_usage(void **state)
{
	struct issue_params p = default_params();
	struct enroll_req *req;
	struct tca t;
	X509 *x;

	(void)state;
	tca_make(&t, KEY_P256, 0, 3650);
	req = make_req(KEY_RSA, "rsa.example.com");
	x = issue_ok(&t, req, &p);
	assert_int_equal(
	    X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	X509_free(x);
	p.key_usage =
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT | KU_DECIPHER_ONLY;
	x = issue_ok(&t, req, &p);
	assert_int_equal(X509_get_key_usage(x),
	    KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT | KU_DECIPHER_ONLY);
	X509_free(x);
	/* No EKU asked: none written. */
	p.n_eku = 0;
	x = issue_ok(&t, req, &p);
	assert_true(X509_get_ext_by_NID(x, NID_ext_key_usage, -1) < 0);
	X509_free(x);
	enroll_req_free(req);
	tca_free(&t);
}

/* subject_cn_only keeps the CN alone; an empty subject makes the SAN
 * critical; no subject and no identifier fails. */
static void
test_subject(void **state)
{
	struct issue_params p = default_params();
	struct enroll_req *req;
	struct got g = {0};
	X509_NAME *name;
	struct tca t;
	X509 *x;

	(void)state;
	tca_make(&t, KEY_P256, 0, 3650);
	req = make_req(KEY_P256, "cn.example.com");
	p.subject_cn_only = 1;
	x = issue_ok(&t, req, &p);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_entry_count(name), 1);
	assert_true(X509_NAME_get_index_by_NID(name, NID_commonName, -1) == 0);
	assert_san(x, 0);
	X509_free(x);
	enroll_req_free(req);

	req = make_req(KEY_P256, NULL);
	x = issue_ok(&t, req, &p);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	assert_san(x, 1);
	assert_chain_ok(x, t.cert);
	X509_free(x);

	req->n_idents = 0; /* the array is still freed by the request */
	t.be->issue(t.priv, NULL, req, &p, on_done, &g);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.reason, ENROLL_BACKEND_ERROR);
	assert_null(g.cert);
	req->n_idents = 3;
	enroll_req_free(req);
	tca_free(&t);
}

/* A CA with 10 days left: a 90-day request ends with the CA. */
static void
test_validity_clamped(void **state)
{
	struct issue_params p = default_params();
	struct enroll_req *req;
	struct tca t;
	X509 *x;

	(void)state;
	tca_make(&t, KEY_P256, 0, 10);
	req = make_req(KEY_P256, "short.example.com");
	x = issue_ok(&t, req, &p);
	assert_int_equal(ASN1_TIME_compare(
	                     X509_get0_notAfter(x), X509_get0_notAfter(t.cert)),
	    0);
	assert_chain_ok(x, t.cert);
	X509_free(x);
	enroll_req_free(req);
	tca_free(&t);
}

static int
crl_reason(X509_REVOKED *rev)
{
	ASN1_ENUMERATED *e;
	int crit, r;

	e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (e == NULL)
		return -1;
	r = (int)ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return r;
}

static X509_REVOKED *
crl_find(X509_CRL *crl, const char *hex)
{
	ASN1_INTEGER *ai;
	X509_REVOKED *rev = NULL;
	BIGNUM *bn = NULL;

	assert_true(BN_hex2bn(&bn, hex) > 0);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	assert_non_null(ai);
	if (X509_CRL_get0_by_serial(crl, &rev, ai) != 1)
		rev = NULL;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rev;
}

static void
run_crl(enum key_kind kind, int bits)
{
	struct revoked_entry re[3];
	AUTHORITY_KEYID *akid;
	const unsigned char *p;
	unsigned char *der;
	X509_REVOKED *rev;
	X509_CRL *crl;
	ASN1_INTEGER *num;
	struct tca t;
	size_t len = 0;
	time_t now = time(NULL);

	tca_make(&t, kind, bits, 3650);
	memset(re, 0, sizeof(re));
	snprintf(re[0].serial, sizeof(re[0].serial), "%s",
	    "5A3F0C9B11D2E4F60718293A4B5C6D7E");
	re[0].revoked_at = now - 3600;
	re[0].reason = 1; /* keyCompromise */
	snprintf(re[1].serial, sizeof(re[1].serial), "%s", "01ab");
	re[1].revoked_at = now - 60;
	re[1].reason = 4; /* superseded */
	snprintf(re[2].serial, sizeof(re[2].serial), "%s", "7f");
	re[2].revoked_at = now;
	re[2].reason = 0; /* unspecified: no extension */

	der = t.be->crl(t.priv, re, 3, &len);
	assert_non_null(der);
	assert_true(len > 0);
	p = der;
	crl = d2i_X509_CRL(NULL, &p, (long)len);
	assert_non_null(crl);
	assert_ptr_equal(p, der + len);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_CRL_verify(crl, t.key), 1);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	                     X509_get_subject_name(t.cert)),
	    0);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 3);

	rev = crl_find(crl, re[0].serial);
	assert_non_null(rev);
	assert_int_equal(crl_reason(rev), 1);
	assert_int_equal(
	    ASN1_TIME_cmp_time_t(
	        X509_REVOKED_get0_revocationDate(rev), re[0].revoked_at),
	    0);
	rev = crl_find(crl, "1AB");
	assert_non_null(rev);
	assert_int_equal(crl_reason(rev), 4);
	rev = crl_find(crl, "7F");
	assert_non_null(rev);
	assert_int_equal(crl_reason(rev), -1);
	assert_null(crl_find(crl, "02"));

	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	assert_non_null(num);
	assert_true(ASN1_INTEGER_get(num) >= (long)now);
	ASN1_INTEGER_free(num);
	akid =
	    X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(
	                     akid->keyid, X509_get0_subject_key_id(t.cert)),
	    0);
	AUTHORITY_KEYID_free(akid);
	assert_true(ASN1_TIME_cmp_time_t(
	                X509_CRL_get0_nextUpdate(crl), now + 7 * DAY - 60) > 0);
	assert_true(ASN1_TIME_cmp_time_t(
	                X509_CRL_get0_nextUpdate(crl), now + 7 * DAY + 60) < 0);
	X509_CRL_free(crl);
	free(der);

	/* A serial that is not hex fails the CRL, it is not skipped. */
	snprintf(re[1].serial, sizeof(re[1].serial), "%s", "-12");
	assert_null(t.be->crl(t.priv, re, 3, &len));
	tca_free(&t);
}

static void
test_crl_p256(void **state)
{
	(void)state;
	run_crl(KEY_P256, 0);
}

static void
test_crl_ed25519(void **state)
{
	(void)state;
	run_crl(KEY_ED25519, 0);
}

static void
test_crl_rsa(void **state)
{
	(void)state;
	run_crl(KEY_RSA, 2048);
}

/* The optional chain file follows the CA in ca_chain. */
static void
test_chain(void **state)
{
	STACK_OF(X509) *chain;
	EVP_PKEY *key, *root_key;
	X509 *ca, *root;
	char err[512];
	void *priv = NULL;

	(void)state;
	key = cert_keygen(KEY_P256, 0);
	root_key = cert_keygen(KEY_P256, 0);
	assert_non_null(key);
	assert_non_null(root_key);
	ca = self_signed(key, "issuing CA", 365, 1);
	root = self_signed(root_key, "root above", 365, 1);
	save(key, "ca.key", ca, "ca.pem");
	save(NULL, NULL, root, "chain.pem");
	assert_int_equal(
	    init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	              "\"key\":\"ca.key\",\"chain\":\"chain.pem\"}",
	        &priv, err, sizeof(err)),
	    0);
	chain = ca_backend_find("local")->ca_chain(priv);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 2);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), ca), 0);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 1), root), 0);
	assert_int_equal(ca_backend_find("local")->revoke(priv, "01", 1), 0);
	ca_backend_find("local")->free(priv);
	X509_free(ca);
	X509_free(root);
	EVP_PKEY_free(key);
	EVP_PKEY_free(root_key);
}

static void
test_init_errors(void **state)
{
	EVP_PKEY *key, *other;
	X509 *ca, *leaf;
	char err[512], want[300];
	void *priv = (void *)1;

	(void)state;
	key = cert_keygen(KEY_P256, 0);
	other = cert_keygen(KEY_P256, 0);
	assert_non_null(key);
	assert_non_null(other);
	ca = self_signed(key, "CA", 365, 1);
	leaf = self_signed(key, "not a CA", 365, 0);
	save(key, "ca.key", ca, "ca.pem");
	save(other, "other.key", leaf, "leaf.pem");

	/* Missing key file: the key named, with its full path. */
	assert_int_equal(init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	                           "\"key\":\"absent.key\"}",
	                     &priv, err, sizeof(err)),
	    -1);
	assert_null(priv);
	snprintf(want, sizeof(want),
	    "backends.local.key: cannot read %s/"
	    "absent.key",
	    tmpdir);
	assert_string_equal(err, want);

	/* A key that is not the certificate's. */
	assert_int_equal(init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	                           "\"key\":\"other.key\"}",
	                     &priv, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "backends.local.key: "));
	assert_non_null(strstr(err, "other.key"));

	/* Not a CA. */
	assert_int_equal(init_json("{\"type\":\"local\",\"cert\":\"leaf.pem\","
	                           "\"key\":\"ca.key\"}",
	                     &priv, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "backends.local.cert: "));

	/* Missing members and bad values. */
	assert_int_equal(init_json("{\"type\":\"local\",\"key\":\"ca.key\"}",
	                     &priv, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "backends.local.cert"));
	assert_int_equal(init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	                           "\"key\":\"ca.key\",\"crl_days\":0}",
	                     &priv, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "backends.local.crl_days"));
	assert_int_equal(
	    init_json("{\"type\":\"local\",\"cert\":\"ca.pem\","
	              "\"key\":\"ca.key\",\"chain\":\"nochain.pem\"}",
	        &priv, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "backends.local.chain: cannot read"));
	assert_null(priv);

	assert_null(ca_backend_find("nope"));
	assert_null(ca_backend_find(NULL));
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/enrolld-localca-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	static const char *const files[] = {
	    "ca.pem", "ca.key", "chain.pem", "other.key", "leaf.pem"};
	char p[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		path_in(p, sizeof(p), files[i]);
		unlink(p);
	}
	return rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_issue_p256_ca),
	    cmocka_unit_test(test_issue_p384_ca),
	    cmocka_unit_test(test_issue_rsa_ca),
	    cmocka_unit_test(test_issue_ed25519_ca),
	    cmocka_unit_test(test_key_usage),
	    cmocka_unit_test(test_subject),
	    cmocka_unit_test(test_validity_clamped),
	    cmocka_unit_test(test_crl_p256),
	    cmocka_unit_test(test_crl_ed25519),
	    cmocka_unit_test(test_crl_rsa),
	    cmocka_unit_test(test_chain),
	    cmocka_unit_test(test_init_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
