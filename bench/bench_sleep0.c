/*
 * bench_sleep0.c - the cost of ts_sleep(0), in ns per call.
 *
 * One task yields in a loop while nothing else is ready, as
 * bench/anchors/sleep0.py does with asyncio.sleep(0): each call is a
 * switch to the loop, one loop iteration, and a switch back.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"

static double sample_sleep0(void *arg)
{
    long n = *(long *)arg;

    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        int err = ts_sleep(0);
        if (err)
            return err;
    }
    int64_t t1 = bench_now_ns();
    return (double)(t1 - t0) / (double)n;
}

static void *bench_main(void *arg)
{
    const bench_opts *o = arg;
    long n = bench_pick(o, 1000000, 5000000);
    bench_repeat(o, "sleep0", "taskscope", "ns/call", 0, sample_sleep0, &n);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    return bench_run(bench_main, &o, "bench_sleep0");
}
