/*
 * Clock and latency figures shared by the load drivers.
 */
#ifndef ENROLLD_BENCH_STATS_H
#define ENROLLD_BENCH_STATS_H

/* Seconds on the monotonic clock. */
double bstat_now(void);
/* CPU seconds this process has used (user and system). */
double bstat_cpu(void);
/* Sort v[0..n) in ascending order, for bstat_percentile(). */
void bstat_sort(double *v, long n);
/* The p-th percentile (0..100) of sorted v[0..n), nearest rank; 0 when
 * n is 0. */
double bstat_percentile(const double *v, long n, double p);

#endif
