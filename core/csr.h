/*
 * PKCS#10 (RFC 2986) inspection: parsing with exact consumption,
 * signature check, identifier extraction.
 */
#ifndef ENROLLD_CSR_H
#define ENROLLD_CSR_H

#include <stddef.h>

#include <openssl/x509.h>

struct enroll_req;

/*
 * Parse DER; fails unless the whole input is exactly one CertificationRequest.
 * Caller frees with X509_REQ_free.  NULL on error (OpenSSL queue cleared).
 */
X509_REQ *csr_from_der(const unsigned char *der, size_t len);
/* Same for one PEM block ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"). */
X509_REQ *csr_from_pem(const char *pem, size_t len);

/*
 * Like csr_from_der (exactly one CertificationRequest, version 0) but,
 * for the common key types (RSA, EC on a named curve, Ed25519, Ed448)
 * and signatures (PKCS#1 v1.5 and ECDSA with SHA-1/SHA-2, EdDSA),
 * without OpenSSL's key decoders: the key is built from its parts and
 * the returned X509_REQ carries the SPKI as received but no decoded key
 * (X509_REQ_get0_pubkey on it returns NULL).  Other CSRs go through
 * csr_from_der, so every CSR csr_from_der accepts with a usable key is
 * accepted.  On success *key is the CSR's public key and *sig_ok 1 when
 * the self-signature verified, else 0 (a bad signature is not a parse
 * failure).  Caller frees the X509_REQ and *key.  NULL on error, with
 * *key NULL (OpenSSL queue cleared).
 */
X509_REQ *csr_parse(
    const unsigned char *der, size_t len, EVP_PKEY **key, int *sig_ok);

/* 0 when the CSR's self-signature verifies with its own public key, -1 otherwise. */
int csr_verify_signature(X509_REQ *csr);

/*
 * Fill req->idents from the CSR's subjectAltName extension (dNSName,
 * iPAddress, rfc822Name, URI) and, when there is no dNSName SAN, from a
 * subject CN that looks like a DNS name or an IP address.  DNS names
 * are lower-cased; IPs are written canonically (inet_ntop).  Also sets
 * req->subject.  0, or -1 on malformed extensions or allocation failure.
 */
int csr_collect_idents(X509_REQ *csr, struct enroll_req *req);

/* The challengePassword attribute as a malloc'd string, or NULL if absent. */
char *csr_challenge_password(X509_REQ *csr);

#endif
