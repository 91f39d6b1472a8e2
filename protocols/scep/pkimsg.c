/*
 * SCEP pkiMessage (RFC 8894 §3): read the SignedData a client sends,
 * open its EnvelopedData with the RA key, and build the CertRep that
 * answers it.  Everything goes through OpenSSL's CMS API; the few
 * structures CMS does not expose are declared as ASN.1 templates.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/provider.h>

#include "core/log.h"
#include "protocols/scep/pkimsg.h"
#include "protocols/scep/pkimsg_int.h"

#define TID_MAX 128 /* transactionID: a key hash, hex or base64 */
#define NONCE_MIN 8 /* §3.2.1.5 says 16 bytes; echo what others send */
#define NONCE_MAX 64

struct scep_pkimsg {
	enum scep_msg_type type;
	char *tid;
	unsigned char nonce[NONCE_MAX]; /* the client's senderNonce */
	size_t nonce_len;
	X509 *signer;
	const EVP_MD *md;
	const EVP_CIPHER *cipher;
	unsigned char *content; /* decrypted pkcsPKIEnvelope content */
	size_t content_len;
	X509_NAME *issuer;
	X509_NAME *subject;
	ASN1_INTEGER *serial;
};

static const struct {
	const char *oid;
	const char *sn;
} attr_defs[SCEP_ATTR_COUNT] = {
    [SCEP_ATTR_MESSAGE_TYPE] = {"2.16.840.1.113733.1.9.2", "scep-messageType"},
    [SCEP_ATTR_PKI_STATUS] = {"2.16.840.1.113733.1.9.3", "scep-pkiStatus"},
    [SCEP_ATTR_FAIL_INFO] = {"2.16.840.1.113733.1.9.4", "scep-failInfo"},
    [SCEP_ATTR_SENDER_NONCE] = {"2.16.840.1.113733.1.9.5", "scep-senderNonce"},
    [SCEP_ATTR_RECIPIENT_NONCE] = {"2.16.840.1.113733.1.9.6",
        "scep-recipientNonce"},
    [SCEP_ATTR_TRANSACTION_ID] = {"2.16.840.1.113733.1.9.7",
        "scep-transactionID"},
};

static pthread_once_t attr_once = PTHREAD_ONCE_INIT;
static int attr_nids[SCEP_ATTR_COUNT];
static int attr_ready;

static pthread_once_t legacy_once = PTHREAD_ONCE_INIT;
static int legacy_ready;
/* What legacy_init loaded, unloaded by scep_pkimsg_cleanup. */
static OSSL_PROVIDER *prov_default, *prov_legacy;

/*
 * ASN.1 the CMS API does not expose.  OpenSSL's template macros need a
 * typedef'd name; these stay private to this file.
 */

/* RFC 8894 §3.3.3: IssuerAndSubject ::= SEQUENCE { issuer, subject } */
typedef struct {
	X509_NAME *issuer;
	X509_NAME *subject;
} SCEP_ISSUER_SUBJECT;

ASN1_SEQUENCE(SCEP_ISSUER_SUBJECT) =
    {
        ASN1_SIMPLE(SCEP_ISSUER_SUBJECT, issuer, X509_NAME),
        ASN1_SIMPLE(SCEP_ISSUER_SUBJECT, subject, X509_NAME),
} static_ASN1_SEQUENCE_END(SCEP_ISSUER_SUBJECT)

    /* RFC 5652 §10.2.4, used by §3.3.4 GetCert and §3.3.5 GetCRL. */
    typedef struct {
	X509_NAME *issuer;
	ASN1_INTEGER *serial;
} SCEP_ISSUER_SERIAL;

