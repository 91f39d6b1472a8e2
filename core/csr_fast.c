/*
 * PKCS#10 (RFC 2986) parsing without OpenSSL 3.0's key decoders.
 *
 * d2i_X509_REQ decodes the SubjectPublicKeyInfo through OSSL_DECODER,
 * which enumerates every provider's decoders for each CSR and costs
 * more than the signature check.  For the key and signature types that
 * make up nearly all traffic we declare the CertificationRequest with
 * our own templates that leave the key undecoded, build the EVP_PKEY
 * from its parts (EVP_PKEY_fromdata, EVP_PKEY_new_raw_public_key_ex),
 * verify the signature over the received CertificationRequestInfo
 * bytes, and assemble an X509_REQ from the pieces.  Anything else goes
 * through csr_from_der, so the two accept the same CSRs.
 */
#include <limits.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "core/csr.h"

/*
 * The templates need type names (offsetof in ASN1_SIMPLE), hence the
 * typedefs, which stay private to this file.
 */

/* RFC 5280 §4.1: SubjectPublicKeyInfo, the key bits left undecoded. */
typedef struct {
	X509_ALGOR *alg;
	ASN1_BIT_STRING *key;
} CSR_SPKI;

ASN1_SEQUENCE(CSR_SPKI) =
    {
        ASN1_SIMPLE(CSR_SPKI, alg, X509_ALGOR),
        ASN1_SIMPLE(CSR_SPKI, key, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_SPKI)

    /*
 * RFC 2986 §4.1: CertificationRequestInfo.  attributes is [0] IMPLICIT
 * and not OPTIONAL in the RFC; OpenSSL's X509_REQ_INFO tolerates its
 * absence and so do we, or the fallback would disagree.
 */
    typedef struct {
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CSR_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

ASN1_SEQUENCE(CSR_INFO) =
    {
        ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
        ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
        ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
        ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0),
} static_ASN1_SEQUENCE_END(CSR_INFO)

    /*
 * RFC 2986 §4.2: CertificationRequest.  The info is ANY so that its
 * TLV is kept as received (an ASN1_TYPE of type V_ASN1_SEQUENCE whose
 * string holds the whole encoding): the signature is over those bytes.
 */
    typedef struct {
	ASN1_TYPE *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *sig;
} CSR_OUTER;

ASN1_SEQUENCE(CSR_OUTER) =
    {
        ASN1_SIMPLE(CSR_OUTER, info, ASN1_ANY),
        ASN1_SIMPLE(CSR_OUTER, sig_alg, X509_ALGOR),
        ASN1_SIMPLE(CSR_OUTER, sig, ASN1_BIT_STRING),
} static_ASN1_SEQUENCE_END(CSR_OUTER)

    /* RFC 8017 §A.1.1: RSAPublicKey. */
    typedef struct {
	ASN1_INTEGER *n;
	ASN1_INTEGER *e;
} CSR_RSAPUB;

ASN1_SEQUENCE(CSR_RSAPUB) =
    {
        ASN1_SIMPLE(CSR_RSAPUB, n, ASN1_INTEGER),
        ASN1_SIMPLE(CSR_RSAPUB, e, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(CSR_RSAPUB)

    /*
 * One DER element of template `it`, consuming exactly `len` bytes.
 * Caller frees with ASN1_item_free.  NULL on any error.
 */
    static ASN1_VALUE
    * d2i_exact(const ASN1_ITEM *it, const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	ASN1_VALUE *v;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((v = ASN1_item_d2i(NULL, &p, (long)len, it)) == NULL)
		return NULL;
	if (p != der + len) {
		ASN1_item_free(v, it);
		return NULL;
	}
	return v;
}

/* The received bytes of a BIT STRING with no unused bits, else NULL. */
static const unsigned char *
bits_whole(const ASN1_BIT_STRING *bs, size_t *len)
{
	int n = ASN1_STRING_length(bs);

	/* OpenSSL keeps the unused-bit count in the low three flag bits. */
	if ((bs->flags & 0x07) != 0 || n <= 0)
		return NULL;
	*len = (size_t)n;
	return ASN1_STRING_get0_data(bs);
}

/* A positive INTEGER as a new BIGNUM, else NULL. */
static BIGNUM *
int_positive(const ASN1_INTEGER *i)
{
	BIGNUM *bn;

	if (ASN1_STRING_type(i) != V_ASN1_INTEGER)
		return NULL;
	if ((bn = ASN1_INTEGER_to_BN(i, NULL)) != NULL && BN_is_zero(bn)) {
		BN_free(bn);
		bn = NULL;
	}
	return bn;
}

/* rsaEncryption (RFC 8017 §A.1.1): n and e positive.  NULL on error. */
static EVP_PKEY *
key_rsa(const unsigned char *bits, size_t len)
{
	const ASN1_ITEM *it = ASN1_ITEM_rptr(CSR_RSAPUB);
	CSR_RSAPUB *rsa = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if ((rsa = (CSR_RSAPUB *)d2i_exact(it, bits, len)) == NULL ||
	    (n = int_positive(rsa->n)) == NULL ||
	    (e = int_positive(rsa->e)) == NULL)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	ASN1_item_free((ASN1_VALUE *)rsa, it);
	return pkey;
}

/*
 * Keys holding only the domain parameters of the common curves, made
 * once: EVP_PKEY_fromdata builds the EC_GROUP from its name for every
 * key (~40 us on P-256), EVP_PKEY_dup copies a made one (~8 us).  Read
 * only once made; they live as long as the process.  A NULL entry (a
 * failed make) sends its curve down the slower road.
 */
static const int curve_nids[] = {
    NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1};
static EVP_PKEY *curve_tmpl[sizeof(curve_nids) / sizeof(curve_nids[0])];
static CRYPTO_ONCE curve_once = CRYPTO_ONCE_STATIC_INIT;

/* A key of type "EC" from `params` (selection `sel`); NULL on error. */
static EVP_PKEY *
ec_fromdata(int sel, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pkey = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, sel, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static void
curve_init(void)
{
	OSSL_PARAM params[2];
	size_t i;

	for (i = 0; i < sizeof(curve_nids) / sizeof(curve_nids[0]); i++) {
		params[0] =
		    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
		        (char *)OBJ_nid2sn(curve_nids[i]), 0);
		params[1] = OSSL_PARAM_construct_end();
		curve_tmpl[i] = ec_fromdata(EVP_PKEY_KEY_PARAMETERS, params);
	}
	ERR_clear_error();
}

/* The parameters-only key of curve `nid`, or NULL.  Borrowed. */
static const EVP_PKEY *
curve_template(int nid)
{
	size_t i;

	if (CRYPTO_THREAD_run_once(&curve_once, curve_init) != 1)
		return NULL;
	for (i = 0; i < sizeof(curve_nids) / sizeof(curve_nids[0]); i++)
		if (curve_nids[i] == nid)
			return curve_tmpl[i];
	return NULL;
}

/*
 * id-ecPublicKey with a namedCurve (RFC 5480 §2.1.1.1).  Either import
 * checks that the point lies on the curve.  NULL on error.
 */
static EVP_PKEY *
key_ec(const ASN1_OBJECT *curve, const unsigned char *bits, size_t len)
{
	OSSL_PARAM params[3];
	const EVP_PKEY *tmpl;
	EVP_PKEY *pkey;
	const char *name;
	int nid = OBJ_obj2nid(curve);

	if ((tmpl = curve_template(nid)) != NULL) {
		if ((pkey = EVP_PKEY_dup((EVP_PKEY *)tmpl)) != NULL &&
		    EVP_PKEY_set1_encoded_public_key(pkey, bits, len) != 1) {
			EVP_PKEY_free(pkey);
			pkey = NULL;
		}
		return pkey;
	}
	/* SM2 keys take another road through OpenSSL: not ours. */
	if (nid == NID_undef || nid == NID_sm2 ||
	    (name = OBJ_nid2sn(nid)) == NULL)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(
	    OSSL_PKEY_PARAM_PUB_KEY, (void *)bits, len);
	params[2] = OSSL_PARAM_construct_end();
	return ec_fromdata(EVP_PKEY_PUBLIC_KEY, params);
}

/*
 * The EVP_PKEY of a fast-path SPKI: rsaEncryption (NULL or absent
 * parameters, which is what OpenSSL accepts), id-ecPublicKey with a
 * namedCurve, Ed25519 and Ed448 (absent parameters, RFC 8410 §3).
 * NULL for anything else or any error: the caller then falls back to
 * OpenSSL's own decoding, which has the last word.  *nid is the SPKI
 * algorithm.  Caller frees.
 */
static EVP_PKEY *
spki_key(const CSR_SPKI *spki, int *nid)
{
	const ASN1_OBJECT *obj;
	const unsigned char *bits;
	const void *pval;
	size_t len;
	int ptype;

	X509_ALGOR_get0(&obj, &ptype, &pval, spki->alg);
	if ((bits = bits_whole(spki->key, &len)) == NULL)
		return NULL;
	switch ((*nid = OBJ_obj2nid(obj))) {
	case NID_rsaEncryption:
		if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
			return NULL;
		return key_rsa(bits, len);
	case NID_X9_62_id_ecPublicKey:
		if (ptype != V_ASN1_OBJECT)
			return NULL;
		return key_ec(pval, bits, len);
	case NID_ED25519:
	case NID_ED448:
		if (ptype != V_ASN1_UNDEF)
			return NULL;
		return EVP_PKEY_new_raw_public_key_ex(NULL,
		    *nid == NID_ED25519 ? "ED25519" : "ED448", NULL, bits, len);
	default:
		return NULL;
	}
}

/*
 * 1 when the signature algorithm is one of the fast set (PKCS#1 v1.5
 * RSA and ECDSA with SHA-1 or SHA-2, Ed25519, Ed448), with its digest
 * and key type NIDs; 0 otherwise (RSA-PSS, DSA, SM2, unknown).
 */
static int
sig_alg_fast(const X509_ALGOR *alg, int *md_nid, int *pk_nid)
{
	const ASN1_OBJECT *obj;
	int nid;

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	switch ((nid = OBJ_obj2nid(obj))) {
	case NID_sha1WithRSAEncryption:
	case NID_sha224WithRSAEncryption:
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
	case NID_ecdsa_with_SHA1:
	case NID_ecdsa_with_SHA224:
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
	case NID_ED25519:
	case NID_ED448:
		return OBJ_find_sigid_algs(nid, md_nid, pk_nid);
	default:
		return 0;
	}
}

/*
 * 1 when `outer`'s signature verifies with `pkey` (of SPKI algorithm
 * key_nid) over the received info bytes, else 0.  The checks mirror
 * ASN1_item_verify: no unused bits in the signature, the signature
 * algorithm made for this key type, and for EdDSA absent parameters.
 */
static int
sig_verifies(
    const CSR_OUTER *outer, EVP_PKEY *pkey, int key_nid, int md_nid, int pk_nid)
{
	const unsigned char *sig, *tbs;
	EVP_MD_CTX *md = NULL;
	const char *mdname = NULL;
	size_t siglen, tbslen;
	int ptype, ok = 0;

	X509_ALGOR_get0(NULL, &ptype, NULL, outer->sig_alg);
	if (pk_nid != key_nid ||
	    (md_nid == NID_undef && ptype != V_ASN1_UNDEF) ||
	    (md_nid != NID_undef && (mdname = OBJ_nid2sn(md_nid)) == NULL))
		goto out;
	if ((sig = bits_whole(outer->sig, &siglen)) == NULL)
		goto out;
	tbs = ASN1_STRING_get0_data(outer->info->value.sequence);
	tbslen = (size_t)ASN1_STRING_length(outer->info->value.sequence);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(md, NULL, mdname, NULL, NULL, pkey, NULL) !=
	        1)
		goto out;
	ok = EVP_DigestVerify(md, sig, siglen, tbs, tbslen) == 1;
out:
	EVP_MD_CTX_free(md);
	return ok;
}

/*
 * Copy `spki` into `to` as encoded, the way backends/local/signer.c's
 * copy_spki does: only the parameter types of the fast set occur
 * (absent, NULL, an OID).  0 / -1.
 */
static int
copy_spki(X509_PUBKEY *to, const CSR_SPKI *spki)
{
	const ASN1_OBJECT *aobj;
	const void *pval;
	ASN1_OBJECT *obj = NULL, *param = NULL;
	unsigned char *key = NULL;
	int ptype, len = ASN1_STRING_length(spki->key);

	X509_ALGOR_get0(&aobj, &ptype, &pval, spki->alg);
	if (len <= 0 || (obj = OBJ_dup(aobj)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT && (param = OBJ_dup(pval)) == NULL)
		goto fail;
	else if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_NULL &&
	    ptype != V_ASN1_UNDEF)
		goto fail;
	key = OPENSSL_memdup(ASN1_STRING_get0_data(spki->key), (size_t)len);
	if (key == NULL ||
	    X509_PUBKEY_set0_param(to, obj, ptype, param, key, len) != 1)
		goto fail;
	return 0;
fail:
	ASN1_OBJECT_free(obj);
	ASN1_OBJECT_free(param);
	OPENSSL_free(key);
	return -1;
}

/*
 * The X509_REQ of the parsed pieces, its key left undecoded (so
 * X509_REQ_get0_pubkey on it returns NULL).  Takes outer->sig.
 * Caller frees; NULL on allocation failure.
 */
static X509_REQ *
assemble(const CSR_INFO *info, CSR_OUTER *outer)
{
	X509_REQ *req = NULL, *ret = NULL;
	X509_PUBKEY *pub;
	int i;

	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_subject_name(req, info->subject) != 1 ||
	    (pub = X509_REQ_get_X509_PUBKEY(req)) == NULL ||
	    copy_spki(pub, info->spki) == -1 ||
	    X509_REQ_set1_signature_algo(req, outer->sig_alg) != 1)
		goto out;
	/* Copied one by one: X509_REQ_get_extensions and
	 * csr_challenge_password read them from here. */
	for (i = 0; i < sk_X509_ATTRIBUTE_num(info->attributes); i++)
		if (X509_REQ_add1_attr(
		        req, sk_X509_ATTRIBUTE_value(info->attributes, i)) != 1)
			goto out;
	X509_REQ_set0_signature(req, outer->sig);
	outer->sig = NULL;
	ret = req;
	req = NULL;
out:
	X509_REQ_free(req);
	return ret;
}

/* Outside the fast set: OpenSSL's own parse and check. */
static X509_REQ *
parse_slow(const unsigned char *der, size_t len, EVP_PKEY **key, int *sig_ok)
{
	X509_REQ *csr;
	EVP_PKEY *pk;

	if ((csr = csr_from_der(der, len)) == NULL)
		return NULL;
	if ((pk = X509_REQ_get0_pubkey(csr)) == NULL ||
	    EVP_PKEY_up_ref(pk) != 1) {
		ERR_clear_error();
		X509_REQ_free(csr);
		return NULL;
	}
	*key = pk;
	*sig_ok = csr_verify_signature(csr) == 0;
	return csr;
}

/*
 * Structure first (a CSR that fails here fails d2i_X509_REQ as well:
 * the templates are OpenSSL's but for the undecoded key), then the
 * fast set, else the fallback.
 */
X509_REQ *
csr_parse(const unsigned char *der, size_t len, EVP_PKEY **key, int *sig_ok)
{
	const ASN1_ITEM *oit = ASN1_ITEM_rptr(CSR_OUTER);
	const ASN1_ITEM *iit = ASN1_ITEM_rptr(CSR_INFO);
	CSR_OUTER *outer = NULL;
	CSR_INFO *info = NULL;
	EVP_PKEY *pkey = NULL;
	X509_REQ *csr = NULL;
	const ASN1_STRING *tbs;
	int64_t version;
	int md_nid, pk_nid, key_nid, ok;

	if (key == NULL || sig_ok == NULL)
		return NULL;
	*key = NULL;
	*sig_ok = 0;
	if ((outer = (CSR_OUTER *)d2i_exact(oit, der, len)) == NULL ||
	    outer->info->type != V_ASN1_SEQUENCE)
		goto out;
	tbs = outer->info->value.sequence;
	if ((info = (CSR_INFO *)d2i_exact(iit, ASN1_STRING_get0_data(tbs),
	         (size_t)ASN1_STRING_length(tbs))) == NULL)
		goto out;
	/* RFC 2986 §4.1: version is 0 for this edition. */
	if (ASN1_INTEGER_get_int64(&version, info->version) != 1 ||
	    version != 0)
		goto out;
	if (!sig_alg_fast(outer->sig_alg, &md_nid, &pk_nid) ||
	    (pkey = spki_key(info->spki, &key_nid)) == NULL) {
		ERR_clear_error();
		csr = parse_slow(der, len, key, sig_ok);
		goto out;
	}
	ok = sig_verifies(outer, pkey, key_nid, md_nid, pk_nid);
	if ((csr = assemble(info, outer)) == NULL)
		goto out;
	*key = pkey;
	pkey = NULL;
	*sig_ok = ok;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	ASN1_item_free((ASN1_VALUE *)info, iit);
	ASN1_item_free((ASN1_VALUE *)outer, oit);
	return csr;
}
