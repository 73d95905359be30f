/*
 * test_as_completed.c - ts_as_completed: tasks come out in the order they
 * finish (those already done first, in list order), then TS_EOF; the
 * overall timeout yields what finished before it and then -ETIMEDOUT,
 * leaving the rest running; cancellation of the iterating task; a second
 * concurrent waiter; bad arguments.  The handles are never consumed:
 * every test awaits its tasks itself.
 *
 * Orderings come from counted yields; timeouts are only ever compared with
 * sleeps far longer than them.
 */
#include <math.h>

#include "harness.h"

static void settle(int rounds) {
    for (int i = 0; i < rounds; i++)
        assert_int_equal(ts_sleep(0), 0);
}

typedef struct job {
    int yields;
    double delay;
    intptr_t value;
    int fail;
    int finished;
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = 0;
    for (int i = 0; i < j->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && j->delay > 0)
        rc = ts_sleep(j->delay);
    if (rc)
        return ts_fail(rc, NULL);
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, NULL) : IPTR(j->value);
}

static void await_all(ts_task **t, int n) {
    for (int i = 0; i < n; i++)
        ts_await(t[i], NULL);
}

static void *t_order(void *arg) {
    (void)arg;
    job j[4] = {{.yields = 5}, {.yields = 1, .fail = -EIO}, {.yields = 3},
                {.value = 0}};
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    ts_as_completed *ac = ts_as_completed_new(t, 4, TS_FOREVER);
    assert_non_null(ac);
    ts_task *got[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(ts_as_completed_next(ac, &got[i]), 0);
    assert_ptr_equal(got[0], t[3]);
    assert_ptr_equal(got[1], t[1]);
    assert_ptr_equal(got[2], t[2]);
    assert_ptr_equal(got[3], t[0]);
    ts_task *none = t[0];
    assert_int_equal(ts_as_completed_next(ac, &none), TS_EOF);
    assert_null(none);
    assert_int_equal(ts_as_completed_next(ac, &none), TS_EOF);
    ts_as_completed_free(ac);
    assert_int_equal(ts_await(t[1], NULL), -EIO);
    ts_await(t[0], NULL);
    ts_await(t[2], NULL);
    ts_await(t[3], NULL);
    return NULL;
}

static void test_order(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_order, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* Tasks already done when the iterator is made come first, in list
 * order, even before a task that finishes meanwhile. */
static void *t_already_done(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 1}, {.value = 0}, {.value = 0}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    settle(1);
    assert_false(ts_task_done(t[0]));
    ts_as_completed *ac = ts_as_completed_new(t, 3, 10.0);
    settle(2);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[1]);
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[2]);
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[0]);
    assert_int_equal(ts_as_completed_next(ac, &got), TS_EOF);
    ts_as_completed_free(ac);
    await_all(t, 3);
    /* Empty: the end at once. */
    ac = ts_as_completed_new(NULL, 0, TS_FOREVER);
    assert_non_null(ac);
    assert_int_equal(ts_as_completed_next(ac, &got), TS_EOF);
    ts_as_completed_free(ac);
    return NULL;
}

static void test_already_done(void **state) {
    (void)state;
    assert_int_equal(run_main(t_already_done, NULL), 0);
}

static void *t_timeout(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 1, .value = 1}, {.delay = 60.0}, {.delay = 60.0}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    ts_as_completed *ac = ts_as_completed_new(t, 3, 0.02);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[0]);
    assert_int_equal(ts_as_completed_next(ac, &got), -ETIMEDOUT);
    assert_null(got);
    assert_int_equal(ts_as_completed_next(ac, &got), -ETIMEDOUT);
    /* Nothing was cancelled. */
    assert_false(ts_task_done(t[1]));
    assert_int_equal(ts_task_cancelling(t[1]), 0);
    ts_as_completed_free(ac);
    ts_task_cancel(t[1], NULL);
    ts_task_cancel(t[2], NULL);
    await_all(t, 3);
    return NULL;
}

static void test_timeout(void **state) {
    (void)state;
    assert_int_equal(run_main(t_timeout, NULL), 0);
}

