/*
 * app.c - a user's program, built by tests/install/check_install.sh
 * against the INSTALLED headers and .pc files: as strict C11
 * (-std=c11 -pedantic, no _GNU_SOURCE), as C++17 with g++ and clang++
 * (the same file, -x c++), and statically against taskscope-debug.
 *
 * It uses the convenience macros a user reaches for first - ts_spawn_named,
 * ts_gather, a task group - and prints what it saw, which the script
 * compares.  Written in the common subset of C11 and C++17: every void *
 * conversion is a cast.
 */
#include <taskscope/taskscope.h>

#include <stdio.h>
#include <string.h>

static void *square(void *arg) {
    long n = (long)(size_t)arg;
    ts_sleep(0);   /* suspend once, so gather really waits */
    return (void *)(size_t)(n * n);
}

static long group_sum;

static void *add_to_sum(void *arg) {
    ts_sleep(0);
    group_sum += (long)(size_t)arg;
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    /* ts_spawn_named: the name is the task's, not the function's */
    ts_task *t[3];
    for (long i = 0; i < 3; i++)
        t[i] = ts_spawn_named("squarer", square, (void *)(size_t)(i + 2));
    printf("name: %s\n", ts_task_name(t[0]));
    void *res[3];
    int err = ts_gather(t, 3, res, NULL);
    printf("gather: %d %ld %ld %ld\n", err, (long)(size_t)res[0], (long)(size_t)res[1],
           (long)(size_t)res[2]);

    ts_group *g = ts_group_new();
    for (long i = 1; i <= 4; i++)
        ts_group_spawn(g, add_to_sum, (void *)(size_t)i);
    err = ts_group_wait(g, 0);
    ts_group_free(g);
    printf("group: %d %ld\n", err, group_sum);

    /* 0 on the debug runtime, -ENOTSUP on the release one */
    printf("runtime: %s\n", ts_debug_set_block_threshold(0.5) == 0 ? "debug" : "release");
    return NULL;
}

int main(void) { return ts_run(amain, NULL) == 0 ? 0 : 1; }
