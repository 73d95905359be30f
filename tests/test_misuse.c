/*
 * test_misuse.c - the misuse issue 14 asks the runtime to catch, and the
 * diagnostics that name it.  Built twice (tests/meson.build): against the
 * release runtime, which must return the error where a compare finds it,
 * and against the debug runtime (TS_TEST_DEBUG_RUNTIME), which must also
 * report it with the call site and the object's creation site.
 *
 *   - a task handle used after it was released: awaited twice, awaited by
 *     two tasks, awaited after its record was reused, detached twice;
 *   - a lock, group, future, event, semaphore (bounded too), condition,
 *     queue, barrier, as_completed iterator or generator used after it
 *     was freed (debug runtime only: in the release runtime that is a use
 *     of freed memory) or after its loop closed (both), reported as such
 *     and not as a wrong-thread call, which a real foreign thread still
 *     gets;
 *   - an executor, process pool, stream, server or subprocess used after
 *     it was freed (debug runtime); none belongs to a loop (the first
 *     three kept past their loop still serve the next);
 *   - a task acquiring a lock it already holds: -EDEADLK at once.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#ifdef TS_TEST_DEBUG_RUNTIME
enum { DEBUG_RUNTIME = 1 };
#else
enum { DEBUG_RUNTIME = 0 };
#endif

/* The last diagnostic contains every one of the NULL-terminated words. */
static void assert_diag_says(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    for (const char *w = first; w; w = va_arg(ap, const char *))
        if (!strstr(diag_last, w))
            fail_msg("diagnostic lacks \"%s\": %s", w, diag_last);
    va_end(ap);
}

static void *value_fn(void *arg) {
    ts_sleep(0);
    return arg;
}

/* ---- task handles ------------------------------------------------------------ */

static void *t_await_twice(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(value_fn, IPTR(7));
    void *r = NULL;
    assert_int_equal(ts_await(t, &r), 0);
    assert_int_equal(PTRI(r), 7);
    diag_reset();
    r = NULL;
    /* The same handle again: refused, no stale result. */
    assert_int_equal(ts_await(t, &r), TS_EFREED);
    assert_null(r);
    if (DEBUG_RUNTIME) {
        assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
        assert_diag_says("task handle used after it was released", "'value_fn'",
                         "spawned at", "test_misuse.c", "used at", "released at",
                         "in t_await_twice()", NULL);
    }
    return NULL;
}

static void test_await_twice(void **state) {
    (void)state;
    assert_int_equal(run_main(t_await_twice, NULL), 0);
}

typedef struct two_waiters {
    ts_task *t;
    int rc[2];
    void *res[2];
} two_waiters;

static void *waiter_fn(void *arg) {
    two_waiters *w = arg;
    int i = w->rc[0] == 1 ? 0 : 1;
    w->rc[i] = 0;
    w->rc[i] = ts_await(w->t, &w->res[i]);
    return NULL;
}

/* Two tasks await one handle: the first owns it, the second is refused
 * at once (it used to succeed too, with the same result). */
static void *t_two_waiters(void *arg) {
    (void)arg;
    two_waiters w = {.rc = {1, 1}};
    w.t = ts_spawn(value_fn, IPTR(3));
    diag_reset();
    ts_task *a = ts_spawn(waiter_fn, &w);
    ts_task *b = ts_spawn(waiter_fn, &w);
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_int_equal(w.rc[0], 0);
    assert_int_equal(PTRI(w.res[0]), 3);
    assert_int_equal(w.rc[1], TS_EFREED);
    if (DEBUG_RUNTIME)
        assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    return NULL;
}

static void test_two_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_two_waiters, NULL), 0);
}

/* The record of a released handle is taken by the next spawn.  The
 * release runtime cannot tell (the stale handle would mean the new task);
 * the debug runtime keeps released records out of reuse for a while, so
 * the stale handle is still caught and the new task is untouched. */
static void *t_await_after_reuse(void *arg) {
    (void)arg;
    ts_task *old = ts_spawn(value_fn, IPTR(1));
    assert_int_equal(ts_await(old, NULL), 0);
    ts_task *fresh = ts_spawn(value_fn, IPTR(2));
    assert_ptr_not_equal(fresh, old);
    diag_reset();
    void *r = NULL;
    assert_int_equal(ts_await(old, &r), TS_EFREED);
    assert_null(r);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_diag_says("task handle used after it was released", NULL);
    assert_int_equal(ts_await(fresh, &r), 0);
    assert_int_equal(PTRI(r), 2);
    return NULL;
}

