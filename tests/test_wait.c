/*
 * test_wait.c - ts_wait: ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION
 * (a failure or a cancellation), a timeout that leaves the tasks running,
 * cancellation of the waiting task (the tasks are not touched), tasks
 * already done, bad arguments.  ts_wait never consumes: every test awaits
 * its tasks afterwards.
 *
 * Orderings come from counted yields and the loop's FIFO ready queue;
 * timeouts are only ever compared with sleeps far longer than them.
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
    int cancels_seen;
} job;

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = 0;
    for (int i = 0; i < j->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && j->delay > 0)
        rc = ts_sleep(j->delay);
    if (rc == -ECANCELED) {
        j->cancels_seen++;
        return ts_fail(-ECANCELED, NULL);
    }
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, NULL) : IPTR(j->value);
}

static void await_all(ts_task **t, int n) {
    for (int i = 0; i < n; i++)
        ts_await(t[i], NULL);
}

static void *t_all_completed(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 3, .value = 1}, {.yields = 1, .fail = -EIO},
                {.yields = 2, .value = 3}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    size_t nd = 99;
    assert_int_equal(ts_wait(t, 3, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 3);
    for (int i = 0; i < 3; i++)
        assert_true(ts_task_done(t[i]));
    /* Not consumed: the handles are still ours. */
    void *r;
    assert_int_equal(ts_await(t[0], &r), 0);
    assert_int_equal(PTRI(r), 1);
    assert_int_equal(ts_await(t[1], NULL), -EIO);
    assert_int_equal(ts_await(t[2], &r), 0);
    assert_int_equal(PTRI(r), 3);
    return NULL;
}

static void test_all_completed(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_all_completed, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

static void *t_first_completed(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 6}, {.yields = 2}, {.delay = 60.0}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 3, TS_FOREVER, TS_FIRST_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    assert_true(ts_task_done(t[1]));
    assert_false(ts_task_done(t[0]));
    assert_false(ts_task_done(t[2]));
    /* Again, with t[1] done already: returns at once. */
    assert_int_equal(ts_wait(t, 3, TS_FOREVER, TS_FIRST_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    ts_task_cancel(t[2], NULL);
    await_all(t, 3);
    return NULL;
}

static void test_first_completed(void **state) {
    (void)state;
    assert_int_equal(run_main(t_first_completed, NULL), 0);
}

static void *t_first_exception(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 1}, {.yields = 3, .fail = -EPIPE}, {.delay = 60.0}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 3, TS_FOREVER, TS_FIRST_EXCEPTION, &nd), 0);
    /* A success did not end the wait; the failure did. */
    assert_int_equal(nd, 2);
    assert_true(ts_task_done(t[0]) && ts_task_done(t[1]));
    assert_false(ts_task_done(t[2]));
    assert_int_equal(ts_await(t[1], NULL), -EPIPE);
    /* A cancellation counts as an exception too. */
    ts_task *u[2] = {t[2], ts_spawn(job_fn, &(job){.delay = 60.0})};
    settle(1);
    ts_task_cancel(u[0], NULL);
    assert_int_equal(ts_wait(u, 2, TS_FOREVER, TS_FIRST_EXCEPTION, &nd), 0);
    assert_int_equal(nd, 1);
    assert_true(ts_task_cancelled(u[0]));
    assert_false(ts_task_done(u[1]));
    ts_task_cancel(u[1], NULL);
    await_all(u, 2);
    ts_await(t[0], NULL);
    return NULL;
}

static void test_first_exception(void **state) {
    (void)state;
    assert_int_equal(run_main(t_first_exception, NULL), 0);
}

/* No failure: FIRST_EXCEPTION waits for all. */
static void *t_first_exception_none(void *arg) {
    (void)arg;
    job j[2] = {{.yields = 1}, {.yields = 4}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_FIRST_EXCEPTION, &nd), 0);
    assert_int_equal(nd, 2);
    await_all(t, 2);
    return NULL;
}

static void test_first_exception_none(void **state) {
    (void)state;
    assert_int_equal(run_main(t_first_exception_none, NULL), 0);
}

