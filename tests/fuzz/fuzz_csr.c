/*
 * libFuzzer target for CSR inspection: csr_from_der, then identifier
 * extraction and the signature check on whatever parsed.  Not built by
 * default:
 *   clang -g -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_csr.c \
 *       core/csr.c core/cert.c core/enroll_req.c core/log.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/csr.h"
#include "core/enroll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enroll_req *req;
	X509_REQ *csr;
	char *pw;

	if ((csr = csr_from_der(data, size)) == NULL)
		return 0;
	if ((req = enroll_req_new(ENROLL_PROTO_CLI)) != NULL) {
		(void)csr_collect_idents(csr, req);
		enroll_req_free(req);
	}
	(void)csr_verify_signature(csr);
	pw = csr_challenge_password(csr);
	free(pw);
	X509_REQ_free(csr);
	return 0;
}
