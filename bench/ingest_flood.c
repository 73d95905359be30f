/*
 * ingest_flood.c - the traced program of the `ingest` benchmark: emits
 * trace events as fast as the debug runtime can, for a given time, then
 * exits normally.
 *
 *   ingest_flood SECONDS
 *
 * It spawns tasks in batches and awaits them, so every task costs the
 * ring a task_create, a task_resume, a task_done and a task_free, plus
 * main's own suspensions: a mix of the events every real program emits
 * most.  Linked against the release runtime like any program; bench_ingest
 * starts it with the debug runtime in its place (LD_LIBRARY_PATH), as
 * `taskscope run` does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

enum { BATCH = 64 };

static void *noop(void *arg) { return arg; }

static void *flood(void *arg) {
    double seconds = *(double *)arg;
    double end = ts_now() + seconds;
    ts_task *batch[BATCH];
    while (ts_now() < end) {
        for (int i = 0; i < BATCH; i++)
            batch[i] = ts_spawn(noop, NULL);
        for (int i = 0; i < BATCH; i++)
            if (batch[i] && ts_await(batch[i], NULL))
                return ts_fail(-ECANCELED, "interrupted");
    }
    return NULL;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    int err = ts_run(flood, &seconds);
    if (err) {
        fprintf(stderr, "ingest_flood: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
