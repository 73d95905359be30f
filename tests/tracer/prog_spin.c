/*
 * prog_spin.c - a task that blocks its loop on the CPU in its very first
 * step, until told to stop: for the tests that a blocked loop is shown
 * *while* it is blocked, by every live consumer, with the task's name
 * and spawn site.
 *
 * The spinner is spawned and runs in the same ready batch as its spawn
 * (the loop does not poll in between, so it has not published its ring):
 * its task_create, and the STRING and SITE records that name it, are
 * still unpublished in the loop's ring while it spins.  Only the
 * watchdog can tell a reader who it is.
 *
 *   prog_spin   prints "spinning pid=N", spins until SIGUSR1 (or 120 s),
 *               then prints "done" and exits
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static volatile sig_atomic_t released;

static void on_usr1(int sig) {
    (void)sig;
    released = 1;
}

static double mono(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Not static and never inlined: a frame of its own in the watchdog's
 * stack. */
__attribute__((noinline)) void spin_on_cpu(void) {
    double end = mono() + 120;
    while (!released && mono() < end)
        __asm__ volatile("" ::: "memory");
}

static void *spinner(void *arg) {
    (void)arg;
    printf("spinning pid=%d\n", (int)getpid());
    fflush(stdout);
    spin_on_cpu();
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("spinner", spinner, NULL);
    ts_await(t, NULL);
    printf("done\n");
    fflush(stdout);
    return NULL;
}

int main(void) {
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    return ts_run(amain, NULL) ? 1 : 0;
}
