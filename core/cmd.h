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

#endif
