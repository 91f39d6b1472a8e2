/*
 * One upstream ACME request (RFC 8555 §6), however many transfers it
 * takes: a nonce from the engine's pool (or HEAD newNonce, §7.2), the
 * signed POST, one retry with the fresh nonce on badNonce (§6.5), and
 * backoff on 5xx, rateLimited and transport errors (honouring
 * Retry-After, §6.6) while the order's deadline allows, and one resend
 * with a new kid when the upstream no longer knows the account (the
 * engine registers again meanwhile, upacme.c).  Transfers run on
 * libcurl's multi interface on the engine's loop (core/curl_ev.h), TLS
 * verified against the configured bundle.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "backends/acme/upacme_int.h"
#include "core/curl_ev.h"
#include "core/jws_sign.h"
#include "core/log.h"

#define MAX_ATTEMPTS 5   /* transfers per request on 5xx / transport */
#define MAX_BACKOFF_S 30 /* without a Retry-After */
#define MAX_RETRY_AFTER_S 86400
#define USER_AGENT "enrolld-upacme/0.1"

struct upacme_req {
	struct upacme *u;
	struct upacme_req *next, *prev; /* u->reqs */
	CURL *easy;
	struct curl_slist *hdrs;
	struct event *wait; /* backoff, or an asynchronous finish */
	enum upacme_method method;
	char *url, *payload, *accept;
	double deadline;
	int nonce_fetch; /* the transfer running is HEAD newNonce */
	int nonce_retry; /* the badNonce retry is used */
	int acct_retry;  /* the resend after a lost account is used */
	int acct_wait;   /* a kid-signed request waiting for the account */
	char *kid;       /* what the last transfer was signed with */
	int attempts;
	int finishing; /* `wait` finishes instead of sending */
	int overflow;  /* the body passed UPACME_MAX_BODY */
	char *nonce, *link_raw, *retry_raw; /* headers of this transfer */
	struct upacme_resp resp;
	char errbuf[CURL_ERROR_SIZE];
	upacme_req_fn *cb;
	void *arg;
};

static void req_send(struct upacme_req *r);

double
upacme_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Free what `r` owns of a response and zero it. */
static void
resp_clear(struct upacme_resp *r)
{
	size_t i;

	free(r->location);
	free(r->content_type);
	for (i = 0; i < r->n_alt; i++)
		free(r->alt[i]);
	free(r->body);
	json_decref(r->json);
	free(r->problem_type);
	free(r->detail);
	free(r->kid);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

/* Headers of one transfer; a new status line (after a 100) starts over. */
static void
hdr_clear(struct upacme_req *r)
{
	free(r->nonce);
	free(r->link_raw);
	free(r->retry_raw);
	r->nonce = r->link_raw = r->retry_raw = NULL;
	resp_clear(&r->resp);
	r->overflow = 0;
}

/*
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, given
 * `now_wall` (time(NULL)).  Seconds to wait, capped; -1 when unparsable.
 */
long
upacme_retry_after_parse(const char *value, double now_wall)
{
	const char *p;
	time_t t;
	long s = 0;

	while (*value == ' ' || *value == '\t')
		value++;
	if (*value == '\0')
		return -1;
	for (p = value; isdigit((unsigned char)*p); p++)
		if ((s = s * 10 + (*p - '0')) > MAX_RETRY_AFTER_S)
			s = MAX_RETRY_AFTER_S;
	if (p != value && (*p == '\0' || *p == ' ' || *p == '\t'))
		return s;
	if ((t = curl_getdate(value, NULL)) == -1)
		return -1;
	if ((double)t <= now_wall)
		return 0;
	if ((double)t - now_wall > MAX_RETRY_AFTER_S)
		return MAX_RETRY_AFTER_S;
	return (long)((double)t - now_wall);
}

/* `ref` resolved against `base` (RFC 3986 §5).  Malloc'd; NULL on error. */
static char *
url_resolve(const char *base, const char *ref)
{
	CURLU *h;
	char *s = NULL, *ret = NULL;

	if ((h = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(h, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(h, CURLUPART_URL, &s, 0) == CURLUE_OK)
		ret = strdup(s);
	curl_free(s);
	curl_url_cleanup(h);
	return ret;
}

/* Keep `value` (len bytes, trimmed) of header `name` if it is one of ours. */
static void
hdr_keep(struct upacme_req *r, const char *name, const char *value, size_t len)
{
	char **slot = NULL;
	char *v, *old;

	if (strcasecmp(name, "Location") == 0)
		slot = &r->resp.location;
	else if (strcasecmp(name, "Content-Type") == 0)
		slot = &r->resp.content_type;
	else if (strcasecmp(name, "Replay-Nonce") == 0)
		slot = &r->nonce;
	else if (strcasecmp(name, "Retry-After") == 0)
		slot = &r->retry_raw;
	else if (strcasecmp(name, "Link") == 0)
		slot = &r->link_raw;
	if (slot == NULL || len > UPACME_MAX_HDR)
		return;
	/* Several Link headers: join them as one list (RFC 9110 §5.3). */
	if (slot == &r->link_raw && *slot != NULL) {
		old = *slot;
		if (strlen(old) + len + 2 > 4 * UPACME_MAX_HDR ||
		    (v = malloc(strlen(old) + len + 2)) == NULL)
			return;
		snprintf(
		    v, strlen(old) + len + 2, "%s,%.*s", old, (int)len, value);
		free(old);
		*slot = v;
		return;
	}
	if ((v = strndup(value, len)) == NULL)
		return;
	free(*slot);
	*slot = v;
}

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct upacme_req *r = arg;
	size_t len = size * n, nl, vl;
	char name[64];
	const char *colon, *v;

	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		hdr_clear(r);
		return len;
	}
	if ((colon = memchr(buf, ':', len)) == NULL ||
	    (nl = (size_t)(colon - buf)) >= sizeof(name))
		return len;
	memcpy(name, buf, nl);
	name[nl] = '\0';
	v = colon + 1;
	vl = len - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && isspace((unsigned char)v[vl - 1]))
		vl--;
	hdr_keep(r, name, v, vl);
	return len;
}

