/*
 * The command line of bench_acme (bench/README.md):
 *
 *   bench_acme --dir URL --cacert FILE -n N -c C --http-port H
 *       [--label NAME] [--timeout S] [--poll-ms MS]
 */
#ifndef ENROLLD_BENCH_ACME_OPTS_H
#define ENROLLD_BENCH_ACME_OPTS_H

struct bacme_opts {
	const char *dir;
	const char *cacert;
	const char *label;
	long n, c, port, timeout_s, poll_ms;
};

/*
 * Fill `o` from argv (strings borrowed from argv), with the defaults for
 * what is not given.  On a bad command line, print the usage and exit 2.
 */
void bacme_opts_parse(int argc, char **argv, struct bacme_opts *o);

#endif
