/*
 * test_lock.c - ts_lock: mutual exclusion, FIFO hand-over, cancellation at
 * acquire without losing the lock, freeing with waiters, wrong thread.
 *
 * Orderings rely only on the loop's FIFO ready queue: settle() lets every
 * ready task run until it parks.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* A task that takes the lock, notes the order, holds it across one
 * suspension and lets it go. */
typedef struct acquirer {
    ts_lock *lock;
    int id;
    int *order;
    int *n;
    int acquire_rc;
    int owned;        /* ts_lock_owner was this task after acquire */
    int hold_rc;      /* what the suspension while holding returned */
} acquirer;

static void *acquire_task(void *arg) {
    acquirer *a = arg;
    a->acquire_rc = ts_lock_acquire(a->lock);
    if (a->acquire_rc)
        return ts_fail(a->acquire_rc, "acquire");
    a->owned = ts_lock_owner(a->lock) == ts_current_task();
    a->order[(*a->n)++] = a->id;
    a->hold_rc = ts_sleep(0);
    assert_int_equal(ts_lock_release(a->lock), 0);
    return NULL;
}

static void *t_basic(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    assert_non_null(l);
    assert_false(ts_lock_locked(l));
    assert_null(ts_lock_owner(l));
    assert_int_equal(ts_lock_release(l), -EPERM);
    assert_int_equal(ts_lock_acquire(l), 0);
    assert_true(ts_lock_locked(l));
    assert_ptr_equal(ts_lock_owner(l), ts_current_task());
    assert_int_equal(ts_lock_release(l), 0);
    assert_false(ts_lock_locked(l));
    assert_int_equal(ts_lock_release(l), -EPERM);
    ts_lock_free(l);
    ts_lock_free(NULL);
    assert_int_equal(ts_lock_acquire(NULL), -EINVAL);
    assert_int_equal(ts_lock_release(NULL), -EINVAL);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_basic, NULL), 0);
}

/* The waiter is visible to a debugger, and a release hands it the lock at
 * once: the lock never looks free in between. */
static void *t_handover(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    int order[2], n = 0;
    acquirer a = {.lock = l, .id = 1, .order = order, .n = &n};
    assert_int_equal(ts_lock_acquire(l), 0);
    ts_task *t = ts_spawn(acquire_task, &a);
    settle();
    const void *obj = NULL;
    const ts_site *site = NULL;
    assert_int_equal(ts_task_awaiting(t, &obj, &site), TS_WAIT_LOCK);
    assert_ptr_equal(obj, l);
    assert_non_null(site);
    assert_non_null(strstr(site->file, "test_lock.c"));
    assert_int_equal(ts_lock_release(l), 0);
    assert_true(ts_lock_locked(l));
    assert_ptr_equal(ts_lock_owner(l), t);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_true(a.owned);
    assert_false(ts_lock_locked(l));
    ts_lock_free(l);
    return NULL;
}

static void test_handover(void **state) {
    (void)state;
    assert_int_equal(run_main(t_handover, NULL), 0);
}

/* Waiters get the lock in the order they queued, and a task that releases
 * and re-acquires at once queues behind them instead of overtaking. */
static void *t_fifo(void *arg) {
    (void)arg;
    enum { N = 6 };
    ts_lock *l = ts_lock_new();
    int order[N + 1], n = 0;
    acquirer a[N];
    ts_task *t[N];
    assert_int_equal(ts_lock_acquire(l), 0);
    for (int i = 0; i < N; i++) {
        a[i] = (acquirer){.lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
        settle();   /* each queues before the next is spawned */
    }
    assert_int_equal(ts_lock_release(l), 0);
    assert_int_equal(ts_lock_acquire(l), 0);   /* queues behind all N */
    order[n++] = N;
    assert_int_equal(ts_lock_release(l), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    assert_int_equal(n, N + 1);
    for (int i = 0; i <= N; i++)
        assert_int_equal(order[i], i);
    ts_lock_free(l);
    return NULL;
}

static void test_fifo(void **state) {
    (void)state;
    assert_int_equal(run_main(t_fifo, NULL), 0);
}

/* A waiter cancelled while queued gets -ECANCELED, never the lock, and the
 * lock goes to the next one in line. */
static void *t_cancel_waiting(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    int order[3], n = 0;
    acquirer a[3];
    ts_task *t[3];
    assert_int_equal(ts_lock_acquire(l), 0);
    for (int i = 0; i < 3; i++) {
        a[i] = (acquirer){.lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
    }
    settle();
    assert_int_equal(ts_task_cancel(t[1], NULL), 1);
    settle();
    assert_ptr_equal(ts_lock_owner(l), ts_current_task());
    assert_int_equal(ts_await(t[1], NULL), -ECANCELED);
    assert_int_equal(a[1].acquire_rc, -ECANCELED);
    assert_int_equal(ts_lock_release(l), 0);
    assert_int_equal(ts_await(t[0], NULL), 0);
    assert_int_equal(ts_await(t[2], NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_false(ts_lock_locked(l));
    ts_lock_free(l);
    return NULL;
}

static void test_cancel_waiting(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_waiting, NULL), 0);
}

/* Cancelled after the lock was handed to it but before it ran: the lock is
 * its own (acquire returns 0), it releases it, and the cancellation comes
 * at its next suspension.  The next waiter still gets the lock. */
static void *t_cancel_after_handover(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    int order[2], n = 0;
    acquirer a0 = {.lock = l, .id = 0, .order = order, .n = &n};
    acquirer a1 = {.lock = l, .id = 1, .order = order, .n = &n};
    assert_int_equal(ts_lock_acquire(l), 0);
    ts_task *t0 = ts_spawn(acquire_task, &a0);
    ts_task *t1 = ts_spawn(acquire_task, &a1);
    settle();
    assert_int_equal(ts_lock_release(l), 0);
    assert_ptr_equal(ts_lock_owner(l), t0);
    assert_int_equal(ts_task_cancel(t0, NULL), 1);
    assert_int_equal(ts_await(t0, NULL), 0);
    assert_int_equal(a0.acquire_rc, 0);
    assert_true(a0.owned);
    assert_int_equal(a0.hold_rc, -ECANCELED);
    assert_int_equal(ts_await(t1, NULL), 0);
    assert_int_equal(a1.acquire_rc, 0);
    assert_int_equal(n, 2);
    assert_false(ts_lock_locked(l));
    ts_lock_free(l);
    return NULL;
}

static void test_cancel_after_handover(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_after_handover, NULL), 0);
}

/* A cancel requested before acquire is delivered there only if it has to
 * wait; an uncontended acquire succeeds, as asyncio's does. */
static void *t_pending_cancel(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_task *self = ts_current_task();
    assert_int_equal(ts_lock_acquire(l), 0);
    int order[1], n = 0;
    acquirer a = {.lock = l, .id = 0, .order = order, .n = &n};
    ts_task *t = ts_spawn(acquire_task, &a);
    ts_task_cancel(t, NULL);            /* before it ever ran */
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(ts_lock_release(l), 0);
    ts_task_cancel(self, NULL);
    assert_int_equal(ts_lock_acquire(l), 0);
    assert_int_equal(ts_sleep(0), -ECANCELED);
    assert_int_equal(ts_task_uncancel(self), 0);
    assert_int_equal(ts_lock_release(l), 0);
    ts_lock_free(l);
    return NULL;
}

static void test_pending_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_pending_cancel, NULL), 0);
}

