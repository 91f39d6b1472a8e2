/*
 * core/rand_pool.c: draws of every size succeed and stay inside their
 * buffer; no bytes are handed out twice, across refills or between
 * threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "core/rand_pool.h"

#define VAL_LEN 16
#define MANY 10000
#define STREAM_LEN 65536
#define GUARD 32
#define PER_THREAD 5000

struct val {
	unsigned char b[VAL_LEN];
};

static int
val_cmp(const void *a, const void *b)
{
	return memcmp(a, b, VAL_LEN);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sort `n` values and fail on the first one present twice. */
static void
assert_all_distinct(struct val *v, size_t n)
{
	size_t i;

	qsort(v, n, sizeof(*v), val_cmp);
	for (i = 1; i < n; i++)
		assert_memory_not_equal(v[i - 1].b, v[i].b, VAL_LEN);
}

/*
 * One draw of `len` into a buffer filled with 0xa5 and followed by guard
 * bytes: it succeeds, writes nothing past `len` and (for 16 bytes or
 * more, where a miss is 2^-128 likely) changes the buffer.
 */
static void
check_draw(size_t len)
{
	unsigned char buf[300 + GUARD], fill[300 + GUARD];

	assert_true(len <= 300);
	memset(buf, 0xa5, sizeof(buf));
	memset(fill, 0xa5, sizeof(fill));
	assert_int_equal(rand_pool_bytes(buf, len), 0);
	assert_memory_equal(buf + len, fill + len, GUARD);
	if (len >= VAL_LEN)
		assert_memory_not_equal(buf, fill, len);
}

/* Pooled sizes (up to a quarter of the pool) and direct ones. */
static void
test_sizes(void **state)
{
	static const size_t sizes[] = {1, 16, 20, 127, 128, 129, 300};
	unsigned char one;
	size_t i;
	int changed = 0;

	(void)state;
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		check_draw(sizes[i]);
	assert_int_equal(rand_pool_bytes(&one, 0), 0);
	/* One byte: 64 draws all zero is a 2^-512 chance. */
	for (i = 0; i < 64; i++) {
		one = 0;
		assert_int_equal(rand_pool_bytes(&one, 1), 0);
		changed |= one != 0;
	}
	assert_true(changed);
}

/* 10000 nonce-sized draws (about 300 refills): all different. */
static void
test_many_distinct(void **state)
{
	struct val *v;
	size_t i;

	(void)state;
	assert_non_null(v = calloc(MANY, sizeof(*v)));
	for (i = 0; i < MANY; i++)
		assert_int_equal(rand_pool_bytes(v[i].b, VAL_LEN), 0);
	assert_all_distinct(v, MANY);
	free(v);
}

/*
 * Draws of sizes that do not divide 512, so many of them span a refill,
 * laid end to end: no 8-byte run appears twice at any offset (a random
 * collision among 64 Ki windows is about 2^-33 likely).  Bytes handed
 * out twice, shifted, or wiped bytes handed out instead of fresh ones
 * would all repeat a run.  Shorter slips (a wiped byte or a byte left
 * unwritten, both zero) show as too many zeros: 256 expected, standard
 * deviation 16, so twice that is 16 deviations away.
 */
static void
test_refill_boundary(void **state)
{
	static const size_t sizes[] = {7, 20, 33, 128, 1, 61, 100};
	unsigned char *s;
	uint64_t *w;
	size_t off = 0, i = 0, n, zeros = 0;

	(void)state;
	assert_non_null(s = calloc(1, STREAM_LEN));
	assert_non_null(w = calloc(STREAM_LEN, sizeof(*w)));
	while (off < STREAM_LEN) {
		n = sizes[i++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > STREAM_LEN - off)
			n = STREAM_LEN - off;
		assert_int_equal(rand_pool_bytes(s + off, n), 0);
		off += n;
	}
	for (n = 0; n < STREAM_LEN; n++)
		zeros += s[n] == 0;
	assert_true(zeros < 2 * STREAM_LEN / 256);
	for (n = 0; n + sizeof(*w) <= STREAM_LEN; n++)
		memcpy(&w[n], s + n, sizeof(*w));
	qsort(w, n, sizeof(*w), u64_cmp);
	for (i = 1; i < n; i++)
		assert_true(w[i - 1] != w[i]);
	free(w);
	free(s);
}

struct drawer {
	pthread_barrier_t *start;
	struct val *out;
	int rc;
};

/* Wait for the other thread, then draw PER_THREAD values. */
static void *
drawer_main(void *arg)
{
	struct drawer *d = arg;
	size_t i;

	pthread_barrier_wait(d->start);
	d->rc = 0;
	for (i = 0; i < PER_THREAD; i++)
		if (rand_pool_bytes(d->out[i].b, VAL_LEN) == -1)
			d->rc = -1;
	return NULL;
}

/* Two threads drawing at the same time: every value different. */
static void
test_two_threads(void **state)
{
	pthread_barrier_t start;
	pthread_t t[2];
	struct drawer d[2];
	struct val *v;
	size_t i;

	(void)state;
	assert_non_null(v = calloc(2 * PER_THREAD, sizeof(*v)));
	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (i = 0; i < 2; i++) {
		d[i].start = &start;
		d[i].out = v + i * PER_THREAD;
		d[i].rc = 1;
		assert_int_equal(
		    pthread_create(&t[i], NULL, drawer_main, &d[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(d[i].rc, 0);
	}
	pthread_barrier_destroy(&start);
	assert_all_distinct(v, 2 * PER_THREAD);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_many_distinct),
	    cmocka_unit_test(test_refill_boundary),
	    cmocka_unit_test(test_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
