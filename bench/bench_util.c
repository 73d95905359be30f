/*
 * bench_util.c - command line, clock, repetition and JSON output shared by
 * the benchmark programs (see bench_util.h for the output contract).
 *
 * Figures are printed with %.6g: benchmarks are noisy well before the sixth
 * digit, and bench/run recomputes ratios from these values anyway.
 */
#include "bench_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

int bench_parse(int argc, char **argv, bench_opts *o)
{
    o->mode = BENCH_NORMAL;
    o->reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o->mode = BENCH_QUICK;
            o->reps = 3;
        } else if (strcmp(argv[i], "--full") == 0) {
            o->mode = BENCH_FULL;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            o->reps = atoi(argv[++i]);
            if (o->reps < 1)
                o->reps = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick|--full] [--reps N]\n", argv[0]);
            return -EINVAL;
        }
    }
    return 0;
}

long bench_pick(const bench_opts *o, long quick, long normal)
{
    return o->mode == BENCH_QUICK ? quick : normal;
}

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *bench_tmpdir(void)
{
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

long bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size, resident;
    int n;

    if (!f)
        return -1;
    n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    if (n != 2)
        return -1;
    return resident * sysconf(_SC_PAGESIZE);
}

double bench_best(const double *v, int n, int higher_is_better)
{
    double best = v[0];
    for (int i = 1; i < n; i++)
        if (higher_is_better ? v[i] > best : v[i] < best)
            best = v[i];
    return best;
}

/* Names are chosen by the programs themselves, so they never need JSON
 * escaping; error texts come from ts_strerror or fixed strings, which
 * contain no quotes or backslashes either. */
void bench_emit(const char *figure, const char *source, double value,
                const char *unit, int higher_is_better, const char *stat)
{
    printf("{\"figure\":\"%s\",\"source\":\"%s\",\"value\":%.6g,"
           "\"unit\":\"%s\",\"better\":\"%s\"",
           figure, source, value, unit, higher_is_better ? "higher" : "lower");
    if (stat)
        printf(",\"stat\":\"%s\"", stat);
    printf("}\n");
    fflush(stdout);
}

void bench_emit_error(const char *figure, const char *source, const char *unit,
                      int higher_is_better, const char *error)
{
    printf("{\"figure\":\"%s\",\"source\":\"%s\",\"value\":null,"
           "\"unit\":\"%s\",\"better\":\"%s\",\"error\":\"%s\"}\n",
           figure, source, unit, higher_is_better ? "higher" : "lower", error);
    fflush(stdout);
}

int bench_repeat(const bench_opts *o, const char *figure, const char *source,
                 const char *unit, int higher_is_better,
                 double (*sample)(void *arg), void *arg)
{
    double v[64] = {0};
    int n = o->reps < 1 ? 1 : o->reps < 64 ? o->reps : 64;
    char stat[32];

    for (int i = 0; i < n; i++) {
        v[i] = sample(arg);
        if (v[i] < 0) {
            bench_emit_error(figure, source, unit, higher_is_better,
                             ts_strerror((int)v[i]));
            return (int)v[i];
        }
        fprintf(stderr, "%s/%s rep %d: %.6g %s\n", figure, source, i + 1, v[i],
                unit);
    }
    snprintf(stat, sizeof stat, "best of %d", n);
    bench_emit(figure, source, bench_best(v, n, higher_is_better), unit,
               higher_is_better, stat);
    return 0;
}

int bench_run(void *(*main)(void *), void *arg, const char *prog)
{
    int err = ts_run(main, arg);
    if (err)
        fprintf(stderr, "%s: %s\n", prog, ts_strerror(err));
    return err ? 1 : 0;
}
