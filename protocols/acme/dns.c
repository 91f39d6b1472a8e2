/*
 * Asynchronous DNS for challenge validation on libunbound.  The context
 * resolves in a background thread and signals results on ub_fd(); the
 * loop watches that descriptor and calls ub_process(), which runs our
 * callbacks on the loop thread.  Outstanding queries are kept on a list
 * so that freeing the resolver cancels them all.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <unbound.h>

#include "core/log.h"
#include "protocols/acme/dns.h"

#define DNS_SPEC_MAX 80  /* "ADDR@PORT" */
#define DNS_RR_MAX 64    /* records handed to a callback */
#define DNS_ADDRS_MAX 16 /* addresses per lookup */
#define DNS_RCODE_NXDOMAIN 3

struct acme_dns_query {
	struct acme_dns *dns;
	struct acme_dns_query *prev, *next;
	int id;
	acme_dns_done_fn *done;
	void *arg;
};

struct acme_dns {
	struct ub_ctx *ctx;
	struct event *ev;
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

static void
dns_readable(evutil_socket_t fd, short what, void *arg)
{
	struct acme_dns *d = arg;
	int err;

	if ((err = ub_process(d->ctx)) != 0)
		log_warn("msg=\"acme dns: ub_process failed\" err=\"%s\"",
		    ub_strerror(err));
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
 * threaded background resolution: a forked resolver would copy a
 * multi-threaded daemon whose other threads may hold OpenSSL locks.
 */
static int
dns_configure(struct ub_ctx *ctx, const char *resolver, const char *ta)
{
	char spec[DNS_SPEC_MAX];
	int err;

	/* The operator chose the resolver; a local one is the usual case. */
	if (dns_set(ctx, "do-not-query-localhost:", "no") == -1 ||
	    dns_set(ctx, "cache-max-ttl:", "0") == -1 ||
	    dns_set(ctx, "cache-max-negative-ttl:", "0") == -1)
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
	if (ta != NULL && (err = ub_ctx_add_ta_file(ctx, ta)) != 0) {
		log_error(
		    "msg=\"acme dns: cannot load trust anchor\" file=\"%s\" "
		    "err=\"%s\"",
		    ta, ub_strerror(err));
		return -1;
	}
	if ((err = ub_ctx_async(ctx, 1)) != 0) {
		log_error("msg=\"acme dns: ub_ctx_async failed\" err=\"%s\"",
		    ub_strerror(err));
		return -1;
	}
	return 0;
}

struct acme_dns *
acme_dns_new(
    struct event_base *base, const char *resolver, const char *trust_anchor)
{
	struct acme_dns *d = NULL;
	int fd;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto fail;
	if ((d->ctx = ub_ctx_create()) == NULL) {
		log_error("msg=\"acme dns: ub_ctx_create failed\"");
		goto fail;
	}
	if (dns_configure(d->ctx, resolver, trust_anchor) == -1)
		goto fail;
	if ((fd = ub_fd(d->ctx)) == -1 ||
	    (d->ev = event_new(
	         base, fd, EV_READ | EV_PERSIST, dns_readable, d)) == NULL ||
	    event_add(d->ev, NULL) == -1) {
		log_error("msg=\"acme dns: cannot watch the resolver\"");
		goto fail;
	}
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
	if (d->ev != NULL)
		event_free(d->ev);
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	free(d);
}

/* Translate a libunbound answer into our result and hand it over. */
static void
dns_deliver(struct acme_dns_query *q, int err, struct ub_result *r)
{
	const unsigned char *rdata[DNS_RR_MAX];
	size_t len[DNS_RR_MAX];
	struct acme_dns_result res = {ACME_DNS_OK, "", 0, rdata, len};

	if (err != 0 || r == NULL) {
		res.status = ACME_DNS_ERROR;
		res.why = ub_strerror(err);
	} else if (r->bogus) {
		res.status = ACME_DNS_BOGUS;
		res.why = r->why_bogus != NULL ? r->why_bogus : "DNSSEC bogus";
	} else if (r->rcode == DNS_RCODE_NXDOMAIN)
		res.status = ACME_DNS_NXDOMAIN;
	else if (r->rcode != 0) {
		res.status = ACME_DNS_ERROR;
		res.why = dns_rcode_name(r->rcode);
	} else if (!r->havedata || r->data == NULL || r->data[0] == NULL)
		res.status = ACME_DNS_NODATA;
	else {
		/* Extra records beyond the cap are ignored, not trusted. */
		while (res.n < DNS_RR_MAX && r->data[res.n] != NULL) {
			if (r->len[res.n] < 0)
				break;
			rdata[res.n] = (const unsigned char *)r->data[res.n];
			len[res.n] = (size_t)r->len[res.n];
			res.n++;
		}
	}
	q->done(q->arg, &res);
}

static void
dns_answer(void *arg, int err, struct ub_result *r)
{
	struct acme_dns_query *q = arg;

	dns_unlink(q);
	dns_deliver(q, err, r);
	ub_resolve_free(r);
	free(q);
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
	q->done = done;
	q->arg = arg;
	if ((err = ub_resolve_async(
	         d->ctx, name, rrtype, 1, q, dns_answer, &q->id)) != 0) {
		log_error("msg=\"acme dns: cannot send query\" err=\"%s\"",
		    ub_strerror(err));
		free(q);
		return NULL;
	}
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
	/* An error means the answer is already queued: ub_process will not
	 * find the id any more either, so freeing is safe both ways. */
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
