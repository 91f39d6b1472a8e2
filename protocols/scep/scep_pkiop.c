/*
 * SCEP PKIOperation (RFC 8894 §3.3, §4.3): the pkiMessages that enroll
 * (PKCSReq, RenewalReq, CertPoll) or fetch (GetCert, GetCRL), the
 * challenge password's three sources (static, one-time, webhook), and
 * the signed CertRep replies.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "core/approval.h"
#include "core/cert.h"
#include "core/config.h"
#include "core/csr.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "core/passwd.h"
#include "core/pkcs7.h"
#include "core/store.h"
#include "policy/policy.h"
#include "protocols/scep/pkimsg.h"
#include "protocols/scep/scep.h"
#include "protocols/scep/scep_int.h"
#include "protocols/scep/webhook.h"

/* The reply cipher: the request's, except that single DES is never
 * sent (§3.5.2 deprecates it). */
static const EVP_CIPHER *
reply_cipher(struct scep *s, const struct scep_pkimsg *m)
{
	const EVP_CIPHER *c = scep_pkimsg_cipher(m);

	if (c == NULL || EVP_CIPHER_get_nid(c) == NID_des_cbc)
		return s->des_reply_aes ? EVP_aes_256_cbc()
		                        : EVP_des_ede3_cbc();
	return c;
}

/* Send a CertRep for m and end r. */
static void
scep_reply(struct scep *s, struct http_req *r, const struct scep_pkimsg *m,
    struct scep_certrep *rep)
{
	unsigned char *der;
	size_t len;

	rep->cipher = reply_cipher(s, m);
	if ((der = scep_certrep_der(m, rep, s->ra_cert, s->ra_key, &len)) ==
	    NULL) {
		http_reply_text(r, 500, "cannot build the CertRep");
		return;
	}
	log_info("req=%s scep tid=%s status=%d failinfo=%d", http_req_id(r),
	    scep_pkimsg_transaction_id(m), rep->status,
	    rep->status == SCEP_FAILURE ? (int)rep->fail_info : -1);
	http_reply(r, 200, "application/x-pki-message", der, len);
	free(der);
}

static void
scep_fail(struct scep *s, struct http_req *r, const struct scep_pkimsg *m,
    enum scep_fail info)
{
	struct scep_certrep rep;

	memset(&rep, 0, sizeof(rep));
	rep.status = SCEP_FAILURE;
	rep.fail_info = info;
	scep_reply(s, r, m, &rep);
}

/* "scep:" + transactionID, malloc'd. */
static char *
scep_pending_key(const struct scep_pkimsg *m)
{
	const char *tid = scep_pkimsg_transaction_id(m);
	size_t n = strlen("scep:") + strlen(tid) + 1;
	char *key = malloc(n);

	if (key != NULL)
		snprintf(key, n, "scep:%s", tid);
	return key;
}

struct scep_call {
	struct scep *s;
	struct http_req *r;
	struct scep_pkimsg *m;
	struct enroll_req *req; /* while the challenge is checked */
	char *pw;               /* the challenge, until the webhook has it */
};

static void
scep_done(struct enroll_req *req, const struct enroll_result *res, void *arg)
{
	struct scep_call *c = arg;
	struct scep_certrep rep;

	memset(&rep, 0, sizeof(rep));
	if (res->reason == ENROLL_PENDING) {
		rep.status = SCEP_PENDING;
		scep_reply(c->s, c->r, c->m, &rep);
	} else if (res->reason != ENROLL_OK || res->cert == NULL) {
		log_info("req=%s scep denied reason=%s detail=\"%s\"",
		    http_req_id(c->r), enroll_reason_code(res->reason),
		    res->detail ? res->detail : "");
		scep_fail(c->s, c->r, c->m, SCEP_BAD_REQUEST);
	} else if ((rep.certs = sk_X509_new_null()) == NULL ||
	    sk_X509_push(rep.certs, res->cert) == 0) {
		scep_fail(c->s, c->r, c->m, SCEP_BAD_REQUEST);
	} else {
		rep.status = SCEP_SUCCESS;
		scep_reply(c->s, c->r, c->m, &rep);
	}
	sk_X509_free(rep.certs); /* the certificate is the pipeline's */
	scep_pkimsg_free(c->m);
	free(c);
}

/*
 * RenewalReq (§3.3.1.2): the signer must be a valid certificate we
 * issued; it alone authenticates.  0, or -1 (not ours, expired, revoked).
 */
