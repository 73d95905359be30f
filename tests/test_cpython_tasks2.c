/*
 * test_cpython_tasks2.c - part two of CPython's
 * Lib/test/test_asyncio/test_tasks.py that the C API can express: task
 * basics, cancel messages, cancelling a task and what it awaits, sleep,
 * current_task, cancellation passing through plain calls / wait / shield /
 * wait_for, uncancel in structured blocks, and two gather tests.
 * test_cpython_tasks.c holds the first part (wait, as_completed, shield,
 * gather, cancel), test_cpython_tasks3.c the last.
 *
 * As there: CPython's virtual-time loop becomes counted yields or short
 * real sleeps, and the tests assert order and outcome, never timings.
 * Left out, because C has no way to say them: repr and names of coroutine
 * objects, loop= arguments, private attributes (_must_cancel,
 * _fut_waiter: the public ts_task_awaiting stands in for the latter),
 * exception chaining and tracebacks, contextvars, eager tasks.
 * A CancelledError carries its message up the await chain in Python; in C
 * the message stays on the task that was cancelled, so the ports read it
 * there (ts_task_cancel_message).  Each test is named after the CPython
 * test it ports; the file runs against both runtimes (tests/meson.build).
 */
#include <math.h>

#include "harness.h"

static void yield_n(int n) {
    for (int i = 0; i < n; i++)
        yield();
}

