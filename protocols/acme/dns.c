/*
 * Asynchronous DNS for challenge validation on libunbound.  The context
 * runs on the worker's own event base (ub_ctx_create_event): queries,
 * answers and callbacks all happen on the loop thread, with no resolver
 * thread and no pipe to cross for every query.  Answers arrive as wire
 * packets, whose answer section we walk for the records asked for.
 * Outstanding queries are kept on a list so that freeing the resolver
 * cancels them all.
 *
 * Queries go to the resolver over TCP unless configured otherwise: the
 * connections are kept and reused where UDP costs a socket per query, and
 * an off-path attacker cannot inject answers into them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound-event.h>
#include <unbound.h>

#include "core/log.h"
#include "protocols/acme/dns.h"

#define DNS_SPEC_MAX 80  /* "ADDR@PORT" */
#define DNS_RR_MAX 64    /* records handed to a callback */
#define DNS_ADDRS_MAX 16 /* addresses per lookup */
#define DNS_RCODE_NXDOMAIN 3
#define DNS_SEC_BOGUS 1 /* ub_resolve_event's sec */
#define DNS_CLASS_IN 1
#define DNS_HDR_LEN 12

/* An answer kept for later: libunbound answered inside
 * ub_resolve_event() (local data), before the caller had the query. */
struct dns_early {
	int rcode;
	int sec;
	unsigned char *pkt;
	size_t len;
	char *why;
	struct event *ev;
};

struct acme_dns_query {
	struct acme_dns *dns;
	struct acme_dns_query *prev, *next;
	int id;
	int rrtype;
	int in_resolve; /* inside ub_resolve_event() */
	struct dns_early *early;
	acme_dns_done_fn *done;
	void *arg;
};

struct acme_dns {
	struct ub_ctx *ctx;
	struct event_base *base;
	struct acme_dns_query *queries;
};

struct acme_dns_lookup {
	struct acme_dns_query *q6, *q4;
	struct sockaddr_storage v6[DNS_ADDRS_MAX], v4[DNS_ADDRS_MAX];
	size_t n6, n4;
	char why[160];
	char *name;
	acme_dns_addrs_fn *done;
	void *arg;
};

static const char *
dns_rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "error";
	}
}

/*
 * Turn "ADDR", "ADDR:PORT" or "[V6]:PORT" into libunbound's "ADDR@PORT".
 * A bare IPv6 address (several colons, no brackets) has no port.
 * Returns 0, or -1 when the text is malformed or too long.
 */
