/*
 * PKCS#10 (RFC 2986) inspection: parsing with exact consumption, the
 * self-signature, identifiers from subjectAltName (RFC 5280 §4.2.1.6)
 * or, failing that, from the subject CN, and the challengePassword
 * attribute (RFC 2985 §5.4.1).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/csr.h"
#include "core/enroll.h"

/* RFC 1035 §2.3.4 */
#define DNS_MAX_NAME 253
#define DNS_MAX_LABEL 63

X509_REQ *
csr_from_der(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *csr = NULL;

	if (der == NULL || len == 0 || len > LONG_MAX)
		return NULL;
	csr = d2i_X509_REQ(NULL, &p, (long)len);
	if (csr != NULL && p != der + len) {
		/* Trailing bytes: not exactly one CertificationRequest. */
		X509_REQ_free(csr);
		csr = NULL;
	}
	if (csr == NULL)
		ERR_clear_error();
	return csr;
}

/*
 * The PEM block is decoded to DER and handed to csr_from_der so the
 * exact-consumption check applies to PEM too.  PEM_bytes_read_bio also
 * accepts the legacy "NEW CERTIFICATE REQUEST" label for this name.
 */
X509_REQ *
csr_from_pem(const char *pem, size_t len)
{
	unsigned char *der = NULL;
	X509_REQ *csr = NULL;
	char *name = NULL;
	BIO *bio = NULL;
	long derlen = 0;

	if (pem == NULL || len == 0 || len > INT_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		goto out;
	if (PEM_bytes_read_bio(&der, &derlen, &name, PEM_STRING_X509_REQ, bio,
	        cert_no_password_cb, NULL) != 1 ||
	    derlen <= 0)
		goto out;
	csr = csr_from_der(der, (size_t)derlen);
out:
	if (csr == NULL)
		ERR_clear_error();
	OPENSSL_free(der);
	OPENSSL_free(name);
	BIO_free(bio);
	return csr;
}

int
csr_verify_signature(X509_REQ *csr)
{
	EVP_PKEY *pkey;

	if (csr == NULL || (pkey = X509_REQ_get0_pubkey(csr)) == NULL) {
		ERR_clear_error();
		return -1;
	}
	/* X509_REQ_verify returns -1 on internal errors: only 1 passes. */
	if (X509_REQ_verify(csr, pkey) != 1) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/*
 * Copy an IA5String SAN value into a malloc'd C string, lower-cased when
 * `lower`.  Empty values and any byte outside printable ASCII (NUL,
 * controls, space, 8-bit) are refused: they have no business in a name
 * and would otherwise be truncated or smuggled into logs.
 */
static char *
ia5_text(const ASN1_IA5STRING *s, int lower)
{
	const unsigned char *data = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s);
	char *out;
	int i;

	if (data == NULL || len <= 0)
		return NULL;
	for (i = 0; i < len; i++)
		if (data[i] <= 0x20 || data[i] >= 0x7f)
			return NULL;
	if ((out = malloc((size_t)len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		out[i] = lower ? (char)tolower(data[i]) : (char)data[i];
	out[len] = '\0';
	return out;
}

/* Add a textual SAN (dNSName, rfc822Name, URI). 0 / -1. */
static int
add_text_ident(
    struct enroll_req *req, enum ident_type type, const ASN1_IA5STRING *s)
{
	char *text;
	int rc;

	if ((text = ia5_text(s, type == IDENT_DNS)) == NULL)
		return -1;
	rc = enroll_req_add_ident(req, type, text);
	free(text);
	return rc;
}

/* Add an iPAddress SAN: 4 or 16 octets in a certificate (§4.2.1.6). */
static int
add_ip_ident(struct enroll_req *req, const ASN1_OCTET_STRING *os)
{
	const unsigned char *data = ASN1_STRING_get0_data(os);
	char text[INET6_ADDRSTRLEN];
	int len = ASN1_STRING_length(os), af;

	if (len == 4)
		af = AF_INET;
	else if (len == 16)
		af = AF_INET6;
	else
		return -1;
	if (inet_ntop(af, data, text, sizeof(text)) == NULL)
		return -1;
	return enroll_req_add_ident(req, IDENT_IP, text);
}

/*
 * The SAN extension's value must be exactly one DER element: the
 * OpenSSL d2i under X509V3_get_d2i does not check for trailing bytes.
 */
static int
san_exact(const STACK_OF(X509_EXTENSION) *exts)
{
	const ASN1_OCTET_STRING *os;
	const unsigned char *p, *start;
	long clen;
	int idx, tag, cls, len;

	idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	os = X509_EXTENSION_get_data(X509v3_get_ext(exts, idx));
	if (os == NULL)
		return -1;
	start = p = ASN1_STRING_get0_data(os);
	len = ASN1_STRING_length(os);
	if (ASN1_get_object(&p, &clen, &tag, &cls, len) & 0x80)
		return -1;
	return (p - start) + clen == len ? 0 : -1;
}

/*
 * Add the SAN identifiers; *has_name is set when a dNSName or iPAddress
 * was seen (then the CN is not looked at).  Unknown name types are
 * ignored: policy decides on what we do understand.  0 / -1.
 */
static int
collect_san(
    const STACK_OF(X509_EXTENSION) *exts, struct enroll_req *req, int *has_name)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen;
	int crit = -1, i, rc = -1;

	/* idx NULL: a repeated extension is reported as crit == -2. */
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		/* -1: absent.  -2: twice (§4.2).  >= 0: undecodable. */
		rc = crit == -1 ? 0 : -1;
		goto out;
	}
	if (san_exact(exts) == -1)
		goto out;
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		switch (gen->type) {
		case GEN_DNS:
			*has_name = 1;
			if (add_text_ident(req, IDENT_DNS, gen->d.dNSName))
				goto out;
			break;
		case GEN_IPADD:
			*has_name = 1;
			if (add_ip_ident(req, gen->d.iPAddress) == -1)
				goto out;
			break;
		case GEN_EMAIL:
			if (add_text_ident(req, IDENT_EMAIL, gen->d.rfc822Name))
				goto out;
			break;
		case GEN_URI:
			if (add_text_ident(req, IDENT_URI,
			        gen->d.uniformResourceIdentifier))
				goto out;
			break;
		default:
			break;
		}
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * A syntactically valid host name: optional leading "*.", then labels of
 * letters, digits and hyphens (not at either end of a label), 1..63
 * characters, separated by single dots, 253 characters at most.
 */
static int
dns_name_valid(const char *s)
{
	size_t len, label = 0, i;

	if (strncmp(s, "*.", 2) == 0)
		s += 2;
	if ((len = strlen(s)) == 0 || len > DNS_MAX_NAME)
		return 0;
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
		if (s[i] == '-' && label == 0)
			return 0;
		if (++label > DNS_MAX_LABEL)
			return 0;
	}
	return 1;
}

/* The last (most specific) CN of `name` as UTF-8, or NULL. */
static char *
subject_cn(const X509_NAME *name)
{
	const X509_NAME_ENTRY *ent;
	unsigned char *utf8 = NULL;
	char *cn = NULL;
	int idx = -1, last = -1, len;

	while (
	    (idx = X509_NAME_get_index_by_NID(name, NID_commonName, idx)) >= 0)
		last = idx;
	if (last < 0)
		return NULL;
	ent = X509_NAME_get_entry(name, last);
	len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ent));
	/* A NUL inside the value would cut the name short: no ident. */
	if (len <= 0 || memchr(utf8, '\0', (size_t)len) != NULL)
		goto out;
	if ((cn = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(cn, utf8, (size_t)len);
	cn[len] = '\0';
out:
	ERR_clear_error();
	OPENSSL_free(utf8);
	return cn;
}

/*
 * CN fallback for CSRs without dNSName/iPAddress SANs (still common in
 * EST and SCEP): an IP address becomes IDENT_IP in canonical form, a
 * host name IDENT_DNS lower-cased, anything else (a person's name, a
 * device serial with spaces) no identifier.  0 / -1.
 */
static int
collect_cn(const X509_NAME *name, struct enroll_req *req)
{
	unsigned char ip[16];
	char *cn = NULL, text[INET6_ADDRSTRLEN];
	int rc = -1;
	size_t i;

	if ((cn = subject_cn(name)) == NULL)
		return 0;
	if (inet_pton(AF_INET, cn, ip) == 1) {
		if (inet_ntop(AF_INET, ip, text, sizeof(text)) == NULL)
			goto out;
		rc = enroll_req_add_ident(req, IDENT_IP, text);
	} else if (inet_pton(AF_INET6, cn, ip) == 1) {
		if (inet_ntop(AF_INET6, ip, text, sizeof(text)) == NULL)
			goto out;
		rc = enroll_req_add_ident(req, IDENT_IP, text);
	} else if (dns_name_valid(cn)) {
		for (i = 0; cn[i] != '\0'; i++)
			cn[i] = (char)tolower((unsigned char)cn[i]);
		rc = enroll_req_add_ident(req, IDENT_DNS, cn);
	} else
		rc = 0;
out:
	free(cn);
	return rc;
}

/*
 * X509_REQ_get_extensions returns NULL both on a malformed extension
 * request and (in some 3.x releases) when there is none: tell the two
 * apart by looking for the attribute.  0 with *exts (maybe NULL) / -1.
 */
static int
csr_extensions(X509_REQ *csr, STACK_OF(X509_EXTENSION) **exts)
{
	*exts = X509_REQ_get_extensions(csr);
	if (*exts != NULL)
		return 0;
	if (X509_REQ_get_attr_by_NID(csr, NID_ext_req, -1) >= 0 ||
	    X509_REQ_get_attr_by_NID(csr, NID_ms_ext_req, -1) >= 0)
		return -1;
	ERR_clear_error();
	return 0;
}

/*
 * Identifiers are appended to req->idents; on failure some may already
 * have been added (the request is then rejected as a whole).
 */
int
csr_collect_idents(X509_REQ *csr, struct enroll_req *req)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	const X509_NAME *subject;
	char *text = NULL;
	int has_name = 0, rc = -1;

	if (csr == NULL || req == NULL)
		goto out;
	if ((subject = X509_REQ_get_subject_name(csr)) == NULL)
		goto out;
	if ((text = cert_name_text(subject)) == NULL)
		goto out;
	free(req->subject);
	req->subject = text;
	if (csr_extensions(csr, &exts) == -1)
		goto out;
	if (collect_san(exts, req, &has_name) == -1)
		goto out;
	if (!has_name && collect_cn(subject, req) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1)
		ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/*
 * challengePassword is SINGLE VALUE DirectoryString (RFC 2985 §5.4.1);
 * any string type is converted to UTF-8.  A value with a NUL inside is
 * refused (NULL).  Caller frees with free().
 */
char *
csr_challenge_password(X509_REQ *csr)
{
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *val;
	unsigned char *utf8 = NULL;
	char *pw = NULL;
	int idx, len = 0;

	idx = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1);
	if (idx < 0 || (attr = X509_REQ_get_attr(csr, idx)) == NULL)
		goto out;
	if (X509_ATTRIBUTE_count(attr) != 1 ||
	    (val = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL)
		goto out;
	switch (val->type) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_T61STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
	case V_ASN1_IA5STRING:
		break;
	default:
		goto out;
	}
	len = ASN1_STRING_to_UTF8(&utf8, val->value.asn1_string);
	if (len < 0 || (len > 0 && memchr(utf8, '\0', (size_t)len) != NULL))
		goto out;
	if ((pw = malloc((size_t)len + 1)) == NULL)
		goto out;
	if (len > 0)
		memcpy(pw, utf8, (size_t)len);
	pw[len] = '\0';
out:
	ERR_clear_error();
	if (utf8 != NULL)
		OPENSSL_clear_free(utf8, (size_t)(len > 0 ? len : 0));
	return pw;
}
