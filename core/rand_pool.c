/*
 * A per-thread pool of CSPRNG bytes for public values (core/rand_pool.h).
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/log.h"
#include "core/rand_pool.h"

#define RAND_POOL_SIZE 512
/* Larger draws gain little from the pool and would drain it. */
#define RAND_POOL_DIRECT_OVER (RAND_POOL_SIZE / 4)

/*
 * The unread bytes are the last `pool_avail` of `pool`; everything before
 * them has been handed out and wiped.  Thread-local, so no lock.
 */
static _Thread_local unsigned char pool[RAND_POOL_SIZE];
static _Thread_local size_t pool_avail;

/*
 * One RAND_bytes() call for `len` bytes; `what` names the draw in the
 * log.  0 / -1, and then nothing a failed call may have written is left
 * in buf.
 */
static int
rand_direct(unsigned char *buf, size_t len, const char *what)
{
	if (len > INT_MAX) {
		log_error("msg=\"%s\" wanted=%zu max=%d", what, len, INT_MAX);
		return -1;
	}
	if (RAND_bytes(buf, (int)len) != 1) {
		log_openssl(LOG_LVL_ERROR, what);
		OPENSSL_cleanse(buf, len);
		return -1;
	}
	return 0;
}

/* Refill the whole pool.  0 / -1, the pool empty on failure. */
static int
pool_refill(void)
{
	pool_avail = 0; /* until RAND_bytes() has succeeded */
	if (rand_direct(pool, sizeof(pool), "rand_pool: refill") == -1)
		return -1;
	pool_avail = sizeof(pool);
	return 0;
}

int
rand_pool_bytes(unsigned char *buf, size_t len)
{
	unsigned char *src;
	size_t done = 0, n;

	if (len > RAND_POOL_DIRECT_OVER)
		return rand_direct(buf, len, "rand_pool: direct draw");
	/* A draw may span a refill: the old bytes first, then new ones. */
	while (done < len) {
		if (pool_avail == 0 && pool_refill() == -1) {
			OPENSSL_cleanse(buf, len);
			return -1;
		}
		n = len - done < pool_avail ? len - done : pool_avail;
		src = pool + sizeof(pool) - pool_avail;
		memcpy(buf + done, src, n);
		OPENSSL_cleanse(src, n);
		pool_avail -= n;
		done += n;
	}
	return 0;
}
