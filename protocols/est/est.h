/*
 * EST front end (RFC 7030, RFC 8951): the handler table the registry lists.
 */
#ifndef ENROLLD_EST_H
#define ENROLLD_EST_H

#include "protocols/protocol.h"

extern const struct proto_handler est_handler;

#endif
