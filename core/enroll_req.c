/*
 * struct enroll_req: construction, identifiers, ownership.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "core/csr.h"
#include "core/enroll.h"
#include "core/rand_pool.h"

static const char *const reason_codes[ENROLL_REASON_MAX] = {
    [ENROLL_OK] = "ok",
    [ENROLL_PENDING] = "pending",
    [ENROLL_MALFORMED] = "malformed",
    [ENROLL_BAD_CSR] = "badCSR",
    [ENROLL_BAD_SIGNATURE] = "badSignature",
    [ENROLL_BAD_KEY] = "badKey",
    [ENROLL_NAME_FORBIDDEN] = "nameForbidden",
    [ENROLL_WILDCARD_FORBIDDEN] = "wildcardForbidden",
    [ENROLL_IP_FORBIDDEN] = "ipForbidden",
    [ENROLL_IDENT_UNSUPPORTED] = "identifierUnsupported",
    [ENROLL_TOO_MANY_NAMES] = "tooManyNames",
    [ENROLL_NO_NAMES] = "noNames",
    [ENROLL_VALIDITY] = "validityTooLong",
    [ENROLL_UNAUTHORIZED] = "unauthorized",
    [ENROLL_UNKNOWN_PROFILE] = "unknownProfile",
    [ENROLL_RENEWAL_MISMATCH] = "renewalMismatch",
    [ENROLL_REVOKED] = "revoked",
    [ENROLL_NOT_FOUND] = "notFound",
    [ENROLL_BACKEND_ERROR] = "backendError",
    [ENROLL_STORE_ERROR] = "storeError",
    [ENROLL_CONFLICT] = "conflict",
    [ENROLL_INTERNAL] = "internalError",
    [ENROLL_SHUTTING_DOWN] = "shuttingDown",
};

const char *
enroll_reason_code(enum enroll_reason r)
{
	if ((unsigned)r >= ENROLL_REASON_MAX || reason_codes[r] == NULL)
		return "internalError";
	return reason_codes[r];
}

const char *
enroll_proto_name(enum enroll_proto p)
{
	switch (p) {
	case ENROLL_PROTO_EST:
		return "est";
	case ENROLL_PROTO_ACME:
		return "acme";
	case ENROLL_PROTO_SCEP:
		return "scep";
	case ENROLL_PROTO_CLI:
		return "cli";
	}
	return "unknown";
}

struct enroll_req *
enroll_req_new(enum enroll_proto proto)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[8];
	struct enroll_req *req;
	size_t i;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->proto = proto;
	if (rand_pool_bytes(rnd, sizeof(rnd)) == -1) {
		free(req);
		return NULL;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		req->id[2 * i] = hex[rnd[i] >> 4];
		req->id[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	req->id[2 * sizeof(rnd)] = '\0';
	return req;
}

void
enroll_req_free(struct enroll_req *req)
{
	size_t i;

	if (req == NULL)
		return;
	for (i = 0; i < req->n_idents; i++)
		free(req->idents[i].value);
	free(req->idents);
	free(req->profile);
	free(req->requester);
	free(req->subject);
	X509_REQ_free(req->csr);
	X509_free(req->renewal_of);
	EVP_PKEY_free(req->server_key);
	free(req->pending_key);
	EVP_PKEY_free(req->csr_key);
	free(req);
}

int
enroll_req_add_ident(
    struct enroll_req *req, enum ident_type type, const char *value)
{
	struct enroll_ident *grown, *id;

	grown = realloc(req->idents, (req->n_idents + 1) * sizeof(*grown));
	if (grown == NULL)
		return -1;
	req->idents = grown;
	id = &req->idents[req->n_idents];
	memset(id, 0, sizeof(*id));
	id->type = type;
	if ((id->value = strdup(value)) == NULL)
		return -1;
	if (type == IDENT_IP) {
		if (inet_pton(AF_INET, value, id->ip) == 1)
			id->ip_len = 4;
		else if (inet_pton(AF_INET6, value, id->ip) == 1)
			id->ip_len = 16;
		else {
			free(id->value);
			return -1;
		}
	}
	req->n_idents++;
	return 0;
}

static int
replace_string(char **slot, const char *value)
{
	char *copy = NULL;

	if (value != NULL && (copy = strdup(value)) == NULL)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

int
enroll_req_set_profile(struct enroll_req *req, const char *profile)
{
	return replace_string(&req->profile, profile);
}

int
enroll_req_set_requester(
    struct enroll_req *req, const char *who, enum enroll_auth how)
{
	if (replace_string(&req->requester, who) == -1)
		return -1;
	req->auth = how;
	return 0;
}

enum enroll_reason
enroll_req_take_csr(struct enroll_req *req, X509_REQ *csr)
{
	X509_REQ_free(req->csr);
	req->csr = csr;
	/* A key kept from an earlier CSR would belong to another one. */
	EVP_PKEY_free(req->csr_key);
	req->csr_key = NULL;
	req->csr_sig_ok = 0;
	if (csr == NULL || csr_collect_idents(csr, req) == -1)
		return ENROLL_BAD_CSR;
	return ENROLL_OK;
}

enum enroll_reason
enroll_req_take_csr_der(
    struct enroll_req *req, const unsigned char *der, size_t len)
{
	enum enroll_reason reason;
	EVP_PKEY *key = NULL;
	X509_REQ *csr;
	int sig_ok = 0;

	csr = csr_parse(der, len, &key, &sig_ok);
	reason = enroll_req_take_csr(req, csr);
	if (csr == NULL)
		return ENROLL_MALFORMED;
	/* Set after take_csr, which drops any earlier key. */
	req->csr_key = key;
	req->csr_sig_ok = sig_ok;
	return reason;
}
