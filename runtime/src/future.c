/*
 * future.c - futures.
 *
 * An awaiter gets the outcome through its waiter record (value and wake
 * status), never by reading the future after it wakes: the future may
 * have been freed by then.  Done callbacks run from the loop; freeing the
 * future unschedules any that have not run.
 *
 * A cancelled awaiter cancels the future at once, from ts_task_cancel
 * (the waiter's on_cancel hook), as asyncio's Task.cancel() does: from
 * then on ts_future_set_result returns TS_EINVALSTATE, so a value is
 * either delivered or refused to its setter, never silently dropped.
 */
#include <errno.h>
#include <stdlib.h>

#include "loop_impl.h"
#include "tracepoints.h"

enum { PENDING, DONE, CANCELLED };

struct future_cb {
    ts__node node;
    ts_future_done_fn fn;
    void *arg;
};

struct ts_future {
    ts__obj obj;        /* first: use after free/close (objcheck.c) */
    ts_loop *loop;
    const ts_site *site;
    int state;
    int err;
    void *result;
    ts__node waiters;
    ts__node callbacks;
    ts__cb callbacks_run;
    bool *alive;        /* set while callbacks run: cleared if one frees f */
};

/* An awaiter's record: completed says the future woke it (and so may be
 * gone already); otherwise only a cancellation of the awaiter can have. */
struct future_waiter {
    ts__waiter w;
    ts_future *f;
    bool completed;
    bool cancelled_f;   /* the on_cancel hook cancelled f already */
};

/* ts_task_cancel on the awaiter: f is still pending (else the awaiter
 * would have been woken by it, not cancelled), so it still exists. */
static void cancel_awaited(ts__waiter *w) {
    struct future_waiter *fw = ts__container_of(w, struct future_waiter, w);
    fw->cancelled_f = true;
    ts_future_cancel(fw->f);
}

/* A callback may free the future: the list is taken off it first, and
 * once it is gone the remaining callbacks are dropped, not called with a
 * dangling pointer.  f->alive points into this frame only while it runs
 * (cleared before return, or f is gone), which GCC cannot see. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
static void run_callbacks(ts__cb *cb) {
    ts_future *f = ts__container_of(cb, ts_future, callbacks_run);
    ts__node list;
    ts__list_init(&list);
    ts__list_splice(&list, &f->callbacks);
    bool alive = true;
    f->alive = &alive;
    ts__node *n;
    while ((n = ts__list_pop_front(&list))) {
        struct future_cb *c = ts__container_of(n, struct future_cb, node);
        if (alive)
            c->fn(f, c->arg);
        free(c);
    }
    if (alive)
        f->alive = NULL;
}

ts_future *ts_future_new_at(const ts_site *site) {
    ts_loop *l = ts__loop();
    if (!l) {
        errno = ESRCH;
        return NULL;
    }
    ts_future *f = calloc(1, sizeof *f);
    if (!f) {
        errno = ENOMEM;
        return NULL;
    }
    f->loop = l;
    f->site = site;
    ts__obj_init(&f->obj, l, "ts_future", site);
    ts__list_init(&f->waiters);
    ts__list_init(&f->callbacks);
    f->callbacks_run.fn = run_callbacks;
    TS_TRACE_FUTURE_CREATE(f, site);
    return f;
}

static void complete(ts_future *f, int state, int err, void *result) {
    f->state = state;
    f->err = err;
    f->result = result;
    TS_TRACE_FUTURE_DONE(f, err);
    ts__node *n;
    while ((n = ts__list_first(&f->waiters))) {
        struct future_waiter *fw = ts__container_of(n, struct future_waiter, w.node);
        fw->completed = true;
        fw->w.value = result;
        ts__wake(fw->w.task, err); /* unlinks it */
    }
    if (!ts__list_empty(&f->callbacks))
        ts__ready_push(f->loop, &f->callbacks_run);
}

