/*
 * enrolld: certificate enrollment gateway.  Subcommand dispatch only.
 */
#include <stdio.h>
#include <string.h>

#include "core/cmd.h"
#include "protocols/protocol.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
} commands[] = {
    {"init", cmd_init,
        "init --dir DIR [--name HOST]... [--port N] "
        "[--est-user USER:PASSWORD] [--allow-domain SUFFIX]... "
        "[--ca-key p256|p384|rsa2048|rsa3072|ed25519] [--force] "
        "[--acme-resolver ADDR:PORT] [--http01-port N] "
        "[--tlsalpn01-port N] [--allow-private-targets] [--http-port N] "
        "[--scep-challenge SECRET]"},
    {"run", cmd_run, "run --config FILE"},
    {"check-config", cmd_check_config, "check-config FILE"},
    {"revoke", cmd_revoke,
        "revoke --config FILE --serial HEX "
        "[--reason N]"},
    {"pending", cmd_pending,
        "pending list [--state STATE] | approve KEY | reject KEY "
        "--config FILE"},
    {"hash-password", cmd_hash_password,
        "hash-password  (reads the "
        "password from standard input)"},
};

static int
usage(void)
{
	size_t i;

	const struct proto_handler *const *h;
	const struct proto_command *c;

	fprintf(stderr, "usage:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  enrolld %s\n", commands[i].usage);
	for (h = proto_handlers; *h != NULL; h++)
		for (c = (*h)->commands; c != NULL && c->name != NULL; c++)
			fprintf(stderr, "  enrolld %s\n", c->usage);
	return 2;
}

int
main(int argc, char **argv)
{
	const struct proto_handler *const *h;
	const struct proto_command *c;
	size_t i;

	if (argc < 2)
		return usage();
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	for (h = proto_handlers; *h != NULL; h++)
		for (c = (*h)->commands; c != NULL && c->name != NULL; c++)
			if (strcmp(argv[1], c->name) == 0)
				return c->run(argc - 1, argv + 1);
	fprintf(stderr, "enrolld: unknown command \"%s\"\n", argv[1]);
	return usage();
}
