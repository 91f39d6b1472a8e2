/*
 * SCEP server (RFC 8894) under /scep.
 */
#ifndef ENROLLD_SCEP_H
#define ENROLLD_SCEP_H

#include "protocols/protocol.h"

extern const struct proto_handler scep_handler;

#endif