static void test_await_after_reuse(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_await_after_reuse, NULL), 0);
}

/* Two handles, three gives: the third is refused (it used to drop a
 * reference nobody owned, and free the task under the loop). */
static void *t_detach_twice(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(value_fn, NULL);
    ts_task_ref(t);
    ts_task_detach(t);
    ts_task_detach(t);
    diag_reset();
    ts_task_detach(t);
    if (DEBUG_RUNTIME) {
        assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
        assert_diag_says("task handle used after it was released", "ts_task_detach()", NULL);
    }
    assert_int_equal(ts_await(t, NULL), TS_EFREED);
    ts_sleep(0);
    ts_sleep(0);   /* the task ends normally */
    return NULL;
}

static void test_detach_twice(void **state) {
    (void)state;
    assert_int_equal(run_main(t_detach_twice, NULL), 0);
}

/* ---- locks -------------------------------------------------------------------- */

static void *t_lock_reacquire(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    assert_int_equal(ts_lock_acquire(l), 0);
    diag_reset();
    assert_int_equal(ts_lock_acquire(l), -EDEADLK);   /* not a hang */
    assert_ptr_equal(ts_lock_owner(l), ts_current_task());
    if (DEBUG_RUNTIME) {
        assert_int_equal(diag_seen[TS_DIAG_LOCK_REACQUIRED], 1);
        assert_diag_says("lock it already holds", "created at", "test_misuse.c",
                         "used at", "in t_lock_reacquire()", NULL);
    } else {
        assert_int_equal(diag_seen[TS_DIAG_LOCK_REACQUIRED], 0);
    }
    assert_int_equal(ts_lock_release(l), 0);
    assert_int_equal(ts_lock_locked(l), 0);
    ts_lock_free(l);
    return NULL;
}

static void test_lock_reacquire(void **state) {
    (void)state;
    assert_int_equal(run_main(t_lock_reacquire, NULL), 0);
}

static void *t_lock_after_free(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    ts_lock_free(l);
    diag_reset();
    assert_int_equal(ts_lock_acquire(l), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_lock used after it was freed",
                     "created at", "test_misuse.c", "in t_lock_after_free()",
                     "released at", NULL);
    assert_int_equal(ts_lock_release(l), TS_EFREED);
    ts_lock_free(l);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 3);
    return NULL;
}

static void test_lock_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();   /* the release runtime gave the memory back */
    assert_int_equal(run_main(t_lock_after_free, NULL), 0);
}

/* Objects kept past their loop. */
static ts_lock *orphan_lock;
static ts_group *orphan_group;
static ts_future *orphan_future;

static void *make_orphans(void *arg) {
    (void)arg;
    orphan_lock = ts_lock_new();
    orphan_group = ts_group_new();
    orphan_future = ts_future_new();
    return NULL;
}

static void *use_orphans(void *arg) {
    (void)arg;
    diag_reset();
    assert_int_equal(ts_lock_acquire(orphan_lock), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_lock used after its loop was closed",
                     "created at", "in make_orphans()", "used at", "in use_orphans()", NULL);
    assert_int_equal(ts_group_wait(orphan_group, 0), TS_EFREED);
    assert_diag_says("ts_group used after its loop was closed", NULL);
    errno = 0;
    assert_null(ts_group_spawn(orphan_group, value_fn, NULL));
    assert_int_equal(errno, -TS_EFREED);
    assert_int_equal(ts_future_set_result(orphan_future, NULL), TS_EFREED);
    assert_diag_says("ts_future used after its loop was closed", "in make_orphans()", NULL);
    /* Freeing them is cleanup, not misuse. */
    ts_lock_free(orphan_lock);
    ts_group_free(orphan_group);
    ts_future_free(orphan_future);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 4);
    assert_int_equal(diag_seen[TS_DIAG_FUTURE_DESTROYED_PENDING], 1);   /* as before */
    return NULL;
}

static void test_after_loop_closed(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(make_orphans, NULL), 0);
    assert_int_equal(run_main(use_orphans, NULL), 0);
}

typedef struct foreign {
    ts_lock *l;
    int rc;
} foreign;

static void *foreign_thread(void *arg) {
    foreign *f = arg;
    f->rc = ts_lock_release(f->l);
    return NULL;
}

