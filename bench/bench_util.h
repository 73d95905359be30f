/*
 * bench_util.h - what every benchmark program shares: its command line,
 * the clock, best-of-N repetition, resident memory, and the JSON line each
 * figure is printed as.
 *
 * Output contract with bench/run: every figure is one line on stdout,
 *   {"figure":"spawn","source":"taskscope","value":5.2e6,"unit":"tasks/s",
 *    "better":"higher","stat":"best of 5"}
 * where source names who was measured ("taskscope", or an in-process anchor
 * such as "ucontext").  A figure that could not be measured has
 * "value":null and an "error" string.  Everything else goes to stderr.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* How long to run: --quick (the whole suite under a minute), default, or
 * --full (adds the slow figures, such as a million idle tasks). */
typedef enum bench_mode { BENCH_QUICK, BENCH_NORMAL, BENCH_FULL } bench_mode;

typedef struct bench_opts {
    bench_mode mode;
    int reps;   /* repetitions per figure; --reps N overrides the default */
} bench_opts;

/* Parse --quick, --full and --reps N.  Returns 0, or -EINVAL after printing
 * usage for anything else. */
int bench_parse(int argc, char **argv, bench_opts *o);

/* pick(o, quick, normal): the size for the selected mode (full = normal). */
long bench_pick(const bench_opts *o, long quick, long normal);

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bench_now_ns(void);

/* Where scratch files go: $TMPDIR, or /tmp when it is unset or empty. */
const char *bench_tmpdir(void);

/* Resident set size of this process in bytes, from /proc/self/statm, or -1. */
long bench_rss_bytes(void);

/* The best of n samples: the largest if higher is better, else the smallest. */
double bench_best(const double *v, int n, int higher_is_better);

/* Print one figure line (see above).  stat may be NULL. */
void bench_emit(const char *figure, const char *source, double value,
                const char *unit, int higher_is_better, const char *stat);

/* Print a figure that could not be measured, with the reason. */
void bench_emit_error(const char *figure, const char *source, const char *unit,
                      int higher_is_better, const char *error);

/* Run sample() o->reps times, print each sample to stderr and emit the
 * best as `figure`.  sample returns the measured value, or a negative
 * number (an error code) when it failed, which is then emitted as an
 * error.  Returns 0 or that error. */
int bench_repeat(const bench_opts *o, const char *figure, const char *source,
                 const char *unit, int higher_is_better,
                 double (*sample)(void *arg), void *arg);

/* ts_run(main, arg), reporting a failure on stderr under the program's
 * name.  Returns the exit status: 0, or 1 if main failed.  Figures main
 * never reached are simply absent; bench/run reports them as missing. */
int bench_run(void *(*main)(void *), void *arg, const char *prog);

#endif
