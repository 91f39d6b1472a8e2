/*
 * Command-line pieces the load drivers share.
 */
#include <errno.h>
#include <stdlib.h>

#include "bench/opts.h"

long
bopt_count(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > max)
		return -1;
	return v;
}
