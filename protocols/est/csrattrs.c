/*
 * CSR attributes (RFC 7030 §4.5): the DER CsrAttrs a client fetches
 * with GET /.well-known/est/csrattrs to learn which key and signature
 * algorithm the profile wants.
 */
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "protocols/est/est_int.h"

/* RFC 7030 §4.5.2:
 *   AttrOrOID ::= CHOICE (oid OBJECT IDENTIFIER, attribute Attribute)
 * Attribute is PKCS#10's { type, values SET OF ANY }: X509_ATTRIBUTE. */
/* The template macros are not C that clang-format understands. */
/* clang-format off */
ASN1_CHOICE(EST_ATTR_OR_OID) = {
	ASN1_SIMPLE(EST_ATTR_OR_OID, value.oid, ASN1_OBJECT),
	ASN1_SIMPLE(EST_ATTR_OR_OID, value.attribute, X509_ATTRIBUTE),
} ASN1_CHOICE_END(EST_ATTR_OR_OID)

IMPLEMENT_ASN1_FUNCTIONS(EST_ATTR_OR_OID)

/* RFC 7030 §4.5.2: CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID */
ASN1_ITEM_TEMPLATE(EST_CSRATTRS) = ASN1_EX_TEMPLATE_TYPE(
    ASN1_TFLG_SEQUENCE_OF, 0, CsrAttrs, EST_ATTR_OR_OID)
ASN1_ITEM_TEMPLATE_END(EST_CSRATTRS)

IMPLEMENT_ASN1_FUNCTIONS(EST_CSRATTRS)

/*
 * What each key kind asks for.  EC keys name their curve inside an
 * Attribute { id-ecPublicKey, { curve } } as in the §4.5.2 example; RSA
 * and Ed25519 are bare OIDs.  The signature OID tells the client which
 * hash to sign with; Ed25519 has none (the key OID implies it).
 */
static const struct {
	enum key_kind kind;
	int key_nid;
	int curve_nid;
	int sig_nid;
} key_attrs[] = {
	{KEY_RSA, NID_rsaEncryption, NID_undef, NID_sha256WithRSAEncryption},
	{KEY_P256, NID_X9_62_id_ecPublicKey, NID_X9_62_prime256v1,
	    NID_ecdsa_with_SHA256},
	{KEY_P384, NID_X9_62_id_ecPublicKey, NID_secp384r1,
	    NID_ecdsa_with_SHA384},
	{KEY_P521, NID_X9_62_id_ecPublicKey, NID_secp521r1,
	    NID_ecdsa_with_SHA512},
	{KEY_ED25519, NID_ED25519, NID_undef, NID_undef},
};
/* clang-format on */

/* Append a bare OID.  OBJ_nid2obj returns a static object, so the
 * free in EST_ATTR_OR_OID_free is a no-op for it.  0 / -1. */
static int
push_oid(EST_CSRATTRS *attrs, int nid)
{
	EST_ATTR_OR_OID *item;

	if ((item = EST_ATTR_OR_OID_new()) == NULL)
		return -1;
	item->type = EST_ATTR_OR_OID_OID;
	if ((item->value.oid = OBJ_nid2obj(nid)) == NULL ||
	    sk_EST_ATTR_OR_OID_push(attrs, item) <= 0) {
		EST_ATTR_OR_OID_free(item);
		return -1;
	}
	return 0;
}

/* Append Attribute { type nid, values { OID value_nid } }.  0 / -1. */
static int
push_attr(EST_CSRATTRS *attrs, int nid, int value_nid)
{
	EST_ATTR_OR_OID *item;
	ASN1_OBJECT *value;

	if ((value = OBJ_nid2obj(value_nid)) == NULL)
		return -1;
	if ((item = EST_ATTR_OR_OID_new()) == NULL)
		return -1;
	item->type = EST_ATTR_OR_OID_ATTRIBUTE;
	item->value.attribute =
	    X509_ATTRIBUTE_create(nid, V_ASN1_OBJECT, value);
	if (item->value.attribute == NULL ||
	    sk_EST_ATTR_OR_OID_push(attrs, item) <= 0) {
		EST_ATTR_OR_OID_free(item);
		return -1;
	}
	return 0;
}

unsigned char *
est_csrattrs_der(enum key_kind kind, size_t *len)
{
	EST_CSRATTRS *attrs = NULL;
	unsigned char *der = NULL;
	size_t i;
	int n;

	for (i = 0; i < sizeof(key_attrs) / sizeof(key_attrs[0]); i++)
		if (key_attrs[i].kind == kind)
			break;
	if (i == sizeof(key_attrs) / sizeof(key_attrs[0]))
		return NULL;
	if ((attrs = EST_CSRATTRS_new()) == NULL)
		goto out;
	if (key_attrs[i].curve_nid != NID_undef) {
		if (push_attr(attrs, key_attrs[i].key_nid,
		        key_attrs[i].curve_nid) == -1)
			goto out;
	} else if (push_oid(attrs, key_attrs[i].key_nid) == -1)
		goto out;
	/* The client should send its extensions (SANs) in a CSR
	 * extensionRequest attribute; the policy reads them there. */
	if (push_oid(attrs, NID_ext_req) == -1)
		goto out;
	if (key_attrs[i].sig_nid != NID_undef &&
	    push_oid(attrs, key_attrs[i].sig_nid) == -1)
		goto out;
	if ((n = i2d_EST_CSRATTRS(attrs, &der)) <= 0) {
		der = NULL;
		goto out;
	}
	*len = (size_t)n;
out:
	sk_EST_ATTR_OR_OID_pop_free(attrs, EST_ATTR_OR_OID_free);
	return der;
}