int ts_future_set_result(ts_future *f, void *result) {
    int ck = ts__obj_check(&f->obj, "ts_future_set_result", NULL);
    if (ck)
        return ck;
    if (f->state != PENDING)
        return TS_EINVALSTATE;
    complete(f, DONE, 0, result);
    return 0;
}

int ts_future_set_error(ts_future *f, int err) {
    int ck = ts__obj_check(&f->obj, "ts_future_set_error", NULL);
    if (ck)
        return ck;
    if (f->state != PENDING)
        return TS_EINVALSTATE;
    if (err >= 0)
        return -EINVAL;
    complete(f, err == -ECANCELED ? CANCELLED : DONE, err, NULL);
    return 0;
}

int ts_future_cancel(ts_future *f) {
    int ck = ts__obj_check(&f->obj, "ts_future_cancel", NULL);
    if (ck)
        return ck;
    if (f->state != PENDING)
        return 0;
    complete(f, CANCELLED, -ECANCELED, NULL);
    return 1;
}

int ts_future_await_at(ts_future *f, void **result, const ts_site *site) {
    int ck = ts__obj_check(&f->obj, "ts_future_await", site);
    if (ck)
        return ck;
    ts_task *t = ts__current();
    if (!t)
        return TS_ENOTASK;
    if (f->state != PENDING)
        return ts_future_result(f, result);
    struct future_waiter fw = {.f = f};
    ts__waiter_init(&fw.w, t);
    fw.w.on_cancel = cancel_awaited;
    ts__list_push_back(&f->waiters, &fw.w.node);
    int st = ts__park(&fw.w, TS_WAIT_FUTURE, f, site);
    if (st == -ECANCELED && !fw.completed) {
        /* Cancelled while f was pending.  Parked: the hook cancelled f at
         * that moment (and f may be gone since).  A request that was
         * already pending made ts__park return at once: f still exists
         * and is cancelled here, as asyncio cancels what it awaited. */
        if (!fw.cancelled_f)
            ts_future_cancel(f);
        return -ECANCELED;
    }
    if (result)
        *result = st ? NULL : fw.w.value;
    return st;
}

int ts_future_done(const ts_future *f) { return f->state != PENDING; }
int ts_future_cancelled(const ts_future *f) { return f->state == CANCELLED; }

int ts_future_result(const ts_future *f, void **result) {
    int ck = ts__obj_check(&f->obj, "ts_future_result", NULL);
    if (ck)
        return ck;
    if (f->state == PENDING)
        return TS_EINVALSTATE;
    if (result)
        *result = f->err ? NULL : f->result;
    return f->err;
}

int ts_future_add_done_callback(ts_future *f, ts_future_done_fn fn, void *arg) {
    int ck = ts__obj_check(&f->obj, "ts_future_add_done_callback", NULL);
    if (ck)
        return ck;
    struct future_cb *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fn = fn;
    c->arg = arg;
    ts__list_push_back(&f->callbacks, &c->node);
    if (f->state != PENDING && !ts__node_linked(&f->callbacks_run.node))
        ts__ready_push(f->loop, &f->callbacks_run);
    return 0;
}

void ts_future_free(ts_future *f) {
    if (!f || (f->obj.magic != TS__OBJ_LIVE && ts__obj_misuse(&f->obj, "ts_future_free", NULL)))
        return;
    /* After its loop closed there is nothing to complete (the loop took
     * its waiters off at close) and no loop to schedule callbacks on. */
    bool orphan = ts__obj_orphaned(&f->obj);
    if (f->state == PENDING) {
        ts__diag_site(TS_DIAG_FUTURE_DESTROYED_PENDING,
                      "Future was destroyed while pending, created", f->site);
        if (!orphan)
            complete(f, CANCELLED, -ECANCELED, NULL);
    }
    if (!orphan)
        ts__list_remove(&f->callbacks_run.node);
    if (f->alive)
        *f->alive = false;
    ts__node *n;
    while ((n = ts__list_pop_front(&f->callbacks)))
        free(ts__container_of(n, struct future_cb, node));
    ts__obj_free(&f->obj, NULL);
}
