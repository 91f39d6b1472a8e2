/*
 * EST enrollment operations (RFC 7030 §4.2 simpleenroll and
 * simplereenroll, §4.4 serverkeygen): authenticate, read the base64
 * PKCS#10 body (RFC 8951 §3.2), build the common request, hand it to
 * the pipeline and render its outcome.  Each step is one function over
 * struct est_call; each ends the request itself when it fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/cert.h"
#include "core/csr.h"
#include "core/encoding.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/passwd.h"
#include "core/store.h"
#include "policy/policy.h"
#include "protocols/est/est_int.h"

/* One enrollment in flight; freed when its reply is sent. */
struct est_call {
	struct est *est;
	const struct est_route *rt;
	enum est_op op;
	struct http_req *r;
	struct enroll_job *job;     /* set while the pipeline runs */
	char who[EST_USER_MAX + 1]; /* requester, "cert:<serial>" or user */
	enum enroll_auth how;
	X509 *peer;  /* verified client cert, borrowed */
	int waiting; /* password hash or key generation off the loop */
	struct enroll_req *keygen_req; /* serverkeygen: waiting for its key */
	int aborted; /* the client left while waiting: free on return */
};

/* A password verification handed to the offload pool. */
struct pw_check {
	struct est_call *c;
	char user[EST_USER_MAX + 1];
	char pass[EST_PASSWORD_MAX + 1];
	const char *hash; /* borrowed from the config */
	int known;
	int verified;
	time_t now;
};

static const char *const op_names[] = {
    [EST_OP_SIMPLEENROLL] = "simpleenroll",
    [EST_OP_SIMPLEREENROLL] = "simplereenroll",
    [EST_OP_SERVERKEYGEN] = "serverkeygen",
};

static void
call_log(const struct est_call *c, int status, const char *what)
{
	char who[96];

	log_sanitize(c->who, strlen(c->who), who, sizeof(who));
	/* Successes are in the request and "issued" lines already. */
	log_msg(status == 200 ? LOG_LVL_DEBUG : LOG_LVL_INFO,
	    "req=%s est op=%s label=%s requester=\"%s\" status=%d "
	    "msg=\"%s\"",
	    http_req_id(c->r), op_names[c->op],
	    c->rt->label != NULL ? c->rt->label : "-",
	    who[0] != '\0' ? who : "-", status, what);
}

/* Reply 401 with the Basic challenge (RFC 7030 §3.2.3) and end c. */
static void
reply_401(struct est_call *c, const char *why)
{
	char challenge[EST_REALM_MAX + 32];

	call_log(c, 401, why);
	snprintf(challenge, sizeof(challenge), "Basic realm=\"%s\"",
	    c->est->cfg->realm);
	http_reply_header(c->r, "WWW-Authenticate", challenge);
	http_reply_text(c->r, 401, "%s", why);
	free(c);
}

/*
 * End c with the status of `reason` and the text body
 * "enrollment denied: <code>: <detail>" (RFC 7030 §4.2.3).
 */
static void
reply_reason(struct est_call *c, enum enroll_reason reason, const char *detail)
{
	char retry[16];
	unsigned retry_after;
	int status;

	status = est_render_status(reason, &retry_after);
	if (detail == NULL)
		detail = "no detail";
	call_log(c, status, enroll_reason_code(reason));
	if (retry_after > 0) {
		snprintf(retry, sizeof(retry), "%u", retry_after);
		http_reply_header(c->r, "Retry-After", retry);
	}
	if (reason == ENROLL_PENDING)
		http_reply_text(c->r, status, "enrollment pending: %s", detail);
	else
		http_reply_text(c->r, status, "enrollment denied: %s: %s",
		    enroll_reason_code(reason), detail);
	free(c);
}

/* Verify against the route's trust, or, while an upstream CA's chain
 * was unknown at start, against the chain known now. */
