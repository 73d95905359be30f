/*
 * test_cpython_tasks.c - the parts of CPython's
 * Lib/test/test_asyncio/test_tasks.py about wait, as_completed, shield,
 * gather and cancellation, ported to the C API.
 *
 * CPython drives these with a virtual-time test loop; the ports use short
 * real sleeps and assert on order and outcome only (tests assert
 * behaviour, never timings).  Left out: repr, coroutine objects passed
 * where tasks are expected (C has only tasks), loop= arguments, the
 * deprecation warnings.  Each test is named after the CPython test it
 * ports; the file runs against both runtimes (tests/meson.build).
 */
#include <math.h>

#include "harness.h"

/* sleep(delay) then return value, or fail with err. */
typedef struct job {
    double delay;
    intptr_t value;
    int err;
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = j->delay > 0 ? ts_sleep(j->delay) : ts_sleep(0);
    if (rc)
        return ts_fail(rc, NULL);
    if (j->err)
        return ts_fail(j->err, "job failed");
    return IPTR(j->value);
}

/* A job that lives for the test (compound literals cannot go through the
 * ts_spawn macro: their commas split its arguments). */
static job job_pool[64];
static int njobs;
static job *mkjob(double delay, intptr_t value, int err) {
    job *j = &job_pool[njobs++ % 64];
    *j = (job){delay, value, err};
    return j;
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

/* ======================= wait ======================= */

static void *Task_test_wait(void *arg) {
    (void)arg;
    job ja = {0.01, 1, 0}, jb = {0.015, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &jb), ts_spawn(job_fn, &ja)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 2);
    assert_true(ts_task_done(t[0]) && ts_task_done(t[1]));
    /* Doing it again takes the already-done path. */
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 2);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_wait(void **s) { (void)s; run_port(Task_test_wait); }

/* asyncio.wait dedupes its set; taskscope refuses a task listed twice,
 * as ts_gather does (issue 14.2; the README's differences). */
static void *Task_test_wait_duplicate_coroutines(void *arg) {
    (void)arg;
    job jt = {0, 't', 0}, js = {0, 's', 0};
    ts_task *c = ts_spawn(job_fn, &jt);
    ts_task *t[3] = {c, c, ts_spawn(job_fn, &js)};
    size_t nd = 99;
    assert_int_equal(ts_wait(t, 3, TS_FOREVER, TS_ALL_COMPLETED, &nd), -EINVAL);
    assert_int_equal(nd, 99);
    ts_task *u[2] = {c, t[2]};
    assert_int_equal(ts_wait(u, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 2);
    ts_await(c, NULL);
    ts_await(t[2], NULL);
    return NULL;
}
static void test_Task_test_wait_duplicate_coroutines(void **s) { (void)s; run_port(Task_test_wait_duplicate_coroutines); }

static void *Task_test_wait_errors(void *arg) {
    (void)arg;
    ts_task *t[1] = {ts_spawn(job_fn, mkjob(10.0, 0, 0))};
    assert_int_equal(ts_wait(t, 0, TS_FOREVER, TS_ALL_COMPLETED, NULL), -EINVAL);   /* set() */
    assert_int_equal(ts_wait(t, 1, TS_FOREVER, (ts_return_when)-1, NULL), -EINVAL);
    ts_task_cancel(t[0], NULL);
    ts_await(t[0], NULL);
    return NULL;
}
static void test_Task_test_wait_errors(void **s) { (void)s; run_port(Task_test_wait_errors); }

static void *Task_test_wait_first_completed(void *arg) {
    (void)arg;
    job ja = {10.0, 1, 0}, jb = {0.01, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_FIRST_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    assert_false(ts_task_done(t[0]));
    assert_true(ts_task_done(t[1]));
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_wait_first_completed(void **s) { (void)s; run_port(Task_test_wait_first_completed); }

static void *Task_test_wait_really_done(void *arg) {
    (void)arg;
    /* There is a possibility that wait() returns all done although only
     * FIRST_COMPLETED was asked: both finish in the same iteration. */
    job ja = {0, 1, 0}, jb = {0, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_FIRST_COMPLETED, &nd), 0);
    assert_true(nd >= 1);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_wait_really_done(void **s) { (void)s; run_port(Task_test_wait_really_done); }

static void *Task_test_wait_first_exception(void *arg) {
    (void)arg;
    job ja = {10.0, 1, 0}, jb = {0, 0, -EBADE};   /* b raises at once */
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_FIRST_EXCEPTION, &nd), 0);
    assert_int_equal(nd, 1);
    assert_false(ts_task_done(t[0]));
    assert_int_equal(ts_await(t[1], NULL), -EBADE);
    ts_task_cancel(t[0], NULL);
    ts_await(t[0], NULL);
    return NULL;
}
static void test_Task_test_wait_first_exception(void **s) { (void)s; run_port(Task_test_wait_first_exception); }

static void *Task_test_wait_first_exception_in_wait(void *arg) {
    (void)arg;
    job ja = {10.0, 1, 0}, jb = {0.01, 0, -EBADE};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_FIRST_EXCEPTION, &nd), 0);
    assert_int_equal(nd, 1);
    assert_true(ts_task_done(t[1]));
    assert_int_equal(ts_await(t[1], NULL), -EBADE);
    ts_task_cancel(t[0], NULL);
    ts_await(t[0], NULL);
    return NULL;
}
static void test_Task_test_wait_first_exception_in_wait(void **s) { (void)s; run_port(Task_test_wait_first_exception_in_wait); }

