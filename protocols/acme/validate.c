/*
 * ACME challenge validation state machine.  One validation walks:
 *   addresses (DNS or the IP identifier) -> probe (http-01, tls-alpn-01)
 *   or TXT lookup (dns-01) -> reply,
 * while, beside it as in Boulder, the CAA lookup of a dns identifier
 * runs; both must pass.  Each stage owns at most one handle; finishing
 * cancels them all and posts the reply through a per-validation event so
 * that the caller's callback never runs inside acme_validate and can be
 * cancelled.  A held validation only resolves names until released: no
 * connection is made and no reply is posted before that.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "core/encoding.h"
#include "core/log.h"
#include "protocols/acme/dns.h"
#include "protocols/acme/validate_int.h"

#define TXT_SHOW_MAX 64 /* characters of a wrong TXT value in a detail */

struct acme_validator {
	struct event_base *base;
	struct acme_validate_cfg cfg; /* strings below are owned copies */
	char *resolver, *trust_anchor;
	char **caa_identities;
	struct acme_dns *dns;
	SSL_CTX *ssl_ctx;
	struct acme_validation *vals;
};

struct acme_validation {
	struct acme_validator *v;
	struct acme_validation *prev, *next;
	struct acme_challenge_req req; /* strings point into owned copies */
	char *ident, *token, *keyauth, *account_uri;
	acme_validate_done_fn *done;
	void *arg;
	struct event *timer;  /* whole validation */
	struct event *finish; /* posts the reply */
	const char *stage;    /* for the timeout sentence */
	const char *stage_problem;
	struct acme_dns_lookup *lookup;
	struct acme_dns_query *query;
	struct acme_http01 *http;
	struct acme_tlsalpn *tls;
	struct acme_caa_lookup *caa;
	struct sockaddr_storage addrs[2];
	size_t naddrs, next_addr;
	int challenge_passed, caa_passed;
	int held;           /* until acme_validation_release */
	int probe_deferred; /* ... then connect */
	int reply_deferred; /* ... then post the reply */
	int ok;
	const char *problem;
	char detail[ACME_DETAIL_MAX];
};

static void val_probe_next(struct acme_validation *);
static void val_after_challenge(struct acme_validation *);

static const char *
val_method(enum acme_chall_type t)
{
	switch (t) {
	case ACME_HTTP_01:
		return "http-01";
	case ACME_DNS_01:
		return "dns-01";
	default:
		return "tls-alpn-01";
	}
}

/* Stop whatever is in flight; the validation itself stays. */
static void
val_stop(struct acme_validation *val)
{
	acme_dns_lookup_cancel(val->lookup);
	val->lookup = NULL;
	acme_dns_cancel(val->query);
	val->query = NULL;
	acme_http01_free(val->http);
	val->http = NULL;
	acme_tlsalpn_free(val->tls);
	val->tls = NULL;
	acme_caa_lookup_cancel(val->caa);
	val->caa = NULL;
	if (val->timer != NULL)
		evtimer_del(val->timer);
}

static void
val_free(struct acme_validation *val)
{
	if (val == NULL)
		return;
	val_stop(val);
	if (val->v != NULL) {
		if (val->prev != NULL)
			val->prev->next = val->next;
		else
			val->v->vals = val->next;
		if (val->next != NULL)
			val->next->prev = val->prev;
	}
	if (val->timer != NULL)
		event_free(val->timer);
	if (val->finish != NULL)
		event_free(val->finish);
	free(val->ident);
	free(val->token);
	free(val->keyauth);
	free(val->account_uri);
	free(val);
}

/* The reply event: free first, so the callback may free the validator. */
static void
val_reply(evutil_socket_t fd, short what, void *arg)
{
	struct acme_validation *val = arg;
	acme_validate_done_fn *done = val->done;
	void *darg = val->arg;
	char detail[ACME_DETAIL_MAX];
	const char *problem = val->problem;
	int ok = val->ok;

	memcpy(detail, val->detail, sizeof(detail));
	val_free(val);
	done(darg, ok, problem, detail);
}

