/*
 * EST front end (RFC 7030, RFC 8951): the handler table, its state and
 * the routing of /.well-known/est[/<label>]/<op> (RFC 7030 §3.2.2).
 * cacerts and csrattrs are rendered once at init, since neither the CA
 * chain nor the profiles change while running; enrollments go to
 * est_enroll.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "core/encoding.h"
#include "core/gateway.h"
#include "core/http.h"
#include "core/log.h"
#include "policy/policy.h"
#include "protocols/est/est.h"
#include "protocols/est/est_int.h"

#define EST_PREFIX "/.well-known/est/"
/* RFC 2045 §6.8 line length for the cached base64 bodies. */
#define EST_B64_LINE 76

enum est_kind { EST_GET_CACERTS, EST_GET_CSRATTRS, EST_ENROLL };

/* RFC 7030 §3.2.2, table of operation paths (fullcmc not offered). */
static const struct {
	const char *name;
	const char *method;
	enum est_kind kind;
	enum est_op op;
} est_ops[] = {
    {"cacerts", "GET", EST_GET_CACERTS, 0},
    {"csrattrs", "GET", EST_GET_CSRATTRS, 0},
    {"simpleenroll", "POST", EST_ENROLL, EST_OP_SIMPLEENROLL},
    {"simplereenroll", "POST", EST_ENROLL, EST_OP_SIMPLEREENROLL},
    {"serverkeygen", "POST", EST_ENROLL, EST_OP_SERVERKEYGEN},
};

static void
est_free(void *priv)
{
	struct est *est = priv;
	size_t i;

	if (est == NULL)
		return;
	for (i = 0; i < est->n_routes; i++) {
		free(est->routes[i].cacerts);
		free(est->routes[i].csrattrs);
		X509_STORE_free(est->routes[i].trust);
	}
	free(est->routes);
	est_auth_free(est->auth);
	est_config_free(est->cfg);
	free(est);
}

/* The base64 CsrAttrs of a profile's preferred key; caller frees. */
static char *
csrattrs_b64(const struct profile *prof, size_t *len)
{
	unsigned char *der;
	size_t derlen;
	char *b64;
	int bits = 0;

	der = est_csrattrs_der(profile_preferred_key(prof, &bits), &derlen);
	if (der == NULL)
		return NULL;
	b64 = encoding_b64_encode(der, derlen, EST_B64_LINE, len);
	OPENSSL_free(der);
	return b64;
}

/*
 * Bind a route to its profile (named at config key `keypath`) and
 * render its fixed bodies.  0, or -1 with err naming the key.
 */
static int
route_init(struct est *est, struct est_route *rt, const char *profile,
    const char *keypath, char *err, size_t errlen)
{
	STACK_OF(X509) *chain;

	rt->prof = policy_profile(gateway_policy(est->gw), profile);
	if (rt->prof == NULL) {
		snprintf(err, errlen,
		    "%s: profile \"%s\" is not defined in "
		    "profiles",
		    keypath, profile);
		return -1;
	}
	chain = gateway_ca_chain(est->gw, rt->prof);
	if (chain == NULL) {
		snprintf(err, errlen, "%s: profile \"%s\" has no CA chain",
		    keypath, profile);
		return -1;
	}
	/* An upstream CA's chain may be learned only from its first
	 * certificate: cacerts is then rendered per request, and client
	 * certificates are trusted from the next start. */
	if (sk_X509_num(chain) == 0)
		log_info("msg=\"%s: the CA chain of profile %s is not known "
		         "yet\"",
		    keypath, profile);
	else if ((rt->cacerts = est_render_certs_b64(
	              NULL, chain, &rt->cacerts_len)) == NULL ||
	    (rt->trust = est_auth_trust_new(chain)) == NULL) {
		snprintf(err, errlen,
		    "%s: cannot encode the CA chain of "
		    "profile \"%s\"",
		    keypath, profile);
		return -1;
	}
	if ((rt->csrattrs = csrattrs_b64(rt->prof, &rt->csrattrs_len)) ==
	    NULL) {
		snprintf(err, errlen,
		    "%s: cannot describe the preferred key "
		    "of profile \"%s\" as csrattrs",
		    keypath, profile);
		return -1;
	}
	return 0;
}

static int
est_init(struct gateway *gw, const json_t *conf, void **priv, char *err,
    size_t errlen)
{
	struct est *est;
	char keypath[EST_LABEL_MAX + 16];
	size_t i;

	if ((est = calloc(1, sizeof(*est))) == NULL)
		goto oom;
	est->gw = gw;
	if ((est->cfg = est_config_new(conf, err, errlen)) == NULL)
		goto fail;
	if ((est->auth = est_auth_new()) == NULL)
		goto oom;
	est->routes = calloc(1 + est->cfg->n_labels, sizeof(*est->routes));
	if (est->routes == NULL)
		goto oom;
	est->n_routes = 1 + est->cfg->n_labels;
	if (route_init(est, &est->routes[0], est->cfg->default_profile,
	        "est.default_profile", err, errlen) == -1)
		goto fail;
	for (i = 0; i < est->cfg->n_labels; i++) {
		est->routes[i + 1].label = est->cfg->labels[i].label;
		snprintf(keypath, sizeof(keypath), "est.labels.%s",
		    est->cfg->labels[i].label);
		if (route_init(est, &est->routes[i + 1],
		        est->cfg->labels[i].profile, keypath, err,
		        errlen) == -1)
			goto fail;
	}
	*priv = est;
	return 0;
oom:
	snprintf(err, errlen, "est: out of memory");
fail:
	est_free(est);
	return -1;
}

