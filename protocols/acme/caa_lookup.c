/*
 * Finding the relevant CAA RRset (RFC 8659 §3) without climbing one
 * label at a time: the name and every parent up to the top-level domain
 * are asked at once, as Boulder does, and the answers are read from the
 * closest name outwards.  The first non-empty RRset decides; an error
 * before it fails closed.  A decision can come before the farther
 * answers do: those queries are then cancelled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/acme/validate_int.h"

#define CAA_NAMES_MAX 128 /* a 253-octet name has at most 127 labels */

enum caa_verdict {
	CAA_WAITING,
	CAA_EMPTY,    /* no CAA at this name: look at the parent */
	CAA_PERMITS,  /* the relevant RRset lets us issue */
	CAA_FORBIDS,  /* ... does not */
	CAA_DNS_ERROR /* unknown RRset: fails closed */
};

struct caa_node {
	struct acme_caa_lookup *owner;
	const char *name; /* points into owner->ident */
	struct acme_dns_query *query;
	enum caa_verdict verdict;
	char why[ACME_DETAIL_MAX / 2];
};

struct acme_caa_lookup {
	struct acme_caa_want want; /* strings borrowed from the caller */
	acme_probe_done_fn *done;
	void *arg;
	char *ident;
	size_t nnodes;
	struct caa_node nodes[]; /* the name, then each parent */
};

void
acme_caa_lookup_cancel(struct acme_caa_lookup *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nnodes; i++)
		acme_dns_cancel(l->nodes[i].query);
	free(l->ident);
	free(l);
}

/* Free the lookup, then report: the callback may free its owner. */
static void
caa_finish(
    struct acme_caa_lookup *l, int ok, const char *problem, const char *detail)
{
	acme_probe_done_fn *done = l->done;
	void *arg = l->arg;
	char copy[ACME_DETAIL_MAX];

	snprintf(copy, sizeof(copy), "%s", detail);
	acme_caa_lookup_cancel(l);
	done(arg, ok, problem, copy);
}

/* Read the verdicts from the closest name out; decide when one can. */
static void
caa_decide(struct acme_caa_lookup *l)
{
	char detail[ACME_DETAIL_MAX];
	struct caa_node *n;
	size_t i;

	for (i = 0; i < l->nnodes; i++) {
		n = &l->nodes[i];
		switch (n->verdict) {
		case CAA_WAITING:
			return;
		case CAA_EMPTY:
			continue;
		case CAA_PERMITS:
			caa_finish(l, 1, NULL, "");
			return;
		case CAA_FORBIDS:
			snprintf(detail, sizeof(detail),
			    "CAA record for %s prevents issuance: %s", n->name,
			    n->why);
			caa_finish(l, 0, "caa", detail);
			return;
		case CAA_DNS_ERROR:
			snprintf(detail, sizeof(detail),
			    "DNS problem: %s looking up CAA for %s", n->why,
			    n->name);
			caa_finish(l, 0, "dns", detail);
			return;
		}
	}
	/* No CAA anywhere up to the top-level domain: anyone may issue. */
	caa_finish(l, 1, NULL, "");
}

static void
caa_answer(void *arg, const struct acme_dns_result *res)
{
	struct caa_node *n = arg;

	n->query = NULL;
	if (res->status == ACME_DNS_ERROR || res->status == ACME_DNS_BOGUS) {
		n->verdict = CAA_DNS_ERROR;
		snprintf(n->why, sizeof(n->why), "%s", res->why);
	} else if (res->n == 0)
		n->verdict = CAA_EMPTY;
	else if (acme_caa_permits(res->rdata, res->len, res->n, &n->owner->want,
	             n->why, sizeof(n->why)))
		n->verdict = CAA_PERMITS;
	else
		n->verdict = CAA_FORBIDS;
	caa_decide(n->owner);
}

struct acme_caa_lookup *
acme_caa_lookup_start(struct acme_dns *dns, const char *ident,
    const struct acme_caa_want *want, acme_probe_done_fn *done, void *arg)
{
	struct acme_caa_lookup *l;
	const char *name;
	size_t i, labels = 1;

	for (name = ident; *name != '\0'; name++)
		labels += *name == '.';
	if (ident[0] == '\0' || labels > CAA_NAMES_MAX ||
	    (l = calloc(1, sizeof(*l) + labels * sizeof(l->nodes[0]))) == NULL)
		return NULL;
	l->want = *want;
	l->done = done;
	l->arg = arg;
	if ((l->ident = strdup(ident)) == NULL)
		goto fail;
	/* "a.b.example" asks a.b.example, b.example and example; a
	 * trailing dot adds nothing. */
	for (name = l->ident; name != NULL && name[0] != '\0';) {
		l->nodes[l->nnodes].owner = l;
		l->nodes[l->nnodes++].name = name;
		if ((name = strchr(name, '.')) != NULL)
			name++;
	}
	for (i = 0; i < l->nnodes; i++)
		if ((l->nodes[i].query = acme_dns_query(dns, l->nodes[i].name,
		         ACME_DNS_CAA, caa_answer, &l->nodes[i])) == NULL)
			goto fail;
	return l;
fail:
	acme_caa_lookup_cancel(l);
	return NULL;
}
