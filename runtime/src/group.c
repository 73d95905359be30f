/*
 * group.c - task groups, asyncio.TaskGroup (Python 3.13 semantics).
 *
 * A group owns a handle to each child and a watch on it; the watch records
 * the child's outcome the moment it ends.  The body (the task that made the
 * group) runs on and finally parks in ts_group_wait until every child has
 * ended.  Invariants:
 *   - the first child failure (an error other than -ECANCELED) aborts the
 *     group: every unfinished child is cancelled and so is the body, once;
 *     the group counts the cancel requests it made on the body and takes
 *     each back (ts_task_uncancel) in ts_group_wait, so a cancellation the
 *     group caused never leaks out as -ECANCELED;
 *   - a cancellation from outside is told apart by the body's cancel count:
 *     after the group's own requests are taken back, a count above the one
 *     seen at ts_group_new means someone else is cancelling the body;
 *   - an aborting or finished group takes no new children (EBUSY);
 *   - room for every child's error is reserved when it is spawned, so
 *     recording a failure (inside a watch, which cannot fail) never
 *     allocates;
 *   - ts_group_wait returns only when no child is running; the children's
 *     handles are given up only in ts_group_free.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct group_child {
    ts__node node;            /* on g->children until ts_group_free */
    ts__done_watch watch;
    ts_group *g;
    ts_task *task;
    int finished;
} group_child;

typedef struct group_error {
    int err;
    ts_task *task;            /* borrowed from the child record */
} group_error;

struct ts_group {
    ts_loop *loop;
    ts_task *body;            /* a handle of our own (ts_task_ref) */
    ts__node children;
    size_t nchildren;
    size_t live;              /* children not finished yet */
    group_error *errors;      /* capacity: nchildren (see invariants) */
    size_t nerrors;
    int start_cancelling;     /* the body's cancel count at ts_group_new */
    int own_cancels;          /* requests we made on the body, not taken back */
    int aborting;             /* shutting down: children were cancelled */
    int exiting;              /* ts_group_wait was called */
    int body_waiting;         /* the body is parked in ts_group_wait */
};

ts_group *ts_group_new(void) {
    ts_task *self = ts__current();
    if (!self) {
        errno = ESRCH;
        return NULL;
    }
    ts_group *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->loop = ts_task_loop(self);
    g->body = ts_task_ref(self);
    g->start_cancelling = ts_task_cancelling(self);
    ts__list_init(&g->children);
    return g;
}

static void group_abort(ts_group *g) {
    g->aborting = 1;
    ts__list_foreach(it, &g->children) {
        group_child *c = ts__container_of(it, group_child, node);
        if (!c->finished) /* on the owner's behalf, whoever runs now */
            ts__task_cancel_by(c->task, NULL, g->body);
    }
}

/* A child failed: remember it and, the first time, shut the group down and
 * interrupt the body (asyncio's _on_task_done). */
static void group_child_failed(ts_group *g, group_child *c, int err) {
    g->errors[g->nerrors].err = err;
    g->errors[g->nerrors].task = c->task;
    g->nerrors++;
    if (g->aborting)
        return;
    group_abort(g);
    if (ts_task_cancel(g->body, NULL))
        g->own_cancels++;
}

static void group_child_finished(group_child *c) {
    ts_group *g = c->g;
    void *res;
    c->finished = 1;
    g->live--;
    /* Reading every outcome marks it retrieved: the group answers for it. */
    int err = ts__task_outcome(c->task, &res);
    if (err && err != -ECANCELED)
        group_child_failed(g, c, err);
    if (g->live == 0 && g->body_waiting)
        ts__wake(g->body, 0);
}

static void group_on_child_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    group_child_finished(ts__container_of(w, group_child, watch));
}

static int group_reserve(ts_group *g) {
    group_error *e = realloc(g->errors, (g->nchildren + 1) * sizeof *e);
    if (!e)
        return -ENOMEM;
    g->errors = e;
    return 0;
}

