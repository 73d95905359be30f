/*
 * bench_spawn.c - spawn + run + complete, in tasks per second.
 *
 * The main task spawns a batch of tasks that return at once, then awaits
 * each in spawn order; repeat until the total is reached.  This is the
 * same workload as bench/anchors/spawn.py (create_task in a batch, then
 * await each), so the ratio compares like with like: every task costs a
 * spawn (task record and stack), a first switch in, its return, and the
 * await that collects its result.
 *
 * spawn_gather is the other common way to measure it, and the workload
 * behind DESIGN.md's anchor (~94k tasks/s): asyncio.gather over N fresh
 * coroutines at once (bench/anchors/spawn.py, figure spawn_gather), here
 * N spawned tasks handed to ts_gather.  All N are alive together, so it
 * also pays for N task records.
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

static double sample_spawn_gather(void *arg)
{
    long n = *(long *)arg;
    ts_task **tasks = malloc((size_t)n * sizeof *tasks);
    if (!tasks)
        return -ENOMEM;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        tasks[i] = ts_spawn(noop, NULL);
        if (!tasks[i]) {
            ts_gather(tasks, (size_t)i, NULL, NULL);
            free(tasks);
            return -ENOMEM;
        }
    }
    int err = ts_gather(tasks, (size_t)n, NULL, NULL);
    int64_t t1 = bench_now_ns();
    free(tasks);
    if (err)
        return err;
    return (double)n * 1e9 / (double)(t1 - t0);
}

static void *bench_main(void *arg)
{
    const bench_opts *o = arg;
    long total = bench_pick(o, 500000, 5000000);
    bench_repeat(o, "spawn", "taskscope", "tasks/s", 1, sample_spawn, &total);
    long n = bench_pick(o, 100000, 200000);
    bench_repeat(o, "spawn_gather", "taskscope", "tasks/s", 1, sample_spawn_gather, &n);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    return bench_run(bench_main, &o, "bench_spawn");
}
