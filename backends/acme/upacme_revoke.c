/*
 * Revocation upstream (RFC 8555 §7.6): revokeCert signed with the
 * account's kid, once the engine has its account.  "alreadyRevoked"
 * counts as done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "backends/acme/upacme_int.h"
#include "core/encoding.h"
#include "core/log.h"

struct upacme_revoke {
	struct upacme *u;
	struct upacme_revoke *next, *prev; /* u->revokes */
	char *payload;
	double deadline;
	struct event *kick; /* the account is decided */
	struct upacme_req *req;
	upacme_revoke_fn *done;
	void *arg;
};

static void
revoke_unlink(struct upacme_revoke *v)
{
	if (v->prev != NULL)
		v->prev->next = v->next;
	else if (v->u->revokes == v)
		v->u->revokes = v->next;
	if (v->next != NULL)
		v->next->prev = v->prev;
	v->next = v->prev = NULL;
}

static void
revoke_free(struct upacme_revoke *v)
{
	upacme_req_cancel(v->req);
	if (v->kick != NULL)
		event_free(v->kick);
	free(v->payload);
	free(v);
}

/* End `v` with `rc` (0 / -1): log, callback, free. */
static void
revoke_finish(struct upacme_revoke *v, int rc, const char *detail)
{
	v->req = NULL;
	if (rc == 0)
		log_info(
		    "upacme: certificate revoked at %s", v->u->directory_url);
	else
		log_error("upacme: revocation at %s failed: %s",
		    v->u->directory_url, detail);
	revoke_unlink(v);
	v->done(v->arg, rc, detail);
	revoke_free(v);
}

static void
on_revoked(void *arg, struct upacme_resp *r)
{
	struct upacme_revoke *v = arg;
	const char *p = UPACME_ERR "alreadyRevoked";

	v->req = NULL;
	if (r->outcome == UPACME_OK ||
	    (r->problem_type != NULL && strcmp(r->problem_type, p) == 0))
		revoke_finish(v, 0, "revoked");
	else
		revoke_finish(v, -1, r->detail != NULL ? r->detail : "failed");
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct upacme_revoke *v = arg;
	struct upacme *u = v->u;
	struct upacme_req_spec spec;

	if (u->acct == UPACME_ACCT_BUSY || u->acct == UPACME_ACCT_NONE)
		return;
	if (u->acct == UPACME_ACCT_FAILED) {
		revoke_finish(v, -1, u->acct_detail);
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.method = UPACME_POST_KID;
	spec.url = upacme_dir_url(u, "revokeCert");
	spec.payload = v->payload;
	spec.deadline = v->deadline;
	if (spec.url == NULL)
		revoke_finish(
		    v, -1, "the upstream directory has no revokeCert");
	else if ((v->req = upacme_req_start(u, &spec, on_revoked, v)) == NULL)
		revoke_finish(v, -1, "cannot make the revocation request");
}

/* The revokeCert payload for `cert` and `reason`.  Malloc'd; NULL on
 * error. */
static char *
revoke_payload(X509 *cert, int reason)
{
	unsigned char *der = NULL;
	char *b64 = NULL, *ret = NULL;
	json_t *p = NULL;
	int len;

	if ((len = i2d_X509(cert, &der)) <= 0 ||
	    (b64 = encoding_b64url_encode(der, (size_t)len)) == NULL ||
	    (p = json_pack(
	         "{s:s, s:i}", "certificate", b64, "reason", reason)) == NULL)
		goto out;
	ret = json_dumps(p, JSON_COMPACT);
out:
	OPENSSL_free(der);
	free(b64);
	json_decref(p);
	return ret;
}

int
upacme_revoke(
    struct upacme *u, X509 *cert, int reason, upacme_revoke_fn *done, void *arg)
{
	struct upacme_revoke *v;
	struct timeval now = {0, 0};

	if (reason < 0 || reason > 10 || (v = calloc(1, sizeof(*v))) == NULL)
		return -1;
	v->u = u;
	v->done = done;
	v->arg = arg;
	v->deadline = upacme_now() + u->order_timeout;
	if ((v->payload = revoke_payload(cert, reason)) == NULL ||
	    (v->kick = evtimer_new(u->base, on_kick, v)) == NULL) {
		revoke_free(v);
		return -1;
	}
	if ((v->next = u->revokes) != NULL)
		v->next->prev = v;
	u->revokes = v;
	upacme_account_need(u);
	if (u->acct == UPACME_ACCT_READY || u->acct == UPACME_ACCT_FAILED)
		evtimer_add(v->kick, &now);
	return 0;
}

void
upacme_revoke_account_ready(struct upacme *u)
{
	struct upacme_revoke *v;
	struct timeval now = {0, 0};

	for (v = u->revokes; v != NULL; v = v->next)
		if (v->req == NULL)
			evtimer_add(v->kick, &now);
}

void
upacme_revoke_free_all(struct upacme *u)
{
	struct upacme_revoke *v;

	while ((v = u->revokes) != NULL) {
		revoke_unlink(v);
		revoke_free(v);
	}
}
