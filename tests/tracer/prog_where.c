/*
 * prog_where.c - parked tasks in known nested functions, user fields and
 * log lines, for test_where.py (`taskscope where`, ps --stacks/--fields,
 * the recording, the export).
 *
 *   "sleeper"  sleeper_main -> where_outer -> where_middle -> where_inner
 *              -> ts_sleep(3600)
 *   "locker"   locker_main -> lock_wait_outer -> lock_wait_inner
 *              -> ts_lock_acquire (main holds the lock)
 * Fields: sleeper user=alice, step=2 (step set to 1 first), and a value
 * with an escape sequence; locker has "gone" set and removed.  Log lines:
 * one from main, one from sleeper.
 *
 * Prints "parked pid=N" once both are parked, then main sleeps until
 * killed.  With the argument "block", main first blocks the loop for 9 s
 * (a plain sleep(3) call, three times) and prints "unblocked" after it: a
 * cancel sent meanwhile is applied when the step returns.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static ts_lock *lock;
static volatile int sink; /* keeps every call a real call, not a tail jump */

__attribute__((noinline)) static void where_inner(void) {
    ts_event_log("sleeper: going to sleep");
    ts_sleep(3600);
    sink++;
}
__attribute__((noinline)) static void where_middle(void) { where_inner(); sink++; }
__attribute__((noinline)) static void where_outer(void) { where_middle(); sink++; }

static void *sleeper_main(void *arg) {
    (void)arg;
    where_outer();
    sink++;
    return NULL;
}

__attribute__((noinline)) static void lock_wait_inner(void) {
    if (ts_lock_acquire(lock) == 0)
        ts_lock_release(lock);
    sink++;
}
__attribute__((noinline)) static void lock_wait_outer(void) { lock_wait_inner(); sink++; }

static void *locker_main(void *arg) {
    (void)arg;
    lock_wait_outer();
    sink++;
    return NULL;
}

static void *amain(void *arg) {
    lock = ts_lock_new();
    ts_lock_acquire(lock);
    ts_task *s = ts_spawn_named("sleeper", sleeper_main, NULL);
    ts_task *l = ts_spawn_named("locker", locker_main, NULL);
    ts_task_set_field(s, "user", "alice");
    ts_task_set_field(s, "step", "1");
    ts_task_set_field(s, "step", "2");
    ts_task_set_field(s, "color", "\x1b[31mred");
    ts_task_set_field(l, "gone", "soon");
    ts_task_set_field(l, "gone", NULL);
    ts_event_log("main: spawned both");
    ts_sleep(0.2);
    printf("parked pid=%d\n", (int)getpid());
    fflush(stdout);
    if (arg) {
        sleep(3); /* blocks the loop, on purpose */
        sleep(3);
        sleep(3);
        printf("unblocked\n");
        fflush(stdout);
    }
    ts_sleep(3600);
    return NULL;
}

int main(int argc, char **argv) {
    int block = argc > 1 && !strcmp(argv[1], "block");
    return ts_run(amain, block ? "block" : NULL) ? 1 : 0;
}
