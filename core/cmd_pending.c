/*
 * `enrolld pending list|approve KEY|reject KEY --config FILE`: the
 * operator's side of the approval queue (core/approval.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <event2/thread.h>

#include "core/approval.h"
#include "core/cmd.h"
#include "core/gateway.h"
#include "core/store.h"

static int
pending_usage(void)
{
	fprintf(stderr,
	    "usage: enrolld pending list [--state STATE] --config "
	    "FILE\n"
	    "       enrolld pending approve|reject KEY --config "
	    "FILE\n");
	return 2;
}

int
cmd_pending(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = NULL, *state = "pending", *verb, *key = NULL;
	struct gateway *gw = NULL;
	struct store_conn *sc = NULL;
	int ch, rc = 1, r;

	if (argc < 2)
		return pending_usage();
	verb = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "c:s:", opts, NULL)) != -1) {
		if (ch == 'c')
			config = optarg;
		else if (ch == 's')
			state = optarg;
		else
			return pending_usage();
	}
	if (strcmp(verb, "list") != 0) {
		if (optind != argc - 1 ||
		    (strcmp(verb, "approve") != 0 &&
		        strcmp(verb, "reject") != 0))
			return pending_usage();
		key = argv[optind];
	} else if (optind != argc) {
		return pending_usage();
	}
	if (config == NULL)
		return pending_usage();
	if (evthread_use_pthreads() != 0 ||
	    (gw = cmd_load_gateway(config, 1)) == NULL ||
	    (sc = store_conn_open(gateway_store(gw))) == NULL)
		goto out;
	if (key == NULL) {
		rc = approval_list(sc, state) == 0 ? 0 : 1;
		goto out;
	}
	r = approval_decide(sc, key, strcmp(verb, "approve") == 0);
	if (r == 0) {
		printf("%s %s\n", key,
		    strcmp(verb, "approve") == 0 ? "approved" : "rejected");
		rc = 0;
	} else if (r == 1) {
		fprintf(stderr, "enrolld: %s: no pending request by that key\n",
		    key);
	}
out:
	store_conn_close(sc);
	gateway_free(gw);
	return rc;
}