/* A genuine call from another thread is still named as one. */
static void *t_wrong_thread(void *arg) {
    (void)arg;
    foreign f = {.l = ts_lock_new(), .rc = 1};
    ts_lock_acquire(f.l);
    diag_reset();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, foreign_thread, &f), 0);
    pthread_join(th, NULL);
    assert_int_equal(f.rc, TS_EWRONGLOOP);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 1);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
    ts_lock_release(f.l);
    ts_lock_free(f.l);
    return NULL;
}

static void test_wrong_thread(void **state) {
    (void)state;
    assert_int_equal(run_main(t_wrong_thread, NULL), 0);
}

/* ---- groups ------------------------------------------------------------------ */

static void *t_group_after_free(void *arg) {
    (void)arg;
    ts_group *g = ts_group_new();
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    diag_reset();
    assert_int_equal(ts_group_wait(g, 0), TS_EFREED);
    assert_diag_says("object used after free/close", "ts_group used after it was freed",
                     "created at", "in t_group_after_free()", "released at", NULL);
    return NULL;
}

static void *t_future_after_free(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    ts_future_set_result(f, IPTR(1));
    ts_future_free(f);
    diag_reset();
    void *r = NULL;
    assert_int_equal(ts_future_await(f, &r), TS_EFREED);
    assert_null(r);
    assert_diag_says("object used after free/close", "ts_future used after it was freed",
                     "created at", "in t_future_after_free()", "used at", NULL);
    ts_future_free(f);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 2);
    return NULL;
}

static void test_future_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_future_after_free, NULL), 0);
}

static void *t_event_after_free(void *arg) {
    (void)arg;
    ts_event *e = ts_event_new();
    ts_event_free(e);
    diag_reset();
    assert_int_equal(ts_event_wait(e), TS_EFREED);
    assert_diag_says("ts_event used after it was freed", "created at",
                     "in t_event_after_free()", "used at", NULL);
    return NULL;
}

static void test_event_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_event_after_free, NULL), 0);
}

static void test_group_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_group_after_free, NULL), 0);
}

/* ---- semaphores, conditions, queues, barriers ------------------------------------ */

/* The last diagnostic names the free at `line` of this file, in func(). */
static void assert_released_at(int line, const char *func) {
    const char *r = strstr(diag_last, "released at");
    if (!r)
        fail_msg("diagnostic names no free site: %s", diag_last);
    char want[96];
    snprintf(want, sizeof want, "test_misuse.c:%d in %s()", line, func);
    if (!strstr(r, want))
        fail_msg("diagnostic lacks \"%s\" after \"released at\": %s", want, diag_last);
}

static void *t_semaphore_after_free(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_semaphore_new(1);
    ts_semaphore *b = ts_bounded_semaphore_new(1);
    assert_int_equal(ts_semaphore_acquire(s), 0);
    int freed_line = __LINE__ + 1;
    ts_semaphore_free(s);
    ts_semaphore_free(b);
    diag_reset();
    assert_int_equal(ts_semaphore_acquire(s), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_semaphore used after it was freed",
                     "created at", "test_misuse.c", "in t_semaphore_after_free()",
                     "used at", NULL);
    assert_released_at(freed_line, "t_semaphore_after_free");
    assert_int_equal(ts_semaphore_release(s), TS_EFREED);
    assert_int_equal(ts_semaphore_release(b), TS_EFREED);
    assert_diag_says("ts_bounded_semaphore used after it was freed", NULL);
    assert_int_equal(ts_semaphore_locked(s), 0);
    assert_int_equal(ts_semaphore_value(b), 0);
    ts_semaphore_free(s);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 6);
    return NULL;
}

static void test_semaphore_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();   /* the release runtime gave the memory back */
    assert_int_equal(run_main(t_semaphore_after_free, NULL), 0);
}

static int always_true(void *arg) {
    (void)arg;
    return 1;
}

static void *t_condition_after_free(void *arg) {
    (void)arg;
    ts_condition *c = ts_condition_new(NULL);   /* owns its lock */
    ts_lock *l = ts_lock_new();
    ts_condition *shared = ts_condition_new(l);
    int freed_line = __LINE__ + 1;
    ts_condition_free(c);
    ts_condition_free(shared);
    diag_reset();
    assert_int_equal(ts_condition_acquire(c), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_condition used after it was freed",
                     "created at", "in t_condition_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_condition_after_free");
    assert_int_equal(ts_condition_wait(c), TS_EFREED);
    /* Even a predicate that is already true does not run on a freed one. */
    assert_int_equal(ts_condition_wait_for(c, always_true, NULL), TS_EFREED);
    assert_int_equal(ts_condition_notify(c, 1), TS_EFREED);
    assert_int_equal(ts_condition_notify_all(shared), TS_EFREED);
    assert_int_equal(ts_condition_release(shared), TS_EFREED);
    ts_condition_free(c);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 7);
    /* The lock it did not own lives on. */
    assert_int_equal(ts_lock_acquire(l), 0);
    assert_int_equal(ts_lock_release(l), 0);
    ts_lock_free(l);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 7);
    return NULL;
}

