/*
 * Command-line pieces the load drivers share.
 */
#ifndef ENROLLD_BENCH_OPTS_H
#define ENROLLD_BENCH_OPTS_H

/* The decimal integer `s` when it is all digits and in 1..max, else -1
 * (the caller prints its usage). */
long bopt_count(const char *s, long max);

#endif
