/*
 * test_semaphore.c - ts_semaphore and the bounded kind: counting, FIFO
 * hand-over, cancellation at acquire without losing a permit, over-release,
 * freeing with waiters.
 */
#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* Takes a permit, notes the order, holds it across one suspension, gives
 * it back. */
typedef struct acquirer {
    ts_semaphore *sem;
    int id;
    int *order;
    int *n;
    int acquire_rc;
    int hold_rc;
} acquirer;

static void *acquire_task(void *arg) {
    acquirer *a = arg;
    a->acquire_rc = ts_semaphore_acquire(a->sem);
    if (a->acquire_rc)
        return ts_fail(a->acquire_rc, "acquire");
    a->order[(*a->n)++] = a->id;
    a->hold_rc = ts_sleep(0);
    assert_int_equal(ts_semaphore_release(a->sem), 0);
    return NULL;
}

static void *t_basic(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_semaphore_new(2);
    assert_non_null(s);
    assert_int_equal(ts_semaphore_value(s), 2);
    assert_false(ts_semaphore_locked(s));
    assert_int_equal(ts_semaphore_acquire(s), 0);
    assert_int_equal(ts_semaphore_acquire(s), 0);
    assert_int_equal(ts_semaphore_value(s), 0);
    assert_true(ts_semaphore_locked(s));
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_semaphore_release(s), 0);
    /* An ordinary semaphore may go above its initial value. */
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_semaphore_value(s), 3);
    ts_semaphore_free(s);

    s = ts_semaphore_new(0);
    assert_true(ts_semaphore_locked(s));
    ts_semaphore_free(s);
    ts_semaphore_free(NULL);
    assert_int_equal(ts_semaphore_acquire(NULL), -EINVAL);
    assert_int_equal(ts_semaphore_release(NULL), -EINVAL);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_basic, NULL), 0);
}

/* Releasing a bounded semaphore above its initial value is -EOVERFLOW and
 * changes nothing; with waiters, a release hands the permit over. */
static void *t_bounded(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_bounded_semaphore_new(2);
    assert_int_equal(ts_semaphore_release(s), -EOVERFLOW);
    assert_int_equal(ts_semaphore_value(s), 2);
    assert_int_equal(ts_semaphore_acquire(s), 0);
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_semaphore_release(s), -EOVERFLOW);
    assert_int_equal(ts_semaphore_value(s), 2);

    assert_int_equal(ts_semaphore_acquire(s), 0);
    assert_int_equal(ts_semaphore_acquire(s), 0);
    int order[1], n = 0;
    acquirer a = {.sem = s, .order = order, .n = &n};
    ts_task *t = ts_spawn(acquire_task, &a);
    settle();
    assert_int_equal(ts_semaphore_release(s), 0);   /* to the waiter */
    assert_int_equal(ts_semaphore_value(s), 0);
    assert_int_equal(ts_await(t, NULL), 0);          /* it gave it back */
    assert_int_equal(ts_semaphore_value(s), 1);
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_semaphore_release(s), -EOVERFLOW);
    ts_semaphore_free(s);

    s = ts_bounded_semaphore_new(0);
    assert_int_equal(ts_semaphore_release(s), -EOVERFLOW);
    ts_semaphore_free(s);
    return NULL;
}

static void test_bounded(void **state) {
    (void)state;
    assert_int_equal(run_main(t_bounded, NULL), 0);
}

/* Permits go to waiters in the order they queued; a task that releases and
 * acquires again at once queues behind them. */
