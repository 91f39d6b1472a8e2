/*
 * SCEP front end (RFC 8894): /scep[/PROFILE][/pkiclient.exe], over plain
 * HTTP and HTTPS.  GetCACaps, GetCACert, and PKIOperation with PKCSReq,
 * RenewalReq, GetCert and GetCRL through the common pipeline; replies
 * are signed CertReps with the real failInfo.
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

#define SCEP_MAX_MESSAGE (256 * 1024)

static const char *const scep_prefixes[] = {
    "/scep", "/cgi-bin/pkiclient.exe", NULL};

static const char *const default_caps[] = {"AES", "POSTPKIOperation", "Renewal",
    "SHA-256", "SHA-512", "SCEPStandard", NULL};

struct scep {
	struct gateway *gw;
	char *default_profile;
	char *challenge;           /* static challenge password, or NULL */
	struct scep_webhook *hook; /* decides other challenges, or NULL */
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	int allow_des;
	int des_reply_aes; /* answer DES requests with AES, not 3DES */
	char caps[256];    /* GetCACaps body */
	/* { PROFILE: [caps] }: per-profile GetCACaps, borrowed from the
	 * config, which lives as long as the process. */
	const json_t *profile_caps;
	/* GetNextCACert (§4.6): the signed answer, made once at init, or
	 * NULL when no CA rollover is under way. */
	unsigned char *next_ca;
	size_t next_ca_len;
};

static const char *const cfg_keys[] = {"default_profile", "challenge",
    "ra_cert", "ra_key", "allow_des", "des_reply", "caps", "profile_caps",
    "next_ca_cert", "webhook", NULL};

/* "profile_caps": an object of arrays of strings. */
static int
check_profile_caps(const json_t *v, char *err, size_t errlen)
{
	const char *name;
	const json_t *list, *c;
	size_t i;

	if (!json_is_object(v)) {
		snprintf(err, errlen, "scep.profile_caps: must be an object");
		return -1;
	}
	json_object_foreach((json_t *)v, name, list)
	{
		if (!json_is_array(list)) {
			snprintf(err, errlen,
			    "scep.profile_caps.%s: must be an array", name);
			return -1;
		}
		json_array_foreach(list, i, c)
		{
			if (!json_is_string(c)) {
				snprintf(err, errlen,
				    "scep.profile_caps.%s[%zu]: must be a "
				    "string",
				    name, i);
				return -1;
			}
		}
	}
	return 0;
}

static int
scep_check(const json_t *conf, char *err, size_t errlen)
{
	const char *key;
	const json_t *v;

	if (conf == NULL)
		return 0;
	if (!json_is_object(conf)) {
		snprintf(err, errlen, "scep: must be an object");
		return -1;
	}
	json_object_foreach((json_t *)conf, key, v)
	{
		size_t i;

		for (i = 0; cfg_keys[i] != NULL; i++)
			if (strcmp(cfg_keys[i], key) == 0)
				break;
		if (cfg_keys[i] == NULL) {
			snprintf(err, errlen, "scep.%s: unknown key", key);
			return -1;
		}
		if (strcmp(key, "webhook") == 0) {
			if (scep_webhook_check(v, err, errlen) == -1)
				return -1;
		} else if (strcmp(key, "profile_caps") == 0) {
			if (check_profile_caps(v, err, errlen) == -1)
				return -1;
		} else if (strcmp(key, "allow_des") == 0 ? !json_is_boolean(v)
		        : strcmp(key, "caps") == 0       ? !json_is_array(v)
		                                         : !json_is_string(v)) {
			snprintf(err, errlen, "scep.%s: wrong type", key);
			return -1;
		}
	}
	v = json_object_get(conf, "des_reply");
	if (v != NULL && strcmp(json_string_value(v), "3des") != 0 &&
	    strcmp(json_string_value(v), "aes") != 0) {
		snprintf(err, errlen,
		    "scep.des_reply: must be \"3des\" or "
		    "\"aes\"");
		return -1;
	}
	return 0;
}

static void
scep_free(void *priv)
{
	struct scep *s = priv;

	if (s == NULL)
		return;
	free(s->default_profile);
	if (s->challenge != NULL)
		OPENSSL_cleanse(s->challenge, strlen(s->challenge));
	free(s->challenge);
	scep_webhook_free(s->hook);
	X509_free(s->ra_cert);
	EVP_PKEY_free(s->ra_key);
	free(s->next_ca);
	free(s);
	/* The workers are gone: no message is being parsed. */
	scep_pkimsg_cleanup();
}