/* The route of a label, or NULL. */
static const struct est_route *
find_route(const struct est *est, const char *label, size_t len)
{
	size_t i;

	for (i = 1; i < est->n_routes; i++)
		if (strlen(est->routes[i].label) == len &&
		    memcmp(est->routes[i].label, label, len) == 0)
			return &est->routes[i];
	return NULL;
}

/* RFC 7030 §4.1.3 / §4.5.2: a fixed base64 body. */
static void
reply_fixed(struct http_req *r, const char *ctype, const char *body, size_t len)
{
	http_reply_header(r, "Content-Transfer-Encoding", "base64");
	http_reply(r, 200, ctype, body, len);
}

/* §4.1.3; a chain still unknown at init is rendered now. */
static void
reply_cacerts(struct est *est, const struct est_route *rt, struct http_req *r)
{
	STACK_OF(X509) *chain;
	char *b64;
	size_t len;

	if (rt->cacerts != NULL) {
		log_info("req=%s est op=cacerts label=%s status=200",
		    http_req_id(r), rt->label != NULL ? rt->label : "-");
		reply_fixed(
		    r, "application/pkcs7-mime", rt->cacerts, rt->cacerts_len);
		return;
	}
	chain = gateway_ca_chain(est->gw, rt->prof);
	if (chain == NULL || sk_X509_num(chain) == 0 ||
	    (b64 = est_render_certs_b64(NULL, chain, &len)) == NULL) {
		log_info("req=%s est op=cacerts status=503", http_req_id(r));
		http_reply_header(r, "Retry-After", "60");
		http_reply_text(r, 503,
		    "the CA chain is not known yet: it is learned from the "
		    "upstream CA's first certificate");
		return;
	}
	log_info("req=%s est op=cacerts label=%s status=200", http_req_id(r),
	    rt->label != NULL ? rt->label : "-");
	reply_fixed(r, "application/pkcs7-mime", b64, len);
	free(b64);
}

static void
dispatch(
    struct est *est, const struct est_route *rt, size_t i, struct http_req *r)
{
	const char *method = http_req_method(r);

	if (strcmp(method, est_ops[i].method) != 0) {
		log_info("req=%s est op=%s status=405 method=%s",
		    http_req_id(r), est_ops[i].name, method);
		http_reply_header(r, "Allow", est_ops[i].method);
		http_reply_text(r, 405, "%s takes %s only", est_ops[i].name,
		    est_ops[i].method);
		return;
	}
	switch (est_ops[i].kind) {
	case EST_GET_CACERTS:
		reply_cacerts(est, rt, r);
		return;
	case EST_GET_CSRATTRS:
		log_info("req=%s est op=csrattrs label=%s status=200",
		    http_req_id(r), rt->label != NULL ? rt->label : "-");
		reply_fixed(
		    r, "application/csrattrs", rt->csrattrs, rt->csrattrs_len);
		return;
	case EST_ENROLL:
		break;
	}
	if (est_ops[i].op == EST_OP_SERVERKEYGEN && !est->cfg->serverkeygen) {
		log_info("req=%s est op=serverkeygen status=404 "
		         "msg=\"disabled\"",
		    http_req_id(r));
		http_reply_text(r, 404, "serverkeygen is not offered here");
		return;
	}
	est_enroll_handle(est, rt, est_ops[i].op, r);
}

/*
 * RFC 7030 §3.2.2: /.well-known/est/<op> uses the default profile,
 * /.well-known/est/<label>/<op> the label's.  Nothing deeper exists.
 */
static void
est_handle(struct http_req *r, void *priv)
{
	struct est *est = priv;
	const struct est_route *rt = &est->routes[0];
	const char *path = http_req_path(r), *op, *slash;
	char safe[96];
	size_t i;

	/* The core routed us by this prefix. */
	op = path + strlen(EST_PREFIX);
	if ((slash = strchr(op, '/')) != NULL) {
		if ((rt = find_route(est, op, (size_t)(slash - op))) == NULL) {
			log_info("req=%s est status=404 label=\"%s\"",
			    http_req_id(r),
			    log_sanitize(
			        op, (size_t)(slash - op), safe, sizeof(safe)));
			http_reply_text(r, 404, "unknown EST label");
			return;
		}
		op = slash + 1;
	}
	for (i = 0; i < sizeof(est_ops) / sizeof(est_ops[0]); i++)
		if (strcmp(op, est_ops[i].name) == 0)
			break;
	if (i == sizeof(est_ops) / sizeof(est_ops[0])) {
		log_info("req=%s est status=404 op=\"%s\"", http_req_id(r),
		    log_sanitize(op, strlen(op), safe, sizeof(safe)));
		http_reply_text(r, 404, "unknown EST operation");
		return;
	}
	dispatch(est, rt, i, r);
}

static const char *const est_prefixes[] = {EST_PREFIX, NULL};

const struct proto_handler est_handler = {
    .name = "est",
    .prefixes = est_prefixes,
    .check = est_config_check,
    .init = est_init,
    .handle = est_handle,
    .free = est_free,
};
