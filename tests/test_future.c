/*
 * test_future.c - black-box tests of futures (future.h).
 *
 * Covered: completion by result, error and cancellation wakes every
 * awaiter in the order they began waiting; done callbacks run from the
 * loop, never inside the completing call; completing twice is
 * TS_EINVALSTATE; every call from a foreign thread is TS_EWRONGLOOP and
 * leaves the future untouched; freeing a pending future is reported and
 * wakes its awaiters with -ECANCELED; an awaiter that is cancelled cancels
 * the future (so every other awaiter sees -ECANCELED too).
 */
#include <pthread.h>
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

enum { NWAIT = 3 };

typedef struct waiter_probe {
    ts_future *f;
    int idx;
    int rc;
    void *value;
    int *wake_order, *nwoken;
} waiter_probe;

static void *await_future(void *arg) {
    waiter_probe *p = arg;
    p->rc = ts_future_await(p->f, &p->value);
    p->wake_order[(*p->nwoken)++] = p->idx;
    return p->rc ? ts_fail(p->rc, NULL) : NULL;
}

/* Start NWAIT awaiters on f and let them all park. */
static void start_waiters(ts_future *f, waiter_probe *p, ts_task **t,
                          int *order, int *n) {
    *n = 0;
    for (int i = 0; i < NWAIT; i++) {
        p[i] = (waiter_probe){.f = f, .idx = i, .rc = 9, .wake_order = order,
                              .nwoken = n};
        t[i] = ts_spawn(await_future, &p[i]);
    }
    assert_int_equal(ts_sleep(0), 0);
    for (int i = 0; i < NWAIT; i++)
        assert_int_equal(ts_task_state_of(t[i]), TS_TASK_SUSPENDED);
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t[0], &obj, NULL), TS_WAIT_FUTURE);
    assert_ptr_equal(obj, f);
}

static void finish_waiters(waiter_probe *p, ts_task **t, int *order,
                           const int *n, int want_rc, void *want_value) {
    for (int i = 0; i < NWAIT; i++) {
        int r = ts_await(t[i], NULL);
        assert_int_equal(r, want_rc);
        assert_int_equal(p[i].rc, want_rc);
        if (want_rc == 0)
            assert_ptr_equal(p[i].value, want_value);
    }
    assert_int_equal(*n, NWAIT);
    for (int i = 0; i < NWAIT; i++)
        assert_int_equal(order[i], i);
}

static void *body_set_result(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    assert_non_null(f);
    waiter_probe p[NWAIT];
    ts_task *t[NWAIT];
    int order[NWAIT], n;
    start_waiters(f, p, t, order, &n);
    assert_int_equal(ts_future_done(f), 0);
    assert_int_equal(ts_future_result(f, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_result(f, IPTR(99)), 0);
    assert_int_equal(ts_future_done(f), 1);
    assert_int_equal(ts_future_cancelled(f), 0);
    finish_waiters(p, t, order, &n, 0, IPTR(99));
    void *v = NULL;
    assert_int_equal(ts_future_result(f, &v), 0);
    assert_int_equal(PTRI(v), 99);
    /* Completing again is refused and changes nothing. */
    assert_int_equal(ts_future_set_result(f, IPTR(1)), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_error(f, -EIO), TS_EINVALSTATE);
    assert_int_equal(ts_future_cancel(f), 0);
    assert_int_equal(ts_future_result(f, &v), 0);
    assert_int_equal(PTRI(v), 99);
    ts_future_free(f);
    return NULL;
}
static void test_set_result_wakes_all(void **s) { (void)s; run_ok(body_set_result); }

static void *body_set_error(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    waiter_probe p[NWAIT];
    ts_task *t[NWAIT];
    int order[NWAIT], n;
    start_waiters(f, p, t, order, &n);
    assert_int_equal(ts_future_set_error(f, -EPIPE), 0);
    finish_waiters(p, t, order, &n, -EPIPE, NULL);
    assert_int_equal(ts_future_result(f, NULL), -EPIPE);
    assert_int_equal(ts_future_cancelled(f), 0);
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_error(f, -EIO), TS_EINVALSTATE);
    ts_future_free(f);
    return NULL;
}
static void test_set_error_wakes_all(void **s) { (void)s; run_ok(body_set_error); }

