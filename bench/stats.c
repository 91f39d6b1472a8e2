/*
 * Clock and latency figures shared by the load drivers (see stats.h).
 */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/stats.h"

double
bstat_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double
bstat_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void
bstat_sort(double *v, long n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
}

double
bstat_percentile(const double *v, long n, double p)
{
	long k;

	if (n == 0)
		return 0;
	k = (long)(p / 100.0 * n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}
