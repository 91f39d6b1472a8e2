/*
 * The local CA signer: one X.509 v3 end-entity certificate (RFC 5280)
 * from a CSR the policy approved.  Only the CSR's subject and public key
 * are used; its extensions are never copied, every extension is built
 * here from the issue parameters and the approved identifiers.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "backends/local/local.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/log.h"

/* KU_* bits of x509v3.h in KeyUsage BIT STRING order (RFC 5280 §4.2.1.3). */
static const unsigned ku_bits[] = {KU_DIGITAL_SIGNATURE, KU_NON_REPUDIATION,
    KU_KEY_ENCIPHERMENT, KU_DATA_ENCIPHERMENT, KU_KEY_AGREEMENT,
    KU_KEY_CERT_SIGN, KU_CRL_SIGN, KU_ENCIPHER_ONLY, KU_DECIPHER_ONLY};

/*
 * Subject (RFC 5280 §4.1.2.6): the CSR's, or only its first commonName
 * when cn_only.  An empty subject needs subjectAltName, which the caller
 * then marks critical; *empty says which.  0 / -1.
 */
static int
set_subject(X509 *x, const struct enroll_req *req, int cn_only, int *empty)
{
	const X509_NAME *csr_name;
	X509_NAME *name = NULL;
	int rc = -1, idx;

	csr_name = X509_REQ_get_subject_name(req->csr);
	if (!cn_only) {
		if (X509_set_subject_name(x, csr_name) != 1)
			goto out;
		*empty = X509_NAME_entry_count(csr_name) == 0;
		return 0;
	}
	if ((name = X509_NAME_new()) == NULL)
		goto out;
	idx = X509_NAME_get_index_by_NID(csr_name, NID_commonName, -1);
	if (idx >= 0 &&
	    X509_NAME_add_entry(
	        name, X509_NAME_get_entry(csr_name, idx), -1, 0) != 1)
		goto out;
	if (X509_set_subject_name(x, name) != 1)
		goto out;
	*empty = idx < 0;
	rc = 0;
out:
	X509_NAME_free(name);
	return rc;
}

/*
 * Validity (RFC 5280 §4.1.2.5): now - backdate .. now + validity_days,
 * both kept inside the CA's own validity so the chain nests.  0 / -1.
 */
static int
set_validity(
    X509 *x, const X509 *ca, const struct issue_params *params, const char *id)
{
	const ASN1_TIME *ca_nb = X509_get0_notBefore(ca);
	const ASN1_TIME *ca_na = X509_get0_notAfter(ca);
	time_t now = time(NULL), nb, na;

	nb =
	    now - (params->backdate_seconds > 0 ? params->backdate_seconds : 0);
	na = now + (time_t)params->validity_days * 86400;
	if (params->validity_days <= 0 ||
	    ASN1_TIME_cmp_time_t(ca_na, now) <= 0) {
		log_error("req=%s msg=\"validity: the CA certificate has "
		          "expired or %d days were asked\"",
		    id, params->validity_days);
		return -1;
	}
	if (ASN1_TIME_cmp_time_t(ca_nb, nb) > 0) {
		if (X509_set1_notBefore(x, ca_nb) != 1)
			return -1;
	} else if (ASN1_TIME_set(X509_getm_notBefore(x), nb) == NULL)
		return -1;
	if (ASN1_TIME_cmp_time_t(ca_na, na) < 0) {
		log_info("req=%s msg=\"notAfter clamped to the CA's "
		         "notAfter\"",
		    id);
		if (X509_set1_notAfter(x, ca_na) != 1)
			return -1;
	} else if (ASN1_TIME_set(X509_getm_notAfter(x), na) == NULL)
		return -1;
	return 0;
}

/* basicConstraints, critical, cA FALSE (RFC 5280 §4.2.1.9).  0 / -1. */
static int
add_basic_constraints(X509 *x)
{
	BASIC_CONSTRAINTS *bc;
	int rc = -1;

	if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
		return -1;
	bc->ca = 0;
	if (X509_add1_ext_i2d(
	        x, NID_basic_constraints, bc, 1, X509V3_ADD_REPLACE) == 1)
		rc = 0;
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

/*
 * keyUsage, critical (RFC 5280 §4.2.1.3): `ku` KU_* bits, or by key type
 * when 0: RSA may also encrypt a key (TLS 1.2 RSA key exchange); EC and
 * EdDSA keys only sign.  0 / -1.
 */
static int
add_key_usage(X509 *x, unsigned ku, const EVP_PKEY *pk)
{
	ASN1_BIT_STRING *bs;
	size_t i;
	int rc = -1;

	if (ku == 0) {
		ku = KU_DIGITAL_SIGNATURE;
		if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA)
			ku |= KU_KEY_ENCIPHERMENT;
	}
	if ((bs = ASN1_BIT_STRING_new()) == NULL)
		return -1;
	for (i = 0; i < sizeof(ku_bits) / sizeof(ku_bits[0]); i++)
		if ((ku & ku_bits[i]) != 0 &&
		    ASN1_BIT_STRING_set_bit(bs, (int)i, 1) != 1)
			goto out;
	if (X509_add1_ext_i2d(x, NID_key_usage, bs, 1, X509V3_ADD_REPLACE) != 1)
		goto out;
	rc = 0;
out:
	ASN1_BIT_STRING_free(bs);
	return rc;
}