static void *Task_test_wait_with_exception(void *arg) {
    (void)arg;
    job ja = {0.01, 1, 0}, jb = {0.015, 0, -EBADE};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 2);
    assert_int_equal(ts_await(t[0], NULL), 0);
    assert_int_equal(ts_await(t[1], NULL), -EBADE);
    return NULL;
}
static void test_Task_test_wait_with_exception(void **s) { (void)s; run_port(Task_test_wait_with_exception); }

static void *Task_test_wait_with_timeout(void *arg) {
    (void)arg;
    job ja = {0.01, 1, 0}, jb = {10.0, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, 0.05, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    assert_true(ts_task_done(t[0]));
    assert_false(ts_task_done(t[1]));   /* wait does not cancel */
    ts_task_cancel(t[1], NULL);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_wait_with_timeout(void **s) { (void)s; run_port(Task_test_wait_with_timeout); }

/* Issue 14.8: a negative timeout has expired (asyncio: call_later(-1)). */
static void *Task_test_wait_negative_timeout(void *arg) {
    (void)arg;
    job jb = {10.0, 2, 0};
    ts_task *t[1] = {ts_spawn(job_fn, &jb)};
    size_t nd = 9;
    assert_int_equal(ts_wait(t, 1, -1.0, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 0);
    ts_task_cancel(t[0], NULL);
    ts_await(t[0], NULL);
    return NULL;
}
static void test_Task_test_wait_negative_timeout(void **s) { (void)s; run_port(Task_test_wait_negative_timeout); }

static void *Task_test_wait_concurrent_complete(void *arg) {
    (void)arg;
    job ja = {0.01, 1, 0}, jb = {10.0, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, 0.01, TS_ALL_COMPLETED, &nd), 0);
    assert_true(nd <= 1);
    ts_task_cancel(t[1], NULL);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_wait_concurrent_complete(void **s) { (void)s; run_port(Task_test_wait_concurrent_complete); }

/* ======================= as_completed ======================= */

static void *Task_test_as_completed(void *arg) {
    (void)arg;
    job ja = {0.01, 'a', 0}, jb = {0.03, 'b', 0}, jc = {0.02, 'c', 0};
    ts_task *t[3] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb), ts_spawn(job_fn, &jc)};
    ts_as_completed *ac = ts_as_completed_new(t, 3, TS_FOREVER);
    static const intptr_t want[] = {'a', 'c', 'b'};
    ts_task *got;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_as_completed_next(ac, &got), 0);
        void *r;
        assert_int_equal(ts_task_result(got, &r), 0);
        assert_ptr_equal(r, IPTR(want[i]));
    }
    assert_int_equal(ts_as_completed_next(ac, &got), TS_EOF);
    ts_as_completed_free(ac);
    for (int i = 0; i < 3; i++)
        ts_await(t[i], NULL);
    return NULL;
}
static void test_Task_test_as_completed(void **s) { (void)s; run_port(Task_test_as_completed); }

