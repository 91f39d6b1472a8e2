/*
 * The registry of front ends: the only place they are named.
 */
#include <stddef.h>

#include "protocols/acme/acme.h"
#include "protocols/challenge/challenge.h"
#include "protocols/est/est.h"
#include "protocols/protocol.h"
#include "protocols/publish/publish.h"
#include "protocols/scep/scep.h"

const struct proto_handler *const proto_handlers[] = {
    &est_handler,
    &acme_handler,
    &scep_handler,
    &publish_handler,
    &challenge_handler,
    NULL,
};
