/*
 * The nonces this process handed out that no request has presented yet
 * (RFC 8555 §6.5).  A nonce is claimed once, whichever worker sees it:
 * the first request presenting it removes it.
 *
 * With acme.nonce_scope "node" (the default) this table is where nonces
 * live, as in Pebble and Boulder's nonce service: a nonce not here is
 * refused, and nothing about nonces is written to the store, so a
 * POST-as-GET writes nothing at all.  A restart forgets them: each
 * client's next request is answered badNonce with a fresh nonce, which
 * clients retry with (§6.5).
 *
 * With "shared" (several nodes on one database) the store is the
 * authority and this table only a shortcut: a nonce not here is looked
 * up in the store, and taking it in the request's transaction conflicts
 * when another request used it first.  (A replay sent to the node that
 * issued the nonce, after another node took it, is then refused by that
 * conflict at commit.)
 *
 * Set-associative: a nonce put into a full set pushes out the one that
 * expires first, an expired one before any other.  The table holds
 * NONCES_CAPACITY nonces; a client that kept an old nonce while that
 * many newer ones were handed out is told badNonce.  Shared by the
 * workers' threads.
 */
#ifndef ENROLLD_ACME_NONCES_H
#define ENROLLD_ACME_NONCES_H

#include <time.h>

#define NONCES_CAPACITY (1u << 17) /* 4 MB */

struct acme_nonces;

/* NULL on allocation failure. */
struct acme_nonces *acme_nonces_new(void);
void acme_nonces_free(struct acme_nonces *n);
/* Remember a nonce from store_nonce_make(); any other text is ignored. */
void acme_nonces_put(struct acme_nonces *n, const char *nonce);
/* 1 when `nonce` was put, not claimed or pushed out since, and is
 * unexpired at `now`: it is forgotten.  0 otherwise. */
int acme_nonces_claim(struct acme_nonces *n, const char *nonce, time_t now);

#endif
