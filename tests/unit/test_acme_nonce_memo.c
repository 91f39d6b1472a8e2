/*
 * protocols/acme/nonce_memo.c: a nonce put is claimed once, an unknown,
 * malformed or expired one never; a slot reused forgets the older nonce;
 * the expiry rule is the store's (store_nonce_unexpired); two threads
 * never both claim one nonce.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/store.h"
#include "protocols/acme/nonce_memo.h"

#define MANY 5000
#define BATCH 256

static void
test_claim_once(void **state)
{
	struct nonce_memo *m;
	char n[STORE_NONCE_LEN + 1], other[STORE_NONCE_LEN + 1];
	time_t now = time(NULL);

	(void)state;
	assert_non_null(m = nonce_memo_new());
	assert_int_equal(store_nonce_make(n, sizeof(n), now + 60), 0);
	assert_int_equal(store_nonce_make(other, sizeof(other), now + 60), 0);
	assert_int_equal(nonce_memo_claim(m, n, now), 0);
	nonce_memo_put(m, n);
	assert_int_equal(nonce_memo_claim(m, other, now), 0);
	assert_int_equal(nonce_memo_claim(m, n, now), 1);
	/* A replay asks the store. */
	assert_int_equal(nonce_memo_claim(m, n, now), 0);
	/* Malformed input is neither kept nor matched. */
	nonce_memo_put(m, "short");
	assert_int_equal(nonce_memo_claim(m, "short", now), 0);
	assert_int_equal(nonce_memo_claim(m, "", now), 0);
	nonce_memo_free(m);
	nonce_memo_free(NULL);
	assert_int_equal(nonce_memo_claim(NULL, n, now), 0);
}

/* Expired at `now` is expired here as in the store, and forgotten. */
static void
test_expiry(void **state)
{
	struct nonce_memo *m;
	char n[STORE_NONCE_LEN + 1];
	time_t now = time(NULL);

	(void)state;
	assert_non_null(m = nonce_memo_new());
	assert_int_equal(store_nonce_make(n, sizeof(n), now), 0);
	assert_int_equal(store_nonce_unexpired(n, now), 1);
	assert_int_equal(store_nonce_unexpired(n, now + 1), 0);
	nonce_memo_put(m, n);
	assert_int_equal(nonce_memo_claim(m, n, now + 1), 0);
	assert_int_equal(nonce_memo_claim(m, n, now), 0);
	nonce_memo_put(m, n);
	assert_int_equal(nonce_memo_claim(m, n, now), 1);
	nonce_memo_free(m);
}

/*
 * Of many nonces put, each is claimed at most once, every claim is of a
 * nonce put, and the most recent ones are all still there (they map to
 * distinct slots often enough that most of the last few hundred stay).
 */
static void
test_many(void **state)
{
	static char n[MANY][STORE_NONCE_LEN + 1];
	struct nonce_memo *m;
	time_t now = time(NULL);
	int i, claimed = 0, recent = 0;

	(void)state;
	assert_non_null(m = nonce_memo_new());
	for (i = 0; i < MANY; i++) {
		assert_int_equal(
		    store_nonce_make(n[i], sizeof(n[i]), now + 60), 0);
		nonce_memo_put(m, n[i]);
	}
	for (i = 0; i < MANY; i++) {
		if (nonce_memo_claim(m, n[i], now) == 1) {
			claimed++;
			recent += i >= MANY - 100;
			assert_int_equal(nonce_memo_claim(m, n[i], now), 0);
		}
	}
	/* 1024 slots: about 1024 * (1 - 1/e) of them hold a nonce. */
	assert_in_range(claimed, 500, 1024);
	assert_in_range(recent, 85, 100);
	nonce_memo_free(m);
}

struct racer {
	struct nonce_memo *m;
	char (*n)[STORE_NONCE_LEN + 1];
	int won[BATCH];
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;
	time_t now = time(NULL);
	int i;

	for (i = 0; i < BATCH; i++)
		r->won[i] = nonce_memo_claim(r->m, r->n[i], now);
	return NULL;
}

/* Two workers presenting the same nonces: each is claimed once at most,
 * so a replay on another worker still goes to the store. */
static void
test_threads(void **state)
{
	static char n[BATCH][STORE_NONCE_LEN + 1];
	static struct racer r[2];
	struct nonce_memo *m;
	pthread_t t[2];
	time_t now = time(NULL);
	int i, round, both = 0, claimed = 0;

	(void)state;
	assert_non_null(m = nonce_memo_new());
	for (round = 0; round < 20; round++) {
		for (i = 0; i < BATCH; i++) {
			assert_int_equal(
			    store_nonce_make(n[i], sizeof(n[i]), now + 60), 0);
			nonce_memo_put(m, n[i]);
		}
		for (i = 0; i < 2; i++) {
			r[i].m = m;
			r[i].n = n;
			assert_int_equal(
			    pthread_create(&t[i], NULL, racer_main, &r[i]), 0);
		}
		for (i = 0; i < 2; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		for (i = 0; i < BATCH; i++) {
			both += r[0].won[i] && r[1].won[i];
			claimed += r[0].won[i] || r[1].won[i];
		}
	}
	assert_int_equal(both, 0);
	assert_true(claimed > 20 * BATCH / 2);
	nonce_memo_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claim_once),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