static void test_condition_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_condition_after_free, NULL), 0);
}

static int cmp_ptr(const void *a, const void *b) {
    return (a > b) - (a < b);
}

static void *t_queue_after_free(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    ts_queue *lifo = ts_lifo_queue_new(1);
    ts_queue *prio = ts_priority_queue_new(0, cmp_ptr);
    assert_int_equal(ts_queue_put_nowait(q, IPTR(1)), 0);   /* its storage goes too */
    int freed_line = __LINE__ + 1;
    ts_queue_free(q);
    ts_queue_free(lifo);
    ts_queue_free(prio);
    diag_reset();
    void *item = NULL;
    assert_int_equal(ts_queue_get(q, &item), TS_EFREED);
    assert_null(item);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_queue used after it was freed",
                     "created at", "in t_queue_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_queue_after_free");
    assert_int_equal(ts_queue_put(lifo, IPTR(2)), TS_EFREED);
    assert_int_equal(ts_queue_put_nowait(prio, IPTR(3)), TS_EFREED);
    assert_int_equal(ts_queue_get_nowait(q, &item), TS_EFREED);
    assert_int_equal(ts_queue_task_done(q), TS_EFREED);
    assert_int_equal(ts_queue_join(q), TS_EFREED);
    ts_queue_shutdown(q, 1);
    assert_int_equal(ts_queue_size(q), 0);
    assert_int_equal(ts_queue_empty(q), 1);
    ts_queue_free(q);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 10);
    return NULL;
}

static void test_queue_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_queue_after_free, NULL), 0);
}

static void *t_barrier_after_free(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(2);
    int freed_line = __LINE__ + 1;
    ts_barrier_free(b);
    diag_reset();
    unsigned index = 99;
    assert_int_equal(ts_barrier_wait(b, &index), TS_EFREED);
    assert_int_equal(index, 99);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_barrier used after it was freed",
                     "created at", "in t_barrier_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_barrier_after_free");
    ts_barrier_reset(b);
    ts_barrier_abort(b);
    assert_int_equal(ts_barrier_parties(b), 0);
    assert_int_equal(ts_barrier_broken(b), 0);
    ts_barrier_free(b);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 6);
    return NULL;
}

static void test_barrier_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_barrier_after_free, NULL), 0);
}

/* The same four kept past their loop: both runtimes catch this, and
 * freeing them then is cleanup, not misuse.  The second loop is usually
 * allocated where the first was, so this also proves the check compares
 * loop ids, not addresses (it used to park on the dead semaphore). */
static struct {
    ts_semaphore *sem, *bounded;
    ts_condition *cond;
    ts_queue *queue;
    ts_barrier *barrier;
} sync_orphans;

static void *make_sync_orphans(void *arg) {
    (void)arg;
    sync_orphans.sem = ts_semaphore_new(0);
    sync_orphans.bounded = ts_bounded_semaphore_new(1);
    sync_orphans.cond = ts_condition_new(NULL);
    sync_orphans.queue = ts_queue_new(4);
    sync_orphans.barrier = ts_barrier_new(3);
    assert_int_equal(ts_queue_put_nowait(sync_orphans.queue, IPTR(1)), 0);
    assert_int_equal(ts_queue_put_nowait(sync_orphans.queue, IPTR(2)), 0);
    return NULL;
}

