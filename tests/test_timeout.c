/*
 * test_timeout.c - black-box tests of timeout scopes (timeout.h), against
 * asyncio.timeout():
 *
 *   - an expired scope turns the cancellation the body ended with into
 *     -ETIMEDOUT and takes the request back (the task is left with no
 *     cancel pending: cancelling() is back to 0, the next suspension runs);
 *   - a scope that did not expire returns the body's outcome unchanged and
 *     its timer never fires afterwards;
 *   - reschedule moves the deadline either way, INFINITY removes it, an
 *     expired scope refuses it;
 *   - nested scopes act independently: the one that expired reports
 *     -ETIMEDOUT, the other passes -ECANCELED through;
 *   - a cancellation from outside stays -ECANCELED.
 */
#include <math.h>
#include <stdio.h>
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

/* The task carries no leftover request: nothing counted, and a suspension
 * runs normally. */
static void assert_clean(void) {
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_sleep(0.001), 0);
}

static void *body_expiry(void *arg) {
    (void)arg;
    double t0 = ts_now();
    ts_timeout *to = ts_timeout_enter(0.01);
    double t1 = ts_now();
    assert_non_null(to);
    assert_int_equal(ts_timeout_expired(to), 0);
    /* The deadline counts from the call: between the two readings. */
    assert_true(ts_timeout_when(to) >= t0 + 0.01 - 1e-6);
    assert_true(ts_timeout_when(to) <= t1 + 0.01 + 1e-6);
    int r = ts_sleep(10);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(ts_timeout_expired(to), 1);
    assert_true(ts_now() >= t0 + 0.01 - 1e-6);
    assert_int_equal(ts_timeout_exit(to, r), -ETIMEDOUT);
    assert_clean();

    /* Zero and past deadlines expire at the first suspension. */
    to = ts_timeout_enter(0);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    to = ts_timeout_enter_at(ts_now() - 1.0);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    assert_clean();
    return NULL;
}
static void test_expiry(void **s) { (void)s; run_ok(body_expiry); }

static void *body_no_expiry(void *arg) {
    (void)arg;
    ts_timeout *to = ts_timeout_enter(10);
    assert_int_equal(ts_sleep(0.001), 0);
    assert_int_equal(ts_timeout_expired(to), 0);
    assert_int_equal(ts_timeout_exit(to, 0), 0);
    to = ts_timeout_enter(10);
    assert_int_equal(ts_timeout_exit(to, -EIO), -EIO);
    to = ts_timeout_enter(TS_FOREVER);
    assert_true(isinf(ts_timeout_when(to)));
    assert_int_equal(ts_timeout_exit(to, ts_sleep(0.001)), 0);
    to = ts_timeout_enter(INFINITY);
    assert_true(isinf(ts_timeout_when(to)));
    assert_int_equal(ts_timeout_exit(to, 7), 7);

    /* A scope left before its deadline never fires afterwards. */
    to = ts_timeout_enter(0.005);
    assert_int_equal(ts_timeout_exit(to, 0), 0);
    assert_int_equal(ts_sleep(0.03), 0);
    assert_clean();
    return NULL;
}
static void test_no_expiry(void **s) { (void)s; run_ok(body_no_expiry); }

static void test_exit_null(void **s) {
    (void)s;
    assert_int_equal(ts_timeout_exit(NULL, 0), 0);
    assert_int_equal(ts_timeout_exit(NULL, -EIO), -EIO);
    assert_int_equal(ts_timeout_exit(NULL, -ECANCELED), -ECANCELED);
    assert_int_equal(ts_timeout_exit(NULL, -ETIMEDOUT), -ETIMEDOUT);
    errno = 0;
    assert_null(ts_timeout_enter(1.0));   /* outside a task */
    assert_int_equal(errno, ESRCH);
    errno = 0;
    assert_null(ts_timeout_enter_at(1.0));
    assert_int_equal(errno, ESRCH);
}