/* Freeing a lock with waiters wakes them with TS_ESHUTDOWN. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    int order[2], n = 0;
    acquirer a[2];
    ts_task *t[2];
    assert_int_equal(ts_lock_acquire(l), 0);
    for (int i = 0; i < 2; i++) {
        a[i] = (acquirer){.lock = l, .id = i, .order = order, .n = &n};
        t[i] = ts_spawn(acquire_task, &a[i]);
    }
    settle();
    ts_lock_free(l);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ts_await(t[i], NULL), TS_ESHUTDOWN);
        assert_int_equal(a[i].acquire_rc, TS_ESHUTDOWN);
    }
    assert_int_equal(n, 0);
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

/* From a thread that does not run the lock's loop: TS_EWRONGLOOP and a
 * diagnostic; the lock is untouched. */
static void *foreign_thread(void *arg) {
    ts_lock *l = arg;
    intptr_t bad = 0;
    bad |= ts_lock_acquire(l) != TS_EWRONGLOOP;
    bad |= ts_lock_release(l) != TS_EWRONGLOOP;
    return IPTR(bad);
}

static void *t_wrong_thread(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    assert_int_equal(ts_lock_acquire(l), 0);
    pthread_t th;
    void *bad = IPTR(1);
    diag_reset();
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, l), 0);
    assert_int_equal(pthread_join(th, &bad), 0);
    assert_int_equal(PTRI(bad), 0);
    assert_true(diag_seen[TS_DIAG_WRONG_THREAD] >= 2);
    assert_ptr_equal(ts_lock_owner(l), ts_current_task());
    assert_int_equal(ts_lock_release(l), 0);
    ts_lock_free(l);
    ts_set_diag_handler(NULL, NULL);
    return NULL;
}

static void test_wrong_thread(void **state) {
    (void)state;
    assert_int_equal(run_main(t_wrong_thread, NULL), 0);
}

/* Outside any loop: no lock can be made. */
static void test_no_loop(void **state) {
    (void)state;
    errno = 0;
    assert_null(ts_lock_new());
    assert_int_equal(errno, ESRCH);
}

/* The holder acquiring again gets -EDEADLK at once (asyncio would wait
 * forever); it still holds the lock, and a waiter queued behind it gets
 * it at the release as usual. */
typedef struct behind {
    ts_lock *l;
    int rc;
} behind;

static void *acquire_behind(void *arg) {
    behind *b = arg;
    b->rc = ts_lock_acquire(b->l);
    if (b->rc == 0)
        ts_lock_release(b->l);
    return NULL;
}

static void *t_reacquire_by_holder(void *arg) {
    (void)arg;
    behind b = {.l = ts_lock_new(), .rc = 1};
    assert_int_equal(ts_lock_acquire(b.l), 0);
    ts_task *w = ts_spawn(acquire_behind, &b);
    settle();
    assert_int_equal(ts_lock_acquire(b.l), -EDEADLK);
    assert_ptr_equal(ts_lock_owner(b.l), ts_current_task());
    assert_int_equal(ts_lock_release(b.l), 0);
    assert_int_equal(ts_await(w, NULL), 0);
    assert_int_equal(b.rc, 0);
    assert_false(ts_lock_locked(b.l));
    ts_lock_free(b.l);
    return NULL;
}

static void test_reacquire_by_holder(void **state) {
    (void)state;
    assert_int_equal(run_main(t_reacquire_by_holder, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_handover),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_cancel_waiting),
        cmocka_unit_test(test_cancel_after_handover),
        cmocka_unit_test(test_pending_cancel),
        cmocka_unit_test(test_free_with_waiters),
        cmocka_unit_test(test_wrong_thread),
        cmocka_unit_test(test_no_loop),
        cmocka_unit_test(test_reacquire_by_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
