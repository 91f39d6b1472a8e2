/*
 * `enrolld eab add --config FILE`: an External Account Binding key
 * (RFC 8555 §7.3.4) for a client to bind its new account with.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/cmd.h"
#include "core/encoding.h"
#include "core/gateway.h"
#include "core/store.h"
#include "protocols/acme/acme_int.h"

#define EAB_KEY_BYTES 32

static int
eab_usage(void)
{
	fprintf(stderr, "usage: enrolld eab add --config FILE\n");
	return 2;
}

/* A new key id and HMAC key, stored; printed for the operator. */
static int
eab_add(struct store_conn *sc)
{
	unsigned char key[EAB_KEY_BYTES];
	char kid[32], now[32], *b64 = NULL;
	struct store_txn *t = NULL;
	struct store_obj o;
	json_t *doc = NULL;
	int rc = -1;

	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    acme_random_id(kid, sizeof(kid)) == -1 ||
	    (b64 = encoding_b64url_encode(key, sizeof(key))) == NULL)
		goto out;
	acme_time(time(NULL), now, sizeof(now));
	if ((doc = json_pack("{s:s, s:s}", "hmac_key", b64, "created", now)) ==
	        NULL ||
	    (t = store_txn_new()) == NULL)
		goto out;
	memset(&o, 0, sizeof(o));
	o.kind = ACME_KIND_EAB;
	o.id = kid;
	o.status = "unbound";
	if (acme_obj_save(t, &o, doc) == -1)
		goto out;
	if (store_txn_run(sc, t) != 0) {
		t = NULL;
		goto out;
	}
	t = NULL;
	printf("kid: %s\nhmac_key: %s\n", kid, b64);
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (b64 != NULL)
		OPENSSL_cleanse(b64, strlen(b64));
	free(b64);
	json_decref(doc);
	store_txn_free(t);
	return rc;
}

static int
acme_cmd_eab(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	struct gateway *gw = NULL;
	struct store_conn *sc = NULL;
	int ch, rc = 1;

	if (argc < 2 || strcmp(argv[1], "add") != 0)
		return eab_usage();
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c')
			return eab_usage();
		config = optarg;
	}
	if (config == NULL || optind != argc)
		return eab_usage();
	if (evthread_use_pthreads() != 0 ||
	    (gw = cmd_load_gateway(config, 1)) == NULL ||
	    (sc = store_conn_open(gateway_store(gw))) == NULL)
		goto out;
	if (eab_add(sc) == 0)
		rc = 0;
	else
		fprintf(stderr, "enrolld: the EAB key could not be stored\n");
out:
	store_conn_close(sc);
	gateway_free(gw);
	return rc;
}

const struct proto_command acme_commands[] = {
    {"eab", "eab add --config FILE   (prints a new ACME EAB kid and key)",
        acme_cmd_eab},
    {NULL, NULL, NULL},
};
