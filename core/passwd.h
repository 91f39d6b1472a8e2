/*
 * Password hashing for stored credentials (EST users, later SCEP one-time
 * passwords).  Format: "$pbkdf2-sha256$ITER$SALT_B64$HASH_B64".
 */
#ifndef ENROLLD_PASSWD_H
#define ENROLLD_PASSWD_H

#include <stddef.h>

/* Hash a password with a fresh 16-byte salt and `iterations` (0 =
 * default 200000).  Returns malloc'd string, caller frees; NULL on error. */
char *passwd_hash(const char *password, unsigned iterations);

/*
 * 1 when `password` matches `encoded`, 0 when it does not, -1 when
 * `encoded` is malformed.  The final comparison is constant time.
 */
int passwd_verify(const char *password, const char *encoded);

/* Constant-time comparison of two byte strings of possibly different
 * lengths (the length difference is not hidden). 1 equal, 0 not. */
int passwd_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
