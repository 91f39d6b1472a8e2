/*
 * The `enrolld` subcommands (README "Command line").  Each takes the
 * arguments after its own name and returns the process exit status.
 */
#ifndef ENROLLD_CMD_H
#define ENROLLD_CMD_H

int cmd_init(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_hash_password(int argc, char **argv);
int cmd_pending(int argc, char **argv);

struct gateway;
/*
 * Load and check the config at `path`; with open_store the store is
 * opened too.  For subcommands, protocols' ones included.  NULL after a
 * message on stderr.  Free with gateway_free.
 */
struct gateway *cmd_load_gateway(const char *path, int open_store);

#endif