static void *body_reschedule(void *arg) {
    (void)arg;
    /* Extend: the original deadline passes harmlessly. */
    ts_timeout *to = ts_timeout_enter(0.01);
    double later = ts_now() + 10;
    assert_int_equal(ts_timeout_reschedule(to, later), 0);
    assert_true(fabs(ts_timeout_when(to) - later) < 1e-6);
    assert_int_equal(ts_sleep(0.03), 0);
    assert_int_equal(ts_timeout_expired(to), 0);
    assert_int_equal(ts_timeout_exit(to, 0), 0);

    /* Shorten. */
    to = ts_timeout_enter(10);
    assert_int_equal(ts_timeout_reschedule(to, ts_now() + 0.01), 0);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    assert_clean();

    /* Remove, then set again from none. */
    to = ts_timeout_enter(0.01);
    assert_int_equal(ts_timeout_reschedule(to, INFINITY), 0);
    assert_true(isinf(ts_timeout_when(to)));
    assert_int_equal(ts_sleep(0.03), 0);
    assert_int_equal(ts_timeout_reschedule(to, ts_now() + 0.005), 0);
    int r = ts_sleep(10);
    assert_int_equal(r, -ECANCELED);
    /* Expired: it can no longer be moved. */
    assert_int_equal(ts_timeout_reschedule(to, ts_now() + 10), TS_EINVALSTATE);
    assert_int_equal(ts_timeout_exit(to, r), -ETIMEDOUT);

    /* Into the past: expires at the next suspension. */
    to = ts_timeout_enter(10);
    assert_int_equal(ts_timeout_reschedule(to, ts_now() - 1), 0);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    assert_clean();
    return NULL;
}
static void test_reschedule(void **s) { (void)s; run_ok(body_reschedule); }

static void *body_nested_inner_expires(void *arg) {
    (void)arg;
    ts_timeout *outer = ts_timeout_enter(10);
    ts_timeout *inner = ts_timeout_enter(0.01);
    int r = ts_sleep(10);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(ts_timeout_expired(inner), 1);
    assert_int_equal(ts_timeout_expired(outer), 0);
    assert_int_equal(ts_timeout_exit(inner, r), -ETIMEDOUT);
    /* The outer body goes on normally. */
    assert_int_equal(ts_sleep(0.001), 0);
    assert_int_equal(ts_timeout_exit(outer, 0), 0);
    assert_clean();
    return NULL;
}
static void test_nested_inner_expires(void **s) { (void)s; run_ok(body_nested_inner_expires); }

static void *body_nested_outer_expires(void *arg) {
    (void)arg;
    ts_timeout *outer = ts_timeout_enter(0.01);
    ts_timeout *inner = ts_timeout_enter(10);
    int r = ts_sleep(10);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(ts_timeout_expired(inner), 0);
    assert_int_equal(ts_timeout_expired(outer), 1);
    r = ts_timeout_exit(inner, r);
    assert_int_equal(r, -ECANCELED);   /* not the inner scope's expiry */
    assert_int_equal(ts_timeout_exit(outer, r), -ETIMEDOUT);
    assert_clean();
    return NULL;
}
static void test_nested_outer_expires(void **s) { (void)s; run_ok(body_nested_outer_expires); }

/* ---- cancellation from outside ------------------------------------------ */

typedef struct scoped_probe {
    int body_rc, exit_rc, expired;
} scoped_probe;

static void *scoped_sleeper(void *arg) {
    scoped_probe *p = arg;
    ts_timeout *to = ts_timeout_enter(10);
    p->body_rc = ts_sleep(100);
    p->expired = ts_timeout_expired(to);
    p->exit_rc = ts_timeout_exit(to, p->body_rc);
    return p->exit_rc ? ts_fail(p->exit_rc, NULL) : NULL;
}

