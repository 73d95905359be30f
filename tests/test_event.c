/*
 * test_event.c - ts_event: set wakes every waiter, clear, cancellation of
 * a waiter, freeing with waiters.
 */
#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

typedef struct waiter {
    ts_event *ev;
    int rc;
    int woke;
} waiter;

static void *wait_task(void *arg) {
    waiter *w = arg;
    w->rc = ts_event_wait(w->ev);
    w->woke = 1;
    return w->rc ? ts_fail(w->rc, "wait") : NULL;
}

static void *t_basic(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    assert_non_null(e);
    assert_false(ts_event_is_set(e));
    ts_event_set(e);
    assert_true(ts_event_is_set(e));
    ts_event_set(e);   /* idempotent */
    assert_int_equal(ts_event_wait(e), 0);   /* set: returns at once */
    ts_event_clear(e);
    assert_false(ts_event_is_set(e));
    ts_event_free(e);
    ts_event_free(NULL);
    assert_int_equal(ts_event_wait(NULL), -EINVAL);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_basic, NULL), 0);
}

/* Every waiter wakes on one set, each reports what it waits on. */
static void *t_wakes_all(void *arg) {
    (void)arg;
    enum { N = 5 };
    ts_event *e = ts_event_new();
    waiter w[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (waiter){.ev = e};
        t[i] = ts_spawn(wait_task, &w[i]);
    }
    settle();
    for (int i = 0; i < N; i++) {
        const void *obj = NULL;
        assert_int_equal(ts_task_awaiting(t[i], &obj, NULL), TS_WAIT_EVENT);
        assert_ptr_equal(obj, e);
        assert_false(w[i].woke);
    }
    ts_event_set(e);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(w[i].rc, 0);
    }
    ts_event_free(e);
    return NULL;
}

static void test_wakes_all(void **state) {
    (void)state;
    assert_int_equal(run_main(t_wakes_all, NULL), 0);
}

/* A waiter woken by set returns 0 even if the event is cleared before it
 * runs; a later waiter waits again. */
static void *t_set_then_clear(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    waiter w1 = {.ev = e}, w2 = {.ev = e};
    ts_task *t1 = ts_spawn(wait_task, &w1);
    settle();
    ts_event_set(e);
    ts_event_clear(e);
    ts_task *t2 = ts_spawn(wait_task, &w2);
    assert_int_equal(ts_await(t1, NULL), 0);
    settle();
    assert_false(w2.woke);
    ts_event_set(e);
    assert_int_equal(ts_await(t2, NULL), 0);
    ts_event_free(e);
    return NULL;
}

static void test_set_then_clear(void **state) {
    (void)state;
    assert_int_equal(run_main(t_set_then_clear, NULL), 0);
}

/* A cancelled waiter gets -ECANCELED; the others still wake on set. */
static void *t_cancel_waiter(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    waiter w[3];
    ts_task *t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (waiter){.ev = e};
        t[i] = ts_spawn(wait_task, &w[i]);
    }
    settle();
    assert_int_equal(ts_task_cancel(t[1], "stop"), 1);
    assert_int_equal(ts_await(t[1], NULL), -ECANCELED);
    assert_int_equal(w[1].rc, -ECANCELED);
    assert_false(w[0].woke);
    ts_event_set(e);
    assert_int_equal(ts_await(t[0], NULL), 0);
    assert_int_equal(ts_await(t[2], NULL), 0);
    ts_event_free(e);
    return NULL;
}

static void test_cancel_waiter(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_waiter, NULL), 0);
}

/* Woken by set, then cancelled before it ran: the wait succeeded, and the
 * cancellation comes at the next suspension. */
static void *wait_then_sleep(void *arg) {
    waiter *w = arg;
    w->rc = ts_event_wait(w->ev);
    int err = ts_sleep(0);
    return err ? ts_fail(err, "sleep") : NULL;
}

static void *t_cancel_after_set(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    waiter w = {.ev = e};
    ts_task *t = ts_spawn(wait_then_sleep, &w);
    settle();
    ts_event_set(e);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(w.rc, 0);
    ts_event_free(e);
    return NULL;
}

static void test_cancel_after_set(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_after_set, NULL), 0);
}

/* Freeing an event with waiters wakes them with TS_ESHUTDOWN. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    waiter w[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.ev = e};
        t[i] = ts_spawn(wait_task, &w[i]);
    }
    settle();
    ts_event_free(e);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ts_await(t[i], NULL), TS_ESHUTDOWN);
        assert_int_equal(w[i].rc, TS_ESHUTDOWN);
    }
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_wakes_all),
        cmocka_unit_test(test_set_then_clear),
        cmocka_unit_test(test_cancel_waiter),
        cmocka_unit_test(test_cancel_after_set),
        cmocka_unit_test(test_free_with_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
