/*
 * The command line of bench_acme (see acme_opts.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/acme_opts.h"
#include "bench/opts.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bench_acme --dir URL --cacert FILE -n N -c C "
	    "--http-port H\n"
	    "                  [--label NAME] [--timeout S] "
	    "[--poll-ms MS]\n");
	exit(2);
}

static long
parse_count(const char *s, long max)
{
	long v = bopt_count(s, max);

	if (v == -1)
		usage();
	return v;
}

void
bacme_opts_parse(int argc, char **argv, struct bacme_opts *o)
{
	static const struct option lopts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"cacert", required_argument, NULL, 'a'},
	    {"http-port", required_argument, NULL, 'H'},
	    {"label", required_argument, NULL, 'l'},
	    {"timeout", required_argument, NULL, 't'},
	    {"poll-ms", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->label = "server";
	o->n = 100;
	o->c = 1;
	o->timeout_s = 600;
	o->poll_ms = 20;
	while ((ch = getopt_long(argc, argv, "n:c:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 'a':
			o->cacert = optarg;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'H':
			o->port = parse_count(optarg, 65535);
			break;
		case 't':
			o->timeout_s = parse_count(optarg, 86400);
			break;
		case 'p':
			o->poll_ms = parse_count(optarg, 10000);
			break;
		case 'n':
			o->n = parse_count(optarg, 1000000);
			break;
		case 'c':
			o->c = parse_count(optarg, 4096);
			break;
		default:
			usage();
		}
	}
	if (o->dir == NULL || o->cacert == NULL || o->port == 0)
		usage();
	if (o->c > o->n)
		o->c = o->n;
}
