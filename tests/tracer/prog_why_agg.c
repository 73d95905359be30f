/*
 * prog_why_agg.c - twenty requests spawned at one site, the slowest known
 * by construction, for test_why_agg.py (`taskscope why --site/--name` and
 * `export --format folded`, issue 19 points 2 and 3).
 *
 *   "flusher"  takes lock "pool", waits for event "go", spins 40 ms (busy
 *              on the CPU: the loop runs nothing else), releases it
 *   "request"  x20, all spawned on the line marked SPAWN below: requests
 *              3 and 11 take "pool" (so wait 40 ms and more for the
 *              flusher), the other eighteen sleep 2 ms
 *   main       sets "go" once the eighteen have ended: however loaded the
 *              machine, no fast request is held up by the flusher's spin,
 *              so the slowest two are the lock waiters by construction
 *
 *   "evil;name\nx"  sleeps 2 ms: a name that would split a folded frame
 *              and forge a line if written raw
 *
 * Prints the spawn line, the two slow requests' task numbers and the
 * flusher's, so the test knows the answer without guessing.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <taskscope/taskscope.h>

static ts_lock *pool;
static ts_event *go;

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

static void *flusher_main(void *arg) {
    (void)arg;
    ts_lock_acquire(pool);
    ts_event_wait(go);
    spin(40);
    ts_lock_release(pool);
    return NULL;
}

static void *request_main(void *arg) {
    if ((intptr_t)arg) {
        if (ts_lock_acquire(pool) == 0)
            ts_lock_release(pool);
    } else {
        ts_sleep(0.002);
    }
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    pool = ts_lock_new_named("pool");
    go = ts_event_new_named("go");
    ts_task *f = ts_spawn_named("flusher", flusher_main, NULL);
    ts_sleep(0.001); /* the flusher holds the lock before any request asks */
    ts_task *r[20];
    uint64_t slow[2] = {0, 0};
    int line = 0;
    for (intptr_t i = 0; i < 20; i++) {
        int is_slow = i == 3 || i == 11;
        line = __LINE__ + 1; /* SPAWN */
        r[i] = ts_spawn_named("request", request_main, (void *)(intptr_t)is_slow);
        if (is_slow)
            slow[i == 11] = ts_task_id(r[i]);
    }
    ts_task *evil = ts_spawn_named("evil;name\nx", request_main, NULL);
    for (int i = 0; i < 20; i++)
        if (i != 3 && i != 11)
            ts_await(r[i], NULL);
    ts_event_set(go);
    ts_await(r[3], NULL);
    ts_await(r[11], NULL);
    ts_await(f, NULL);
    ts_await(evil, NULL);
    printf("line=%d slow=%llu,%llu flusher=%llu evil=%llu\n", line, (unsigned long long)slow[0],
           (unsigned long long)slow[1], (unsigned long long)ts_task_id(f),
           (unsigned long long)ts_task_id(evil));
    return NULL;
}

int main(void) { return ts_run(amain, NULL) ? 1 : 0; }
