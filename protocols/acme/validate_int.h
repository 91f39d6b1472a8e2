/*
 * Shared between the pieces of challenge validation: validate.c (the
 * state machine, address policy), caa.c (RFC 8659/8657 decisions),
 * caa_lookup.c (finding the relevant CAA RRset),
 * http01.c and tlsalpn.c (the two connection probes).  Private to
 * protocols/acme/; nothing else includes it.
 */
#ifndef ENROLLD_ACME_VALIDATE_INT_H
#define ENROLLD_ACME_VALIDATE_INT_H

#include <stddef.h>

#include <sys/socket.h>

#include <openssl/ssl.h>

#include "protocols/acme/dns.h"
#include "protocols/acme/validate.h"

#define ACME_DETAIL_MAX 512 /* one problem detail sentence */
#define ACME_ADDR_STR_MAX 64

/*
 * Outcome of a probe, as acme_validate_done_fn.  A probe calls it at
 * most once, never from inside its start function, and touches nothing
 * of its own afterwards: the owner may free the probe inside it.
 */
typedef void acme_probe_done_fn(
    void *arg, int ok, const char *problem, const char *detail);

/* Everything a probe borrows from its validation (alive as long). */
struct acme_probe {
	struct event_base *base;
	struct acme_dns *dns; /* http-01 redirects */
	SSL_CTX *ssl_ctx;     /* TLS 1.2+, peer not verified */
	const struct acme_validate_cfg *cfg;
	const struct acme_challenge_req *req;
	const struct sockaddr *addr; /* port already set */
	socklen_t addrlen;
	acme_probe_done_fn *done;
	void *arg;
};

struct acme_http01;
struct acme_tlsalpn;

/*
 * Start a probe; the probe copies *p.  NULL when the connection could
 * not even be attempted (logged): the caller treats it as a connection
 * failure to that address.
 */
struct acme_http01 *acme_http01_start(const struct acme_probe *p);
void acme_http01_free(struct acme_http01 *h);
struct acme_tlsalpn *acme_tlsalpn_start(const struct acme_probe *p);
void acme_tlsalpn_free(struct acme_tlsalpn *t);

/*
 * Address policy: 1 when `sa` may be contacted, 0 when it is loopback,
 * private, link-local, shared, documentation, multicast or otherwise
 * reserved and allow_private is 0 (why then says which range).
 */
int acme_addr_allowed(
    const struct sockaddr *sa, int allow_private, char *why, size_t whylen);
/* Numeric text of an address, without port. */
void acme_addr_str(const struct sockaddr *sa, char *buf, size_t len);

/* One CAA resource record (RFC 8659 §4.1), borrowed from its RDATA. */
struct acme_caa_rr {
	unsigned char flags;
	const unsigned char *tag;
	size_t taglen;
	const unsigned char *value;
	size_t valuelen;
};

/* Split wire-format CAA RDATA; 0, or -1 when malformed. */
int acme_caa_parse(
    const unsigned char *rdata, size_t len, struct acme_caa_rr *rr);

/* What the CA is about to do, for the decision below. */
struct acme_caa_want {
	const char *const *identities; /* our issuer domain names */
	const char *account_uri;       /* RFC 8657 accounturi, or NULL */
	const char *method;            /* "http-01", "dns-01", "tls-alpn-01" */
	int wildcard;                  /* use issuewild when present */
};

/*
 * Decide on the relevant (non-empty) CAA RRset of RFC 8659 §3: 1 when
 * issuance is permitted, 0 when not (why says which record or flag
 * forbade it).  A record whose RDATA cannot be split forbids issuance
 * (its tag might be critical); a malformed issue value authorises no one.
 */
int acme_caa_permits(const unsigned char *const *rdata, const size_t *len,
    size_t n, const struct acme_caa_want *w, char *why, size_t whylen);

struct acme_caa_lookup;

/*
 * Decide CAA for the DNS name `ident` (no "*."): ask it and all its
 * parents at once, judge the closest non-empty RRset by acme_caa_permits.
 * `done` gets ok 1, or 0 with "caa" (forbidden) or "dns" (a lookup
 * failed before a decision), as a probe's; it runs once from the loop.
 * `want`'s strings are borrowed until then.  NULL when the queries
 * could not be sent (done is not called).
 */
struct acme_caa_lookup *acme_caa_lookup_start(struct acme_dns *dns,
    const char *ident, const struct acme_caa_want *want,
    acme_probe_done_fn *done, void *arg);
/* Stop a lookup whose callback has not run; NULL is fine. */
void acme_caa_lookup_cancel(struct acme_caa_lookup *l);

#endif