static void *use_sync_orphans(void *arg) {
    (void)arg;
    diag_reset();
    assert_int_equal(ts_semaphore_acquire(sync_orphans.sem), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close",
                     "ts_semaphore used after its loop was closed", "created at",
                     "in make_sync_orphans()", "used at", "in use_sync_orphans()", NULL);
    assert_int_equal(ts_semaphore_release(sync_orphans.bounded), TS_EFREED);
    assert_diag_says("ts_bounded_semaphore used after its loop was closed",
                     "in make_sync_orphans()", NULL);
    assert_int_equal(ts_condition_acquire(sync_orphans.cond), TS_EFREED);
    assert_diag_says("ts_condition used after its loop was closed", "in make_sync_orphans()",
                     "used at", "in use_sync_orphans()", NULL);
    assert_int_equal(ts_condition_notify_all(sync_orphans.cond), TS_EFREED);
    void *item = NULL;
    assert_int_equal(ts_queue_get(sync_orphans.queue, &item), TS_EFREED);
    assert_null(item);
    assert_diag_says("ts_queue used after its loop was closed", "in make_sync_orphans()",
                     "used at", "in use_sync_orphans()", NULL);
    assert_int_equal(ts_queue_put_nowait(sync_orphans.queue, IPTR(3)), TS_EFREED);
    assert_int_equal(ts_barrier_wait(sync_orphans.barrier, NULL), TS_EFREED);
    assert_diag_says("ts_barrier used after its loop was closed", "in make_sync_orphans()",
                     "used at", "in use_sync_orphans()", NULL);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 7);
    /* Readers may still look at a live object (as from another thread). */
    assert_int_equal(ts_queue_size(sync_orphans.queue), 2);
    assert_int_equal(ts_barrier_parties(sync_orphans.barrier), 3);
    assert_int_equal(ts_semaphore_value(sync_orphans.bounded), 1);
    /* Freeing them is cleanup, not misuse (ASan checks nothing leaks). */
    ts_semaphore_free(sync_orphans.sem);
    ts_semaphore_free(sync_orphans.bounded);
    ts_condition_free(sync_orphans.cond);
    ts_queue_free(sync_orphans.queue);
    ts_barrier_free(sync_orphans.barrier);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 7);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    return NULL;
}

static void test_sync_after_loop_closed(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(make_sync_orphans, NULL), 0);
    assert_int_equal(run_main(use_sync_orphans, NULL), 0);
}

static void *t_as_completed_after_free(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(value_fn, IPTR(1));
    ts_as_completed *ac = ts_as_completed_new(&t, 1, TS_FOREVER);
    int freed_line = __LINE__ + 1;
    ts_as_completed_free(ac);
    diag_reset();
    ts_task *next = t;
    assert_int_equal(ts_as_completed_next(ac, &next), TS_EFREED);
    assert_null(next);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_diag_says("ts_as_completed used after it was freed", "created at",
                     "in t_as_completed_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_as_completed_after_free");
    ts_as_completed_free(ac);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 2);
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}

static void test_as_completed_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_as_completed_after_free, NULL), 0);
}

static ts_as_completed *orphan_ac;

static void *make_orphan_ac(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(value_fn, IPTR(1));
    orphan_ac = ts_as_completed_new(&t, 1, 60.0);   /* a timer pending at close */
    assert_int_equal(ts_await(t, NULL), 0);
    return NULL;
}

static void *use_orphan_ac(void *arg) {
    (void)arg;
    diag_reset();
    ts_task *next = NULL;
    assert_int_equal(ts_as_completed_next(orphan_ac, &next), TS_EFREED);
    assert_diag_says("ts_as_completed used after its loop was closed",
                     "in make_orphan_ac()", "used at", "in use_orphan_ac()", NULL);
    ts_as_completed_free(orphan_ac);   /* cleanup: no report, no touch of the old loop */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    return NULL;
}

static void test_as_completed_after_loop_closed(void **state) {
    (void)state;
    assert_int_equal(run_main(make_orphan_ac, NULL), 0);
    assert_int_equal(run_main(use_orphan_ac, NULL), 0);
}

/* ---- generators ------------------------------------------------------------------ */

static int count_to_two(ts_gen *g, void *arg) {
    (void)arg;
    for (intptr_t i = 1; i <= 2; i++) {
        int err = ts_yield(g, IPTR(i));
        if (err)
            return err;
    }
    return 0;
}

