/*
 * bench_pingpong.c - two tasks passing an item back and forth through two
 * unbounded ts_queue; ns per switch (one hand-over from one task to the
 * other).  Same workload as bench/anchors/pingpong.py.
 *
 * Each round is: ping puts on q1 and waits on q2; pong gets from q1 and
 * puts on q2.  A round is two hand-overs, so per switch = time / (2 rounds).
 */
#include <stdint.h>
#include <stdio.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"

typedef struct pingpong {
    ts_queue *q1, *q2;
    long rounds;
} pingpong;

static void *pong(void *arg)
{
    pingpong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        void *item;
        int err = ts_queue_get(p->q1, &item);
        if (!err)
            err = ts_queue_put(p->q2, item);
        if (err)
            return ts_fail(err, "pong round %ld", i);
    }
    return NULL;
}

static void *ping(void *arg)
{
    pingpong *p = arg;
    for (long i = 0; i < p->rounds; i++) {
        void *item;
        int err = ts_queue_put(p->q1, (void *)(intptr_t)i);
        if (!err)
            err = ts_queue_get(p->q2, &item);
        if (err)
            return ts_fail(err, "ping round %ld", i);
    }
    return NULL;
}

static double sample_pingpong(void *arg)
{
    pingpong p = {ts_queue_new(0), ts_queue_new(0), *(long *)arg};
    double result = -ENOMEM;

    if (p.q1 && p.q2) {
        int64_t t0 = bench_now_ns();
        ts_task *a = ts_spawn(ping, &p);
        ts_task *b = ts_spawn(pong, &p);
        /* Alone, either task would wait forever for the other. */
        if (!a && b)
            ts_task_cancel(b, NULL);
        if (a && !b)
            ts_task_cancel(a, NULL);
        int ea = a ? ts_await(a, NULL) : -ENOMEM;
        int eb = b ? ts_await(b, NULL) : -ENOMEM;
        int64_t t1 = bench_now_ns();
        result = ea ? ea : eb ? eb : (double)(t1 - t0) / (double)(2 * p.rounds);
    }
    if (p.q1)
        ts_queue_free(p.q1);
    if (p.q2)
        ts_queue_free(p.q2);
    return result;
}

static void *bench_main(void *arg)
{
    const bench_opts *o = arg;
    long rounds = bench_pick(o, 500000, 2500000);
    bench_repeat(o, "pingpong", "taskscope", "ns/switch", 0, sample_pingpong,
                 &rounds);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    return bench_run(bench_main, &o, "bench_pingpong");
}
