/*
 * test_cpython_waitfor.c - CPython's Lib/test/test_asyncio/test_waitfor.py
 * ported to ts_wait_for.
 *
 * asyncio.wait_for(coro(), t) is ts_wait_for(ts_spawn(fn, arg), t, &res):
 * C has no coroutine objects, so "a coroutine that has not started" is a
 * task that has not run yet.  Waiting on a future is done by a task that
 * awaits it.  Elapsed-time assertions are left out (tests assert
 * behaviour, never timings).  timeout=None is TS_FOREVER.  Each test is
 * named after the CPython test it ports; the file runs against both
 * runtimes (tests/meson.build).
 */
#include <math.h>

#include "harness.h"

/* SlowTask: runs for 0.2 s of loop time, ignoring cancel requests. */
enum { SLOW_MS = 200 };
typedef struct slow_task {
    int exited;
} slow_task;

static void *slow_run(void *arg) {
    slow_task *t = arg;
    double exitat = ts_now() + SLOW_MS / 1000.0;
    for (;;) {
        double tosleep = exitat - ts_now();
        if (tosleep <= 0)
            break;
        (void)ts_sleep(tosleep);   /* a cancellation is swallowed */
    }
    t->exited = 1;
    return NULL;
}

static void *wait_for_slow(void *arg) {
    slow_task *t = arg;
    int rc = ts_wait_for(ts_spawn(slow_run, t), 2 * SLOW_MS / 1000.0, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *AsyncioWaitFor_test_asyncio_wait_for_cancelled(void *arg) {
    (void)arg;
    slow_task t = {0};
    ts_task *w = ts_spawn(wait_for_slow, &t);
    /* asyncio.wait_for awaits the coroutine in its own task, so one turn
     * starts it; here the inner task needs its own first turn (a task
     * cancelled before it first runs never runs at all). */
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_sleep(0), 0);
    ts_task_cancel(w, NULL);
    assert_int_equal(ts_wait(&w, 1, TS_FOREVER, TS_ALL_COMPLETED, NULL), 0);
    assert_true(t.exited);
    assert_int_equal(ts_await(w, NULL), -ECANCELED);
    return NULL;
}
static void test_AsyncioWaitFor_test_asyncio_wait_for_cancelled(void **s) { (void)s; run_port(AsyncioWaitFor_test_asyncio_wait_for_cancelled); }

static void *AsyncioWaitFor_test_asyncio_wait_for_timeout(void *arg) {
    (void)arg;
    slow_task t = {0};
    int rc = ts_wait_for(ts_spawn(slow_run, &t), SLOW_MS / 2000.0, NULL);
    /* The task swallowed the cancellation and finished: its own outcome
     * (Python 3.12); either way wait_for returned only once it exited. */
    assert_true(rc == 0 || rc == -ETIMEDOUT);
    assert_true(t.exited);
    return NULL;
}
static void test_AsyncioWaitFor_test_asyncio_wait_for_timeout(void **s) { (void)s; run_port(AsyncioWaitFor_test_asyncio_wait_for_timeout); }

static void *returns_done(void *arg) { (void)arg; return (void *)"done"; }

static void *WaitFor_test_wait_for_timeout_less_then_0_or_0_future_done(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) {
        ts_task *t = ts_spawn(returns_done, NULL);
        assert_int_equal(ts_sleep(0), 0);   /* done before wait_for */
        assert_true(ts_task_done(t));
        void *ret = NULL;
        assert_int_equal(ts_wait_for(t, i ? -1 : 0, &ret), 0);
        assert_string_equal(ret, "done");
    }
    return NULL;
}
static void test_WaitFor_test_wait_for_timeout_less_then_0_or_0_future_done(void **s) { (void)s; run_port(WaitFor_test_wait_for_timeout_less_then_0_or_0_future_done); }

static int foo_started;
static void *foo_starts(void *arg) {
    (void)arg;
    foo_started = 1;
    return NULL;
}

