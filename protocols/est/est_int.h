/*
 * EST front end internals, shared by the files of protocols/est/ only.
 *
 *   est.c         handler table, init, routing of /.well-known/est/...
 *   est_config.c  the "est" config section
 *   est_auth.c    HTTP Basic (with a verified-password cache) and TLS
 *                 client certificate verification
 *   est_enroll.c  simpleenroll, simplereenroll, serverkeygen
 *   est_render.c  PKCS#7 and multipart bodies, reason -> HTTP status
 *   csrattrs.c    CsrAttrs DER (RFC 7030 §4.5.2)
 *
 * Only est.c and est_enroll.c touch core/http.h, so the others can be
 * unit-tested without a server.
 */
#ifndef ENROLLD_EST_INT_H
#define ENROLLD_EST_INT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/asn1t.h>
#include <openssl/x509.h>

#include "core/cert.h"
#include "core/enroll.h"

struct gateway;
struct http_req;
struct profile;

#define EST_LABEL_MAX 64
#define EST_USER_MAX 255
#define EST_PASSWORD_MAX 255
#define EST_REALM_MAX 128

/* Parsed "est" section; strings owned. */
struct est_user {
	char *name;
	char *password_hash;
};

struct est_label_conf {
	char *label;
	char *profile;
};

struct est_config {
	char *default_profile;
	struct est_label_conf *labels;
	size_t n_labels;
	struct est_user *users;
	size_t n_users;
	int client_cert_auth;
	int serverkeygen;
	char *realm;
};

/* One path family: /.well-known/est/<op> (label NULL) or
 * /.well-known/est/<label>/<op>.  Read-only after init. */
struct est_route {
	const char *label;          /* borrowed from the config, or NULL */
	const struct profile *prof; /* borrowed from the gateway policy */
	char *cacerts;              /* base64 certs-only PKCS#7 */
	size_t cacerts_len;
	char *csrattrs; /* base64 CsrAttrs DER */
	size_t csrattrs_len;
	X509_STORE *trust; /* the profile's CA chain */
};

struct est_auth;

struct est {
	struct gateway *gw;
	struct est_config *cfg;
	struct est_auth *auth;
	struct est_route *routes; /* [0] is the default route */
	size_t n_routes;
};

enum est_op { EST_OP_SIMPLEENROLL, EST_OP_SIMPLEREENROLL, EST_OP_SERVERKEYGEN };

/* est_config.c */

/* Validate the section (NULL = absent, all defaults).  0, or -1 with a
 * sentence naming the key path ("est.users[1].name: ...") in err. */
int est_config_check(const json_t *conf, char *err, size_t errlen);
/* Check, then build the parsed config; caller frees.  NULL on error. */
struct est_config *est_config_new(const json_t *conf, char *err, size_t errlen);
void est_config_free(struct est_config *cfg);
/* 1 when `label` matches [A-Za-z0-9_-]{1,64}, else 0. */
int est_label_valid(const char *label);
/* The user called `name`, or NULL. */
const struct est_user *est_config_user(
    const struct est_config *cfg, const char *name);

/* est_auth.c */

/* The Basic cache and its random key; NULL on failure. */
struct est_auth *est_auth_new(void);
void est_auth_free(struct est_auth *a);
/*
 * Parse "Basic <base64(user:pass)>" strictly: bounded, no NUL, user
 * non-empty and without ':'.  user and pass are NUL-terminated on
 * success (cleanse pass after use).  0 / -1.
 */
int est_auth_parse_basic(
    const char *hdr, char *user, size_t usersz, char *pass, size_t passsz);
/*
 * Check a user's password at time `now`: a hit in the cache of recent
 * successes, else passwd_verify (a dummy verify for unknown users).
 * 1 accepted, 0 refused, -1 error.
 */
int est_auth_password(struct est_auth *a, const struct est_config *cfg,
    const char *user, const char *pass, time_t now);

