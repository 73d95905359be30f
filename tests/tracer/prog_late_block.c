/*
 * prog_late_block.c - a loop blocked once, long before a tracer looks:
 * with a small ring the loop's own events (the block's end among them)
 * are overwritten by later work while the watchdog's ring still holds
 * the loop_blocked record.  A tracer attaching late must not show the
 * episode as blocked now, nor invent a second loop.
 *
 *   prog_late_block
 *
 * Blocks its loop for 300 ms in a task, then spawns and awaits small
 * tasks for 2 s (enough to wrap a 64 KiB ring many times), prints
 * "idle pid=N" and then sleeps (suspended, loop idle) for 10 minutes.
 */
#include <stdio.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static void *noop(void *arg) { return arg; }

static void *blocker(void *arg) {
    (void)arg;
    usleep(300 * 1000);
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    ts_await(ts_spawn_named("blocker", blocker, NULL), NULL);
    double end = ts_now() + 2.0;
    while (ts_now() < end)
        for (int i = 0; i < 32; i++)
            ts_await(ts_spawn_named("churn", noop, NULL), NULL);
    printf("idle pid=%d\n", (int)getpid());
    fflush(stdout);
    ts_sleep(600.0);
    return NULL;
}

int main(void) { return ts_run(amain, NULL) ? 1 : 0; }
