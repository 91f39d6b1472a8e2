/*
 * GET|HEAD /.well-known/acme-challenge/TOKEN  the key authorization
 * stored for TOKEN (RFC 8555 §8.3), 404 when there is none.
 *
 * No config section: the answers are written by the upstream ACME
 * backend, and the CA asks on port 80, which is "http_listen".
 */
#include <stdlib.h>
#include <string.h>

#include "core/chal_store.h"
#include "core/gateway.h"
#include "core/http.h"
#include "protocols/challenge/challenge.h"

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

static const char *const challenge_prefixes[] = {CHALLENGE_PREFIX, NULL};

static int
challenge_init(struct gateway *gw, const json_t *conf, void **priv, char *err,
    size_t errlen)
{
	*priv = NULL;
	return 0;
}

/*
 * The CA's validation request.  The token is checked before the store
 * is asked (chal_store_get); the body is the key authorization alone,
 * as RFC 8555 §8.3 shows it, under that section's media type.
 */
static void
challenge_handle(struct http_req *r, void *priv)
{
	const char *token = http_req_path(r) + strlen(CHALLENGE_PREFIX);
	char *keyauth = NULL;
	int found;

	if (strcmp(http_req_method(r), "GET") != 0 &&
	    strcmp(http_req_method(r), "HEAD") != 0) {
		http_reply_header(r, "Allow", "GET, HEAD");
		http_reply_text(r, 405, "only GET is allowed here");
		return;
	}
	found = chal_store_get(
	    worker_store_conn(http_req_worker(r)), token, &keyauth);
	if (found == -1) {
		http_reply_text(r, 500, "the challenge store failed");
		return;
	}
	if (found == 1) {
		http_reply_text(r, 404, "no such challenge");
		return;
	}
	http_reply_header(r, "Cache-Control", "no-store");
	http_reply(
	    r, 200, "application/octet-stream", keyauth, strlen(keyauth));
	free(keyauth);
}

const struct proto_handler challenge_handler = {
    .name = "challenge",
    .prefixes = challenge_prefixes,
    .check = NULL,
    .init = challenge_init,
    .handle = challenge_handle,
    .free = NULL,
    .plain_http = 1, /* the CA's validation comes over port 80 */
};