static void *t_fifo(void *arg) {
    (void)arg;
    enum { N = 6 };
    ts_semaphore *s = ts_semaphore_new(1);
    int order[N + 1], n = 0;
    acquirer a[N];
    ts_task *t[N];
    assert_int_equal(ts_semaphore_acquire(s), 0);
    for (int i = 0; i < N; i++) {
        a[i] = (acquirer){.sem = s, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
        settle();
        const void *obj = NULL;
        assert_int_equal(ts_task_awaiting(t[i], &obj, NULL), TS_WAIT_SEMAPHORE);
        assert_ptr_equal(obj, s);
    }
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_semaphore_value(s), 0);
    assert_int_equal(ts_semaphore_acquire(s), 0);   /* behind all N */
    order[n++] = N;
    assert_int_equal(ts_semaphore_release(s), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    assert_int_equal(n, N + 1);
    for (int i = 0; i <= N; i++)
        assert_int_equal(order[i], i);
    assert_int_equal(ts_semaphore_value(s), 1);
    ts_semaphore_free(s);
    return NULL;
}

static void test_fifo(void **state) {
    (void)state;
    assert_int_equal(run_main(t_fifo, NULL), 0);
}

/* A waiter cancelled while queued gets no permit; the next one does, and
 * the count comes back whole. */
static void *t_cancel_waiting(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_semaphore_new(1);
    int order[3], n = 0;
    acquirer a[3];
    ts_task *t[3];
    assert_int_equal(ts_semaphore_acquire(s), 0);
    for (int i = 0; i < 3; i++) {
        a[i] = (acquirer){.sem = s, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
    }
    settle();
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_int_equal(a[0].acquire_rc, -ECANCELED);
    assert_int_equal(ts_semaphore_value(s), 0);
    assert_int_equal(ts_semaphore_release(s), 0);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(ts_await(t[2], NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(ts_semaphore_value(s), 1);
    ts_semaphore_free(s);
    return NULL;
}

static void test_cancel_waiting(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_waiting, NULL), 0);
}

/* Cancelled after a permit was handed to it: acquire returns 0, the task
 * releases the permit, the cancellation arrives at its next suspension,
 * and the permit is not lost. */
static void *t_cancel_after_handover(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_bounded_semaphore_new(1);
    int order[2], n = 0;
    acquirer a0 = {.sem = s, .id = 0, .order = order, .n = &n};
    acquirer a1 = {.sem = s, .id = 1, .order = order, .n = &n};
    assert_int_equal(ts_semaphore_acquire(s), 0);
    ts_task *t0 = ts_spawn(acquire_task, &a0);
    ts_task *t1 = ts_spawn(acquire_task, &a1);
    settle();
    assert_int_equal(ts_semaphore_release(s), 0);
    ts_task_cancel(t0, NULL);
    assert_int_equal(ts_await(t0, NULL), 0);
    assert_int_equal(a0.acquire_rc, 0);
    assert_int_equal(a0.hold_rc, -ECANCELED);
    assert_int_equal(ts_await(t1, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ts_semaphore_value(s), 1);
    assert_int_equal(ts_semaphore_release(s), -EOVERFLOW);
    ts_semaphore_free(s);
    return NULL;
}

static void test_cancel_after_handover(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_after_handover, NULL), 0);
}

/* At most `value` tasks hold a permit at once. */
typedef struct limiter {
    ts_semaphore *sem;
    int inside;
    int max_inside;
} limiter;

static void *limited_task(void *arg) {
    limiter *lim = arg;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(ts_semaphore_acquire(lim->sem), 0);
        if (++lim->inside > lim->max_inside)
            lim->max_inside = lim->inside;
        assert_int_equal(ts_sleep(0), 0);
        lim->inside--;
        assert_int_equal(ts_semaphore_release(lim->sem), 0);
    }
    return NULL;
}

static void *t_limit(void *arg) {
    (void)arg;
    enum { N = 10 };
    limiter lim = {.sem = ts_semaphore_new(3)};
    ts_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = ts_spawn(limited_task, &lim);
    assert_int_equal(ts_gather(t, N, NULL, NULL), 0);
    assert_int_equal(lim.max_inside, 3);
    assert_int_equal(ts_semaphore_value(lim.sem), 3);
    ts_semaphore_free(lim.sem);
    return NULL;
}

static void test_limit(void **state) {
    (void)state;
    assert_int_equal(run_main(t_limit, NULL), 0);
}

/* Freeing a semaphore with waiters wakes them with TS_ESHUTDOWN. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_semaphore_new(0);
    int order[2], n = 0;
    acquirer a[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        a[i] = (acquirer){.sem = s, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
    }
    settle();
    ts_semaphore_free(s);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ts_await(t[i], NULL), TS_ESHUTDOWN);
    assert_int_equal(n, 0);
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_cancel_waiting),
        cmocka_unit_test(test_cancel_after_handover),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_free_with_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