static int
trust_verify(struct est_call *c, X509 *cert, char *why, size_t whysz)
{
	X509_STORE *now;
	STACK_OF(X509) *chain;
	int rc;

	if (c->rt->trust != NULL)
		return est_auth_cert_verify(c->rt->trust, cert, why, whysz);
	chain = gateway_ca_chain(http_req_gateway(c->r), c->rt->prof);
	if (chain == NULL || sk_X509_num(chain) == 0 ||
	    (now = est_auth_trust_new(chain)) == NULL) {
		snprintf(why, whysz, "the CA chain is not known yet");
		return -1;
	}
	rc = est_auth_cert_verify(now, cert, why, whysz);
	X509_STORE_free(now);
	return rc;
}

/*
 * RFC 7030 §3.3.2: a client certificate authenticates when it verifies
 * to this route's CA and the store knows it, unrevoked.  ENROLL_OK, or
 * UNAUTHORIZED / REVOKED / STORE_ERROR with a client-safe why.
 */
static enum enroll_reason
cert_known(struct est_call *c, X509 *cert, char *why, size_t whysz)
{
	struct cert_record rec;
	struct store_conn *sc;
	char serial[41];
	int found;

	if (trust_verify(c, cert, why, whysz) == -1)
		return ENROLL_UNAUTHORIZED;
	if (cert_serial_hex(cert, serial, sizeof(serial)) == -1 ||
	    (sc = worker_store_conn(http_req_worker(c->r))) == NULL) {
		snprintf(why, whysz, "certificate store unavailable");
		return ENROLL_STORE_ERROR;
	}
	memset(&rec, 0, sizeof(rec));
	if ((found = store_cert_get(sc, serial, &rec)) == -1) {
		snprintf(why, whysz, "certificate store unavailable");
		return ENROLL_STORE_ERROR;
	}
	if (found == 1) {
		snprintf(
		    why, whysz, "client certificate not issued by this CA");
		return ENROLL_UNAUTHORIZED;
	}
	found = rec.status == CERT_STATUS_REVOKED;
	cert_record_clear(&rec);
	if (found) {
		snprintf(why, whysz, "client certificate revoked");
		return ENROLL_REVOKED;
	}
	snprintf(c->who, sizeof(c->who), "cert:%s", serial);
	c->how = ENROLL_AUTH_TLS_CERT;
	c->peer = cert;
	return ENROLL_OK;
}

static void proceed(struct est_call *c);
static void submit(struct est_call *c, struct enroll_req *req);
static void est_abort(struct http_req *r, void *arg);

/* The outcome of a password check: continue, or end c with 401. */
static void
auth_basic_result(struct est_call *c, int ok)
{
	if (ok == -1) {
		reply_reason(c, ENROLL_INTERNAL, "credential check failed");
		return;
	}
	if (ok == 0) {
		reply_401(c, "invalid user name or password");
		return;
	}
	c->how = ENROLL_AUTH_PASSWORD;
	proceed(c);
}

/* Pool thread: the slow hash (PBKDF2) never runs on a loop. */
static void
pw_work(void *arg)
{
	struct pw_check *pw = arg;

	pw->verified = passwd_verify(pw->pass, pw->hash);
}

/* Back on the loop. */
static void
pw_done(void *arg)
{
	struct pw_check *pw = arg;
	struct est_call *c = pw->c;
	int ok;

	ok = est_auth_password_end(
	    c->est->auth, pw->user, pw->pass, pw->now, pw->known, pw->verified);
	OPENSSL_cleanse(pw, sizeof(*pw));
	free(pw);
	c->waiting = 0;
	if (c->aborted) {
		free(c);
		return;
	}
	http_req_on_abort(c->r, NULL, NULL);
	auth_basic_result(c, ok);
}

/*
 * HTTP Basic (RFC 7617) against est.users.  0 when accepted at once (a
 * cached success), 1 when the check continues off the loop and ends in
 * proceed(), -1 when c ended.
 */
