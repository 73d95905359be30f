/*
 * test_condition.c - ts_condition: notify and notify_all in FIFO order,
 * wait_for, the lock held again after every wait (also when cancelled
 * while waiting or while reacquiring), a notification passed on by a
 * waiter cancelled after it was notified, freeing with waiters.
 */
#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

typedef struct waiter {
    ts_condition *cond;
    ts_lock *lock;
    int id;
    int *order;
    int *n;
    int rc;
    int held;         /* held the lock when wait returned */
} waiter;

/* acquire, wait once, note the outcome, release. */
static void *wait_task(void *arg) {
    waiter *w = arg;
    assert_int_equal(ts_condition_acquire(w->cond), 0);
    w->rc = ts_condition_wait(w->cond);
    if (w->rc == TS_ESHUTDOWN)
        return ts_fail(w->rc, "freed");
    w->held = ts_lock_owner(w->lock) == ts_current_task();
    if (w->rc == 0)
        w->order[(*w->n)++] = w->id;
    assert_int_equal(ts_condition_release(w->cond), 0);
    return w->rc ? ts_fail(w->rc, "wait") : NULL;
}

static void *t_basic(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    assert_non_null(c);
    assert_int_equal(ts_condition_wait(c), -EPERM);
    assert_int_equal(ts_condition_notify(c, 1), -EPERM);
    assert_int_equal(ts_condition_notify_all(c), -EPERM);
    assert_int_equal(ts_condition_release(c), -EPERM);
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_true(ts_lock_locked(l));
    assert_int_equal(ts_condition_notify(c, 1), 0);   /* nobody waits */
    assert_int_equal(ts_condition_release(c), 0);
    assert_false(ts_lock_locked(l));
    ts_condition_free(c);
    ts_lock_free(l);   /* not the condition's: still ours */

    c = ts_condition_new(NULL);   /* owns its lock */
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_release(c), 0);
    ts_condition_free(c);
    ts_condition_free(NULL);
    assert_int_equal(ts_condition_wait(NULL), -EINVAL);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_basic, NULL), 0);
}

/* notify(n) wakes n waiters, longest first; notify_all the rest.  Each
 * returns holding the lock. */
static void *t_notify_order(void *arg) {
    (void)arg;
    enum { N = 5 };
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    int order[N], n = 0;
    waiter w[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (waiter){.cond = c, .lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(wait_task, &w[i]);
        settle();
    }
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t[0], &obj, NULL), TS_WAIT_CONDITION);
    assert_ptr_equal(obj, c);
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_notify(c, 2), 0);
    assert_int_equal(ts_condition_release(c), 0);
    settle();
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_notify_all(c), 0);
    assert_int_equal(ts_condition_release(c), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_true(w[i].held);
        assert_int_equal(order[i], i);
    }
    assert_int_equal(n, N);
    ts_condition_free(c);
    ts_lock_free(l);
    return NULL;
}

static void test_notify_order(void **state) {
    (void)state;
    assert_int_equal(run_main(t_notify_order, NULL), 0);
}

/* wait_for: the predicate is checked first and after each wake. */
typedef struct box {
    ts_condition *cond;
    int value;
    int checks;
} box;

static int value_is_3(void *arg) {
    box *b = arg;
    b->checks++;
    return b->value == 3;
}

static void *wait_for_task(void *arg) {
    box *b = arg;
    assert_int_equal(ts_condition_acquire(b->cond), 0);
    int err = ts_condition_wait_for(b->cond, value_is_3, b);
    assert_int_equal(b->value, 3);
    assert_int_equal(ts_condition_release(b->cond), 0);
    return err != 1 ? ts_fail(err, "wait_for") : NULL;
}

static void *t_wait_for(void *arg) {
    (void)arg;
    box b = {.cond = ts_condition_new(NULL)};
    ts_task *t = ts_spawn(wait_for_task, &b);
    for (int i = 1; i <= 3; i++) {
        settle();
        assert_int_equal(ts_condition_acquire(b.cond), 0);
        b.value = i;
        assert_int_equal(ts_condition_notify_all(b.cond), 0);
        assert_int_equal(ts_condition_release(b.cond), 0);
    }
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(b.checks, 4);

    /* Already true: no wait at all, and the predicate's value back. */
    assert_int_equal(ts_condition_acquire(b.cond), 0);
    assert_int_equal(ts_condition_wait_for(b.cond, value_is_3, &b), 1);
    assert_int_equal(ts_condition_release(b.cond), 0);
    /* asyncio checks the lock only when it has to wait. */
    assert_int_equal(ts_condition_wait_for(b.cond, value_is_3, &b), 1);
    b.value = 4;
    assert_int_equal(ts_condition_wait_for(b.cond, value_is_3, &b), -EPERM);
    ts_condition_free(b.cond);
    return NULL;
}

