/*
 * test_cpython_futures.c - CPython's Lib/test/test_asyncio/test_futures.py,
 * ported to the C API: the tests whose behaviour ts_future can express.
 * Left out: repr, the constructor's loop argument, the generator protocol
 * (__iter__, throw, StopIteration), wrap_future (concurrent.futures),
 * remove_done_callback (not in the API) and the "Future exception was
 * never retrieved" logger tests (taskscope reports unretrieved failures
 * of tasks, not of futures: the README's differences).
 *
 * Each test is named after the CPython test it ports (Class_test_name).
 * The file runs against both runtimes (tests/meson.build).
 */
#include "harness.h"

static void *BaseFuture_test_initial_state(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    assert_false(ts_future_cancelled(f));
    assert_false(ts_future_done(f));
    ts_future_cancel(f);
    assert_true(ts_future_cancelled(f));
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_initial_state(void **s) { (void)s; run_port(BaseFuture_test_initial_state); }

static void *BaseFuture_test_cancel(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    assert_int_equal(ts_future_cancel(f), 1);
    assert_true(ts_future_cancelled(f));
    assert_true(ts_future_done(f));
    void *r = IPTR(5);
    assert_int_equal(ts_future_result(f, &r), -ECANCELED);   /* CancelledError */
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_error(f, -EIO), TS_EINVALSTATE);
    assert_int_equal(ts_future_cancel(f), 0);
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_cancel(void **s) { (void)s; run_port(BaseFuture_test_cancel); }

static void *BaseFuture_test_result(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    void *r;
    assert_int_equal(ts_future_result(f, &r), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_result(f, IPTR(42)), 0);
    assert_false(ts_future_cancelled(f));
    assert_true(ts_future_done(f));
    assert_int_equal(ts_future_result(f, &r), 0);
    assert_ptr_equal(r, IPTR(42));
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_error(f, -EIO), TS_EINVALSTATE);
    assert_int_equal(ts_future_cancel(f), 0);
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_result(void **s) { (void)s; run_port(BaseFuture_test_result); }

static void *BaseFuture_test_exception(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    void *r;
    assert_int_equal(ts_future_result(f, &r), TS_EINVALSTATE);
    /* Not an error (Python: StopIteration cannot be raised into a future). */
    assert_int_equal(ts_future_set_error(f, 0), -EINVAL);
    assert_false(ts_future_done(f));
    assert_int_equal(ts_future_set_error(f, -EIO), 0);
    assert_false(ts_future_cancelled(f));
    assert_true(ts_future_done(f));
    assert_int_equal(ts_future_result(f, &r), -EIO);
    assert_int_equal(ts_future_set_result(f, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_future_set_error(f, -EIO), TS_EINVALSTATE);
    assert_int_equal(ts_future_cancel(f), 0);
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_exception(void **s) { (void)s; run_port(BaseFuture_test_exception); }

static void *await_twice(void *arg) {
    ts_future *f = arg;
    void *x = NULL, *y = NULL;
    int rc = ts_future_await(f, &x);
    if (rc == 0)
        rc = ts_future_await(f, &y);
    if (rc)
        return ts_fail(rc, NULL);
    assert_ptr_equal(x, y);
    return x;
}

/* The second await of a done future returns its result at once. */
static void *BaseFuture_test_yield_from_twice(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_twice, f);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_future_set_result(f, IPTR(42)), 0);
    void *r;
    assert_int_equal(ts_await(t, &r), 0);
    assert_ptr_equal(r, IPTR(42));
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_yield_from_twice(void **s) { (void)s; run_port(BaseFuture_test_yield_from_twice); }

/* futures._set_result_unless_cancelled: a cancelled future stays so, and
 * in C the setter is told (TS_EINVALSTATE). */
static void *BaseFuture_test_set_result_unless_cancelled(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_future_cancel(f);
    assert_int_equal(ts_future_set_result(f, IPTR(2)), TS_EINVALSTATE);
    assert_true(ts_future_cancelled(f));
    ts_future_free(f);
    return NULL;
}
static void test_BaseFuture_test_set_result_unless_cancelled(void **s) { (void)s; run_port(BaseFuture_test_set_result_unless_cancelled); }

static int bag[16];
static int nbag;

static void bag_appender(ts_future *f, void *arg) {
    (void)f;
    bag[nbag++] = (int)PTRI(arg);
}

static void *DoneCallback_test_callbacks_invoked_on_set_result(void *arg) {
    (void)arg;
    nbag = 0;
    ts_future *f = ts_future_new();
    ts_future_add_done_callback(f, bag_appender, IPTR(42));
    ts_future_add_done_callback(f, bag_appender, IPTR(17));
    assert_int_equal(nbag, 0);
    ts_future_set_result(f, IPTR(7));
    assert_int_equal(nbag, 0);   /* from the loop, never inside the call */
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(nbag, 2);
    assert_int_equal(bag[0], 42);
    assert_int_equal(bag[1], 17);
    void *r;
    assert_int_equal(ts_future_result(f, &r), 0);
    assert_ptr_equal(r, IPTR(7));
    ts_future_free(f);
    return NULL;
}
static void test_DoneCallback_test_callbacks_invoked_on_set_result(void **s) { (void)s; run_port(DoneCallback_test_callbacks_invoked_on_set_result); }

static void *DoneCallback_test_callbacks_invoked_on_set_exception(void *arg) {
    (void)arg;
    nbag = 0;
    ts_future *f = ts_future_new();
    ts_future_add_done_callback(f, bag_appender, IPTR(100));
    assert_int_equal(nbag, 0);
    ts_future_set_error(f, -EIO);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(nbag, 1);
    assert_int_equal(bag[0], 100);
    assert_int_equal(ts_future_result(f, NULL), -EIO);
    ts_future_free(f);
    return NULL;
}
static void test_DoneCallback_test_callbacks_invoked_on_set_exception(void **s) { (void)s; run_port(DoneCallback_test_callbacks_invoked_on_set_exception); }

/* test_futures2.FutureReprTests is repr only; test_tasks' future ones:
 * a task awaiting a future, the future cancelled from outside. */
static void *await_fut(void *arg) {
    void *r = NULL;
    int rc = ts_future_await((ts_future *)arg, &r);
    return rc ? ts_fail(rc, NULL) : IPTR(12);
}

static void *Task_test_cancel_inner_future(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_fut, f);
    assert_int_equal(ts_sleep(0), 0);   /* start the task */
    ts_future_cancel(f);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_true(ts_future_cancelled(f));
    assert_true(ts_task_cancelled(t));
    ts_task_unref(t);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_cancel_inner_future(void **s) { (void)s; run_port(Task_test_cancel_inner_future); }

static void *Task_test_cancel_both_task_and_inner_future(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_fut, f);
    assert_int_equal(ts_sleep(0), 0);
    ts_future_cancel(f);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_true(ts_task_done(t));
    assert_true(ts_future_cancelled(f));
    assert_true(ts_task_cancelled(t));
    ts_task_unref(t);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_cancel_both_task_and_inner_future(void **s) { (void)s; run_port(Task_test_cancel_both_task_and_inner_future); }

/* Issue 14.1 (test_tasks.test_cancel_task_... with Task.cancel reaching
 * _fut_waiter): the awaited future is cancelled by the cancel call
 * itself, so a result set before the task runs again is refused. */
static void *Task_test_cancel_reaches_fut_waiter_at_once(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_fut, f);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_true(ts_future_cancelled(f));
    assert_int_equal(ts_future_set_result(f, IPTR(7)), TS_EINVALSTATE);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_cancel_reaches_fut_waiter_at_once(void **s) { (void)s; run_port(Task_test_cancel_reaches_fut_waiter_at_once); }

/* test_tb_logger_exception_unretrieved: asyncio logs "Future exception
 * was never retrieved"; taskscope reports unretrieved failures of tasks
 * only (a future's creator owns it and frees it; the README's
 * differences).  The other tb_logger tests (abandoned, result unretrieved,
 * exception retrieved) expect no report, as here. */
static void *BaseFuture_test_tb_logger_exception_unretrieved(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_future_set_error(f, -EIO);
    ts_future_free(f);
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}
static void test_BaseFuture_test_tb_logger_exception_unretrieved(void **s) {
    (void)s;
    run_port(BaseFuture_test_tb_logger_exception_unretrieved);
    for (int k = 0; k < 16; k++)
        assert_int_equal(diag_seen[k], 0);
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
        T(test_BaseFuture_test_initial_state),
        T(test_BaseFuture_test_cancel),
        T(test_BaseFuture_test_result),
        T(test_BaseFuture_test_exception),
        T(test_BaseFuture_test_yield_from_twice),
        T(test_BaseFuture_test_set_result_unless_cancelled),
        T(test_DoneCallback_test_callbacks_invoked_on_set_result),
        T(test_DoneCallback_test_callbacks_invoked_on_set_exception),
        T(test_Task_test_cancel_inner_future),
        T(test_Task_test_cancel_both_task_and_inner_future),
        T(test_Task_test_cancel_reaches_fut_waiter_at_once),
        T(test_BaseFuture_test_tb_logger_exception_unretrieved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