static size_t
on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct upacme_req *r = arg;
	size_t len = size * n;
	unsigned char *p;

	if (r->resp.len + len > UPACME_MAX_BODY) {
		r->overflow = 1;
		return 0; /* libcurl fails the transfer: CURLE_WRITE_ERROR */
	}
	if ((p = realloc(r->resp.body, r->resp.len + len + 1)) == NULL)
		return 0;
	memcpy(p + r->resp.len, buf, len);
	r->resp.len += len;
	p[r->resp.len] = '\0';
	r->resp.body = p;
	return len;
}

/*
 * The rel="alternate" targets of a Link field value (RFC 8288 §3), each
 * resolved against the request URL, into r->resp.alt.
 */
static void
links_parse(struct upacme_req *r, const char *s)
{
	const char *lt, *gt, *end, *rel;
	char *target, *abs;

	while (
	    (lt = strchr(s, '<')) != NULL && (gt = strchr(lt, '>')) != NULL) {
		end = strchr(gt, ',');
		if (end == NULL)
			end = gt + strlen(gt);
		rel = strstr(gt, "rel=");
		if (rel != NULL && rel < end &&
		    (strncmp(rel + 4, "\"alternate\"", 11) == 0 ||
		        strncmp(rel + 4, "alternate", 9) == 0) &&
		    r->resp.n_alt < UPACME_MAX_ALT &&
		    (target = strndup(lt + 1, (size_t)(gt - lt - 1))) != NULL) {
			if ((abs = url_resolve(r->url, target)) != NULL)
				r->resp.alt[r->resp.n_alt++] = abs;
			free(target);
		}
		s = *end == ',' ? end + 1 : end;
	}
}

/* The media type of r->resp, without parameters, equals `want`. */
static int
media_is(const struct upacme_resp *resp, const char *want)
{
	const char *ct = resp->content_type;
	size_t n;

	if (ct == NULL)
		return 0;
	n = strcspn(ct, "; \t");
	return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

/* Push `nonce` (taken) on the engine's pool, dropping the oldest. */
static void
nonce_push(struct upacme *u, char *nonce)
{
	if (u->n_nonces == UPACME_MAX_NONCES) {
		free(u->nonces[0]);
		memmove(u->nonces, u->nonces + 1,
		    (UPACME_MAX_NONCES - 1) * sizeof(u->nonces[0]));
		u->n_nonces--;
	}
	u->nonces[u->n_nonces++] = nonce;
}

/* Unlink and free `r` (its easy handle out of the multi).  NULL-safe. */
static void
req_free(struct upacme_req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL) {
		curl_multi_remove_handle(curl_ev_multi(r->u->cev), r->easy);
		curl_easy_cleanup(r->easy);
	}
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (r->u->reqs == r)
		r->u->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	curl_slist_free_all(r->hdrs);
	if (r->wait != NULL)
		event_free(r->wait);
	free(r->url);
	free(r->payload);
	free(r->accept);
	free(r->nonce);
	free(r->link_raw);
	free(r->retry_raw);
	free(r->kid);
	resp_clear(&r->resp);
	free(r);
}

