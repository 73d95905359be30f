/*
 * test_wait_for.c - ts_wait_for: success, the inner task's own error, a
 * timeout (the inner is cancelled and has run its cleanup, which itself
 * suspends, before wait_for returns), an inner that swallows the
 * cancellation, zero and negative timeouts, nested wait_for both ways,
 * cancellation of the caller (inner cancelled and awaited), bad arguments.
 *
 * Timeouts are short and the inner tasks sleep far longer (60 s, always
 * cancelled), so no assert depends on how long anything takes.
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
    int fail;            /* fail with this at the end */
    int swallow;         /* on cancel: finish anyway, with value */
    int swallow_fail;    /* on cancel: fail with this instead */
    int linger;          /* after a swallowed cancel, sleep on */
    int cancels_seen;
    int cleanup_steps;   /* suspensions done by the cleanup */
    int cleaned;
    int finished;
} job;

static void *job_cleanup(job *j) {
    j->cancels_seen++;
    /* The cleanup suspends twice: wait_for must still wait for it. */
    for (int i = 0; i < 2; i++)
        if (ts_sleep(0) == 0)
            j->cleanup_steps++;
    j->cleaned = 1;
    int err = j->swallow_fail ? j->swallow_fail : j->swallow ? 0 : -ECANCELED;
    if (err == 0 && j->linger && ts_sleep(60.0) == -ECANCELED)
        err = -ECANCELED;
    j->finished = 1;
    return err ? ts_fail(err, "cleanup") : IPTR(j->value);
}

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = 0;
    for (int i = 0; i < j->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && j->delay > 0)
        rc = ts_sleep(j->delay);
    if (rc == -ECANCELED)
        return job_cleanup(j);
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, NULL) : IPTR(j->value);
}

static void *t_success(void *arg) {
    (void)arg;
    job j = {.yields = 2, .value = 42};
    void *r = NULL;
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &j), 30.0, &r), 0);
    assert_int_equal(PTRI(r), 42);
    /* No limit. */
    job k = {.yields = 1, .value = 43};
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &k), TS_FOREVER, &r), 0);
    assert_int_equal(PTRI(r), 43);
    job m = {.yields = 1, .value = 44};
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &m), INFINITY, &r), 0);
    assert_int_equal(PTRI(r), 44);
    /* The inner's own failure comes back as it is. */
    job e = {.yields = 1, .fail = -EIO};
    r = IPTR(1);
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &e), 30.0, &r), -EIO);
    assert_int_equal(PTRI(r), 1);   /* untouched on failure */
    /* Already done: its outcome at once. */
    job d = {.value = 45};
    ts_task *t = ts_spawn(job_fn, &d);
    settle(1);
    assert_int_equal(ts_wait_for(t, 0, &r), 0);
    assert_int_equal(PTRI(r), 45);
    return NULL;
}

static void test_success(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_success, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

static void *t_timeout(void *arg) {
    (void)arg;
    job j = {.delay = 60.0};
    ts_task *t = ts_spawn(job_fn, &j);
    ts_task *ref = ts_task_ref(t);
    void *r = IPTR(1);
    assert_int_equal(ts_wait_for(t, 0.02, &r), -ETIMEDOUT);
    /* The inner was cancelled and had finished its cleanup by now. */
    assert_true(ts_task_done(ref));
    assert_true(ts_task_cancelled(ref));
    assert_int_equal(j.cancels_seen, 1);
    assert_true(j.cleaned);
    assert_int_equal(j.cleanup_steps, 2);
    assert_int_equal(PTRI(r), 1);
    /* The caller is not left cancelled. */
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_sleep(0), 0);
    ts_task_unref(ref);
    return NULL;
}

static void test_timeout(void **state) {
    (void)state;
    assert_int_equal(run_main(t_timeout, NULL), 0);
}

/* Zero timeout: an unfinished task is cancelled at once (one that has not
 * started never runs); -ETIMEDOUT once it has ended. */
static void *t_zero_timeout(void *arg) {
    (void)arg;
    job fresh = {.value = 1};
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &fresh), 0, NULL), -ETIMEDOUT);
    assert_false(fresh.finished);
    job asleep = {.delay = 60.0};
    ts_task *t = ts_spawn(job_fn, &asleep);
    settle(1);
    assert_int_equal(ts_wait_for(t, 0, NULL), -ETIMEDOUT);
    assert_true(asleep.cleaned);
    return NULL;
}

static void test_zero_timeout(void **state) {
    (void)state;
    assert_int_equal(run_main(t_zero_timeout, NULL), 0);
}

/* An inner that swallows the cancellation: its own outcome (3.12). */
static void *t_swallow(void *arg) {
    (void)arg;
    job j = {.delay = 60.0, .swallow = 1, .value = 7};
    void *r = NULL;
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &j), 0.02, &r), 0);
    assert_int_equal(PTRI(r), 7);
    assert_true(j.cleaned);
    job k = {.delay = 60.0, .swallow_fail = -EPIPE};
    assert_int_equal(ts_wait_for(ts_spawn(job_fn, &k), 0.02, &r), -EPIPE);
    assert_true(k.cleaned);
    return NULL;
}

