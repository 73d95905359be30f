/*
 * test_shield.c - ts_shield: the outcome passes through; cancelling the
 * caller returns -ECANCELED at once while the inner task runs on to
 * completion, and a later failure of it is reported once, as never
 * retrieved (asyncio 3.13+); the inner cancelled directly ends the shield with
 * -ECANCELED; tasks already done; bad arguments.
 *
 * Orderings come from counted yields and the loop's FIFO ready queue.
 */
#include "harness.h"

static void settle(int rounds) {
    for (int i = 0; i < rounds; i++)
        assert_int_equal(ts_sleep(0), 0);
}

typedef struct job {
    int yields;
    intptr_t value;
    int fail;
    int cancels_seen;
    int finished;
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    for (int i = 0; i < j->yields; i++) {
        if (ts_sleep(0) == -ECANCELED) {
            j->cancels_seen++;
            return ts_fail(-ECANCELED, NULL);
        }
    }
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, "job") : IPTR(j->value);
}

static void *t_passthrough(void *arg) {
    (void)arg;
    job a = {.yields = 2, .value = 8};
    void *r = NULL;
    assert_int_equal(ts_shield(ts_spawn(job_fn, &a), &r), 0);
    assert_int_equal(PTRI(r), 8);
    job b = {.yields = 1, .fail = -EIO};
    assert_int_equal(ts_shield(ts_spawn(job_fn, &b), &r), -EIO);
    job c = {.value = 9};
    ts_task *t = ts_spawn(job_fn, &c);
    settle(1);
    assert_int_equal(ts_shield(t, &r), 0);
    assert_int_equal(PTRI(r), 9);
    return NULL;
}

static void test_passthrough(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_passthrough, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* The task that calls ts_shield, and what it saw. */
typedef struct outer {
    ts_task *inner;
    int rc;
} outer;

static void *outer_fn(void *arg) {
    outer *o = arg;
    o->rc = ts_shield(o->inner, NULL);
    return o->rc ? ts_fail(o->rc, "shield") : NULL;
}

static void *t_outer_cancelled(void *arg) {
    (void)arg;
    job inner = {.yields = 20, .value = 5};
    ts_task *it = ts_spawn(job_fn, &inner);
    ts_task *ref = ts_task_ref(it);
    outer o = {.inner = it, .rc = 1};
    ts_task *ot = ts_spawn(outer_fn, &o);
    settle(2);
    ts_task_cancel(ot, "outer only");
    assert_int_equal(ts_await(ot, NULL), -ECANCELED);
    assert_int_equal(o.rc, -ECANCELED);
    /* The inner was neither cancelled nor waited for. */
    assert_false(ts_task_done(ref));
    assert_int_equal(ts_task_cancelling(ref), 0);
    void *r = NULL;
    assert_int_equal(ts_await(ref, &r), 0);
    assert_int_equal(PTRI(r), 5);
    assert_true(inner.finished);
    assert_int_equal(inner.cancels_seen, 0);
    return NULL;
}

static void test_outer_cancelled(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_outer_cancelled, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* Left running, the inner fails later: nobody can see that error any
 * more, so it is reported once through the diagnostic handler (issue
 * 14.7; asyncio 3.13+ hands it to the loop's exception handler). */
static void *t_orphan_fails(void *arg) {
    (void)arg;
    job inner = {.yields = 20, .fail = -EPIPE};
    outer o = {.inner = ts_spawn(job_fn, &inner), .rc = 1};
    ts_task *ot = ts_spawn(outer_fn, &o);
    settle(2);
    ts_task_cancel(ot, NULL);
    assert_int_equal(ts_await(ot, NULL), -ECANCELED);
    assert_false(inner.finished);
    for (int i = 0; i < 100 && !inner.finished; i++)
        settle(1);
    assert_true(inner.finished);
    settle(2);   /* let the done callback run and the task be freed */
    return NULL;
}

static void test_orphan_fails(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_orphan_fails, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
    assert_non_null(strstr(diag_last, "job_fn"));
    assert_non_null(strstr(diag_last, "EPIPE"));
}

/* Cancelling the inner itself is not shielded against. */
static void *t_inner_cancelled(void *arg) {
    (void)arg;
    job inner = {.yields = 6};
    ts_task *it = ts_spawn(job_fn, &inner);
    outer o = {.inner = it, .rc = 1};
    ts_task *ot = ts_spawn(outer_fn, &o);
    settle(2);
    ts_task_cancel(it, NULL);
    assert_int_equal(ts_await(ot, NULL), -ECANCELED);
    assert_int_equal(o.rc, -ECANCELED);
    assert_int_equal(inner.cancels_seen, 1);
    /* The outer was not cancelled: only its shield's result was. */
    return NULL;
}

static void test_inner_cancelled(void **state) {
    (void)state;
    assert_int_equal(run_main(t_inner_cancelled, NULL), 0);
}

static void *t_invalid(void *arg) {
    (void)arg;
    assert_int_equal(ts_shield(NULL, NULL), -EINVAL);
    assert_int_equal(ts_shield(ts_current_task(), NULL), -EDEADLK);
    return NULL;
}

static void test_invalid(void **state) {
    (void)state;
    assert_int_equal(run_main(t_invalid, NULL), 0);
    assert_int_equal(ts_shield(NULL, NULL), TS_ENOTASK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_outer_cancelled),
        cmocka_unit_test(test_orphan_fails),
        cmocka_unit_test(test_inner_cancelled),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
