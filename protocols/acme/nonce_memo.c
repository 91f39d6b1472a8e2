/*
 * Nonces handed out and not presented yet (nonce_memo.h): a direct-mapped
 * table of the nonces themselves, indexed by their random part.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/store.h"
#include "protocols/acme/nonce_memo.h"

/* Far more than the requests a worker has in flight; 32 KB. */
#define MEMO_SLOT_BITS 10
#define MEMO_SLOTS (1u << MEMO_SLOT_BITS)

struct nonce_memo {
	pthread_mutex_t mu; /* held for a copy or a compare: never long */
	char slot[MEMO_SLOTS][STORE_NONCE_LEN + 1];
};

/* Four characters of the random part, spread over the slots
 * (Fibonacci hashing: the top bits of a multiplication by 2^32 / phi). */
static size_t
memo_index(const char *nonce)
{
	uint32_t v;

	memcpy(&v, nonce + 8, sizeof(v));
	return (uint32_t)(v * 2654435769u) >> (32 - MEMO_SLOT_BITS);
}

struct nonce_memo *
nonce_memo_new(void)
{
	struct nonce_memo *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if (pthread_mutex_init(&m->mu, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

void
nonce_memo_free(struct nonce_memo *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void
nonce_memo_put(struct nonce_memo *m, const char *nonce)
{
	size_t i;

	if (m == NULL || strlen(nonce) != STORE_NONCE_LEN)
		return;
	i = memo_index(nonce);
	pthread_mutex_lock(&m->mu);
	memcpy(m->slot[i], nonce, STORE_NONCE_LEN + 1);
	pthread_mutex_unlock(&m->mu);
}

int
nonce_memo_claim(struct nonce_memo *m, const char *nonce, time_t now)
{
	char *s;
	int found;

	if (m == NULL || strlen(nonce) != STORE_NONCE_LEN)
		return 0;
	s = m->slot[memo_index(nonce)];
	pthread_mutex_lock(&m->mu);
	if ((found = strcmp(s, nonce) == 0))
		s[0] = '\0';
	pthread_mutex_unlock(&m->mu);
	return found && store_nonce_unexpired(nonce, now);
}
