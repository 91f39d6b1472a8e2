/*
 * Certificates: download (RFC 8555 §7.4.2), revocation (§7.6) and
 * ACME Renewal Information (RFC 9773).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "core/cert.h"
#include "core/encoding.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "policy/policy.h"
#include "protocols/acme/acme_int.h"

/* "acme:<account id>" as the pipeline records the requester. */
static int
owned_by(const struct cert_record *rec, const char *account_id)
{
	char who[64];

	snprintf(who, sizeof(who), "acme:%s", account_id);
	return rec->requester != NULL && strcmp(rec->requester, who) == 0;
}

/* Leaf then issuing chain, PEM, each block ending in a newline. */
static char *
chain_pem(struct acme *acme, const struct cert_record *rec, size_t *len)
{
	const struct profile *prof =
	    policy_profile(gateway_policy(acme->gw), rec->profile);
	STACK_OF(X509) *chain = prof ? gateway_ca_chain(acme->gw, prof) : NULL;
	size_t n = strlen(rec->pem), m;
	char *out, *pem, *grown;
	int i;

	if ((out = malloc(n + 2)) == NULL)
		return NULL;
	memcpy(out, rec->pem, n + 1);
	if (n > 0 && out[n - 1] != '\n')
		out[n++] = '\n', out[n] = '\0';
	for (i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		if ((pem = cert_to_pem(sk_X509_value(chain, i))) == NULL)
			goto fail;
		m = strlen(pem);
		if ((grown = realloc(out, n + m + 1)) == NULL) {
			free(pem);
			goto fail;
		}
		out = grown;
		memcpy(out + n, pem, m + 1);
		n += m;
		free(pem);
	}
	*len = n;
	return out;
fail:
	free(out);
	return NULL;
}

void
acme_cert_download(struct acme_req *ar, const char *serial)
{
	struct cert_record rec;
	int found;

	memset(&rec, 0, sizeof(rec));
	if (strlen(serial) > 40 ||
	    (found = store_cert_get(ar->sc, serial, &rec)) != 0 ||
	    rec.proto != ENROLL_PROTO_ACME) {
		cert_record_clear(&rec);
		acme_req_problem(
		    ar, 404, ACME_ERR_MALFORMED, "no such certificate");
		return;
	}
	if ((ar->raw = chain_pem(ar->acme, &rec, &ar->raw_len)) == NULL) {
		cert_record_clear(&rec);
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		return;
	}
	ar->raw_type = "application/pem-certificate-chain";
	cert_record_clear(&rec);
	acme_req_commit(ar);
}

/* The certificate a revokeCert names, as we stored it.  0, or -1 after
 * a problem reply. */
static int
revoke_target(struct acme_req *ar, X509 **cert, struct cert_record *rec)
{
	const char *b64 =
	    json_string_value(json_object_get(ar->payload, "certificate"));
	unsigned char *der = NULL;
	const unsigned char *p;
	char serial[41], *pem = NULL;
	size_t len = 0;
	int rc = -1;

	*cert = NULL;
	if (b64 == NULL ||
	    (der = encoding_b64url_decode(b64, strlen(b64), &len)) == NULL ||
	    (p = der, *cert = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
		    "revokeCert needs \"certificate\", base64url DER");
		goto out;
	}
	if (cert_serial_hex(*cert, serial, sizeof(serial)) == -1 ||
	    store_cert_get(ar->sc, serial, rec) != 0 ||
	    (pem = cert_to_pem(*cert)) == NULL || strcmp(pem, rec->pem) != 0) {
		acme_req_problem(ar, 404, ACME_ERR_MALFORMED,
		    "this server did not issue that certificate");
		goto out;
	}
	rc = 0;
out:
	free(der);
	free(pem);
	if (rc == -1) {
		X509_free(*cert);
		*cert = NULL;
	}
	return rc;
}

/* After the commit: the CRL cache must not serve the old list. */
static void
revoke_committed(struct acme_req *ar, void *arg)
{
	gateway_crl_invalidate(ar->acme->gw, arg);
}

/* Queue the revocation and its audit record in ar->txn.  0 / -1. */
static int
revoke_txn(struct acme_req *ar, const struct cert_record *rec, int code)
{
	struct audit_record a;
	char detail[32];

	snprintf(detail, sizeof(detail), "crlReason=%d", code);
	memset(&a, 0, sizeof(a));
	a.at = time(NULL);
	a.request_id = rec->request_id;
	a.proto = rec->proto;
	a.profile = rec->profile;
	a.requester = rec->requester;
	a.subject = rec->subject;
	a.event = "revoked";
	a.detail = detail;
	a.serial = rec->serial;
	if (store_txn_revoke(ar->txn, rec->serial, a.at, code) == -1 ||
	    store_txn_audit(ar->txn, &a) == -1)
		return -1;
	ar->after_commit = revoke_committed;
	ar->after_commit_arg =
	    (void *)policy_profile(gateway_policy(ar->acme->gw), rec->profile);
	return 0;
}

