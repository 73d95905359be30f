/*
 * prog_cancel_storm.c - a task group whose one failing child makes the
 * group cancel all the others at once: the recording's fidelity under
 * drops (issue 13, point 5).
 *
 *   prog_cancel_storm [CHILDREN]
 *
 * The body (task "owner") spawns CHILDREN (default 10000) children named
 * "sleeper" that sleep for a minute, and one named "failer" that fails
 * once they are all spawned.  The group cancels every sleeper on the
 * owner's behalf.  Prints "owner N" (the owner's task id, the main task
 * of ts_run) and "group ERR, K failed", and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

static void *sleeper(void *arg) {
    (void)arg;
    ts_sleep(60.0);
    return NULL;
}

static void *failer(void *arg) {
    (void)arg;
    ts_sleep(0.01);
    return ts_fail(-EIO, "the one child that fails");
}

static void *owner(void *arg) {
    long n = *(long *)arg;
    printf("owner %llu\n", (unsigned long long)ts_task_id(ts_current_task()));
    ts_group *g = ts_group_new();
    if (!g)
        return ts_fail(-ENOMEM, "no group");
    ts_spawn_opts sleepy = {.name = "sleeper"}, failing = {.name = "failer"};
    for (long i = 0; i < n; i++)
        ts_group_spawn_with(g, &sleepy, sleeper, NULL);
    ts_group_spawn_with(g, &failing, failer, NULL);
    int err = ts_group_wait(g, 0);
    printf("group %d, %zu failed\n", err, ts_group_error_count(g));
    ts_group_free(g);
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    int rc = ts_run(owner, &n) ? 1 : 0;
    fflush(stdout);
    return rc;
}
