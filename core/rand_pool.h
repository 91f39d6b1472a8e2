/*
 * Random bytes for values that are public once used: ACME replay nonces
 * and object ids, request ids, certificate serial numbers.
 *
 * Why: each RAND_bytes() call carries a fixed cost (the DRBG's per-call
 * work and a getpid() fork check) whatever its length; measured with
 * OpenSSL 3.0.22 on the development machine, 1 to 2 µs per call, and 512
 * bytes cost no more than 16.  An ACME order makes ten or more such small
 * draws, so each thread keeps a pool refilled by one RAND_bytes() call.
 *
 * NOT for keys, passwords, salts, MAC keys or any other secret: OpenSSL
 * makes private keys itself, and est_auth.c (RAND_priv_bytes), passwd.c,
 * scep_otp.c and acme_cli.c keep their own RAND calls.  The pool holds
 * the next values of this thread in memory until they are drawn, which
 * is fine for values about to be published and not for secrets.
 *
 * Bytes handed out are wiped from the pool, so no drawn value stays in
 * it.
 *
 * Fork: a child that keeps running without exec must not draw from a
 * pool filled before the fork, or parent and child hand out the same
 * values (the same serial twice).  enrolld only starts children through
 * posix_spawn (core/spawn.c), which execs at once.
 */
#ifndef ENROLLD_RAND_POOL_H
#define ENROLLD_RAND_POOL_H

#include <stddef.h>

/*
 * Fill `buf` with `len` bytes from the CSPRNG: from this thread's pool
 * when `len` is at most a quarter of it, else straight from RAND_bytes().
 * 0 / -1; on failure the OpenSSL errors are logged, the pool is left
 * empty and `buf` holds nothing usable.
 */
int rand_pool_bytes(unsigned char *buf, size_t len);

#endif