static int
auth_basic(struct est_call *c, const char *hdr)
{
	struct pw_check *pw;
	int rc;

	if ((pw = calloc(1, sizeof(*pw))) == NULL) {
		reply_reason(c, ENROLL_INTERNAL, "out of memory");
		return -1;
	}
	pw->c = c;
	pw->now = time(NULL);
	if (est_auth_parse_basic(hdr, pw->user, sizeof(pw->user), pw->pass,
	        sizeof(pw->pass)) == -1) {
		free(pw);
		reply_401(c, "malformed Basic credentials (RFC 7617 §2)");
		return -1;
	}
	/* Logged as the attempted name either way; never the password. */
	snprintf(c->who, sizeof(c->who), "%s", pw->user);
	rc = est_auth_password_begin(c->est->auth, c->est->cfg, pw->user,
	    pw->pass, pw->now, &pw->hash, &pw->known);
	if (rc == 2 &&
	    offload_submit(http_req_base(c->r), pw_work, pw_done, pw) == 0) {
		c->waiting = 1;
		http_req_on_abort(c->r, est_abort, c);
		return 1;
	}
	if (rc == 2) /* no pool (unit tests, CLI): verify inline */
		rc = est_auth_password_end(c->est->auth, pw->user, pw->pass,
		    pw->now, pw->known, passwd_verify(pw->pass, pw->hash));
	OPENSSL_cleanse(pw, sizeof(*pw));
	free(pw);
	if (rc == 1) {
		c->how = ENROLL_AUTH_PASSWORD;
		return 0;
	}
	auth_basic_result(c, rc);
	return -1;
}

/*
 * Who is asking.  simplereenroll needs the certificate being renewed
 * (RFC 7030 §4.2.2), Basic alone does not do; the other operations take
 * Basic or, when enabled, a client certificate of this CA.  0 go on,
 * 1 waiting (proceed() follows), -1 c ended.
 */
static int
authenticate(struct est_call *c)
{
	const char *hdr = http_req_header(c->r, "Authorization");
	X509 *peer = http_req_peer_cert(c->r);
	enum enroll_reason reason;
	char why[128];

	if (c->op == EST_OP_SIMPLEREENROLL) {
		if (peer == NULL) {
			reply_401(c,
			    "simplereenroll needs the TLS client "
			    "certificate being renewed (RFC 7030 §4.2.2)");
			return -1;
		}
		if ((reason = cert_known(c, peer, why, sizeof(why))) !=
		    ENROLL_OK) {
			reply_reason(c, reason, why);
			return -1;
		}
		return 0;
	}
	if (hdr != NULL)
		return auth_basic(c, hdr);
	if (peer == NULL || !c->est->cfg->client_cert_auth) {
		reply_401(c, "authentication required");
		return -1;
	}
	if ((reason = cert_known(c, peer, why, sizeof(why))) == ENROLL_OK)
		return 0;
	if (reason == ENROLL_UNAUTHORIZED)
		reply_401(c, why);
	else
		reply_reason(c, reason, why);
	return -1;
}

/*
 * The PKCS#10 body: Content-Type exactly application/pkcs10, base64
 * with or without line breaks whatever Content-Transfer-Encoding says
 * (RFC 8951 §3.2).  Returns the DER (caller frees, *derlen set); NULL
 * when c ended.
 */
static unsigned char *
read_csr(struct est_call *c, size_t *derlen)
{
	const char *ct = http_req_header(c->r, "Content-Type");
	const unsigned char *body;
	unsigned char *der;
	size_t len;

	if (ct == NULL || !http_media_type_is(ct, "application/pkcs10")) {
		call_log(c, 415, "wrong Content-Type");
		http_reply_text(c->r, 415,
		    "Content-Type must be "
		    "application/pkcs10 (RFC 7030 §4.2.1)");
		free(c);
		return NULL;
	}
	body = http_req_body(c->r, &len);
	if (len == 0 ||
	    (der = encoding_b64_decode((const char *)body, len, derlen)) ==
	        NULL) {
		reply_reason(c, ENROLL_MALFORMED,
		    "the request body is not "
		    "base64 (RFC 8951 §3.2)");
		return NULL;
	}
	return der;
}

/*
 * The operation-specific parts of the request: the certificate renewed
 * (subject and SANs must match, RFC 7030 §4.2.2) or the server-made key
 * (§4.4).  0, or -1 when c ended (req is then the caller's to free).
 */
