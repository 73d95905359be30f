/*
 * test_loop.c - black-box tests of the event loop (loop.h).
 *
 * Written from the header's contract, not from loop.c: FIFO call_soon,
 * timers ordered by deadline with ties in the order they were set, handle
 * cancellation, cross-thread wake-ups, run_forever/stop iteration
 * boundaries, run_until_complete, loops on several threads at once, and
 * the foreign-thread rule (TS_EWRONGLOOP plus a diagnostic).
 *
 * Invariant kept by every test: it never asserts on how long something took,
 * only on order and on lower bounds the contract promises ("at least").
 * A hang (a wake-up that never comes) is caught by a safety timer that stops
 * the loop and flags the failure instead of blocking the suite.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

enum { LOG_CAP = 512 };

typedef struct order_log {
    int n;
    int v[LOG_CAP];
} order_log;

/* One scheduled callback: what it logs, on which loop, and (if > 0) the
 * deadline before which it must not run. */
typedef struct entry {
    order_log *log;
    int v;
    ts_loop *loop;
    double when;
    ts_handle **victim;   /* for cb_cancel_other */
    struct entry *next;   /* for cb_log_and_schedule */
} entry;

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

static void log_push(order_log *l, int v) {
    if (l->n < LOG_CAP)
        l->v[l->n] = v;
    l->n++;
}

static void assert_log(const order_log *l, const int *want, int n) {
    assert_int_equal(l->n, n);
    for (int i = 0; i < n; i++)
        if (l->v[i] != want[i])
            fail_msg("position %d: got %d, want %d", i, l->v[i], want[i]);
}

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cb_log(void *arg) {
    entry *e = arg;
    if (e->when > 0 && ts_loop_time(e->loop) < e->when - 1e-6)
        fail_msg("timer %d ran at %.9f before its deadline %.9f", e->v,
                 ts_loop_time(e->loop), e->when);
    log_push(e->log, e->v);
}

static void cb_stop(void *arg) {
    entry *e = arg;
    log_push(e->log, e->v);
    ts_loop_stop(e->loop);
}

static void cb_log_and_schedule(void *arg) {
    entry *e = arg;
    log_push(e->log, e->v);
    assert_int_equal(ts_call_soon(NULL, cb_log, e->next, NULL), 0);
}

static void cb_cancel_other(void *arg) {
    entry *e = arg;
    log_push(e->log, e->v);
    assert_int_equal(ts_handle_cancel(*e->victim), 1);
}

/* ---- call_soon -------------------------------------------------------- */

