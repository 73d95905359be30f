/*
 * test_cpython_tasks3.c - the last part of CPython's
 * Lib/test/test_asyncio/test_tasks.py ported to the C API: cancel from a
 * callback, errors read after a cancellation, the newer wait/as_completed
 * tests, cancelling a task that already failed, a gather cancelled after
 * its children finished (bpo-26923), a pending task left behind at loop
 * close, task names, gather's success paths (GatherTestsBase), SleepTests
 * and BaseCurrentLoopTests.
 * test_cpython_tasks.c and test_cpython_tasks2.c hold the rest; the same
 * conventions apply (counted yields, outcome not timing, both runtimes).
 */
#include "harness.h"

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

/* ======================= wait / as_completed ======================= */

static void *returns_arg(void *arg) { return arg; }

static void *Task_test_wait_generator(void *arg) {
    (void)arg;
    ts_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = ts_spawn(returns_arg, IPTR(i));
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 10, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    return NULL;
}
static void test_Task_test_wait_generator(void **s) { (void)s; run_port(Task_test_wait_generator); }

/* Stop after two, then resume the same iterator: all four come out. */
static void *Task_test_as_completed_resume_iterator(void *arg) {
    (void)arg;
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn(returns_arg, IPTR(i));
    ts_as_completed *ac = ts_as_completed_new(t, 4, TS_FOREVER);
    assert_non_null(ac);
    int seen[4] = {0}, collected = 0;
    ts_task *done;
    while (collected < 2 && ts_as_completed_next(ac, &done) == 0) {
        void *r;
        assert_int_equal(ts_task_result(done, &r), 0);
        seen[PTRI(r)]++;
        collected++;
    }
    assert_int_equal(collected, 2);
    int rc;
    while ((rc = ts_as_completed_next(ac, &done)) == 0) {
        void *r;
        assert_int_equal(ts_task_result(done, &r), 0);
        seen[PTRI(r)]++;
        collected++;
    }
    assert_int_equal(rc, TS_EOF);
    assert_int_equal(collected, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(seen[i], 1);
    ts_as_completed_free(ac);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    return NULL;
}
static void test_Task_test_as_completed_resume_iterator(void **s) { (void)s; run_port(Task_test_as_completed_resume_iterator); }

/* Tasks come out as themselves (C has no coroutine objects to wrap). */
static void *Task_test_as_completed_same_tasks_in_as_out(void *arg) {
    (void)arg;
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn(returns_arg, IPTR(i));
    ts_as_completed *ac = ts_as_completed_new(t, 4, TS_FOREVER);
    assert_non_null(ac);
    int seen[4] = {0};
    ts_task *done;
    while (ts_as_completed_next(ac, &done) == 0) {
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (t[i] == done)
                k = i;
        assert_true(k >= 0);
        seen[k]++;
    }
    for (int i = 0; i < 4; i++)
        assert_int_equal(seen[i], 1);
    ts_as_completed_free(ac);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    return NULL;
}
static void test_Task_test_as_completed_same_tasks_in_as_out(void **s) { (void)s; run_port(Task_test_as_completed_same_tasks_in_as_out); }

/* ======================= cancel after the fact ======================= */

static void *raises_type_error(void *arg) {
    (void)arg;
    return ts_fail(-EINVAL, "TypeError");
}

/* asyncio's cancel() on a task that already failed marks its error as
 * seen: dropping the task afterwards logs nothing. */
static void *Task_test_tb_logger_not_called_after_cancel(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(raises_type_error, NULL);
    yield();
    assert_true(ts_task_done(t));
    assert_int_equal(ts_task_cancel(t, NULL), 0);
    ts_task_detach(t);
    return NULL;
}
static void test_Task_test_tb_logger_not_called_after_cancel(void **s) {
    (void)s;
    run_port(Task_test_tb_logger_not_called_after_cancel);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* bpo-26923: a cancel that arrives once every child of a gather is done
 * does not turn the finished gather into a cancellation.  Here the gather
 * runs in a task; the request is made (1, not asyncio's False, as the
 * task is still running) but never delivered, so the task returns the
 * result. */
static void *child_coro(void *arg) { return await_fut_value(arg); }

static void *gathers_child(void *arg) {
    ts_task *c = ts_spawn(child_coro, arg);
    void *r = NULL;
    int rc = ts_gather(&c, 1, &r, NULL);
    return rc ? ts_fail(rc, NULL) : r;
}

typedef struct g1 {
    ts_task *gather_task;
    int cancel_result;
} g1;

static void cancelling_callback(ts_future *f, void *arg) {
    (void)f;
    g1 *g = arg;
    g->cancel_result = ts_task_cancel(g->gather_task, NULL);
}

static void *Task_test_cancel_gather_1(void *arg) {
    (void)arg;
    ts_future *fut = ts_future_new();
    g1 g = {ts_spawn(gathers_child, fut), -1};
    yield();
    yield();
    assert_int_equal(ts_future_add_done_callback(fut, cancelling_callback, &g), 0);
    assert_int_equal(ts_future_set_result(fut, IPTR(42)), 0);
    void *r;
    assert_int_equal(ts_await(ts_task_ref(g.gather_task), &r), 0);
    assert_int_equal(PTRI(r), 42);
    assert_false(ts_task_cancelled(g.gather_task));
    ts_task_unref(g.gather_task);
    ts_future_free(fut);
    return NULL;
}
static void test_Task_test_cancel_gather_1(void **s) { (void)s; run_port(Task_test_cancel_gather_1); }

/* ======================= a pending task left behind ======================= */

static void *kill_me(void *arg) {
    (void)arg;
    int rc = ts_sleep(1000.0);   /* nothing will wake it */
    return rc ? ts_fail(rc, NULL) : ts_fail(-EPROTO, "code never reached");
}

static void *yield_once(void *arg) {
    (void)arg;
    int rc = ts_sleep(0);
    return rc ? ts_fail(rc, NULL) : NULL;
}

/* The task is in all_tasks while pending; once nothing holds it and its
 * loop goes away (Python: the GC collects it), "Task was destroyed but it
 * is pending!" is reported, once. */
static void test_Task_test_log_destroyed_pending_task(void **s) {
    (void)s;
    diag_reset();
    ts_loop *loop;
    assert_int_equal(ts_loop_new(&loop), 0);
    ts_task *task = ts_spawn(kill_me, NULL);
    assert_non_null(task);
    ts_task *all[4];
    assert_int_equal(ts_all_tasks(loop, all, 4), 1);
    assert_ptr_equal(all[0], task);
    /* Run the task until it waits. */
    assert_int_equal(ts_loop_run_until_complete(loop, ts_spawn(yield_once, NULL), NULL), 0);
    assert_false(ts_task_done(task));
    ts_task_detach(task);
    assert_int_equal(diag_seen[TS_DIAG_TASK_DESTROYED_PENDING], 0);
    assert_int_equal(ts_loop_close(loop), 0);
    assert_int_equal(diag_seen[TS_DIAG_TASK_DESTROYED_PENDING], 1);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

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
        T(test_Task_test_wait_generator),
        T(test_Task_test_as_completed_resume_iterator),
        T(test_Task_test_as_completed_same_tasks_in_as_out),
        T(test_Task_test_tb_logger_not_called_after_cancel),
        T(test_Task_test_cancel_gather_1),
        T(test_Task_test_log_destroyed_pending_task),
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
