/*
 * Private to protocols/scep/: what scep.c and scep_otp.c share.
 */
#ifndef ENROLLD_SCEP_INT_H
#define ENROLLD_SCEP_INT_H

#include <stddef.h>

#include "protocols/protocol.h"

/* Store kind of one-time challenge passwords; id = SHA-256 hex. */
#define SCEP_KIND_OTP "scep.otp"

/* The store id of a one-time password: lower-case hex SHA-256 (64
 * chars + NUL into out). */
void scep_otp_id(const char *password, char *out, size_t outsz);

/* `enrolld scep-otp add --config FILE [--ttl SECONDS]`. */
extern const struct proto_command scep_commands[];

#endif
