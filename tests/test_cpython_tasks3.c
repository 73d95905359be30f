/*
 * test_cpython_tasks3.c - the last part of CPython's
 * Lib/test/test_asyncio/test_tasks.py ported to the C API: cancel from a
 * callback, errors read after a cancellation, task names, gather's
 * success paths (GatherTestsBase), SleepTests and BaseCurrentLoopTests.
 * test_cpython_tasks.c and test_cpython_tasks2.c hold the rest; the same
 * conventions apply (counted yields, outcome not timing, both runtimes).
 */
#include "harness.h"

static void run_port(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
}

static void yield(void) { assert_int_equal(ts_sleep(0), 0); }

static void *await_fut_value(void *arg) {
    void *v = NULL;
    int rc = ts_future_await((ts_future *)arg, &v);
    return rc ? ts_fail(rc, NULL) : v;
}

/* ======================= cancel ======================= */

static void *sleeps_then_12(void *arg) {
    (void)arg;
    int rc = ts_sleep(10.0);
    return rc ? ts_fail(rc, NULL) : IPTR(12);
}

static void cancel_cb(void *arg) { ts_task_cancel((ts_task *)arg, NULL); }

static void *Task_test_cancel(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleeps_then_12, NULL);
    assert_int_equal(ts_call_soon(NULL, cancel_cb, t, NULL), 0);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_true(ts_task_done(t));
    assert_true(ts_task_cancelled(t));
    assert_int_equal(ts_task_cancel(t, NULL), 0);
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel(void **s) { (void)s; run_port(Task_test_cancel); }

/* The inner task is cancelled with "msg" from a callback; the outer turns
 * that into its own error.  Python chains the CancelledError('msg') as the
 * ValueError's cause; in C the outer's error stands alone and the message
 * stays readable on the inner task. */
typedef struct ctx_arg {
    ts_future *fut;
    ts_task *inner;
} ctx_arg;

static void *ctx_sleep(void *arg) {
    ctx_arg *c = arg;
    assert_int_equal(ts_future_set_result(c->fut, NULL), 0);
    int rc = ts_sleep(10.0);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void cancel_msg_cb(void *arg) { ts_task_cancel((ts_task *)arg, "msg"); }

static void *ctx_coro(void *arg) {
    ctx_arg *c = arg;
    c->inner = ts_spawn(ctx_sleep, c);
    assert_int_equal(ts_future_await(c->fut, NULL), 0);
    assert_int_equal(ts_call_soon(NULL, cancel_msg_cb, c->inner, NULL), 0);
    int rc = ts_await(ts_task_ref(c->inner), NULL);
    if (rc == -ECANCELED)
        return ts_fail(-EBADE, "cancelled");
    return NULL;
}

static void *Task_test_cancellation_exception_context(void *arg) {
    (void)arg;
    ctx_arg c = {ts_future_new(), NULL};
    ts_task *t = ts_spawn(ctx_coro, &c);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -EBADE);
    assert_string_equal(ts_task_error_message(t), "cancelled");
    assert_true(ts_task_cancelled(c.inner));
    assert_string_equal(ts_task_cancel_message(c.inner), "msg");
    ts_task_unref(c.inner);
    ts_task_unref(t);
    ts_future_free(c.fut);
    return NULL;
}
static void test_Task_test_cancellation_exception_context(void **s) { (void)s; run_port(Task_test_cancellation_exception_context); }

/* bpo-28843 checks the traceback; here: the error is there to read one
 * loop iteration after the task failed, without awaiting it. */
static void *divides_by_zero(void *arg) {
    (void)arg;
    return ts_fail(-EDOM, "division by zero");
}

static void *Task_test_exception_traceback(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(divides_by_zero, NULL);
    yield();
    assert_int_equal(ts_task_error(t), -EDOM);
    assert_string_equal(ts_task_error_message(t), "division by zero");
    assert_int_equal(ts_await(t, NULL), -EDOM);
    return NULL;
}
static void test_Task_test_exception_traceback(void **s) { (void)s; run_port(Task_test_exception_traceback); }

/* ======================= names ======================= */

static void *noop(void *arg) { (void)arg; return NULL; }

static void *Task_test_bare_create_named_task(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("No-op", noop, NULL);
    assert_string_equal(ts_task_name(t), "No-op");
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}
static void test_Task_test_bare_create_named_task(void **s) { (void)s; run_port(Task_test_bare_create_named_task); }

