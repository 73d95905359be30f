/*
 * semaphore.c - asyncio.Semaphore and asyncio.BoundedSemaphore.
 *
 * value counts the free permits.  Invariants:
 *   - A release with waiters does not raise value: it hands the permit
 *     straight to the longest waiter (FIFO), with a success wake, which is
 *     final (internal.h).  So a permit handed to a task that is then
 *     cancelled is still that task's to release, and a waiter cancelled
 *     while queued (already unlinked) never receives one.
 *   - Fairness as asyncio's: the semaphore stays locked while a waiter is
 *     queued *or* has been handed a permit and not run yet (it sits on
 *     `handed` until it does).  Meanwhile acquire queues even if a release
 *     raised value, so a task that releases and at once re-acquires waits
 *     behind the woken one (FIFO 1,2,3,4).  When the last handed waiter
 *     runs, it passes the permits that piled up in value to the waiters
 *     queued behind it (asyncio's "wake up as many as are allowed").
 *   - A bounded semaphore never holds more than `bound` permits: a release
 *     that would exceed it returns -EOVERFLOW and changes nothing (as
 *     asyncio's check, made before any waiter is woken).  An unbounded one
 *     refuses to pass UINT_MAX the same way instead of wrapping.
 *
 * Freeing a semaphore wakes its waiters with TS_ESHUTDOWN (they hold no
 * permit and must not touch it again).  It starts with a ts__obj header
 * (objcheck.c): a use after free, or after its loop closed, returns
 * TS_EFREED and is reported with the creation, call and free sites.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

struct ts_semaphore {
    ts__obj obj;        /* first: the loop, the creation site, live/freed */
    unsigned value;     /* free permits */
    unsigned bound;     /* the most permits a bounded semaphore may hold */
    int bounded;
    ts__node waiters;   /* ts__waiter.node, longest waiter first */
    ts__node handed;    /* waiters handed a permit, not yet running */
};

/* w->value of a handed waiter whose semaphore was freed before it ran. */
static char semaphore_gone;

static ts_semaphore *semaphore_new(int value, int bounded, const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    /* Signed, so that -1 is refused (asyncio's ValueError) instead of
     * becoming 4 billion permits. */
    if (value < 0) {
        errno = EINVAL;
        return NULL;
    }
    ts_semaphore *s = calloc(1, sizeof *s);
    if (!s) {
        errno = ENOMEM;
        return NULL;
    }
    ts__obj_init(&s->obj, loop, bounded ? "ts_bounded_semaphore" : "ts_semaphore", site);
    s->value = (unsigned)value;
    s->bound = bounded ? (unsigned)value : UINT_MAX;
    s->bounded = bounded;
    ts__list_init(&s->waiters);
    ts__list_init(&s->handed);
    TS_TRACE_RESOURCE_CREATE(s, TS_RES_SEMAPHORE, value, site);
    return s;
}

ts_semaphore *ts_semaphore_new_at(int value, const ts_site *site) {
    return semaphore_new(value, 0, site);
}

ts_semaphore *ts_bounded_semaphore_new_at(int value, const ts_site *site) {
    return semaphore_new(value, 1, site);
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
ts_semaphore *(ts_semaphore_new)(int value) { return semaphore_new(value, 0, NULL); }

ts_semaphore *(ts_bounded_semaphore_new)(int value) {
    return semaphore_new(value, 1, NULL);
}

void (ts_semaphore_free)(ts_semaphore *s) { ts_semaphore_free_at(s, NULL); }

void ts_semaphore_free_at(ts_semaphore *s, const ts_site *site) {
    if (s && ts__obj_orphaned(&s->obj)) {
        /* Its loop closed: the waiters' records went with their stacks. */
        TS_TRACE_RESOURCE_FREE(s);
        ts__obj_free(&s->obj, site);
        return;
    }
    if (!s || ts__obj_check(&s->obj, "ts_semaphore_free", site))
        return;
    ts__node *n;
    while ((n = ts__list_pop_front(&s->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, TS_ESHUTDOWN);
    /* They hold their permit; tell them not to come back to s. */
    while ((n = ts__list_pop_front(&s->handed)))
        ts__container_of(n, ts__waiter, node)->value = &semaphore_gone;
    TS_TRACE_RESOURCE_FREE(s);
    ts__obj_free(&s->obj, site);
}

/* Acquire would wait (see the fairness invariant above). */
static int is_locked(const ts_semaphore *s) {
    return s->value == 0 || !ts__list_empty(&s->waiters) || !ts__list_empty(&s->handed);
}

/* Give one permit to the longest waiter still parked; 0 if none.  The
 * waiter stays on `handed` until it runs. */
static int hand_to_first(ts_semaphore *s) {
    ts__node *n;
    while ((n = ts__list_pop_front(&s->waiters))) {
        ts__waiter *w = ts__container_of(n, ts__waiter, node);
        if (ts__wake(w->task, 0)) {
            ts__list_push_back(&s->handed, &w->node);
            TS_TRACE_RESOURCE_ACQUIRED(s, w->task);
            return 1;
        }
    }
    return 0;
}

/* A handed waiter has run: once none is left in flight, the permits
 * released meanwhile go to the waiters that queued behind it. */
static void pass_on_piled_permits(ts_semaphore *s) {
    if (!ts__list_empty(&s->handed))
        return;
    while (s->value > 0 && hand_to_first(s))
        s->value--;
}

int ts_semaphore_acquire_at(ts_semaphore *s, const ts_site *site) {
    if (!s)
        return -EINVAL;
    int err = ts__obj_check(&s->obj, "ts_semaphore_acquire", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (!is_locked(s)) {
        s->value--;
        TS_TRACE_RESOURCE_ACQUIRED(s, self);
        return 0;
    }
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&s->waiters, &w.node);
    /* 0: a releaser handed us its permit and put w on `handed`.
     * Otherwise we are unlinked and hold nothing. */
    int st = ts__park(&w, TS_WAIT_SEMAPHORE, s, site);
    if (st != 0 || w.value == &semaphore_gone)
        return st;
    ts__list_remove(&w.node);
    pass_on_piled_permits(s);
    return 0;
}

int ts_semaphore_release(ts_semaphore *s) {
    if (!s)
        return -EINVAL;
    int err = ts__obj_check(&s->obj, "ts_semaphore_release", NULL);
    if (err)
        return err;
    if (s->value >= s->bound)
        return -EOVERFLOW;
    TS_TRACE_RESOURCE_RELEASE(s, ts__current());
    if (!hand_to_first(s))
        s->value++;
    return 0;
}

int ts_semaphore_locked(const ts_semaphore *s) {
    return s && ts__obj_readable(&s->obj, "ts_semaphore_locked") && is_locked(s);
}

unsigned ts_semaphore_value(const ts_semaphore *s) {
    return s && ts__obj_readable(&s->obj, "ts_semaphore_value") ? s->value : 0;
}
