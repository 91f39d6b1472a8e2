/*
 * The gateway: config, policy, backend instances, store and CRL cache,
 * built once before the workers start.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "backends/backend.h"
#include "core/config.h"
#include "core/enroll.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/store.h"
#include "policy/policy.h"
#include "protocols/protocol.h"

struct backend_inst {
	char *name;
	const struct ca_backend *ops;
	void *priv;
	/* CRL cache, shared by the workers. */
	pthread_mutex_t crl_lock;
	unsigned char *crl;
	size_t crl_len;
	time_t crl_built;
};

struct gateway {
	json_t *root;
	char *basedir;
	struct policy *policy;
	struct store *store;
	struct backend_inst *backends;
	size_t n_backends;
};

const json_t *
gateway_config(const struct gateway *gw)
{
	return gw->root;
}

const char *
gateway_basedir(const struct gateway *gw)
{
	return gw->basedir;
}

struct policy *
gateway_policy(const struct gateway *gw)
{
	return gw->policy;
}

struct store *
gateway_store(const struct gateway *gw)
{
	return gw->store;
}

static struct backend_inst *
gateway_find_backend(const struct gateway *gw, const char *name)
{
	size_t i;

	for (i = 0; i < gw->n_backends; i++)
		if (strcmp(gw->backends[i].name, name) == 0)
			return &gw->backends[i];
	return NULL;
}

const struct ca_backend *
gateway_backend(
    const struct gateway *gw, const struct profile *prof, void **priv)
{
	struct backend_inst *b =
	    gateway_find_backend(gw, profile_backend(prof));

	if (b == NULL)
		return NULL;
	*priv = b->priv;
	return b->ops;
}

STACK_OF(X509) *
gateway_ca_chain(const struct gateway *gw, const struct profile *prof)
{
	void *priv;
	const struct ca_backend *ops = gateway_backend(gw, prof, &priv);

	return ops == NULL ? NULL : ops->ca_chain(priv);
}

struct revoked_list {
	struct revoked_entry *v;
	size_t n, cap;
};

static int
collect_revoked(const struct revoked_entry *e, void *arg)
{
	struct revoked_list *l = arg;
	struct revoked_entry *grown;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		if ((grown = realloc(l->v, l->cap * sizeof(*grown))) == NULL)
			return -1;
		l->v = grown;
	}
	l->v[l->n++] = *e;
	return 0;
}

/*
 * Rebuild under the lock: CRLs are small and rare next to enrollments,
 * and one rebuild serves every worker for GATEWAY_CRL_TTL seconds.
 */
static int
gateway_crl_rebuild(struct backend_inst *b, struct store_conn *sc)
{
	struct revoked_list l = {NULL, 0, 0};
	unsigned char *der;
	size_t len;
	int rc = -1;

	if (store_list_revoked(sc, collect_revoked, &l) == -1)
		goto out;
	if ((der = b->ops->crl(b->priv, l.v, l.n, &len)) == NULL)
		goto out;
	free(b->crl);
	b->crl = der;
	b->crl_len = len;
	b->crl_built = time(NULL);
	rc = 0;
out:
	free(l.v);
	return rc;
}

unsigned char *
gateway_crl(struct gateway *gw, struct store_conn *sc,
    const struct profile *prof, size_t *len)
{
	struct backend_inst *b =
	    gateway_find_backend(gw, profile_backend(prof));
	unsigned char *copy = NULL;

	if (b == NULL || b->ops->crl == NULL)
		return NULL;
	pthread_mutex_lock(&b->crl_lock);
	if (b->crl == NULL || time(NULL) - b->crl_built >= GATEWAY_CRL_TTL)
		if (gateway_crl_rebuild(b, sc) == -1)
			log_error("msg=\"cannot build the CRL of backend %s\"",
			    b->name);
	if (b->crl != NULL && (copy = malloc(b->crl_len)) != NULL) {
		memcpy(copy, b->crl, b->crl_len);
		*len = b->crl_len;
	}
	pthread_mutex_unlock(&b->crl_lock);
	return copy;
}

void
gateway_crl_invalidate(struct gateway *gw, const struct profile *prof)
{
	struct backend_inst *b =
	    gateway_find_backend(gw, profile_backend(prof));

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->crl_lock);
	b->crl_built = 0;
	pthread_mutex_unlock(&b->crl_lock);
}

static int
gateway_init_backends(struct gateway *gw, char *err, size_t errlen)
{
	const json_t *conf = json_object_get(gw->root, "backends"), *b;
	const char *name;
	size_t i = 0;

	gw->n_backends = json_object_size(conf);
	if ((gw->backends = calloc(gw->n_backends, sizeof(*gw->backends))) ==
	    NULL)
		return -1;
	json_object_foreach((json_t *)conf, name, b)
	{
		struct backend_inst *bi = &gw->backends[i];
		const char *type =
		    json_string_value(json_object_get(b, "type"));

		if ((bi->ops = ca_backend_find(type)) == NULL) {
			snprintf(err, errlen,
			    "backends.%s.type: unknown "
			    "backend \"%s\"",
			    name, type);
			return -1;
		}
		if ((bi->name = strdup(name)) == NULL)
			return -1;
		pthread_mutex_init(&bi->crl_lock, NULL);
		i++;
		if (bi->ops->init(b, gw->basedir, &bi->priv, err, errlen) == -1)
			return -1;
	}
	return 0;
}

