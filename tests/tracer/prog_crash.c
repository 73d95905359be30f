/*
 * prog_crash.c - a traced program that dies of a fatal signal, for the
 * crash tests (test_crash.py): its last moments must survive it, in the
 * recording of an attached tracer or, with no tracer, in a crash
 * snapshot that `taskscope ps FILE` reads.
 *
 * Tasks: "sleeper" (sleeps a minute), "waiter" (awaits an event nobody
 * sets), and "crasher", which prints "crashing pid=N", spawns
 * "last-words" (its task_create is the program's last event, still
 * unpublished when the signal comes) and then crashes in crash_here():
 *
 *   prog_crash           SIGSEGV (a write to an unmapped address)
 *   prog_crash --abort   SIGABRT (abort())
 *   prog_crash --wait-file PATH
 *                        prints "ready pid=N" once its loop runs, then
 *                        crashes (SIGSEGV) once PATH exists (a test
 *                        attaches a tracer first)
 *   prog_crash --flood   SIGSEGV after 20,000 short tasks: with a small
 *                        ring the flight recorder no longer holds the
 *                        sleeper's and the waiter's events, only the
 *                        crash snapshot's state dump says what they await
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static int use_abort, flood;
static const char *wait_file;
/* An address nothing maps (not NULL: UBSan would stop at a null store
 * before the fault). */
static volatile int *volatile nowhere = (volatile int *)(uintptr_t)64;

__attribute__((noinline)) void crash_here(void) {
    if (use_abort)
        abort();
    *nowhere = 1;
    __asm__ volatile("" ::: "memory");
}

static void *sleeper(void *arg) {
    (void)arg;
    ts_sleep(60);
    return NULL;
}

static void *waiter(void *arg) {
    ts_event_wait(arg);
    return NULL;
}

static void *last_words(void *arg) { return arg; }

static void *short_lived(void *arg) { return arg; }

static void *crasher(void *arg) {
    (void)arg;
    ts_sleep(0.3);
    while (wait_file && access(wait_file, F_OK) != 0)
        ts_sleep(0.02);
    for (int i = 0; flood && i < 20000; i++) {
        ts_task *t = ts_spawn_named("flood", short_lived, NULL);
        ts_await(t, NULL);
    }
    printf("crashing pid=%d\n", (int)getpid());
    fflush(stdout);
    ts_task *t = ts_spawn_named("last-words", last_words, NULL);
    ts_task_detach(t);
    crash_here();
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    /* Ready once the loop exists: a tracer attached before it would get
     * no state dump (a loop born after the request owes none: its events
     * from the first one on are all the tracer needs). */
    if (wait_file) {
        printf("ready pid=%d\n", (int)getpid());
        fflush(stdout);
    }
    ts_event *ev = ts_event_new();
    ts_task *s = ts_spawn_named("sleeper", sleeper, NULL);
    ts_task *w = ts_spawn_named("waiter", waiter, ev);
    ts_task *c = ts_spawn_named("crasher", crasher, NULL);
    ts_await(c, NULL);
    ts_await(s, NULL);
    ts_await(w, NULL);
    return NULL;
}

int main(int argc, char **argv) {
    use_abort = argc > 1 && !strcmp(argv[1], "--abort");
    flood = argc > 1 && !strcmp(argv[1], "--flood");
    if (argc > 2 && !strcmp(argv[1], "--wait-file"))
        wait_file = argv[2];
    /* The default actions, whatever a sanitizer installed: the tests
     * check that the program dies of the signal it raised. */
    signal(SIGSEGV, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    return ts_run(amain, NULL) ? 1 : 0;
}
