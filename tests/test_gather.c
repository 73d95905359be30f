/*
 * test_gather.c - ts_gather: results in list order, fail-fast with the
 * others running on (their later errors not reported), return_exceptions,
 * cancellation of the gathering task (children cancelled, every request
 * passed on, all awaited), tasks already done, bad arguments.
 *
 * Orderings come from counted yields (ts_sleep(0)) and the loop's FIFO
 * ready queue, never from how long anything takes.
 */
#include "harness.h"

static void settle(int rounds) {
    for (int i = 0; i < rounds; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* A child: yields `yields` times (or sleeps `delay` s), then returns value
 * or fails with `fail`.  On cancellation it runs a cleanup that itself
 * suspends; `stubborn` ones go back to sleep once before giving in, and
 * `swallow` ones finish normally. */
typedef struct job {
    int yields;
    double delay;
    intptr_t value;
    int fail;
    int swallow;
    int stubborn;
    int cancels_seen;
    int cleaned;
    int finished;
    int *log;
    int *nlog;
    int id;
} job;

static void *on_cancel(job *j) {
    j->cancels_seen++;
    if (j->stubborn && ts_sleep(60.0) == -ECANCELED)
        j->cancels_seen++;
    ts_sleep(0);    /* the cleanup suspends: gather must wait for it */
    j->cleaned = 1;
    j->finished = 1;
    return j->swallow ? IPTR(j->value) : ts_fail(-ECANCELED, "job %d", j->id);
}

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = 0;
    for (int i = 0; i < j->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && j->delay > 0)
        rc = ts_sleep(j->delay);
    if (rc == -ECANCELED)
        return on_cancel(j);
    if (j->log)
        j->log[(*j->nlog)++] = j->id;
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, "job %d", j->id) : IPTR(j->value);
}

/* ---- success ------------------------------------------------------------ */

static void *t_success_order(void *arg) {
    (void)arg;
    int log[3], nlog = 0;
    job j[3] = {
        {.yields = 5, .value = 10, .log = log, .nlog = &nlog, .id = 0},
        {.yields = 1, .value = 11, .log = log, .nlog = &nlog, .id = 1},
        {.yields = 3, .value = 12, .log = log, .nlog = &nlog, .id = 2},
    };
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    void *res[3] = {0};
    int errs[3] = {-1, -1, -1};
    assert_int_equal(ts_gather(t, 3, res, errs), 0);
    /* They finished in another order; results follow the list. */
    assert_int_equal(log[0], 1);
    assert_int_equal(log[1], 2);
    assert_int_equal(log[2], 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(PTRI(res[i]), 10 + i);
        assert_int_equal(errs[i], 0);
    }
    /* No tasks, no results argument. */
    assert_int_equal(ts_gather(t, 0, NULL, NULL), 0);
    job once = {.yields = 1};
    ts_task *u = ts_spawn(job_fn, &once);
    assert_int_equal(ts_gather(&u, 1, NULL, NULL), 0);
    assert_true(once.finished);
    return NULL;
}

