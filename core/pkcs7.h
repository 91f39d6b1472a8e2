/*
 * PKCS#7 / CMS helpers for "certs-only" degenerate SignedData
 * (RFC 5652 §5, RFC 7030 §4.1.3, RFC 8894 §3.4).
 */
#ifndef ENROLLD_PKCS7_H
#define ENROLLD_PKCS7_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * DER of a degenerate SignedData holding `first` (may be NULL) followed
 * by the certificates of `rest` (may be NULL).  No signers, empty content.
 * Returns a malloc'd buffer (caller frees with OPENSSL_free) and *len,
 * or NULL on error.
 */
unsigned char *pkcs7_certs_only_der(
    X509 *first, STACK_OF(X509) *rest, size_t *len);

/*
 * Parse a certs-only SignedData (exact consumption) and return its
 * certificates; caller sk_X509_pop_free's.  NULL on error.
 */
STACK_OF(X509) *pkcs7_certs_only_parse(const unsigned char *der, size_t len);

#endif
