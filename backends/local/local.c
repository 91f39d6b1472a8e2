/*
 * The local CA backend instance: configuration, the CA certificate and
 * key, the chain it serves, and the helpers its signer and CRL writer
 * share.  Signing itself lives in signer.c and crl.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "backends/backend.h"
#include "backends/local/local.h"
#include "core/cert.h"
#include "core/log.h"

#define LOCAL_CRL_DAYS_DEFAULT 7
#define LOCAL_CRL_DAYS_MAX 366

static int local_ca_init(const json_t *, const char *, void **, char *, size_t);
static int local_ca_revoke(void *, const char *, int);
static STACK_OF(X509) *local_ca_chain(void *);
static void local_ca_free(void *);

const struct ca_backend local_ca_backend = {
    .name = "local",
    .init = local_ca_init,
    .issue = local_ca_issue,
    .revoke = local_ca_revoke,
    .ca_chain = local_ca_chain,
    .crl = local_ca_crl,
    .free = local_ca_free,
};

int
local_ca_sign_md(const EVP_PKEY *key, const EVP_MD **md)
{
	switch (cert_key_kind(key, NULL)) {
	case KEY_RSA:
	case KEY_P256:
		*md = EVP_sha256();
		return 0;
	case KEY_P384:
		*md = EVP_sha384();
		return 0;
	case KEY_P521:
		*md = EVP_sha512();
		return 0;
	case KEY_ED25519:
	case KEY_ED448:
		/* EdDSA hashes internally; X509_sign wants no digest. */
		*md = NULL;
		return 0;
	default:
		return -1;
	}
}

AUTHORITY_KEYID *
local_ca_akid(const struct local_ca *ca)
{
	AUTHORITY_KEYID *akid = NULL, *ret = NULL;
	const ASN1_OCTET_STRING *ski;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		goto out;
	if ((ski = X509_get0_subject_key_id(ca->cert)) != NULL) {
		if ((akid->keyid = ASN1_OCTET_STRING_dup(ski)) == NULL)
			goto out;
	} else {
		/* An old root without SKI: RFC 5280 §4.2.1.2 method (1). */
		if (X509_pubkey_digest(ca->cert, EVP_sha1(), md, &mdlen) != 1)
			goto out;
		if ((akid->keyid = ASN1_OCTET_STRING_new()) == NULL ||
		    ASN1_OCTET_STRING_set(akid->keyid, md, (int)mdlen) != 1)
			goto out;
	}
	ret = akid;
	akid = NULL;
out:
	AUTHORITY_KEYID_free(akid);
	return ret;
}

/*
 * `path` made absolute under `basedir` (when relative and basedir is set)
 * into out.  0, or -1 when it does not fit.
 */