static void test_success_order(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_success_order, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* Many tasks: slots on the heap and duplicates found by sorting. */
static void *t_many(void *arg) {
    (void)arg;
    enum { N = 100 };
    job j[N];
    ts_task *t[N];
    void *res[N];
    for (int i = 0; i < N; i++) {
        j[i] = (job){.yields = (i * 7) % 5, .value = i};
        t[i] = ts_spawn(job_fn, &j[i]);
    }
    ts_task *dup = t[N - 1];
    t[N - 1] = t[3];
    assert_int_equal(ts_gather(t, N, res, NULL), -EINVAL);
    t[N - 1] = dup;
    assert_int_equal(ts_gather(t, N, res, NULL), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(PTRI(res[i]), i);
    return NULL;
}

static void test_many(void **state) {
    (void)state;
    assert_int_equal(run_main(t_many, NULL), 0);
}

/* ---- failures ------------------------------------------------------------ */

/* The first failure comes back at once; the others run on, detached, and
 * a later failure among them is not reported as never retrieved. */
static void *t_fail_fast(void *arg) {
    (void)arg;
    job slow = {.yields = 6, .value = 7};
    job bad = {.yields = 1, .fail = -EIO};
    job late_bad = {.yields = 3, .fail = -EPIPE};
    ts_task *t[3] = {ts_spawn(job_fn, &slow), ts_spawn(job_fn, &bad),
                     ts_spawn(job_fn, &late_bad)};
    ts_task *slow_ref = ts_task_ref(t[0]);
    void *res[3] = {IPTR(1), IPTR(1), IPTR(1)};
    assert_int_equal(ts_gather(t, 3, res, NULL), -EIO);
    assert_true(bad.finished);
    assert_false(slow.finished);
    assert_false(late_bad.finished);
    assert_null(res[0]);
    assert_null(res[1]);
    /* Not cancelled: it still completes. */
    void *r = NULL;
    assert_int_equal(ts_await(slow_ref, &r), 0);
    assert_int_equal(PTRI(r), 7);
    assert_int_equal(slow.cancels_seen, 0);
    settle(4);
    assert_true(late_bad.finished);
    return NULL;
}

static void test_fail_fast(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_fail_fast, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* A child ending cancelled counts as a failure (asyncio raises
 * CancelledError from gather). */
static void *t_child_cancelled(void *arg) {
    (void)arg;
    job a = {.yields = 4, .value = 1};
    job b = {.delay = 60.0};
    ts_task *t[2] = {ts_spawn(job_fn, &a), ts_spawn(job_fn, &b)};
    ts_task_cancel(t[1], "stop");
    assert_int_equal(ts_gather(t, 2, NULL, NULL), -ECANCELED);
    assert_false(a.finished);
    /* The gathering task itself is not cancelled. */
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    settle(6);
    assert_true(a.finished);
    return NULL;
}

static void test_child_cancelled(void **state) {
    (void)state;
    assert_int_equal(run_main(t_child_cancelled, NULL), 0);
}

static void *t_return_exceptions(void *arg) {
    (void)arg;
    job j[4] = {
        {.yields = 2, .value = 1},
        {.yields = 1, .fail = -EIO},
        {.delay = 60.0},
        {.yields = 3, .value = 4},
    };
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    settle(1);
    ts_task_cancel(t[2], NULL);
    void *res[4];
    int errs[4];
    assert_int_equal(ts_gather(t, 4, res, errs), 0);
    for (int i = 0; i < 4; i++)
        assert_true(j[i].finished);
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], -EIO);
    assert_int_equal(errs[2], -ECANCELED);
    assert_int_equal(errs[3], 0);
    assert_int_equal(PTRI(res[0]), 1);
    assert_null(res[1]);
    assert_null(res[2]);
    assert_int_equal(PTRI(res[3]), 4);
    return NULL;
}

static void test_return_exceptions(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_return_exceptions, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* Tasks already done: no suspension needed; fail-fast picks the first
 * failure in list order, as asyncio runs their callbacks in that order. */
static void *t_already_done(void *arg) {
    (void)arg;
    job j[3] = {{.value = 1}, {.fail = -EIO}, {.fail = -EPIPE}};
    ts_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn(job_fn, &j[i]);
    settle(2);
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -EIO);
    job k[2] = {{.value = 5}, {.value = 6}};
    ts_task *u[2] = {ts_spawn(job_fn, &k[0]), ts_spawn(job_fn, &k[1])};
    settle(2);
    void *res[2];
    assert_int_equal(ts_gather(u, 2, res, NULL), 0);
    assert_int_equal(PTRI(res[0]), 5);
    assert_int_equal(PTRI(res[1]), 6);
    return NULL;
}

static void test_already_done(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_already_done, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* ---- cancellation of the gathering task ---------------------------------- */

typedef struct gatherer {
    job *jobs;
    int n;
    int rc;
    int all_done_at_return;
    int errs[4];
} gatherer;

static void *gather_task(void *arg) {
    gatherer *g = arg;
    ts_task *t[4];
    for (int i = 0; i < g->n; i++)
        t[i] = ts_spawn(job_fn, &g->jobs[i]);
    g->rc = ts_gather(t, (size_t)g->n, NULL, g->errs);
    g->all_done_at_return = 1;
    for (int i = 0; i < g->n; i++)
        g->all_done_at_return &= g->jobs[i].finished;
    return g->rc ? ts_fail(g->rc, "gather") : NULL;
}

static void *t_cancel_caller(void *arg) {
    (void)arg;
    job j[4] = {
        {.delay = 60.0, .id = 0},
        {.delay = 60.0, .id = 1, .swallow = 1, .value = 9},
        {.delay = 60.0, .id = 2, .stubborn = 1},
        {.yields = 1, .value = 3, .id = 3},
    };
    gatherer g = {.jobs = j, .n = 4};
    ts_task *gt = ts_spawn(gather_task, &g);
    settle(4);
    assert_true(j[3].finished);
    assert_int_equal(ts_task_cancel(gt, "go away"), 1);
    settle(1);
    /* The stubborn child is still in its second sleep: gather waits. */
    assert_false(j[2].finished);
    assert_false(ts_task_done(gt));
    /* A second request reaches the children still running. */
    assert_int_equal(ts_task_cancel(gt, NULL), 1);
    assert_int_equal(ts_await(gt, NULL), -ECANCELED);
    assert_int_equal(g.rc, -ECANCELED);
    assert_true(g.all_done_at_return);
    for (int i = 0; i < 3; i++)
        assert_true(j[i].cleaned);
    assert_int_equal(j[0].cancels_seen, 1);
    assert_int_equal(j[2].cancels_seen, 2);
    assert_int_equal(g.errs[0], -ECANCELED);
    assert_int_equal(g.errs[1], 0);   /* swallowed: still -ECANCELED overall */
    assert_int_equal(g.errs[2], -ECANCELED);
    assert_int_equal(g.errs[3], 0);
    return NULL;
}

static void test_cancel_caller(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_cancel_caller, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* A cancel request pending when gather is called acts at once. */
static void *t_pending_cancel(void *arg) {
    (void)arg;
    job j[2] = {{.delay = 60.0}, {.delay = 60.0}};
    ts_task *t[2] = {ts_spawn(job_fn, &j[0]), ts_spawn(job_fn, &j[1])};
    settle(1);   /* both asleep, so they run their cleanup when cancelled */
    ts_task_cancel(ts_current_task(), NULL);
    assert_int_equal(ts_gather(t, 2, NULL, NULL), -ECANCELED);
    assert_true(j[0].finished && j[1].finished);
    assert_int_equal(ts_task_uncancel(ts_current_task()), 0);
    return NULL;
}

static void test_pending_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_pending_cancel, NULL), 0);
}

