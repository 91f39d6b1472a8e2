/*
 * Unsigned resources: the directory (RFC 8555 §7.1.1) and newNonce
 * (§7.2).
 */
#include <stdio.h>
#include <string.h>

#include "core/http.h"
#include "protocols/acme/acme_int.h"

void
acme_directory(struct acme_req *ar)
{
	const struct acme_cfg *cfg = &ar->acme->cfg;
	char url[512], order[512];
	json_t *meta, *profiles, *caa;
	size_t i;

	if (strcmp(ar->profile, cfg->default_profile) == 0)
		acme_url(ar, order, sizeof(order), "new-order");
	else
		acme_url(ar, order, sizeof(order), "%s/new-order", ar->profile);
	meta = json_object();
	profiles = json_object();
	caa = json_array();
	for (i = 0; i < cfg->n_profiles; i++)
		json_object_set_new(
		    profiles, cfg->profiles[i], json_string(cfg->profiles[i]));
	for (i = 0; cfg->caa_identities[i] != NULL; i++)
		json_array_append_new(caa, json_string(cfg->caa_identities[i]));
	if (cfg->terms_of_service != NULL)
		json_object_set_new(
		    meta, "termsOfService", json_string(cfg->terms_of_service));
	if (cfg->website != NULL)
		json_object_set_new(meta, "website", json_string(cfg->website));
	json_object_set_new(meta, "caaIdentities", caa);
	json_object_set_new(
	    meta, "externalAccountRequired", json_boolean(cfg->eab_required));
	json_object_set_new(meta, "profiles", profiles);
	ar->body = json_object();
	acme_url(ar, url, sizeof(url), "new-nonce");
	json_object_set_new(ar->body, "newNonce", json_string(url));
	acme_url(ar, url, sizeof(url), "new-account");
	json_object_set_new(ar->body, "newAccount", json_string(url));
	json_object_set_new(ar->body, "newOrder", json_string(order));
	acme_url(ar, url, sizeof(url), "revoke-cert");
	json_object_set_new(ar->body, "revokeCert", json_string(url));
	acme_url(ar, url, sizeof(url), "key-change");
	json_object_set_new(ar->body, "keyChange", json_string(url));
	acme_url(ar, url, sizeof(url), "renewal-info");
	json_object_set_new(ar->body, "renewalInfo", json_string(url));
	json_object_set_new(ar->body, "meta", meta);
	/* The directory needs no nonce and writes nothing. */
	acme_req_send_now(ar);
}

void
acme_new_nonce(struct acme_req *ar)
{
	/* §7.2: 200 for HEAD, 204 for GET; a shared-scope nonce is stored
	 * first. */
	ar->status = strcmp(http_req_method(ar->r), "HEAD") == 0 ? 200 : 204;
	acme_req_commit(ar);
}
