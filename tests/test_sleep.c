/*
 * test_sleep.c - black-box tests of ts_sleep and ts_now (timeout.h).
 *
 * Covered: sleep(0) yields to every other ready task and only to them
 * (strict round robin between yielding tasks); sleeps wake in deadline
 * order, equal deadlines in the order they were set; a sleep lasts at
 * least its delay by the loop clock; bad delays are refused; huge and
 * infinite delays do not overflow into an immediate wake-up; outside a
 * task the call is refused.  Only lower bounds on time are asserted.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

static void run_ok(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
    assert_no_diag();
}

static char trace[64];
static int ntrace;

static void *mark_once(void *arg) {
    trace[ntrace++] = (char)PTRI(arg);
    return NULL;
}

static void *body_yield_lets_others_run(void *arg) {
    (void)arg;
    ntrace = 0;
    ts_task *t = ts_spawn(mark_once, IPTR('x'));
    assert_int_equal(ntrace, 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ntrace, 1);
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}
static void test_yield_lets_others_run(void **s) { (void)s; run_ok(body_yield_lets_others_run); }

static void *yield_marker(void *arg) {
    for (int i = 0; i < 5; i++) {
        trace[ntrace++] = (char)PTRI(arg);
        int r = ts_sleep(0);
        if (r)
            return ts_fail(r, "yield failed");
    }
    return NULL;
}

/* Two yielding tasks alternate strictly: each yield puts the task at the
 * back of the ready queue, behind the other. */
static void *body_round_robin(void *arg) {
    (void)arg;
    ntrace = 0;
    memset(trace, 0, sizeof trace);
    ts_task *a = ts_spawn(yield_marker, IPTR('a'));
    ts_task *b = ts_spawn(yield_marker, IPTR('b'));
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_string_equal(trace, "ababababab");
    return NULL;
}
static void test_round_robin(void **s) { (void)s; run_ok(body_round_robin); }

static int wake_order[16], nwake;

typedef struct sleeper_arg {
    double delay;
    int id;
} sleeper_arg;

static void *sleep_and_record(void *arg) {
    sleeper_arg *a = arg;
    double t0 = ts_now();
    int r = ts_sleep(a->delay);
    if (r)
        return ts_fail(r, "sleep failed");
    if (ts_now() - t0 < a->delay - 1e-6)
        return ts_fail(-EPROTO, "woke after %.9f s, asked %.9f s",
                       ts_now() - t0, a->delay);
    wake_order[nwake++] = a->id;
    return NULL;
}