static int
renewal_signer(struct scep *s, struct http_req *r, X509 *signer,
    const char *profile, char *who, size_t whosz)
{
	STACK_OF(X509) *chain = gateway_ca_chain(
	    s->gw, policy_profile(gateway_policy(s->gw), profile));
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	struct cert_record rec;
	char serial[41];
	int i, ok = 0;

	memset(&rec, 0, sizeof(rec));
	for (i = 0; store != NULL && chain != NULL && i < sk_X509_num(chain);
	     i++)
		X509_STORE_add_cert(store, sk_X509_value(chain, i));
	if (store != NULL && ctx != NULL &&
	    X509_STORE_CTX_init(ctx, store, signer, NULL) == 1 &&
	    X509_verify_cert(ctx) == 1 &&
	    cert_serial_hex(signer, serial, sizeof(serial)) == 0 &&
	    store_cert_get(
	        worker_store_conn(http_req_worker(r)), serial, &rec) == 0 &&
	    rec.status == CERT_STATUS_VALID) {
		snprintf(who, whosz, "cert:%s", serial);
		ok = 1;
	}
	ERR_clear_error();
	cert_record_clear(&rec);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok ? 0 : -1;
}

static void
pw_free(char *pw)
{
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
}

/* FAILURE badRequest for a challenge we refuse; ends c. */
static void
challenge_refused(struct scep_call *c)
{
	scep_fail(c->s, c->r, c->m, SCEP_BAD_REQUEST);
	enroll_req_free(c->req);
	pw_free(c->pw);
	scep_pkimsg_free(c->m);
	free(c);
}

/* The challenge is good: on to the pipeline, which ends c. */
static void
challenge_accepted(struct scep_call *c)
{
	struct enroll_req *req = c->req;

	c->req = NULL;
	pw_free(c->pw);
	c->pw = NULL;
	enroll_submit(c->s->gw, http_req_base(c->r), req, scep_done, c);
}

/*
 * The webhook's JSON body: {"challenge", "csr" (base64 DER),
 * "transaction_id", "profile"}; malloc'd, NULL on failure (also for a
 * challenge that is not UTF-8).  jansson's copy of the challenge is
 * freed without being cleansed: a trade-off for using its encoder.
 */
static char *
hook_body(const struct scep_call *c)
{
	const unsigned char *der;
	char *csr = NULL, *body = NULL;
	json_t *o = NULL;
	size_t len;

	der = scep_pkimsg_csr_der(c->m, &len);
	if (der == NULL ||
	    (csr = encoding_b64_encode(der, len, 0, NULL)) == NULL)
		goto out;
	o = json_pack("{s:s, s:s, s:s, s:s}", "challenge", c->pw, "csr", csr,
	    "transaction_id", scep_pkimsg_transaction_id(c->m), "profile",
	    c->req->profile);
	if (o != NULL)
		body = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	free(csr);
	return body;
}

/* The webhook answered (2xx = allowed).  why is logged, the challenge
 * never is. */
static void
hook_answered(void *arg, int allowed, const char *why)
{
	struct scep_call *c = arg;

	if (!allowed) {
		log_info("req=%s scep challenge refused by the webhook (%s)",
		    http_req_id(c->r), why);
		challenge_refused(c);
		return;
	}
	if (enroll_req_set_requester(
	        c->req, "scep:webhook", ENROLL_AUTH_PASSWORD) == -1) {
		challenge_refused(c);
		return;
	}
	challenge_accepted(c);
}

/* Neither static nor one-time: ask the webhook, asynchronously. */
static void
hook_ask(struct scep_call *c)
{
	char *body = hook_body(c);
	int rc = -1;

	pw_free(c->pw);
	c->pw = NULL;
	if (body != NULL) {
		rc = scep_webhook_call(
		    c->s->hook, http_req_base(c->r), body, hook_answered, c);
		OPENSSL_cleanse(body, strlen(body));
	}
	free(body);
	if (rc == -1) {
		log_warn("req=%s scep webhook not called (no memory, or a "
		         "challenge that is not UTF-8)",
		    http_req_id(c->r));
		challenge_refused(c);
	}
}

/* The store answered whether the one-time password was there (and is
 * now used up): go on, ask the webhook, or FAILURE badRequest. */
static void
otp_consumed(int rc, void *arg)
{
	struct scep_call *c = arg;

	if (rc == 0) {
		challenge_accepted(c);
		return;
	}
	if (c->s->hook != NULL) {
		hook_ask(c);
		return;
	}
	log_info("req=%s scep challenge refused (not static, no unused "
	         "one-time password)",
	    http_req_id(c->r));
	challenge_refused(c);
}