/* What finished before the deadline is still yielded after it. */
static void *t_finished_before_deadline(void *arg) {
    (void)arg;
    job j[2] = {{.yields = 1}, {.delay = 60.0}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    ts_as_completed *ac = ts_as_completed_new(t, 2, 0.01);
    assert_int_equal(ts_sleep(0.2), 0);   /* well past the deadline */
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t[0]);
    assert_int_equal(ts_as_completed_next(ac, &got), -ETIMEDOUT);
    ts_as_completed_free(ac);
    ts_task_cancel(t[1], NULL);
    await_all(t, 2);
    return NULL;
}

static void test_finished_before_deadline(void **state) {
    (void)state;
    assert_int_equal(run_main(t_finished_before_deadline, NULL), 0);
}

/* The task iterating, for cancellation and concurrency tests. */
typedef struct iter {
    ts_as_completed *ac;
    int rc;
    ts_task *got;
} iter;

static void *iter_fn(void *arg) {
    iter *it = arg;
    it->rc = ts_as_completed_next(it->ac, &it->got);
    return NULL;
}

static void *t_cancel_and_busy(void *arg) {
    (void)arg;
    job j = {.delay = 60.0};
    ts_task *t = ts_spawn(job_fn, &j);
    ts_as_completed *ac = ts_as_completed_new(&t, 1, TS_FOREVER);
    iter a = {.ac = ac, .rc = 1}, b = {.ac = ac, .rc = 1};
    ts_task *at = ts_spawn(iter_fn, &a);
    ts_task *bt = ts_spawn(iter_fn, &b);
    settle(2);
    assert_int_equal(b.rc, -EBUSY);
    ts_task_cancel(at, NULL);
    settle(2);
    assert_int_equal(a.rc, -ECANCELED);
    assert_false(ts_task_done(t));   /* not cancelled with the iterator */
    /* Iteration can go on after a cancelled next(). */
    ts_task_cancel(t, NULL);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_ptr_equal(got, t);
    ts_as_completed_free(ac);
    ts_await(t, NULL);
    ts_await(at, NULL);
    ts_await(bt, NULL);
    return NULL;
}

static void test_cancel_and_busy(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_and_busy, NULL), 0);
}

/* Freeing the iterator early removes its watches and timer. */
static void *t_free_early(void *arg) {
    (void)arg;
    job j[2] = {{.yields = 2}, {.yields = 3}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    ts_as_completed *ac = ts_as_completed_new(t, 2, 0.01);
    ts_as_completed_free(ac);
    ts_as_completed_free(NULL);
    assert_int_equal(ts_sleep(0.05), 0);
    await_all(t, 2);
    return NULL;
}

static void test_free_early(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_early, NULL), 0);
}

static void *t_invalid(void *arg) {
    (void)arg;
    ts_task *t[1] = {NULL};
    errno = 0;
    assert_null(ts_as_completed_new(t, 1, TS_FOREVER));
    assert_int_equal(errno, EINVAL);
    t[0] = ts_spawn(job_fn, &(job){.value = 0});
    assert_null(ts_as_completed_new(t, 1, NAN));
    assert_int_equal(errno, EINVAL);
    assert_null(ts_as_completed_new(NULL, 1, TS_FOREVER));
    /* Listed twice: refused, as ts_gather and ts_wait refuse it. */
    ts_task *dup[3] = {t[0], ts_spawn(job_fn, &(job){.value = 1}), t[0]};
    errno = 0;
    assert_null(ts_as_completed_new(dup, 3, TS_FOREVER));
    assert_int_equal(errno, EINVAL);
    ts_as_completed *ac = ts_as_completed_new(dup, 2, TS_FOREVER);
    assert_non_null(ac);
    ts_task *got;
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_int_equal(ts_as_completed_next(ac, &got), 0);
    assert_int_equal(ts_as_completed_next(ac, &got), TS_EOF);
    ts_as_completed_free(ac);
    ts_await(dup[1], NULL);
    assert_int_equal(ts_as_completed_next(NULL, &got), -EINVAL);
    ts_await(t[0], NULL);
    return NULL;
}

static void test_invalid(void **state) {
    (void)state;
    assert_int_equal(run_main(t_invalid, NULL), 0);
    errno = 0;
    assert_null(ts_as_completed_new(NULL, 0, TS_FOREVER));
    assert_int_equal(errno, ESRCH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_already_done),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_finished_before_deadline),
        cmocka_unit_test(test_cancel_and_busy),
        cmocka_unit_test(test_free_early),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