static int
scep_caps(struct scep *s, const json_t *caps)
{
	const json_t *v;
	size_t i, n = 0;

	s->caps[0] = '\0';
	if (caps == NULL) {
		for (i = 0; default_caps[i] != NULL; i++)
			n += (size_t)snprintf(s->caps + n, sizeof(s->caps) - n,
			    "%s\n", default_caps[i]);
		return 0;
	}
	json_array_foreach(caps, i, v)
	{
		if (!json_is_string(v) || n >= sizeof(s->caps))
			return -1;
		n += (size_t)snprintf(s->caps + n, sizeof(s->caps) - n, "%s\n",
		    json_string_value(v));
	}
	return n < sizeof(s->caps) ? 0 : -1;
}

/*
 * §4.6 GetNextCACert: a SignedData, signed by the RA, whose content is a
 * degenerate certs-only SignedData holding the next CA certificate(s)
 * (PEM file `path`).  Built once.  0, or -1 with err set.
 */
static int
scep_next_ca(struct scep *s, const char *path, char *err, size_t errlen)
{
	char full[4096];
	STACK_OF(X509) *next = NULL;
	unsigned char *inner = NULL, *der = NULL;
	size_t inner_len = 0;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL;
	int n, rc = -1;

	if (path == NULL ||
	    config_path(gateway_basedir(s->gw), path, full, sizeof(full)) ==
	        -1 ||
	    (next = cert_load_pem_chain(full)) == NULL ||
	    sk_X509_num(next) == 0) {
		snprintf(err, errlen,
		    "scep.next_ca_cert: cannot read certificates from %s",
		    path ? path : "(none)");
		goto out;
	}
	if ((inner = pkcs7_certs_only_der(NULL, next, &inner_len)) == NULL ||
	    (in = BIO_new_mem_buf(inner, (int)inner_len)) == NULL ||
	    (cms = CMS_sign(s->ra_cert, s->ra_key, NULL, in,
	         CMS_BINARY | CMS_NOSMIMECAP)) == NULL ||
	    (n = i2d_CMS_ContentInfo(cms, &der)) <= 0) {
		snprintf(err, errlen, "scep.next_ca_cert: cannot sign it");
		goto out;
	}
	if ((s->next_ca = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(s->next_ca, der, (size_t)n);
	s->next_ca_len = (size_t)n;
	rc = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	OPENSSL_free(inner);
	sk_X509_pop_free(next, X509_free);
	return rc;
}

static int
scep_init(struct gateway *gw, const json_t *conf, void **priv, char *err,
    size_t errlen)
{
	const char *prof =
	    json_string_value(json_object_get(conf, "default_profile"));
	const char *ch = json_string_value(json_object_get(conf, "challenge"));
	const char *rc = json_string_value(json_object_get(conf, "ra_cert"));
	const char *rk = json_string_value(json_object_get(conf, "ra_key"));
	char path[4096];
	struct scep *s;

	*priv = NULL;
	if (conf == NULL)
		return 0; /* SCEP not configured: every request gets 404 */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->gw = gw;
	s->allow_des = !json_is_false(json_object_get(conf, "allow_des"));
	s->des_reply_aes = json_object_get(conf, "des_reply") != NULL &&
	    strcmp(json_string_value(json_object_get(conf, "des_reply")),
	        "aes") == 0;
	if ((s->default_profile = strdup(prof ? prof : "default")) == NULL ||
	    (ch != NULL && (s->challenge = strdup(ch)) == NULL))
		goto fail;
	if (policy_profile(gateway_policy(gw), s->default_profile) == NULL) {
		snprintf(err, errlen, "scep.default_profile: no profile \"%s\"",
		    s->default_profile);
		goto fail;
	}
	if (rc == NULL || rk == NULL ||
	    config_path(gateway_basedir(gw), rc, path, sizeof(path)) == -1 ||
	    (s->ra_cert = cert_load_pem(path)) == NULL ||
	    config_path(gateway_basedir(gw), rk, path, sizeof(path)) == -1 ||
	    (s->ra_key = cert_load_key(path)) == NULL ||
	    X509_check_private_key(s->ra_cert, s->ra_key) != 1 ||
	    EVP_PKEY_get_base_id(s->ra_key) != EVP_PKEY_RSA) {
		snprintf(err, errlen,
		    "scep.ra_cert/ra_key: need an RSA RA "
		    "certificate and its key");
		goto fail;
	}
	s->profile_caps = json_object_get(conf, "profile_caps");
	{
		const char *name;
		const json_t *list;

		json_object_foreach((json_t *)s->profile_caps, name, list)
		{
			if (policy_profile(gateway_policy(gw), name) == NULL) {
				snprintf(err, errlen,
				    "scep.profile_caps.%s: no such profile",
				    name);
				goto fail;
			}
		}
	}
	if (json_object_get(conf, "next_ca_cert") != NULL &&
	    scep_next_ca(s,
	        json_string_value(json_object_get(conf, "next_ca_cert")), err,
	        errlen) == -1)
		goto fail;
	if (scep_caps(s, json_object_get(conf, "caps")) == -1 ||
	    strlen(s->caps) + sizeof("GetNextCACert\n") > sizeof(s->caps)) {
		snprintf(err, errlen, "scep.caps: too long");
		goto fail;
	}
	if (json_object_get(conf, "webhook") != NULL &&
	    (s->hook = scep_webhook_new(json_object_get(conf, "webhook"),
	         gateway_basedir(gw), err, errlen)) == NULL)
		goto fail;
	/* §3.5.2: advertise the rollover while one is configured. */
	if (s->next_ca != NULL && strstr(s->caps, "GetNextCACert") == NULL)
		strcat(s->caps, "GetNextCACert\n");
	*priv = s;
	return 0;
fail:
	scep_free(s);
	return -1;
}

/* Profile named by the path after the prefix, or NULL when the path is
 * not a SCEP path: "", "/", "[/PROFILE][/cgi-bin]/pkiclient.exe". */
static int
scep_path_profile(struct scep *s, const char *path, char *prof, size_t profsz)
{
	const char *rest;
	size_t n;

	if (strncmp(path, "/cgi-bin/pkiclient.exe", 22) == 0)
		rest = path + 22;
	else
		rest = path + 5; /* "/scep" */
	snprintf(prof, profsz, "%s", s->default_profile);
	if (*rest == '\0' || strcmp(rest, "/") == 0 ||
	    strcmp(rest, "/pkiclient.exe") == 0 ||
	    strcmp(rest, "/cgi-bin/pkiclient.exe") == 0)
		return 0;
	if (*rest != '/')
		return -1;
	rest++;
	n = strcspn(rest, "/");
	if (n == 0 || n >= profsz)
		return -1;
	if (rest[n] != '\0' && strcmp(rest + n, "/") != 0 &&
	    strcmp(rest + n, "/pkiclient.exe") != 0 &&
	    strcmp(rest + n, "/cgi-bin/pkiclient.exe") != 0)
		return -1;
	memcpy(prof, rest, n);
	prof[n] = '\0';
	return policy_profile(gateway_policy(s->gw), prof) != NULL ? 0 : -1;
}

/*
 * Query parameter `name` percent-decoded into out.  '+' stays '+': it
 * only ever appears as base64 from clients that do not escape it
 * (macOS), never as a space.  0, 1 absent, -1 too long or malformed.
 */
static int
query_param(const char *q, const char *name, char *out, size_t outsz)
{
	size_t nlen = strlen(name), o = 0;
	const char *p;

	for (p = q; p != NULL && *p != '\0';
	     p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		for (p += nlen + 1; *p != '\0' && *p != '&'; p++) {
			int c = (unsigned char)*p;

			if (c == '%') {
				if (!isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]))
					return -1;
				sscanf(p + 1, "%2x", (unsigned *)&c);
				p += 2;
			}
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)c;
		}
		out[o] = '\0';
		return 0;
	}
	return 1;
}

