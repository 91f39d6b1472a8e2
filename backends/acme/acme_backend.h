/*
 * The upstream ACME CA backend ("type": "acme", docs/config.md): an
 * external ACME CA issues, enrolld's policy decides.
 */
#ifndef ENROLLD_ACME_BACKEND_H
#define ENROLLD_ACME_BACKEND_H

#include "backends/backend.h"

extern const struct ca_backend acme_upstream_backend;

#endif