static void *body_cancel(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    waiter_probe p[NWAIT];
    ts_task *t[NWAIT];
    int order[NWAIT], n;
    start_waiters(f, p, t, order, &n);
    assert_int_equal(ts_future_cancel(f), 1);
    assert_int_equal(ts_future_cancel(f), 0);
    assert_int_equal(ts_future_cancelled(f), 1);
    assert_int_equal(ts_future_done(f), 1);
    finish_waiters(p, t, order, &n, -ECANCELED, NULL);
    assert_int_equal(ts_future_result(f, NULL), -ECANCELED);
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    ts_future_free(f);
    return NULL;
}
static void test_cancel_wakes_all(void **s) { (void)s; run_ok(body_cancel); }

/* Awaiting a future that is already done does not suspend. */
static int side_effect;
static void *set_side_effect(void *arg) {
    (void)arg;
    side_effect = 1;
    return NULL;
}

static void *body_await_done(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    assert_int_equal(ts_future_set_result(f, IPTR(5)), 0);
    side_effect = 0;
    ts_task *other = ts_spawn(set_side_effect, NULL);
    void *v = NULL;
    assert_int_equal(ts_future_await(f, &v), 0);
    assert_int_equal(PTRI(v), 5);
    assert_int_equal(ts_future_await(f, NULL), 0);   /* not consumed */
    assert_int_equal(side_effect, 0);
    assert_int_equal(ts_await(other, NULL), 0);
    ts_future_free(f);
    return NULL;
}
static void test_await_done_future(void **s) { (void)s; run_ok(body_await_done); }

/* ---- done callbacks ---------------------------------------------------- */

static int fcb_log[8], fcb_n, fcb_not_done, fcb_in_task, fcb_rc[8];

static void future_cb(ts_future *f, void *arg) {
    if (fcb_n < 8) {
        fcb_log[fcb_n] = (int)PTRI(arg);
        fcb_rc[fcb_n] = ts_future_result(f, NULL);
    }
    fcb_n++;
    fcb_not_done += !ts_future_done(f);
    fcb_in_task += ts_current_task() != NULL;
}

static void *body_callbacks(void *arg) {
    (void)arg;
    fcb_n = fcb_not_done = fcb_in_task = 0;
    ts_future *f = ts_future_new();
    assert_int_equal(ts_future_add_done_callback(f, future_cb, IPTR(1)), 0);
    assert_int_equal(ts_future_add_done_callback(f, future_cb, IPTR(2)), 0);
    assert_int_equal(ts_future_set_error(f, -EIO), 0);
    assert_int_equal(fcb_n, 0);   /* never inside the completing call */
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(fcb_n, 2);
    assert_int_equal(ts_future_add_done_callback(f, future_cb, IPTR(3)), 0);
    assert_int_equal(fcb_n, 2);   /* never inside the add either */
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(fcb_n, 3);
    ts_future_free(f);

    f = ts_future_new();
    assert_int_equal(ts_future_add_done_callback(f, future_cb, IPTR(4)), 0);
    assert_int_equal(ts_future_cancel(f), 1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(fcb_n, 4);
    ts_future_free(f);
    const int want[4] = {1, 2, 3, 4};
    const int want_rc[4] = {-EIO, -EIO, -EIO, -ECANCELED};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fcb_log[i], want[i]);
        assert_int_equal(fcb_rc[i], want_rc[i]);
    }
    assert_int_equal(fcb_not_done, 0);
    assert_int_equal(fcb_in_task, 0);
    return NULL;
}
static void test_done_callbacks(void **s) { (void)s; run_ok(body_callbacks); }

/* ---- cancellation of an awaiter ------------------------------------------- */

static void *body_awaiter_cancelled(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    waiter_probe p[NWAIT];
    ts_task *t[NWAIT];
    int order[NWAIT], n;
    start_waiters(f, p, t, order, &n);
    /* Cancel the middle awaiter: the future is cancelled for everyone. */
    assert_int_equal(ts_task_cancel(t[1], NULL), 1);
    for (int i = 0; i < NWAIT; i++)
        assert_int_equal(ts_await(t[i], NULL), -ECANCELED);
    assert_int_equal(n, NWAIT);
    assert_int_equal(ts_future_cancelled(f), 1);
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    ts_future_free(f);
    return NULL;
}
static void test_awaiter_cancelled_cancels_future(void **s) {
    (void)s;
    run_ok(body_awaiter_cancelled);
}

