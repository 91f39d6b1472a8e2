/*
 * SCEP pkiMessage (RFC 8894 §3): the signed and enveloped request a
 * client sends, and the CertRep we answer with.  Private to
 * protocols/scep/.
 */
#ifndef ENROLLD_SCEP_PKIMSG_H
#define ENROLLD_SCEP_PKIMSG_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* RFC 8894 §3.2.1.2 messageType values. */
enum scep_msg_type {
	SCEP_CERT_REP = 3,
	SCEP_RENEWAL_REQ = 17,
	SCEP_PKCS_REQ = 19,
	SCEP_CERT_POLL = 20, /* GetCertInitial */
	SCEP_GET_CERT = 21,
	SCEP_GET_CRL = 22
};

/* §3.2.1.3 pkiStatus */
enum scep_status { SCEP_SUCCESS = 0, SCEP_FAILURE = 2, SCEP_PENDING = 3 };

/* §3.2.1.4 failInfo */
enum scep_fail {
	SCEP_BAD_ALG = 0,
	SCEP_BAD_MESSAGE_CHECK = 1,
	SCEP_BAD_REQUEST = 2,
	SCEP_BAD_TIME = 3,
	SCEP_BAD_CERT_ID = 4
};

/* Why a message could not be read; each maps to a failInfo (or, when
 * not even the signer is known, to an HTTP 400). */
enum scep_parse_error {
	SCEP_PARSE_OK = 0,
	SCEP_PARSE_NOT_PKCS7,     /* not a SignedData at all: HTTP 400 */
	SCEP_PARSE_BAD_SIGNATURE, /* badMessageCheck */
	SCEP_PARSE_BAD_ALG,       /* badAlg: cipher or digest refused */
	SCEP_PARSE_DECRYPT,       /* badMessageCheck: not for our RA key */
	SCEP_PARSE_BAD_REQUEST,   /* badRequest: attributes, content */
	SCEP_PARSE_BAD_TIME       /* badTime: signingTime too far off */
};

struct scep_pkimsg;

struct scep_parse_opts {
	X509 *ra_cert; /* recipient of the envelope */
	EVP_PKEY *ra_key;
	int allow_des; /* accept single DES content encryption */
};

/*
 * Parse and verify a pkiMessage (DER): the SignedData signature with the
 * signer certificate it carries (self-signed for PKCSReq is normal), the
 * authenticated attributes messageType, transactionID, senderNonce, and
 * decrypt the EnvelopedData content with the RA key.  Returns the
 * message (caller frees) or NULL with *err.  On errors after the signer
 * is known, *partial may return a message with only the fields needed to
 * answer with a signed FAILURE (signer cert, transactionID, senderNonce,
 * digest); caller frees it.
 */
struct scep_pkimsg *scep_pkimsg_parse(const unsigned char *der, size_t len,
    const struct scep_parse_opts *opts, enum scep_parse_error *err,
    struct scep_pkimsg **partial);
void scep_pkimsg_free(struct scep_pkimsg *m);
/* Unload the OpenSSL providers loaded for single DES.  Once, at exit,
 * when no message is being parsed any more. */
void scep_pkimsg_cleanup(void);

enum scep_msg_type scep_pkimsg_type(const struct scep_pkimsg *m);
const char *scep_pkimsg_transaction_id(const struct scep_pkimsg *m);
/* The signer certificate (borrowed). */
X509 *scep_pkimsg_signer(const struct scep_pkimsg *m);
/* PKCSReq/RenewalReq: the PKCS#10 DER inside the envelope (borrowed). */
const unsigned char *scep_pkimsg_csr_der(
    const struct scep_pkimsg *m, size_t *len);
/* GetCert/GetCRL: IssuerAndSerialNumber; CertPoll: IssuerAndSubject.
 * Borrowed, NULL when absent. */
const X509_NAME *scep_pkimsg_issuer(const struct scep_pkimsg *m);
const ASN1_INTEGER *scep_pkimsg_serial(const struct scep_pkimsg *m);
const X509_NAME *scep_pkimsg_subject(const struct scep_pkimsg *m);
/* The digest and content cipher the client used (to answer in kind). */
const EVP_MD *scep_pkimsg_md(const struct scep_pkimsg *m);
const EVP_CIPHER *scep_pkimsg_cipher(const struct scep_pkimsg *m);

/*
 * Build a CertRep (§3.3.2) answering `req`: SignedData signed by the RA
 * (digest: the request's), authenticated attributes messageType 3,
 * pkiStatus, failInfo (FAILURE only), transactionID and recipientNonce
 * (= the request's senderNonce), a fresh senderNonce.  For SUCCESS, the
 * content is an EnvelopedData, for the request's signer certificate,
 * holding a degenerate certs-only SignedData with `certs` (issued
 * certificate first, or the CRL in crl_der for GetCRL).  `cipher`
 * encrypts it (never single DES: the caller maps DES to 3DES or AES).
 * Returns malloc'd DER (caller frees) and *len, or NULL.
 */
struct scep_certrep {
	enum scep_status status;
	enum scep_fail fail_info;     /* FAILURE only */
	STACK_OF(X509) *certs;        /* SUCCESS: issued cert first */
	const unsigned char *crl_der; /* SUCCESS for GetCRL */
	size_t crl_len;
	const EVP_CIPHER *cipher;
};
unsigned char *scep_certrep_der(const struct scep_pkimsg *req,
    const struct scep_certrep *rep, X509 *ra_cert, EVP_PKEY *ra_key,
    size_t *len);

#endif