/* ---- bad arguments: nothing is consumed -------------------------------- */

static void *t_invalid(void *arg) {
    (void)arg;
    job a = {.value = 1}, b = {.value = 2};
    ts_task *t[3] = {ts_spawn(job_fn, &a), NULL, ts_spawn(job_fn, &b)};
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -EINVAL);
    t[1] = t[0];
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -EINVAL);
    t[1] = ts_current_task();
    assert_int_equal(ts_gather(t, 3, NULL, NULL), -EDEADLK);
    assert_int_equal(ts_gather(NULL, 2, NULL, NULL), -EINVAL);
    t[1] = t[2];
    void *res[2];
    assert_int_equal(ts_gather(t, 2, res, NULL), 0);
    assert_int_equal(PTRI(res[0]), 1);
    assert_int_equal(PTRI(res[1]), 2);
    return NULL;
}

static void test_invalid(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_invalid, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
    ts_task *none[1] = {NULL};
    assert_int_equal(ts_gather(none, 0, NULL, NULL), TS_ENOTASK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_order),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_fail_fast),
        cmocka_unit_test(test_child_cancelled),
        cmocka_unit_test(test_return_exceptions),
        cmocka_unit_test(test_already_done),
        cmocka_unit_test(test_cancel_caller),
        cmocka_unit_test(test_pending_cancel),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