static int
fill_op(struct est_call *c, struct enroll_req *req)
{
	char why[160];
	int m;

	if (c->op == EST_OP_SIMPLEREENROLL) {
		if ((m = est_auth_renewal_match(
		         req, c->peer, why, sizeof(why))) != 1) {
			if (m == 0)
				reply_reason(c, ENROLL_RENEWAL_MISMATCH, why);
			else
				reply_reason(c, ENROLL_INTERNAL,
				    "could not compare with the certificate");
			return -1;
		}
		X509_up_ref(c->peer);
		req->renewal_of = c->peer;
	}
	return 0;
}

/*
 * "est:" + hex SHA-256 of the CSR DER, and for a re-enrollment of the
 * serial it renews too (an RSA CSR signed again with the same key is the
 * same bytes: its renewal must not be the earlier request).  Malloc'd;
 * NULL on error.
 */
static char *
pending_key(const unsigned char *der, size_t len, const X509 *renewal_of)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char serial[41] = "", *key;
	size_t i;
	int ok;

	if (renewal_of != NULL &&
	    cert_serial_hex(renewal_of, serial, sizeof(serial)) == -1)
		serial[0] = '\0';
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, der, len) == 1 &&
	    EVP_DigestUpdate(ctx, serial, strlen(serial)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok || (key = malloc(4 + 2 * mdlen + 1)) == NULL)
		return NULL;
	memcpy(key, "est:", 4);
	for (i = 0; i < mdlen; i++)
		snprintf(key + 4 + 2 * i, 3, "%02x", md[i]);
	return key;
}

/*
 * The request for the pipeline from the CSR's DER (borrowed), parsed by
 * csr_parse so that the key decoders do not run.  NULL when c ended.
 */
static struct enroll_req *
build_req(struct est_call *c, const unsigned char *der, size_t derlen)
{
	struct enroll_req *req;
	enum enroll_reason reason;

	if ((req = enroll_req_new(ENROLL_PROTO_EST)) != NULL)
		/* One id from the request line to the audit trail. */
		snprintf(req->id, sizeof(req->id), "%s", http_req_id(c->r));
	if (req == NULL ||
	    enroll_req_set_profile(req, profile_name(c->rt->prof)) == -1 ||
	    enroll_req_set_requester(req, c->who, c->how) == -1) {
		reply_reason(c, ENROLL_INTERNAL, "out of memory");
		goto fail;
	}
	reason = enroll_req_take_csr_der(req, der, derlen);
	if (reason == ENROLL_MALFORMED) {
		reply_reason(c, reason,
		    "the request body is not "
		    "one DER PKCS#10 CertificationRequest (RFC 7030 §4.2.1)");
		goto fail;
	}
	if (reason != ENROLL_OK) {
		reply_reason(c, reason,
		    "the CSR extensions could not be "
		    "parsed (RFC 2986)");
		goto fail;
	}
	/* RFC 7030 §4.2.3: after a 202 the client sends the same request
	 * again; the CSR's digest names it in the approval queue. */
	req->sc = worker_store_conn(http_req_worker(c->r));
	if (fill_op(c, req) == -1)
		goto fail;
	if ((req->pending_key = pending_key(der, derlen, req->renewal_of)) ==
	    NULL) {
		reply_reason(c, ENROLL_INTERNAL, "out of memory");
		goto fail;
	}
	return req;
fail:
	enroll_req_free(req);
	return NULL;
}

/* RFC 7030 §4.2.3: only the issued certificate, base64 PKCS#7. */
static void
reply_cert(struct est_call *c, const struct enroll_result *res)
{
	char *body;
	size_t len;

	if ((body = est_render_certs_b64(res->cert, NULL, &len)) == NULL) {
		reply_reason(c, ENROLL_INTERNAL,
		    "could not encode the "
		    "certificate");
		return;
	}
	call_log(c, 200, res->serial != NULL ? res->serial : "issued");
	http_reply_header(c->r, "Content-Transfer-Encoding", "base64");
	http_reply(c->r, 200, "application/pkcs7-mime; smime-type=certs-only",
	    body, len);
	free(body);
	free(c);
}