/*
 * One-time passwords (`enrolld scep-otp add`) are stored as the SHA-256
 * of the password (they are random, so no slow hash is needed) and used
 * up by deleting them: of two requests racing with the same password,
 * only one deletes it.
 */
static void
otp_consume(struct scep_call *c, const char *pw)
{
	struct store_txn *t;
	char id[2 * SHA256_DIGEST_LENGTH + 1];

	scep_otp_id(pw, id, sizeof(id));
	if ((t = store_txn_new()) == NULL ||
	    store_txn_delete(t, SCEP_KIND_OTP, id) == -1) {
		store_txn_free(t);
		otp_consumed(-1, c);
		return;
	}
	/* The store takes t, also when it refuses it. */
	if (store_submit_txn(gateway_store(c->s->gw), http_req_base(c->r), t,
	        otp_consumed, c) == -1)
		otp_consumed(-1, c);
}

/* PKCSReq and RenewalReq through the pipeline.  Takes m. */
static void
scep_enroll(struct scep *s, struct http_req *r, const char *profile,
    struct scep_pkimsg *m)
{
	const unsigned char *der;
	struct enroll_req *req = NULL;
	struct scep_call *c = NULL;
	char who[64] = "scep:challenge", *pw = NULL;
	enum enroll_auth how = ENROLL_AUTH_PASSWORD;
	size_t len;

	der = scep_pkimsg_csr_der(m, &len);
	if ((req = enroll_req_new(ENROLL_PROTO_SCEP)) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL ||
	    enroll_req_set_profile(req, profile) == -1) {
		scep_fail(s, r, m, SCEP_BAD_REQUEST);
		goto fail;
	}
	snprintf(req->id, sizeof(req->id), "%s", http_req_id(r));
	/* A client retries a PENDING request with the same transactionID
	 * (RFC 8894 §3.3.3): that names it in the approval queue. */
	req->sc = worker_store_conn(http_req_worker(r));
	if ((req->pending_key = scep_pending_key(m)) == NULL) {
		scep_fail(s, r, m, SCEP_BAD_REQUEST);
		goto fail;
	}
	if (der == NULL ||
	    enroll_req_take_csr_der(req, der, len) != ENROLL_OK) {
		scep_fail(s, r, m, SCEP_BAD_REQUEST);
		goto fail;
	}
	if (scep_pkimsg_type(m) == SCEP_RENEWAL_REQ) {
		if (renewal_signer(s, r, scep_pkimsg_signer(m), profile, who,
		        sizeof(who)) == -1) {
			scep_fail(s, r, m, SCEP_BAD_MESSAGE_CHECK);
			goto fail;
		}
		how = ENROLL_AUTH_TLS_CERT;
		X509_up_ref(scep_pkimsg_signer(m));
		req->renewal_of = scep_pkimsg_signer(m);
	} else {
		/* §2.3: the challenge password rides in the CSR. */
		pw = csr_challenge_password(req->csr);
		if (pw == NULL) {
			scep_fail(s, r, m, SCEP_BAD_REQUEST);
			goto fail;
		}
		if (s->challenge == NULL ||
		    !passwd_equal(
		        pw, strlen(pw), s->challenge, strlen(s->challenge))) {
			/* Not the static one: perhaps a one-time password. */
			snprintf(who, sizeof(who), "scep:otp");
			if (enroll_req_set_requester(req, who, how) == -1)
				goto fail_reply;
			c->s = s;
			c->r = r;
			c->m = m;
			c->req = req;
			c->pw = pw; /* for the webhook, if the store says no */
			otp_consume(c, pw);
			return;
		}
	}
	if (enroll_req_set_requester(req, who, how) == -1)
		goto fail_reply;
	c->s = s;
	c->r = r;
	c->m = m;
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	enroll_submit(s->gw, http_req_base(r), req, scep_done, c);
	return;
fail_reply:
	scep_fail(s, r, m, SCEP_BAD_REQUEST);
fail:
	if (pw != NULL)
		OPENSSL_cleanse(pw, strlen(pw));
	free(pw);
	enroll_req_free(req);
	free(c);
	scep_pkimsg_free(m);
}

/*
 * CertPoll / GetCertInitial (§3.3.3): the request queued under this
 * transactionID, rebuilt from the queue, goes through the pipeline
 * again, which answers from its approval state.  Takes m.
 */
