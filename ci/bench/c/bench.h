/*
 * Timing helpers shared by the C and C++ benchmark programs of ci/bench.
 *
 * Every program prints one line per benchmark, "NAME MEDIAN_NS", where MEDIAN_NS is the
 * median over REPS repetitions (after WARMUP untimed ones) of the time per operation of a
 * repetition of ITERS operations. Arguments: [reps] [iters] [only], where `only` (optional)
 * names the one benchmark to run (the instruction counts of ci/bench/callgrind.py use it).
 */
#ifndef CI_BENCH_H
#define CI_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *bench_only;

#define BENCH_MAX_REPS 1000
#define BENCH_WARMUP 3

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline void bench_args(int argc, char **argv, int *reps, long *iters)
{
    if (argc > 1)
        *reps = atoi(argv[1]);
    if (argc > 2)
        *iters = atol(argv[2]);
    if (*reps < 1 || *reps > BENCH_MAX_REPS)
        *reps = 21;
    if (*iters < 1)
        *iters = 200000;
    if (argc > 3)
        bench_only = argv[3];
}

/* Keep the compiler from folding a loop body away. */
#define BENCH_CLOBBER() __asm__ __volatile__("" ::: "memory")

/* Run BODY (one operation) ITERS times per repetition; print the median ns per operation. */
#define BENCH_RUN(NAME, REPS, ITERS, BODY)                           \
    do {                                                             \
        static double samples_[BENCH_MAX_REPS];                      \
        if (bench_only && strcmp(bench_only, (NAME)) != 0)           \
            break;                                                   \
        for (int rep_ = -BENCH_WARMUP; rep_ < (REPS); rep_++) {      \
            double t0_ = bench_now_ns();                             \
            for (long i_ = 0; i_ < (ITERS); i_++) {                  \
                BODY;                                                \
                BENCH_CLOBBER();                                     \
            }                                                        \
            double t1_ = bench_now_ns();                             \
            if (rep_ >= 0)                                           \
                samples_[rep_] = (t1_ - t0_) / (double)(ITERS);      \
        }                                                            \
        printf("%s %.3f\n", (NAME), bench_median(samples_, (REPS))); \
        fflush(stdout);                                              \
    } while (0)

#endif /* CI_BENCH_H */
