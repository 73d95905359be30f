/*
 * bench_spawn.c - spawn + run + complete, in tasks per second.
 *
 * The main task spawns a batch of tasks that return at once, then awaits
 * each in spawn order; repeat until the total is reached.  This is the
 * same workload as bench/anchors/spawn.py (create_task in a batch, then
 * await each), so the ratio compares like with like: every task costs a
 * spawn (task record and stack), a first switch in, its return, and the
 * await that collects its result.
 */
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"

enum { BATCH = 1000 };

static void *noop(void *arg)
{
    return arg;
}

static double sample_spawn(void *arg)
{
    long total = *(long *)arg;
    ts_task *batch[BATCH];
    long done = 0;

    int64_t t0 = bench_now_ns();
    while (done < total) {
        for (int i = 0; i < BATCH; i++) {
            batch[i] = ts_spawn(noop, NULL);
            if (!batch[i]) {
                while (i-- > 0)
                    ts_await(batch[i], NULL);
                return -ENOMEM;
            }
        }
        for (int i = 0; i < BATCH; i++) {
            int err = ts_await(batch[i], NULL);
            if (err)
                return err;
        }
        done += BATCH;
    }
    int64_t t1 = bench_now_ns();
    return (double)done * 1e9 / (double)(t1 - t0);
}

static void *bench_main(void *arg)
{
    const bench_opts *o = arg;
    long total = bench_pick(o, 500000, 5000000);
    bench_repeat(o, "spawn", "taskscope", "tasks/s", 1, sample_spawn, &total);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    return bench_run(bench_main, &o, "bench_spawn");
}
