/*
 * prog_flood.c - a traced program that emits events faster than any
 * tracer can store them, for the tracer's integration tests (drops, a
 * recording that fills its disk).
 *
 *   prog_flood SECONDS
 *
 * Spawns and awaits tasks named "flood" in batches for SECONDS, then
 * prints "flooded N" (the number of tasks) and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

enum { BATCH = 64 };

static void *noop(void *arg) { return arg; }

static void *flood(void *arg) {
    double end = ts_now() + *(double *)arg;
    long n = 0;
    ts_task *batch[BATCH];
    while (ts_now() < end) {
        for (int i = 0; i < BATCH; i++)
            batch[i] = ts_spawn_named("flood", noop, NULL);
        for (int i = 0; i < BATCH; i++)
            if (batch[i] && ts_await(batch[i], NULL) == 0)
                n++;
    }
    printf("flooded %ld\n", n);
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2;
    return ts_run(flood, &seconds) ? 1 : 0;
}