ASN1_SEQUENCE(SCEP_ISSUER_SERIAL) =
    {
        ASN1_SIMPLE(SCEP_ISSUER_SERIAL, issuer, X509_NAME),
        ASN1_SIMPLE(SCEP_ISSUER_SERIAL, serial, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(SCEP_ISSUER_SERIAL)

    /*
 * RFC 5652 §6.1 EnvelopedData, read only as far as the content
 * encryption algorithm (CMS has no getter for it); the recipient
 * infos and attributes are kept opaque.
 */
    typedef struct {
	ASN1_OBJECT *type;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *data;
} SCEP_ECI;

ASN1_SEQUENCE(SCEP_ECI) =
    {
        ASN1_SIMPLE(SCEP_ECI, type, ASN1_OBJECT),
        ASN1_SIMPLE(SCEP_ECI, alg, X509_ALGOR),
        ASN1_IMP_OPT(SCEP_ECI, data, ASN1_OCTET_STRING, 0),
} static_ASN1_SEQUENCE_END(SCEP_ECI)

        typedef struct {
	ASN1_INTEGER *version;
	STACK_OF(ASN1_TYPE) *originator;
	STACK_OF(ASN1_TYPE) *recipients;
	SCEP_ECI *eci;
	STACK_OF(ASN1_TYPE) *unprotected;
} SCEP_ENVELOPED;

ASN1_SEQUENCE(SCEP_ENVELOPED) =
    {
        ASN1_SIMPLE(SCEP_ENVELOPED, version, ASN1_INTEGER),
        ASN1_IMP_SEQUENCE_OF_OPT(SCEP_ENVELOPED, originator, ASN1_ANY, 0),
        ASN1_SET_OF(SCEP_ENVELOPED, recipients, ASN1_ANY),
        ASN1_SIMPLE(SCEP_ENVELOPED, eci, SCEP_ECI),
        ASN1_IMP_SET_OF_OPT(SCEP_ENVELOPED, unprotected, ASN1_ANY, 1),
} static_ASN1_SEQUENCE_END(SCEP_ENVELOPED)

        typedef struct {
	ASN1_OBJECT *type;
	SCEP_ENVELOPED *env;
} SCEP_ENV_INFO;

ASN1_SEQUENCE(SCEP_ENV_INFO) =
    {
        ASN1_SIMPLE(SCEP_ENV_INFO, type, ASN1_OBJECT),
        ASN1_EXP(SCEP_ENV_INFO, env, SCEP_ENVELOPED, 0),
} static_ASN1_SEQUENCE_END(SCEP_ENV_INFO)

    /*
 * Register the SCEP attribute OIDs once per process.  An OID some other
 * code registered already is reused rather than created twice.
 */
    static void attr_init(void)
{
	int i, nid;

	for (i = 0; i < SCEP_ATTR_COUNT; i++) {
		nid = OBJ_txt2nid(attr_defs[i].oid);
		if (nid == NID_undef)
			nid = OBJ_create(
			    attr_defs[i].oid, attr_defs[i].sn, attr_defs[i].sn);
		if (nid == NID_undef) {
			log_openssl(LOG_LVL_ERROR,
			    "scep: cannot register the attribute OIDs");
			return;
		}
		attr_nids[i] = nid;
	}
	attr_ready = 1;
}

/* 0 when the OIDs are registered, -1 if that failed. */
static int
attr_setup(void)
{
	if (pthread_once(&attr_once, attr_init) != 0)
		return -1;
	return attr_ready ? 0 : -1;
}

const ASN1_OBJECT *
scep_pkimsg_attr(enum scep_attr a)
{
	if (attr_setup() == -1 || (unsigned int)a >= SCEP_ATTR_COUNT)
		return NULL;
	return OBJ_nid2obj(attr_nids[a]);
}

/*
 * Single DES lives in OpenSSL 3's legacy provider.  Loading any
 * provider into the default library context switches off the implicit
 * "default" one, so that is loaded explicitly first.  Both stay loaded
 * for the life of the process.  When the legacy provider is there
 * already (openssl.cnf, the embedding program), it is left alone.
 */
static void
legacy_init(void)
{
	if (OSSL_PROVIDER_available(NULL, "legacy") == 1) {
		legacy_ready = 1;
		return;
	}
	if ((prov_default = OSSL_PROVIDER_load(NULL, "default")) == NULL ||
	    (prov_legacy = OSSL_PROVIDER_load(NULL, "legacy")) == NULL) {
		log_openssl(LOG_LVL_ERROR,
		    "scep: cannot load the legacy "
		    "provider (single DES)");
		return;
	}
	legacy_ready = 1;
}

static int
legacy_setup(void)
{
	if (pthread_once(&legacy_once, legacy_init) != 0)
		return -1;
	return legacy_ready ? 0 : -1;
}

void
scep_pkimsg_free(struct scep_pkimsg *m)
{
	if (m == NULL)
		return;
	free(m->tid);
	X509_free(m->signer);
	free(m->content);
	X509_NAME_free(m->issuer);
	X509_NAME_free(m->subject);
	ASN1_INTEGER_free(m->serial);
	free(m);
}

enum scep_msg_type
scep_pkimsg_type(const struct scep_pkimsg *m)
{
	return m->type;
}

const char *
scep_pkimsg_transaction_id(const struct scep_pkimsg *m)
{
	return m->tid;
}

X509 *
scep_pkimsg_signer(const struct scep_pkimsg *m)
{
	return m->signer;
}

const unsigned char *
scep_pkimsg_csr_der(const struct scep_pkimsg *m, size_t *len)
{
	if (m->type != SCEP_PKCS_REQ && m->type != SCEP_RENEWAL_REQ) {
		*len = 0;
		return NULL;
	}
	*len = m->content_len;
	return m->content;
}

const X509_NAME *
scep_pkimsg_issuer(const struct scep_pkimsg *m)
{
	return m->issuer;
}

const ASN1_INTEGER *
scep_pkimsg_serial(const struct scep_pkimsg *m)
{
	return m->serial;
}

const X509_NAME *
scep_pkimsg_subject(const struct scep_pkimsg *m)
{
	return m->subject;
}

const EVP_MD *
scep_pkimsg_md(const struct scep_pkimsg *m)
{
	return m->md;
}

const EVP_CIPHER *
scep_pkimsg_cipher(const struct scep_pkimsg *m)
{
	return m->cipher;
}

const unsigned char *
scep_pkimsg_sender_nonce(const struct scep_pkimsg *m, size_t *len)
{
	*len = m->nonce_len;
	return m->nonce_len > 0 ? m->nonce : NULL;
}

/*
 * A CMS ContentInfo of type `nid` that is exactly `len` bytes.  Caller
 * frees; NULL (OpenSSL errors cleared) otherwise.
 */
static CMS_ContentInfo *
cms_d2i(const unsigned char *der, size_t len, int nid)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	if (p != der + len || OBJ_obj2nid(CMS_get0_type(cms)) != nid) {
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* Copy the bytes written to a memory BIO into a malloc'd buffer. 0/-1 */
static int
bio_take(BIO *bio, unsigned char **out, size_t *len)
{
	char *data;
	long n;

	if ((n = BIO_get_mem_data(bio, &data)) < 0)
		return -1;
	/* malloc(0) may return NULL: keep one byte so NULL means failure. */
	if ((*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	if (n > 0)
		memcpy(*out, data, (size_t)n);
	*len = (size_t)n;
	return 0;
}

/*
 * §3.2: the one SignerInfo and its certificate, found among the
 * certificates the message carries.  Sets m->signer (own reference).
 */
static enum scep_parse_error
read_signer(CMS_ContentInfo *cms, struct scep_pkimsg *m, CMS_SignerInfo **si)
{
	STACK_OF(CMS_SignerInfo) *sis;
	X509 *signer = NULL;

	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		log_info(
		    "msg=\"scep: RFC 8894 §3.2 wants one signerInfo\" got=%d",
		    sk_CMS_SignerInfo_num(sis));
		return SCEP_PARSE_NOT_PKCS7;
	}
	*si = sk_CMS_SignerInfo_value(sis, 0);
	if (CMS_set1_signers_certs(cms, NULL, 0) < 0)
		ERR_clear_error();
	CMS_SignerInfo_get0_algs(*si, NULL, &signer, NULL, NULL);
	if (signer == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.2 signer certificate "
		         "missing from the message\"");
		return SCEP_PARSE_BAD_SIGNATURE;
	}
	if (X509_up_ref(signer) != 1)
		return SCEP_PARSE_BAD_REQUEST;
	m->signer = signer;
	return SCEP_PARSE_OK;
}

/* §3.2.1 digest of the SignerInfo: SHA-1 or SHA-2, never MD5. */
static enum scep_parse_error
read_digest(CMS_SignerInfo *si, struct scep_pkimsg *m)
{
	X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *obj;
	int nid;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &alg, NULL);
	if (alg == NULL)
		return SCEP_PARSE_BAD_ALG;
	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	nid = OBJ_obj2nid(obj);
	switch (nid) {
	case NID_sha1:
	case NID_sha224:
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
		m->md = EVP_get_digestbynid(nid);
		break;
	default:
		break;
	}
	if (m->md == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.2.1 wants SHA-1 or SHA-2\" "
		         "got=%s",
		    nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
		return SCEP_PARSE_BAD_ALG;
	}
	return SCEP_PARSE_OK;
}

/* The one PrintableString value of `a`, or NULL. */
static const ASN1_STRING *
attr_string(CMS_SignerInfo *si, enum scep_attr a)
{
	/* lastpos -3: the attribute must occur exactly once. */
	return CMS_signed_get0_data_by_OBJ(
	    si, scep_pkimsg_attr(a), -3, V_ASN1_PRINTABLESTRING);
}

/* §3.2.1.2 messageType: a request type, as decimal digits. */
static int
read_type(CMS_SignerInfo *si, struct scep_pkimsg *m)
{
	const ASN1_STRING *s;
	const unsigned char *p;
	int i, len, v = 0;

	if ((s = attr_string(si, SCEP_ATTR_MESSAGE_TYPE)) == NULL)
		return -1;
	p = ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (len < 1 || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	switch (v) {
	case SCEP_PKCS_REQ:
	case SCEP_RENEWAL_REQ:
	case SCEP_CERT_POLL:
	case SCEP_GET_CERT:
	case SCEP_GET_CRL:
		m->type = (enum scep_msg_type)v;
		return 0;
	default:
		return -1;
	}
}

/* X.680 PrintableString characters: what a transactionID may hold. */
static int
printable(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c) != NULL;
}

/* §3.2.1.1 transactionID: bounded, PrintableString characters only
 * (DER decoding does not check them, and the id reaches logs). */
static int
read_tid(CMS_SignerInfo *si, struct scep_pkimsg *m)
{
	const ASN1_STRING *s;
	const unsigned char *p;
	int i, len;

	if ((s = attr_string(si, SCEP_ATTR_TRANSACTION_ID)) == NULL)
		return -1;
	p = ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (len < 1 || len > TID_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if (p[i] == '\0' || !printable(p[i]))
			return -1;
	if ((m->tid = malloc((size_t)len + 1)) == NULL)
		return -1;
	memcpy(m->tid, p, (size_t)len);
	m->tid[len] = '\0';
	return 0;
}

/* §3.2.1.5 senderNonce, echoed back as our recipientNonce. */
static int
read_nonce(CMS_SignerInfo *si, struct scep_pkimsg *m)
{
	const ASN1_STRING *s;
	int len;

	s = CMS_signed_get0_data_by_OBJ(si,
	    scep_pkimsg_attr(SCEP_ATTR_SENDER_NONCE), -3, V_ASN1_OCTET_STRING);
	if (s == NULL)
		return -1;
	len = ASN1_STRING_length(s);
	if (len < NONCE_MIN || len > NONCE_MAX)
		return -1;
	memcpy(m->nonce, ASN1_STRING_get0_data(s), (size_t)len);
	m->nonce_len = (size_t)len;
	return 0;
}

/*
 * The authenticated attributes a reply needs.  Read before the
 * signature is checked so that even a refused message gets a FAILURE
 * the client can match; the result is only acted on once the signature
 * holds.  Each attribute is read even when an earlier one is bad.
 */
static enum scep_parse_error
read_attrs(CMS_SignerInfo *si, struct scep_pkimsg *m)
{
	enum scep_parse_error e = SCEP_PARSE_OK;

	if (read_tid(si, m) == -1) {
		log_info("msg=\"scep: RFC 8894 §3.2.1.1 wants one "
		         "PrintableString transactionID of 1 to %d "
		         "characters\"",
		    TID_MAX);
		e = SCEP_PARSE_BAD_REQUEST;
	}
	if (read_nonce(si, m) == -1) {
		log_info("msg=\"scep: RFC 8894 §3.2.1.5 wants one "
		         "senderNonce OCTET STRING of %d to %d bytes\"",
		    NONCE_MIN, NONCE_MAX);
		e = SCEP_PARSE_BAD_REQUEST;
	}
	if (read_type(si, m) == -1) {
		log_info("msg=\"scep: RFC 8894 §3.2.1.2 wants messageType "
		         "17, 19, 20, 21 or 22\"");
		e = SCEP_PARSE_BAD_REQUEST;
	}
	ERR_clear_error();
	return e;
}

/*
 * Check the SignerInfo's signature with the certificate the message
 * carries (self-signed for PKCSReq: trust is the caller's business,
 * not a chain) and return the encapsulated id-data content.
 */
static enum scep_parse_error
verify_content(CMS_ContentInfo *cms, unsigned char **out, size_t *len)
{
	enum scep_parse_error e = SCEP_PARSE_BAD_REQUEST;
	ASN1_OCTET_STRING **content;
	BIO *bio = NULL;

	content = CMS_get0_content(cms);
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data ||
	    content == NULL || *content == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.2 wants encapsulated "
		         "id-data content\"");
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (CMS_verify(cms, NULL, NULL, NULL, bio,
	        CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1) {
		log_openssl(
		    LOG_LVL_INFO, "scep: RFC 8894 §3.2 signature check failed");
		e = SCEP_PARSE_BAD_SIGNATURE;
		goto out;
	}
	if (bio_take(bio, out, len) == -1)
		goto out;
	e = SCEP_PARSE_OK;
out:
	BIO_free(bio);
	return e;
}

/* NID of the content-encryption algorithm of an EnvelopedData
 * ContentInfo, NID_undef if it is not one. */
static int
envelope_cipher_nid(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	SCEP_ENV_INFO *ei;
	int nid = NID_undef;

	if (len > LONG_MAX)
		return NID_undef;
	ei = (SCEP_ENV_INFO *)ASN1_item_d2i(
	    NULL, &p, (long)len, ASN1_ITEM_rptr(SCEP_ENV_INFO));
	if (ei == NULL) {
		ERR_clear_error();
		return NID_undef;
	}
	if (p == der + len && OBJ_obj2nid(ei->type) == NID_pkcs7_enveloped)
		nid = OBJ_obj2nid(ei->env->eci->alg->algorithm);
	ASN1_item_free((ASN1_VALUE *)ei, ASN1_ITEM_rptr(SCEP_ENV_INFO));
	return nid;
}

/* §3.5.2 content ciphers: AES-CBC and 3DES; single DES on request. */
static enum scep_parse_error
pick_cipher(int nid, const struct scep_parse_opts *opts, struct scep_pkimsg *m)
{
	switch (nid) {
	case NID_aes_128_cbc:
		m->cipher = EVP_aes_128_cbc();
		break;
	case NID_aes_192_cbc:
		m->cipher = EVP_aes_192_cbc();
		break;
	case NID_aes_256_cbc:
		m->cipher = EVP_aes_256_cbc();
		break;
	case NID_des_ede3_cbc:
		m->cipher = EVP_des_ede3_cbc();
		break;
	case NID_des_cbc:
		if (opts->allow_des && legacy_setup() == 0)
			m->cipher = EVP_des_cbc();
		break;
	default:
		break;
	}
	if (m->cipher == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.5.2 content cipher "
		         "refused\" got=%s",
		    nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
		return SCEP_PARSE_BAD_ALG;
	}
	return SCEP_PARSE_OK;
}

/*
 * §3.2.2 pkcsPKIEnvelope: an EnvelopedData for the RA certificate.
 * Sets m->cipher and m->content (the decrypted bytes).
 */
static enum scep_parse_error
open_envelope(const unsigned char *der, size_t len,
    const struct scep_parse_opts *opts, struct scep_pkimsg *m)
{
	enum scep_parse_error e = SCEP_PARSE_BAD_REQUEST;
	CMS_ContentInfo *env = NULL;
	BIO *bio = NULL;
	int nid;

	if ((nid = envelope_cipher_nid(der, len)) == NID_undef ||
	    (env = cms_d2i(der, len, NID_pkcs7_enveloped)) == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.2.2 wants an "
		         "EnvelopedData ContentInfo\"");
		goto out;
	}
	if ((e = pick_cipher(nid, opts, m)) != SCEP_PARSE_OK)
		goto out;
	e = SCEP_PARSE_BAD_REQUEST;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (opts->ra_cert == NULL || opts->ra_key == NULL ||
	    CMS_decrypt(
	        env, opts->ra_key, opts->ra_cert, NULL, bio, CMS_BINARY) != 1) {
		log_openssl(LOG_LVL_INFO,
		    "scep: RFC 8894 §3.2.2 cannot "
		    "decrypt the envelope with the RA key");
		e = SCEP_PARSE_DECRYPT;
		goto out;
	}
	if (bio_take(bio, &m->content, &m->content_len) == -1)
		goto out;
	e = SCEP_PARSE_OK;
out:
	BIO_free(bio);
	CMS_ContentInfo_free(env);
	return e;
}

/* One value of template `it` filling exactly der[0..len).  NULL else. */
static ASN1_VALUE *
item_d2i(const unsigned char *der, size_t len, const ASN1_ITEM *it)
{
	const unsigned char *p = der;
	ASN1_VALUE *v;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	if ((v = ASN1_item_d2i(NULL, &p, (long)len, it)) == NULL) {
		ERR_clear_error();
		return NULL;
	}
	if (p != der + len) {
		ASN1_item_free(v, it);
		return NULL;
	}
	return v;
}

/* §3.3.3 CertPoll: IssuerAndSubject; the names move into m. */
static int
read_issuer_subject(struct scep_pkimsg *m)
{
	SCEP_ISSUER_SUBJECT *is;

	is = (SCEP_ISSUER_SUBJECT *)item_d2i(
	    m->content, m->content_len, ASN1_ITEM_rptr(SCEP_ISSUER_SUBJECT));
	if (is == NULL)
		return -1;
	m->issuer = is->issuer;
	m->subject = is->subject;
	is->issuer = is->subject = NULL;
	ASN1_item_free((ASN1_VALUE *)is, ASN1_ITEM_rptr(SCEP_ISSUER_SUBJECT));
	return 0;
}

/* §3.3.4 GetCert, §3.3.5 GetCRL: IssuerAndSerialNumber, moved into m. */
static int
read_issuer_serial(struct scep_pkimsg *m)
{
	SCEP_ISSUER_SERIAL *is;

	is = (SCEP_ISSUER_SERIAL *)item_d2i(
	    m->content, m->content_len, ASN1_ITEM_rptr(SCEP_ISSUER_SERIAL));
	if (is == NULL)
		return -1;
	m->issuer = is->issuer;
	m->serial = is->serial;
	is->issuer = NULL;
	is->serial = NULL;
	ASN1_item_free((ASN1_VALUE *)is, ASN1_ITEM_rptr(SCEP_ISSUER_SERIAL));
	return 0;
}

/* The decrypted content for m->type.  A CSR stays bytes: the caller
 * parses it with its own limits. */
static enum scep_parse_error
read_content(struct scep_pkimsg *m)
{
	int rc = -1;

	switch (m->type) {
	case SCEP_PKCS_REQ:
	case SCEP_RENEWAL_REQ:
		rc = m->content_len > 0 ? 0 : -1;
		break;
	case SCEP_CERT_POLL:
		rc = read_issuer_subject(m);
		break;
	case SCEP_GET_CERT:
	case SCEP_GET_CRL:
		rc = read_issuer_serial(m);
		break;
	default:
		break;
	}
	if (rc == -1) {
		log_info("msg=\"scep: RFC 8894 §3.3 envelope content does "
		         "not match messageType\" type=%d",
		    (int)m->type);
		return SCEP_PARSE_BAD_REQUEST;
	}
	return SCEP_PARSE_OK;
}

/*
 * RFC 8894 §3.3.2.2 badTime: a signingTime attribute (optional) must be
 * within SIGNING_TIME_SKEW of our clock.  A replayed or badly clocked
 * request is refused before anything is decrypted.
 */
#define SIGNING_TIME_SKEW (24 * 3600)

static enum scep_parse_error
check_signing_time(CMS_SignerInfo *si)
{
	int idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	const ASN1_TYPE *t;
	int days = 0, secs = 0;
	long diff;

	if (idx < 0)
		return SCEP_PARSE_OK;
	t = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, idx), 0);
	if (t == NULL ||
	    (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
	    ASN1_TIME_diff(&days, &secs, NULL,
	        (const ASN1_TIME *)t->value.asn1_string) != 1) {
		ERR_clear_error();
		return SCEP_PARSE_BAD_TIME;
	}
	diff = (long)days * 86400 + secs;
	if (diff > SIGNING_TIME_SKEW || diff < -SIGNING_TIME_SKEW) {
		log_info("msg=\"scep: signingTime %ld s from our clock "
		         "(RFC 8894 §3.3.2.2 badTime)\"",
		    diff);
		return SCEP_PARSE_BAD_TIME;
	}
	return SCEP_PARSE_OK;
}

/*
 * The pipeline.  Errors found after the signer is known leave what was
 * read in m, which the caller hands out as the partial message.
 */
static enum scep_parse_error
parse_signed(CMS_ContentInfo *cms, const struct scep_parse_opts *opts,
    struct scep_pkimsg *m)
{
	enum scep_parse_error e, attr_err;
	CMS_SignerInfo *si = NULL;
	unsigned char *env = NULL;
	size_t env_len = 0;

	if ((e = read_signer(cms, m, &si)) != SCEP_PARSE_OK)
		goto out;
	attr_err = read_attrs(si, m);
	if ((e = read_digest(si, m)) != SCEP_PARSE_OK)
		goto out;
	if ((e = verify_content(cms, &env, &env_len)) != SCEP_PARSE_OK)
		goto out;
	if ((e = attr_err) != SCEP_PARSE_OK)
		goto out;
	if ((e = check_signing_time(si)) != SCEP_PARSE_OK)
		goto out;
	if ((e = open_envelope(env, env_len, opts, m)) != SCEP_PARSE_OK)
		goto out;
	e = read_content(m);
out:
	free(env);
	return e;
}

/*
 * Allocation failures read as SCEP_PARSE_BAD_REQUEST: the client gets a
 * FAILURE, the daemon goes on.
 */
struct scep_pkimsg *
scep_pkimsg_parse(const unsigned char *der, size_t len,
    const struct scep_parse_opts *opts, enum scep_parse_error *err,
    struct scep_pkimsg **partial)
{
	struct scep_pkimsg *m = NULL, *ret = NULL;
	CMS_ContentInfo *cms = NULL;
	enum scep_parse_error e = SCEP_PARSE_NOT_PKCS7;

	if (partial != NULL)
		*partial = NULL;
	if ((cms = cms_d2i(der, len, NID_pkcs7_signed)) == NULL) {
		log_info("msg=\"scep: RFC 8894 §3.2 wants one DER SignedData "
		         "ContentInfo\" len=%zu",
		    len);
		goto out;
	}
	e = SCEP_PARSE_BAD_REQUEST;
	if (attr_setup() == -1 || (m = calloc(1, sizeof(*m))) == NULL)
		goto out;
	if ((e = parse_signed(cms, opts, m)) != SCEP_PARSE_OK)
		goto out;
	ret = m;
	m = NULL;
out:
	if (m != NULL && m->signer != NULL && partial != NULL) {
		free(m->content);
		m->content = NULL;
		m->content_len = 0;
		*partial = m;
		m = NULL;
	}
	*err = e;
	scep_pkimsg_free(m);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ret;
}

void
scep_pkimsg_cleanup(void)
{
	if (prov_legacy != NULL)
		OSSL_PROVIDER_unload(prov_legacy);
	if (prov_default != NULL)
		OSSL_PROVIDER_unload(prov_default);
	prov_legacy = prov_default = NULL;
}
