/*
 * Private to protocols/acme/: the handler's state, one request's
 * context, and the functions the ACME files share.
 *
 * Flow of a POST (RFC 8555 §6):
 *   acme_req_begin   media type, JWS parse, url, nonce, account (kid) or
 *                    jwk, signature                      -> problem or on
 *   resource handler reads the store, checks, and either
 *                    - fills the reply and calls acme_req_commit, or
 *                    - starts asynchronous work (finalize) that calls
 *                      acme_req_commit later
 *   acme_req_commit  one store transaction: the handler's writes + the
 *                    used nonce deleted + a fresh nonce inserted; the
 *                    reply goes out only after it is durable.
 */
#ifndef ENROLLD_ACME_INT_H
#define ENROLLD_ACME_INT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/http.h"
#include "core/store.h"
#include "protocols/acme/jws.h"
#include "protocols/acme/nonces.h"
#include "protocols/protocol.h"
#include "protocols/acme/validate.h"

struct gateway;
struct http_req;
struct profile;

/* Object kinds in the store (core/store.h struct store_obj). */
#define ACME_KIND_ACCOUNT "acme.account" /* key1 thumbprint */
#define ACME_KIND_ORDER "acme.order"     /* key1 account id */
#define ACME_KIND_AUTHZ "acme.authz"     /* key1 account, key2 order */
#define ACME_KIND_EAB "acme.eab"         /* key1 bound account id */
#define ACME_KIND_VFAIL "acme.vfail"     /* key1 account: failed validation */

#define ACME_ID_LEN 22 /* base64url of 16 random bytes */
#define ACME_MAX_IDENTS 100

/* RFC 8555 §6.7 problem types, without the urn prefix. */
#define ACME_ERR_MALFORMED "malformed"
#define ACME_ERR_BAD_NONCE "badNonce"
#define ACME_ERR_UNAUTHORIZED "unauthorized"
#define ACME_ERR_BAD_CSR "badCSR"
#define ACME_ERR_BAD_SIG_ALG "badSignatureAlgorithm"
#define ACME_ERR_BAD_PUBLIC_KEY "badPublicKey"
#define ACME_ERR_REJECTED_ID "rejectedIdentifier"
#define ACME_ERR_UNSUPPORTED_ID "unsupportedIdentifier"
#define ACME_ERR_NO_ACCOUNT "accountDoesNotExist"
#define ACME_ERR_EAB_REQUIRED "externalAccountRequired"
#define ACME_ERR_ORDER_NOT_READY "orderNotReady"
#define ACME_ERR_RATE_LIMITED "rateLimited"
#define ACME_ERR_ALREADY_REVOKED "alreadyRevoked"
#define ACME_ERR_BAD_REVOCATION_REASON "badRevocationReason"
#define ACME_ERR_SERVER "serverInternal"
#define ACME_ERR_USER_ACTION "userActionRequired"
#define ACME_ERR_CONTACT "invalidContact"
#define ACME_ERR_UNSUPPORTED_CONTACT "unsupportedContact"

struct acme_cfg {
	char *default_profile;
	char **profiles; /* allowed in paths and newOrder "profile" */
	size_t n_profiles;
	char *terms_of_service;
	char *website;
	char **caa_identities; /* NULL-terminated */
	int eab_required;
	int order_lifetime_s; /* pending orders and authorizations */
	int nonce_lifetime_s;
	int shared_nonces;   /* nonce_scope "shared": kept in the store */
	int orders_per_hour; /* per account; 0 = unlimited */
	int failed_validations_per_hour;
	int retry_after_s; /* processing orders */
	struct acme_validate_cfg validate;
};

struct acme {
	struct gateway *gw;
	struct acme_cfg cfg;
	struct acme_nonces *nonces; /* handed out, not presented yet */
};

#define ACME_KEY_CACHE 256

/* One cached account key (acme_req.c). */
struct acme_key_slot {
	char id[65];
	long version;
	EVP_PKEY *key;
	struct jws_verifier *ver; /* NULL: verify by key alone */
};

/* Per worker: what is bound to that worker's loop. */
struct acme_worker {
	struct acme *acme;
	struct event_base *base;
	struct acme_validator *validator;
	struct acme_key_slot keys[ACME_KEY_CACHE];
};

/* One request in flight. */
struct acme_req {
	struct acme *acme;
	struct acme_worker *aw;
	struct http_req *r;
	struct store_conn *sc;
	char base[256];   /* "https://HOST/acme", no trailing slash */
	char url[512];    /* the request URL as the client must sign it */
	char profile[65]; /* from the path, or the default */
	struct jws *jws;
	json_t *payload;          /* object, or NULL for POST-as-GET */
	EVP_PKEY *key;            /* the verified signer's key */
	struct jws_verifier *ver; /* borrowed from the key cache, valid
	                           * until the handler returns */
	struct store_obj account; /* the kid's account (kind NULL if none) */
	char thumbprint[64];      /* of the signing JWK (jwk requests) */
	struct store_txn *txn;    /* the writes of this request */
	char nonce_new[STORE_NONCE_LEN + 1];
	/* The reply, sent after the commit. */
	int status;
	json_t *body; /* JSON reply, or NULL */
	char *raw;    /* non-JSON reply (certificate chain) */
	size_t raw_len;
	const char *raw_type;
	char location[512];
	char link_up[512];
	int retry_after;
	/* Work to start once the commit succeeded (a validation); freed
	 * with after_commit_free when the request fails instead. */
	void (*after_commit)(struct acme_req *ar, void *arg);
	void (*after_commit_free)(void *arg);
	void *after_commit_arg;
	int hold_reply; /* after_commit took over sending the reply */
	/* The writes must reach the disk before the reply: accounts and
	 * their keys, revocations.  Orders, authorizations and challenges
	 * are bookkeeping a client redoes if a power cut undoes it; they
	 * commit without waiting for the disk (certificates themselves are
	 * always durable, in the pipeline's own transaction). */
	int durable;
};

