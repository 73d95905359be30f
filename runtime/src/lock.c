/*
 * lock.c - asyncio.Lock: mutual exclusion between the tasks of one loop.
 *
 * Invariants:
 *   - An unlocked lock has no waiters.  Tasks only queue while the lock is
 *     held, and a release with waiters never unlocks: it hands ownership
 *     straight to the first waiter (FIFO), so no newcomer can overtake a
 *     task that has been waiting, and no wake-up can be lost.
 *   - The hand-over is a success wake, which is final (internal.h): the
 *     woken task owns the lock even if it is cancelled before it runs, and
 *     it releases the lock itself.  A waiter cancelled while still queued
 *     has already been unlinked by ts__wake, so a release never picks it.
 *   - Every waiter on the list is parked (it links its waiter and parks
 *     without a suspension in between); hand_to_first still skips one that
 *     is not, so a lock can never be handed to a task that won't see it.
 *
 * Like asyncio, any task may release a held lock (no owner check).  Unlike
 * asyncio, a task acquiring a lock it already holds is refused with
 * -EDEADLK instead of waiting forever (the owner is known, so it costs one
 * compare on the contended path); the debug runtime also reports it.
 *
 * A lock starts with a ts__obj header (internal.h): a use after
 * ts_lock_free or after its loop closed returns TS_EFREED and is reported
 * with the lock's creation site, not as a wrong-thread call.
 *
 * Freeing a lock wakes its waiters with TS_ESHUTDOWN (they do not hold the
 * lock and must not touch it again); it never leaves a parked task behind.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

struct ts_lock {
    ts__obj obj;       /* first: the loop, the creation site, live/freed */
    ts_task *owner;    /* the holder, NULL when unlocked */
    int locked;
    ts__node waiters;  /* ts__waiter.node, longest waiter first */
};

/* The function behind the pre-site ABI: the header's macro calls
 * ts_lock_new_at; this keeps the old symbol for binaries built before. */
ts_lock *(ts_lock_new)(void) { return ts_lock_new_at(NULL); }

ts_lock *ts_lock_new_at(const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    ts_lock *l = calloc(1, sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    ts__obj_init(&l->obj, loop, "ts_lock", site);
    ts__list_init(&l->waiters);
    TS_TRACE_RESOURCE_CREATE(l, TS_RES_LOCK, 0, site);
    return l;
}

void (ts_lock_free)(ts_lock *l) { ts_lock_free_at(l, NULL); }

void ts_lock_free_at(ts_lock *l, const ts_site *site) {
    if (l && ts__obj_orphaned(&l->obj)) {
        /* Its loop closed: the waiters' records went with their stacks. */
        TS_TRACE_RESOURCE_FREE(l);
        ts__obj_free(&l->obj, site);
        return;
    }
    if (!l || ts__obj_check(&l->obj, "ts_lock_free", site))
        return;
    ts__node *n;
    while ((n = ts__list_pop_front(&l->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, TS_ESHUTDOWN);
    TS_TRACE_RESOURCE_FREE(l);
    ts__obj_free(&l->obj, site);
}

/* The holder asked for the lock again: it would wait for itself. */
static int reacquired(const ts_lock *l, const ts_task *self, const ts_site *site) {
#ifdef TS_DEBUG_RUNTIME
    ts__diag_misuse(TS_DIAG_LOCK_REACQUIRED,
                    "task acquired a lock it already holds (it would wait forever)",
                    self, l->obj.created, site, NULL, -EDEADLK);
#else
    (void)l, (void)self, (void)site;
#endif
    return -EDEADLK;
}

int ts_lock_acquire_at(ts_lock *l, const ts_site *site) {
    if (!l)
        return -EINVAL;
    int err = ts__obj_check(&l->obj, "ts_lock_acquire", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (!l->locked) {
        l->locked = 1;
        l->owner = self;
        TS_TRACE_RESOURCE_ACQUIRED(l, self);
        return 0;
    }
    if (l->owner == self)
        return reacquired(l, self, site);
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&l->waiters, &w.node);
    /* 0: the releaser made us the owner.  Otherwise we are unlinked and
     * own nothing; on TS_ESHUTDOWN the lock is already freed. */
    return ts__park(&w, TS_WAIT_LOCK, l, site);
}

/* Give the lock to the longest waiter that is still parked; 0 if none. */
static int hand_to_first(ts_lock *l) {
    ts__node *n;
    while ((n = ts__list_pop_front(&l->waiters))) {
        ts_task *t = ts__container_of(n, ts__waiter, node)->task;
        l->owner = t;
        if (ts__wake(t, 0)) {
            TS_TRACE_RESOURCE_ACQUIRED_NEXT(l, t); /* its wake's instant */
            return 1;
        }
    }
    return 0;
}

int ts_lock_release(ts_lock *l) {
    if (!l)
        return -EINVAL;
    int err = ts__obj_check(&l->obj, "ts_lock_release", NULL);
    if (err)
        return err;
    if (!l->locked)
        return -EPERM;
    TS_TRACE_RESOURCE_RELEASE(l, ts__current());
    if (!hand_to_first(l)) {
        l->locked = 0;
        l->owner = NULL;
    }
    return 0;
}

/* Readers: any thread may look (as before); only a freed lock is
 * refused. */
static int readable(const ts_lock *l, const char *what) {
    return l && (l->obj.magic == TS__OBJ_LIVE || !ts__obj_misuse(&l->obj, what, NULL));
}

int ts_lock_locked(const ts_lock *l) { return readable(l, "ts_lock_locked") && l->locked; }

ts_task *ts_lock_owner(const ts_lock *l) {
    return readable(l, "ts_lock_owner") ? l->owner : NULL;
}