/* Sleep for a long time, ending cancelled if cancelled. */
static void *sleeps_long(void *arg) {
    (void)arg;
    int rc = ts_sleep(10.0);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *await_fut_value(void *arg) {
    void *v = NULL;
    int rc = ts_future_await((ts_future *)arg, &v);
    return rc ? ts_fail(rc, NULL) : v;
}

static void *set_flag(void *arg) {
    *(int *)arg = 1;
    return NULL;
}

/* ======================= basics ======================= */

static void *inner1(void *arg) { (void)arg; return IPTR(42); }
static void *inner2(void *arg) { (void)arg; return IPTR(1000); }

static void *basics_outer(void *arg) {
    (void)arg;
    void *a, *b;
    assert_int_equal(ts_await(ts_spawn(inner1, NULL), &a), 0);
    assert_int_equal(ts_await(ts_spawn(inner2, NULL), &b), 0);
    return IPTR(PTRI(a) + PTRI(b));
}

static void *Task_test_task_basics(void *arg) {
    (void)arg;
    void *r;
    assert_int_equal(ts_await(ts_spawn(basics_outer, NULL), &r), 0);
    assert_int_equal(PTRI(r), 1042);
    return NULL;
}
static void test_Task_test_task_basics(void **s) { (void)s; run_port(Task_test_task_basics); }

static void *awaits_itself(void *arg) {
    (void)arg;
    ts_task *self = ts_task_ref(ts_current_task());
    int rc = ts_await(self, NULL);
    /* An argument error leaves the handle with the caller. */
    ts_task_unref(self);
    return rc ? ts_fail(rc, "Task cannot await on itself") : NULL;
}

static void *Task_test_task_awaits_on_itself(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(awaits_itself, NULL);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -EDEADLK);
    assert_string_equal(ts_task_error_message(t), "Task cannot await on itself");
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_task_awaits_on_itself(void **s) { (void)s; run_port(Task_test_task_awaits_on_itself); }

/* ======================= cancel messages ======================= */

static void *Task_test_task_cancel_message_getter(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleeps_long, NULL);
    assert_null(ts_task_cancel_message(t));
    assert_int_equal(ts_task_cancel(t, "my message"), 1);
    assert_string_equal(ts_task_cancel_message(t), "my message");
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_string_equal(ts_task_cancel_message(t), "my message");
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_task_cancel_message_getter(void **s) { (void)s; run_port(Task_test_task_cancel_message_getter); }

/* Cancel a started task with msg, wait() for it, then read its outcome
 * the way CPython's test does: result() (use_error 0) or exception(). */
typedef struct cancel_then {
    const char *msg;
    int use_error;
} cancel_then;

static void *cancel_then_read(void *arg) {
    cancel_then *c = arg;
    ts_task *t = ts_spawn(sleeps_long, NULL);
    yield();
    assert_int_equal(ts_task_cancel(t, c->msg), 1);
    size_t nd = 0;
    assert_int_equal(ts_wait(&t, 1, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    int rc = c->use_error ? ts_task_error(t) : ts_task_result(t, NULL);
    assert_int_equal(rc, -ECANCELED);
    if (c->msg)
        assert_string_equal(ts_task_cancel_message(t), c->msg);
    else
        assert_null(ts_task_cancel_message(t));
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    return ts_fail(rc, "%s", c->msg ? c->msg : "");
}

static void check_cancel_then(int use_error) {
    const char *msgs[] = {NULL, "my message"};
    for (int i = 0; i < 2; i++) {
        cancel_then c = {msgs[i], use_error};
        ts_task *t = ts_spawn(cancel_then_read, &c);
        assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
        assert_true(ts_task_cancelled(t));
        ts_task_unref(t);
    }
}

static void *Task_test_cancel_with_message_then_future_result(void *arg) {
    (void)arg;
    check_cancel_then(0);
    return NULL;
}
static void test_Task_test_cancel_with_message_then_future_result(void **s) { (void)s; run_port(Task_test_cancel_with_message_then_future_result); }

static void *Task_test_cancel_with_message_then_future_exception(void *arg) {
    (void)arg;
    check_cancel_then(1);
    return NULL;
}
static void test_Task_test_cancel_with_message_then_future_exception(void **s) { (void)s; run_port(Task_test_cancel_with_message_then_future_exception); }

static void *Task_test_cancel_with_message_before_starting_task(void *arg) {
    (void)arg;
    int ran = 0;
    ts_task *t = ts_spawn(set_flag, &ran);
    assert_int_equal(ts_task_cancel(t, "my message"), 1);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_false(ran);
    assert_string_equal(ts_task_cancel_message(t), "my message");
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel_with_message_before_starting_task(void **s) { (void)s; run_port(Task_test_cancel_with_message_before_starting_task); }

/* ======================= a task and what it awaits ======================= */

static void *Task_test_cancel_inner_future(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_fut_value, f);
    yield();                                  /* start the task */
    assert_int_equal(ts_future_cancel(f), 1);
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
    ts_task *t = ts_spawn(await_fut_value, f);
    yield();
    assert_int_equal(ts_future_cancel(f), 1);
    assert_int_equal(ts_task_cancel(t, NULL), 1);   /* not done yet */
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_true(ts_task_done(t));
    assert_true(ts_future_cancelled(f));
    assert_true(ts_task_cancelled(t));
    ts_task_unref(t);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_cancel_both_task_and_inner_future(void **s) { (void)s; run_port(Task_test_cancel_both_task_and_inner_future); }

static void *Task_test_task_cancel_waiter_future(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(await_fut_value, f);
    yield();
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t, &obj, NULL), TS_WAIT_FUTURE);
    assert_ptr_equal(obj, f);
    ts_task_cancel(t, NULL);
    yield();
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_int_equal(ts_task_awaiting(t, NULL, NULL), TS_WAIT_NONE);
    assert_true(ts_future_cancelled(f));
    ts_task_unref(t);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_task_cancel_waiter_future(void **s) { (void)s; run_port(Task_test_task_cancel_waiter_future); }

/* call_later(delay, t.cancel): a task that yields a few times first. */
static void *cancel_soon(void *arg) {
    ts_task *t = arg;
    yield_n(3);
    ts_task_cancel(t, NULL);
    ts_task_unref(t);
    return NULL;
}

static void *doit(void *arg) {
    (void)arg;
    ts_task *sleeper = ts_spawn(sleeps_long, NULL);
    ts_task_detach(ts_spawn(cancel_soon, ts_task_ref(sleeper)));
    int rc = ts_await(sleeper, NULL);
    return rc == -ECANCELED ? (void *)"cancelled" : (void *)"slept in";
}

static void *Task_test_task_cancel_sleeping_task(void *arg) {
    (void)arg;
    void *r;
    assert_int_equal(ts_await(ts_spawn(doit, NULL), &r), 0);
    assert_string_equal((const char *)r, "cancelled");
    return NULL;
}
static void test_Task_test_task_cancel_sleeping_task(void **s) { (void)s; run_port(Task_test_task_cancel_sleeping_task); }

/* ======================= sleep ======================= */

static void *sleeper(void *arg) {
    int rc = ts_sleep(0.005);
    if (!rc)
        rc = ts_sleep(0.005);
    return rc ? ts_fail(rc, NULL) : arg;
}

static void *Task_test_sleep(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleeper, "yeah");
    void *r;
    assert_int_equal(ts_await(ts_task_ref(t), &r), 0);
    assert_true(ts_task_done(t));
    assert_string_equal((const char *)r, "yeah");
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_sleep(void **s) { (void)s; run_port(Task_test_sleep); }

static void *Task_test_sleep_when_delay_is_nan(void *arg) {
    (void)arg;
    assert_int_equal(ts_sleep(NAN), -EINVAL);   /* ValueError */
    return NULL;
}
static void test_Task_test_sleep_when_delay_is_nan(void **s) { (void)s; run_port(Task_test_sleep_when_delay_is_nan); }

/* CPython checks that the sleep's timer handle is cancelled; the public
 * view of that here is that the task no longer waits on a sleep. */
static void *Task_test_sleep_cancel(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleeps_long, NULL);
    yield();
    assert_int_equal(ts_task_awaiting(t, NULL, NULL), TS_WAIT_SLEEP);
    ts_task_cancel(t, NULL);
    yield();
    assert_true(ts_task_done(t));
    assert_int_equal(ts_task_awaiting(t, NULL, NULL), TS_WAIT_NONE);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    return NULL;
}
static void test_Task_test_sleep_cancel(void **s) { (void)s; run_port(Task_test_sleep_cancel); }

/* ======================= current_task ======================= */

static void *checks_current(void *arg) {
    assert_ptr_equal(ts_current_task(), *(ts_task **)arg);
    return NULL;
}

static void *Task_test_current_task(void *arg) {
    (void)arg;
    ts_task *self = ts_current_task();
    assert_non_null(self);
    ts_task *t = NULL;
    t = ts_spawn(checks_current, &t);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_ptr_equal(ts_current_task(), self);
    return NULL;
}
static void test_Task_test_current_task(void **s) {
    (void)s;
    assert_null(ts_current_task());   /* no task runs outside the loop */
    run_port(Task_test_current_task);
    assert_null(ts_current_task());
}

typedef struct interleave {
    ts_future *fut1, *fut2;
    ts_task *task1, *task2;
} interleave;

static void *coro1(void *arg) {
    interleave *x = arg;
    assert_ptr_equal(ts_current_task(), x->task1);
    assert_int_equal(ts_future_await(x->fut1, NULL), 0);
    assert_ptr_equal(ts_current_task(), x->task1);
    assert_int_equal(ts_future_set_result(x->fut2, IPTR(1)), 0);
    return NULL;
}

static void *coro2(void *arg) {
    interleave *x = arg;
    assert_ptr_equal(ts_current_task(), x->task2);
    assert_int_equal(ts_future_set_result(x->fut1, IPTR(1)), 0);
    assert_int_equal(ts_future_await(x->fut2, NULL), 0);
    assert_ptr_equal(ts_current_task(), x->task2);
    return NULL;
}

static void *Task_test_current_task_with_interleaving_tasks(void *arg) {
    (void)arg;
    interleave x = {ts_future_new(), ts_future_new(), NULL, NULL};
    x.task1 = ts_spawn(coro1, &x);
    x.task2 = ts_spawn(coro2, &x);
    ts_task *both[2] = {x.task1, x.task2};
    assert_int_equal(ts_gather(both, 2, NULL, NULL), 0);
    ts_future_free(x.fut1);
    ts_future_free(x.fut2);
    return NULL;
}
static void test_Task_test_current_task_with_interleaving_tasks(void **s) {
    (void)s;
    run_port(Task_test_current_task_with_interleaving_tasks);
    assert_null(ts_current_task());
}

/* ============ cancellation through calls, wait, shield, wait_for ============ */

typedef struct proof {
    int proof;
    ts_future *waiter;
} proof;

/* A plain C call stands for `await inner()` on a coroutine. */
static int yf_inner(proof *p) {
    int rc = ts_future_await(p->waiter, NULL);
    if (rc == -ECANCELED)
        p->proof += 1;
    else
        fail_msg("got past the wait in inner()");
    return rc;
}

static void *yf_outer(void *arg) {
    proof *p = arg;
    if (yf_inner(p) == -ECANCELED)
        p->proof += 100;   /* expect this path */
    else
        p->proof += 10;
    return NULL;
}

static void *Task_test_yield_future_passes_cancel(void *arg) {
    (void)arg;
    proof p = {0, ts_future_new()};
    ts_task *f = ts_spawn(yf_outer, &p);
    yield();
    assert_int_equal(ts_task_cancel(f, NULL), 1);
    assert_int_equal(ts_await(f, NULL), 0);   /* outer swallowed it */
    assert_int_equal(p.proof, 101);
    assert_true(ts_future_cancelled(p.waiter));
    ts_future_free(p.waiter);
    return NULL;
}
static void test_Task_test_yield_future_passes_cancel(void **s) { (void)s; run_port(Task_test_yield_future_passes_cancel); }

static void *waits_then_proves(void *arg) {
    proof *p = arg;
    int rc = ts_future_await(p->waiter, NULL);
    if (rc)
        return ts_fail(rc, NULL);
    p->proof += 1;
    return NULL;
}

typedef struct wait_outer_arg {
    proof *p;
    ts_task *inner;
} wait_outer_arg;

static void *wait_outer(void *arg) {
    wait_outer_arg *w = arg;
    int rc = ts_wait(&w->inner, 1, TS_FOREVER, TS_ALL_COMPLETED, NULL);
    if (rc)
        return ts_fail(rc, NULL);
    w->p->proof += 100;
    return NULL;
}

static void *Task_test_yield_wait_does_not_shield_cancel(void *arg) {
    (void)arg;
    proof p = {0, ts_future_new()};
    wait_outer_arg w = {&p, ts_spawn(waits_then_proves, &p)};
    ts_task *f = ts_spawn(wait_outer, &w);
    yield();
    ts_task_cancel(f, NULL);
    assert_int_equal(ts_await(f, NULL), -ECANCELED);
    assert_false(ts_task_done(w.inner));   /* wait() cancels nothing */
    assert_int_equal(ts_future_set_result(p.waiter, NULL), 0);
    assert_int_equal(ts_await(w.inner, NULL), 0);
    assert_int_equal(p.proof, 1);
    ts_future_free(p.waiter);
    return NULL;
}
static void test_Task_test_yield_wait_does_not_shield_cancel(void **s) { (void)s; run_port(Task_test_yield_wait_does_not_shield_cancel); }

static void *shield_caller(void *arg) {
    void *r = NULL;
    int rc = ts_shield((ts_task *)arg, &r);
    return rc ? ts_fail(rc, NULL) : r;
}

static void *Task_test_shield_shortcut(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(inner1, NULL);
    while (!ts_task_done(t))
        yield();
    void *r;
    assert_int_equal(ts_shield(t, &r), 0);
    assert_int_equal(PTRI(r), 42);
    return NULL;
}
static void test_Task_test_shield_shortcut(void **s) { (void)s; run_port(Task_test_shield_shortcut); }

/* asyncio 3.13: a shielded result that arrives after the outer was
 * cancelled is not reported (only an error would be). */
static void *Task_test_shield_cancel_outer_result(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *outer = ts_spawn(shield_caller, ts_spawn(await_fut_value, f));
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_int_equal(ts_future_set_result(f, IPTR(1)), 0);
    yield_n(3);
    for (int k = 0; k < 16; k++)
        assert_int_equal(diag_seen[k], 0);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_shield_cancel_outer_result(void **s) { (void)s; run_port(Task_test_shield_cancel_outer_result); }

/* asyncio 3.13: two shields of one inner, both cancelled, then the inner
 * fails: the error is reported once, not once per shield. */
static void *Task_test_shield_duplicate_log_once(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *inner = ts_spawn(await_fut_value, f);
    ts_task *outer = ts_spawn(shield_caller, ts_task_ref(inner));
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    outer = ts_spawn(shield_caller, inner);
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_int_equal(ts_future_set_error(f, -EBADE), 0);
    for (int i = 0; i < 100 && diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED] == 0; i++)
        yield();
    yield_n(3);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_shield_duplicate_log_once(void **s) {
    (void)s;
    run_port(Task_test_shield_duplicate_log_once);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
}

/* test_cancel_wait_for / test_cancel_blocking_wait_for: cancelling the
 * task in wait_for cancels the task it waits for (bpo-23219). */
typedef struct wf_arg {
    ts_task *task;
    double timeout;
} wf_arg;

static void *wait_for_task(void *arg) {
    wf_arg *w = arg;
    int rc = ts_wait_for(w->task, w->timeout, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void check_cancel_wait_for(double timeout) {
    ts_future *f = ts_future_new();            /* never set */
    ts_task *task = ts_spawn(await_fut_value, f);
    wf_arg w = {ts_task_ref(task), timeout};
    ts_task *wait = ts_spawn(wait_for_task, &w);
    yield();                                   /* call_soon(wait.cancel) */
    ts_task_cancel(wait, NULL);
    assert_int_equal(ts_await(wait, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(task));
    ts_task_unref(task);
    ts_future_free(f);
}

static void *Task_test_cancel_blocking_wait_for(void *arg) {
    (void)arg;
    check_cancel_wait_for(TS_FOREVER);
    return NULL;
}
static void test_Task_test_cancel_blocking_wait_for(void **s) { (void)s; run_port(Task_test_cancel_blocking_wait_for); }

static void *Task_test_cancel_wait_for(void *arg) {
    (void)arg;
    check_cancel_wait_for(60.0);
    return NULL;
}
static void test_Task_test_cancel_wait_for(void **s) { (void)s; run_port(Task_test_cancel_wait_for); }

/* ======================= uncancel ======================= */

/* make_request_with_timeout: a hand-made timeout around a sleep.  The
 * "timer" is a task that yields timeout_yields times, then marks the
 * request timed out and cancels it (CPython: loop.call_later). */
typedef struct request {
    double sleep;
    int timeout_yields;
    int timed_out, finished, outer_reached;
    ts_task *self;
} request;

static void *on_timeout(void *arg) {
    request *r = arg;
    for (int i = 0; i < r->timeout_yields; i++) {
        int rc = ts_sleep(0);
        if (rc)
            return ts_fail(rc, NULL);
    }
    r->timed_out = 1;
    ts_task_cancel(r->self, NULL);
    return NULL;
}

static void *make_request_with_timeout(void *arg) {
    request *r = arg;
    r->self = ts_current_task();
    ts_task *timer = ts_spawn(on_timeout, r);
    /* The structured block affected by the timeout. */
    int rc = ts_sleep(r->sleep);
    if (rc == 0)
        r->finished = 1;
    /* finally: cancel the timer; turn our own cancellation into a
     * timeout only if it was ours and the last one outstanding. */
    ts_task_cancel(timer, NULL);
    (void)ts_await(timer, NULL);
    if (r->timed_out && ts_task_uncancel(r->self) == 0 && rc == -ECANCELED) {
        /* except TimeoutError: */
        assert_true(r->timed_out);
    } else if (rc) {
        return ts_fail(rc, NULL);
    }
    /* Outside the timeout block: the cancelled state was undone. */
    assert_int_equal(ts_task_cancelling(r->self), 0);
    r->outer_reached = 1;
    return NULL;
}

static void *Task_test_uncancel_structured_blocks(void *arg) {
    (void)arg;
    /* One that times out. */
    request r1 = {10.0, 2, 0, 0, 0, NULL};
    ts_task *t1 = ts_spawn(make_request_with_timeout, &r1);
    assert_int_equal(ts_await(ts_task_ref(t1), NULL), 0);
    assert_false(ts_task_cancelled(t1));
    ts_task_unref(t1);
    assert_true(r1.timed_out);
    assert_false(r1.finished);
    assert_true(r1.outer_reached);
    /* One that does not. */
    request r2 = {0, 1000, 0, 0, 0, NULL};
    assert_int_equal(ts_await(ts_spawn(make_request_with_timeout, &r2), NULL), 0);
    assert_false(r2.timed_out);
    assert_true(r2.finished);
    assert_true(r2.outer_reached);
    return NULL;
}
static void test_Task_test_uncancel_structured_blocks(void **s) { (void)s; run_port(Task_test_uncancel_structured_blocks); }

static void *awaits_then_42(void *arg) {
    int rc = ts_future_await((ts_future *)arg, NULL);
    return rc ? ts_fail(rc, NULL) : IPTR(42);
}

/* A request made while the task is ready (its future just completed) and
 * taken back before it runs must not reach the task. */
static void *Task_test_uncancel_resets_must_cancel(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_task *t = ts_spawn(awaits_then_42, f);
    yield();                                    /* t waits for f */
    assert_int_equal(ts_future_set_result(f, NULL), 0);   /* t is ready */
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_task_cancelling(t), 1);
    assert_int_equal(ts_task_uncancel(t), 0);
    assert_int_equal(ts_task_cancelling(t), 0);
    void *r;
    assert_int_equal(ts_await(t, &r), 0);
    assert_int_equal(PTRI(r), 42);
    ts_future_free(f);
    return NULL;
}
static void test_Task_test_uncancel_resets_must_cancel(void **s) { (void)s; run_port(Task_test_uncancel_resets_must_cancel); }

/* ======================= gather (CoroutineGatherTests) ======================= */

static void *gather_then_prove(void *arg) {
    ts_task **children = arg;
    proof *p = (proof *)children[2];
    int rc = ts_gather(children, 2, NULL, NULL);
    if (rc)
        return ts_fail(rc, NULL);
    p->proof += 100;
    return NULL;
}

static void *Gather_test_cancellation_broadcast(void *arg) {
    (void)arg;
    /* Cancelling outer() cancels all children. */
    proof p = {0, ts_future_new()};
    ts_task *child1 = ts_spawn(waits_then_proves, &p);
    ts_task *child2 = ts_spawn(waits_then_proves, &p);
    ts_task *args[3] = {ts_task_ref(child1), ts_task_ref(child2), (ts_task *)&p};
    ts_task *f = ts_spawn(gather_then_prove, args);
    yield();
    assert_int_equal(ts_task_cancel(f, NULL), 1);
    assert_int_equal(ts_await(f, NULL), -ECANCELED);
    assert_true(ts_future_cancelled(p.waiter));
    assert_true(ts_task_cancelled(child1));
    assert_true(ts_task_cancelled(child2));
    yield();
    assert_int_equal(p.proof, 0);
    ts_task_unref(child1);
    ts_task_unref(child2);
    ts_future_free(p.waiter);
    return NULL;
}
static void test_Gather_test_cancellation_broadcast(void **s) { (void)s; run_port(Gather_test_cancellation_broadcast); }

static void *fails_after(void *arg) {
    int rc = ts_future_await((ts_future *)arg, NULL);
    if (rc)
        return ts_fail(rc, NULL);
    return ts_fail(-EBADE, "should not be ignored");
}

static void *gather_fails_after(void *arg) {
    ts_future **ab = arg;
    ts_task *t[2] = {ts_spawn(fails_after, ab[0]), ts_spawn(fails_after, ab[1])};
    int rc = ts_gather(t, 2, NULL, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

/* gather marks the children's errors retrieved: the second failure, after
 * gather already returned the first, is not reported as never retrieved. */
static void *Gather_test_exception_marking(void *arg) {
    (void)arg;
    ts_future *ab[2] = {ts_future_new(), ts_future_new()};
    ts_task *f = ts_spawn(gather_fails_after, ab);
    yield();
    assert_int_equal(ts_future_set_result(ab[0], NULL), 0);
    yield();
    assert_int_equal(ts_future_set_result(ab[1], NULL), 0);
    yield_n(3);
    assert_int_equal(ts_await(f, NULL), -EBADE);
    ts_future_free(ab[0]);
    ts_future_free(ab[1]);
    return NULL;
}
static void test_Gather_test_exception_marking(void **s) {
    (void)s;
    run_port(Gather_test_exception_marking);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
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
        T(test_Task_test_task_basics),
        T(test_Task_test_task_awaits_on_itself),
        T(test_Task_test_task_cancel_message_getter),
        T(test_Task_test_cancel_with_message_then_future_result),
        T(test_Task_test_cancel_with_message_then_future_exception),
        T(test_Task_test_cancel_with_message_before_starting_task),
        T(test_Task_test_cancel_inner_future),
        T(test_Task_test_cancel_both_task_and_inner_future),
        T(test_Task_test_task_cancel_waiter_future),
        T(test_Task_test_task_cancel_sleeping_task),
        T(test_Task_test_sleep),
        T(test_Task_test_sleep_when_delay_is_nan),
        T(test_Task_test_sleep_cancel),
        T(test_Task_test_current_task),
        T(test_Task_test_current_task_with_interleaving_tasks),
        T(test_Task_test_yield_future_passes_cancel),
        T(test_Task_test_yield_wait_does_not_shield_cancel),
        T(test_Task_test_shield_shortcut),
        T(test_Task_test_shield_cancel_outer_result),
        T(test_Task_test_shield_duplicate_log_once),
        T(test_Task_test_cancel_blocking_wait_for),
        T(test_Task_test_cancel_wait_for),
        T(test_Task_test_uncancel_structured_blocks),
        T(test_Task_test_uncancel_resets_must_cancel),
        T(test_Gather_test_cancellation_broadcast),
        T(test_Gather_test_exception_marking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
