/*
 * ACME challenge validation (RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737
 * tls-alpn-01) and CAA checking (RFC 8659, RFC 8657), asynchronous on one
 * event loop: outbound HTTP and TLS through libevent, DNS through
 * libunbound driven by its file descriptor.  Private to protocols/acme/.
 */
#ifndef ENROLLD_ACME_VALIDATE_H
#define ENROLLD_ACME_VALIDATE_H

#include <stddef.h>

#include "protocols/acme/dns.h"

struct event_base;

enum acme_chall_type { ACME_HTTP_01, ACME_DNS_01, ACME_TLS_ALPN_01 };

struct acme_validate_cfg {
	const char *resolver;     /* "ADDR:PORT" or "ADDR" for A/AAAA/TXT/CAA;
				     NULL = /etc/resolv.conf */
	const char *trust_anchor; /* DNSSEC root key file, or NULL */
	int http01_port;          /* 80 */
	int tlsalpn01_port;       /* 443 */
	int allow_private; /* accept loopback/private/link-local targets */
	int timeout_ms;    /* whole validation, e.g. 10000 */
	int caa;           /* check CAA for dns identifiers */
	const char *const
	    *caa_identities; /* our issuer domains, NULL-terminated */
	/* How lookups reach the resolver; 0 is ACME_DNS_TCP, the default. */
	enum acme_dns_transport dns_transport;
};

struct acme_validator;
struct acme_validation;

/* One per event loop (libunbound contexts are not shared between threads).
 * NULL on error (logged). */
struct acme_validator *acme_validator_new(
    struct event_base *base, const struct acme_validate_cfg *cfg);
/* Cancels whatever is in flight first (their callbacks do not run). */
void acme_validator_free(struct acme_validator *v);

/*
 * Outcome: ok 1, or 0 with the RFC 8555 §6.7 problem type suffix
 * ("connection", "dns", "incorrectResponse", "tls", "unauthorized", "caa",
 * "rejectedIdentifier"...) and a sentence for the client (the address
 * tried, what was wanted, what arrived).  Strings borrowed for the call.
 */
typedef void acme_validate_done_fn(
    void *arg, int ok, const char *problem, const char *detail);

struct acme_challenge_req {
	enum acme_chall_type type;
	int ident_is_ip;   /* identifier type "ip" (RFC 8738) */
	const char *ident; /* DNS name (no "*." — the caller strips it) or IP */
	const char *token;
	const char *key_authorization; /* token "." thumbprint */
	int wildcard; /* the authorization is for "*.ident" (CAA issuewild) */
	const char *account_uri; /* for CAA accounturi (RFC 8657) */
};

/*
 * Validate one challenge, then (dns identifiers, when cfg->caa) CAA.
 * `done` runs exactly once on the validator's loop, never before this
 * returns.  Returns a handle for acme_validation_cancel, or NULL when it
 * could not start (then done is not called).
 */
struct acme_validation *acme_validate(struct acme_validator *v,
    const struct acme_challenge_req *req, acme_validate_done_fn *done,
    void *arg);
/*
 * The same, held: names are looked up (addresses, TXT, CAA) but nothing
 * is connected to and done does not run until acme_validation_release.
 * A request validates while its own commit is in flight this way, and
 * cancels the validation if that commit fails.
 */
struct acme_validation *acme_validate_held(struct acme_validator *v,
    const struct acme_challenge_req *req, acme_validate_done_fn *done,
    void *arg);
void acme_validation_release(struct acme_validation *val);
/* The requester went away: done will not run; resources are freed. */
void acme_validation_cancel(struct acme_validation *val);

#endif
