/*
 * prog_many.c - a traced program with many tasks, for test_many.py:
 * reports on a recording must count and list every one of them, however
 * many the live model would keep.
 *
 *   prog_many N           spawns N tasks named "w-<i>", from two spawn
 *                         sites (even i from one, odd i from the other),
 *                         in paced batches of 500 (a short sleep after
 *                         each lets the tracer keep up: nothing dropped),
 *                         awaits them all, prints "spawned N" and exits 0
 *   prog_many N --burst   the same N tasks in one burst, no pause: how
 *                         much the default ring drops (README figures)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <taskscope/taskscope.h>

enum { BATCH = 500 };

static void *work(void *arg) { return arg; }

static ts_task *spawn_one(long i) {
    char name[32];
    snprintf(name, sizeof name, "w-%ld", i);
    if (i % 2 == 0)
        return ts_spawn_named(name, work, NULL);   /* site A */
    return ts_spawn_named(name, work, NULL);       /* site B */
}

static long n_tasks;
static int burst;

static void *amain(void *arg) {
    (void)arg;
    long done = 0;
    ts_task **all = burst ? calloc((size_t)n_tasks, sizeof *all) : NULL;
    if (burst && !all)
        return ts_fail(-12, "out of memory");
    for (long i = 0; i < n_tasks;) {
        ts_task *batch[BATCH];
        int k = 0;
        for (; k < BATCH && i < n_tasks; k++, i++) {
            if (burst)
                all[i] = spawn_one(i);
            else
                batch[k] = spawn_one(i);
        }
        if (burst)
            continue;
        for (int j = 0; j < k; j++)
            done += batch[j] && ts_await(batch[j], NULL) == 0;
        ts_sleep(0.003);
    }
    for (long i = 0; burst && i < n_tasks; i++)
        done += all[i] && ts_await(all[i], NULL) == 0;
    free(all);
    printf("spawned %ld\n", done);
    return NULL;
}

int main(int argc, char **argv) {
    n_tasks = argc > 1 ? atol(argv[1]) : 1000;
    burst = argc > 2 && !strcmp(argv[2], "--burst");
    return ts_run(amain, NULL) ? 1 : 0;
}
