/*
 * The common enrollment model and pipeline (ARCHITECTURE.md):
 *
 *   protocol -> struct enroll_req -> policy -> backend (async) -> store
 *            -> protocol renders
 *
 * This is the one header whose layouts are shared (STYLE.md rule 3):
 * protocols fill a request, policy and backends read it.
 */
#ifndef ENROLLD_ENROLL_H
#define ENROLLD_ENROLL_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "core/cert.h"

enum enroll_proto {
	ENROLL_PROTO_EST,
	ENROLL_PROTO_ACME,
	ENROLL_PROTO_SCEP,
	ENROLL_PROTO_CLI
};

/* How the requester was authenticated. */
enum enroll_auth {
	ENROLL_AUTH_NONE,
	ENROLL_AUTH_PASSWORD, /* HTTP Basic, challenge password */
	ENROLL_AUTH_TLS_CERT, /* TLS client certificate */
	ENROLL_AUTH_ACCOUNT   /* ACME account key */
};

/*
 * Machine-readable outcome.  Every protocol maps these to its own error
 * format (EST status, ACME problem type, SCEP failInfo).  Keep
 * enroll_reason_code() in enroll.c in step when adding one.
 */
enum enroll_reason {
	ENROLL_OK = 0,
	ENROLL_PENDING,        /* waiting for approval or upstream */
	ENROLL_MALFORMED,      /* request could not be parsed */
	ENROLL_BAD_CSR,        /* CSR unusable (structure, extensions) */
	ENROLL_BAD_SIGNATURE,  /* CSR self-signature does not verify */
	ENROLL_BAD_KEY,        /* key type or size not allowed */
	ENROLL_NAME_FORBIDDEN, /* DNS name outside the allowed suffixes */
	ENROLL_WILDCARD_FORBIDDEN,
	ENROLL_IP_FORBIDDEN,
	ENROLL_IDENT_UNSUPPORTED, /* email/URI where the profile has none */
	ENROLL_TOO_MANY_NAMES,
	ENROLL_NO_NAMES,     /* no identifier and no usable subject */
	ENROLL_VALIDITY,     /* requested validity over the maximum */
	ENROLL_UNAUTHORIZED, /* requester may not use this profile */
	ENROLL_UNKNOWN_PROFILE,
	ENROLL_RENEWAL_MISMATCH, /* re-enroll subject/SANs differ */
	ENROLL_REVOKED,          /* certificate already revoked */
	ENROLL_NOT_FOUND,
	ENROLL_BACKEND_ERROR, /* CA backend failed */
	ENROLL_STORE_ERROR,   /* durable storage failed */
	ENROLL_CONFLICT, /* the caller's writes with the certificate conflicted */
	ENROLL_INTERNAL, /* allocation failure, bug */
	ENROLL_SHUTTING_DOWN,
	ENROLL_REASON_MAX
};

/* Stable camelCase token for a reason ("badKey", "nameForbidden"...). */
const char *enroll_reason_code(enum enroll_reason r);
/* "est", "acme", "scep", "cli". */
const char *enroll_proto_name(enum enroll_proto p);

enum ident_type { IDENT_DNS, IDENT_IP, IDENT_EMAIL, IDENT_URI };

struct store_conn;

struct enroll_ident {
	enum ident_type type;
	char *value;          /* DNS lower-case; IP canonical text */
	unsigned char ip[16]; /* IDENT_IP only: raw address */
	size_t ip_len;        /* 4 or 16 for IDENT_IP, else 0 */
};

struct store_txn;

struct enroll_req {
	char id[20]; /* request id, also in log lines */
	enum enroll_proto proto;
	char *profile;   /* profile name, owned */
	char *requester; /* authenticated identity or NULL, owned */
	enum enroll_auth auth;
	X509_REQ *csr;               /* owned */
	char *subject;               /* CSR subject, RFC 2253, owned */
	struct enroll_ident *idents; /* owned array */
	size_t n_idents;
	X509 *renewal_of;     /* certificate being renewed, owned, or NULL */
	int validity_days;    /* requested; 0 = profile default */
	EVP_PKEY *server_key; /* serverkeygen: key made by us, owned */
	/* Approval queue (core/approval.h): the protocol's stable name for
	 * this request across the client's retries ("scep:TID"), owned, and
	 * the calling worker's store connection for reading its state,
	 * borrowed.  Without both, a profile that requires approval denies. */
	char *pending_key;
	struct store_conn *sc;
	/* the CSR's public key, owned; NULL: use X509_REQ_get0_pubkey(csr) */
	EVP_PKEY *csr_key;
	int csr_sig_ok; /* with csr_key: 1 when the CSR signature verified
	                 * at parse */
	/* Optional (enroll_store_fn): the caller's writes that commit with
	 * the certificate; borrowed argument. */
	int (*with_cert)(void *arg, const char *serial, struct store_txn *t);
	void *with_cert_arg;
};

