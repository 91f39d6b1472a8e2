/*
 * GET /crl[/PROFILE]     DER CRL (application/pkix-crl)
 * GET /ca.pem[/PROFILE]  the issuing chain as PEM
 * GET /healthz           liveness
 */
#include <stdlib.h>
#include <string.h>

#include "core/cert.h"
#include "core/gateway.h"
#include "core/http.h"
#include "policy/policy.h"
#include "protocols/publish/publish.h"

#define DEFAULT_PROFILE "default"

static const char *const publish_prefixes[] = {
    "/crl", "/ca.pem", "/healthz", NULL};

static int
publish_init(struct gateway *gw, const json_t *conf, void **priv, char *err,
    size_t errlen)
{
	*priv = gw;
	return 0;
}

/* "/crl" -> default profile; "/crl/NAME" -> NAME; else NULL. */
static const struct profile *
publish_profile(struct gateway *gw, const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *name = DEFAULT_PROFILE;

	if (path[n] == '/' && path[n + 1] != '\0')
		name = path + n + 1;
	else if (path[n] != '\0')
		return NULL;
	return policy_profile(gateway_policy(gw), name);
}

static void
publish_crl(struct http_req *r, struct gateway *gw)
{
	const struct profile *prof;
	unsigned char *der;
	size_t len;

	if ((prof = publish_profile(gw, http_req_path(r), "/crl")) == NULL) {
		http_reply_text(r, 404, "no such profile");
		return;
	}
	der =
	    gateway_crl(gw, worker_store_conn(http_req_worker(r)), prof, &len);
	if (der == NULL) {
		http_reply_text(r, 500, "the CRL could not be built");
		return;
	}
	http_reply_header(r, "Cache-Control", "max-age=5");
	http_reply(r, 200, "application/pkix-crl", der, len);
	free(der);
}

static void
publish_chain(struct http_req *r, struct gateway *gw)
{
	const struct profile *prof;
	STACK_OF(X509) *chain;
	char *pem, *all = NULL, *grown;
	size_t len = 0, n;
	int i;

	if ((prof = publish_profile(gw, http_req_path(r), "/ca.pem")) == NULL ||
	    (chain = gateway_ca_chain(gw, prof)) == NULL) {
		http_reply_text(r, 404, "no such profile");
		return;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		if ((pem = cert_to_pem(sk_X509_value(chain, i))) == NULL)
			goto fail;
		n = strlen(pem);
		if ((grown = realloc(all, len + n + 1)) == NULL) {
			free(pem);
			goto fail;
		}
		all = grown;
		memcpy(all + len, pem, n + 1);
		len += n;
		free(pem);
	}
	http_reply(r, 200, "application/pem-certificate-chain", all, len);
	free(all);
	return;
fail:
	free(all);
	http_reply_text(r, 500, "out of memory");
}

static void
publish_handle(struct http_req *r, void *priv)
{
	struct gateway *gw = priv;
	const char *path = http_req_path(r);

	if (strcmp(http_req_method(r), "GET") != 0 &&
	    strcmp(http_req_method(r), "HEAD") != 0) {
		http_reply_header(r, "Allow", "GET, HEAD");
		http_reply_text(r, 405, "only GET is allowed here");
		return;
	}
	if (strncmp(path, "/crl", 4) == 0)
		publish_crl(r, gw);
	else if (strncmp(path, "/ca.pem", 7) == 0)
		publish_chain(r, gw);
	else if (strcmp(path, "/healthz") == 0)
		http_reply_text(r, 200, "ok");
	else
		http_reply_text(r, 404, "no such resource");
}

const struct proto_handler publish_handler = {
    .name = "publish",
    .prefixes = publish_prefixes,
    .check = NULL,
    .init = publish_init,
    .handle = publish_handle,
    .free = NULL,
    .plain_http = 1, /* CRL distribution points are plain HTTP */
};