static void *Task_test_as_completed_with_timeout(void *arg) {
    (void)arg;
    job ja = {10.0, 1, 0}, jb = {0.01, 2, 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    ts_as_completed *ac = ts_as_completed_new(t, 2, 0.05);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[1]);
    assert_int_equal(ts_as_completed_next(ac, &got), -ETIMEDOUT);
    assert_int_equal(ts_as_completed_next(ac, &got), -ETIMEDOUT);   /* for good */
    ts_as_completed_free(ac);
    ts_task_cancel(t[0], NULL);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_as_completed_with_timeout(void **s) { (void)s; run_port(Task_test_as_completed_with_timeout); }

static void *Task_test_as_completed_with_unused_timeout(void *arg) {
    (void)arg;
    job ja = {0.01, 'a', 0};
    ts_task *t[1] = {ts_spawn(job_fn, &ja)};
    ts_as_completed *ac = ts_as_completed_new(t, 1, 0.5);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_int_equal(ts_as_completed_next(ac, &got), TS_EOF);
    ts_as_completed_free(ac);
    ts_await(t[0], NULL);
    return NULL;
}
static void test_Task_test_as_completed_with_unused_timeout(void **s) { (void)s; run_port(Task_test_as_completed_with_unused_timeout); }

static void *Task_test_as_completed_reverse_wait(void *arg) {
    (void)arg;
    job ja = {0.05, 'a', 0}, jb = {0.01, 'b', 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    ts_as_completed *ac = ts_as_completed_new(t, 2, TS_FOREVER);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[1]);
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[0]);
    ts_as_completed_free(ac);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_as_completed_reverse_wait(void **s) { (void)s; run_port(Task_test_as_completed_reverse_wait); }

static void *Task_test_as_completed_concurrent(void *arg) {
    (void)arg;
    job ja = {0.01, 'a', 0}, jb = {0.01, 'b', 0};
    ts_task *t[2] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb)};
    ts_as_completed *ac = ts_as_completed_new(t, 2, TS_FOREVER);
    ts_task *got[2];
    assert_int_equal(ts_as_completed_next(ac, &got[0]), 0);
    assert_int_equal(ts_as_completed_next(ac, &got[1]), 0);
    assert_true(got[0] != got[1]);
    ts_as_completed_free(ac);
    ts_await(t[0], NULL);
    ts_await(t[1], NULL);
    return NULL;
}
static void test_Task_test_as_completed_concurrent(void **s) { (void)s; run_port(Task_test_as_completed_concurrent); }

/* asyncio dedupes; taskscope refuses, as ts_gather (issue 14.2). */
static void *Task_test_as_completed_duplicate_coroutines(void *arg) {
    (void)arg;
    job jt = {0, 't', 0}, js = {0, 's', 0};
    ts_task *c = ts_spawn(job_fn, &jt);
    ts_task *t[3] = {c, c, ts_spawn(job_fn, &js)};
    errno = 0;
    assert_null(ts_as_completed_new(t, 3, TS_FOREVER));
    assert_int_equal(errno, EINVAL);
    ts_await(c, NULL);
    ts_await(t[2], NULL);
    return NULL;
}
static void test_Task_test_as_completed_duplicate_coroutines(void **s) { (void)s; run_port(Task_test_as_completed_duplicate_coroutines); }

/* ======================= shield ======================= */

static void *Task_test_shield_result(void *arg) {
    (void)arg;
    ts_future *inner = ts_future_new();
    ts_future_set_result(inner, IPTR(42));
    /* A done task passes straight through (test_shield_shortcut too). */
    ts_task *t = ts_spawn(job_fn, mkjob(0, 42, 0));
    yield();
    yield();
    void *r;
    assert_int_equal(ts_shield(t, &r), 0);
    assert_ptr_equal(r, IPTR(42));
    ts_future_free(inner);
    return NULL;
}
static void test_Task_test_shield_result(void **s) { (void)s; run_port(Task_test_shield_result); }

static void *Task_test_shield_exception(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(job_fn, mkjob(0.01, 0, -EBADE));
    assert_int_equal(ts_shield(t, NULL), -EBADE);
    return NULL;
}
static void test_Task_test_shield_exception(void **s) { (void)s; run_port(Task_test_shield_exception); }