static void
scep_cert_poll(struct scep *s, struct http_req *r, struct scep_pkimsg *m)
{
	struct store_conn *sc = worker_store_conn(http_req_worker(r));
	struct enroll_req *req = NULL;
	struct scep_call *c = NULL;
	char *key = scep_pending_key(m);

	if (key == NULL ||
	    (req = approval_request(sc, key, ENROLL_PROTO_SCEP)) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(key);
		enroll_req_free(req);
		scep_fail(s, r, m, SCEP_BAD_CERT_ID);
		scep_pkimsg_free(m);
		return;
	}
	free(key);
	snprintf(req->id, sizeof(req->id), "%s", http_req_id(r));
	c->s = s;
	c->r = r;
	c->m = m;
	enroll_submit(s->gw, http_req_base(r), req, scep_done, c);
}

/* GetCert (§3.3.3): a certificate by issuer and serial. */
static void
scep_get_cert(struct scep *s, struct http_req *r, struct scep_pkimsg *m)
{
	const ASN1_INTEGER *sn = scep_pkimsg_serial(m);
	struct scep_certrep rep;
	struct cert_record rec;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	X509 *x = NULL;

	memset(&rep, 0, sizeof(rep));
	memset(&rec, 0, sizeof(rec));
	if (sn == NULL || (bn = ASN1_INTEGER_to_BN(sn, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL ||
	    store_cert_get(worker_store_conn(http_req_worker(r)), hex, &rec) !=
	        0 ||
	    (x = cert_from_pem(rec.pem, strlen(rec.pem))) == NULL ||
	    (rep.certs = sk_X509_new_null()) == NULL ||
	    sk_X509_push(rep.certs, x) == 0) {
		scep_fail(s, r, m, SCEP_BAD_CERT_ID);
		goto out;
	}
	rep.status = SCEP_SUCCESS;
	scep_reply(s, r, m, &rep);
out:
	sk_X509_free(rep.certs);
	X509_free(x);
	OPENSSL_free(hex);
	BN_free(bn);
	cert_record_clear(&rec);
	scep_pkimsg_free(m);
}

/* GetCRL (§3.3.4): the current CRL of the profile's CA. */
static void
scep_get_crl(struct scep *s, struct http_req *r, const char *profile,
    struct scep_pkimsg *m)
{
	struct scep_certrep rep;
	unsigned char *crl;
	size_t len = 0;

	memset(&rep, 0, sizeof(rep));
	crl = gateway_crl(s->gw, worker_store_conn(http_req_worker(r)),
	    policy_profile(gateway_policy(s->gw), profile), &len);
	if (crl == NULL) {
		scep_fail(s, r, m, SCEP_BAD_REQUEST);
	} else {
		rep.status = SCEP_SUCCESS;
		rep.crl_der = crl;
		rep.crl_len = len;
		scep_reply(s, r, m, &rep);
	}
	free(crl);
	scep_pkimsg_free(m);
}

static enum scep_fail
parse_fail_info(enum scep_parse_error e)
{
	switch (e) {
	case SCEP_PARSE_BAD_ALG:
		return SCEP_BAD_ALG;
	case SCEP_PARSE_BAD_TIME:
		return SCEP_BAD_TIME;
	case SCEP_PARSE_BAD_SIGNATURE:
	case SCEP_PARSE_DECRYPT:
		return SCEP_BAD_MESSAGE_CHECK;
	default:
		return SCEP_BAD_REQUEST;
	}
}

void
scep_pkiop(struct scep *s, struct http_req *r, const char *profile,
    const unsigned char *der, size_t len)
{
	struct scep_parse_opts opts = {s->ra_cert, s->ra_key, s->allow_des};
	struct scep_pkimsg *m, *partial = NULL;
	enum scep_parse_error e;

	if ((m = scep_pkimsg_parse(der, len, &opts, &e, &partial)) == NULL) {
		if (partial == NULL) {
			http_reply_text(r, 400,
			    "not a SCEP pkiMessage "
			    "(RFC 8894 §3.2)");
			return;
		}
		scep_fail(s, r, partial, parse_fail_info(e));
		scep_pkimsg_free(partial);
		return;
	}
	switch (scep_pkimsg_type(m)) {
	case SCEP_PKCS_REQ:
	case SCEP_RENEWAL_REQ:
		scep_enroll(s, r, profile, m);
		return;
	case SCEP_GET_CERT:
		scep_get_cert(s, r, m);
		return;
	case SCEP_GET_CRL:
		scep_get_crl(s, r, profile, m);
		return;
	case SCEP_CERT_POLL:
		scep_cert_poll(s, r, m);
		return;
	default:
		scep_fail(s, r, m, SCEP_BAD_REQUEST);
		scep_pkimsg_free(m);
		return;
	}
}