/* ---- freeing a pending future --------------------------------------------- */

static void *body_free_pending(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    waiter_probe p[NWAIT];
    ts_task *t[NWAIT];
    int order[NWAIT], n;
    start_waiters(f, p, t, order, &n);
    uint64_t before = ts_diag_count(TS_DIAG_FUTURE_DESTROYED_PENDING);
    ts_future_free(f);
    assert_int_equal(ts_diag_count(TS_DIAG_FUTURE_DESTROYED_PENDING), before + 1);
    assert_int_equal(diag_seen[TS_DIAG_FUTURE_DESTROYED_PENDING], 1);
    diag_seen[TS_DIAG_FUTURE_DESTROYED_PENDING] = 0;
    for (int i = 0; i < NWAIT; i++)
        assert_int_equal(ts_await(t[i], NULL), -ECANCELED);
    assert_int_equal(n, NWAIT);

    /* Freeing a completed future is not reported. */
    f = ts_future_new();
    ts_future_set_result(f, NULL);
    ts_future_free(f);
    f = ts_future_new();
    ts_future_cancel(f);
    ts_future_free(f);
    return NULL;
}
static void test_free_pending_future(void **s) { (void)s; run_ok(body_free_pending); }

/* The last user of a future may free it from its own done callback (the
 * callback is handed f for that); callbacks not yet run are dropped. */
static int second_ran;
static void free_in_callback(ts_future *f, void *arg) {
    (void)arg;
    ts_future_free(f);
}
static void mark_second(ts_future *f, void *arg) {
    (void)f;
    (void)arg;
    second_ran = 1;
}

static void *body_free_in_callback(void *arg) {
    (void)arg;
    second_ran = 0;
    ts_future *f = ts_future_new();
    assert_int_equal(ts_future_add_done_callback(f, free_in_callback, NULL), 0);
    assert_int_equal(ts_future_add_done_callback(f, mark_second, NULL), 0);
    assert_int_equal(ts_future_set_result(f, NULL), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(second_ran, 0);
    return NULL;
}
static void test_free_in_done_callback(void **s) { (void)s; run_ok(body_free_in_callback); }

/* ---- threads ---------------------------------------------------------------- */

typedef struct foreign_f {
    ts_future *f;
    ts_loop *loop;
    int rc_set, rc_err, rc_cancel, rc_result, rc_cb, rc_await;
} foreign_f;

static void *foreign_awaiter(void *arg) {
    foreign_f *x = arg;
    int r = ts_future_await(x->f, NULL);
    return r ? ts_fail(r, NULL) : NULL;
}

/* Runs on another thread: no cmocka here, only return codes. */
static void *foreign_future_calls(void *arg) {
    foreign_f *x = arg;
    x->rc_set = ts_future_set_result(x->f, IPTR(1));
    x->rc_err = ts_future_set_error(x->f, -EIO);
    x->rc_cancel = ts_future_cancel(x->f);
    x->rc_result = ts_future_result(x->f, NULL);
    x->rc_cb = ts_future_add_done_callback(x->f, future_cb, IPTR(7));
    /* A task of this thread's own loop awaiting the other loop's future. */
    x->rc_await = ts_run(foreign_awaiter, x);
    return NULL;
}

static void *body_foreign_thread(void *arg) {
    (void)arg;
    fcb_n = 0;
    foreign_f x = {.f = ts_future_new()};
    uint64_t before = ts_diag_count(TS_DIAG_WRONG_THREAD);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_future_calls, &x), 0);
    pthread_join(th, NULL);   /* blocks this loop briefly; fine in a test */
    /* Report every call that was not refused, not just the first. */
    const struct {
        const char *call;
        int rc;
    } got[] = {{"set_result", x.rc_set}, {"set_error", x.rc_err},
               {"cancel", x.rc_cancel}, {"result", x.rc_result},
               {"add_done_callback", x.rc_cb}, {"await", x.rc_await}};
    char bad[256] = "";
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        if (got[i].rc != TS_EWRONGLOOP)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s=%d",
                     got[i].call, got[i].rc);
    if (bad[0])
        fail_msg("foreign-thread calls not refused with TS_EWRONGLOOP:%s", bad);
    assert_true(ts_diag_count(TS_DIAG_WRONG_THREAD) > before);
    diag_seen[TS_DIAG_WRONG_THREAD] = 0;
    /* Untouched by all that. */
    assert_int_equal(ts_future_done(x.f), 0);
    assert_int_equal(ts_future_set_result(x.f, IPTR(2)), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(fcb_n, 0);   /* the refused callback never runs */
    ts_future_free(x.f);
    return NULL;
}
static void test_foreign_thread(void **s) { (void)s; run_ok(body_foreign_thread); }

