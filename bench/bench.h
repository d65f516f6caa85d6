/* What every benchmark needs: command-line numbers and a clock. Include
 * after defining _POSIX_C_SOURCE (clock_gettime). */
#ifndef TAPEGRAD_BENCH_H
#define TAPEGRAD_BENCH_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* A value that is not a whole number in range stops the run with a message:
 * atoi made "--help" or "1e3" a count of 0 or 1, and a benchmark of zero
 * steps printed inf and nan. */
static inline long bench_number(const char *prog, const char *what, const char *text, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long value = text ? strtol(text, &end, 10) : 0;
    if (!text || errno || end == text || *end || value < lo || value > hi) {
        fprintf(stderr, "%s: %s is '%s'; expected a whole number from %ld to %ld\n", prog, what,
                text ? text : "(missing)", lo, hi);
        exit(2);
    }
    return value;
}

/* Seconds on clock `id`: CLOCK_MONOTONIC for wall time,
 * CLOCK_PROCESS_CPUTIME_ID for the CPU time of every thread. */
static inline double bench_seconds(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#endif