static void *body_outside_cancel(void *arg) {
    (void)arg;
    scoped_probe p = {9, 9, 9};
    ts_task *t = ts_spawn(scoped_sleeper, &p);
    ts_task *ref = ts_task_ref(t);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p.body_rc, -ECANCELED);
    assert_int_equal(p.expired, 0);
    assert_int_equal(p.exit_rc, -ECANCELED);
    assert_int_equal(ts_task_cancelled(ref), 1);
    assert_int_equal(ts_task_cancelling(ref), 1);
    ts_task_unref(ref);
    return NULL;
}
static void test_outside_cancel_stays_cancelled(void **s) { (void)s; run_ok(body_outside_cancel); }

/* ---- the scope around other suspensions ----------------------------------- */

static int inner_rc = 9, inner_finished;
static void *slow_child(void *arg) {
    (void)arg;
    inner_rc = ts_sleep(100);
    inner_finished = 1;
    return inner_rc ? ts_fail(inner_rc, NULL) : NULL;
}

/* Expiry while awaiting a task: the child is cancelled and awaited to its
 * end before the scope reports -ETIMEDOUT. */
static void *body_scope_around_await(void *arg) {
    (void)arg;
    inner_finished = 0;
    ts_timeout *to = ts_timeout_enter(0.01);
    int r = ts_await(ts_spawn(slow_child, NULL), NULL);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(inner_finished, 1);
    assert_int_equal(inner_rc, -ECANCELED);
    assert_int_equal(ts_timeout_exit(to, r), -ETIMEDOUT);
    assert_clean();

    /* Expiry while awaiting a future: the future is cancelled. */
    ts_future *f = ts_future_new();
    to = ts_timeout_enter(0.01);
    r = ts_future_await(f, NULL);
    assert_int_equal(ts_timeout_exit(to, r), -ETIMEDOUT);
    assert_int_equal(ts_future_cancelled(f), 1);
    ts_future_free(f);
    assert_clean();
    return NULL;
}
static void test_scope_around_await(void **s) { (void)s; run_ok(body_scope_around_await); }

/* The body turned the expiry's cancellation into its own error: the error
 * stands (asyncio re-raises it), and the request is still taken back. */
static void *body_expired_other_error(void *arg) {
    (void)arg;
    ts_timeout *to = ts_timeout_enter(0.005);
    int r = ts_sleep(10);
    assert_int_equal(r, -ECANCELED);
    assert_int_equal(ts_timeout_exit(to, -EIO), -EIO);
    assert_clean();
    return NULL;
}
static void test_expired_with_other_error(void **s) { (void)s; run_ok(body_expired_other_error); }

typedef struct ready_setup {
    ts_future *f;
    double when;
    int too_late;
} ready_setup;

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs while the scoped task is parked on the future: spins (without
 * yielding) past the deadline, then wakes the task with success, so that
 * when the next iteration's timers run the task is ready, not parked. */
static void *complete_after_deadline(void *arg) {
    ready_setup *r = arg;
    r->too_late = ts_now() >= r->when;
    while (mono_now() < r->when + 0.001)
        ;
    ts_future_set_result(r->f, IPTR(4));
    return NULL;
}

/* The deadline passes while the task is ready (its wake was a success)
 * and the body ends without suspending again.  The body's outcome stands,
 * and the expired scope must not leave a cancellation behind it (asyncio
 * takes it back in __aexit__, and since 3.13 uncancel() also clears a
 * request not yet delivered). */
static void *body_expiry_while_ready(void *arg) {
    (void)arg;
    ready_setup rs = {.f = ts_future_new(), .when = ts_now() + 0.2};
    ts_task *h = ts_spawn(complete_after_deadline, &rs);
    ts_timeout *to = ts_timeout_enter_at(rs.when);
    void *v = NULL;
    int r = ts_future_await(rs.f, &v);
    assert_int_equal(ts_await(h, NULL), 0);
    if (rs.too_late) {
        ts_timeout_exit(to, r);
        ts_future_free(rs.f);
        return IPTR(1);   /* the machine was too slow to set this up */
    }
    assert_int_equal(r, 0);   /* a successful wake is never undone */
    assert_int_equal(PTRI(v), 4);
    assert_int_equal(ts_timeout_expired(to), 1);
    assert_int_equal(ts_timeout_exit(to, 0), 0);
    assert_clean();
    ts_future_free(rs.f);
    return NULL;
}