/*
 * The same check in two phases, so that the slow hash runs off the
 * event loop: est_auth_password_begin is cheap.  It returns 1 (cache
 * hit), 0 (refused at once) or 2: then run passwd_verify(pass, *hash)
 * elsewhere (for an unknown user *hash is a real user's, and *known is
 * 0 so the result must be ignored) and hand its result to
 * est_auth_password_end, which caches a success and returns 1 / 0 / -1.
 */
int est_auth_password_begin(struct est_auth *a, const struct est_config *cfg,
    const char *user, const char *pass, time_t now, const char **hash,
    int *known);
int est_auth_password_end(struct est_auth *a, const char *user,
    const char *pass, time_t now, int known, int verified);
/* 1 when (user, pass) is in the cache and fresh at `now`; for tests. */
int est_auth_cache_hit(
    struct est_auth *a, const char *user, const char *pass, time_t now);
/* A store that trusts exactly `chain` (issuer first); caller frees. */
X509_STORE *est_auth_trust_new(STACK_OF(X509) *chain);
/*
 * Verify a client certificate against `trust` at the current time.
 * 0, or -1 with a sentence safe to show the client in why.
 */
int est_auth_cert_verify(
    X509_STORE *trust, X509 *cert, char *why, size_t whysz);
/*
 * RFC 7030 §4.2.2: a re-enroll CSR must carry the subject and the
 * subjectAltNames of the certificate it renews.  Compares the subject
 * (X509_NAME_cmp) and the identifiers of `req` (collected by
 * enroll_req_take_csr) with those of `cert` as sets of type and value.
 * 1 match, 0 mismatch (why written), -1 error.
 */
int est_auth_renewal_match(
    const struct enroll_req *req, X509 *cert, char *why, size_t whysz);

/* est_render.c */

/* HTTP status for a pipeline outcome; *retry_after gets seconds for a
 * Retry-After header, or 0 for none. */
int est_render_status(enum enroll_reason reason, unsigned *retry_after);
/* Base64 (76-char CRLF lines) of a certs-only PKCS#7 of first + rest.
 * malloc'd, caller frees; NULL on error. */
char *est_render_certs_b64(X509 *first, STACK_OF(X509) *rest, size_t *len);
/*
 * The RFC 7030 §4.4.2 multipart/mixed body: PKCS#8 of `key`, then the
 * certs-only PKCS#7 of `cert`.  The Content-Type (with the boundary) is
 * written to ctype.  malloc'd, caller must OPENSSL_cleanse and free (it
 * holds the private key); NULL on error.
 */
char *est_render_serverkeygen(
    EVP_PKEY *key, X509 *cert, size_t *len, char *ctype, size_t ctypesz);

/* csrattrs.c */

/*
 * RFC 7030 §4.5.2: CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID
 *   AttrOrOID ::= CHOICE (oid OBJECT IDENTIFIER, attribute Attribute)
 */
typedef struct {
	int type;
	union {
		ASN1_OBJECT *oid;
		X509_ATTRIBUTE *attribute;
	} value;
} EST_ATTR_OR_OID;

#define EST_ATTR_OR_OID_OID 0
#define EST_ATTR_OR_OID_ATTRIBUTE 1

DECLARE_ASN1_FUNCTIONS(EST_ATTR_OR_OID)
DEFINE_STACK_OF(EST_ATTR_OR_OID)
typedef STACK_OF(EST_ATTR_OR_OID) EST_CSRATTRS;
DECLARE_ASN1_FUNCTIONS(EST_CSRATTRS)

/* DER CsrAttrs for a key kind (RSA, P-256, P-384, P-521, Ed25519);
 * malloc'd (OPENSSL_free), *len set.  NULL on error or other kinds. */
unsigned char *est_csrattrs_der(enum key_kind kind, size_t *len);

/* est_enroll.c */

/* Run one enrollment operation on `rt`; always ends in one reply. */
void est_enroll_handle(struct est *est, const struct est_route *rt,
    enum est_op op, struct http_req *r);

#endif
