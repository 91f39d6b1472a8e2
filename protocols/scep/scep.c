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