/* Record the outcome and post the reply; nothing else runs afterwards. */
static void val_end(struct acme_validation *val, int ok, const char *problem,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
val_end(struct acme_validation *val, int ok, const char *problem,
    const char *fmt, ...)
{
	char clean[ACME_DETAIL_MAX];
	va_list ap;

	val_stop(val);
	val->ok = ok;
	val->problem = ok ? NULL : problem;
	va_start(ap, fmt);
	vsnprintf(val->detail, sizeof(val->detail), fmt, ap);
	va_end(ap);
	val->stage = NULL;
	if (val->held)
		val->reply_deferred = 1;
	else
		event_active(val->finish, EV_TIMEOUT, 0);
	if (!ok)
		log_info("msg=\"acme validation failed\" ident=\"%s\" "
		         "method=%s problem=%s detail=\"%s\"",
		    val->ident, val_method(val->req.type), problem,
		    log_sanitize(val->detail, strlen(val->detail), clean,
		        sizeof(clean)));
}

static void
val_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct acme_validation *val = arg;

	val_end(val, 0, val->stage_problem, "Timed out after %d ms %s",
	    val->v->cfg.timeout_ms, val->stage);
}

/* --- address policy ---------------------------------------------------- */

struct addr_range {
	unsigned char prefix[16];
	unsigned bits;
	const char *what;
};

static const struct addr_range reserved_v4[] = {
    {{0}, 8, "this network (0.0.0.0/8)"},
    {{10}, 8, "private (RFC 1918)"},
    {{100, 64}, 10, "shared address space (RFC 6598)"},
    {{127}, 8, "loopback"},
    {{169, 254}, 16, "link-local"},
    {{172, 16}, 12, "private (RFC 1918)"},
    {{192, 0, 0}, 24, "IETF protocol assignments"},
    {{192, 0, 2}, 24, "documentation (TEST-NET-1)"},
    {{192, 168}, 16, "private (RFC 1918)"},
    {{198, 18}, 15, "benchmarking"},
    {{198, 51, 100}, 24, "documentation (TEST-NET-2)"},
    {{203, 0, 113}, 24, "documentation (TEST-NET-3)"},
    {{224}, 4, "multicast"},
    {{240}, 4, "reserved or broadcast"},
};

static const struct addr_range reserved_v6[] = {
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96, "IPv4-mapped"},
    {{0x01}, 64, "discard-only"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0xfc}, 7, "unique local"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xff}, 8, "multicast"},
};

static int
addr_in_range(const unsigned char *a, const struct addr_range *r)
{
	unsigned full = r->bits / 8, rest = r->bits % 8;
	unsigned char mask;

	if (memcmp(a, r->prefix, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (r->prefix[full] & mask);
}

void
acme_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *a = sa->sa_family == AF_INET6
	    ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
	    : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (inet_ntop(sa->sa_family, a, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
}

int
acme_addr_allowed(
    const struct sockaddr *sa, int allow_private, char *why, size_t whylen)
{
	const struct addr_range *t;
	const unsigned char *a;
	char s[ACME_ADDR_STR_MAX];
	size_t i, n;

	if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		t = reserved_v6;
		n = sizeof(reserved_v6) / sizeof(reserved_v6[0]);
	} else if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)
		        ->sin_addr.s_addr;
		t = reserved_v4;
		n = sizeof(reserved_v4) / sizeof(reserved_v4[0]);
	} else {
		snprintf(why, whylen, "not an IP address");
		return 0;
	}
	if (allow_private)
		return 1;
	for (i = 0; i < n; i++) {
		if (addr_in_range(a, &t[i])) {
			acme_addr_str(sa, s, sizeof(s));
			snprintf(why, whylen, "%s is a reserved address (%s)",
			    s, t[i].what);
			return 0;
		}
	}
	return 1;
}

/* --- http-01 and tls-alpn-01 ------------------------------------------- */

static void
val_probe_done(void *arg, int ok, const char *problem, const char *detail)
{
	struct acme_validation *val = arg;

	acme_http01_free(val->http);
	val->http = NULL;
	acme_tlsalpn_free(val->tls);
	val->tls = NULL;
	if (ok) {
		val_after_challenge(val);
		return;
	}
	snprintf(val->detail, sizeof(val->detail), "%s", detail);
	val->problem = problem;
	/* Boulder-like fallback: a dead address gets one try in the other
	 * family; a live server's wrong answer is final. */
	if (strcmp(problem, "connection") == 0 &&
	    val->next_addr < val->naddrs) {
		val_probe_next(val);
		return;
	}
	val_end(val, 0, problem, "%s", detail);
}

