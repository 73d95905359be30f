/*
 * condition.c - asyncio.Condition: wait for a notification while holding
 * a lock.
 *
 * Invariants:
 *   - ts_condition_wait returns holding the lock on every path a task can
 *     observe: notified, cancelled while waiting, cancelled while
 *     reacquiring (it keeps reacquiring, ignoring further cancellation, and
 *     then reports -ECANCELED), as asyncio does.
 *   - notify hands a notification to the longest waiter by waking it with
 *     success, which is final; a cancelled waiter is already unlinked and
 *     is never counted as notified.
 *   - A notified waiter that ends up returning -ECANCELED (it was
 *     cancelled while reacquiring the lock) passes its notification on to
 *     the next waiter (asyncio 3.13's _notify(1)), so a notify is not lost
 *     to a task that will not act on it.
 *
 * Freeing a condition wakes its waiters with TS_ESHUTDOWN.  That is the one
 * exception to "the lock is held on return": the condition (and the lock,
 * if the condition created it) is gone, so the waiter does not reacquire
 * anything and must not touch the condition again.  A condition that owns
 * its lock frees it too; tasks queued on that lock get TS_ESHUTDOWN.
 *
 * A condition starts with a ts__obj header (objcheck.c): a use after
 * free, or after its loop closed, returns TS_EFREED and is reported with
 * the creation, call and free sites.  An owned lock is made and freed
 * with the condition's sites, so a report about it points at user code.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

struct ts_condition {
    ts__obj obj;        /* first: the loop, the creation site, live/freed */
    ts_lock *lock;
    int owns_lock;      /* created by ts_condition_new(NULL): free it too */
    ts__node waiters;   /* ts__waiter.node, longest waiter first */
};

ts_condition *(ts_condition_new)(ts_lock *lock) { return ts_condition_new_at(lock, NULL); }

ts_condition *ts_condition_new_at(ts_lock *lock, const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    ts_condition *c = calloc(1, sizeof *c);
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    if (!lock) {
        lock = ts_lock_new_at(site);
        if (!lock) {
            free(c);
            return NULL;   /* errno set by ts_lock_new */
        }
        c->owns_lock = 1;
    }
    ts__obj_init(&c->obj, loop, "ts_condition", site);
    c->lock = lock;
    ts__list_init(&c->waiters);
    TS_TRACE_RESOURCE_CREATE(c, TS_RES_CONDITION, 0, site);
    return c;
}

int ts__condition_name_lock(ts_condition *c, const char *name) {
    if (!c->owns_lock) /* the caller's lock keeps the caller's name */
        return 0;
    if (!name)
        return ts_lock_set_name(c->lock, NULL);
    /* the condition's name is cut at 127 bytes; so is the lock's */
    char buf[160];
    snprintf(buf, sizeof buf, "condition \"%.127s\" lock", name);
    return ts_lock_set_name(c->lock, buf);
}

void (ts_condition_free)(ts_condition *c) { ts_condition_free_at(c, NULL); }

void ts_condition_free_at(ts_condition *c, const ts_site *site) {
    /* After its loop closed the waiters' records went with their stacks:
     * freeing is cleanup (the owned lock's free knows that too). */
    int orphaned = c && ts__obj_orphaned(&c->obj);
    if (!c || (!orphaned && ts__obj_check(&c->obj, "ts_condition_free", site)))
        return;
    ts__node *n;
    while (!orphaned && (n = ts__list_pop_front(&c->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, TS_ESHUTDOWN);
    if (c->owns_lock)
        ts_lock_free_at(c->lock, site);
    TS_TRACE_RESOURCE_FREE(c);
    ts__obj_free(&c->obj, site);
}

int ts_condition_acquire_at(ts_condition *c, const ts_site *site) {
    if (!c)
        return -EINVAL;
    int err = ts__obj_check(&c->obj, "ts_condition_acquire", site);
    return err ? err : ts_lock_acquire_at(c->lock, site);
}

int ts_condition_release(ts_condition *c) {
    if (!c)
        return -EINVAL;
    int err = ts__obj_check(&c->obj, "ts_condition_release", NULL);
    return err ? err : ts_lock_release(c->lock);
}

/* Wake up to n parked waiters, longest first; returns how many. */
static size_t notify_waiters(ts_condition *c, size_t n) {
    size_t woken = 0;
    ts__node *node;
    while (woken < n && (node = ts__list_pop_front(&c->waiters)))
        woken += (size_t)ts__wake(ts__container_of(node, ts__waiter, node)->task, 0);
    return woken;
}

/*
 * Take the lock back after waiting; status is how the wait ended (0:
 * notified, -ECANCELED).  A cancel that arrives meanwhile is remembered
 * and the acquire retried, because the caller must get the lock back.
 * Only a freed lock (TS_ESHUTDOWN) ends the loop without it, and then the
 * condition may be gone too, so c is not touched again.
 */
static int reacquire(ts_condition *c, ts_lock *lock, int status,
                     const ts_site *site) {
    int notified = status == 0;
    for (;;) {
        int err = ts_lock_acquire_at(lock, site);
        if (err == 0)
            break;
        if (err != -ECANCELED)
            return err;
        status = -ECANCELED;
    }
    if (notified && status != 0)
        notify_waiters(c, 1);
    return status;
}

int ts_condition_wait_at(ts_condition *c, const ts_site *site) {
    if (!c)
        return -EINVAL;
    int err = ts__obj_check(&c->obj, "ts_condition_wait", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    ts_lock *lock = c->lock;
    if (!ts_lock_locked(lock))
        return -EPERM;
    ts_lock_release(lock);
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&c->waiters, &w.node);
    int status = ts__park(&w, TS_WAIT_CONDITION, c, site);
    if (status == TS_ESHUTDOWN)
        return status;   /* the condition was freed: touch nothing */
    return reacquire(c, lock, status, site);
}

int ts_condition_wait_for_at(ts_condition *c, int (*pred)(void *), void *arg,
                             const ts_site *site) {
    if (!c || !pred)
        return -EINVAL;
    int err = ts__obj_check(&c->obj, "ts_condition_wait_for", site);
    if (err)
        return err;
    if (!ts__current())
        return TS_ENOTASK;
    /* As asyncio: the predicate first, and the lock is checked only when
     * there is something to wait for (by ts_condition_wait: -EPERM). */
    int value;
    while (!(value = pred(arg))) {
        err = ts_condition_wait_at(c, site);
        if (err)
            return err;
    }
    return value;
}

static int notify(ts_condition *c, size_t n, const char *what) {
    if (!c)
        return -EINVAL;
    int err = ts__obj_check(&c->obj, what, NULL);
    if (err)
        return err;
    if (!ts_lock_locked(c->lock))
        return -EPERM;
    /* who notified: the model's hint of a condition's waker */
    TS_TRACE_RESOURCE_RELEASE(c, ts__current());
    notify_waiters(c, n);
    return 0;
}

int ts_condition_notify(ts_condition *c, size_t n) {
    return notify(c, n, "ts_condition_notify");
}

int ts_condition_notify_all(ts_condition *c) {
    return notify(c, SIZE_MAX, "ts_condition_notify_all");
}