static int group_spawn_check(ts_group *g, const ts_spawn_opts *opts,
                             ts_task_fn fn) {
    if (!g || !fn)
        return EINVAL;
    if (ts__loop() != g->loop || (opts && opts->loop && opts->loop != g->loop))
        return EXDEV;
    if (g->aborting || (g->exiting && g->live == 0))
        return EBUSY;
    return 0;
}

ts_task *ts_group_spawn_at(ts_group *g, const ts_spawn_opts *opts,
                           ts_task_fn fn, void *arg, const char *default_name,
                           const ts_site *site) {
    int e = group_spawn_check(g, opts, fn);
    if (e) {
        errno = e;
        return NULL;
    }
    group_child *c = calloc(1, sizeof *c);
    if (!c || group_reserve(g) < 0) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    ts_task *t = ts_spawn_at(opts, fn, arg, default_name, site);
    if (!t) {
        free(c);
        return NULL;   /* errno from ts_spawn_at */
    }
    c->g = g;
    c->task = t;
    ts__list_push_back(&g->children, &c->node);
    g->nchildren++;
    g->live++;
    if (ts_task_done(t)) {
        group_child_finished(c);
    } else {
        c->watch.fn = group_on_child_done;
        ts__task_watch(t, &c->watch);
    }
    return t;
}

/* Deliver the body's outside cancellation again at its next suspension,
 * keeping the count (3.13: uncancel + cancel), because the group's errors
 * take priority over -ECANCELED now. */
static void group_rearm_cancel(ts_task *body) {
    const char *msg = ts_task_cancel_message(body);
    char *copy = msg ? strdup(msg) : NULL;
    ts_task_uncancel(body);
    ts_task_cancel(body, copy);
    free(copy);
}

static int group_verdict(ts_group *g, int body_err) {
    for (; g->own_cancels > 0; g->own_cancels--)
        ts_task_uncancel(g->body);
    int outside = ts_task_cancelling(g->body) > g->start_cancelling;
    if (g->nerrors > 0) {
        if (outside)
            group_rearm_cancel(g->body);
        return g->nerrors == 1 ? g->errors[0].err : TS_EGROUP;
    }
    return outside ? -ECANCELED : body_err;
}

int ts_group_wait_at(ts_group *g, int body_err, const ts_site *site) {
    if (!g)
        return -EINVAL;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (self != g->body)
        return -EPERM;
    if (g->exiting)
        return TS_EINVALSTATE;
    g->exiting = 1;
    if (body_err != 0 && !g->aborting)
        group_abort(g);
    while (g->live > 0) {
        g->body_waiting = 1;
        int rc = ts__park(NULL, TS_WAIT_GROUP, g, site);
        g->body_waiting = 0;
        /* Either our own request (already aborting) or one from outside. */
        if (rc == -ECANCELED && !g->aborting)
            group_abort(g);
    }
    return group_verdict(g, body_err);
}

size_t ts_group_error_count(const ts_group *g) {
    return g ? g->nerrors : 0;
}

int ts_group_error(const ts_group *g, size_t i, ts_task **task) {
    if (!g || i >= g->nerrors) {
        if (task)
            *task = NULL;
        return 0;
    }
    if (task)
        *task = g->errors[i].task;
    return g->errors[i].err;
}

/* Free without waiting (a misuse the header forbids, handled anyway): a
 * child still running is cancelled and left to finish detached. */
static void group_drop_child(group_child *c) {
    if (c->finished) {
        ts_task_unref(c->task);
        return;
    }
    ts__task_unwatch(&c->watch);
    ts__task_cancel_by(c->task, NULL, c->g->body);
    ts_task_detach(c->task);
}

void ts_group_free(ts_group *g) {
    if (!g)
        return;
    ts__list_foreach(it, &g->children) {
        group_child *c = ts__container_of(it, group_child, node);
        group_drop_child(c);
        free(c);
    }
    ts_task_unref(g->body);
    free(g->errors);
    free(g);
}