static void *shield_caller(void *arg) {
    int rc = ts_shield((ts_task *)arg, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *Task_test_shield_cancel_inner(void *arg) {
    (void)arg;
    ts_task *inner = ts_spawn(job_fn, mkjob(10.0, 0, 0));
    ts_task *outer = ts_spawn(shield_caller, ts_task_ref(inner));
    yield();
    ts_task_cancel(inner, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(inner));
    ts_task_unref(inner);
    return NULL;
}
static void test_Task_test_shield_cancel_inner(void **s) { (void)s; run_port(Task_test_shield_cancel_inner); }

static void *Task_test_shield_cancel_outer(void *arg) {
    (void)arg;
    ts_task *inner = ts_spawn(job_fn, mkjob(0.02, 7, 0));
    ts_task *outer = ts_spawn(shield_caller, ts_task_ref(inner));
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_false(ts_task_done(inner));      /* the inner runs on */
    assert_int_equal(ts_task_cancelling(inner), 0);
    void *r;
    assert_int_equal(ts_await(inner, &r), 0);
    assert_ptr_equal(r, IPTR(7));
    return NULL;
}
static void test_Task_test_shield_cancel_outer(void **s) { (void)s; run_port(Task_test_shield_cancel_outer); }

/* asyncio 3.13+: the inner's exception after the outer was cancelled
 * reaches the loop's exception handler; here the diagnostic handler,
 * once (issue 14.7). */
static void *Task_test_shield_cancel_outer_inner_fails(void *arg) {
    (void)arg;
    ts_task *inner = ts_spawn(job_fn, mkjob(0.01, 0, -EBADE));
    ts_task *outer = ts_spawn(shield_caller, inner);
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    for (int i = 0; i < 100 && diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED] == 0; i++)
        assert_int_equal(ts_sleep(0.005), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
    return NULL;
}
static void test_Task_test_shield_cancel_outer_inner_fails(void **s) {
    (void)s;
    run_port(Task_test_shield_cancel_outer_inner_fails);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
}

static void *gather_two(void *arg) {
    ts_task **t = arg;
    void *res[2];
    int rc = ts_gather(t, 2, res, NULL);
    return rc ? ts_fail(rc, NULL) : IPTR(PTRI(res[0]) + PTRI(res[1]));
}

static void *Task_test_shield_gather(void *arg) {
    (void)arg;
    ts_future *f1 = ts_future_new(), *f2 = ts_future_new();
    ts_task *g2[2];
    g2[0] = ts_spawn(await_fut_value, f1);
    g2[1] = ts_spawn(await_fut_value, f2);
    ts_task *parent = ts_spawn(gather_two, g2);
    ts_task *outer = ts_spawn(shield_caller, ts_task_ref(parent));
    yield();
    ts_task_cancel(outer, NULL);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    ts_future_set_result(f1, IPTR(1));
    ts_future_set_result(f2, IPTR(2));
    void *r;
    assert_int_equal(ts_await(parent, &r), 0);
    assert_ptr_equal(r, IPTR(3));
    ts_future_free(f1);
    ts_future_free(f2);
    return NULL;
}
static void test_Task_test_shield_gather(void **s) { (void)s; run_port(Task_test_shield_gather); }

typedef struct proof_arg {
    ts_future *waiter;
    int *proof;
    ts_task *inner;
} proof_arg;

static void *proof_inner(void *arg) {
    proof_arg *p = arg;
    int rc = ts_future_await(p->waiter, NULL);
    if (rc)
        return ts_fail(rc, NULL);
    *p->proof += 1;
    return NULL;
}

static void *proof_outer(void *arg) {
    proof_arg *p = arg;
    int rc = ts_shield(ts_spawn(proof_inner, p), NULL);
    if (rc)
        return ts_fail(rc, NULL);
    *p->proof += 100;
    return NULL;
}

/* Cancelling outer() does not affect inner(). */
static void *Task_test_shield_effect(void *arg) {
    (void)arg;
    int proof = 0;
    proof_arg p = {ts_future_new(), &proof, NULL};
    ts_task *f = ts_spawn(proof_outer, &p);
    yield();
    ts_task_cancel(f, NULL);
    assert_int_equal(ts_await(f, NULL), -ECANCELED);
    ts_future_set_result(p.waiter, NULL);
    yield();
    assert_int_equal(proof, 1);
    ts_future_free(p.waiter);
    return NULL;
}
static void test_Task_test_shield_effect(void **s) { (void)s; run_port(Task_test_shield_effect); }

static void *shield_arg(void *arg) {
    int rc = ts_shield((ts_task *)arg, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

/* gather(shield(a), shield(b)) cancelled: a and b are not. */
static void *Task_test_gather_shield(void *arg) {
    (void)arg;
    ts_future *fa = ts_future_new(), *fb = ts_future_new();
    ts_task *a = ts_spawn(await_fut_value, fa);
    ts_task *b = ts_spawn(await_fut_value, fb);
    ts_task *sh[2] = {ts_spawn(shield_arg, ts_task_ref(a)), ts_spawn(shield_arg, ts_task_ref(b))};
    ts_task *g = ts_spawn(gather_two, sh);
    yield();
    ts_task_cancel(g, NULL);
    assert_int_equal(ts_await(g, NULL), -ECANCELED);
    assert_false(ts_task_done(a) || ts_task_cancelling(a));
    assert_false(ts_task_done(b) || ts_task_cancelling(b));
    ts_future_set_result(fa, IPTR(1));
    ts_future_set_result(fb, IPTR(2));
    void *r;
    assert_int_equal(ts_await(a, &r), 0);
    assert_ptr_equal(r, IPTR(1));
    assert_int_equal(ts_await(b, &r), 0);
    assert_ptr_equal(r, IPTR(2));
    ts_future_free(fa);
    ts_future_free(fb);
    return NULL;
}
static void test_Task_test_gather_shield(void **s) { (void)s; run_port(Task_test_gather_shield); }

/* ======================= gather ======================= */

static void *Gather_test_constructor_empty_sequence(void *arg) {
    (void)arg;
    assert_int_equal(ts_gather(NULL, 0, NULL, NULL), 0);
    return NULL;
}
static void test_Gather_test_constructor_empty_sequence(void **s) { (void)s; run_port(Gather_test_constructor_empty_sequence); }

static void *Gather_test_result_order(void *arg) {
    (void)arg;
    job ja = {0.02, 1, 0}, jb = {0.01, 2, 0}, jc = {0, 3, 0};
    ts_task *t[3] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb), ts_spawn(job_fn, &jc)};
    void *res[3];
    assert_int_equal(ts_gather(t, 3, res, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(res[i], IPTR(i + 1));
    return NULL;
}
static void test_Gather_test_result_order(void **s) { (void)s; run_port(Gather_test_result_order); }

static void *Gather_test_one_exception(void *arg) {
    (void)arg;
    job ja = {10.0, 1, 0}, jb = {0.01, 0, -EBADE}, jc = {10.0, 3, 0};
    ts_task *t[3] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb), ts_spawn(job_fn, &jc)};
    ts_task *keep[2] = {ts_task_ref(t[0]), ts_task_ref(t[2])};
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -EBADE);
    /* The others keep running (asyncio's default). */
    assert_false(ts_task_done(keep[0]));
    assert_false(ts_task_done(keep[1]));
    ts_task_cancel(keep[0], NULL);
    ts_task_cancel(keep[1], NULL);
    assert_int_equal(ts_await(keep[0], NULL), -ECANCELED);
    assert_int_equal(ts_await(keep[1], NULL), -ECANCELED);
    return NULL;
}
static void test_Gather_test_one_exception(void **s) { (void)s; run_port(Gather_test_one_exception); }

static void *Gather_test_return_exceptions(void *arg) {
    (void)arg;
    job ja = {0.01, 1, 0}, jb = {0, 0, -EBADE}, jc = {0.01, 3, 0}, jd = {0, 0, -EIO};
    ts_task *t[4] = {ts_spawn(job_fn, &ja), ts_spawn(job_fn, &jb),
                     ts_spawn(job_fn, &jc), ts_spawn(job_fn, &jd)};
    void *res[4];
    int errs[4];
    assert_int_equal(ts_gather(t, 4, res, errs), 0);
    assert_int_equal(errs[0], 0);
    assert_ptr_equal(res[0], IPTR(1));
    assert_int_equal(errs[1], -EBADE);
    assert_int_equal(errs[2], 0);
    assert_ptr_equal(res[2], IPTR(3));
    assert_int_equal(errs[3], -EIO);
    return NULL;
}
static void test_Gather_test_return_exceptions(void **s) { (void)s; run_port(Gather_test_return_exceptions); }

static void *gather_blocked(void *arg) {
    ts_task **t = arg;
    int errs[2];
    int rc = ts_gather(t, 2, NULL, errs);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *Gather_test_cancel_gather_2(void *arg) {
    (void)arg;
    ts_task *t[2] = {ts_spawn(job_fn, mkjob(10.0, 1, 0)), ts_spawn(job_fn, mkjob(10.0, 2, 0))};
    ts_task *keep[2] = {ts_task_ref(t[0]), ts_task_ref(t[1])};
    ts_task *g = ts_spawn(gather_blocked, t);
    yield();
    ts_task_cancel(g, NULL);
    assert_int_equal(ts_await(g, NULL), -ECANCELED);
    /* Cancelling the gather cancels every child. */
    assert_true(ts_task_cancelled(keep[0]));
    assert_true(ts_task_cancelled(keep[1]));
    ts_task_unref(keep[0]);
    ts_task_unref(keep[1]);
    return NULL;
}
static void test_Gather_test_cancel_gather_2(void **s) { (void)s; run_port(Gather_test_cancel_gather_2); }

/* Issue 14.1: as asyncio's Task.cancel cancels the _GatheringFuture it
 * awaits, which cancels the children, all before cancel() returns. */
static void *Gather_test_cancel_reaches_children_at_once(void *arg) {
    (void)arg;
    ts_task *t[2] = {ts_spawn(job_fn, mkjob(10.0, 1, 0)), ts_spawn(job_fn, mkjob(10.0, 2, 0))};
    ts_task *keep[2] = {ts_task_ref(t[0]), ts_task_ref(t[1])};
    ts_task *g = ts_spawn(gather_blocked, t);
    yield();
    ts_task_cancel(g, "stop");
    assert_int_equal(ts_task_cancelling(keep[0]), 1);
    assert_int_equal(ts_task_cancelling(keep[1]), 1);
    assert_string_equal(ts_task_cancel_message(keep[1]), "stop");
    assert_int_equal(ts_await(g, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(keep[0]) && ts_task_cancelled(keep[1]));
    ts_task_unref(keep[0]);
    ts_task_unref(keep[1]);
    return NULL;
}
static void test_Gather_test_cancel_reaches_children_at_once(void **s) { (void)s; run_port(Gather_test_cancel_reaches_children_at_once); }

/* A child cancelled: gather fails with CancelledError at once. */
static void *Gather_test_one_cancellation(void *arg) {
    (void)arg;
    ts_task *t[3] = {ts_spawn(job_fn, mkjob(10.0, 1, 0)), ts_spawn(job_fn, mkjob(10.0, 2, 0)),
                     ts_spawn(job_fn, mkjob(10.0, 3, 0))};
    ts_task *keep[3] = {ts_task_ref(t[0]), ts_task_ref(t[1]), ts_task_ref(t[2])};
    yield();
    ts_task_cancel(t[1], NULL);
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -ECANCELED);
    assert_false(ts_task_done(keep[0]));
    assert_false(ts_task_done(keep[2]));
    ts_task_cancel(keep[0], NULL);
    ts_task_cancel(keep[2], NULL);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_await(keep[i], NULL), -ECANCELED);
    return NULL;
}
static void test_Gather_test_one_cancellation(void **s) { (void)s; run_port(Gather_test_one_cancellation); }

/* return_exceptions: a cancelled child's slot holds CancelledError. */
static void *Gather_test_result_exception_one_cancellation(void *arg) {
    (void)arg;
    ts_task *t[3] = {ts_spawn(job_fn, mkjob(0.01, 1, 0)), ts_spawn(job_fn, mkjob(10.0, 2, 0)),
                     ts_spawn(job_fn, mkjob(0.01, 0, -EBADE))};
    ts_task *mid = ts_task_ref(t[1]);
    yield();
    ts_task_cancel(mid, NULL);
    ts_task_unref(mid);
    void *res[3];
    int errs[3];
    assert_int_equal(ts_gather(t, 3, res, errs), 0);
    assert_int_equal(errs[0], 0);
    assert_ptr_equal(res[0], IPTR(1));
    assert_int_equal(errs[1], -ECANCELED);
    assert_int_equal(errs[2], -EBADE);
    return NULL;
}
static void test_Gather_test_result_exception_one_cancellation(void **s) { (void)s; run_port(Gather_test_result_exception_one_cancellation); }

static void *Gather_test_duplicate(void *arg) {
    (void)arg;
    ts_task *c = ts_spawn(job_fn, mkjob(0, 1, 0));
    ts_task *t[2] = {c, c};
    assert_int_equal(ts_gather(t, 2, NULL, NULL), -EINVAL);
    ts_await(c, NULL);
    return NULL;
}
static void test_Gather_test_duplicate(void **s) { (void)s; run_port(Gather_test_duplicate); }

/* ======================= cancel ======================= */

static void *Task_test_cancel_yield(void *arg) {
    (void)arg;
    /* A task cancelled before it first runs never runs its function. */
    int ran = 0;
    ts_task *t = ts_spawn(set_flag, &ran);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_false(ran);
    assert_true(ts_task_cancelled(t));
    assert_int_equal(ts_task_cancel(t, NULL), 0);   /* already done */
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel_yield(void **s) { (void)s; run_port(Task_test_cancel_yield); }

static void *catches_cancel(void *arg) {
    (void)arg;
    int rc = ts_sleep(10);
    return rc == -ECANCELED ? IPTR(42) : ts_fail(-EPROTO, "not cancelled");
}

static void *Task_test_cancel_task_catching(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(catches_cancel, NULL);
    yield();
    ts_task_cancel(t, NULL);
    void *r;
    assert_int_equal(ts_await(ts_task_ref(t), &r), 0);
    assert_ptr_equal(r, IPTR(42));
    assert_false(ts_task_cancelled(t));
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel_task_catching(void **s) { (void)s; run_port(Task_test_cancel_task_catching); }

static void *ignores_cancel(void *arg) {
    ts_future *fut = arg;
    int rc = ts_future_await(fut, NULL);
    if (rc != -ECANCELED)
        return ts_fail(-EPROTO, "not cancelled");
    /* Carry on: sleep once more, and finish normally. */
    rc = ts_sleep(0);
    return rc ? ts_fail(rc, NULL) : IPTR(42);
}

static void *Task_test_cancel_task_ignoring(void *arg) {
    (void)arg;
    ts_future *fut = ts_future_new();
    ts_task *t = ts_spawn(ignores_cancel, fut);
    yield();
    ts_task_cancel(t, NULL);
    assert_true(ts_future_cancelled(fut));   /* at once: issue 14.1 */
    void *r;
    assert_int_equal(ts_await(ts_task_ref(t), &r), 0);
    assert_ptr_equal(r, IPTR(42));
    assert_false(ts_task_cancelled(t));
    ts_task_unref(t);
    ts_future_free(fut);
    return NULL;
}
static void test_Task_test_cancel_task_ignoring(void **s) { (void)s; run_port(Task_test_cancel_task_ignoring); }

static void *cancels_itself(void *arg) {
    (void)arg;
    ts_task *self = ts_current_task();
    assert_int_equal(ts_task_cancel(self, NULL), 1);
    assert_int_equal(ts_task_cancelling(self), 1);
    int rc = ts_sleep(100);   /* the cancellation arrives here */
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *Task_test_cancel_current_task(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(cancels_itself, NULL);
    assert_int_equal(ts_await(ts_task_ref(t), NULL), -ECANCELED);
    assert_true(ts_task_cancelled(t));
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel_current_task(void **s) { (void)s; run_port(Task_test_cancel_current_task); }

static void *cancel_at_end(void *arg) {
    (void)arg;
    ts_task *self = ts_current_task();
    ts_task_cancel(self, NULL);
    /* No suspension after the request: the task returns normally.  A
     * deliberate difference (README): asyncio ends this task cancelled and
     * drops the 12; in C a returned value may own memory, so it is kept. */
    return IPTR(12);
}

static void *Task_test_cancel_at_end(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(cancel_at_end, NULL);
    void *r;
    assert_int_equal(ts_await(ts_task_ref(t), &r), 0);
    assert_ptr_equal(r, IPTR(12));
    assert_false(ts_task_cancelled(t));
    ts_task_unref(t);
    return NULL;
}
static void test_Task_test_cancel_at_end(void **s) { (void)s; run_port(Task_test_cancel_at_end); }

static void *awaits_task(void *arg) {
    int rc = ts_await((ts_task *)arg, NULL);
    return rc ? ts_fail(rc, NULL) : NULL;
}

static void *Task_test_cancel_awaited_task(void *arg) {
    (void)arg;
    ts_task *inner = ts_spawn(job_fn, mkjob(10.0, 0, 0));
    ts_task *outer = ts_spawn(awaits_task, ts_task_ref(inner));
    yield();
    ts_task_cancel(outer, "stop");
    /* asyncio cancels the awaited task synchronously (issue 14.1). */
    assert_int_equal(ts_task_cancelling(inner), 1);
    assert_string_equal(ts_task_cancel_message(inner), "stop");
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(inner));
    ts_task_unref(inner);
    return NULL;
}
static void test_Task_test_cancel_awaited_task(void **s) { (void)s; run_port(Task_test_cancel_awaited_task); }

static void *Task_test_cancelling(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(job_fn, mkjob(10.0, 0, 0));
    yield();
    assert_int_equal(ts_task_cancelling(t), 0);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_task_cancelling(t), 1);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_task_cancelling(t), 2);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    return NULL;
}
static void test_Task_test_cancelling(void **s) { (void)s; run_port(Task_test_cancelling); }

static void *uncancels(void *arg) {
    (void)arg;
    int rc = ts_sleep(10);
    if (rc != -ECANCELED)
        return ts_fail(-EPROTO, NULL);
    assert_int_equal(ts_task_uncancel(ts_current_task()), 0);
    /* Once taken back, the next suspension runs normally. */
    rc = ts_sleep(0);
    return rc ? ts_fail(rc, NULL) : IPTR(1);
}

static void *Task_test_uncancel_basic(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(uncancels, NULL);
    yield();
    ts_task_cancel(t, NULL);
    void *r;
    assert_int_equal(ts_await(t, &r), 0);
    assert_ptr_equal(r, IPTR(1));
    return NULL;
}
static void test_Task_test_uncancel_basic(void **s) { (void)s; run_port(Task_test_uncancel_basic); }

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
        T(test_Task_test_wait),
        T(test_Task_test_wait_duplicate_coroutines),
        T(test_Task_test_wait_errors),
        T(test_Task_test_wait_first_completed),
        T(test_Task_test_wait_really_done),
        T(test_Task_test_wait_first_exception),
        T(test_Task_test_wait_first_exception_in_wait),
        T(test_Task_test_wait_with_exception),
        T(test_Task_test_wait_with_timeout),
        T(test_Task_test_wait_negative_timeout),
        T(test_Task_test_wait_concurrent_complete),
        T(test_Task_test_as_completed),
        T(test_Task_test_as_completed_with_timeout),
        T(test_Task_test_as_completed_with_unused_timeout),
        T(test_Task_test_as_completed_reverse_wait),
        T(test_Task_test_as_completed_concurrent),
        T(test_Task_test_as_completed_duplicate_coroutines),
        T(test_Task_test_shield_result),
        T(test_Task_test_shield_exception),
        T(test_Task_test_shield_cancel_inner),
        T(test_Task_test_shield_cancel_outer),
        T(test_Task_test_shield_cancel_outer_inner_fails),
        T(test_Task_test_shield_gather),
        T(test_Task_test_shield_effect),
        T(test_Task_test_gather_shield),
        T(test_Gather_test_constructor_empty_sequence),
        T(test_Gather_test_result_order),
        T(test_Gather_test_one_exception),
        T(test_Gather_test_return_exceptions),
        T(test_Gather_test_cancel_gather_2),
        T(test_Gather_test_cancel_reaches_children_at_once),
        T(test_Gather_test_one_cancellation),
        T(test_Gather_test_result_exception_one_cancellation),
        T(test_Gather_test_duplicate),
        T(test_Task_test_cancel_yield),
        T(test_Task_test_cancel_task_catching),
        T(test_Task_test_cancel_task_ignoring),
        T(test_Task_test_cancel_current_task),
        T(test_Task_test_cancel_at_end),
        T(test_Task_test_cancel_awaited_task),
        T(test_Task_test_cancelling),
        T(test_Task_test_uncancel_basic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