/* extendedKeyUsage (RFC 5280 §4.2.1.12), not critical; none when the
 * profile lists none.  0 / -1. */
static int
add_eku(X509 *x, const int *nids, size_t n)
{
	EXTENDED_KEY_USAGE *eku;
	ASN1_OBJECT *obj;
	size_t i;
	int rc = -1;

	if (n == 0)
		return 0;
	if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((obj = OBJ_nid2obj(nids[i])) == NULL)
			goto out;
		if (sk_ASN1_OBJECT_push(eku, obj) <= 0) {
			ASN1_OBJECT_free(obj);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(
	        x, NID_ext_key_usage, eku, 0, X509V3_ADD_REPLACE) != 1)
		goto out;
	rc = 0;
out:
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/*
 * subjectKeyIdentifier (RFC 5280 §4.2.1.2 method 1: SHA-1 of the
 * subjectPublicKey BIT STRING) and authorityKeyIdentifier naming the CA.
 * 0 / -1.
 */
static int
add_key_ids(X509 *x, const struct local_ca *ca)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	ASN1_OCTET_STRING *ski = NULL;
	AUTHORITY_KEYID *akid = NULL;
	unsigned int mdlen;
	int rc = -1;

	if (X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) != 1 ||
	    (ski = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(ski, md, (int)mdlen) != 1 ||
	    X509_add1_ext_i2d(
	        x, NID_subject_key_identifier, ski, 0, X509V3_ADD_REPLACE) != 1)
		goto out;
	if ((akid = local_ca_akid(ca)) == NULL ||
	    X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0,
	        X509V3_ADD_REPLACE) != 1)
		goto out;
	rc = 0;
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

/* An IA5String GeneralName of `type` (GEN_DNS, GEN_EMAIL, GEN_URI); NULL
 * when `value` is not ASCII or on allocation failure. */