static void test_swallow(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_swallow, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* ---- nesting ------------------------------------------------------------- */

typedef struct middle {
    job *inner;
    double timeout;
    int rc;
    int inner_done_at_return;
} middle;

static void *middle_fn(void *arg) {
    middle *m = arg;
    ts_task *t = ts_spawn(job_fn, m->inner);
    m->rc = ts_wait_for(t, m->timeout, NULL);
    m->inner_done_at_return = m->inner->finished;
    return m->rc ? ts_fail(m->rc, "middle") : IPTR(1);
}

/* The outer deadline passes first: the middle's wait_for is cancelled,
 * cancels the inner and waits for it; the outer reports the timeout. */
static void *t_nested_outer_first(void *arg) {
    (void)arg;
    job inner = {.delay = 60.0};
    middle m = {.inner = &inner, .timeout = 30.0, .rc = 1};
    assert_int_equal(ts_wait_for(ts_spawn(middle_fn, &m), 0.02, NULL), -ETIMEDOUT);
    assert_int_equal(m.rc, -ECANCELED);
    assert_true(m.inner_done_at_return);
    assert_true(inner.cleaned);
    return NULL;
}

static void test_nested_outer_first(void **state) {
    (void)state;
    assert_int_equal(run_main(t_nested_outer_first, NULL), 0);
}

/* The inner deadline passes first: the middle sees -ETIMEDOUT and fails
 * with it, which the outer passes on as the middle's error. */
static void *t_nested_inner_first(void *arg) {
    (void)arg;
    job inner = {.delay = 60.0};
    middle m = {.inner = &inner, .timeout = 0.02, .rc = 1};
    assert_int_equal(ts_wait_for(ts_spawn(middle_fn, &m), 30.0, NULL), -ETIMEDOUT);
    assert_int_equal(m.rc, -ETIMEDOUT);
    assert_true(inner.cleaned);
    return NULL;
}

static void test_nested_inner_first(void **state) {
    (void)state;
    assert_int_equal(run_main(t_nested_inner_first, NULL), 0);
}

/* ---- cancellation of the caller ------------------------------------------ */

static void *t_cancel_caller(void *arg) {
    (void)arg;
    job inner = {.delay = 60.0};
    middle m = {.inner = &inner, .timeout = 30.0, .rc = 1};
    ts_task *mt = ts_spawn(middle_fn, &m);
    settle(2);
    ts_task_cancel(mt, "stop");
    assert_int_equal(ts_await(mt, NULL), -ECANCELED);
    assert_int_equal(m.rc, -ECANCELED);
    assert_true(m.inner_done_at_return);
    assert_int_equal(inner.cleanup_steps, 2);
    /* Even an inner that swallows it: the caller was cancelled. */
    job stubborn = {.delay = 60.0, .swallow = 1, .value = 3};
    middle s = {.inner = &stubborn, .timeout = 30.0, .rc = 1};
    mt = ts_spawn(middle_fn, &s);
    settle(2);
    ts_task_cancel(mt, NULL);
    assert_int_equal(ts_await(mt, NULL), -ECANCELED);
    assert_int_equal(s.rc, -ECANCELED);
    assert_true(s.inner_done_at_return);
    return NULL;
}

static void test_cancel_caller(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_cancel_caller, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* The caller is cancelled after the timeout fired, while the inner is
 * still running (it swallowed the timeout's cancel): cancellation wins,
 * and the second request reaches the inner. */
typedef struct late {
    job *inner;
    int rc;
    int inner_done_at_return;
} late;

static void *late_fn(void *arg) {
    late *l = arg;
    l->rc = ts_wait_for(ts_spawn(job_fn, l->inner), 0.01, NULL);
    l->inner_done_at_return = l->inner->finished;
    return NULL;
}

static void *t_cancel_after_timeout(void *arg) {
    (void)arg;
    job inner = {.delay = 60.0, .swallow = 1, .linger = 1};
    late l = {.inner = &inner, .rc = 1};
    ts_task *lt = ts_spawn(late_fn, &l);
    for (int i = 0; i < 2000 && !inner.cleaned; i++)
        assert_int_equal(ts_sleep(0.005), 0);
    assert_true(inner.cleaned);
    assert_false(ts_task_done(lt));
    ts_task_cancel(lt, NULL);
    assert_int_equal(ts_await(lt, NULL), 0);
    assert_int_equal(l.rc, -ECANCELED);
    assert_true(l.inner_done_at_return);
    assert_int_equal(inner.cancels_seen, 1);
    return NULL;
}

static void test_cancel_after_timeout(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_after_timeout, NULL), 0);
}

static void *t_invalid(void *arg) {
    (void)arg;
    assert_int_equal(ts_wait_for(NULL, 1.0, NULL), -EINVAL);
    assert_int_equal(ts_wait_for(ts_current_task(), 1.0, NULL), -EDEADLK);
    job j = {.value = 5};
    ts_task *t = ts_spawn(job_fn, &j);
    assert_int_equal(ts_wait_for(t, NAN, NULL), -EINVAL);
    void *r;
    assert_int_equal(ts_wait_for(t, 1.0, &r), 0);   /* still ours */
    assert_int_equal(PTRI(r), 5);
    return NULL;
}

static void test_invalid(void **state) {
    (void)state;
    assert_int_equal(run_main(t_invalid, NULL), 0);
    assert_int_equal(ts_wait_for(NULL, 1.0, NULL), TS_ENOTASK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_zero_timeout),
        cmocka_unit_test(test_swallow),
        cmocka_unit_test(test_nested_outer_first),
        cmocka_unit_test(test_nested_inner_first),
        cmocka_unit_test(test_cancel_caller),
        cmocka_unit_test(test_cancel_after_timeout),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
