/*
 * prog_deadlock.c - a traced program that deadlocks, for the tracer's
 * integration tests: the model must find the cycle and spell it out.
 *
 *   prog_deadlock lock    "left" holds lock A and wants B, "right" holds B
 *                         and wants A; main awaits both
 *   prog_deadlock await   "ping" awaits "pong", which awaits "ping"; main
 *                         sleeps
 *   prog_deadlock cond    as lock, but B is the lock a condition named
 *                         "changed" made for itself (condition "changed"
 *                         lock in the cycle's text)
 *   prog_deadlock lock2s  as lock, but after 2 s main cancels both and
 *                         exits 0: the final state shows no deadlock, so
 *                         only what the live model recorded tells of it
 *
 * It prints "deadlocked pid=N" once the cycle is closed and then (but in
 * lock2s) never finishes: the test kills it (or stops its tracer).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static ts_lock *lock_a, *lock_b;
static ts_condition *cond; /* cond mode: its own lock is B */
static ts_task *ping_task, *pong_task;

static void *left(void *arg) {
    (void)arg;
    ts_lock_acquire(lock_a);
    ts_sleep(0.05);
    int err = cond ? ts_condition_acquire(cond)
                   : ts_lock_acquire(lock_b); /* never returns but cancelled
                                                 * (lock2s): right holds B */
    return err ? ts_fail(err, "cancelled while waiting for the lock") : NULL;
}

static void *right(void *arg) {
    (void)arg;
    if (cond)
        ts_condition_acquire(cond);
    else
        ts_lock_acquire(lock_b);
    ts_sleep(0.05);
    int err = ts_lock_acquire(lock_a); /* never returns but cancelled (lock2s):
                                          * left holds A */
    return err ? ts_fail(err, "cancelled while waiting for the lock") : NULL;
}

static void *ping(void *arg) {
    (void)arg;
    ts_sleep(0.05);
    ts_await(pong_task, NULL);
    return NULL;
}

static void *pong(void *arg) {
    (void)arg;
    ts_sleep(0.05);
    ts_await(ping_task, NULL);
    return NULL;
}

static int resolve_after_2s, cond_mode;

static void *amain(void *arg) {
    int await_mode = arg != NULL;
    if (await_mode) {
        ping_task = ts_spawn_named("ping", ping, NULL);
        pong_task = ts_spawn_named("pong", pong, NULL);
        ts_sleep(0.3);
        printf("deadlocked pid=%d\n", (int)getpid());
        fflush(stdout);
        for (;;)
            ts_sleep(3600);
    }
    lock_a = ts_lock_new_named("A");
    lock_b = ts_lock_new();
    if (cond_mode)
        cond = ts_condition_new_named(NULL, "changed");
    ts_task *t[2] = {ts_spawn_named("left", left, NULL), ts_spawn_named("right", right, NULL)};
    ts_sleep(0.3);
    printf("deadlocked pid=%d\n", (int)getpid());
    fflush(stdout);
    if (resolve_after_2s) {
        ts_sleep(2.0);
        ts_task_cancel(t[0], "deadlock broken by main");
        ts_task_cancel(t[1], "deadlock broken by main");
        ts_gather(t, 2, NULL, (int[2]){0});
        printf("resolved\n");
        return NULL;
    }
    ts_gather(t, 2, NULL, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    int await_mode = argc > 1 && !strcmp(argv[1], "await");
    resolve_after_2s = argc > 1 && !strcmp(argv[1], "lock2s");
    cond_mode = argc > 1 && !strcmp(argv[1], "cond");
    return ts_run(amain, await_mode ? (void *)1 : NULL) ? 1 : 0;
}