void
acme_revoke(struct acme_req *ar)
{
	const json_t *reason = json_object_get(ar->payload, "reason");
	struct cert_record rec;
	X509 *cert = NULL;
	int code = 0;

	memset(&rec, 0, sizeof(rec));
	if (revoke_target(ar, &cert, &rec) == -1)
		goto out;
	if (reason != NULL) {
		code = json_is_integer(reason) ? (int)json_integer_value(reason)
		                               : -1;
		/* RFC 5280 §5.3.1: 0-10 without 7; removeFromCRL (8) is for
		 * delta CRLs only. */
		if (code < 0 || code > 10 || code == 7 || code == 8) {
			acme_req_problem(ar, 400,
			    ACME_ERR_BAD_REVOCATION_REASON,
			    "reason must be a CRLReason 0-10 other than 7 and "
			    "8");
			goto out;
		}
	}
	/* §7.6: the issuing account (kid), or the certificate's own key
	 * (jwk). */
	if (ar->account.id != NULL
	        ? !owned_by(&rec, ar->account.id)
	        : EVP_PKEY_eq(X509_get0_pubkey(cert), ar->key) != 1) {
		acme_req_problem(ar, 403, ACME_ERR_UNAUTHORIZED,
		    "only the issuing account or the certificate's key may "
		    "revoke it");
		goto out;
	}
	if (rec.status == CERT_STATUS_REVOKED) {
		acme_req_problem(ar, 400, ACME_ERR_ALREADY_REVOKED,
		    "the certificate is already revoked");
		goto out;
	}
	/* In this request's transaction: durable before the reply, and
	 * never an fsync on the loop. */
	if (revoke_txn(ar, &rec, code) == -1) {
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "out of memory");
		goto out;
	}
	log_info("req=%s acme revoked serial=%s reason=%d", acme_req_id(ar),
	    rec.serial, code);
	ar->durable = 1;
	acme_req_commit(ar);
out:
	X509_free(cert);
	cert_record_clear(&rec);
}

static int
certid_parse(const char *certid, char *serial, size_t serialsz,
    unsigned char **aki, size_t *akilen)
{
	const char *dot = strchr(certid, '.');
	unsigned char *sbytes = NULL;
	size_t slen = 0, i;

	*aki = NULL;
	if (dot == NULL || dot == certid || strlen(dot + 1) == 0 ||
	    strlen(certid) > 200)
		return -1;
	if ((*aki = encoding_b64url_decode(
	         certid, (size_t)(dot - certid), akilen)) == NULL ||
	    (sbytes = encoding_b64url_decode(
	         dot + 1, strlen(dot + 1), &slen)) == NULL ||
	    slen == 0 || slen > 20 || 2 * slen + 1 > serialsz) {
		free(*aki);
		*aki = NULL;
		free(sbytes);
		return -1;
	}
	/* The DER INTEGER content bytes; our hex serials drop a leading
	 * zero octet as BN_bn2hex does. */
	i = (slen > 1 && sbytes[0] == 0) ? 1 : 0;
	serial[0] = '\0';
	for (; i < slen; i++)
		snprintf(serial + strlen(serial), serialsz - strlen(serial),
		    "%02X", sbytes[i]);
	free(sbytes);
	return 0;
}

/* 1 when the certificate's authorityKeyIdentifier is `aki`. */
static int
aki_matches(const char *pem, const unsigned char *aki, size_t akilen)
{
	const ASN1_OCTET_STRING *kid;
	X509 *x = cert_from_pem(pem, strlen(pem));
	int ok;

	kid = x != NULL ? X509_get0_authority_key_id(x) : NULL;
	ok = kid != NULL && (size_t)ASN1_STRING_length(kid) == akilen &&
	    memcmp(ASN1_STRING_get0_data(kid), aki, akilen) == 0;
	X509_free(x);
	return ok;
}

int
acme_certid_lookup(
    struct store_conn *sc, const char *certid, struct cert_record *rec)
{
	unsigned char *aki = NULL;
	size_t akilen = 0;
	char serial[48];
	int rc = -1, found;

	memset(rec, 0, sizeof(*rec));
	if (certid_parse(certid, serial, sizeof(serial), &aki, &akilen) == -1)
		return -1;
	if ((found = store_cert_get(sc, serial, rec)) != 0 ||
	    !aki_matches(rec->pem, aki, akilen)) {
		cert_record_clear(rec);
		rc = found == -1 ? -1 : 1;
		goto out;
	}
	rc = 0;
out:
	free(aki);
	return rc;
}

/* RFC 9773 §4.2: renew in the last third of the lifetime, at once when
 * revoked. */
void
acme_renewal_info(struct acme_req *ar, const char *certid)
{
	struct cert_record rec;
	char start[32], end[32];
	time_t life, s, e;
	int found;

	if ((found = acme_certid_lookup(ar->sc, certid, &rec)) != 0) {
		if (found == 1)
			acme_req_problem(
			    ar, 404, ACME_ERR_MALFORMED, "no such certificate");
		else
			acme_req_problem(ar, 400, ACME_ERR_MALFORMED,
			    "not a certificate identifier (RFC 9773 §4.1)");
		return;
	}
	life = rec.not_after - rec.not_before;
	if (rec.status == CERT_STATUS_REVOKED) {
		s = time(NULL) - 3600;
		e = time(NULL);
	} else {
		s = rec.not_before + life * 2 / 3;
		e = rec.not_before + life * 5 / 6;
	}
	cert_record_clear(&rec);
	acme_time(s, start, sizeof(start));
	acme_time(e, end, sizeof(end));
	ar->body = json_pack(
	    "{s:{s:s, s:s}}", "suggestedWindow", "start", start, "end", end);
	ar->retry_after = 21600;
	acme_req_send_now(ar);
}
