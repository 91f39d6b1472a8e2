/*
 * One-time tokens (core/store.h): their format.  The expiry comes first
 * so that tokens sort by it; the random part makes them unguessable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "core/log.h"
#include "core/rand_pool.h"
#include "core/store.h"

#define NONCE_RANDOM_BYTES 16 /* 22 base64url characters */

int
store_nonce_make(char *buf, size_t len, time_t expires)
{
	unsigned char r[NONCE_RANDOM_BYTES];
	char *b64 = NULL;
	int rc = -1;

	if (len < STORE_NONCE_LEN + 1 || expires < 0)
		goto out;
	if (rand_pool_bytes(r, sizeof(r)) == -1) {
		log_openssl(LOG_LVL_ERROR, "store: nonce");
		goto out;
	}
	if ((b64 = encoding_b64url_encode(r, sizeof(r))) == NULL ||
	    strlen(b64) != STORE_NONCE_LEN - 8)
		goto out;
	store_nonce_time_key(expires, buf);
	snprintf(buf + 8, len - 8, "%s", b64);
	rc = 0;
out:
	free(b64);
	return rc;
}

void
store_nonce_time_key(time_t t, char key[9])
{
	snprintf(key, 9, "%08llx", (unsigned long long)t & 0xffffffffULL);
}

int
store_nonce_unexpired(const char *nonce, time_t now)
{
	char key[9];

	store_nonce_time_key(now, key);
	return strncmp(nonce, key, 8) >= 0;
}