static void *WaitFor_test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started(void *arg) {
    (void)arg;
    for (int i = 0; i < 2; i++) {
        foo_started = 0;
        assert_int_equal(ts_wait_for(ts_spawn(foo_starts, NULL), i ? -1 : 0, NULL),
                         -ETIMEDOUT);
        assert_false(foo_started);
    }
    return NULL;
}
static void test_WaitFor_test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started(void **s) { (void)s; run_port(WaitFor_test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started); }

typedef struct foo_state {
    int running;
    ts_future *started;
} foo_state;

static void *foo_sleeps(void *arg) {
    foo_state *f = arg;
    f->running = 1;
    if (f->started)
        ts_future_set_result(f->started, NULL);
    int rc = ts_sleep(10);
    f->running = 0;   /* finally */
    return rc ? ts_fail(rc, NULL) : (void *)"done";
}

/* Issue 14.8: -1 is as expired as 0, never "no limit". */
static void *WaitFor_test_wait_for_timeout_less_then_0_or_0(void *arg) {
    (void)arg;
    static const double timeouts[] = {0, -1};
    for (int i = 0; i < 2; i++) {
        foo_state f = {.started = ts_future_new()};
        ts_task *fut = ts_spawn(foo_sleeps, &f);
        assert_int_equal(ts_future_await(f.started, NULL), 0);
        assert_int_equal(ts_wait_for(ts_task_ref(fut), timeouts[i], NULL), -ETIMEDOUT);
        assert_true(ts_task_done(fut));
        assert_true(ts_task_cancelled(fut));
        assert_false(f.running);
        ts_task_unref(fut);
        ts_future_free(f.started);
    }
    return NULL;
}
static void test_WaitFor_test_wait_for_timeout_less_then_0_or_0(void **s) { (void)s; run_port(WaitFor_test_wait_for_timeout_less_then_0_or_0); }

static void *WaitFor_test_wait_for(void *arg) {
    (void)arg;
    foo_state f = {0};
    ts_task *fut = ts_spawn(foo_sleeps, &f);
    assert_int_equal(ts_wait_for(ts_task_ref(fut), 0.1, NULL), -ETIMEDOUT);
    assert_true(ts_task_done(fut));
    assert_true(ts_task_cancelled(fut));
    assert_false(f.running);
    ts_task_unref(fut);
    return NULL;
}
static void test_WaitFor_test_wait_for(void **s) { (void)s; run_port(WaitFor_test_wait_for); }

static void *WaitFor_test_wait_for_blocking(void *arg) {
    (void)arg;
    void *res = NULL;
    assert_int_equal(ts_wait_for(ts_spawn(returns_done, NULL), TS_FOREVER, &res), 0);
    assert_string_equal(res, "done");
    return NULL;
}
static void test_WaitFor_test_wait_for_blocking(void **s) { (void)s; run_port(WaitFor_test_wait_for_blocking); }

static void *await_future_value(void *arg) {
    void *v = NULL;
    int rc = ts_future_await((ts_future *)arg, &v);
    return rc ? ts_fail(rc, NULL) : v;
}

static void set_ok(void *arg) { ts_future_set_result((ts_future *)arg, (void *)"ok"); }

static void *WaitFor_test_wait_for_race_condition(void *arg) {
    (void)arg;
    ts_future *fut = ts_future_new();
    ts_call_later(NULL, 0.1, set_ok, fut, NULL);
    void *res = NULL;
    assert_int_equal(ts_wait_for(ts_spawn(await_future_value, fut), 0.2, &res), 0);
    assert_string_equal(res, "ok");
    ts_future_free(fut);
    return NULL;
}
static void test_WaitFor_test_wait_for_race_condition(void **s) { (void)s; run_port(WaitFor_test_wait_for_race_condition); }

static void *inner_swallows(void *arg) {
    (void)arg;
    assert_int_equal(ts_sleep(1), -ECANCELED);
    return IPTR(1);
}

