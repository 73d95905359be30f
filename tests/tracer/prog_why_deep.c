/*
 * prog_why_deep.c - programs whose `taskscope why` answer is known by
 * construction, for test_why_deep.py (issue 19, points 1-4).
 *
 *   prog_why_deep queue
 *     "fan" gathers "quick" (sleeps 10 ms) and "consumer" (gets from
 *     queue "jobs").  "producer" sleeps 20 ms, sets event "go", then
 *     makes a blocking call, usleep(200 ms): the loop is blocked; then it
 *     puts the item.  "bystander" waits on "go": it is runnable the whole
 *     blocking call, while producer runs.  So: fan's critical child is
 *     consumer, whose queue wait was put by producer, late because of its
 *     blocking step; bystander's scheduling delay is producer's step.
 *   prog_why_deep chain N
 *     task 1 of the chain awaits task 2, ... task N sleeps 30 ms.
 *   prog_why_deep cond
 *     "listener" waits on condition "ready"; "notifier" sleeps 30 ms,
 *     then notifies it.
 *   prog_why_deep live
 *     "old" sleeps 10 ms in a loop; then 20000 tasks come and go (with a
 *     small TASKSCOPE_RING_SIZE the ring forgets old's spawn); then
 *     "fresh" starts sleeping 10 ms in a loop too; the program prints
 *     "ready pid=P old=O fresh=F" and runs until killed.
 *   prog_why_deep sem
 *     semaphore "db" with 2 permits: "s1" and "s2" take one each and
 *     sleep 40 and 60 ms; "s3" then waits for a permit (its holders are
 *     s1 and s2; s1 releases first and wakes it).
 *
 * Each prints the task numbers and what it measured (monotonic clock
 * around the call), so the test compares with what really happened.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- queue ---------------------------------------------------------------- */

static ts_queue *jobs;
static ts_event *go;
static uint64_t blocked_ns;

static void *quick_main(void *arg) {
    (void)arg;
    ts_sleep(0.010);
    return NULL;
}

static void *consumer_main(void *arg) {
    (void)arg;
    void *item;
    ts_queue_get(jobs, &item);
    return NULL;
}

/* ts_sleep(s), call to return, in ns.  A timer counts from the loop's
 * time at its iteration's start, which the steps before this one in the
 * iteration have used up in part (much of it on a loaded machine): the
 * tests compare with what was measured, not with s. */
static uint64_t timed_sleep(double s) {
    uint64_t t0 = now_ns();
    ts_sleep(s);
    return now_ns() - t0;
}

static uint64_t producer_sleep_ns, notifier_sleep_ns;

static void *producer_main(void *arg) {
    (void)arg;
    producer_sleep_ns = timed_sleep(0.020);
    ts_event_set(go);
    uint64_t a = now_ns();
    usleep(200000); /* the bug under study: a blocking call on the loop */
    blocked_ns = now_ns() - a;
    ts_queue_put(jobs, &blocked_ns);
    return NULL;
}

static void *bystander_main(void *arg) {
    (void)arg;
    ts_event_wait(go);
    return NULL;
}

static void *fan_main(void *arg) {
    (void)arg;
    ts_task *kids[2] = {ts_spawn_named("quick", quick_main, NULL),
                        ts_spawn_named("consumer", consumer_main, NULL)};
    printf("consumer=%llu\n", (unsigned long long)ts_task_id(kids[1]));
    ts_gather(kids, 2, NULL, NULL);
    return NULL;
}

static void *queue_main(void *arg) {
    (void)arg;
    jobs = ts_queue_new_named(0, "jobs");
    go = ts_event_new_named("go");
    ts_task *f = ts_spawn_named("fan", fan_main, NULL);
    ts_task *b = ts_spawn_named("bystander", bystander_main, NULL);
    ts_task *p = ts_spawn_named("producer", producer_main, NULL);
    uint64_t fid = ts_task_id(f), bid = ts_task_id(b), pid = ts_task_id(p);
    ts_await(f, NULL);
    ts_await(b, NULL);
    ts_await(p, NULL);
    printf("fan=%llu bystander=%llu producer=%llu blocked_ns=%llu sleep_ns=%llu\n",
           (unsigned long long)fid, (unsigned long long)bid, (unsigned long long)pid,
           (unsigned long long)blocked_ns, (unsigned long long)producer_sleep_ns);
    return NULL;
}

/* ---- chain ---------------------------------------------------------------- */

static uint64_t bottom_sleep_ns;

static void *link_main(void *arg) {
    long left = (long)(intptr_t)arg;
    if (left <= 1) {
        bottom_sleep_ns = timed_sleep(0.030);
        return NULL;
    }
    ts_task *next = ts_spawn_named("link", link_main, (void *)(intptr_t)(left - 1));
    ts_await(next, NULL);
    return NULL;
}

