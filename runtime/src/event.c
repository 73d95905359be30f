/*
 * event.c - asyncio.Event: a flag tasks can wait to become set.
 *
 * Invariants:
 *   - A set event has no waiters: set wakes every waiter at once (with
 *     success, which is final), and wait returns at once on a set event.
 *     A waiter woken by set returns 0 even if the event is cleared again
 *     before it runs, as in asyncio.
 *   - A cancelled waiter has been unlinked by ts__wake, so set never
 *     touches it.
 *
 * Freeing an event wakes its waiters with TS_ESHUTDOWN (the event is gone;
 * they must not touch it again).
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

struct ts_event {
    ts__obj obj;        /* first: use after free/close (objcheck.c) */
    ts_loop *loop;
    int is_set;
    ts__node waiters;   /* ts__waiter.node, in arrival order */
};

ts_event *(ts_event_new)(void) { return ts_event_new_at(NULL); }

ts_event *ts_event_new_at(const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    ts_event *e = calloc(1, sizeof *e);
    if (!e) {
        errno = ENOMEM;
        return NULL;
    }
    e->loop = loop;
    ts__obj_init(&e->obj, loop, "ts_event", site);
    ts__list_init(&e->waiters);
    TS_TRACE_RESOURCE_CREATE(e, TS_RES_EVENT, 0, site);
    return e;
}

static void wake_all(ts_event *e, int status) {
    ts__node *n;
    while ((n = ts__list_pop_front(&e->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, status);
}

void ts_event_free(ts_event *e) {
    /* After its loop closed, the loop already took its waiters off. */
    if (e && ts__obj_orphaned(&e->obj)) {
        ts__obj_free(&e->obj, NULL);
        return;
    }
    if (!e || ts__obj_check(&e->obj, "ts_event_free", NULL))
        return;
    wake_all(e, TS_ESHUTDOWN);
    TS_TRACE_RESOURCE_FREE(e);
    ts__obj_free(&e->obj, NULL);
}

void ts_event_set(ts_event *e) {
    if (!e || ts__obj_check(&e->obj, "ts_event_set", NULL))
        return;
    if (e->is_set)
        return;
    e->is_set = 1;
    /* who set it: the model's hint of an event's waker (model_analyze.c) */
    TS_TRACE_RESOURCE_RELEASE(e, ts__current());
    wake_all(e, 0);
}

void ts_event_clear(ts_event *e) {
    if (!e || ts__obj_check(&e->obj, "ts_event_clear", NULL))
        return;
    e->is_set = 0;
}

int ts_event_is_set(const ts_event *e) { return e && e->is_set; }

int ts_event_wait_at(ts_event *e, const ts_site *site) {
    if (!e)
        return -EINVAL;
    int err = ts__obj_check(&e->obj, "ts_event_wait", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (e->is_set)
        return 0;
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&e->waiters, &w.node);
    return ts__park(&w, TS_WAIT_EVENT, e, site);
}