/* A negative delay (or NaN) has already expired, as asyncio.timeout(-1):
 * a computed remaining time gone negative never becomes "no limit". */
static void *body_negative_expired(void *arg) {
    (void)arg;
    static const double delays[] = {-1.0, -1e-9, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof delays / sizeof delays[0]; i++) {
        ts_timeout *to = ts_timeout_enter(delays[i]);
        assert_non_null(to);
        assert_false(isinf(ts_timeout_when(to)));
        assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    }
    ts_timeout *to = ts_timeout_enter_at(NAN);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    to = ts_timeout_enter(10);
    assert_int_equal(ts_timeout_reschedule(to, -5.0), 0);
    assert_int_equal(ts_timeout_exit(to, ts_sleep(10)), -ETIMEDOUT);
    assert_clean();
    return NULL;
}
static void test_negative_expired(void **s) { (void)s; run_ok(body_negative_expired); }

/* ts_timeout_exit twice: an error and a diagnostic, never a crash, and
 * never an exit of the scope that reuses the slot. */
static void *body_exit_twice(void *arg) {
    (void)arg;
    ts_timeout *to = ts_timeout_enter(10);
    assert_int_equal(ts_timeout_exit(to, 0), 0);
    assert_int_equal(ts_timeout_exit(to, 0), TS_EINVALSTATE);
    assert_int_equal(diag_seen[TS_DIAG_TIMEOUT_STALE], 1);
    assert_non_null(strstr(diag_last, "ts_timeout_exit"));
    /* The next scope takes the same slot; the stale handle still misses. */
    ts_timeout *next = ts_timeout_enter(0.01);
    assert_int_equal(ts_timeout_exit(to, -EIO), TS_EINVALSTATE);
    assert_int_equal(ts_timeout_reschedule(to, 1.0), TS_EINVALSTATE);
    assert_int_equal(ts_timeout_expired(to), 0);
    assert_true(isinf(ts_timeout_when(to)));
    assert_int_equal(diag_seen[TS_DIAG_TIMEOUT_STALE], 3);
    assert_int_equal(ts_timeout_exit(next, ts_sleep(10)), -ETIMEDOUT);
    assert_clean();
    return NULL;
}
static void test_exit_twice(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_exit_twice, NULL), 0);
}

static void test_expiry_while_ready(void **s) {
    (void)s;
    diag_reset();
    void *slow = NULL;
    assert_int_equal(ts_run_result(body_expiry_while_ready, NULL, &slow), 0);
    assert_no_diag();
    if (slow) {
        fprintf(stderr, "inconclusive: the deadline passed before the setup ran\n");
        skip();
    }
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
        cmocka_unit_test_teardown(test_expiry, close_leftover_loop),
        cmocka_unit_test_teardown(test_no_expiry, close_leftover_loop),
        cmocka_unit_test_teardown(test_exit_null, close_leftover_loop),
        cmocka_unit_test_teardown(test_reschedule, close_leftover_loop),
        cmocka_unit_test_teardown(test_nested_inner_expires, close_leftover_loop),
        cmocka_unit_test_teardown(test_nested_outer_expires, close_leftover_loop),
        cmocka_unit_test_teardown(test_outside_cancel_stays_cancelled, close_leftover_loop),
        cmocka_unit_test_teardown(test_scope_around_await, close_leftover_loop),
        cmocka_unit_test_teardown(test_expired_with_other_error, close_leftover_loop),
        cmocka_unit_test_teardown(test_expiry_while_ready, close_leftover_loop),
        cmocka_unit_test_teardown(test_negative_expired, close_leftover_loop),
        cmocka_unit_test_teardown(test_exit_twice, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