/* Start the probe on the next candidate address. */
static void
val_probe_next(struct acme_validation *val)
{
	struct acme_validator *v = val->v;
	struct sockaddr_storage *ss;
	struct acme_probe p;
	char s[ACME_ADDR_STR_MAX], last[ACME_DETAIL_MAX];
	int port;

	if (val->held) {
		val->probe_deferred = 1;
		return;
	}
	port = val->req.type == ACME_HTTP_01 ? v->cfg.http01_port
	                                     : v->cfg.tlsalpn01_port;
	while (val->next_addr < val->naddrs) {
		ss = &val->addrs[val->next_addr++];
		if (ss->ss_family == AF_INET6)
			((struct sockaddr_in6 *)ss)->sin6_port =
			    htons((unsigned short)port);
		else
			((struct sockaddr_in *)ss)->sin_port =
			    htons((unsigned short)port);
		p = (struct acme_probe){v->base, v->dns, v->ssl_ctx, &v->cfg,
		    &val->req, (struct sockaddr *)ss,
		    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                              : sizeof(struct sockaddr_in),
		    val_probe_done, val};
		val->stage = "connecting to the server";
		val->stage_problem = "connection";
		if (val->req.type == ACME_HTTP_01)
			val->http = acme_http01_start(&p);
		else
			val->tls = acme_tlsalpn_start(&p);
		if (val->http != NULL || val->tls != NULL)
			return;
		acme_addr_str((struct sockaddr *)ss, s, sizeof(s));
		val->problem = "connection";
		snprintf(val->detail, sizeof(val->detail),
		    "%s: could not connect to port %d", s, port);
	}
	/* val_end rewrites val->detail: never pass it as an argument. */
	memcpy(last, val->detail, sizeof(last));
	val_end(val, 0, val->problem != NULL ? val->problem : "connection",
	    "%s", last[0] != '\0' ? last : "No address to try");
}

/*
 * Addresses are in (IPv6 first).  Every one must pass the policy; the
 * first of each family becomes a candidate.
 */
static void
val_addrs(
    void *arg, const struct sockaddr_storage *addrs, size_t n, const char *why)
{
	struct acme_validation *val = arg;
	char reason[ACME_DETAIL_MAX / 2];
	int have6 = 0, have4 = 0;
	size_t i;

	val->lookup = NULL;
	if (n == 0) {
		val_end(val, 0, "dns", "%s", why);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!acme_addr_allowed((const struct sockaddr *)&addrs[i],
		        val->v->cfg.allow_private, reason, sizeof(reason))) {
			val_end(val, 0, "connection",
			    "%s: %s; refusing to connect", val->ident, reason);
			return;
		}
		if (addrs[i].ss_family == AF_INET6 && !have6++)
			val->addrs[val->naddrs++] = addrs[i];
		else if (addrs[i].ss_family == AF_INET && !have4++)
			val->addrs[val->naddrs++] = addrs[i];
	}
	val_probe_next(val);
}

