/*
 * `enrolld run`, `check-config`, `revoke` and `hash-password`: the
 * subcommands that work on an existing configuration.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <jansson.h>

#include "core/cmd.h"
#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/passwd.h"
#include "core/server.h"
#include "core/store.h"

struct gateway *
cmd_load_gateway(const char *path, int open_store)
{
	char err[512], *basedir = NULL;
	struct gateway *gw = NULL;
	const char *lvl;
	json_t *root;

	if ((root = config_load(path, err, sizeof(err))) == NULL)
		goto fail;
	lvl = json_string_value(
	    json_object_get(json_object_get(root, "log"), "level"));
	if (lvl != NULL && log_level_parse(lvl) >= 0)
		log_set_level((enum log_level)log_level_parse(lvl));
	if ((basedir = config_basedir(path)) == NULL) {
		json_decref(root);
		snprintf(err, sizeof(err), "out of memory");
		goto fail;
	}
	gw = gateway_new(root, basedir, open_store, err, sizeof(err));
	free(basedir);
	if (gw == NULL)
		goto fail;
	return gw;
fail:
	fprintf(stderr, "enrolld: %s: %s\n", path, err);
	return NULL;
}

static const char *
config_arg(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch != 'c')
			return NULL;
		config = optarg;
	}
	return optind == argc ? config : NULL;
}

int
cmd_run(int argc, char **argv)
{
	const char *config = config_arg(argc, argv);
	struct gateway *gw = NULL;
	struct server *srv = NULL;
	char err[512];
	int rc = 1;

	if (config == NULL) {
		fprintf(stderr, "usage: enrolld run --config FILE\n");
		return 2;
	}
	/* Completions cross threads (store writer -> worker loops). */
	if (evthread_use_pthreads() != 0) {
		fprintf(stderr, "enrolld: libevent has no pthreads support\n");
		return 1;
	}
	server_block_signals();
	if ((gw = cmd_load_gateway(config, 1)) == NULL)
		goto out;
	if ((srv = server_new(gw, err, sizeof(err))) == NULL) {
		fprintf(stderr, "enrolld: %s: %s\n", config, err);
		goto out;
	}
	/* Password hashing and key generation run here, not on a loop. */
	if (offload_start((unsigned)sysconf(_SC_NPROCESSORS_ONLN)) == -1) {
		fprintf(stderr, "enrolld: cannot start the offload pool\n");
		goto out;
	}
	if (server_run(srv) == 0)
		rc = 0;
	offload_stop();
	log_info("msg=\"stopped\"");
out:
	server_free(srv);
	gateway_free(gw);
	return rc;
}

int
cmd_check_config(int argc, char **argv)
{
	struct gateway *gw;
	struct server *srv;
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: enrolld check-config FILE\n");
		return 2;
	}
	if ((gw = cmd_load_gateway(argv[1], 0)) == NULL)
		return 1;
	/* Builds the TLS context and every front end as `run` would, without
	 * binding a socket or opening the store. */
	if ((srv = server_new(gw, err, sizeof(err))) == NULL) {
		fprintf(stderr, "enrolld: %s: %s\n", argv[1], err);
		gateway_free(gw);
		return 1;
	}
	server_free(srv);
	gateway_free(gw);
	printf("%s: ok\n", argv[1]);
	return 0;
}

int
cmd_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"serial", required_argument, NULL, 's'},
	    {"reason", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *serial = NULL;
	struct gateway *gw = NULL;
	struct store_conn *sc = NULL;
	int ch, reason = 0, rc = 1, r;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:s:r:", opts, NULL)) != -1) {
		if (ch == 'c')
			config = optarg;
		else if (ch == 's')
			serial = optarg;
		else if (ch == 'r')
			reason = atoi(optarg);
		else
			goto usage;
	}
	if (config == NULL || serial == NULL || reason < 0 || reason > 10 ||
	    reason == 7)
		goto usage;
	if (evthread_use_pthreads() != 0 ||
	    (gw = cmd_load_gateway(config, 1)) == NULL ||
	    (sc = store_conn_open(gateway_store(gw))) == NULL)
		goto out;
	r = store_cert_revoke(sc, serial, time(NULL), reason);
	if (r == 0) {
		printf("revoked %s (reason %d)\n", serial, reason);
		rc = 0;
	} else if (r == 1)
		fprintf(
		    stderr, "enrolld: %s: no such valid certificate\n", serial);
out:
	store_conn_close(sc);
	gateway_free(gw);
	return rc;
usage:
	fprintf(stderr,
	    "usage: enrolld revoke --config FILE --serial HEX "
	    "[--reason 0-10]\n");
	return 2;
}

int
cmd_hash_password(int argc, char **argv)
{
	char line[1024], *hash;
	size_t n;

	if (fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "enrolld: no password on standard input\n");
		return 1;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0 || (hash = passwd_hash(line, 0)) == NULL) {
		fprintf(stderr, "enrolld: cannot hash an empty password\n");
		return 1;
	}
	printf("%s\n", hash);
	free(hash);
	return 0;
}