static void test_call_soon_fifo(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    order_log log = {0};
    entry e[101];
    for (int i = 0; i < 100; i++) {
        e[i] = (entry){.log = &log, .v = i, .loop = l};
        assert_int_equal(ts_call_soon(l, cb_log, &e[i], NULL), 0);
    }
    e[100] = (entry){.log = &log, .v = 1000, .loop = l};
    assert_int_equal(ts_call_soon(NULL, cb_stop, &e[100], NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    int want[101];
    for (int i = 0; i < 100; i++)
        want[i] = i;
    want[100] = 1000;
    assert_log(&log, want, 101);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

/* A callback scheduled while an iteration runs belongs to the next one,
 * and stop() ends the run after the current iteration: so C is not run by
 * the first run_forever but is the first thing the second one runs. */
static void test_stop_ends_after_current_iteration(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    order_log log = {0};
    entry c = {.log = &log, .v = 3, .loop = l};
    entry a = {.log = &log, .v = 1, .loop = l, .next = &c};
    entry b = {.log = &log, .v = 2, .loop = l};
    entry s = {.log = &log, .v = 4, .loop = l};
    entry s2 = {.log = &log, .v = 5, .loop = l};
    assert_int_equal(ts_call_soon(l, cb_log_and_schedule, &a, NULL), 0);
    assert_int_equal(ts_call_soon(l, cb_log, &b, NULL), 0);
    assert_int_equal(ts_call_soon(l, cb_stop, &s, NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_log(&log, (int[]){1, 2, 4}, 3);
    assert_int_equal(ts_loop_is_running(l), 0);
    assert_int_equal(ts_call_soon(l, cb_stop, &s2, NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_log(&log, (int[]){1, 2, 4, 3, 5}, 5);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

typedef struct busy_probe {
    ts_loop *loop;
    int running, run_again, close_rc;
} busy_probe;

static void cb_probe_busy(void *arg) {
    busy_probe *p = arg;
    p->running = ts_loop_is_running(p->loop);
    p->run_again = ts_loop_run_forever(p->loop);
    p->close_rc = ts_loop_close(p->loop);
    ts_loop_stop(p->loop);
}

static void test_running_loop_is_busy(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    busy_probe p = {.loop = l};
    assert_int_equal(ts_loop_is_running(l), 0);
    assert_int_equal(ts_call_soon(l, cb_probe_busy, &p, NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_int_equal(p.running, 1);
    assert_int_equal(p.run_again, -EBUSY);
    assert_int_equal(p.close_rc, -EBUSY);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

static void *close_from_task(void *arg) {
    (void)arg;
    assert_int_equal(ts_loop_close(ts_loop_current()), -EBUSY);
    assert_int_equal(ts_loop_is_running(ts_loop_current()), 1);
    return NULL;
}

static void test_close_from_task_is_busy(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(close_from_task, NULL), 0);
    assert_no_diag();
}

/* ---- timers ----------------------------------------------------------- */

static void test_call_later_order(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    order_log log = {0};
    double now = ts_loop_time(l);
    entry e[4] = {
        {.log = &log, .v = 30, .loop = l, .when = now + 0.03},
        {.log = &log, .v = 10, .loop = l, .when = now + 0.01},
        {.log = &log, .v = 20, .loop = l, .when = now + 0.02},
        {.log = &log, .v = 99, .loop = l},
    };
    assert_int_equal(ts_call_later(l, 0.03, cb_log, &e[0], NULL), 0);
    assert_int_equal(ts_call_later(l, 0.01, cb_log, &e[1], NULL), 0);
    assert_int_equal(ts_call_at(l, now + 0.02, cb_log, &e[2], NULL), 0);
    assert_int_equal(ts_call_later(NULL, 0.05, cb_stop, &e[3], NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_log(&log, (int[]){10, 20, 30, 99}, 4);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

/* 300 timers over 4 distinct deadlines in a scrambled order: they must run
 * sorted by deadline and, among equal deadlines, in the order they were
 * set (a stable sort), which a heap without a tie-breaker gets wrong. */
static void test_equal_deadlines_fifo(void **state) {
    (void)state;
    diag_reset();
    enum { N = 300 };
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    order_log log = {0};
    static entry e[N + 1];
    int slot[N];
    double base = ts_loop_time(l) + 0.01;
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        slot[i] = (int)((seed >> 16) % 4);
        e[i] = (entry){.log = &log, .v = i, .loop = l,
                       .when = base + 0.002 * slot[i]};
        assert_int_equal(ts_call_at(l, e[i].when, cb_log, &e[i], NULL), 0);
    }
    e[N] = (entry){.log = &log, .v = -1, .loop = l};
    assert_int_equal(ts_call_at(l, base + 0.05, cb_stop, &e[N], NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    int want[N + 1], k = 0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < N; i++)
            if (slot[i] == s)
                want[k++] = i;
    want[k++] = -1;
    assert_log(&log, want, k);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

static void test_bad_arguments(void **state) {
    (void)state;
    diag_reset();
    /* No loop on this thread yet. */
    assert_null(ts_loop_current());
    assert_int_equal(ts_call_soon(NULL, cb_log, NULL, NULL), -EINVAL);
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    assert_ptr_equal(ts_loop_current(), l);
    ts_loop *l2 = NULL;
    assert_int_equal(ts_loop_new(&l2), -EBUSY);
    assert_int_equal(ts_call_later(l, NAN, cb_log, NULL, NULL), -EINVAL);
    assert_int_equal(ts_call_at(l, NAN, cb_log, NULL, NULL), -EINVAL);
    uint64_t id1 = ts_loop_id(l);
    assert_int_equal(ts_loop_close(l), 0);
    assert_null(ts_loop_current());
    assert_int_equal(ts_loop_new(&l2), 0);
    assert_true(ts_loop_id(l2) != id1);
    assert_int_equal(ts_loop_close(l2), 0);
    assert_no_diag();
}

/* ---- handles ----------------------------------------------------------- */

static void test_handle_cancel(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    order_log log = {0};
    ts_handle *h1, *h2, *h3, *h4, *h6, *h7;
    entry e1 = {.log = &log, .v = 1, .loop = l};
    entry e2 = {.log = &log, .v = 2, .loop = l};
    entry e3 = {.log = &log, .v = 3, .loop = l};
    entry e4 = {.log = &log, .v = 4, .loop = l};
    entry e5 = {.log = &log, .v = 5, .loop = l, .victim = &h6};
    entry e6 = {.log = &log, .v = 6, .loop = l};
    entry e7 = {.log = &log, .v = 7, .loop = l};
    entry e9 = {.log = &log, .v = 9, .loop = l};
    assert_int_equal(ts_call_soon(l, cb_log, &e1, &h1), 0);
    assert_int_equal(ts_call_soon(l, cb_log, &e2, &h2), 0);
    assert_int_equal(ts_call_soon(l, cb_log, &e4, &h4), 0);
    ts_handle_release(h4);   /* giving the handle back does not cancel */
    /* e5 cancels e6, queued behind it in the same iteration. */
    assert_int_equal(ts_call_soon(l, cb_cancel_other, &e5, NULL), 0);
    assert_int_equal(ts_call_soon(l, cb_log, &e6, &h6), 0);
    assert_int_equal(ts_call_later(l, 0.001, cb_log, &e3, &h3), 0);
    assert_int_equal(ts_call_later(l, 0.002, cb_log, &e7, &h7), 0);
    assert_int_equal(ts_call_later(l, 0.02, cb_stop, &e9, NULL), 0);
    assert_int_equal(ts_handle_cancel(h2), 1);
    assert_int_equal(ts_handle_cancel(h2), 0);
    assert_int_equal(ts_handle_cancel(h3), 1);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_log(&log, (int[]){1, 4, 5, 7, 9}, 5);
    assert_int_equal(ts_handle_cancel(h1), 0);   /* already ran */
    assert_int_equal(ts_handle_cancel(h7), 0);   /* timer already ran */
    assert_int_equal(ts_handle_cancel(h6), 0);   /* already cancelled */
    ts_handle_release(h1);
    ts_handle_release(h2);
    ts_handle_release(h3);
    ts_handle_release(h6);
    ts_handle_release(h7);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

/* ---- call_soon_threadsafe ----------------------------------------------- */

typedef struct wake_ctx {
    ts_loop *loop;
    pthread_t loop_thread;
    int ran, on_loop_thread, safety_fired;
} wake_ctx;

static void cb_wake(void *arg) {
    wake_ctx *w = arg;
    w->ran = 1;
    w->on_loop_thread = pthread_equal(pthread_self(), w->loop_thread);
    ts_loop_stop(w->loop);
}

static void cb_safety(void *arg) {
    wake_ctx *w = arg;
    w->safety_fired = 1;
    ts_loop_stop(w->loop);
}

static void *poke_later(void *arg) {
    wake_ctx *w = arg;
    /* Give the loop time to go to sleep in epoll; correctness does not
     * depend on it, it only makes the wake-up path the one exercised. */
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    return IPTR(ts_call_soon_threadsafe(w->loop, cb_wake, w));
}

static void test_threadsafe_wakes_sleeping_loop(void **state) {
    (void)state;
    diag_reset();
    wake_ctx w = {.loop_thread = pthread_self()};
    assert_int_equal(ts_loop_new(&w.loop), 0);
    ts_handle *safety;
    assert_int_equal(ts_call_later(w.loop, 30.0, cb_safety, &w, &safety), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poke_later, &w), 0);
    assert_int_equal(ts_loop_run_forever(w.loop), 0);
    void *rc;
    pthread_join(th, &rc);
    assert_int_equal(PTRI(rc), 0);
    assert_int_equal(w.safety_fired, 0);
    assert_int_equal(w.ran, 1);
    assert_int_equal(w.on_loop_thread, 1);
    ts_handle_cancel(safety);
    ts_handle_release(safety);
    assert_int_equal(ts_loop_close(w.loop), 0);
    assert_no_diag();
}

enum { PRODUCERS = 4, PER_PRODUCER = 3000 };

typedef struct mp_ctx {
    ts_loop *loop;
    int next_seq[PRODUCERS];
    int total, out_of_order, safety_fired;
} mp_ctx;

typedef struct mp_item {
    mp_ctx *ctx;
    int producer, seq;
} mp_item;

static void cb_mp(void *arg) {
    mp_item *it = arg;
    mp_ctx *c = it->ctx;
    if (it->seq != c->next_seq[it->producer])
        c->out_of_order++;
    c->next_seq[it->producer] = it->seq + 1;
    if (++c->total == PRODUCERS * PER_PRODUCER)
        ts_loop_stop(c->loop);
}

static void cb_mp_safety(void *arg) {
    mp_ctx *c = arg;
    c->safety_fired = 1;
    ts_loop_stop(c->loop);
}

static mp_item mp_items[PRODUCERS][PER_PRODUCER];

static void *mp_producer(void *arg) {
    mp_item *items = arg;
    for (int i = 0; i < PER_PRODUCER; i++)
        if (ts_call_soon_threadsafe(items[i].ctx->loop, cb_mp, &items[i]) != 0)
            return IPTR(1);
    return NULL;
}

/* Several producers at once: nothing lost, each producer's calls in FIFO
 * order (a lock-free queue that reorders or drops shows up here). */
static void test_threadsafe_many_producers(void **state) {
    (void)state;
    diag_reset();
    mp_ctx c = {0};
    assert_int_equal(ts_loop_new(&c.loop), 0);
    ts_handle *safety;
    assert_int_equal(ts_call_later(c.loop, 60.0, cb_mp_safety, &c, &safety), 0);
    pthread_t th[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        for (int i = 0; i < PER_PRODUCER; i++)
            mp_items[p][i] = (mp_item){&c, p, i};
        assert_int_equal(pthread_create(&th[p], NULL, mp_producer, mp_items[p]), 0);
    }
    assert_int_equal(ts_loop_run_forever(c.loop), 0);
    for (int p = 0; p < PRODUCERS; p++) {
        void *rc;
        pthread_join(th[p], &rc);
        assert_null(rc);
    }
    assert_int_equal(c.safety_fired, 0);
    assert_int_equal(c.total, PRODUCERS * PER_PRODUCER);
    assert_int_equal(c.out_of_order, 0);
    ts_handle_cancel(safety);
    ts_handle_release(safety);
    assert_int_equal(ts_loop_close(c.loop), 0);
    assert_no_diag();
}

/* ---- run_until_complete -------------------------------------------------- */

static void *double_it(void *arg) {
    ts_sleep(0.001);
    return IPTR(PTRI(arg) * 2);
}

static void *fail_eio(void *arg) {
    (void)arg;
    return ts_fail(-EIO, "broken %d", 7);
}

static void *sleep_long(void *arg) {
    int *cleanup = arg;
    int r = ts_sleep(100);
    if (cleanup)
        *cleanup = r;
    return ts_fail(r ? r : -EIO, "woke early");
}

static void test_run_until_complete(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    ts_task *t = ts_spawn(double_it, IPTR(21));
    assert_non_null(t);
    assert_int_equal(ts_task_parent_id(t), 0);
    assert_ptr_equal(ts_task_loop(t), l);
    void *res = NULL;
    assert_int_equal(ts_loop_run_until_complete(l, t, &res), 0);
    assert_int_equal(PTRI(res), 42);
    assert_int_equal(ts_loop_is_running(l), 0);

    t = ts_spawn(fail_eio, NULL);
    assert_int_equal(ts_loop_run_until_complete(l, t, NULL), -EIO);

    /* A task left pending by one run is still there for the next one. */
    int cleanup = 1;
    ts_task *sleeper = ts_spawn(sleep_long, &cleanup);
    t = ts_spawn(double_it, IPTR(1));
    assert_int_equal(ts_loop_run_until_complete(l, t, NULL), 0);
    assert_int_equal(ts_task_done(sleeper), 0);
    assert_int_equal(ts_task_state_of(sleeper), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_cancel(sleeper, "stop"), 1);
    assert_int_equal(ts_loop_run_until_complete(l, sleeper, NULL), -ECANCELED);
    assert_int_equal(cleanup, -ECANCELED);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

/* ---- loop clock ---------------------------------------------------------- */

static void *watch_clock(void *arg) {
    (void)arg;
    ts_loop *l = ts_loop_current();
    double start = ts_loop_time(l), prev = start;
    for (int i = 0; i < 20; i++) {
        double m0 = mono_now();
        assert_int_equal(ts_sleep(0.001), 0);
        double t = ts_loop_time(l);
        assert_true(t >= prev);
        /* The clock was read after we parked and before we resumed. */
        assert_true(t >= m0 - 1e-6);
        assert_true(t <= mono_now() + 1e-6);
        prev = t;
    }
    assert_true(prev - start >= 0.02 - 1e-6);
    assert_true(ts_now() >= prev);
    return NULL;
}

static void test_loop_time_monotonic(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(watch_clock, NULL), 0);
    assert_no_diag();
}

/* ---- several loops, foreign threads ------------------------------------- */

enum { NLOOPS = 4, CHILDREN = 50 };

typedef struct loop_report {
    int idx, rc, bad_results;
    uint64_t loop_id, task_ids[CHILDREN + 1];
} loop_report;

static atomic_int loops_up;

static void *child_square(void *arg) {
    int i = (int)PTRI(arg);
    if (ts_sleep(0.0005 * (i % 7)) != 0)
        return ts_fail(-EIO, "sleep failed");
    return IPTR(i * i);
}

/* Runs on each loop thread; reports through its struct, never through
 * cmocka, which is not thread-safe. */
static void *loop_thread_main(void *arg) {
    loop_report *r = arg;
    atomic_fetch_add(&loops_up, 1);
    /* Hold every loop open until all exist, so they really overlap. */
    for (int i = 0; atomic_load(&loops_up) < NLOOPS; i++)
        if (i > 100000 || ts_sleep(0.001) != 0)
            return ts_fail(-ETIMEDOUT, "peer loops never started");
    r->loop_id = ts_loop_id(ts_loop_current());
    r->task_ids[CHILDREN] = ts_task_id(ts_current_task());
    ts_task *t[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        t[i] = ts_spawn(child_square, IPTR(r->idx * 1000 + i));
        if (!t[i])
            return ts_fail(-ENOMEM, "spawn failed");
        r->task_ids[i] = ts_task_id(t[i]);
    }
    for (int i = 0; i < CHILDREN; i++) {
        void *res = NULL;
        int v = r->idx * 1000 + i;
        if (ts_await(t[i], &res) != 0 || PTRI(res) != (intptr_t)v * v)
            r->bad_results++;
    }
    return NULL;
}

static void *loop_thread(void *arg) {
    loop_report *r = arg;
    r->rc = ts_run(loop_thread_main, r);
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_loops_on_several_threads(void **state) {
    (void)state;
    diag_reset();
    atomic_store(&loops_up, 0);
    loop_report r[NLOOPS];
    pthread_t th[NLOOPS];
    for (int i = 0; i < NLOOPS; i++) {
        r[i] = (loop_report){.idx = i};
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread, &r[i]), 0);
    }
    for (int i = 0; i < NLOOPS; i++)
        pthread_join(th[i], NULL);
    uint64_t ids[NLOOPS * (CHILDREN + 1)], loop_ids[NLOOPS];
    int n = 0;
    for (int i = 0; i < NLOOPS; i++) {
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(r[i].bad_results, 0);
        loop_ids[i] = r[i].loop_id;
        for (int k = 0; k < CHILDREN + 1; k++)
            ids[n++] = r[i].task_ids[k];
    }
    qsort(ids, n, sizeof ids[0], cmp_u64);
    qsort(loop_ids, NLOOPS, sizeof loop_ids[0], cmp_u64);
    assert_true(ids[0] >= 1);
    for (int i = 1; i < n; i++)
        if (ids[i] == ids[i - 1])
            fail_msg("task id %llu given twice", (unsigned long long)ids[i]);
    for (int i = 1; i < NLOOPS; i++)
        assert_true(loop_ids[i] != loop_ids[i - 1]);
    assert_no_diag();
}

typedef struct foreign {
    ts_loop *loop;
    ts_task *task;
    int flag;
    int rc_soon, rc_later, rc_at, rc_close, rc_run, rc_cancel;
    ts_task *spawned;
} foreign;

static void cb_flag(void *arg) { *(int *)arg = 1; }

static void *foreign_calls(void *arg) {
    foreign *f = arg;
    f->rc_soon = ts_call_soon(f->loop, cb_flag, &f->flag, NULL);
    f->rc_later = ts_call_later(f->loop, 0.001, cb_flag, &f->flag, NULL);
    f->rc_at = ts_call_at(f->loop, 0.0, cb_flag, &f->flag, NULL);
    f->rc_close = ts_loop_close(f->loop);
    f->rc_run = ts_loop_run_forever(f->loop);
    f->rc_cancel = ts_task_cancel(f->task, "from afar");
    ts_spawn_opts o = {.loop = f->loop};
    f->spawned = ts_spawn_with(&o, double_it, NULL);
    return NULL;
}

static void test_foreign_thread_calls(void **state) {
    (void)state;
    diag_reset();
    foreign f = {0};
    assert_int_equal(ts_loop_new(&f.loop), 0);
    f.task = ts_spawn(double_it, IPTR(2));
    assert_non_null(f.task);
    uint64_t before = ts_diag_count(TS_DIAG_WRONG_THREAD);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_calls, &f), 0);
    pthread_join(th, NULL);
    assert_int_equal(f.rc_soon, TS_EWRONGLOOP);
    assert_int_equal(f.rc_later, TS_EWRONGLOOP);
    assert_int_equal(f.rc_at, TS_EWRONGLOOP);
    assert_int_equal(f.rc_close, TS_EWRONGLOOP);
    assert_int_equal(f.rc_run, TS_EWRONGLOOP);
    assert_int_equal(f.rc_cancel, TS_EWRONGLOOP);
    assert_null(f.spawned);
    /* Every refused call is reported, and nothing else is. */
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 7);
    assert_int_equal(ts_diag_count(TS_DIAG_WRONG_THREAD) - before, 7);
    diag_seen[TS_DIAG_WRONG_THREAD] = 0;
    assert_int_equal(ts_task_cancelling(f.task), 0);
    void *res = NULL;
    assert_int_equal(ts_loop_run_until_complete(f.loop, f.task, &res), 0);
    assert_int_equal(PTRI(res), 4);
    assert_int_equal(f.flag, 0);
    assert_int_equal(ts_loop_close(f.loop), 0);
    assert_no_diag();
}

/* A handle may be cancelled and released after its loop closed (the
 * caller owns it until ts_handle_release), without a double free. */
static void test_handle_outlives_loop(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    int flag = 0;
    ts_handle *timer, *soon, *released;
    assert_int_equal(ts_call_later(l, 10.0, cb_flag, &flag, &timer), 0);
    assert_int_equal(ts_call_soon(l, cb_flag, &flag, &soon), 0);
    assert_int_equal(ts_call_soon(l, cb_flag, &flag, &released), 0);
    ts_handle_release(released);
    assert_int_equal(ts_loop_close(l), 0);
    assert_int_equal(flag, 0);
    int c1 = ts_handle_cancel(timer), c2 = ts_handle_cancel(soon);
    assert_true(c1 == 0 || c1 == 1);
    assert_true(c2 == 0 || c2 == 1);
    ts_handle_release(timer);
    ts_handle_release(soon);
    assert_no_diag();
}

/* run_until_complete on a task of another loop is refused (it would wait
 * for something this loop can never finish); the handle stays usable. */
typedef struct other_loop {
    ts_task *task;
    int rc, close_rc;
} other_loop;

static void cb_stop_loop(void *arg) { ts_loop_stop(arg); }

static void *run_foreign_task(void *arg) {
    other_loop *o = arg;
    ts_loop *mine;
    if (ts_loop_new(&mine) != 0)
        return IPTR(1);
    ts_call_later(mine, 2.0, cb_stop_loop, mine, NULL);   /* hang guard */
    o->rc = ts_loop_run_until_complete(mine, o->task, NULL);
    o->close_rc = ts_loop_close(mine);
    return NULL;
}

static void test_run_until_complete_foreign_task(void **state) {
    (void)state;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    other_loop o = {.task = ts_spawn(double_it, IPTR(5))};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_foreign_task, &o), 0);
    void *rc;
    pthread_join(th, &rc);
    assert_null(rc);
    assert_int_equal(o.rc, TS_EWRONGLOOP);
    assert_int_equal(o.close_rc, 0);
    diag_seen[TS_DIAG_WRONG_THREAD] = 0;
    void *res = NULL;
    assert_int_equal(ts_loop_run_until_complete(l, o.task, &res), 0);
    assert_int_equal(PTRI(res), 10);
    assert_int_equal(ts_loop_close(l), 0);
    assert_no_diag();
}

/* After a failed assertion outside a task, close the loop the test left
 * open so the next test starts clean.  (A failure inside a task leaves its
 * loop running; later tests in the file then fail with -EBUSY: run one
 * test alone with TS_TEST_FILTER=name.) */
static int close_leftover_loop(void **state) {
    (void)state;
    ts_loop *l = ts_loop_current();
    if (l && !ts_loop_is_running(l))
        ts_loop_close(l);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_call_soon_fifo, close_leftover_loop),
        cmocka_unit_test_teardown(test_stop_ends_after_current_iteration, close_leftover_loop),
        cmocka_unit_test_teardown(test_running_loop_is_busy, close_leftover_loop),
        cmocka_unit_test_teardown(test_close_from_task_is_busy, close_leftover_loop),
        cmocka_unit_test_teardown(test_call_later_order, close_leftover_loop),
        cmocka_unit_test_teardown(test_equal_deadlines_fifo, close_leftover_loop),
        cmocka_unit_test_teardown(test_bad_arguments, close_leftover_loop),
        cmocka_unit_test_teardown(test_handle_cancel, close_leftover_loop),
        cmocka_unit_test_teardown(test_threadsafe_wakes_sleeping_loop, close_leftover_loop),
        cmocka_unit_test_teardown(test_threadsafe_many_producers, close_leftover_loop),
        cmocka_unit_test_teardown(test_run_until_complete, close_leftover_loop),
        cmocka_unit_test_teardown(test_loop_time_monotonic, close_leftover_loop),
        cmocka_unit_test_teardown(test_loops_on_several_threads, close_leftover_loop),
        cmocka_unit_test_teardown(test_foreign_thread_calls, close_leftover_loop),
        cmocka_unit_test_teardown(test_handle_outlives_loop, close_leftover_loop),
        cmocka_unit_test_teardown(test_run_until_complete_foreign_task, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
