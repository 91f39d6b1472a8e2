/*
 * The CA backend registry: the only place implementations are named
 * (STYLE.md rule 2, after curl's vtls.c).
 */
#include <stddef.h>
#include <string.h>

#include "backends/acme/acme_backend.h"
#include "backends/backend.h"
#include "backends/local/local.h"

const struct ca_backend *const ca_backends[] = {
    &local_ca_backend,
    &acme_upstream_backend,
    NULL,
};

/* The backend whose config "type" is `name`; NULL when unknown or NULL. */
const struct ca_backend *
ca_backend_find(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; ca_backends[i] != NULL; i++)
		if (strcmp(ca_backends[i]->name, name) == 0)
			return ca_backends[i];
	return NULL;
}