#define acme_req_id(ar) ((ar)->r != NULL ? http_req_id((ar)->r) : "-")

/* acme_cli.c: `enrolld eab add`. */
extern const struct proto_command acme_commands[];

/* acme.c: configuration. */
int acme_cfg_check(const json_t *conf, char *err, size_t errlen);
int acme_cfg_load(
    struct acme_cfg *cfg, const json_t *conf, char *err, size_t errlen);
void acme_cfg_free(struct acme_cfg *cfg);
/* 1 when `name` may be used as an ACME profile. */
int acme_profile_allowed(const struct acme *acme, const char *name);

/* acme_req.c: request life cycle. */
struct acme_req *acme_req_new(struct acme *acme, struct http_req *r);
/* Authenticate a POST (§6.2-6.5).  need_jwk: the endpoint takes a jwk
 * (newAccount; revokeCert may take either, pass -1).  0, or -1 after a
 * problem reply (ar freed). */
int acme_req_auth(struct acme_req *ar, int need_jwk);
/* Reply with a problem document (§6.7) now, with a fresh nonce; frees
 * ar.  `type` is one of the ACME_ERR_* suffixes. */
void acme_req_problem(struct acme_req *ar, int status, const char *type,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Same with a subproblems array, or an object of extra members
 * (taken). */
void acme_req_problem_sub(struct acme_req *ar, int status, const char *type,
    json_t *subproblems, const char *detail);
/* Commit ar->txn (plus nonces) and send the prepared reply; frees ar. */
void acme_req_commit(struct acme_req *ar);
void acme_req_free(struct acme_req *ar);
/* Send the prepared reply without writing anything (no nonce). */
void acme_req_send_now(struct acme_req *ar);
/* Instead of acme_req_commit: hand ar->txn (plus the reply's fresh nonce)
 * over to `t`, a transaction someone else commits, then acme_req_send_now
 * once it has.  0 / -1. */
int acme_req_commit_into(struct acme_req *ar, struct store_txn *t);

/* URL of a resource: base + "/" + path parts. */
void acme_url(const struct acme_req *ar, char *out, size_t outsz,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A new random id (ACME_ID_LEN chars + NUL). */
int acme_random_id(char *out, size_t outsz);
/* RFC 3339 UTC time, and back (0 when unparsable). */
void acme_time(time_t t, char *out, size_t outsz);
time_t acme_parse_time(const char *s);

/* acme_store.c: loading and saving documents. */
/* Load kind/id into out and parse its JSON (*doc, caller decrefs).
 * 0 found, 1 absent, -1 error. */
int acme_obj_load(struct store_conn *sc, const char *kind, const char *id,
    struct store_obj *out, json_t **doc);
/* Load an object whose key1 is the signing account (orders,
 * authorizations); `what` names it in the 404.  0, or -1 after a
 * problem reply. */
int acme_obj_load_owned(struct acme_req *ar, const char *kind, const char *what,
    const char *id, struct store_obj *o, json_t **doc);
/* Per-account hourly limit: objects of `kind` whose key1 is the account
 * and made in the last hour (orders, failed validations).  0, or -1
 * after a 429 rateLimited reply naming `what`. */
int acme_rate_check(
    struct acme_req *ar, const char *kind, int limit, const char *what);
/* Queue a put of `o` with `doc` serialised as its JSON. 0 / -1. */
int acme_obj_save(
    struct store_txn *t, const struct store_obj *o, const json_t *doc);

/* acme_account.c */
void acme_new_account(struct acme_req *ar);
void acme_account(struct acme_req *ar, const char *id);
void acme_key_change(struct acme_req *ar);

/* acme_order.c */
void acme_new_order(struct acme_req *ar);
void acme_order(struct acme_req *ar, const char *id);
void acme_finalize(struct acme_req *ar, const char *id);
/* acme_finalize.c: a poll of a processing order (takes o and doc). */
void acme_order_processing(
    struct acme_req *ar, struct store_obj *o, json_t *doc);
/* acme_order.c: the client-visible order (§7.1.3). */
json_t *acme_order_render(
    struct acme_req *ar, const char *id, const json_t *doc, const char *status);
void acme_orders_list(struct acme_req *ar, const char *account_id);
/* The order document's status as the client sees it: pending orders
 * whose authorizations are all valid are "ready", any invalid or expired
 * one makes it "invalid".  Writes into status (>= 16 bytes). */
int acme_order_status(struct store_conn *sc, const json_t *order,
    time_t expires, char *status, size_t statussz);

/* acme_authz.c */
void acme_authz(struct acme_req *ar, const char *id);
void acme_challenge(
    struct acme_req *ar, const char *authz_id, const char *type);
/* A new pending authorization for one identifier of an order, queued in
 * ar->txn; its id into id_out. 0 / -1. */
int acme_authz_create(struct acme_req *ar, const char *order_id,
    const json_t *identifier, time_t expires, char *id_out, size_t idsz);

/* acme_cert.c */
void acme_cert_download(struct acme_req *ar, const char *serial);
void acme_revoke(struct acme_req *ar);
void acme_renewal_info(struct acme_req *ar, const char *cert_id);
/* RFC 9773 §4.1 certID: the certificate it names, serial and issuer key
 * id both matching.  0 found (rec filled, caller clears), 1 none, -1 not
 * a certID. */
int acme_certid_lookup(
    struct store_conn *sc, const char *certid, struct cert_record *rec);

/* acme_dir.c: unsigned GET resources. */
void acme_directory(struct acme_req *ar);
void acme_new_nonce(struct acme_req *ar);

#endif
