/*
 * The process-wide state the front ends share: config, policy, backends,
 * store.  Built once before the workers start, read-only afterwards.
 */
#ifndef ENROLLD_GATEWAY_H
#define ENROLLD_GATEWAY_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

struct gateway;
struct policy;
struct profile;
struct store;
struct store_conn;
struct worker;
struct ca_backend;
struct event_base;

/* The config root (borrowed) and the directory relative paths are under. */
const json_t *gateway_config(const struct gateway *gw);
const char *gateway_basedir(const struct gateway *gw);
struct policy *gateway_policy(const struct gateway *gw);
struct store *gateway_store(const struct gateway *gw);

/* The backend instance that serves a profile; *priv gets its state.
 * NULL when the profile names no configured backend. */
const struct ca_backend *gateway_backend(
    const struct gateway *gw, const struct profile *prof, void **priv);

/* The issuing chain for a profile (issuer first), borrowed; NULL on error. */
STACK_OF(X509) *gateway_ca_chain(
    const struct gateway *gw, const struct profile *prof);

/* The calling worker's store connection, for reads. */
struct store_conn *worker_store_conn(struct worker *w);

/*
 * The current DER CRL of the backend of `prof`: cached, rebuilt from the
 * store when older than GATEWAY_CRL_TTL seconds or after a revocation
 * through this process.  Returns a malloc'd copy (caller frees) and *len;
 * NULL on error or when the backend makes no CRLs.
 */
#define GATEWAY_CRL_TTL 5
unsigned char *gateway_crl(struct gateway *gw, struct store_conn *sc,
    const struct profile *prof, size_t *len);
/* A certificate of `prof`'s backend was revoked: drop its cached CRL. */
void gateway_crl_invalidate(struct gateway *gw, const struct profile *prof);

/*
 * Each backend's state for one worker loop (backend.h worker_init), on
 * the main thread before the loop runs.  The first worker also resumes,
 * once its loop runs, the enrollments an upstream CA still owes
 * (enroll_resume) on `sc`, its store connection.  0 / -1.
 */
int gateway_worker_init(struct gateway *gw, struct event_base *base,
    struct store_conn *sc, int first);
/* After that loop ended (backend.h worker_free). */
void gateway_worker_free(struct gateway *gw, struct event_base *base);

/*
 * Build the gateway from a config root (taken: freed by gateway_free).
 * With open_store 0 nothing is opened or started (check-config): config,
 * policy, backends and protocol sections are still fully checked.
 * NULL with a sentence naming the key in err.
 */
struct gateway *gateway_new(json_t *root, const char *basedir, int open_store,
    char *err, size_t errlen);
void gateway_free(struct gateway *gw);

#endif
