/*
 * prog_why.c - a request whose time is known by construction, for
 * test_why.py (`taskscope why`, issue 19).
 *
 *   "holder"   takes lock "pool", sleeps 100 ms, spins 20 ms, releases it
 *   "request"  sleeps 50 ms, spins 30 ms, then waits for "pool" (~40 ms,
 *              held by holder), releases it and ends
 *   "fan"      gathers "fast" (sleeps 10 ms) and "slow" (sleeps 30 ms)
 *   "victim"   sleeps an hour, cancelled by main after 20 ms
 *
 * The program measures each of request's three phases itself (monotonic
 * clock around each call) and prints them, with both task numbers, so
 * the test compares taskscope's decomposition with what really happened
 * rather than with the nominal values a loaded machine stretches.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <taskscope/taskscope.h>

static ts_lock *pool;

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Busy on the CPU (never yielding to the loop) for ms milliseconds. */
static void spin(double ms) {
    uint64_t end = now_ns() + (uint64_t)(ms * 1e6);
    while (now_ns() < end) {
    }
}

static void *holder_main(void *arg) {
    (void)arg;
    ts_lock_acquire(pool);
    ts_sleep(0.100);
    spin(20);
    ts_lock_release(pool);
    return NULL;
}

static uint64_t sleep_ns, spin_ns, lock_ns;

static void *request_main(void *arg) {
    (void)arg;
    uint64_t a = now_ns();
    ts_sleep(0.050);
    uint64_t b = now_ns();
    spin(30);
    uint64_t c = now_ns();
    if (ts_lock_acquire(pool) == 0)
        ts_lock_release(pool);
    uint64_t d = now_ns();
    sleep_ns = b - a;
    spin_ns = c - b;
    lock_ns = d - c;
    return NULL;
}

/* "fan" gathers "fast" (sleeps 10 ms) and "slow" (sleeps 30 ms): its
 * wait's critical child is slow, though gather parks naming fast. */
static void *nap_main(void *arg) {
    ts_sleep(*(double *)arg);
    return NULL;
}

static void *fan_main(void *arg) {
    (void)arg;
    static double fast_s = 0.010, slow_s = 0.030;
    ts_task *kids[2] = {ts_spawn_named("fast", nap_main, &fast_s),
                        ts_spawn_named("slow", nap_main, &slow_s)};
    ts_gather(kids, 2, NULL, NULL);
    return NULL;
}

/* "victim" sleeps an hour and is cancelled by main after 20 ms. */
static void *victim_main(void *arg) {
    (void)arg;
    ts_sleep(3600);
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    pool = ts_lock_new_named("pool");
    ts_task *h = ts_spawn_named("holder", holder_main, NULL);
    ts_task *r = ts_spawn_named("request", request_main, NULL);
    ts_task *f = ts_spawn_named("fan", fan_main, NULL);
    uint64_t hid = ts_task_id(h), rid = ts_task_id(r), fid = ts_task_id(f);
    ts_task *v = ts_spawn_named("victim", victim_main, NULL);
    uint64_t vid = ts_task_id(v);
    ts_sleep(0.020);
    ts_task_cancel(v, "enough");
    ts_await(v, NULL);
    ts_await(f, NULL);
    ts_await(r, NULL);
    ts_await(h, NULL);
    printf("fan=%llu victim=%llu\n", (unsigned long long)fid, (unsigned long long)vid);
    printf("request=%llu holder=%llu sleep_ns=%llu spin_ns=%llu lock_ns=%llu\n",
           (unsigned long long)rid, (unsigned long long)hid, (unsigned long long)sleep_ns,
           (unsigned long long)spin_ns, (unsigned long long)lock_ns);
    return NULL;
}

int main(void) { return ts_run(amain, NULL) ? 1 : 0; }
