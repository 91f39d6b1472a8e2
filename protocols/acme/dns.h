/*
 * A small asynchronous DNS client for challenge validation: one libunbound
 * context per event loop, its file descriptor watched by that loop.
 * Private to protocols/acme/ (validate.c and http01.c).
 */
#ifndef ENROLLD_ACME_DNS_H
#define ENROLLD_ACME_DNS_H

#include <stddef.h>

#include <sys/socket.h>

struct event_base;

#define ACME_DNS_A 1
#define ACME_DNS_TXT 16
#define ACME_DNS_AAAA 28
#define ACME_DNS_CAA 257

enum acme_dns_status {
	ACME_DNS_OK,       /* NOERROR with at least one record */
	ACME_DNS_NODATA,   /* NOERROR, no record of that type */
	ACME_DNS_NXDOMAIN, /* the name does not exist */
	ACME_DNS_ERROR,    /* SERVFAIL, REFUSED, timeout, local failure */
	ACME_DNS_BOGUS     /* DNSSEC validation failed */
};

/* One answer; everything is borrowed for the duration of the callback. */
struct acme_dns_result {
	enum acme_dns_status status;
	const char *why;                   /* text for ERROR/BOGUS, else "" */
	size_t n;                          /* records in rdata[] */
	const unsigned char *const *rdata; /* wire-format RDATA */
	const size_t *len;
};

typedef void acme_dns_done_fn(void *arg, const struct acme_dns_result *res);

/* Addresses of a name; n == 0 means failure, why says what happened. */
typedef void acme_dns_addrs_fn(
    void *arg, const struct sockaddr_storage *addrs, size_t n, const char *why);

/* How queries reach the resolver (acme.validation.dns_transport). */
enum acme_dns_transport {
	ACME_DNS_TCP, /* connections kept open and reused; the default */
	ACME_DNS_UDP  /* a fresh socket per query */
};

struct acme_dns;
struct acme_dns_query;
struct acme_dns_lookup;

/*
 * Create a resolver on `base`.  `resolver` is "ADDR", "ADDR:PORT" or
 * "[V6]:PORT" of a recursive resolver to forward to, or NULL for the
 * nameservers of /etc/resolv.conf.  With `trust_anchor` (a root key file)
 * answers are DNSSEC-validated and bogus ones reported as ACME_DNS_BOGUS.
 * `transport` is how every query travels to that resolver.
 * Returns NULL on error (logged); free with acme_dns_free.
 */
struct acme_dns *acme_dns_new(struct event_base *base, const char *resolver,
    const char *trust_anchor, enum acme_dns_transport transport);
/* Cancels every outstanding query and lookup (no callback runs). */
void acme_dns_free(struct acme_dns *d);

/*
 * Ask for `rrtype` records of `name` (class IN).  `done` runs once from
 * the loop, never inside this call; the handle is invalid from then on.
 * NULL when the query could not be sent (logged).
 */
struct acme_dns_query *acme_dns_query(struct acme_dns *d, const char *name,
    int rrtype, acme_dns_done_fn *done, void *arg);
/* Forget a query whose callback has not run yet. */
void acme_dns_cancel(struct acme_dns_query *q);

/*
 * Look up AAAA and A of `name` in parallel.  `done` gets the IPv6
 * addresses first, then the IPv4 ones (port 0), at most 16; n == 0 when
 * neither query produced an address (why names the failure).  Same
 * lifetime rules as acme_dns_query.
 */
struct acme_dns_lookup *acme_dns_lookup_addrs(
    struct acme_dns *d, const char *name, acme_dns_addrs_fn *done, void *arg);
void acme_dns_lookup_cancel(struct acme_dns_lookup *l);

#endif