/* §3.5.2 GetCACaps: the profile's own list, else the instance's. */
static void
scep_get_caps(struct scep *s, struct http_req *r, const char *profile)
{
	const json_t *list = json_object_get(s->profile_caps, profile), *c;
	char buf[512];
	size_t i, n = 0;

	if (list == NULL) {
		http_reply(r, 200, "text/plain", s->caps, strlen(s->caps));
		return;
	}
	buf[0] = '\0';
	json_array_foreach(list, i, c)
	{
		if (n < sizeof(buf))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\n",
			    json_string_value(c));
	}
	http_reply(
	    r, 200, "text/plain", buf, n < sizeof(buf) ? n : strlen(buf));
}

/* §4.2: GetCACert, the RA certificate and the CA chain. */
static void
scep_get_ca_cert(struct scep *s, struct http_req *r, const char *profile)
{
	STACK_OF(X509) *chain = gateway_ca_chain(
	    s->gw, policy_profile(gateway_policy(s->gw), profile));
	unsigned char *der = NULL;
	int n;
	size_t len;

	/* §4.2.1.1: the CA alone (its key decrypts: an RSA CA configured as
	 * its own RA), or §4.2.1.2: the RA and the CA chain. */
	if (chain != NULL && sk_X509_num(chain) == 1 &&
	    X509_cmp(s->ra_cert, sk_X509_value(chain, 0)) == 0) {
		if ((n = i2d_X509(s->ra_cert, &der)) <= 0) {
			http_reply_text(r, 500, "cannot encode the CA");
			return;
		}
		http_reply(
		    r, 200, "application/x-x509-ca-cert", der, (size_t)n);
		OPENSSL_free(der);
		return;
	}
	if (chain == NULL ||
	    (der = pkcs7_certs_only_der(s->ra_cert, chain, &len)) == NULL) {
		http_reply_text(r, 500, "cannot build the CA certificates");
		return;
	}
	http_reply(r, 200, "application/x-x509-ca-ra-cert", der, len);
	OPENSSL_free(der);
}

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