static int
join_path(const char *basedir, const char *path, char *out, size_t outsz)
{
	int n;

	if (path[0] == '/' || basedir == NULL || basedir[0] == '\0')
		n = snprintf(out, outsz, "%s", path);
	else
		n = snprintf(out, outsz, "%s/%s", basedir, path);
	return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

/*
 * The string member `key` of conf joined with basedir into out.  0; -1
 * with err set when it is missing (and required) or not a string; 1
 * when optional and absent.
 */
static int
conf_path(const json_t *conf, const char *key, int required,
    const char *basedir, char *out, size_t outsz, char *err, size_t errlen)
{
	const json_t *v;

	if ((v = json_object_get(conf, key)) == NULL && !required)
		return 1;
	if (v == NULL || !json_is_string(v) || json_string_length(v) == 0) {
		snprintf(err, errlen,
		    "backends.local.%s: a file name is "
		    "required",
		    key);
		return -1;
	}
	if (join_path(basedir, json_string_value(v), out, outsz) == -1) {
		snprintf(err, errlen, "backends.local.%s: path too long", key);
		return -1;
	}
	return 0;
}

/* conf's crl_days into ca->crl_days (default 7).  0 / -1 with err set. */
static int
conf_crl_days(const json_t *conf, struct local_ca *ca, char *err, size_t errlen)
{
	const json_t *v;
	json_int_t days;

	ca->crl_days = LOCAL_CRL_DAYS_DEFAULT;
	if ((v = json_object_get(conf, "crl_days")) == NULL)
		return 0;
	if (!json_is_integer(v) || (days = json_integer_value(v)) < 1 ||
	    days > LOCAL_CRL_DAYS_MAX) {
		snprintf(err, errlen,
		    "backends.local.crl_days: wanted an "
		    "integer from 1 to %d",
		    LOCAL_CRL_DAYS_MAX);
		return -1;
	}
	ca->crl_days = (int)days;
	return 0;
}

/*
 * Load the CA certificate and key named by conf into ca and check that
 * they belong together, that the certificate is a CA, and that the key
 * is one we can sign with.  0 / -1 with err set.
 */
static int
load_ca(const json_t *conf, const char *basedir, struct local_ca *ca, char *err,
    size_t errlen)
{
	char cpath[PATH_MAX], kpath[PATH_MAX];

	if (conf_path(conf, "cert", 1, basedir, cpath, sizeof(cpath), err,
	        errlen) != 0 ||
	    conf_path(conf, "key", 1, basedir, kpath, sizeof(kpath), err,
	        errlen) != 0)
		return -1;
	if ((ca->cert = cert_load_pem(cpath)) == NULL) {
		log_openssl(LOG_LVL_ERROR,
		    "cannot read the local CA "
		    "certificate");
		snprintf(
		    err, errlen, "backends.local.cert: cannot read %s", cpath);
		return -1;
	}
	if ((ca->key = cert_load_key(kpath)) == NULL) {
		log_openssl(LOG_LVL_ERROR, "cannot read the local CA key");
		snprintf(
		    err, errlen, "backends.local.key: cannot read %s", kpath);
		return -1;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		log_openssl(LOG_LVL_ERROR,
		    "local CA key and certificate "
		    "differ");
		snprintf(err, errlen,
		    "backends.local.key: %s is not the key "
		    "of the certificate %s",
		    kpath, cpath);
		return -1;
	}
	/* Also caches the extensions, so later get0 calls are read-only. */
	if (X509_check_ca(ca->cert) == 0) {
		snprintf(err, errlen,
		    "backends.local.cert: %s is not a CA "
		    "certificate (RFC 5280 4.2.1.9 basicConstraints cA, "
		    "4.2.1.3 keyCertSign)",
		    cpath);
		return -1;
	}
	if (local_ca_sign_md(ca->key, &ca->md) == -1) {
		snprintf(err, errlen,
		    "backends.local.key: %s is a %s key; "
		    "wanted RSA, P-256, P-384, P-521, Ed25519 or Ed448",
		    kpath, cert_key_kind_name(cert_key_kind(ca->key, NULL)));
		return -1;
	}
	if (X509_cmp_time(X509_get0_notAfter(ca->cert), NULL) <= 0)
		log_warn("msg=\"the local CA certificate %s has expired; "
		         "issuance will fail\"",
		    cpath);
	return 0;
}

/*
 * ca->chain: the CA certificate, then every certificate of the optional
 * "chain" file.  0 / -1 with err set.
 */
static int
load_chain(const json_t *conf, const char *basedir, struct local_ca *ca,
    char *err, size_t errlen)
{
	STACK_OF(X509) *extra = NULL;
	char path[PATH_MAX];
	X509 *x;
	int rc = -1, r;

	if ((r = conf_path(conf, "chain", 0, basedir, path, sizeof(path), err,
	         errlen)) == -1)
		return -1;
	if (r == 0 && (extra = cert_load_pem_chain(path)) == NULL) {
		log_openssl(LOG_LVL_ERROR, "cannot read the local CA chain");
		snprintf(
		    err, errlen, "backends.local.chain: cannot read %s", path);
		return -1;
	}
	if ((ca->chain = sk_X509_new_null()) == NULL ||
	    X509_up_ref(ca->cert) != 1)
		goto nomem;
	if (sk_X509_push(ca->chain, ca->cert) <= 0) {
		X509_free(ca->cert);
		goto nomem;
	}
	/* Move the extra certificates over one by one: each is owned by
	 * exactly one stack at any time. */
	while (extra != NULL && sk_X509_num(extra) > 0) {
		x = sk_X509_shift(extra);
		if (sk_X509_push(ca->chain, x) <= 0) {
			X509_free(x);
			goto nomem;
		}
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "backends.local: out of memory");
out:
	sk_X509_pop_free(extra, X509_free);
	return rc;
}

/*
 * init slot.  conf: {"type":"local", "cert":"ca.pem", "key":"ca.key",
 * "chain":"intermediates.pem" (optional), "crl_days":7 (optional)}.
 * On success *priv is a struct local_ca freed by the free slot.
 */
static int
local_ca_init(const json_t *conf, const char *basedir, void **priv, char *err,
    size_t errlen)
{
	struct local_ca *ca = NULL;
	int rc = -1;

	*priv = NULL;
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "backends.local: wanted an object");
		goto out;
	}
	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		snprintf(err, errlen, "backends.local: out of memory");
		goto out;
	}
	if (conf_crl_days(conf, ca, err, errlen) == -1 ||
	    load_ca(conf, basedir, ca, err, errlen) == -1 ||
	    load_chain(conf, basedir, ca, err, errlen) == -1)
		goto out;
	*priv = ca;
	ca = NULL;
	rc = 0;
out:
	local_ca_free(ca);
	return rc;
}

/* revoke slot: a local CA learns of revocations from the store when it
 * writes its next CRL, so there is nothing to tell it. */
static int
local_ca_revoke(void *priv, const char *serial, int reason)
{
	(void)priv;
	(void)serial;
	(void)reason;
	return 0;
}

/* ca_chain slot: [CA certificate, intermediates above it]; borrowed. */
static STACK_OF(X509) *
local_ca_chain(void *priv)
{
	struct local_ca *ca = priv;

	return ca->chain;
}

static void
local_ca_free(void *priv)
{
	struct local_ca *ca = priv;

	if (ca == NULL)
		return;
	sk_X509_pop_free(ca->chain, X509_free);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	free(ca);
}