static int
dns_fwd_spec(const char *resolver, char *out, size_t outlen)
{
	const char *host = resolver, *port = NULL, *end, *c;
	size_t hostlen;
	int n;

	if (resolver[0] == '[') {
		host = resolver + 1;
		if ((end = strchr(host, ']')) == NULL)
			return -1;
		hostlen = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else if ((c = strchr(resolver, ':')) != NULL &&
	    strchr(c + 1, ':') == NULL) {
		hostlen = (size_t)(c - resolver);
		port = c + 1;
	} else
		hostlen = strlen(resolver);
	if (hostlen == 0 ||
	    (port != NULL &&
	        (port[0] == '\0' ||
	            strspn(port, "0123456789") != strlen(port) ||
	            strlen(port) > 5)))
		return -1;
	if (port != NULL)
		n = snprintf(out, outlen, "%.*s@%s", (int)hostlen, host, port);
	else
		n = snprintf(out, outlen, "%.*s", (int)hostlen, host);
	return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Apply one setting; 0 or -1 (logged). */
static int
dns_set(struct ub_ctx *ctx, const char *opt, const char *val)
{
	int err;

	if ((err = ub_ctx_set_option(ctx, opt, val)) != 0) {
		log_error("msg=\"acme dns: cannot set %s %s\" err=\"%s\"", opt,
		    val, ub_strerror(err));
		return -1;
	}
	return 0;
}

/*
 * Configure a fresh context: forwarder, trust anchor, no answer reuse
 * (a client that just fixed its TXT record must be seen at once), and
 * TCP to the resolver unless UDP was asked for: reused connections cost
 * far fewer sockets than one per query, and forged answers cannot enter
 * an established connection.
 */
static int
dns_configure(struct ub_ctx *ctx, const char *resolver, const char *ta,
    enum acme_dns_transport transport)
{
	char spec[DNS_SPEC_MAX];
	int err;

	/* The operator chose the resolver; a local one is the usual case. */
	if (dns_set(ctx, "do-not-query-localhost:", "no") == -1 ||
	    dns_set(ctx, "cache-max-ttl:", "0") == -1 ||
	    dns_set(ctx, "cache-max-negative-ttl:", "0") == -1)
		return -1;
	if (transport == ACME_DNS_TCP &&
	    dns_set(ctx, "tcp-upstream:", "yes") == -1)
		return -1;
	if (resolver != NULL) {
		if (dns_fwd_spec(resolver, spec, sizeof(spec)) == -1 ||
		    (err = ub_ctx_set_fwd(ctx, spec)) != 0) {
			log_error("msg=\"acme dns: bad resolver address\" "
			          "resolver=\"%s\"",
			    resolver);
			return -1;
		}
	} else if ((err = ub_ctx_resolvconf(ctx, "/etc/resolv.conf")) != 0) {
		log_error("msg=\"acme dns: cannot read /etc/resolv.conf\" "
		          "err=\"%s\"",
		    ub_strerror(err));
		return -1;
	}
	/* Without an anchor the validator module can only say "insecure",
	 * at a cost on every answer: leave it out. */
	if (ta == NULL && dns_set(ctx, "module-config:", "iterator") == -1)
		return -1;
	if (ta != NULL && (err = ub_ctx_add_ta_file(ctx, ta)) != 0) {
		log_error(
		    "msg=\"acme dns: cannot load trust anchor\" file=\"%s\" "
		    "err=\"%s\"",
		    ta, ub_strerror(err));
		return -1;
	}
	return 0;
}

struct acme_dns *
acme_dns_new(struct event_base *base, const char *resolver,
    const char *trust_anchor, enum acme_dns_transport transport)
{
	struct acme_dns *d = NULL;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto fail;
	d->base = base;
	if ((d->ctx = ub_ctx_create_event(base)) == NULL) {
		log_error("msg=\"acme dns: ub_ctx_create_event failed\"");
		goto fail;
	}
	if (dns_configure(d->ctx, resolver, trust_anchor, transport) == -1)
		goto fail;
	return d;
fail:
	acme_dns_free(d);
	return NULL;
}

static void
dns_unlink(struct acme_dns_query *q)
{
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		q->dns->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
}

void
acme_dns_free(struct acme_dns *d)
{
	if (d == NULL)
		return;
	while (d->queries != NULL)
		acme_dns_cancel(d->queries);
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	free(d);
}

/* Offset just past the (possibly compressed) name at `off`, or 0 when
 * it runs off the packet. */
static size_t
dns_skip_name(const unsigned char *p, size_t len, size_t off)
{
	size_t labels;

	for (labels = 0; off < len && labels < 128; labels++) {
		if (p[off] == 0)
			return off + 1;
		if ((p[off] & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if ((p[off] & 0xc0) != 0)
			return 0;
		off += 1 + (size_t)p[off];
	}
	return 0;
}

static unsigned
dns_u16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/*
 * RFC 1035 §4.1: collect the RDATA of the answer records of class IN and
 * type `rrtype` (a CNAME chain's other records are skipped) into
 * res->rdata/len, at most DNS_RR_MAX.  0, or -1 when the packet is
 * malformed.
 */
static int
dns_records(const unsigned char *p, size_t len, int rrtype,
    const unsigned char **rdata, size_t *rlen, size_t *n)
{
	size_t off = DNS_HDR_LEN, rdl;
	unsigned qd, an, i;

	*n = 0;
	if (p == NULL || len < DNS_HDR_LEN)
		return -1;
	qd = dns_u16(p + 4);
	an = dns_u16(p + 6);
	for (i = 0; i < qd; i++)
		if ((off = dns_skip_name(p, len, off)) == 0 || (off += 4) > len)
			return -1;
	for (i = 0; i < an; i++) {
		if ((off = dns_skip_name(p, len, off)) == 0 || off + 10 > len)
			return -1;
		rdl = dns_u16(p + off + 8);
		if (off + 10 + rdl > len)
			return -1;
		/* Extra records beyond the cap are ignored, not trusted. */
		if (dns_u16(p + off) == (unsigned)rrtype &&
		    dns_u16(p + off + 2) == DNS_CLASS_IN && *n < DNS_RR_MAX) {
			rdata[*n] = p + off + 10;
			rlen[*n] = rdl;
			(*n)++;
		}
		off += 10 + rdl;
	}
	return 0;
}

/* Translate a libunbound answer into our result and hand it over. */
static void
dns_deliver(struct acme_dns_query *q, int rcode, const unsigned char *pkt,
    size_t len, int sec, const char *why_bogus)
{
	const unsigned char *rdata[DNS_RR_MAX];
	size_t rlen[DNS_RR_MAX];
	struct acme_dns_result res = {ACME_DNS_OK, "", 0, rdata, rlen};

	if (sec == DNS_SEC_BOGUS) {
		res.status = ACME_DNS_BOGUS;
		res.why = why_bogus != NULL ? why_bogus : "DNSSEC bogus";
	} else if (rcode == DNS_RCODE_NXDOMAIN)
		res.status = ACME_DNS_NXDOMAIN;
	else if (rcode != 0) {
		res.status = ACME_DNS_ERROR;
		res.why = dns_rcode_name(rcode);
	} else if (dns_records(pkt, len, q->rrtype, rdata, rlen, &res.n) ==
	    -1) {
		res.status = ACME_DNS_ERROR;
		res.why = "malformed answer";
	} else if (res.n == 0)
		res.status = ACME_DNS_NODATA;
	q->done(q->arg, &res);
}

static void
dns_early_free(struct dns_early *e)
{
	if (e == NULL)
		return;
	if (e->ev != NULL)
		event_free(e->ev);
	free(e->pkt);
	free(e->why);
	free(e);
}

/* Keep an answer given inside ub_resolve_event() (the packet is only
 * borrowed for the callback).  NULL when out of memory. */
static struct dns_early *
dns_early_new(int rcode, const void *pkt, int len, int sec, const char *why)
{
	struct dns_early *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->rcode = rcode;
	e->sec = sec;
	if (pkt != NULL && len > 0) {
		if ((e->pkt = malloc((size_t)len)) == NULL)
			goto fail;
		memcpy(e->pkt, pkt, (size_t)len);
		e->len = (size_t)len;
	}
	if (why != NULL && (e->why = strdup(why)) == NULL)
		goto fail;
	return e;
fail:
	dns_early_free(e);
	return NULL;
}

static void
dns_answer(void *arg, int rcode, void *pkt, int len, int sec, char *why,
    int ratelimited)
{
	struct acme_dns_query *q = arg;

	(void)ratelimited;
	if (q->in_resolve) {
		/* acme_dns_query() delivers it from the loop; a failed copy
		 * becomes a SERVFAIL there. */
		q->early = dns_early_new(rcode, pkt, len, sec, why);
		q->in_resolve = 0;
		return;
	}
	dns_unlink(q);
	dns_deliver(q, rcode, pkt, len > 0 ? (size_t)len : 0, sec, why);
	free(q);
}

/* On the loop, after acme_dns_query() returned: the early answer. */
static void
dns_early_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acme_dns_query *q = arg;
	struct dns_early *e = q->early;

	(void)fd;
	(void)what;
	dns_unlink(q);
	dns_deliver(q, e->rcode, e->pkt, e->len, e->sec, e->why);
	dns_early_free(e);
	free(q);
}

/* Schedule the delivery of an answer libunbound gave at once; 0 / -1. */
static int
dns_early_schedule(struct acme_dns_query *q)
{
	static const struct timeval zero_tv = {0, 0};

	if (q->early == NULL &&
	    (q->early = dns_early_new(2, NULL, 0, 0, NULL)) == NULL)
		return -1;
	if ((q->early->ev = evtimer_new(q->dns->base, dns_early_cb, q)) ==
	        NULL ||
	    evtimer_add(q->early->ev, &zero_tv) == -1)
		return -1;
	return 0;
}

struct acme_dns_query *
acme_dns_query(struct acme_dns *d, const char *name, int rrtype,
    acme_dns_done_fn *done, void *arg)
{
	struct acme_dns_query *q;
	int err;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->dns = d;
	q->rrtype = rrtype;
	q->done = done;
	q->arg = arg;
	q->in_resolve = 1;
	err = ub_resolve_event(
	    d->ctx, name, rrtype, DNS_CLASS_IN, q, dns_answer, &q->id);
	if (err != 0 || (!q->in_resolve && dns_early_schedule(q) == -1)) {
		log_error("msg=\"acme dns: cannot send query\" err=\"%s\"",
		    err != 0 ? ub_strerror(err) : "out of memory");
		dns_early_free(q->early);
		free(q);
		return NULL;
	}
	q->in_resolve = 0;
	q->next = d->queries;
	if (q->next != NULL)
		q->next->prev = q;
	d->queries = q;
	return q;
}

void
acme_dns_cancel(struct acme_dns_query *q)
{
	if (q == NULL)
		return;
	/* An answered query is unknown to libunbound: the error is
	 * harmless. */
	if (q->early != NULL)
		dns_early_free(q->early);
	else
		(void)ub_cancel(q->dns->ctx, q->id);
	dns_unlink(q);
	free(q);
}

/* Keep the A or AAAA records of one answer; the rest is ignored. */
static void
dns_collect(
    struct acme_dns_lookup *l, const struct acme_dns_result *res, int v6)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	size_t i;

	for (i = 0; i < res->n; i++) {
		if (v6 && res->len[i] == 16 && l->n6 < DNS_ADDRS_MAX) {
			sin6 = (struct sockaddr_in6 *)&l->v6[l->n6++];
			sin6->sin6_family = AF_INET6;
			memcpy(&sin6->sin6_addr, res->rdata[i], 16);
		} else if (!v6 && res->len[i] == 4 && l->n4 < DNS_ADDRS_MAX) {
			sin = (struct sockaddr_in *)&l->v4[l->n4++];
			sin->sin_family = AF_INET;
			memcpy(&sin->sin_addr, res->rdata[i], 4);
		}
	}
	if (res->status == ACME_DNS_ERROR || res->status == ACME_DNS_BOGUS)
		snprintf(l->why, sizeof(l->why),
		    "DNS problem: %s looking up %s for %s", res->why,
		    v6 ? "AAAA" : "A", l->name);
}

/* Both answers are in: report IPv6 first, then IPv4. */
static void
dns_lookup_finish(struct acme_dns_lookup *l)
{
	struct sockaddr_storage all[2 * DNS_ADDRS_MAX];
	size_t n;

	memset(all, 0, sizeof(all));
	memcpy(all, l->v6, l->n6 * sizeof(all[0]));
	memcpy(all + l->n6, l->v4, l->n4 * sizeof(all[0]));
	n = l->n6 + l->n4;
	if (n == 0 && l->why[0] == '\0')
		snprintf(l->why, sizeof(l->why),
		    "No valid IP addresses found for %s", l->name);
	l->done(l->arg, all, n, l->why);
	free(l->name);
	free(l);
}

static void
dns_lookup_v6(void *arg, const struct acme_dns_result *res)
{
	struct acme_dns_lookup *l = arg;

	l->q6 = NULL;
	dns_collect(l, res, 1);
	if (l->q4 == NULL)
		dns_lookup_finish(l);
}

static void
dns_lookup_v4(void *arg, const struct acme_dns_result *res)
{
	struct acme_dns_lookup *l = arg;

	l->q4 = NULL;
	dns_collect(l, res, 0);
	if (l->q6 == NULL)
		dns_lookup_finish(l);
}

struct acme_dns_lookup *
acme_dns_lookup_addrs(
    struct acme_dns *d, const char *name, acme_dns_addrs_fn *done, void *arg)
{
	struct acme_dns_lookup *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->done = done;
	l->arg = arg;
	if ((l->name = strdup(name)) == NULL ||
	    (l->q6 = acme_dns_query(
	         d, name, ACME_DNS_AAAA, dns_lookup_v6, l)) == NULL ||
	    (l->q4 = acme_dns_query(d, name, ACME_DNS_A, dns_lookup_v4, l)) ==
	        NULL) {
		acme_dns_lookup_cancel(l);
		return NULL;
	}
	return l;
}

void
acme_dns_lookup_cancel(struct acme_dns_lookup *l)
{
	if (l == NULL)
		return;
	acme_dns_cancel(l->q6);
	acme_dns_cancel(l->q4);
	free(l->name);
	free(l);
}