static void *t_gen_after_close(void *arg) {
    (void)arg;
    ts_gen *g = ts_gen_new(count_to_two, NULL);
    void *v = NULL;
    assert_int_equal(ts_gen_next(g, &v), 0);
    int closed_line = __LINE__ + 1;
    assert_int_equal(ts_gen_close(g), 0);
    diag_reset();
    assert_int_equal(ts_gen_next(g, &v), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_gen used after it was freed",
                     "created at", "in t_gen_after_close()", "used at", NULL);
    assert_released_at(closed_line, "t_gen_after_close");
    assert_int_equal(ts_yield(g, NULL), TS_EFREED);
    assert_int_equal(ts_gen_last_error(g), TS_EFREED);
    assert_int_equal(ts_gen_close(g), TS_EFREED);   /* a double close is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 4);
    return NULL;
}

static void test_gen_after_close(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_gen_after_close, NULL), 0);
}

/* Kept past their loop: one never started, one run to its end. */
static ts_gen *orphan_gen_new, *orphan_gen_done;

static void *make_orphan_gens(void *arg) {
    (void)arg;
    orphan_gen_new = ts_gen_new(count_to_two, NULL);
    orphan_gen_done = ts_gen_new(count_to_two, NULL);
    void *v;
    while (ts_gen_next(orphan_gen_done, &v) == 0)
        ;
    assert_int_equal(ts_gen_last_error(orphan_gen_done), TS_EOF);
    return NULL;
}

static void *use_orphan_gens(void *arg) {
    (void)arg;
    diag_reset();
    void *v = NULL;
    assert_int_equal(ts_gen_next(orphan_gen_new, &v), TS_EFREED);
    assert_null(v);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("ts_gen used after its loop was closed", "in make_orphan_gens()",
                     "used at", "in use_orphan_gens()", NULL);
    assert_int_equal(ts_gen_next(orphan_gen_done, &v), TS_EFREED);
    assert_int_equal(ts_yield(orphan_gen_done, NULL), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 3);
    /* A reader may still look at a live generator. */
    assert_int_equal(ts_gen_last_error(orphan_gen_done), TS_EOF);
    /* Closing them is cleanup, not misuse (ASan checks nothing leaks). */
    assert_int_equal(ts_gen_close(orphan_gen_new), 0);
    assert_int_equal(ts_gen_close(orphan_gen_done), 0);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 3);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    return NULL;
}

static void test_gen_after_loop_closed(void **state) {
    (void)state;
    assert_int_equal(run_main(make_orphan_gens, NULL), 0);
    assert_int_equal(run_main(use_orphan_gens, NULL), 0);
}

/* ---- executors ------------------------------------------------------------------- */

static void *double_it(void *arg) { return IPTR((intptr_t)arg * 2); }

static void *t_executor_after_free(void *arg) {
    (void)arg;
    ts_executor *ex = ts_executor_new(1);
    void *r = NULL;
    assert_int_equal(ts_run_in_executor(ex, double_it, IPTR(21), &r), 0);
    assert_ptr_equal(r, IPTR(42));
    int freed_line = __LINE__ + 1;
    ts_executor_free(ex);
    diag_reset();
    r = NULL;
    assert_int_equal(ts_run_in_executor(ex, double_it, IPTR(1), &r), TS_EFREED);
    assert_null(r);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_executor used after it was freed",
                     "created at", "in t_executor_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_executor_after_free");
    assert_int_equal(ts_executor_shutdown(ex, 1, 1), TS_EFREED);
    assert_int_equal(ts_executor_max_threads(ex), 0);
    ts_executor_free(ex);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 4);
    return NULL;
}

static void test_executor_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_executor_after_free, NULL), 0);
}

/* A pool belongs to no loop: one made on a loop that has closed still
 * serves the next (both runtimes), and that is no misuse. */
static ts_executor *kept_executor;

static void *make_kept_executor(void *arg) {
    (void)arg;
    kept_executor = ts_executor_new(2);
    void *r = NULL;
    assert_int_equal(ts_run_in_executor(kept_executor, double_it, IPTR(2), &r), 0);
    assert_ptr_equal(r, IPTR(4));
    return NULL;
}

static void *use_kept_executor(void *arg) {
    (void)arg;
    diag_reset();
    void *r = NULL;
    assert_int_equal(ts_run_in_executor(kept_executor, double_it, IPTR(5), &r), 0);
    assert_ptr_equal(r, IPTR(10));
    assert_int_equal(ts_executor_max_threads(kept_executor), 2);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    return NULL;
}

