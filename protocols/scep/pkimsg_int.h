/*
 * What pkimsg.c (reading requests) shares with certrep.c (writing
 * replies) and nothing else: the SCEP attribute OIDs and the request's
 * nonce.  Private to protocols/scep/.
 */
#ifndef ENROLLD_SCEP_PKIMSG_INT_H
#define ENROLLD_SCEP_PKIMSG_INT_H

#include <stddef.h>

#include <openssl/asn1.h>

#include "protocols/scep/pkimsg.h"

/* RFC 8894 §3.2.1 authenticated attributes, under the VeriSign arc
 * 2.16.840.1.113733.1.9. */
enum scep_attr {
	SCEP_ATTR_MESSAGE_TYPE,    /* .2 PrintableString */
	SCEP_ATTR_PKI_STATUS,      /* .3 PrintableString */
	SCEP_ATTR_FAIL_INFO,       /* .4 PrintableString */
	SCEP_ATTR_SENDER_NONCE,    /* .5 OCTET STRING */
	SCEP_ATTR_RECIPIENT_NONCE, /* .6 OCTET STRING */
	SCEP_ATTR_TRANSACTION_ID,  /* .7 PrintableString */
	SCEP_ATTR_COUNT
};

/*
 * The OID of `a`, registered with OpenSSL once per process (thread
 * safe).  Borrowed; NULL if registration failed.
 */
const ASN1_OBJECT *scep_pkimsg_attr(enum scep_attr a);

/* The request's senderNonce (borrowed), NULL and 0 when a partial
 * message has none. */
const unsigned char *scep_pkimsg_sender_nonce(
    const struct scep_pkimsg *m, size_t *len);

#endif
