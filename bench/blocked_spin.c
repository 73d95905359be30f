/*
 * blocked_spin.c - the program bench/blocked_latency.py watches: a loop
 * blocked on the CPU again and again, each time by a task spawned in the
 * same ready batch (so its name is still unpublished in the loop's ring
 * while it spins, the case the watchdog must cover).
 *
 *   blocked_spin N   prints "ready", waits for a first SIGUSR1 (the
 *                    benchmark's consumers are attached: a spin before
 *                    that would time their start-up), then N times:
 *                    idle 300 ms, then spawn "spinner" which prints
 *                    "spin I start_ns=T" (T: CLOCK_MONOTONIC at the
 *                    spin's start) and spins until SIGUSR1 or 10 s; then
 *                    prints "done".
 *
 * Run on the debug runtime (LD_LIBRARY_PATH); the benchmark releases each
 * spin once every consumer it measures has reported it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <taskscope/taskscope.h>

static volatile sig_atomic_t released;

static void on_usr1(int sig) {
    (void)sig;
    released = 1;
}

static long long mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *spinner(void *arg) {
    long long start = mono_ns(), end = start + 10000000000LL;
    printf("spin %d start_ns=%lld\n", *(int *)arg, start);
    fflush(stdout);
    while (!released && mono_ns() < end)
        __asm__ volatile("" ::: "memory");
    return NULL;
}

static void *amain(void *arg) {
    int n = *(int *)arg;
    printf("ready\n");
    fflush(stdout);
    for (int waited = 0; !released && waited < 6000; waited++) /* at most a minute */
        ts_sleep(0.01);
    for (int i = 0; i < n; i++) {
        ts_sleep(0.3);
        released = 0;
        ts_await(ts_spawn_named("spinner", spinner, &i), NULL);
    }
    printf("done\n");
    fflush(stdout);
    return NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5;
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    return ts_run(amain, &n) ? 1 : 0;
}
