/*
 * ACME documents in the store: objects whose JSON is parsed on load and
 * serialised on save (core/store.h struct store_obj).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocols/acme/acme_int.h"

int
acme_obj_load(struct store_conn *sc, const char *kind, const char *id,
    struct store_obj *out, json_t **doc)
{
	json_error_t jerr;
	int found;

	*doc = NULL;
	memset(out, 0, sizeof(*out));
	if ((found = store_obj_get(sc, kind, id, out)) != 0)
		return found;
	if ((*doc = json_loads(out->json, 0, &jerr)) == NULL ||
	    !json_is_object(*doc)) {
		json_decref(*doc);
		*doc = NULL;
		store_obj_clear(out);
		return -1;
	}
	return 0;
}

int
acme_obj_save(struct store_txn *t, const struct store_obj *o, const json_t *doc)
{
	struct store_obj copy = *o;
	int rc;

	if ((copy.json = json_dumps(doc, JSON_COMPACT)) == NULL)
		return -1;
	rc = store_txn_put(t, &copy);
	free(copy.json);
	return rc;
}

int
acme_obj_load_owned(struct acme_req *ar, const char *kind, const char *what,
    const char *id, struct store_obj *o, json_t **doc)
{
	int found = acme_obj_load(ar->sc, kind, id, o, doc);

	if (found == 0 && o->key1 != NULL && ar->account.id != NULL &&
	    strcmp(o->key1, ar->account.id) == 0)
		return 0;
	json_decref(*doc);
	*doc = NULL;
	store_obj_clear(o);
	if (found == -1)
		acme_req_problem(ar, 500, ACME_ERR_SERVER, "lookup failed");
	else
		acme_req_problem(ar, 404, ACME_ERR_MALFORMED,
		    "no such %s for this account", what);
	return -1;
}

int
acme_rate_check(
    struct acme_req *ar, const char *kind, int limit, const char *what)
{
	long n;

	if (limit <= 0)
		return 0;
	n = store_obj_count(ar->sc, kind, 1, ar->account.id, time(NULL) - 3600);
	if (n < limit)
		return 0;
	ar->retry_after = 3600;
	acme_req_problem(ar, 429, ACME_ERR_RATE_LIMITED,
	    "too many %s for this account: %ld in the last hour (limit %d)",
	    what, n, limit);
	return -1;
}