static void *WaitFor_test_wait_for_cancellation_race_condition(void *arg) {
    (void)arg;
    void *result = NULL;
    assert_int_equal(ts_wait_for(ts_spawn(inner_swallows, NULL), 0.01, &result), 0);
    assert_ptr_equal(result, IPTR(1));
    return NULL;
}
static void test_WaitFor_test_wait_for_cancellation_race_condition(void **s) { (void)s; run_port(WaitFor_test_wait_for_cancellation_race_condition); }

static int task_done_flag;

static void *inner_slow_cancel(void *arg) {
    (void)arg;
    int rc = ts_sleep(10);
    if (rc == -ECANCELED)
        (void)ts_sleep(0.0001);
    task_done_flag = 1;   /* finally */
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *WaitFor_test_wait_for_waits_for_task_cancellation(void *arg) {
    (void)arg;
    task_done_flag = 0;
    ts_task *inner = ts_spawn(inner_slow_cancel, NULL);
    assert_int_equal(ts_wait_for(inner, 0.0001, NULL), -ETIMEDOUT);
    assert_true(task_done_flag);
    return NULL;
}
static void test_WaitFor_test_wait_for_waits_for_task_cancellation(void **s) { (void)s; run_port(WaitFor_test_wait_for_waits_for_task_cancellation); }

static void *WaitFor_test_wait_for_waits_for_task_cancellation_w_timeout_0(void *arg) {
    (void)arg;
    task_done_flag = 0;
    ts_task *inner = ts_spawn(inner_slow_cancel, NULL);
    assert_int_equal(ts_sleep(0.0001), 0);
    assert_int_equal(ts_wait_for(inner, 0, NULL), -ETIMEDOUT);
    assert_true(task_done_flag);
    return NULL;
}
static void test_WaitFor_test_wait_for_waits_for_task_cancellation_w_timeout_0(void **s) { (void)s; run_port(WaitFor_test_wait_for_waits_for_task_cancellation_w_timeout_0); }

static void *inner_raises_foo(void *arg) {
    (void)arg;
    (void)ts_sleep(0.2);
    return ts_fail(-EBADMSG, "FooException");   /* finally: raise */
}

static void *WaitFor_test_wait_for_reraises_exception_during_cancellation(void *arg) {
    (void)arg;
    assert_int_equal(ts_wait_for(ts_spawn(inner_raises_foo, NULL), 0.0001, NULL), -EBADMSG);
    return NULL;
}
static void test_WaitFor_test_wait_for_reraises_exception_during_cancellation(void **s) { (void)s; run_port(WaitFor_test_wait_for_reraises_exception_during_cancellation); }

static void *inner_holds_up(void *arg) {
    (void)arg;
    if (ts_sleep(0.3) == -ECANCELED && ts_sleep(0.3) == -ECANCELED)
        (void)ts_sleep(0.3);
    return IPTR(42);
}

static void *wait_for_arg(void *arg) {
    int rc = ts_wait_for((ts_task *)arg, 0.1, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *WaitFor_test_wait_for_self_cancellation(void *arg) {
    (void)arg;
    ts_task *inner = ts_spawn(inner_holds_up, NULL);
    ts_task *task = ts_spawn(wait_for_arg, ts_task_ref(inner));
    assert_int_equal(ts_sleep(0.2), 0);
    ts_task_cancel(task, NULL);
    /* wait_for itself is cancellable although the inner task holds up the
     * first cancellation: it returns once the inner task has ended. */
    assert_int_equal(ts_await(task, NULL), -ECANCELED);
    void *r;
    assert_int_equal(ts_await(inner, &r), 0);
    assert_ptr_equal(r, IPTR(42));
    return NULL;
}
static void test_WaitFor_test_wait_for_self_cancellation(void **s) { (void)s; run_port(WaitFor_test_wait_for_self_cancellation); }

static void *blocking_coroutine(void *arg) {
    (void)arg;
    ts_future *fut = ts_future_new();
    int rc = ts_future_await(fut, NULL);   /* never set */
    ts_future_free(fut);
    return rc ? ts_fail(rc, NULL) : NULL;
}

typedef struct wf_arg {
    ts_task *task;
    double timeout;
} wf_arg;

static void *wait_for_wf(void *arg) {
    wf_arg *a = arg;
    int rc = ts_wait_for(a->task, a->timeout, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void cancel_cb(void *arg) { ts_task_cancel((ts_task *)arg, NULL); }

static void cancel_wait_for(double timeout) {
    ts_task *task = ts_spawn(blocking_coroutine, NULL);
    wf_arg a = {ts_task_ref(task), timeout};
    ts_task *wait = ts_spawn(wait_for_wf, &a);
    ts_call_soon(NULL, cancel_cb, wait, NULL);
    assert_int_equal(ts_await(wait, NULL), -ECANCELED);
    /* Python issue #23219: cancelling the wait must also cancel the task */
    assert_true(ts_task_cancelled(task));
    ts_task_unref(task);
}

static void *WaitFor_test_cancel_blocking_wait_for(void *arg) {
    (void)arg;
    cancel_wait_for(TS_FOREVER);
    return NULL;
}
static void test_WaitFor_test_cancel_blocking_wait_for(void **s) { (void)s; run_port(WaitFor_test_cancel_blocking_wait_for); }

static void *WaitFor_test_cancel_wait_for(void *arg) {
    (void)arg;
    cancel_wait_for(60.0);
    return NULL;
}
static void test_WaitFor_test_cancel_wait_for(void **s) { (void)s; run_port(WaitFor_test_cancel_wait_for); }

/* Issue 14.1: the caller's cancellation reaches the task at once. */
static void *WaitFor_test_cancel_reaches_inner_at_once(void *arg) {
    (void)arg;
    ts_task *task = ts_spawn(blocking_coroutine, NULL);
    wf_arg a = {ts_task_ref(task), 60.0};
    ts_task *wait = ts_spawn(wait_for_wf, &a);
    assert_int_equal(ts_sleep(0), 0);
    ts_task_cancel(wait, NULL);
    assert_int_equal(ts_task_cancelling(task), 1);
    assert_int_equal(ts_await(wait, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(task));
    ts_task_unref(task);
    return NULL;
}
static void test_WaitFor_test_cancel_reaches_inner_at_once(void **s) { (void)s; run_port(WaitFor_test_cancel_reaches_inner_at_once); }

static int close_leftover_loop(void **state) {
    (void)state;
    ts_loop *l = ts_loop_current();
    if (l && !ts_loop_is_running(l))
        ts_loop_close(l);
    return 0;
}

#define T(name) cmocka_unit_test_teardown(name, close_leftover_loop)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_AsyncioWaitFor_test_asyncio_wait_for_cancelled),
        T(test_AsyncioWaitFor_test_asyncio_wait_for_timeout),
        T(test_WaitFor_test_wait_for_timeout_less_then_0_or_0_future_done),
        T(test_WaitFor_test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started),
        T(test_WaitFor_test_wait_for_timeout_less_then_0_or_0),
        T(test_WaitFor_test_wait_for),
        T(test_WaitFor_test_wait_for_blocking),
        T(test_WaitFor_test_wait_for_race_condition),
        T(test_WaitFor_test_wait_for_cancellation_race_condition),
        T(test_WaitFor_test_wait_for_waits_for_task_cancellation),
        T(test_WaitFor_test_wait_for_waits_for_task_cancellation_w_timeout_0),
        T(test_WaitFor_test_wait_for_reraises_exception_during_cancellation),
        T(test_WaitFor_test_wait_for_self_cancellation),
        T(test_WaitFor_test_cancel_blocking_wait_for),
        T(test_WaitFor_test_cancel_wait_for),
        T(test_WaitFor_test_cancel_reaches_inner_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