/* A timeout returns 0 and leaves the tasks running, uncancelled. */
static void *t_timeout(void *arg) {
    (void)arg;
    job j[2] = {{.yields = 1, .value = 5}, {.delay = 60.0}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    size_t nd = 0;
    assert_int_equal(ts_wait(t, 2, 0.01, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 1);
    assert_false(ts_task_done(t[1]));
    assert_int_equal(j[1].cancels_seen, 0);
    assert_int_equal(ts_task_state_of(t[1]), TS_TASK_SUSPENDED);
    /* A zero timeout polls once. */
    assert_int_equal(ts_wait(&t[1], 1, 0, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 0);
    ts_task_cancel(t[1], NULL);
    await_all(t, 2);
    return NULL;
}

static void test_timeout(void **state) {
    (void)state;
    assert_int_equal(run_main(t_timeout, NULL), 0);
}

/* Cancelling the waiting task: -ECANCELED, the tasks run on. */
typedef struct waiter {
    ts_task **tasks;
    int rc;
    size_t nd;
} waiter;

static void *wait_task(void *arg) {
    waiter *w = arg;
    w->rc = ts_wait(w->tasks, 2, 30.0, TS_ALL_COMPLETED, &w->nd);
    return NULL;
}

static void *t_cancel_caller(void *arg) {
    (void)arg;
    job j[2] = {{.yields = 1}, {.yields = 8, .value = 2}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    waiter w = {.tasks = t, .rc = 1};
    ts_task *wt = ts_spawn(wait_task, &w);
    settle(3);
    ts_task_cancel(wt, NULL);
    assert_int_equal(ts_await(wt, NULL), 0);
    assert_int_equal(w.rc, -ECANCELED);
    assert_int_equal(w.nd, 1);
    assert_false(ts_task_done(t[1]));
    void *r;
    assert_int_equal(ts_await(t[1], &r), 0);
    assert_int_equal(PTRI(r), 2);
    assert_int_equal(j[1].cancels_seen, 0);
    ts_await(t[0], NULL);
    return NULL;
}

static void test_cancel_caller(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_caller, NULL), 0);
}

static void *t_invalid(void *arg) {
    (void)arg;
    job a = {.yields = 1};
    ts_task *t[2] = {ts_spawn(job_fn, &a), NULL};
    assert_int_equal(ts_wait(t, 0, TS_FOREVER, TS_ALL_COMPLETED, NULL), -EINVAL);
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, NULL), -EINVAL);
    assert_int_equal(ts_wait(t, 1, TS_FOREVER, (ts_return_when)42, NULL), -EINVAL);
    assert_int_equal(ts_wait(t, 1, NAN, TS_ALL_COMPLETED, NULL), -EINVAL);
    assert_int_equal(ts_wait(NULL, 1, TS_FOREVER, TS_ALL_COMPLETED, NULL), -EINVAL);
    t[1] = ts_current_task();
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, NULL), -EDEADLK);
    /* Listed twice: refused, as ts_gather refuses it; the marks used to
     * find it are all cleared, so the same tasks pass once deduplicated. */
    t[1] = t[0];
    size_t nd = 7;
    assert_int_equal(ts_wait(t, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), -EINVAL);
    assert_int_equal(nd, 7);
    job b = {.yields = 1};
    ts_task *three[3] = {t[0], ts_spawn(job_fn, &b), t[0]};
    assert_int_equal(ts_wait(three, 3, TS_FOREVER, TS_ALL_COMPLETED, &nd), -EINVAL);
    assert_int_equal(ts_wait(three, 2, TS_FOREVER, TS_ALL_COMPLETED, &nd), 0);
    assert_int_equal(nd, 2);
    ts_await(three[1], NULL);
    ts_await(t[0], NULL);
    return NULL;
}

static void test_invalid(void **state) {
    (void)state;
    assert_int_equal(run_main(t_invalid, NULL), 0);
    ts_task *none[1] = {NULL};
    assert_int_equal(ts_wait(none, 1, TS_FOREVER, TS_ALL_COMPLETED, NULL), TS_ENOTASK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_completed),
        cmocka_unit_test(test_first_completed),
        cmocka_unit_test(test_first_exception),
        cmocka_unit_test(test_first_exception_none),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cancel_caller),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