static void test_wait_for(void **state) {
    (void)state;
    assert_int_equal(run_main(t_wait_for, NULL), 0);
}

/* Cancelled while waiting, with the lock held by someone else: the waiter
 * reacquires the lock before it returns -ECANCELED, and holds it. */
static void *t_cancel_while_waiting(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    int order[1], n = 0;
    waiter w = {.cond = c, .lock = l, .order = order, .n = &n};
    ts_task *t = ts_spawn(wait_task, &w);
    settle();
    assert_int_equal(ts_condition_acquire(c), 0);
    ts_task_cancel(t, NULL);
    settle();
    /* Not done: it waits for the lock we hold. */
    assert_false(ts_task_done(t));
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t, &obj, NULL), TS_WAIT_LOCK);
    assert_ptr_equal(obj, l);
    assert_int_equal(ts_condition_release(c), 0);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(w.rc, -ECANCELED);
    assert_true(w.held);
    assert_int_equal(n, 0);
    assert_false(ts_lock_locked(l));
    ts_condition_free(c);
    ts_lock_free(l);
    return NULL;
}

static void test_cancel_while_waiting(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_while_waiting, NULL), 0);
}

/* Notified, then cancelled while reacquiring the lock: it keeps
 * reacquiring, returns -ECANCELED holding the lock, and passes the
 * notification on to the next waiter, which returns 0. */
static void *t_cancel_while_reacquiring(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    int order[2], n = 0;
    waiter w[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.cond = c, .lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(wait_task, &w[i]);
        settle();
    }
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_notify(c, 1), 0);
    settle();
    assert_int_equal(ts_task_awaiting(t[0], NULL, NULL), TS_WAIT_LOCK);
    assert_int_equal(ts_task_awaiting(t[1], NULL, NULL), TS_WAIT_CONDITION);
    ts_task_cancel(t[0], NULL);
    settle();
    assert_int_equal(ts_task_awaiting(t[0], NULL, NULL), TS_WAIT_LOCK);
    assert_int_equal(ts_condition_release(c), 0);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_true(w[0].held);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_true(w[1].held);
    assert_int_equal(n, 1);
    assert_int_equal(order[0], 1);
    ts_condition_free(c);
    ts_lock_free(l);
    return NULL;
}

static void test_cancel_while_reacquiring(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_while_reacquiring, NULL), 0);
}

/* Notified and cancelled before it even ran: the same outcome. */
static void *t_cancel_right_after_notify(void *arg) {
    (void)arg;
    ts_condition *c = ts_condition_new(NULL);   /* owns its lock */
    int order[2], n = 0;
    waiter w[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.cond = c, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(wait_task, &w[i]);
        settle();
    }
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_notify(c, 1), 0);
    ts_task_cancel(t[0], NULL);
    settle();
    assert_int_equal(ts_condition_release(c), 0);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_int_equal(w[0].rc, -ECANCELED);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(w[1].rc, 0);
    assert_int_equal(n, 1);
    assert_int_equal(order[0], 1);
    ts_condition_free(c);
    return NULL;
}

static void test_cancel_right_after_notify(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_right_after_notify, NULL), 0);
}

/* A waiter cancelled before notify is not counted: notify(1) reaches the
 * next one. */
static void *t_cancelled_not_notified(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    int order[2], n = 0;
    waiter w[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.cond = c, .lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(wait_task, &w[i]);
        settle();
    }
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_true(w[0].held);
    assert_int_equal(ts_condition_acquire(c), 0);
    assert_int_equal(ts_condition_notify(c, 1), 0);
    assert_int_equal(ts_condition_release(c), 0);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(order[0], 1);
    ts_condition_free(c);
    ts_lock_free(l);
    return NULL;
}

static void test_cancelled_not_notified(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancelled_not_notified, NULL), 0);
}

/* Freeing a condition with waiters wakes them with TS_ESHUTDOWN, without
 * the lock. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_condition *c = ts_condition_new(l);
    int order[2], n = 0;
    waiter w[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.cond = c, .lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(wait_task, &w[i]);
    }
    settle();
    ts_condition_free(c);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ts_await(t[i], NULL), TS_ESHUTDOWN);
        assert_int_equal(w[i].rc, TS_ESHUTDOWN);
    }
    assert_false(ts_lock_locked(l));
    ts_lock_free(l);
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_notify_order),
        cmocka_unit_test(test_wait_for),
        cmocka_unit_test(test_cancel_while_waiting),
        cmocka_unit_test(test_cancel_while_reacquiring),
        cmocka_unit_test(test_cancel_right_after_notify),
        cmocka_unit_test(test_cancelled_not_notified),
        cmocka_unit_test(test_free_with_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