void
upacme_req_cancel(struct upacme_req *r)
{
	req_free(r);
}

/* End `r`: free it, then hand its response to the callback. */
static void
req_finish(struct upacme_req *r)
{
	struct upacme_resp resp = r->resp;
	upacme_req_fn *cb = r->cb;
	void *arg = r->arg;

	memset(&r->resp, 0, sizeof(r->resp));
	resp.kid = r->kid;
	r->kid = NULL;
	req_free(r);
	cb(arg, &resp);
	resp_clear(&resp);
}

/* Fail `r` with `outcome` and a detail, from the loop (never inside the
 * caller's stack). */
static void
req_fail(struct upacme_req *r, enum upacme_outcome outcome, const char *detail)
{
	struct timeval now = {0, 0};
	char *d;

	/* `detail` may be r->resp.detail itself. */
	if ((d = strdup(detail)) != NULL) {
		free(r->resp.detail);
		r->resp.detail = d;
	}
	r->resp.outcome = outcome;
	r->finishing = 1;
	evtimer_add(r->wait, &now);
}

/*
 * A kid-signed request while the account is being registered (again):
 * wait for upacme_req_account_ready; when registering failed, end with
 * the account's failure.
 */
static void
req_account_wait(struct upacme_req *r)
{
	struct upacme *u = r->u;
	char *pt;

	if (u->acct != UPACME_ACCT_FAILED) {
		r->acct_wait = 1;
		return;
	}
	pt = u->acct_problem != NULL ? strdup(u->acct_problem) : NULL;
	free(r->resp.problem_type);
	r->resp.problem_type = pt;
	req_fail(r, u->acct_outcome,
	    u->acct_detail != NULL ? u->acct_detail
	                           : "the upstream account is not available");
}

void
upacme_req_account_ready(struct upacme *u)
{
	struct upacme_req *r;
	struct timeval now = {0, 0};

	for (r = u->reqs; r != NULL; r = r->next)
		if (r->acct_wait) {
			r->acct_wait = 0;
			evtimer_add(r->wait, &now); /* req_send decides */
		}
}

static void
on_wait(evutil_socket_t fd, short what, void *arg)
{
	struct upacme_req *r = arg;

	if (r->finishing)
		req_finish(r);
	else
		req_send(r);
}

/* Append a request header line to r->hdrs.  0 / -1. */
static int
hdr_add(struct upacme_req *r, const char *line)
{
	struct curl_slist *l;

	if ((l = curl_slist_append(r->hdrs, line)) == NULL)
		return -1;
	r->hdrs = l;
	return 0;
}

/* Set up one transfer of `r`: `method` to `url` with `body` or NULL. 0 / -1. */
static int
transfer(
    struct upacme_req *r, const char *method, const char *url, const char *body)
{
	struct upacme *u = r->u;
	double left = r->deadline - upacme_now();
	long ms = (long)u->request_timeout * 1000;

	if (left * 1000 < (double)ms)
		ms = left > 0.001 ? (long)(left * 1000) : 1;
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	if ((r->easy = curl_easy_init()) == NULL)
		return -1;
	r->errbuf[0] = '\0';
	if (body != NULL &&
	    hdr_add(r, "Content-Type: application/jose+json") == -1)
		return -1;
	if (r->accept != NULL && hdr_add(r, r->accept) == -1)
		return -1;
	if (curl_easy_setopt(r->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "https") !=
	        CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, ms) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_USERAGENT, USER_AGENT) !=
	        CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf) !=
	        CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    (u->ca_bundle != NULL &&
	        curl_easy_setopt(r->easy, CURLOPT_CAINFO, u->ca_bundle) !=
	            CURLE_OK) ||
	    curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header) !=
	        CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r) != CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body) !=
	        CURLE_OK ||
	    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r) != CURLE_OK ||
	    (r->hdrs != NULL &&
	        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs) !=
	            CURLE_OK))
		return -1;
	if (strcmp(method, "HEAD") == 0 &&
	    curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L) != CURLE_OK)
		return -1;
	if (body != NULL &&
	    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, body) != CURLE_OK)
		return -1;
	if (curl_multi_add_handle(curl_ev_multi(u->cev), r->easy) != CURLM_OK)
		return -1;
	return 0;
}

/* Start the next transfer of `r`: a nonce first when a signed request
 * has none, else the request itself. */
