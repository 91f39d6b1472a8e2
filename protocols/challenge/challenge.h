/*
 * Answers to an upstream ACME CA's http-01 challenges (RFC 8555 §8.3):
 * GET /.well-known/acme-challenge/TOKEN over plain HTTP, served from the
 * shared store (core/chal_store.h), so every enrolld node answers for a
 * challenge that any node accepted.
 */
#ifndef ENROLLD_CHALLENGE_H
#define ENROLLD_CHALLENGE_H

#include "protocols/protocol.h"

extern const struct proto_handler challenge_handler;

#endif
