/*
 * core/chal_store.c on a temporary SQLite store: an answer put is read
 * back, a second put of the same token conflicts, delete removes it once,
 * an expired answer is not served and its token can be used again, bad
 * tokens and key authorizations are refused, and an object that another
 * writer left unreadable is an error, not an answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/chal_store.h"
#include "core/store.h"
#include "tests/unit/store_fixture.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define THUMB "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define KEYAUTH TOKEN "." THUMB

static int
setup(void **state)
{
	static struct store_fx f;

	if (store_fx_open(&f, "test_chal_store") == -1)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	store_fx_close(*state);
	return 0;
}

/* Put one answer in a set of its own: the set's rc (0, 1 conflict, -1),
 * or -2 when chal_store_txn_put refused it. */
static int
put1(struct store_conn *c, const char *token, const char *ka, time_t exp)
{
	struct store_txn *t = store_txn_new();

	assert_non_null(t);
	if (chal_store_txn_put(t, token, ka, exp) == -1) {
		store_txn_free(t);
		return -2;
	}
	return store_txn_run(c, t);
}

static int
del1(struct store_conn *c, const char *token)
{
	struct store_txn *t = store_txn_new();

	assert_non_null(t);
	if (chal_store_txn_delete(t, token) == -1) {
		store_txn_free(t);
		return -2;
	}
	return store_txn_run(c, t);
}

/* chal_store_get's rc; the answer must match want when found. */
static int
get1(struct store_conn *c, const char *token, const char *want)
{
	char *ka = (char *)"unset";
	int rc = chal_store_get(c, token, &ka);

	if (rc == 0) {
		assert_non_null(ka);
		assert_string_equal(ka, want);
		free(ka);
	} else {
		assert_null(ka);
	}
	return rc;
}

static void
test_put_get_delete(void **state)
{
	struct store_fx *f = *state;
	time_t exp = time(NULL) + 86400;

	assert_int_equal(get1(f->c, TOKEN, NULL), 1);
	assert_int_equal(put1(f->c, TOKEN, KEYAUTH, exp), 0);
	assert_int_equal(get1(f->c, TOKEN, KEYAUTH), 0);
	/* The same token again: a conflict, the first answer stays. */
	assert_int_equal(put1(f->c, TOKEN, TOKEN ".other", exp), 1);
	assert_int_equal(get1(f->c, TOKEN, KEYAUTH), 0);
	assert_int_equal(get1(f->c, "otherToken", NULL), 1);
	assert_int_equal(del1(f->c, TOKEN), 0);
	assert_int_equal(get1(f->c, TOKEN, NULL), 1);
	assert_int_equal(del1(f->c, TOKEN), 1);
}

static void
test_expired(void **state)
{
	struct store_fx *f = *state;
	time_t now = time(NULL);

	assert_int_equal(put1(f->c, "expiring", "expiring.abc", now - 1), 0);
	assert_int_equal(get1(f->c, "expiring", NULL), 1);
	assert_int_equal(del1(f->c, "expiring"), 1);
	/* The expired row does not hold the token. */
	assert_int_equal(put1(f->c, "expiring", "expiring.def", now + 60), 0);
	assert_int_equal(get1(f->c, "expiring", "expiring.def"), 0);
}

static void
test_refused(void **state)
{
	struct store_fx *f = *state;
	time_t exp = time(NULL) + 60;
	char longtok[CHAL_STORE_TOKEN_MAX + 2], longka[2 * sizeof(longtok)];

	memset(longtok, 'A', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	snprintf(longka, sizeof(longka), "%s.x", longtok);
	assert_int_equal(put1(f->c, longtok, longka, exp), -2);
	/* One byte shorter is the limit itself. */
	longtok[CHAL_STORE_TOKEN_MAX] = '\0';
	snprintf(longka, sizeof(longka), "%s.x", longtok);
	assert_int_equal(put1(f->c, longtok, longka, exp), 0);
	assert_int_equal(get1(f->c, longtok, longka), 0);

	assert_int_equal(put1(f->c, "", ".x", exp), -2);
	assert_int_equal(put1(f->c, "a/b", "a/b.x", exp), -2);
	assert_int_equal(put1(f->c, "a.b", "a.b.x", exp), -2);
	assert_int_equal(put1(f->c, "ab==", "ab==.x", exp), -2);
	assert_int_equal(put1(f->c, "../x", "../x.x", exp), -2);
	/* The key authorization belongs to another token, or is not one. */
	assert_int_equal(put1(f->c, "tok", "other.x", exp), -2);
	assert_int_equal(put1(f->c, "tok", "tok", exp), -2);
	assert_int_equal(put1(f->c, "tok", "tok.", exp), -2);
	assert_int_equal(put1(f->c, "tok", "tok.x\n", exp), -2);
	assert_int_equal(put1(f->c, "tok", "tok.x y", exp), -2);
	assert_int_equal(put1(f->c, "tok", NULL, exp), -2);
	assert_int_equal(put1(f->c, "tok", "tok.x", 0), -2);
	assert_int_equal(del1(f->c, "a/b"), -2);
	/* Not a token: absent without asking the store. */
	assert_int_equal(get1(f->c, "a/b", NULL), 1);
	assert_int_equal(get1(f->c, "", NULL), 1);
	assert_int_equal(chal_store_token_ok(NULL), 0);
}

/* A document another writer left broken is an error, not an answer. */
static void
test_unreadable(void **state)
{
	static const char *const bad[] = {"not json", "[]", "{}",
	    "{\"keyauth\":1}", "{\"keyauth\":\"other.x\"}",
	    "{\"keyauth\":\"bad.x\\n\"}"};
	struct store_fx *f = *state;
	struct store_obj o;
	struct store_txn *t;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.kind = (char *)CHAL_STORE_KIND;
		o.id = (char *)"bad";
		o.json = (char *)bad[i];
		o.expires = time(NULL) + 60;
		assert_non_null(t = store_txn_new());
		assert_int_equal(store_txn_put(t, &o), 0);
		assert_int_equal(store_txn_run(f->c, t), 0);
		assert_int_equal(get1(f->c, "bad", NULL), -1);
		assert_int_equal(del1(f->c, "bad"), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_delete),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_unreadable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