static void test_executor_after_loop_closed(void **state) {
    (void)state;
    assert_int_equal(run_main(make_kept_executor, NULL), 0);
    assert_int_equal(run_main(use_kept_executor, NULL), 0);
    ts_executor_free(kept_executor);   /* from no loop at all: fine too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
}

/* ---- process pools --------------------------------------------------------------- */

/* Runs in a worker process: answers with its argument's first byte + 1. */
static int plus_one_job(const void *arg, size_t len, void **res, size_t *res_len) {
    char *out = len ? malloc(1) : NULL;
    if (!out)
        return -EINVAL;
    out[0] = (char)(((const char *)arg)[0] + 1);
    *res = out;
    *res_len = 1;
    return 0;
}

static void *t_procpool_after_free(void *arg) {
    (void)arg;
    ts_procpool *pool = NULL;
    assert_int_equal(ts_procpool_new(1, &pool), 0);
    char in = 'a';
    void *res = NULL;
    size_t len = 0;
    assert_int_equal(ts_procpool_run(pool, plus_one_job, &in, 1, &res, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(((char *)res)[0], 'b');
    free(res);
    int freed_line = __LINE__ + 1;
    ts_procpool_free(pool);
    diag_reset();
    assert_int_equal(ts_procpool_run(pool, plus_one_job, &in, 1, &res, &len), TS_EFREED);
    assert_null(res);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_procpool used after it was freed",
                     "created at", "in t_procpool_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_procpool_after_free");
    assert_int_equal(ts_procpool_size(pool), 0);
    assert_string_equal(ts_procpool_last_error(pool), "");
    ts_procpool_free(pool);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 4);
    return NULL;
}

static void test_procpool_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_procpool_after_free, NULL), 0);
}

/* An idle pool belongs to no loop: one kept past its loop serves the
 * next (both runtimes), and that is no misuse. */
static ts_procpool *kept_pool;

static void *make_kept_pool(void *arg) {
    (void)arg;
    assert_int_equal(ts_procpool_new(1, &kept_pool), 0);
    char in = 'x';
    void *res = NULL;
    assert_int_equal(ts_procpool_run(kept_pool, plus_one_job, &in, 1, &res, NULL), 0);
    free(res);
    return NULL;
}

static void *use_kept_pool(void *arg) {
    (void)arg;
    diag_reset();
    char in = '1';
    void *res = NULL;
    assert_int_equal(ts_procpool_run(kept_pool, plus_one_job, &in, 1, &res, NULL), 0);
    assert_int_equal(((char *)res)[0], '2');
    free(res);
    assert_int_equal(ts_procpool_size(kept_pool), 1);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    return NULL;
}

static void test_procpool_after_loop_closed(void **state) {
    (void)state;
    assert_int_equal(run_main(make_kept_pool, NULL), 0);
    assert_int_equal(run_main(use_kept_pool, NULL), 0);
    ts_procpool_free(kept_pool);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
}

/* ---- streams --------------------------------------------------------------------- */

static void *t_stream_after_free(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ts_stream *s = NULL;
    assert_int_equal(ts_stream_new(sv[0], &s), 0);
    assert_int_equal(ts_stream_write(s, "hi", 2), 0);
    int freed_line = __LINE__ + 1;
    ts_stream_free(s);
    diag_reset();
    char buf[4];
    assert_int_equal(ts_stream_read(s, buf, sizeof buf), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_stream used after it was freed",
                     "created at", "in t_stream_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_stream_after_free");
    assert_int_equal(ts_stream_write(s, "x", 1), TS_EFREED);
    assert_int_equal(ts_stream_drain(s), TS_EFREED);
    assert_int_equal(ts_stream_write_eof(s), TS_EFREED);
    assert_int_equal(ts_stream_wait_closed(s), TS_EFREED);
    ts_stream_close(s);
    assert_int_equal(ts_stream_fd(s), -1);
    assert_int_equal(ts_stream_write_buffer_size(s), 0);
    ts_stream_free(s);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 9);
    /* What was written before the free still arrives, then end of stream. */
    char got[3] = {0};
    assert_int_equal(read(sv[1], got, 2), 2);
    assert_string_equal(got, "hi");
    close(sv[1]);
    return NULL;
}

static void test_stream_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_stream_after_free, NULL), 0);
}

/* A stream is tied to no loop: one kept past its loop serves the next
 * (both runtimes), and that is no misuse. */
static ts_stream *kept_stream;
static int kept_peer = -1;

static void *make_kept_stream(void *arg) {
    (void)arg;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(ts_stream_new(sv[0], &kept_stream), 0);
    kept_peer = sv[1];
    return NULL;
}

static void *use_kept_stream(void *arg) {
    (void)arg;
    diag_reset();
    assert_int_equal(write(kept_peer, "ok", 2), 2);
    char buf[3] = {0};
    size_t got = 0;
    assert_int_equal(ts_stream_read_exactly(kept_stream, buf, 2, &got), 0);
    assert_string_equal(buf, "ok");
    ts_stream_free(kept_stream);
    close(kept_peer);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 0);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    return NULL;
}

static void test_stream_after_loop_closed(void **state) {
    (void)state;
    assert_int_equal(run_main(make_kept_stream, NULL), 0);
    assert_int_equal(run_main(use_kept_stream, NULL), 0);
}