static long chain_n;

static void *chain_main(void *arg) {
    (void)arg;
    ts_task *top = ts_spawn_named("link", link_main, (void *)(intptr_t)chain_n);
    uint64_t id = ts_task_id(top);
    ts_await(top, NULL);
    printf("top=%llu n=%ld bottom_sleep_ns=%llu\n", (unsigned long long)id, chain_n,
           (unsigned long long)bottom_sleep_ns);
    return NULL;
}

/* ---- semaphore ------------------------------------------------------------ */

static ts_semaphore *db;

static void *holder_main(void *arg) {
    ts_semaphore_acquire(db);
    ts_sleep(*(double *)arg);
    ts_semaphore_release(db);
    return NULL;
}

static uint64_t sem_wait_ns;

static void *s3_main(void *arg) {
    (void)arg;
    uint64_t a = now_ns();
    ts_semaphore_acquire(db);
    sem_wait_ns = now_ns() - a;
    ts_semaphore_release(db);
    return NULL;
}

static void *sem_main(void *arg) {
    (void)arg;
    static double t1 = 0.040, t2 = 0.060;
    db = ts_semaphore_new_named(2, "db");
    ts_task *a = ts_spawn_named("s1", holder_main, &t1);
    ts_task *b = ts_spawn_named("s2", holder_main, &t2);
    ts_sleep(0.005); /* both hold a permit */
    ts_task *c = ts_spawn_named("s3", s3_main, NULL);
    uint64_t ia = ts_task_id(a), ib = ts_task_id(b), ic = ts_task_id(c);
    ts_await(a, NULL);
    ts_await(b, NULL);
    ts_await(c, NULL);
    printf("s1=%llu s2=%llu s3=%llu wait_ns=%llu\n", (unsigned long long)ia,
           (unsigned long long)ib, (unsigned long long)ic, (unsigned long long)sem_wait_ns);
    return NULL;
}

/* ---- condition ------------------------------------------------------------ */

static ts_condition *ready;

static void *listener_main(void *arg) {
    (void)arg;
    ts_condition_acquire(ready);
    ts_condition_wait(ready);
    ts_condition_release(ready);
    return NULL;
}

static void *notifier_main(void *arg) {
    (void)arg;
    notifier_sleep_ns = timed_sleep(0.030);
    ts_condition_acquire(ready);
    ts_condition_notify(ready, 1);
    ts_condition_release(ready);
    return NULL;
}

static void *cond_main(void *arg) {
    (void)arg;
    ready = ts_condition_new_named(ts_lock_new(), "ready");
    ts_task *l = ts_spawn_named("listener", listener_main, NULL);
    ts_task *n = ts_spawn_named("notifier", notifier_main, NULL);
    uint64_t il = ts_task_id(l), in = ts_task_id(n);
    ts_await(l, NULL);
    ts_await(n, NULL);
    printf("listener=%llu notifier=%llu sleep_ns=%llu\n", (unsigned long long)il,
           (unsigned long long)in, (unsigned long long)notifier_sleep_ns);
    return NULL;
}

/* ---- live ---------------------------------------------------------------- */

static void *napper_main(void *arg) {
    (void)arg;
    for (;;)
        if (ts_sleep(0.010))
            return NULL;
}

static void *noop_main(void *arg) { return arg; }

static void *live_main(void *arg) {
    (void)arg;
    ts_task *old = ts_spawn_named("old", napper_main, NULL);
    for (int i = 0; i < 20000; i++) {
        ts_task *t = ts_spawn_named("churn", noop_main, NULL);
        ts_await(t, NULL);
    }
    ts_task *fresh = ts_spawn_named("fresh", napper_main, NULL);
    ts_sleep(0.050);
    printf("ready pid=%d old=%llu fresh=%llu\n", (int)getpid(),
           (unsigned long long)ts_task_id(old), (unsigned long long)ts_task_id(fresh));
    fflush(stdout);
    ts_sleep(3600);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "live"))
        return ts_run(live_main, NULL) ? 1 : 0;
    if (argc >= 2 && !strcmp(argv[1], "queue"))
        return ts_run(queue_main, NULL) ? 1 : 0;
    if (argc >= 3 && !strcmp(argv[1], "chain")) {
        chain_n = atol(argv[2]);
        return ts_run(chain_main, NULL) ? 1 : 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "cond"))
        return ts_run(cond_main, NULL) ? 1 : 0;
    if (argc >= 2 && !strcmp(argv[1], "sem"))
        return ts_run(sem_main, NULL) ? 1 : 0;
    fprintf(stderr, "usage: prog_why_deep queue | chain N | sem | cond | live\n");
    return 2;
}