static void run_sleepers(sleeper_arg *a, int n) {
    ts_task *t[16];
    nwake = 0;
    for (int i = 0; i < n; i++)
        t[i] = ts_spawn(sleep_and_record, &a[i]);
    for (int i = 0; i < n; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    assert_int_equal(nwake, n);
}

static void *body_sleep_order(void *arg) {
    (void)arg;
    sleeper_arg a[] = {{0.03, 3}, {0.01, 1}, {0.02, 2}, {0.0, 0}, {0.04, 4}};
    run_sleepers(a, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(wake_order[i], i);
    /* Equal delays set in the same iteration wake in the order set. */
    sleeper_arg e[8];
    for (int i = 0; i < 8; i++)
        e[i] = (sleeper_arg){0.01, i};
    run_sleepers(e, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(wake_order[i], i);
    return NULL;
}
static void test_sleep_order(void **s) { (void)s; run_ok(body_sleep_order); }

static void *body_sleep_at_least(void *arg) {
    (void)arg;
    const double delays[] = {0.001, 0.005, 0.02, 0.0001};
    for (int i = 0; i < 4; i++) {
        double t0 = ts_now();
        assert_int_equal(ts_sleep(delays[i]), 0);
        assert_true(ts_now() - t0 >= delays[i] - 1e-6);
    }
    /* ts_now is the running loop's clock (both read it afresh). */
    double a = ts_now(), b = ts_loop_time(ts_loop_current()), c = ts_now();
    assert_true(a <= b && b <= c);
    return NULL;
}
static void test_sleep_at_least(void **s) { (void)s; run_ok(body_sleep_at_least); }

/* The other task counts how often it ran while we yielded. */
static void *count_steps(void *arg) {
    int *n = arg;
    for (;;) {
        ++*n;
        if (ts_sleep(0))
            return NULL;
    }
}

/* A negative delay has already passed: it yields like sleep(0), as
 * asyncio.sleep(-1) does; only NaN is refused. */
static void *body_bad_delays(void *arg) {
    (void)arg;
    int steps = 0;
    ts_task *other = ts_spawn(count_steps, &steps);
    assert_int_equal(ts_sleep(-1.0), 0);
    assert_int_equal(steps, 1);
    assert_int_equal(ts_sleep(-1e-9), 0);
    assert_int_equal(ts_sleep(-INFINITY), 0);
    assert_int_equal(steps, 3);
    assert_int_equal(ts_sleep(NAN), -EINVAL);
    assert_int_equal(ts_sleep(-0.0), 0);
    assert_int_equal(steps, 4);
    ts_task_cancel(other, NULL);
    assert_int_equal(ts_await(other, NULL), 0);
    return NULL;
}
static void test_bad_delays(void **s) { (void)s; run_ok(body_bad_delays); }

static int long_rc;
static void *sleep_delay(void *arg) {
    long_rc = ts_sleep(*(double *)arg);
    return long_rc ? ts_fail(long_rc, NULL) : NULL;
}

/* Huge delays must saturate, not wrap around into the past. */
static void *body_huge_delays(void *arg) {
    (void)arg;
    static double delays[] = {INFINITY, 1e300, 1e12, 9.3e9};
    for (int i = 0; i < 4; i++) {
        long_rc = 9;
        ts_task *t = ts_spawn(sleep_delay, &delays[i]);
        assert_int_equal(ts_sleep(0.01), 0);
        if (ts_task_done(t))
            fail_msg("ts_sleep(%g) returned %d at once", delays[i], long_rc);
        assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
        assert_int_equal(ts_task_cancel(t, NULL), 1);
        assert_int_equal(ts_await(t, NULL), -ECANCELED);
        assert_int_equal(long_rc, -ECANCELED);
    }
    return NULL;
}
static void test_huge_delays(void **s) { (void)s; run_ok(body_huge_delays); }

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "At least `seconds`" counts from the call, not from when the current
 * loop iteration began: a task that computed for a while before sleeping
 * still sleeps its full delay (asyncio's call_later reads the clock when
 * called).  A deadline taken from a clock cached at the start of the
 * iteration wakes it early by however long the step had already run. */
static void *body_sleep_after_busy_step(void *arg) {
    (void)arg;
    /* The usual situation: other timers pending, the clock already read. */
    ts_task *other = ts_spawn(sleep_delay, &(double){10.0});
    assert_int_equal(ts_sleep(0), 0);   /* start of a fresh step */
    double step_start = ts_now();
    double spin_until = mono_now() + 0.03;
    while (mono_now() < spin_until)
        ;
    double m0 = mono_now();
    assert_int_equal(ts_sleep(0.03), 0);
    double slept = mono_now() - m0;
    if (slept < 0.03 - 1e-6)
        fail_msg("ts_sleep(0.03) after a 30 ms step returned after %.6f s "
                 "(loop clock at step start %.6f)", slept, step_start);
    assert_int_equal(ts_task_cancel(other, NULL), 1);
    assert_int_equal(ts_await(other, NULL), -ECANCELED);
    return NULL;
}
static void test_sleep_after_busy_step(void **s) { (void)s; run_ok(body_sleep_after_busy_step); }

static int cb_rc = 9;
static void cb_try_sleep(void *arg) {
    (void)arg;
    cb_rc = ts_sleep(0.001);
}

static void *body_sleep_in_callback(void *arg) {
    (void)arg;
    assert_int_equal(ts_call_soon(NULL, cb_try_sleep, NULL, NULL), 0);
    assert_int_equal(ts_sleep(0.001), 0);
    assert_int_equal(cb_rc, TS_ENOTASK);
    return NULL;
}

static void test_sleep_outside_task(void **s) {
    (void)s;
    assert_int_equal(ts_sleep(0.001), TS_ENOTASK);
    assert_int_equal(ts_sleep(0), TS_ENOTASK);
    run_ok(body_sleep_in_callback);
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
        cmocka_unit_test_teardown(test_yield_lets_others_run, close_leftover_loop),
        cmocka_unit_test_teardown(test_round_robin, close_leftover_loop),
        cmocka_unit_test_teardown(test_sleep_order, close_leftover_loop),
        cmocka_unit_test_teardown(test_sleep_at_least, close_leftover_loop),
        cmocka_unit_test_teardown(test_bad_delays, close_leftover_loop),
        cmocka_unit_test_teardown(test_huge_delays, close_leftover_loop),
        cmocka_unit_test_teardown(test_sleep_outside_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_sleep_after_busy_step, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
