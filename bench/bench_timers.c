/*
 * bench_timers.c - timers with many distinct deadlines.
 *
 * Figures:
 *   timers        N callbacks scheduled with ts_call_later, each with its
 *                 own deadline: a random permutation of N slots spread over
 *                 1 ms, so inserts land all over the heap and every pop
 *                 reorders it.  Timers per second from the first schedule
 *                 to the last callback.  The 1 ms spread is short next to
 *                 the time it takes to schedule N timers, so the loop never
 *                 sleeps waiting for one: this measures the timer heap and
 *                 the dispatch, not the clock.
 *   timers_sleep  T tasks each call ts_sleep R times with a fresh random
 *                 delay below 1 ms: sleeps per second.  With T*R sleeps due
 *                 in a few ms there is always a timer due, so again the
 *                 loop is busy, not waiting.
 * Same workloads as bench/anchors/timers.py.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"

/* ---- call_later ------------------------------------------------------------*/

typedef struct fire_count {
    long fired, total;
    ts_future *all_fired;
} fire_count;

static void on_timer(void *arg)
{
    fire_count *c = arg;
    if (++c->fired == c->total)
        ts_future_set_result(c->all_fired, NULL);
}

/* xorshift: the same cheap generator in every run, no libc state. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double *shuffled_delays(long n, double span)
{
    double *d = malloc((size_t)n * sizeof *d);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    if (!d)
        return NULL;
    for (long i = 0; i < n; i++)
        d[i] = span * (double)i / (double)n;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)(rng_next(&s) % (uint64_t)(i + 1));
        double t = d[i];
        d[i] = d[j];
        d[j] = t;
    }
    return d;
}

static double sample_call_later(void *arg)
{
    long n = *(long *)arg;
    double *delays = shuffled_delays(n, 1e-3);
    fire_count c = {0, n, ts_future_new()};
    double result = -ENOMEM;

    if (delays && c.all_fired) {
        int err = 0;
        long scheduled = 0;
        int64_t t0 = bench_now_ns();
        while (scheduled < n &&
               !(err = ts_call_later(NULL, delays[scheduled], on_timer, &c, NULL)))
            scheduled++;
        /* Whatever was scheduled still points at c: let it all fire. */
        c.total = scheduled;
        int err_wait = scheduled ? ts_future_await(c.all_fired, NULL) : 0;
        int64_t t1 = bench_now_ns();
        err = err ? err : err_wait;
        result = err ? err : (double)n * 1e9 / (double)(t1 - t0);
    }
    free(delays);
    if (c.all_fired)
        ts_future_free(c.all_fired);
    return result;
}

/* ---- ts_sleep --------------------------------------------------------------*/

typedef struct sleeper_args {
    long rounds;
    uint64_t seed;
} sleeper_args;

static void *sleeper(void *arg)
{
    sleeper_args *a = arg;
    for (long i = 0; i < a->rounds; i++) {
        double delay = (double)(rng_next(&a->seed) % 1000000) * 1e-9;
        int err = ts_sleep(delay);
        if (err)
            return ts_fail(err, "round %ld", i);
    }
    return NULL;
}

typedef struct sleep_load {
    long tasks, rounds;
} sleep_load;

/* Spawn the sleepers and await them all; 0, or the first error. */
static int run_sleepers(const sleep_load *l, sleeper_args *args,
                        ts_task **tasks)
{
    long spawned = 0;
    int err = 0;

    for (; spawned < l->tasks; spawned++) {
        args[spawned] = (sleeper_args){l->rounds,
                                       0x2545f4914f6cdd1dull + (uint64_t)spawned};
        tasks[spawned] = ts_spawn(sleeper, &args[spawned]);
        if (!tasks[spawned]) {
            err = -ENOMEM;
            break;
        }
    }
    for (long i = 0; i < spawned; i++) {
        int e = ts_await(tasks[i], NULL);
        err = err ? err : e;
    }
    return err;
}

static double sample_sleep(void *arg)
{
    const sleep_load *l = arg;
    sleeper_args *args = malloc((size_t)l->tasks * sizeof *args);
    ts_task **tasks = malloc((size_t)l->tasks * sizeof *tasks);
    double result = -ENOMEM;

    if (args && tasks) {
        int64_t t0 = bench_now_ns();
        int err = run_sleepers(l, args, tasks);
        int64_t t1 = bench_now_ns();
        result = err ? err
                     : (double)(l->tasks * l->rounds) * 1e9 / (double)(t1 - t0);
    }
    free(args);
    free(tasks);
    return result;
}

static void *bench_main(void *arg)
{
    const bench_opts *o = arg;
    long n = bench_pick(o, 50000, 200000);
    bench_repeat(o, "timers", "taskscope", "timers/s", 1, sample_call_later, &n);
    sleep_load l = {bench_pick(o, 2000, 10000), bench_pick(o, 10, 20)};
    bench_repeat(o, "timers_sleep", "taskscope", "sleeps/s", 1, sample_sleep,
                 &l);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    return bench_run(bench_main, &o, "bench_timers");
}