/* §4.3 PKIOperation with the pkiMessage DER. */
static void
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

/* Clients send message= in the standard alphabet, escaped or not, or
 * in the URL-safe one (micromdm's scepclient): take both. */
static void
b64_url_to_std(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '-')
			*s = '+';
		else if (*s == '_')
			*s = '/';
	}
}

/* PKIOperation by GET: message= base64, tolerant of line breaks, of
 * unescaped '+' and '/', and of the URL-safe alphabet. */
static void
scep_pkiop_get(struct scep *s, struct http_req *r, const char *profile)
{
	char *b64 = malloc(SCEP_MAX_MESSAGE);
	unsigned char *der = NULL;
	size_t len = 0;

	if (b64 != NULL &&
	    query_param(http_req_query(r), "message", b64, SCEP_MAX_MESSAGE) ==
	        0)
		b64_url_to_std(b64);
	if (b64 == NULL || b64[0] == '\0' ||
	    (der = encoding_b64_decode(b64, strlen(b64), &len)) == NULL)
		http_reply_text(r, 400, "message= must be a base64 pkiMessage");
	else
		scep_pkiop(s, r, profile, der, len);
	free(b64);
	free(der);
}

static void
scep_handle(struct http_req *r, void *priv)
{
	struct scep *s = priv;
	char op[64], profile[65];
	const unsigned char *body;
	size_t len;

	if (s == NULL ||
	    scep_path_profile(s, http_req_path(r), profile, sizeof(profile)) ==
	        -1) {
		http_reply_text(r, 404, "no such SCEP resource");
		return;
	}
	if (query_param(http_req_query(r), "operation", op, sizeof(op)) != 0) {
		http_reply_text(r, 400, "operation= is required (RFC 8894 §4)");
		return;
	}
	if (strcmp(op, "GetCACaps") == 0)
		scep_get_caps(s, r, profile);
	else if (strcmp(op, "GetCACert") == 0)
		scep_get_ca_cert(s, r, profile);
	else if (strcmp(op, "GetNextCACert") == 0 && s->next_ca != NULL)
		http_reply(r, 200, "application/x-x509-next-ca-cert",
		    s->next_ca, s->next_ca_len);
	else if (strcmp(op, "GetNextCACert") == 0)
		http_reply_text(r, 404, "no CA rollover is under way");
	else if (strcmp(op, "PKIOperation") == 0 &&
	    strcmp(http_req_method(r), "POST") == 0) {
		body = http_req_body(r, &len);
		scep_pkiop(s, r, profile, body, len);
	} else if (strcmp(op, "PKIOperation") == 0)
		scep_pkiop_get(s, r, profile);
	else
		http_reply_text(r, 400, "unsupported operation (RFC 8894 §4)");
}

const struct proto_handler scep_handler = {
    .name = "scep",
    .prefixes = scep_prefixes,
    .check = scep_check,
    .init = scep_init,
    .handle = scep_handle,
    .free = scep_free,
    .plain_http = 1, /* RFC 8894 §4.1: SCEP runs over plain HTTP */
    .commands = scep_commands,
};