static void cb_complete(void *arg) {
    ts_future_set_result(arg, IPTR(123));
}

static void *complete_from_worker(void *arg) {
    foreign_f *x = arg;
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    return IPTR(ts_call_soon_threadsafe(x->loop, cb_complete, x->f));
}

static void *body_threadsafe_completion(void *arg) {
    (void)arg;
    foreign_f x = {.f = ts_future_new(), .loop = ts_loop_current()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, complete_from_worker, &x), 0);
    void *v = NULL;
    assert_int_equal(ts_future_await(x.f, &v), 0);
    assert_int_equal(PTRI(v), 123);
    void *rc;
    pthread_join(th, &rc);
    assert_null(rc);
    ts_future_free(x.f);
    return NULL;
}
static void test_threadsafe_completion(void **s) {
    (void)s;
    run_ok(body_threadsafe_completion);
}

static void test_new_without_loop(void **s) {
    (void)s;
    errno = 0;
    assert_null(ts_future_new());
    assert_int_equal(errno, ESRCH);
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

/* Issue 14.1: cancelling a task that awaits a future cancels the future
 * at once (asyncio's Task.cancel cancels _fut_waiter synchronously), so a
 * value set before the task runs again is refused, never lost. */
static void *await_future_rc(void *arg) {
    void *res = IPTR(-1);
    int rc = ts_future_await((ts_future *)arg, &res);
    return rc ? ts_fail(rc, NULL) : res;
}

static void *forward_then_sleep(void *arg) {
    (void)arg;
    int rc = ts_sleep(10);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *await_task(void *arg) {
    int rc = ts_await((ts_task *)arg, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *body_cancel_reaches_future_at_once(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_future_rc, f);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    /* Before t has run again: */
    assert_true(ts_future_cancelled(f));
    assert_int_equal(ts_future_set_result(f, IPTR(7)), TS_EINVALSTATE);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    ts_future_free(f);

    /* A request pending before the task first awaits still cancels it. */
    f = ts_future_new();
    t = ts_spawn(await_future_rc, f);
    ts_task_cancel(t, NULL);   /* never started: never runs its function */
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_false(ts_future_done(f));
    ts_future_cancel(f);
    ts_future_free(f);

    /* The same through ts_await: the awaited task is cancelled at once. */
    ts_task *inner = ts_spawn(forward_then_sleep, NULL);
    ts_task *outer = ts_spawn(await_task, ts_task_ref(inner));
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_cancelling(inner), 0);
    ts_task_cancel(outer, "stop");
    assert_int_equal(ts_task_cancelling(inner), 1);
    assert_string_equal(ts_task_cancel_message(inner), "stop");
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_int_equal(ts_await(inner, NULL), -ECANCELED);
    return NULL;
}
static void test_cancel_reaches_future_at_once(void **s) {
    (void)s;
    run_ok(body_cancel_reaches_future_at_once);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_set_result_wakes_all, close_leftover_loop),
        cmocka_unit_test_teardown(test_set_error_wakes_all, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_wakes_all, close_leftover_loop),
        cmocka_unit_test_teardown(test_await_done_future, close_leftover_loop),
        cmocka_unit_test_teardown(test_done_callbacks, close_leftover_loop),
        cmocka_unit_test_teardown(test_awaiter_cancelled_cancels_future, close_leftover_loop),
        cmocka_unit_test_teardown(test_free_pending_future, close_leftover_loop),
        cmocka_unit_test_teardown(test_free_in_done_callback, close_leftover_loop),
        cmocka_unit_test_teardown(test_foreign_thread, close_leftover_loop),
        cmocka_unit_test_teardown(test_threadsafe_completion, close_leftover_loop),
        cmocka_unit_test_teardown(test_new_without_loop, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_reaches_future_at_once, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
