/*
 * Private to protocols/scep/: what scep.c and scep_otp.c share.
 */
#ifndef ENROLLD_SCEP_INT_H
#define ENROLLD_SCEP_INT_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "protocols/protocol.h"

struct gateway;
struct http_req;
struct scep_webhook;

/* The handler's state, shared by the workers, read-only after init. */
struct scep {
	struct gateway *gw;
	char *default_profile;
	char *challenge;           /* static challenge password, or NULL */
	struct scep_webhook *hook; /* decides other challenges, or NULL */
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	int allow_des;
	int des_reply_aes; /* answer DES requests with AES, not 3DES */
	char caps[256];    /* GetCACaps body */
	/* { PROFILE: [caps] }: per-profile GetCACaps, borrowed from the
	 * config, which lives as long as the process. */
	const json_t *profile_caps;
	/* GetNextCACert (§4.6): the signed answer, made once at init, or
	 * NULL when no CA rollover is under way. */
	unsigned char *next_ca;
	size_t next_ca_len;
};

/* §4.3 PKIOperation with the pkiMessage DER (scep_pkiop.c): ends r. */
void scep_pkiop(struct scep *s, struct http_req *r, const char *profile,
    const unsigned char *der, size_t len);

/* Store kind of one-time challenge passwords; id = SHA-256 hex. */
#define SCEP_KIND_OTP "scep.otp"

/* The store id of a one-time password: lower-case hex SHA-256 (64
 * chars + NUL into out). */
void scep_otp_id(const char *password, char *out, size_t outsz);

/* `enrolld scep-otp add --config FILE [--ttl SECONDS]`. */
extern const struct proto_command scep_commands[];

#endif
