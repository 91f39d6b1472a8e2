/*
 * Publication of the CA: certificates, CRLs and a health check over
 * plain GET (RFC 5280 §4.2.1.13 distribution points want HTTP).
 */
#ifndef ENROLLD_PUBLISH_H
#define ENROLLD_PUBLISH_H

#include "protocols/protocol.h"

extern const struct proto_handler publish_handler;

#endif