/* RFC 7030 §4.4.2: the key and the certificate, multipart/mixed. */
static void
reply_keygen(struct est_call *c, EVP_PKEY *key, const struct enroll_result *res)
{
	char ctype[96], *body;
	size_t len = 0;

	if (key == NULL ||
	    (body = est_render_serverkeygen(
	         key, res->cert, &len, ctype, sizeof(ctype))) == NULL) {
		reply_reason(c, ENROLL_INTERNAL,
		    "could not encode the key "
		    "and certificate");
		return;
	}
	call_log(c, 200, res->serial != NULL ? res->serial : "issued");
	http_reply(c->r, 200, ctype, body, len);
	/* The core copied it; this copy of the private key dies here. */
	OPENSSL_cleanse(body, len);
	free(body);
	free(c);
}

static void
est_done(struct enroll_req *req, const struct enroll_result *res, void *arg)
{
	struct est_call *c = arg;

	c->job = NULL;
	if (res->reason != ENROLL_OK)
		reply_reason(c, res->reason, res->detail);
	else if (res->cert == NULL)
		reply_reason(c, ENROLL_INTERNAL, "no certificate issued");
	else if (c->op == EST_OP_SERVERKEYGEN)
		reply_keygen(c, req->server_key, res);
	else
		reply_cert(c, res);
}

/* The client left: the pipeline finishes (and stores) without us. */
static void
est_abort(struct http_req *r, void *arg)
{
	struct est_call *c = arg;

	enroll_cancel(c->job);
	c->job = NULL;
	call_log(c, 499, "client went away");
	http_reply_text(r, 503, "client went away");
	if (c->waiting) {
		c->aborted = 1; /* pw_done or keygen_done frees c */
		return;
	}
	free(c);
}

void
est_enroll_handle(struct est *est, const struct est_route *rt, enum est_op op,
    struct http_req *r)
{
	struct est_call *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		http_reply_text(r, 500, "out of memory");
		return;
	}
	c->est = est;
	c->rt = rt;
	c->op = op;
	c->r = r;
	if (authenticate(c) == 0)
		proceed(c);
}

/* Pool thread: RSA key generation takes long enough to stall a loop. */
static void
keygen_work(void *arg)
{
	struct est_call *c = arg;
	enum key_kind kind;
	int bits = 0;

	kind = profile_preferred_key(c->rt->prof, &bits);
	c->keygen_req->server_key = cert_keygen(kind, bits);
}

static void
keygen_done(void *arg)
{
	struct est_call *c = arg;
	struct enroll_req *req = c->keygen_req;

	c->keygen_req = NULL;
	c->waiting = 0;
	if (c->aborted) {
		enroll_req_free(req);
		free(c);
		return;
	}
	http_req_on_abort(c->r, NULL, NULL);
	if (req->server_key == NULL) {
		enroll_req_free(req);
		reply_reason(
		    c, ENROLL_INTERNAL, "server key generation failed");
		return;
	}
	submit(c, req);
}

/* RFC 7030 §4.4: make the key the certificate will carry, off the loop
 * (inline when no pool runs). */
static void
keygen_start(struct est_call *c, struct enroll_req *req)
{
	c->keygen_req = req;
	if (offload_submit(http_req_base(c->r), keygen_work, keygen_done, c) ==
	    0) {
		c->waiting = 1;
		http_req_on_abort(c->r, est_abort, c);
		return;
	}
	keygen_work(c);
	keygen_done(c);
}

/* After authentication: the CSR, the request, the pipeline. */
static void
proceed(struct est_call *c)
{
	struct enroll_req *req;
	unsigned char *der;
	size_t derlen = 0;

	if ((der = read_csr(c, &derlen)) == NULL)
		return;
	req = build_req(c, der, derlen);
	free(der);
	if (req == NULL)
		return;
	if (c->op == EST_OP_SERVERKEYGEN) {
		keygen_start(c, req);
		return;
	}
	submit(c, req);
}

/* Hand req to the pipeline; est_done ends c. */
static void
submit(struct est_call *c, struct enroll_req *req)
{
	struct http_req *r = c->r;
	struct enroll_job *job;

	/* done may run inside enroll_submit and free c: touch c again only
	 * when a job handle came back. */
	job = enroll_submit(c->est->gw, http_req_base(r), req, est_done, c);
	if (job != NULL) {
		c->job = job;
		http_req_on_abort(r, est_abort, c);
	}
}