/* CPython checks that a name given as an int is kept as its text; C names
 * are strings, so what is left to port is that set_name replaces the name
 * given at creation. */
static void *Task_test_task_set_name_pylong(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("987654321", noop, NULL);
    assert_string_equal(ts_task_name(t), "987654321");
    assert_int_equal(ts_task_set_name(t, "123456789"), 0);
    assert_string_equal(ts_task_name(t), "123456789");
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}
static void test_Task_test_task_set_name_pylong(void **s) { (void)s; run_port(Task_test_task_set_name_pylong); }

/* ======================= gather (GatherTestsBase) ======================= */

typedef struct gather3 {
    ts_task *t[3];
    void *results[3];
    int errors[3];
    int use_errors;
} gather3;

static void *gathers_three(void *arg) {
    gather3 *g = arg;
    int rc = ts_gather(g->t, 3, g->results, g->use_errors ? g->errors : NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

/* _check_success: b, then a complete; gather is not done until c is. */
static void check_success(int use_errors) {
    ts_future *f[3] = {ts_future_new(), ts_future_new(), ts_future_new()};
    gather3 g = {.use_errors = use_errors};
    for (int i = 0; i < 3; i++)
        g.t[i] = ts_spawn(await_fut_value, f[i]);
    for (int i = 0; i < 3; i++)
        g.errors[i] = -1;
    ts_task *fut = ts_spawn(gathers_three, &g);
    yield();
    assert_int_equal(ts_future_set_result(f[1], IPTR(1)), 0);
    assert_int_equal(ts_future_set_result(f[0], IPTR(2)), 0);
    for (int i = 0; i < 3; i++)
        yield();
    assert_false(ts_task_done(fut));
    assert_int_equal(ts_future_set_result(f[2], IPTR(3)), 0);
    assert_int_equal(ts_await(fut, NULL), 0);
    assert_int_equal(PTRI(g.results[0]), 2);
    assert_int_equal(PTRI(g.results[1]), 1);
    assert_int_equal(PTRI(g.results[2]), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(g.errors[i], use_errors ? 0 : -1);
    for (int i = 0; i < 3; i++)
        ts_future_free(f[i]);
}

static void *Gather_test_success(void *arg) {
    (void)arg;
    check_success(0);
    return NULL;
}
static void test_Gather_test_success(void **s) { (void)s; run_port(Gather_test_success); }

static void *Gather_test_result_exception_success(void *arg) {
    (void)arg;
    check_success(1);
    return NULL;
}
static void test_Gather_test_result_exception_success(void **s) { (void)s; run_port(Gather_test_result_exception_success); }

/* ======================= SleepTests ======================= */

static void inc_result(void *arg) { *(int *)arg += 1; }

static void *SleepTests_test_sleep_zero(void *arg) {
    (void)arg;
    int result = 0;
    assert_int_equal(ts_call_soon(NULL, inc_result, &result, NULL), 0);
    assert_int_equal(result, 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(result, 1);   /* the callback ran during the yield */
    return NULL;
}
static void test_SleepTests_test_sleep_zero(void **s) { (void)s; run_port(SleepTests_test_sleep_zero); }

/* ======================= BaseCurrentLoopTests ======================= */

static void test_CurrentLoop_test_current_task_no_running_loop(void **s) {
    (void)s;
    assert_null(ts_current_task());
}

static void *checks_current(void *arg) {
    assert_ptr_equal(ts_current_task(), *(ts_task **)arg);
    return NULL;
}

static void *CurrentLoop_test_current_task_with_implicit_loop(void *arg) {
    (void)arg;
    ts_task *t = NULL;
    t = ts_spawn(checks_current, &t);
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}
static void test_CurrentLoop_test_current_task_with_implicit_loop(void **s) {
    (void)s;
    run_port(CurrentLoop_test_current_task_with_implicit_loop);
    assert_null(ts_current_task());
}

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
        T(test_Task_test_cancel),
        T(test_Task_test_cancellation_exception_context),
        T(test_Task_test_exception_traceback),
        T(test_Task_test_bare_create_named_task),
        T(test_Task_test_task_set_name_pylong),
        T(test_Gather_test_success),
        T(test_Gather_test_result_exception_success),
        T(test_SleepTests_test_sleep_zero),
        T(test_CurrentLoop_test_current_task_no_running_loop),
        T(test_CurrentLoop_test_current_task_with_implicit_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
