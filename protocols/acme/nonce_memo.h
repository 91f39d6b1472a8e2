/*
 * The nonces this process handed out that no request has presented yet,
 * so that the usual request, which presents the nonce of the reply
 * before, skips the store lookup of it (RFC 8555 §6.5).  Only a
 * shortcut: the store stays the authority, since taking the nonce in the
 * request's transaction conflicts when another request used it first.
 *
 * A nonce is claimed once, whichever worker sees it: the first request
 * presenting it removes it, so a replay arriving later is looked up in
 * the store as before and refused there, before any work, once the first
 * request committed.  (Nodes sharing a database each keep their own memo:
 * a replay sent to the node that issued the nonce, after another node
 * took it, is refused by the conflict at commit instead.)  Direct-mapped:
 * a nonce whose slot is reused is simply looked up in the store.  Shared
 * by the workers' threads.
 */
#ifndef ENROLLD_ACME_NONCE_MEMO_H
#define ENROLLD_ACME_NONCE_MEMO_H

#include <time.h>

struct nonce_memo;

/* NULL on allocation failure. */
struct nonce_memo *nonce_memo_new(void);
void nonce_memo_free(struct nonce_memo *m);
/* Remember a nonce from store_nonce_make(); any other text is ignored. */
void nonce_memo_put(struct nonce_memo *m, const char *nonce);
/* 1 when `nonce` was put, not claimed since and unexpired at `now`: it
 * is forgotten.  0 otherwise: ask the store. */
int nonce_memo_claim(struct nonce_memo *m, const char *nonce, time_t now);

#endif