static GENERAL_NAME *
gen_ia5(int type, const char *value)
{
	ASN1_IA5STRING *s = NULL;
	GENERAL_NAME *gn = NULL;
	size_t i, len = strlen(value);

	for (i = 0; i < len; i++)
		if ((unsigned char)value[i] >= 0x80)
			return NULL;
	if (len == 0 || len > INT_MAX || (s = ASN1_IA5STRING_new()) == NULL ||
	    ASN1_STRING_set(s, value, (int)len) != 1 ||
	    (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, s);
	return gn;
}

/* An iPAddress GeneralName of the raw address (4 or 16 octets). */
static GENERAL_NAME *
gen_ip(const struct enroll_ident *id)
{
	ASN1_OCTET_STRING *s = NULL;
	GENERAL_NAME *gn = NULL;

	if ((id->ip_len != 4 && id->ip_len != 16) ||
	    (s = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(s, id->ip, (int)id->ip_len) != 1 ||
	    (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_OCTET_STRING_free(s);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
	return gn;
}

static GENERAL_NAME *
gen_ident(const struct enroll_ident *id)
{
	switch (id->type) {
	case IDENT_DNS:
		return gen_ia5(GEN_DNS, id->value);
	case IDENT_EMAIL:
		return gen_ia5(GEN_EMAIL, id->value);
	case IDENT_URI:
		return gen_ia5(GEN_URI, id->value);
	case IDENT_IP:
		return gen_ip(id);
	}
	return NULL;
}

/*
 * subjectAltName (RFC 5280 §4.2.1.6) of exactly the approved identifiers;
 * critical when the subject is empty.  Without identifiers there is no
 * SAN, and then the subject must not be empty.  0 / -1.
 */
static int
add_san(X509 *x, const struct enroll_req *req, int subject_empty)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn;
	size_t i;
	int rc = -1;

	if (req->n_idents == 0) {
		if (subject_empty)
			log_error("req=%s msg=\"RFC 5280 4.1.2.6: wanted a "
			          "subject or identifiers, got neither\"",
			    req->id);
		return subject_empty ? -1 : 0;
	}
	if ((gens = GENERAL_NAMES_new()) == NULL)
		return -1;
	for (i = 0; i < req->n_idents; i++) {
		if ((gn = gen_ident(&req->idents[i])) == NULL) {
			log_error("req=%s msg=\"identifier %zu cannot be put "
			          "in subjectAltName\"",
			    req->id, i);
			goto out;
		}
		if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
			GENERAL_NAME_free(gn);
			goto out;
		}
	}
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, subject_empty,
	        X509V3_ADD_REPLACE) != 1)
		goto out;
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * Copy the CSR's SubjectPublicKeyInfo into x as it was encoded.
 * X509_set_pubkey would encode the key and decode it again through
 * OSSL_ENCODER and OSSL_DECODER, which in OpenSSL 3.0 costs more than
 * the certificate signature itself.  0 / -1.
 */
static int
copy_spki(X509 *x, X509_REQ *csr)
{
	X509_PUBKEY *from = X509_REQ_get_X509_PUBKEY(csr);
	X509_PUBKEY *to = X509_get_X509_PUBKEY(x);
	const unsigned char *pk;
	const ASN1_OBJECT *aobj;
	const void *pval;
	ASN1_OBJECT *obj = NULL;
	void *param = NULL;
	unsigned char *key = NULL;
	X509_ALGOR *alg;
	int pklen, ptype;

	if (from == NULL || to == NULL ||
	    X509_PUBKEY_get0_param(NULL, &pk, &pklen, &alg, from) != 1 ||
	    pklen <= 0)
		return -1;
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	if ((obj = OBJ_dup(aobj)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT)
		param = OBJ_dup(pval);
	else if (ptype == V_ASN1_SEQUENCE)
		param = ASN1_STRING_dup(pval);
	else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		goto fail;
	if ((ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE) &&
	    param == NULL)
		goto fail;
	if ((key = OPENSSL_memdup(pk, (size_t)pklen)) == NULL)
		goto fail;
	if (X509_PUBKEY_set0_param(to, obj, ptype, param, key, pklen) != 1)
		goto fail;
	return 0;
fail:
	ASN1_OBJECT_free(obj);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(param);
	else
		ASN1_STRING_free(param);
	OPENSSL_free(key);
	return -1;
}

/* The certified key: a server-made one (serverkeygen), else the CSR's. */
static int
set_pubkey(X509 *x, const struct enroll_req *req)
{
	if (req->server_key != NULL)
		return X509_set_pubkey(x, req->server_key) == 1 ? 0 : -1;
	return copy_spki(x, req->csr);
}

/*
 * The signed certificate for req under params, or NULL (the reason is
 * logged; the OpenSSL queue is left for the caller).  Caller frees.
 */
static X509 *
build_cert(const struct local_ca *ca, const struct enroll_req *req,
    const struct issue_params *params)
{
	X509 *x = NULL, *ret = NULL;
	EVP_PKEY *pk;
	int empty;

	/* serverkeygen (RFC 7030 §4.4): certify the key we generated, not
	 * the one that signed the CSR. */
	pk = req->server_key;
	if (pk == NULL)
		pk = req->csr_key; /* csr_parse: the CSR has no decoded key */
	if (pk == NULL && req->csr != NULL)
		pk = X509_REQ_get0_pubkey(req->csr);
	if (pk == NULL) {
		log_error(
		    "req=%s msg=\"no CSR public key to certify\"", req->id);
		goto out;
	}
	if ((x = X509_new()) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    cert_random_serial(X509_get_serialNumber(x)) == -1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) != 1 ||
	    set_subject(x, req, params->subject_cn_only, &empty) == -1 ||
	    set_validity(x, ca->cert, params, req->id) == -1 ||
	    set_pubkey(x, req) == -1)
		goto out;
	if (add_basic_constraints(x) == -1 ||
	    add_key_usage(x, params->key_usage, pk) == -1 ||
	    add_eku(x, params->eku_nids, params->n_eku) == -1 ||
	    add_key_ids(x, ca) == -1 || add_san(x, req, empty) == -1)
		goto out;
	if (X509_sign(x, ca->key, ca->md) <= 0)
		goto out;
	ret = x;
	x = NULL;
out:
	X509_free(x);
	return ret;
}

/*
 * issue slot (backend.h).  Signing is quick and local, so `done` is
 * called before this returns and `base` is not used.
 */
void
local_ca_issue(void *priv, struct event_base *base,
    const struct enroll_req *req, const struct issue_params *params,
    ca_issue_done_fn *done, void *arg)
{
	const struct local_ca *ca = priv;
	char serial[41];
	X509 *cert;

	(void)base;
	if ((cert = build_cert(ca, req, params)) == NULL) {
		log_error(
		    "req=%s msg=\"the local CA could not sign\"", req->id);
		log_openssl(LOG_LVL_ERROR, "local CA signing: OpenSSL said");
		done(arg, ENROLL_BACKEND_ERROR,
		    "the CA could not sign the certificate", NULL);
		return;
	}
	if (cert_serial_hex(cert, serial, sizeof(serial)) == 0)
		log_debug("req=%s msg=\"local CA signed\" serial=%s", req->id,
		    serial);
	done(arg, ENROLL_OK, NULL, cert);
}
