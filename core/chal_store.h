/*
 * The answers to an upstream ACME CA's http-01 challenges (RFC 8555
 * §8.3), kept in the shared store so that whichever enrolld node the
 * CA's validation request reaches can serve them.  One store object per
 * challenge: kind CHAL_STORE_KIND, id = the token, json
 * {"keyauth": "TOKEN.THUMBPRINT"}, and an expiry after which no node
 * serves it and housekeeping removes it.
 */
#ifndef ENROLLD_CHAL_STORE_H
#define ENROLLD_CHAL_STORE_H

#include <time.h>

#include "core/store.h"

#define CHAL_STORE_KIND "upstream.http01"
/* RFC 8555 §8.1 tokens are base64url; longer ones are refused. */
#define CHAL_STORE_TOKEN_MAX 128

/* 1 when token is 1..CHAL_STORE_TOKEN_MAX base64url characters
 * (RFC 4648 §5, no padding), else 0. */
int chal_store_token_ok(const char *token);

/*
 * Queue in t the insertion of the answer keyauth for token, served until
 * `expires` (> 0).  keyauth must be the RFC 8555 §8.1 key authorization
 * of that token, "TOKEN.THUMBPRINT".  The set conflicts when the token
 * is already stored and unexpired.  0, or -1 on bad input or allocation
 * failure (nothing queued).
 */
int chal_store_txn_put(struct store_txn *t, const char *token,
    const char *keyauth, time_t expires);

/*
 * Queue in t the removal of token's answer.  The set conflicts when it
 * is absent (expired, or removed already): queue it in a set of its own
 * when that must not undo other writes.  0 / -1.
 */
int chal_store_txn_delete(struct store_txn *t, const char *token);

/*
 * The answer stored for token, read on sc: 0 with *keyauth set (caller
 * frees), 1 when there is none (unknown, expired or not a valid token),
 * -1 on a store error or an unreadable object.
 */
int chal_store_get(struct store_conn *sc, const char *token, char **keyauth);

#endif
