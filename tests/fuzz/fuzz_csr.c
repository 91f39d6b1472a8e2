/*
 * libFuzzer target for CSR inspection: csr_from_der, then identifier
 * extraction and the signature check on whatever parsed; and csr_parse
 * on the same bytes, checked against csr_from_der (the two must accept
 * the same version-0 CSRs with a usable key, find the same key and the
 * same signature verdict).  A disagreement aborts.  Not built by
 * default:
 *   clang -g -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_csr.c \
 *       core/csr.c core/csr_fast.c core/cert.c core/enroll_req.c \
 *       core/log.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/csr.h"
#include "core/enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the rest of the pipeline reads from a parsed CSR. */
static void
inspect(X509_REQ *csr)
{
	struct enroll_req *req;
	char *pw;

	if ((req = enroll_req_new(ENROLL_PROTO_CLI)) != NULL) {
		(void)csr_collect_idents(csr, req);
		enroll_req_free(req);
	}
	pw = csr_challenge_password(csr);
	free(pw);
}

/* csr_parse on the bytes that gave `ref` (NULL when refused). */
static void
differential(const uint8_t *data, size_t size, X509_REQ *ref)
{
	EVP_PKEY *key = NULL, *ref_key = NULL;
	X509_REQ *fast;
	int ok = 0, usable;

	if (ref != NULL)
		ref_key = X509_REQ_get0_pubkey(ref);
	usable = ref_key != NULL && X509_REQ_get_version(ref) == 0;
	fast = csr_parse(data, size, &key, &ok);
	if (fast == NULL) {
		if (usable || key != NULL)
			abort();
		return;
	}
	if (ref == NULL || key == NULL)
		abort();
	inspect(fast);
	if (ref_key != NULL) {
		if (EVP_PKEY_eq(key, ref_key) != 1)
			abort();
		if (ok != (csr_verify_signature(ref) == 0))
			abort();
	}
	X509_REQ_free(fast);
	EVP_PKEY_free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *csr;

	if ((csr = csr_from_der(data, size)) != NULL) {
		inspect(csr);
		(void)csr_verify_signature(csr);
	}
	differential(data, size, csr);
	X509_REQ_free(csr);
	return 0;
}