struct resume_arg {
	struct gateway *gw;
	struct event_base *base;
	struct store_conn *sc;
};

static void
gateway_resume(evutil_socket_t fd, short what, void *arg)
{
	struct resume_arg *ra = arg;

	enroll_resume(ra->gw, ra->base, ra->sc);
	free(ra);
}

int
gateway_worker_init(struct gateway *gw, struct event_base *base,
    struct store_conn *sc, int first)
{
	struct timeval now = {0, 0};
	struct resume_arg *ra;
	size_t i;

	for (i = 0; i < gw->n_backends; i++) {
		const struct ca_backend *ops = gw->backends[i].ops;

		if (ops->worker_init != NULL &&
		    ops->worker_init(gw->backends[i].priv, gw, base, first) ==
		        -1) {
			log_error("msg=\"backend %s: worker state failed\"",
			    gw->backends[i].name);
			return -1;
		}
	}
	if (!first)
		return 0;
	/* Owned by the event: event_base_once frees nothing of arg, so
	 * gateway_resume does; a loop that never runs leaks it once. */
	if ((ra = malloc(sizeof(*ra))) == NULL)
		return -1;
	ra->gw = gw;
	ra->base = base;
	ra->sc = sc;
	if (event_base_once(base, -1, EV_TIMEOUT, gateway_resume, ra, &now) ==
	    -1) {
		free(ra);
		return -1;
	}
	return 0;
}

void
gateway_worker_free(struct gateway *gw, struct event_base *base)
{
	size_t i;

	for (i = 0; i < gw->n_backends; i++)
		if (gw->backends[i].ops->worker_free != NULL)
			gw->backends[i].ops->worker_free(
			    gw->backends[i].priv, base);
}

static int
gateway_check_profiles(struct gateway *gw, char *err, size_t errlen)
{
	size_t i, n = policy_profile_count(gw->policy);

	for (i = 0; i < n; i++) {
		const struct profile *p = policy_profile_at(gw->policy, i);

		if (gateway_find_backend(gw, profile_backend(p)) == NULL) {
			snprintf(err, errlen,
			    "profiles.%s.backend: no backend "
			    "named \"%s\" in backends",
			    profile_name(p), profile_backend(p));
			return -1;
		}
	}
	return 0;
}

static int
gateway_check_protocols(const struct gateway *gw, char *err, size_t errlen)
{
	const struct proto_handler *const *h;

	for (h = proto_handlers; *h != NULL; h++)
		if ((*h)->check != NULL &&
		    (*h)->check(json_object_get(gw->root, (*h)->name), err,
		        errlen) == -1)
			return -1;
	return 0;
}

struct gateway *
gateway_new(
    json_t *root, const char *basedir, int open_store, char *err, size_t errlen)
{
	struct gateway *gw;
	char dsn[4096];

	if ((gw = calloc(1, sizeof(*gw))) == NULL) {
		json_decref(root);
		return NULL;
	}
	gw->root = root;
	snprintf(err, errlen, "out of memory");
	if ((gw->basedir = strdup(basedir)) == NULL)
		goto fail;
	if (config_check_core(root, err, errlen) == -1)
		goto fail;
	if ((gw->policy = policy_new(
	         json_object_get(root, "profiles"), err, errlen)) == NULL)
		goto fail;
	if (gateway_init_backends(gw, err, errlen) == -1 ||
	    gateway_check_profiles(gw, err, errlen) == -1 ||
	    gateway_check_protocols(gw, err, errlen) == -1)
		goto fail;
	if (!open_store)
		return gw;
	if (config_path(basedir,
	        json_string_value(
	            json_object_get(json_object_get(root, "store"), "path")),
	        dsn, sizeof(dsn)) == -1)
		goto fail;
	if ((gw->store = store_open(
	         json_string_value(
	             json_object_get(json_object_get(root, "store"), "driver")),
	         dsn)) == NULL) {
		snprintf(err, errlen, "store.path: cannot open %s", dsn);
		goto fail;
	}
	return gw;
fail:
	gateway_free(gw);
	return NULL;
}

void
gateway_free(struct gateway *gw)
{
	size_t i;

	if (gw == NULL)
		return;
	store_close(gw->store);
	for (i = 0; i < gw->n_backends; i++) {
		struct backend_inst *b = &gw->backends[i];

		if (b->name == NULL)
			continue;
		b->ops->free(b->priv);
		free(b->crl);
		free(b->name);
		pthread_mutex_destroy(&b->crl_lock);
	}
	free(gw->backends);
	policy_free(gw->policy);
	free(gw->basedir);
	json_decref(gw->root);
	free(gw);
}
