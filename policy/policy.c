/*
 * The policy: the set of profiles from the config's "profiles" object,
 * and read-only accessors for the other modules.  Parsing one profile is
 * profile.c's job; judging a request is rules.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy/policy_int.h"

struct policy {
	struct profile **profiles; /* in config order */
	size_t n;
};

struct policy *
policy_new(const json_t *profiles, char *err, size_t errlen)
{
	struct policy *pol = NULL, *ret = NULL;
	const char *name;
	json_t *v;

	if (!json_is_object(profiles)) {
		snprintf(err, errlen,
		    "profiles: must be an object of "
		    "profiles by name");
		goto out;
	}
	if (json_object_size(profiles) == 0) {
		snprintf(
		    err, errlen, "profiles: at least one profile is required");
		goto out;
	}
	if ((pol = calloc(1, sizeof(*pol))) == NULL ||
	    (pol->profiles = calloc(
	         json_object_size(profiles), sizeof(*pol->profiles))) == NULL) {
		snprintf(err, errlen, "profiles: out of memory");
		goto out;
	}
	/* jansson's iterator takes a non-const object; nothing is changed. */
	json_object_foreach((json_t *)profiles, name, v)
	{
		pol->profiles[pol->n] =
		    policy_profile_parse(name, v, err, errlen);
		if (pol->profiles[pol->n] == NULL)
			goto out;
		pol->n++;
	}
	ret = pol;
	pol = NULL;
out:
	policy_free(pol);
	return ret;
}

void
policy_free(struct policy *pol)
{
	size_t i;

	if (pol == NULL)
		return;
	for (i = 0; i < pol->n; i++)
		policy_profile_free(pol->profiles[i]);
	free(pol->profiles);
	free(pol);
}

const struct profile *
policy_profile(const struct policy *pol, const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < pol->n; i++)
		if (strcmp(pol->profiles[i]->name, name) == 0)
			return pol->profiles[i];
	return NULL;
}

size_t
policy_profile_count(const struct policy *pol)
{
	return pol->n;
}

const struct profile *
policy_profile_at(const struct policy *pol, size_t i)
{
	return i < pol->n ? pol->profiles[i] : NULL;
}

const char *
profile_name(const struct profile *prof)
{
	return prof->name;
}

const char *
profile_backend(const struct profile *prof)
{
	return prof->backend;
}

/* The first of key_types; parsing guarantees there is one. */
enum key_kind
profile_preferred_key(const struct profile *prof, int *rsa_bits)
{
	enum key_kind kind = prof->key_types[0];

	if (rsa_bits != NULL)
		*rsa_bits = 0;
	if (kind == KEY_RSA && rsa_bits != NULL)
		*rsa_bits =
		    prof->rsa_min_bits > 2048 ? prof->rsa_min_bits : 2048;
	return kind;
}

const int *
profile_eku_nids(const struct profile *prof, size_t *n)
{
	*n = prof->n_eku;
	return prof->eku_nids;
}

int
profile_requires_approval(const struct profile *prof)
{
	return prof->require_approval;
}
