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
 *   prog_spin MS
 *               spins MS milliseconds, then prints "spun pid=N spin_ns=S
 *               step_ns=W": S the spin as the spinner measured it, W
 *               the await of the spinner as its parent measured it (the
 *               spinner's step, all of it, lies inside: a bound on the
 *               episode's length that the test takes from the program,
 *               not from a guess at the machine's speed); then idles,
 *               its loop ticking, until SIGUSR1, prints "done" and exits
 *   prog_spin MS AFTER_MS
 *               the same, after printing "idle pid=N" and idling (its loop
 *               ticking) AFTER_MS milliseconds first: a consumer started
 *               in between watches the spin from before it began
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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
__attribute__((noinline)) void spin_on_cpu(double seconds) {
    double end = mono() + seconds;
    while (!released && mono() < end)
        __asm__ volatile("" ::: "memory");
}

static double spin_s = 120, spun_s; /* how long to spin; how long it spun */
static double idle_s;                /* how long to idle before */

static void *spinner(void *arg) {
    (void)arg;
    if (spin_s >= 120) {
        printf("spinning pid=%d\n", (int)getpid());
        fflush(stdout);
    }
    double t0 = mono();
    spin_on_cpu(spin_s);
    spun_s = mono() - t0;
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    if (idle_s > 0) {
        printf("idle pid=%d\n", (int)getpid());
        fflush(stdout);
        for (double end = mono() + idle_s; mono() < end;)
            ts_sleep(0.01);
    }
    double t0 = mono();
    ts_task *t = ts_spawn_named("spinner", spinner, NULL);
    ts_await(t, NULL);
    if (spin_s < 120) {
        printf("spun pid=%d spin_ns=%.0f step_ns=%.0f\n", (int)getpid(), spun_s * 1e9,
               (mono() - t0) * 1e9);
        fflush(stdout);
        while (!released)
            ts_sleep(0.01);
    }
    printf("done\n");
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        spin_s = atof(argv[1]) / 1000;
    if (argc > 2)
        idle_s = atof(argv[2]) / 1000;
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    return ts_run(amain, NULL) ? 1 : 0;
}