static void
req_send(struct upacme_req *r)
{
	struct upacme *u = r->u;
	const char *nurl;
	char *nonce = NULL, *jws = NULL;
	int rc;

	if (upacme_now() >= r->deadline) {
		req_fail(r, UPACME_UNAVAILABLE,
		    "the upstream CA did not answer before the order's "
		    "deadline");
		return;
	}
	hdr_clear(r);
	if (r->method == UPACME_POST_KID && u->acct != UPACME_ACCT_READY) {
		req_account_wait(r);
		return;
	}
	if (r->method == UPACME_GET) {
		rc = transfer(r, "GET", r->url, NULL);
	} else if (u->n_nonces == 0) {
		if ((nurl = upacme_dir_url(u, "newNonce")) == NULL) {
			req_fail(r, UPACME_UNAVAILABLE,
			    "the upstream directory has no newNonce");
			return;
		}
		r->nonce_fetch = 1;
		rc = transfer(r, "HEAD", nurl, NULL);
	} else {
		nonce = u->nonces[--u->n_nonces];
		free(r->kid);
		r->kid = NULL;
		if (r->method == UPACME_POST_KID &&
		    (r->kid = strdup(u->kid)) == NULL)
			rc = -1;
		else if ((jws = jws_sign_flat(u->key, r->url, nonce, r->kid,
		              r->payload)) == NULL)
			rc = -1;
		else
			rc = transfer(r, "POST", r->url, jws);
	}
	free(nonce);
	free(jws);
	if (rc == -1) {
		log_error("upacme: cannot set up a request to %s", r->url);
		req_fail(r, UPACME_UNAVAILABLE, "cannot set up the request");
	}
}

/* Try `r` again after a pause when the deadline allows, else fail it. */
static void
req_retry(struct upacme_req *r, const char *why)
{
	struct timeval tv;
	char clean[256];
	long delay;

	delay = r->resp.retry_after >= 0
	    ? r->resp.retry_after
	    : (1L << (r->attempts < 5 ? r->attempts : 5));
	if (delay > MAX_BACKOFF_S && r->resp.retry_after < 0)
		delay = MAX_BACKOFF_S;
	if (++r->attempts >= MAX_ATTEMPTS ||
	    upacme_now() + (double)delay >= r->deadline) {
		req_fail(r, UPACME_UNAVAILABLE, why);
		return;
	}
	log_info("upacme: %s; retrying %s in %ld s", why,
	    log_sanitize(r->url, strlen(r->url), clean, sizeof(clean)), delay);
	tv.tv_sec = delay;
	tv.tv_usec = 0;
	evtimer_add(r->wait, &tv);
}

/* The problem document of a failed answer (RFC 8555 §6.7) into r->resp. */
static void
problem_read(struct upacme_req *r)
{
	struct upacme_resp *p = &r->resp;
	const char *type, *detail;
	char clean[256], buf[400];

	type = json_string_value(json_object_get(p->json, "type"));
	detail = json_string_value(json_object_get(p->json, "detail"));
	p->problem_type = upacme_problem_type_dup(type);
	if (detail != NULL) {
		log_sanitize(detail, strlen(detail), clean, sizeof(clean));
		snprintf(buf, sizeof(buf), "upstream CA: %s", clean);
	} else
		snprintf(buf, sizeof(buf), "upstream CA answered HTTP %ld",
		    p->status);
	p->detail = strdup(buf);
}

/*
 * A problem type from upstream (RFC 7807 §3.1), kept only when it looks
 * like a URI: 1 to 256 printable ASCII octets without space, quote or
 * backslash.  It reaches log lines and the device's own problem
 * document.  Malloc'd; NULL when absent, unfit or out of memory.
 */
char *
upacme_problem_type_dup(const char *type)
{
	size_t i, n;

	if (type == NULL || (n = strlen(type)) == 0 || n > 256)
		return NULL;
	for (i = 0; i < n; i++)
		if ((unsigned char)type[i] <= 0x20 ||
		    (unsigned char)type[i] >= 0x7f || type[i] == '"' ||
		    type[i] == '\\')
			return NULL;
	return strdup(type);
}

int
upacme_problem_is(const struct upacme_resp *p, const char *name)
{
	size_t n = strlen(UPACME_ERR);

	return p->problem_type != NULL &&
	    strncmp(p->problem_type, UPACME_ERR, n) == 0 &&
	    strcmp(p->problem_type + n, name) == 0;
}

