/*
 * Password hashing: PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) in the format
 * "$pbkdf2-sha256$ITER$SALT_B64$HASH_B64" (standard base64 with padding).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/encoding.h"
#include "core/passwd.h"

#define PASSWD_PREFIX "$pbkdf2-sha256$"
#define PASSWD_DEFAULT_ITER 200000u
#define PASSWD_MIN_ITER 1000u
#define PASSWD_MAX_ITER 10000000u
#define PASSWD_SALT_LEN 16
/* Salts read back may come from other tools: bound them, not fix them. */
#define PASSWD_SALT_MIN 8
#define PASSWD_SALT_MAX 64
#define PASSWD_HASH_LEN 32

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

/* PBKDF2-HMAC-SHA256 of `password` into out[PASSWD_HASH_LEN]. 0 / -1. */
static int
derive(const char *password, const unsigned char *salt, size_t saltlen,
    unsigned iter, unsigned char *out)
{
	size_t pwlen = strlen(password);

	if (pwlen > INT_MAX || saltlen > INT_MAX || iter > INT_MAX)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen,
	        (int)iter, EVP_sha256(), PASSWD_HASH_LEN, out) != 1)
		return -1;
	return 0;
}

char *
passwd_hash(const char *password, unsigned iterations)
{
	unsigned char salt[PASSWD_SALT_LEN], hash[PASSWD_HASH_LEN];
	char *salt64 = NULL, *hash64 = NULL, *ret = NULL;
	size_t len;

	if (password == NULL)
		goto out;
	if (iterations == 0)
		iterations = PASSWD_DEFAULT_ITER;
	if (iterations < PASSWD_MIN_ITER || iterations > PASSWD_MAX_ITER)
		goto out;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		goto out;
	if (derive(password, salt, sizeof(salt), iterations, hash) == -1)
		goto out;
	if ((salt64 = encoding_b64_encode(salt, sizeof(salt), 0, NULL)) ==
	        NULL ||
	    (hash64 = encoding_b64_encode(hash, sizeof(hash), 0, NULL)) == NULL)
		goto out;
	len = sizeof(PASSWD_PREFIX) + 10 + 1 + strlen(salt64) + 1 +
	    strlen(hash64) + 1;
	if ((ret = malloc(len)) == NULL)
		goto out;
	snprintf(
	    ret, len, "%s%u$%s$%s", PASSWD_PREFIX, iterations, salt64, hash64);
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	free(salt64);
	free(hash64);
	return ret;
}

/*
 * Decimal iteration count of exactly the digits in [s, end): no sign, no
 * leading zero, within PASSWD_MIN_ITER..PASSWD_MAX_ITER.  0 / -1.
 */
static int
parse_iter(const char *s, const char *end, unsigned *iter)
{
	unsigned long v = 0;

	if (s == end || (*s == '0'))
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > PASSWD_MAX_ITER)
			return -1;
	}
	if (v < PASSWD_MIN_ITER)
		return -1;
	*iter = (unsigned)v;
	return 0;
}

/*
 * Decode base64 in [s, end) strictly: only the standard alphabet and
 * '=' (encoding_b64_decode would also skip white space).
 */
static unsigned char *
parse_b64(const char *s, const char *end, size_t *len)
{
	const char *c;

	for (c = s; c < end; c++)
		if (*c == '\0' || strchr(b64_chars, *c) == NULL)
			return NULL;
	return encoding_b64_decode(s, (size_t)(end - s), len);
}

int
passwd_verify(const char *password, const char *encoded)
{
	unsigned char *salt = NULL, *want = NULL, got[PASSWD_HASH_LEN];
	const char *p, *d1, *d2;
	size_t saltlen = 0, wantlen = 0;
	unsigned iter;
	int rc = -1;

	if (password == NULL || encoded == NULL ||
	    strncmp(encoded, PASSWD_PREFIX, strlen(PASSWD_PREFIX)) != 0)
		goto out;
	p = encoded + strlen(PASSWD_PREFIX);
	if ((d1 = strchr(p, '$')) == NULL || (d2 = strchr(d1 + 1, '$')) == NULL)
		goto out;
	if (parse_iter(p, d1, &iter) == -1)
		goto out;
	if ((salt = parse_b64(d1 + 1, d2, &saltlen)) == NULL ||
	    saltlen < PASSWD_SALT_MIN || saltlen > PASSWD_SALT_MAX)
		goto out;
	if ((want = parse_b64(d2 + 1, d2 + 1 + strlen(d2 + 1), &wantlen)) ==
	        NULL ||
	    wantlen != PASSWD_HASH_LEN)
		goto out;
	if (derive(password, salt, saltlen, iter, got) == -1)
		goto out;
	rc = CRYPTO_memcmp(got, want, PASSWD_HASH_LEN) == 0 ? 1 : 0;
out:
	OPENSSL_cleanse(got, sizeof(got));
	free(salt);
	free(want);
	return rc;
}

int
passwd_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return 0;
	if (alen == 0)
		return 1;
	return CRYPTO_memcmp(a, b, alen) == 0 ? 1 : 0;
}
