/*
 * core/approval.c on a temporary SQLite store: the life of a request key
 * through the states a deferring backend gives it.  A key never seen is
 * "none"; queued "upstream" it is listed for resumption with its protocol
 * and can be rebuilt as a request; "failed" keeps the backend's reason and
 * detail for every retry; "issued" names the serial; forgetting it makes
 * it new again; and a write that names a stale version conflicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "core/approval.h"
#include "core/cert.h"
#include "core/enroll.h"
#include "core/store.h"
#include "tests/unit/store_fixture.h"

static int
setup(void **state)
{
	static struct store_fx f;

	if (store_fx_open(&f, "test_approval") == -1)
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

/* A request for `name` with a fresh P-256 key and a CSR naming it. */
static struct enroll_req *
request_for(const char *name)
{
	struct enroll_req *req = enroll_req_new(ENROLL_PROTO_SCEP);
	EVP_PKEY *key = cert_keygen(KEY_P256, 0);
	X509_REQ *csr = X509_REQ_new();
	X509_NAME *subj = X509_NAME_new();

	assert_non_null(req);
	assert_non_null(key);
	assert_non_null(csr);
	assert_non_null(subj);
	assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
	                     (const unsigned char *)name, -1, -1, 0),
	    1);
	assert_int_equal(X509_REQ_set_subject_name(csr, subj), 1);
	assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
	assert_true(X509_REQ_sign(csr, key, EVP_sha256()) > 0);
	assert_int_equal(enroll_req_set_profile(req, "default"), 0);
	assert_int_equal(
	    enroll_req_set_requester(req, "dev", ENROLL_AUTH_PASSWORD), 0);
	assert_int_equal(enroll_req_take_csr(req, csr), ENROLL_OK);
	X509_NAME_free(subj);
	EVP_PKEY_free(key);
	return req;
}

/* Run one write set; its rc. */
static int
run(struct store_conn *c, struct store_txn *t)
{
	assert_non_null(t);
	return store_txn_run(c, t);
}

static struct store_txn *
txn(void)
{
	struct store_txn *t = store_txn_new();

	assert_non_null(t);
	return t;
}

static int
collect(const char *key, enum enroll_proto proto, void *arg)
{
	char *out = arg;

	assert_int_equal(proto, ENROLL_PROTO_SCEP);
	strncat(out, key, 200);
	strcat(out, ";");
	return 0;
}

static void
test_upstream_life(void **state)
{
	struct store_fx *f = *state;
	struct enroll_req *req = request_for("dev1.example.com"), *back;
	struct approval_info info;
	struct store_txn *t;
	char listed[512] = "";

	assert_int_equal(approval_lookup(f->c, "scep:T1", &info), 0);
	assert_int_equal(info.state, APPROVAL_NONE);

	t = txn();
	assert_int_equal(approval_txn_upstream(t, "scep:T1", 0, req), 0);
	assert_int_equal(run(f->c, t), 0);
	assert_int_equal(approval_lookup(f->c, "scep:T1", &info), 0);
	assert_int_equal(info.state, APPROVAL_UPSTREAM);
	assert_true(info.version > 0);

	/* A second "new" queueing of the same key conflicts. */
	t = txn();
	assert_int_equal(approval_txn_upstream(t, "scep:T1", 0, req), 0);
	assert_int_equal(run(f->c, t), 1);

	assert_int_equal(approval_each_upstream(f->c, collect, listed), 0);
	assert_string_equal(listed, "scep:T1;");

	/* What a restart rebuilds: the same CSR, profile and requester. */
	back = approval_request(f->c, "scep:T1", ENROLL_PROTO_SCEP);
	assert_non_null(back);
	assert_string_equal(back->profile, "default");
	assert_string_equal(back->requester, "dev");
	assert_string_equal(back->pending_key, "scep:T1");
	assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(back->csr),
	                     X509_REQ_get_subject_name(req->csr)),
	    0);
	enroll_req_free(back);

	/* Issued: the serial is what every retry gets. */
	t = txn();
	assert_int_equal(
	    approval_txn_issued(t, "scep:T1", info.version, "0A1B"), 0);
	assert_int_equal(run(f->c, t), 0);
	assert_int_equal(approval_lookup(f->c, "scep:T1", &info), 0);
	assert_int_equal(info.state, APPROVAL_ISSUED);
	assert_string_equal(info.serial, "0A1B");
	listed[0] = '\0';
	assert_int_equal(approval_each_upstream(f->c, collect, listed), 0);
	assert_string_equal(listed, "");
	enroll_req_free(req);
}

static void
test_failed_and_forgotten(void **state)
{
	struct store_fx *f = *state;
	struct enroll_req *req = request_for("dev2.example.com");
	struct approval_info info;
	struct store_txn *t;
	long stale;

	t = txn();
	assert_int_equal(approval_txn_upstream(t, "est:ab", 0, req), 0);
	assert_int_equal(run(f->c, t), 0);
	assert_int_equal(approval_lookup(f->c, "est:ab", &info), 0);
	stale = info.version;

	t = txn();
	assert_int_equal(
	    approval_txn_failed(t, "est:ab", info.version,
	        ENROLL_NAME_FORBIDDEN, "the upstream CA refused: blocked"),
	    0);
	assert_int_equal(run(f->c, t), 0);
	assert_int_equal(approval_lookup(f->c, "est:ab", &info), 0);
	assert_int_equal(info.state, APPROVAL_FAILED);
	assert_int_equal(info.reason, ENROLL_NAME_FORBIDDEN);
	assert_string_equal(info.detail, "the upstream CA refused: blocked");

	/* A writer that read the old version loses. */
	t = txn();
	assert_int_equal(approval_txn_issued(t, "est:ab", stale, "FF"), 0);
	assert_int_equal(run(f->c, t), 1);

	t = txn();
	assert_int_equal(approval_txn_forget(t, "est:ab"), 0);
	assert_int_equal(run(f->c, t), 0);
	assert_int_equal(approval_lookup(f->c, "est:ab", &info), 0);
	assert_int_equal(info.state, APPROVAL_NONE);
	/* Forgetting twice: nothing to delete, a conflict. */
	t = txn();
	assert_int_equal(approval_txn_forget(t, "est:ab"), 0);
	assert_int_equal(run(f->c, t), 1);
	enroll_req_free(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_upstream_life, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_and_forgotten, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