/* New empty request with a fresh random id.  NULL on allocation failure. */
struct enroll_req *enroll_req_new(enum enroll_proto proto);
void enroll_req_free(struct enroll_req *req);
/* Append an identifier (value copied). 0 / -1. */
int enroll_req_add_ident(
    struct enroll_req *req, enum ident_type type, const char *value);
/* Set owned string fields (copied; NULL clears). 0 / -1. */
int enroll_req_set_profile(struct enroll_req *req, const char *profile);
int enroll_req_set_requester(
    struct enroll_req *req, const char *who, enum enroll_auth how);
/*
 * Take ownership of `csr` (freed on failure too) and collect its
 * identifiers and subject.  Returns ENROLL_OK or ENROLL_BAD_CSR.
 */
enum enroll_reason enroll_req_take_csr(struct enroll_req *req, X509_REQ *csr);
/*
 * Parse `der` with csr_parse (keeping its key and signature verdict in
 * csr_key and csr_sig_ok), then as enroll_req_take_csr.  Returns
 * ENROLL_OK, ENROLL_MALFORMED when `der` is not one usable CSR (the
 * request then has no CSR), or ENROLL_BAD_CSR.
 */
enum enroll_reason enroll_req_take_csr_der(
    struct enroll_req *req, const unsigned char *der, size_t len);

/* Outcome handed to the protocol.  Borrowed for the duration of the
 * callback; take references (X509_up_ref) to keep anything. */
struct enroll_result {
	enum enroll_reason reason;
	const char *detail;    /* one sentence, safe to show a client */
	X509 *cert;            /* issued certificate or NULL */
	STACK_OF(X509) *chain; /* issuing CA chain, leaf excluded */
	const char *serial;    /* hex serial of cert, or NULL */
};

struct enroll_job;
struct gateway;
struct event_base;

/*
 * req->with_cert: called on the loop once the certificate exists and
 * before it is stored, while the caller still waits for its answer (not
 * for a request that an operator or an upstream CA decides later).  It
 * adds to `t`, the certificate's own durable transaction, what must be
 * written with it (ACME: the order that now names it, the request's
 * nonce), sparing a second commit.  0, or -1 to fail the enrollment
 * (ENROLL_INTERNAL).  When the additions conflict, nothing of `t` is
 * written and the enrollment ends ENROLL_CONFLICT.
 */

/* Called exactly once on the event loop of `base` given to enroll_submit,
 * unless the job was cancelled first. */
typedef void enroll_done_fn(
    struct enroll_req *req, const struct enroll_result *res, void *arg);

/*
 * Run `req` through policy, backend and store.  Takes ownership of req
 * (freed after `done` returns).  `done` may run before enroll_submit
 * returns when the request is decided at once (a policy denial).
 * Returns the job handle (valid until `done` runs), or NULL when `done`
 * has already been called.
 */
struct enroll_job *enroll_submit(struct gateway *gw, struct event_base *base,
    struct enroll_req *req, enroll_done_fn *done, void *arg);

/*
 * Resume on `base` what an upstream CA still owes (requests whose
 * approval state is "upstream", core/approval.h): each goes to its
 * backend again, which finds its own state by the pending key, and the
 * certificate is stored for the client's next retry.  `sc` is the
 * loop's store connection.
 */
void enroll_resume(
    struct gateway *gw, struct event_base *base, struct store_conn *sc);

/* The client went away: `done` will not be called; the work still
 * completes (a certificate that is signed is still stored). */
void enroll_cancel(struct enroll_job *job);

#endif
