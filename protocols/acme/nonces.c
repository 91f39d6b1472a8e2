/*
 * Nonces handed out and not presented yet (nonces.h): sets of
 * NONCE_WAYS nonces, chosen by the nonce's random part.  A token sorts by
 * its expiry (store.h), so the one a full set gives up is its smallest.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/store.h"
#include "protocols/acme/nonces.h"

#define NONCE_WAYS 8
#define NONCE_SET_BITS 14
#define NONCE_SETS (1u << NONCE_SET_BITS)
#define NONCE_EXPIRY_LEN 8 /* the hex expiry that starts a token */

_Static_assert((NONCE_SETS) * (NONCE_WAYS) == NONCES_CAPACITY,
    "NONCES_CAPACITY is the table's size");

/* An empty way starts with '\0'. */
typedef char nonce_way[STORE_NONCE_LEN + 2]; /* 32 bytes */

struct acme_nonces {
	pthread_mutex_t mu; /* held to scan one set: never long */
	nonce_way set[NONCE_SETS][NONCE_WAYS];
};

/* Four characters of the random part, spread over the sets
 * (Fibonacci hashing: the top bits of a multiplication by 2^32 / phi). */
static nonce_way *
nonce_set(struct acme_nonces *n, const char *nonce)
{
	uint32_t v;

	memcpy(&v, nonce + NONCE_EXPIRY_LEN, sizeof(v));
	return n->set[(uint32_t)(v * 2654435769u) >> (32 - NONCE_SET_BITS)];
}

struct acme_nonces *
acme_nonces_new(void)
{
	struct acme_nonces *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	if (pthread_mutex_init(&n->mu, NULL) != 0) {
		free(n);
		return NULL;
	}
	return n;
}

void
acme_nonces_free(struct acme_nonces *n)
{
	if (n == NULL)
		return;
	pthread_mutex_destroy(&n->mu);
	free(n);
}

void
acme_nonces_put(struct acme_nonces *n, const char *nonce)
{
	nonce_way *set;
	size_t i, victim = 0;

	if (n == NULL || strlen(nonce) != STORE_NONCE_LEN)
		return;
	set = nonce_set(n, nonce);
	pthread_mutex_lock(&n->mu);
	for (i = 0; i < NONCE_WAYS; i++) {
		if (set[i][0] == '\0') {
			victim = i;
			break;
		}
		if (memcmp(set[i], set[victim], NONCE_EXPIRY_LEN) < 0)
			victim = i;
	}
	memcpy(set[victim], nonce, STORE_NONCE_LEN + 1);
	pthread_mutex_unlock(&n->mu);
}

int
acme_nonces_claim(struct acme_nonces *n, const char *nonce, time_t now)
{
	nonce_way *set;
	size_t i;
	int found = 0;

	if (n == NULL || strlen(nonce) != STORE_NONCE_LEN)
		return 0;
	set = nonce_set(n, nonce);
	pthread_mutex_lock(&n->mu);
	for (i = 0; i < NONCE_WAYS && !found; i++)
		if ((found = strcmp(set[i], nonce) == 0))
			set[i][0] = '\0';
	pthread_mutex_unlock(&n->mu);
	return found && store_nonce_unexpired(nonce, now);
}
