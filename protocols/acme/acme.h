/*
 * ACME server (RFC 8555) under /acme/.
 */
#ifndef ENROLLD_ACME_H
#define ENROLLD_ACME_H

#include "protocols/protocol.h"

extern const struct proto_handler acme_handler;

#endif