/* An IP identifier (RFC 8738) is its own single candidate address. */
static void
val_start_ip(struct acme_validation *val)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&val->addrs[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&val->addrs[0];
	char reason[ACME_DETAIL_MAX / 2];

	if (inet_pton(AF_INET, val->ident, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, val->ident, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else {
		val_end(val, 0, "malformed", "\"%s\" is not an IP address",
		    val->ident);
		return;
	}
	if (!acme_addr_allowed((struct sockaddr *)&val->addrs[0],
	        val->v->cfg.allow_private, reason, sizeof(reason))) {
		val_end(
		    val, 0, "connection", "%s; refusing to connect", reason);
		return;
	}
	val->naddrs = 1;
	val_probe_next(val);
}

/* --- dns-01 -------------------------------------------------------------- */

/* Concatenate the character-strings of one TXT RDATA into out. */
static int
val_txt_join(const unsigned char *rd, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0, l;

	while (i < len) {
		l = rd[i++];
		if (l > len - i || o + l >= outlen)
			return -1;
		memcpy(out + o, rd + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	return 0;
}

/* RFC 8555 §8.4: base64url(SHA-256(key authorization)). */
static char *
val_keyauth_digest(const char *keyauth)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(keyauth, strlen(keyauth), md, &mdlen, EVP_sha256(),
	        NULL) != 1) {
		log_openssl(LOG_LVL_ERROR, "acme validate: SHA-256");
		return NULL;
	}
	return encoding_b64url_encode(md, mdlen);
}

static void
val_txt(void *arg, const struct acme_dns_result *res)
{
	struct acme_validation *val = arg;
	char txt[512], show[TXT_SHOW_MAX + 1], *want;
	size_t i;
	int shown = 0;

	val->query = NULL;
	if (res->status == ACME_DNS_ERROR || res->status == ACME_DNS_BOGUS) {
		val_end(val, 0, "dns",
		    "DNS problem: %s looking up TXT for _acme-challenge.%s",
		    res->why, val->ident);
		return;
	}
	if (res->n == 0) {
		val_end(val, 0, "unauthorized",
		    "No TXT record found at _acme-challenge.%s", val->ident);
		return;
	}
	if ((want = val_keyauth_digest(val->keyauth)) == NULL) {
		val_end(val, 0, "serverInternal", "Internal error");
		return;
	}
	show[0] = '\0';
	for (i = 0; i < res->n; i++) {
		if (val_txt_join(
		        res->rdata[i], res->len[i], txt, sizeof(txt)) == -1)
			continue;
		if (strlen(txt) == strlen(want) &&
		    CRYPTO_memcmp(txt, want, strlen(want)) == 0) {
			free(want);
			val_after_challenge(val);
			return;
		}
		if (!shown++)
			log_sanitize(txt, strlen(txt), show, sizeof(show));
	}
	free(want);
	val_end(val, 0, "unauthorized",
	    "Incorrect TXT record \"%s\"%s found at _acme-challenge.%s", show,
	    res->n > 1 ? " (and others)" : "", val->ident);
}

/* --- CAA, beside the challenge ------------------------------------------ */

static void
val_caa_done(void *arg, int ok, const char *problem, const char *detail)
{
	struct acme_validation *val = arg;

	val->caa = NULL;
	if (!ok) {
		val_end(val, 0, problem, "%s", detail);
		return;
	}
	val->caa_passed = 1;
	if (val->challenge_passed)
		val_end(val, 1, NULL, "valid");
}

/* Start the CAA lookup of a dns identifier; 0 or -1. */
static int
val_caa_start(struct acme_validation *val)
{
	struct acme_caa_want w = {(const char *const *)val->v->caa_identities,
	    val->account_uri, val_method(val->req.type), val->req.wildcard};

	if (val->req.ident_is_ip || !val->v->cfg.caa) {
		val->caa_passed = 1;
		return 0;
	}
	val->caa = acme_caa_lookup_start(
	    val->v->dns, val->ident, &w, val_caa_done, val);
	return val->caa != NULL ? 0 : -1;
}

static void
val_after_challenge(struct acme_validation *val)
{
	val->challenge_passed = 1;
	if (val->caa_passed) {
		val_end(val, 1, NULL, "valid");
		return;
	}
	val->stage = "looking up CAA records";
	val->stage_problem = "dns";
}

/* --- start, cancel, validator ------------------------------------------- */

/* Kick off the first stage; failures end through val_end as usual. */
static void
val_begin(struct acme_validation *val)
{
	struct acme_validator *v = val->v;
	char name[300];

	if (val_caa_start(val) == -1) {
		val_end(
		    val, 0, "dns", "Could not look up CAA for %s", val->ident);
		return;
	}
	if (val->req.type == ACME_DNS_01) {
		if (val->req.ident_is_ip) {
			val_end(val, 0, "malformed",
			    "dns-01 cannot validate an IP identifier "
			    "(RFC 8738 §7)");
			return;
		}
		snprintf(name, sizeof(name), "_acme-challenge.%s", val->ident);
		val->stage = "looking up TXT records";
		val->stage_problem = "dns";
		if ((val->query = acme_dns_query(
		         v->dns, name, ACME_DNS_TXT, val_txt, val)) == NULL)
			val_end(val, 0, "dns", "Could not look up TXT for %s",
			    name);
		return;
	}
	if (val->req.ident_is_ip) {
		val_start_ip(val);
		return;
	}
	val->stage = "looking up addresses";
	val->stage_problem = "dns";
	if ((val->lookup = acme_dns_lookup_addrs(
	         v->dns, val->ident, val_addrs, val)) == NULL)
		val_end(val, 0, "dns", "Could not look up addresses for %s",
		    val->ident);
}

/* Copy the request so it outlives the caller's strings. */
static int
val_copy_req(struct acme_validation *val, const struct acme_challenge_req *r)
{
	if (r->ident == NULL || r->token == NULL ||
	    r->key_authorization == NULL || r->ident[0] == '\0' ||
	    strlen(r->ident) > 253)
		return -1;
	if ((val->ident = strdup(r->ident)) == NULL ||
	    (val->token = strdup(r->token)) == NULL ||
	    (val->keyauth = strdup(r->key_authorization)) == NULL ||
	    (r->account_uri != NULL &&
	        (val->account_uri = strdup(r->account_uri)) == NULL))
		return -1;
	val->req = *r;
	val->req.ident = val->ident;
	val->req.token = val->token;
	val->req.key_authorization = val->keyauth;
	val->req.account_uri = val->account_uri;
	return 0;
}

static struct acme_validation *
val_start(struct acme_validator *v, const struct acme_challenge_req *req,
    acme_validate_done_fn *done, void *arg, int held)
{
	struct acme_validation *val;
	struct timeval tv;

	if ((val = calloc(1, sizeof(*val))) == NULL)
		return NULL;
	val->done = done;
	val->arg = arg;
	val->held = held;
	if (val_copy_req(val, req) == -1 ||
	    (val->timer = evtimer_new(v->base, val_timeout, val)) == NULL ||
	    (val->finish = evtimer_new(v->base, val_reply, val)) == NULL) {
		log_error("msg=\"acme validate: cannot start\"");
		val_free(val);
		return NULL;
	}
	tv.tv_sec = v->cfg.timeout_ms / 1000;
	tv.tv_usec = (v->cfg.timeout_ms % 1000) * 1000;
	if (evtimer_add(val->timer, &tv) == -1) {
		val_free(val);
		return NULL;
	}
	val->v = v;
	val->next = v->vals;
	if (val->next != NULL)
		val->next->prev = val;
	v->vals = val;
	val_begin(val);
	return val;
}

struct acme_validation *
acme_validate(struct acme_validator *v, const struct acme_challenge_req *req,
    acme_validate_done_fn *done, void *arg)
{
	return val_start(v, req, done, arg, 0);
}

struct acme_validation *
acme_validate_held(struct acme_validator *v,
    const struct acme_challenge_req *req, acme_validate_done_fn *done,
    void *arg)
{
	return val_start(v, req, done, arg, 1);
}

void
acme_validation_release(struct acme_validation *val)
{
	if (!val->held)
		return;
	val->held = 0;
	if (val->reply_deferred)
		event_active(val->finish, EV_TIMEOUT, 0);
	else if (val->probe_deferred) {
		val->probe_deferred = 0;
		val_probe_next(val);
	}
}

void
acme_validation_cancel(struct acme_validation *val)
{
	val_free(val);
}

/* Deep copy of the configuration; 0 or -1. */
static int
validator_copy_cfg(struct acme_validator *v, const struct acme_validate_cfg *c)
{
	size_t i, n = 0;

	v->cfg = *c;
	if ((c->resolver != NULL &&
	        (v->resolver = strdup(c->resolver)) == NULL) ||
	    (c->trust_anchor != NULL &&
	        (v->trust_anchor = strdup(c->trust_anchor)) == NULL))
		return -1;
	while (c->caa_identities != NULL && c->caa_identities[n] != NULL)
		n++;
	if ((v->caa_identities = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if ((v->caa_identities[i] = strdup(c->caa_identities[i])) ==
		    NULL)
			return -1;
	v->cfg.resolver = v->resolver;
	v->cfg.trust_anchor = v->trust_anchor;
	v->cfg.caa_identities = (const char *const *)v->caa_identities;
	if (v->cfg.timeout_ms <= 0)
		v->cfg.timeout_ms = 10000;
	return 0;
}

/* Client context for both probes: no chain verification (RFC 8737 §3
 * and Boulder's https redirects), TLS 1.2 at least. */
static SSL_CTX *
validator_ssl_ctx(void)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		log_openssl(LOG_LVL_ERROR, "acme validate: SSL_CTX");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

struct acme_validator *
acme_validator_new(struct event_base *base, const struct acme_validate_cfg *cfg)
{
	struct acme_validator *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	v->base = base;
	if (validator_copy_cfg(v, cfg) == -1 ||
	    (v->ssl_ctx = validator_ssl_ctx()) == NULL ||
	    (v->dns = acme_dns_new(base, v->cfg.resolver, v->cfg.trust_anchor,
	         v->cfg.dns_transport)) == NULL) {
		log_error("msg=\"acme validate: cannot create the validator\"");
		acme_validator_free(v);
		return NULL;
	}
	return v;
}

void
acme_validator_free(struct acme_validator *v)
{
	size_t i;

	if (v == NULL)
		return;
	while (v->vals != NULL)
		val_free(v->vals);
	acme_dns_free(v->dns);
	SSL_CTX_free(v->ssl_ctx);
	for (i = 0; v->caa_identities != NULL && v->caa_identities[i] != NULL;
	     i++)
		free(v->caa_identities[i]);
	free(v->caa_identities);
	free(v->resolver);
	free(v->trust_anchor);
	free(v);
}
