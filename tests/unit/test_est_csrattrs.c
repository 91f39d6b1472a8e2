/*
 * EST CsrAttrs (RFC 7030 §4.5.2): the DER decodes with our template and
 * with a generic parser, and names the OIDs each key kind wants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "protocols/est/est_int.h"

struct want {
	enum key_kind kind;
	int first_nid; /* bare OID, or Attribute type */
	int curve_nid; /* Attribute value, NID_undef for a bare OID */
	int sig_nid;   /* NID_undef when none */
};

static const struct want wants[] = {
    {KEY_RSA, NID_rsaEncryption, NID_undef, NID_sha256WithRSAEncryption},
    {KEY_P256, NID_X9_62_id_ecPublicKey, NID_X9_62_prime256v1,
        NID_ecdsa_with_SHA256},
    {KEY_P384, NID_X9_62_id_ecPublicKey, NID_secp384r1, NID_ecdsa_with_SHA384},
    {KEY_ED25519, NID_ED25519, NID_undef, NID_undef},
};

static EST_CSRATTRS *
decode_exact(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EST_CSRATTRS *attrs;

	attrs = d2i_EST_CSRATTRS(NULL, &p, (long)len);
	assert_non_null(attrs);
	assert_ptr_equal(p, der + len);
	return attrs;
}

static void
check_oid(EST_ATTR_OR_OID *item, int nid)
{
	assert_int_equal(item->type, EST_ATTR_OR_OID_OID);
	assert_int_equal(OBJ_obj2nid(item->value.oid), nid);
}

static void
check_attr(EST_ATTR_OR_OID *item, int type_nid, int value_nid)
{
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *v;

	assert_int_equal(item->type, EST_ATTR_OR_OID_ATTRIBUTE);
	attr = item->value.attribute;
	assert_int_equal(
	    OBJ_obj2nid(X509_ATTRIBUTE_get0_object(attr)), type_nid);
	assert_int_equal(X509_ATTRIBUTE_count(attr), 1);
	v = X509_ATTRIBUTE_get0_type(attr, 0);
	assert_non_null(v);
	assert_int_equal(ASN1_TYPE_get(v), V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(v->value.object), value_nid);
}

static void
test_each_kind(void **state)
{
	EST_CSRATTRS *attrs;
	unsigned char *der;
	size_t i, len, n;

	(void)state;
	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		der = est_csrattrs_der(wants[i].kind, &len);
		assert_non_null(der);
		attrs = decode_exact(der, len);
		n = wants[i].sig_nid != NID_undef ? 3 : 2;
		assert_int_equal(sk_EST_ATTR_OR_OID_num(attrs), (int)n);
		if (wants[i].curve_nid != NID_undef)
			check_attr(sk_EST_ATTR_OR_OID_value(attrs, 0),
			    wants[i].first_nid, wants[i].curve_nid);
		else
			check_oid(sk_EST_ATTR_OR_OID_value(attrs, 0),
			    wants[i].first_nid);
		check_oid(sk_EST_ATTR_OR_OID_value(attrs, 1), NID_ext_req);
		if (n == 3)
			check_oid(sk_EST_ATTR_OR_OID_value(attrs, 2),
			    wants[i].sig_nid);
		sk_EST_ATTR_OR_OID_pop_free(attrs, EST_ATTR_OR_OID_free);
		OPENSSL_free(der);
	}
}

static void
test_unknown_kind(void **state)
{
	size_t len = 0;

	(void)state;
	assert_null(est_csrattrs_der(KEY_UNKNOWN, &len));
	assert_null(est_csrattrs_der(KEY_ED448, &len));
}

/* A generic DER parser sees SEQUENCE { OID | SEQUENCE, ... }. */
static void
test_generic_parse(void **state)
{
	ASN1_SEQUENCE_ANY *seq;
	const unsigned char *p;
	unsigned char *der;
	ASN1_TYPE *t;
	size_t len;

	(void)state;
	der = est_csrattrs_der(KEY_P256, &len);
	assert_non_null(der);
	/* The outer tag is a constructed SEQUENCE. */
	assert_int_equal(der[0], 0x30);
	p = der;
	seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)len);
	assert_non_null(seq);
	assert_ptr_equal(p, der + len);
	assert_int_equal(sk_ASN1_TYPE_num(seq), 3);
	t = sk_ASN1_TYPE_value(seq, 0);
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
	t = sk_ASN1_TYPE_value(seq, 1);
	assert_int_equal(ASN1_TYPE_get(t), V_ASN1_OBJECT);
	assert_int_equal(OBJ_obj2nid(t->value.object), NID_ext_req);
	sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
	OPENSSL_free(der);
}

/* Trailing bytes must show as unconsumed input. */
static void
test_trailing_garbage(void **state)
{
	const unsigned char *p;
	unsigned char *der, *big;
	EST_CSRATTRS *attrs;
	size_t len;

	(void)state;
	der = est_csrattrs_der(KEY_RSA, &len);
	assert_non_null(der);
	big = malloc(len + 2);
	assert_non_null(big);
	memcpy(big, der, len);
	big[len] = 0x05;
	big[len + 1] = 0x00;
	p = big;
	attrs = d2i_EST_CSRATTRS(NULL, &p, (long)(len + 2));
	assert_non_null(attrs);
	assert_ptr_not_equal(p, big + len + 2);
	sk_EST_ATTR_OR_OID_pop_free(attrs, EST_ATTR_OR_OID_free);
	free(big);
	OPENSSL_free(der);
}

/* `openssl asn1parse` reads it and names the curve; skipped when the
 * openssl command is not installed. */
static void
test_openssl_asn1parse(void **state)
{
	char path[] = "/tmp/est_csrattrs_XXXXXX", cmd[128], line[256];
	unsigned char *der;
	int fd, found = 0, status;
	size_t len;
	FILE *fp;

	(void)state;
	if (system("openssl version >/dev/null 2>&1") != 0)
		skip();
	der = est_csrattrs_der(KEY_P384, &len);
	assert_non_null(der);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, der, len), (ssize_t)len);
	close(fd);
	snprintf(
	    cmd, sizeof(cmd), "openssl asn1parse -inform DER -in %s", path);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, "secp384r1") != NULL)
			found = 1;
	status = pclose(fp);
	unlink(path);
	OPENSSL_free(der);
	assert_int_equal(status, 0);
	assert_true(found);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_kind),
	    cmocka_unit_test(test_unknown_kind),
	    cmocka_unit_test(test_generic_parse),
	    cmocka_unit_test(test_trailing_garbage),
	    cmocka_unit_test(test_openssl_asn1parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