/* ---- servers --------------------------------------------------------------------- */

static int echo_nothing(ts_stream *s, void *arg) {
    (void)s;
    (void)arg;
    return 0;
}

static void *t_server_after_free(void *arg) {
    (void)arg;
    ts_server *srv = NULL;
    assert_int_equal(ts_start_server(echo_nothing, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    assert_true(ts_server_port(srv) > 0);
    int freed_line = __LINE__ + 1;
    ts_server_free(srv);
    diag_reset();
    assert_int_equal(ts_server_wait_closed(srv), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_server used after it was freed",
                     "created at", "in t_server_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_server_after_free");
    assert_int_equal(ts_serve_forever(srv), TS_EFREED);
    assert_int_equal(ts_server_port(srv), TS_EFREED);
    assert_int_equal(ts_server_fd(srv, 0), -1);
    assert_int_equal(ts_server_connections(srv), 0);
    ts_server_close(srv);
    ts_server_abort_clients(srv);
    ts_server_free(srv);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 8);
    return NULL;
}

static void test_server_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_server_after_free, NULL), 0);
}

/* ---- subprocesses ---------------------------------------------------------------- */

static void *t_process_after_free(void *arg) {
    (void)arg;
    ts_process *p = NULL;
    assert_int_equal(ts_process_spawn_shell("exit 3", NULL, &p), 0);
    int rc = -1;
    assert_int_equal(ts_process_wait(p, &rc), 0);
    assert_int_equal(rc, 3);
    int freed_line = __LINE__ + 1;
    ts_process_free(p);
    diag_reset();
    assert_int_equal(ts_process_wait(p, &rc), TS_EFREED);
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 1);
    assert_int_equal(diag_seen[TS_DIAG_WRONG_THREAD], 0);
    assert_diag_says("object used after free/close", "ts_process used after it was freed",
                     "created at", "in t_process_after_free()", "used at", NULL);
    assert_released_at(freed_line, "t_process_after_free");
    assert_int_equal(ts_process_kill(p, SIGTERM), TS_EFREED);
    assert_int_equal(ts_process_returncode(p, &rc), TS_EFREED);
    assert_int_equal(ts_process_pid(p), -1);
    assert_int_equal(ts_process_close_stdin(p), TS_EFREED);
    ts_process_free(p);   /* a double free is caught too */
    assert_int_equal(diag_seen[TS_DIAG_USE_AFTER_FREE], 6);
    return NULL;
}

static void test_process_after_free(void **state) {
    (void)state;
    if (!DEBUG_RUNTIME)
        skip();
    assert_int_equal(run_main(t_process_after_free, NULL), 0);
}

static void test_strerror(void **state) {
    (void)state;
    assert_string_equal(ts_err_name(TS_EFREED), "TS_EFREED");
    assert_non_null(strstr(ts_strerror(TS_EFREED), "after free/close"));
    assert_non_null(strstr(ts_strerror(TS_EGROUP), "several errors"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_await_twice),
        cmocka_unit_test(test_two_waiters),
        cmocka_unit_test(test_await_after_reuse),
        cmocka_unit_test(test_detach_twice),
        cmocka_unit_test(test_lock_reacquire),
        cmocka_unit_test(test_lock_after_free),
        cmocka_unit_test(test_after_loop_closed),
        cmocka_unit_test(test_wrong_thread),
        cmocka_unit_test(test_group_after_free),
        cmocka_unit_test(test_future_after_free),
        cmocka_unit_test(test_event_after_free),
        cmocka_unit_test(test_semaphore_after_free),
        cmocka_unit_test(test_condition_after_free),
        cmocka_unit_test(test_queue_after_free),
        cmocka_unit_test(test_barrier_after_free),
        cmocka_unit_test(test_sync_after_loop_closed),
        cmocka_unit_test(test_as_completed_after_free),
        cmocka_unit_test(test_as_completed_after_loop_closed),
        cmocka_unit_test(test_gen_after_close),
        cmocka_unit_test(test_gen_after_loop_closed),
        cmocka_unit_test(test_executor_after_free),
        cmocka_unit_test(test_executor_after_loop_closed),
        cmocka_unit_test(test_procpool_after_free),
        cmocka_unit_test(test_procpool_after_loop_closed),
        cmocka_unit_test(test_stream_after_free),
        cmocka_unit_test(test_stream_after_loop_closed),
        cmocka_unit_test(test_server_after_free),
        cmocka_unit_test(test_process_after_free),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
