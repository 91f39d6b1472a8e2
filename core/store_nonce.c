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
	snprintf(buf, len, "%08llx%s",
	    (unsigned long long)expires & 0xffffffffULL, b64);
	rc = 0;
out:
	free(b64);
	return rc;
}