/* Judge a complete answer to `r`: finish, retry or fetch more. */
static void
req_judge(struct upacme_req *r)
{
	struct upacme_resp *p = &r->resp;
	char *abs;

	if (r->nonce_fetch) {
		r->nonce_fetch = 0;
		if (r->u->n_nonces > 0)
			req_send(r);
		else
			req_retry(r, "upstream CA gave no nonce");
		return;
	}
	if (p->location != NULL &&
	    (abs = url_resolve(r->url, p->location)) != NULL) {
		free(p->location);
		p->location = abs;
	}
	if (r->link_raw != NULL)
		links_parse(r, r->link_raw);
	if (media_is(p, "application/json") ||
	    media_is(p, "application/problem+json"))
		p->json = json_loadb((const char *)p->body, p->len, 0, NULL);
	if (p->status >= 200 && p->status < 300) {
		p->outcome = UPACME_OK;
		req_finish(r);
		return;
	}
	problem_read(r);
	if (upacme_problem_is(p, "badNonce") && !r->nonce_retry) {
		r->nonce_retry = 1; /* the fresh nonce came with the error */
		req_send(r);
	} else if (r->method == UPACME_POST_KID && !r->acct_retry &&
	    upacme_account_gone(p)) {
		/* Once: an account registered anew and refused again is not
		 * something a third try mends. */
		r->acct_retry = 1;
		upacme_account_lost(r->u, r->kid);
		req_send(r);
	} else if (p->status >= 500 || upacme_problem_is(p, "rateLimited") ||
	    upacme_problem_is(p, "badNonce"))
		req_retry(r, p->detail);
	else {
		p->outcome = UPACME_REJECTED;
		req_finish(r);
	}
}

/* A transfer ended (curl_ev_done_fn of the engine). */
void
upacme_req_done_curl(CURL *easy, CURLcode result, void *arg)
{
	struct upacme_req *r;
	char buf[CURL_ERROR_SIZE + 64], clean[CURL_ERROR_SIZE], *priv = NULL;
	long status = 0;

	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
	    priv == NULL)
		return;
	r = (struct upacme_req *)priv;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	r->easy = NULL;
	r->resp.status = status;
	if (r->nonce != NULL) {
		nonce_push(r->u, r->nonce);
		r->nonce = NULL;
	}
	if (r->retry_raw != NULL)
		r->resp.retry_after =
		    upacme_retry_after_parse(r->retry_raw, (double)time(NULL));
	if (result != CURLE_OK) {
		/* libcurl's message may quote what the peer sent. */
		if (r->errbuf[0] != '\0')
			log_sanitize(
			    r->errbuf, strlen(r->errbuf), clean, sizeof(clean));
		if (r->overflow)
			snprintf(buf, sizeof(buf),
			    "the upstream CA's answer is larger than 1 MiB");
		else
			snprintf(buf, sizeof(buf),
			    "cannot reach the upstream CA: %s",
			    r->errbuf[0] != '\0' ? clean
			                         : curl_easy_strerror(result));
		/* Nobody listens, no such host, a certificate we refuse: the
		 * device hears at once that the CA is away and retries
		 * later, instead of waiting through the backoff. */
		if (result == CURLE_PEER_FAILED_VERIFICATION || r->overflow ||
		    (r->attempts >= 1 &&
		        (result == CURLE_COULDNT_CONNECT ||
		            result == CURLE_COULDNT_RESOLVE_HOST)))
			req_fail(r, UPACME_UNAVAILABLE, buf);
		else
			req_retry(r, buf);
		return;
	}
	req_judge(r);
}

/*
 * Start a request; the callback runs once from the loop, never before
 * this returns.  NULL on allocation failure (no callback).
 */
struct upacme_req *
upacme_req_start(struct upacme *u, const struct upacme_req_spec *spec,
    upacme_req_fn *cb, void *arg)
{
	struct upacme_req *r;
	char accept[128];
	struct timeval now = {0, 0};

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->u = u;
	r->method = spec->method;
	r->deadline = spec->deadline;
	r->cb = cb;
	r->arg = arg;
	r->resp.retry_after = -1;
	if ((r->next = u->reqs) != NULL)
		r->next->prev = r;
	u->reqs = r;
	if (spec->accept != NULL)
		snprintf(accept, sizeof(accept), "Accept: %s", spec->accept);
	if ((r->url = strdup(spec->url)) == NULL ||
	    (spec->payload != NULL &&
	        (r->payload = strdup(spec->payload)) == NULL) ||
	    (spec->accept != NULL && (r->accept = strdup(accept)) == NULL) ||
	    (r->wait = evtimer_new(u->base, on_wait, r)) == NULL ||
	    evtimer_add(r->wait, &now) == -1) {
		req_free(r);
		return NULL;
	}
	return r;
}
