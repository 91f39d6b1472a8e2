/*
 * The local CA's CRL (RFC 5280 §5): a v2 CRL of the revoked entries the
 * store lists, signed by the CA key, in DER.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "backends/local/local.h"
#include "core/log.h"
#include "core/store.h"

/* RFC 5280 §5.3.1 CRLReason values: 0..10, 7 unused. */
#define CRL_REASON_MAX 10
#define CRL_REASON_UNUSED 7

#define DAY ((time_t)86400)

/* The hex serial `hex` (upper or lower case, no sign) as an INTEGER;
 * caller frees.  NULL when it is not plain hex or on allocation failure. */
static ASN1_INTEGER *
serial_from_hex(const char *hex)
{
	ASN1_INTEGER *ai = NULL;
	BIGNUM *bn = NULL;
	size_t i, len = strnlen(hex, 41);

	/* BN_hex2bn also takes a '-' sign and stops at the first non-hex
	 * byte; a serial is neither. */
	if (len == 0 || len > 40)
		return NULL;
	for (i = 0; i < len; i++)
		if (!isxdigit((unsigned char)hex[i]))
			return NULL;
	if (BN_hex2bn(&bn, hex) != (int)len)
		goto out;
	ai = BN_to_ASN1_INTEGER(bn, NULL);
out:
	BN_free(bn);
	return ai;
}

/* reasonCode entry extension (RFC 5280 §5.3.1), absent for unspecified
 * (0) or no reason (-1).  0 / -1. */
static int
add_reason(X509_REVOKED *rev, int reason, const char *serial)
{
	ASN1_ENUMERATED *e;
	int rc = -1;

	if (reason <= 0)
		return 0;
	if (reason > CRL_REASON_MAX || reason == CRL_REASON_UNUSED) {
		/* Still list the certificate: revoked without a reason is
		 * better than a CRL that cannot be made. */
		log_warn("msg=\"RFC 5280 5.3.1: CRLReason %d is not a valid "
		         "value, listed without a reason\" serial=%s",
		    reason, serial);
		return 0;
	}
	if ((e = ASN1_ENUMERATED_new()) == NULL)
		return -1;
	if (ASN1_ENUMERATED_set(e, reason) == 1 &&
	    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, e, 0, 0) == 1)
		rc = 0;
	ASN1_ENUMERATED_free(e);
	return rc;
}

/* Append one revokedCertificates entry to crl.  0 / -1. */
static int
add_entry(X509_CRL *crl, const struct revoked_entry *re)
{
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	char clean[sizeof(re->serial)];
	ASN1_TIME *when = NULL;
	int rc = -1;

	if ((serial = serial_from_hex(re->serial)) == NULL) {
		log_error("msg=\"RFC 5280 5.1.2.6: wanted a hex serial for the "
		          "CRL, got something else\" serial=\"%s\"",
		    log_sanitize(re->serial,
		        strnlen(re->serial, sizeof(re->serial)), clean,
		        sizeof(clean)));
		goto out;
	}
	if ((rev = X509_REVOKED_new()) == NULL ||
	    (when = ASN1_TIME_set(NULL, re->revoked_at)) == NULL ||
	    X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
	    X509_REVOKED_set_revocationDate(rev, when) != 1 ||
	    add_reason(rev, re->reason, re->serial) == -1)
		goto out;
	if (X509_CRL_add0_revoked(crl, rev) != 1)
		goto out;
	rev = NULL; /* the CRL owns it now */
	rc = 0;
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	return rc;
}

/*
 * Version 2, issuer, thisUpdate (now), nextUpdate (now + crl_days) and
 * the two CRL extensions: authorityKeyIdentifier (§5.2.1, MUST) and
 * cRLNumber (§5.2.3, MUST).  The number is the current Unix time: it
 * grows as long as two CRLs are not made in the same second, and needs
 * no counter kept anywhere.  0 / -1.
 */
static int
set_header(X509_CRL *crl, const struct local_ca *ca)
{
	const X509_NAME *ca_name = X509_get_subject_name(ca->cert);
	time_t now = time(NULL);
	AUTHORITY_KEYID *akid = NULL;
	ASN1_INTEGER *number = NULL;
	ASN1_TIME *last = NULL, *next = NULL;
	int rc = -1;

	if ((last = ASN1_TIME_set(NULL, now)) == NULL ||
	    (next = ASN1_TIME_set(NULL, now + ca->crl_days * DAY)) == NULL)
		goto out;
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, ca_name) != 1 ||
	    X509_CRL_set1_lastUpdate(crl, last) != 1 ||
	    X509_CRL_set1_nextUpdate(crl, next) != 1)
		goto out;
	if ((akid = local_ca_akid(ca)) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
	        X509V3_ADD_REPLACE) != 1)
		goto out;
	if ((number = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_int64(number, (int64_t)now) != 1 ||
	    X509_CRL_add1_ext_i2d(
	        crl, NID_crl_number, number, 0, X509V3_ADD_REPLACE) != 1)
		goto out;
	rc = 0;
out:
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(number);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	return rc;
}

/* crl's DER in a malloc'd buffer, its length in *len.  NULL on error. */
static unsigned char *
crl_der(X509_CRL *crl, size_t *len)
{
	unsigned char *buf, *p;
	int n;

	if ((n = i2d_X509_CRL(crl, NULL)) <= 0 ||
	    (buf = malloc((size_t)n)) == NULL)
		return NULL;
	p = buf;
	if (i2d_X509_CRL(crl, &p) != n) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/*
 * crl slot (backend.h): a DER CRL listing the `n` entries of `revoked`.
 * Returns a buffer the caller releases with free(), its length in *len;
 * NULL on error (logged).
 */
unsigned char *
local_ca_crl(
    void *priv, const struct revoked_entry *revoked, size_t n, size_t *len)
{
	const struct local_ca *ca = priv;
	unsigned char *der = NULL;
	X509_CRL *crl;
	size_t i;

	*len = 0;
	if ((crl = X509_CRL_new()) == NULL || set_header(crl, ca) == -1)
		goto out;
	for (i = 0; i < n; i++)
		if (add_entry(crl, &revoked[i]) == -1)
			goto out;
	/* RFC 5280 does not order entries; sorting lets readers search. */
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key, ca->md) <= 0)
		goto out;
	der = crl_der(crl, len);
out:
	if (der == NULL)
		log_openssl(
		    LOG_LVL_ERROR, "the local CA could not make its CRL");
	X509_CRL_free(crl);
	return der;
}
