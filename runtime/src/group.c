/*
 * group.c - task groups, asyncio.TaskGroup (Python 3.13 semantics).
 *
 * A group holds a handle to each running child and a watch on it; the
 * watch records the child's outcome the moment it ends and gives the
 * child up (a failed one is kept, for ts_group_error).  The body (the task
 * that made the group) runs on and finally parks in ts_group_wait until
 * every child has ended.  Invariants:
 *   - the first child failure (an error other than -ECANCELED) aborts the
 *     group: every unfinished child is cancelled and so is the body, once;
 *     the group counts the cancel requests it made on the body and takes
 *     each back (ts_task_uncancel) in ts_group_wait, so a cancellation the
 *     group caused never leaks out as -ECANCELED;
 *   - a cancellation from outside is told apart by the body's cancel count:
 *     after the group's own requests are taken back, a count above the one
 *     seen at ts_group_new means someone else is cancelling the body;
 *   - an aborting or finished group takes no new children (EBUSY);
 *   - the memory a group holds is bounded by its running children plus its
 *     failures, never by how many children it has had: a finished child's
 *     record and handle go at once;
 *   - the error list always has room for one error per running child plus
 *     the body's (reserved at spawn), so recording a failure inside a
 *     watch, which cannot fail, never allocates the entry;
 *   - ts_group_wait returns only when no child is running.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A running child: on g->children until it finishes. */
typedef struct group_child {
    ts__node node;
    ts__done_watch watch;
    ts_group *g;
    ts_task *task;            /* the group's handle */
} group_child;

struct ts_group {
    ts__obj obj;              /* first: loop, creation site, live/freed */
    ts_task *body;            /* a handle of our own (ts_task_ref) */
    ts__node children;        /* running children only */
    size_t live;              /* how many */
    ts_error_group *errors;   /* every failure, in order; the body's last */
    ts_task **failed;         /* failed[i]: the task of errors entry i,
                               * a handle we keep (the body's is g->body) */
    size_t failed_cap;
    int start_cancelling;     /* the body's cancel count at ts_group_new */
    int own_cancels;          /* requests we made on the body, not taken back */
    int aborting;             /* shutting down: children were cancelled */
    int exiting;              /* ts_group_wait was called */
    int body_waiting;         /* the body is parked in ts_group_wait */
};

static int group_reserve(ts_group *g);

ts_group *(ts_group_new)(void) { return ts_group_new_at(NULL); }

ts_group *ts_group_new_at(const ts_site *site) {
    ts_task *self = ts__current();
    if (!self) {
        errno = ESRCH;
        return NULL;
    }
    ts_group *g = calloc(1, sizeof *g);
    /* Room for the body's error from the start (see group_reserve). */
    if (!g || !(g->errors = ts__errgroup_new()) || group_reserve(g) < 0) {
        if (g) {
            ts__errgroup_unref(g->errors);
            free(g->failed);
        }
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    ts__obj_init(&g->obj, ts_task_loop(self), "ts_group", site);
    g->body = ts_task_ref(self);
    g->start_cancelling = ts_task_cancelling(self);
    ts__list_init(&g->children);
    return g;
}

static void group_abort(ts_group *g) {
    g->aborting = 1;
    /* On the owner's behalf, whoever runs now: the recorded canceller is
     * the group's body, not the sibling whose failure set this off. */
    ts__list_foreach(it, &g->children)
        ts__task_cancel_by(ts__container_of(it, group_child, node)->task, NULL, g->body);
}

/* Record a failure of task t (a child, or the body); room is reserved. */
static void group_record(ts_group *g, ts_task *t, int err, int from_body) {
    g->failed[ts__errgroup_size(g->errors)] = t;
    ts__errgroup_add(g->errors, err, t, from_body);
}

/* A child failed: remember it and, the first time, shut the group down and
 * interrupt the body (asyncio's _on_task_done). */
static void group_child_failed(ts_group *g, ts_task *t, int err) {
    group_record(g, t, err, 0);
    if (g->aborting)
        return;
    group_abort(g);
    if (ts_task_cancel(g->body, NULL))
        g->own_cancels++;
}

static void group_child_finished(group_child *c) {
    ts_group *g = c->g;
    ts_task *t = c->task;
    ts__list_remove(&c->node);
    free(c);
    g->live--;
    /* Reading every outcome marks it retrieved: the group answers for it. */
    int err = ts__task_outcome(t, NULL);
    if (err && err != -ECANCELED)
        group_child_failed(g, t, err);   /* keeps the handle */
    else
        ts_task_unref(t);  /* the loop still holds t: not freed in here */
    if (g->live == 0 && g->body_waiting)
        ts__wake(g->body, 0);
}

static void group_on_child_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    group_child_finished(ts__container_of(w, group_child, watch));
}

/* Room for the error of every running child, one more, and the body's. */
static int group_reserve(ts_group *g) {
    size_t need = ts__errgroup_size(g->errors) + g->live + 2;
    if (ts__errgroup_reserve(g->errors, g->live + 2) < 0)
        return -ENOMEM;
    if (g->failed_cap < need) {
        size_t cap = g->failed_cap ? g->failed_cap * 2 : 8;
        while (cap < need)
            cap *= 2;
        ts_task **f = realloc(g->failed, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        g->failed = f;
        g->failed_cap = cap;
    }
    return 0;
}

static int group_spawn_check(ts_group *g, const ts_spawn_opts *opts,
                             ts_task_fn fn, const ts_site *site) {
    if (!g || !fn)
        return EINVAL;
    if (g->obj.magic != TS__OBJ_LIVE || ts__tls_loop_id != g->obj.loop_id)
        return ts__obj_misuse(&g->obj, "ts_group_spawn", site) == TS_EFREED ? -TS_EFREED
                                                                           : EXDEV;
    if (opts && opts->loop && opts->loop != g->obj.loop)
        return EXDEV;
    if (g->aborting || (g->exiting && g->live == 0))
        return EBUSY;
    return 0;
}

ts_task *ts_group_spawn_at(ts_group *g, const ts_spawn_opts *opts,
                           ts_task_fn fn, void *arg, const char *default_name,
                           const ts_site *site) {
    int e = group_spawn_check(g, opts, fn, site);
    if (e) {
        errno = e;
        return NULL;
    }
    group_child *c = malloc(sizeof *c);
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
    g->live++;
    c->watch.fn = group_on_child_done;
    ts__task_watch(t, &c->watch);
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

/* The rule written in group.h, in asyncio's _aexit order. */
static int group_verdict(ts_group *g, int body_err) {
    for (; g->own_cancels > 0; g->own_cancels--)
        ts_task_uncancel(g->body);
    int outside = ts_task_cancelling(g->body) > g->start_cancelling;
    /* Like an exception other than CancelledError leaving "async with". */
    if (body_err != 0 && body_err != -ECANCELED)
        group_record(g, g->body, body_err, 1);
    size_t n = ts__errgroup_size(g->errors);
    if (n == 0)
        return outside ? -ECANCELED : body_err;
    if (outside)
        group_rearm_cancel(g->body);
    int verdict = n == 1 ? ts_error_group_get(g->errors, 0)->err : TS_EGROUP;
    ts__errgroup_set_verdict(g->errors, verdict);
    ts__task_set_errgroup(g->body, g->errors);
    return verdict;
}

int ts_group_wait_at(ts_group *g, int body_err, const ts_site *site) {
    if (!g)
        return -EINVAL;
    int err = ts__obj_check(&g->obj, "ts_group_wait", site);
    if (err)
        return err;
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

size_t ts_group_running(const ts_group *g) { return g ? g->live : 0; }

const ts_error_group *ts_group_errors(const ts_group *g) {
    return g && ts__errgroup_size(g->errors) ? g->errors : NULL;
}

size_t ts_group_error_count(const ts_group *g) {
    return g ? ts__errgroup_size(g->errors) : 0;
}

int ts_group_error(const ts_group *g, size_t i, ts_task **task) {
    const ts_group_failure *f = g ? ts_error_group_get(g->errors, i) : NULL;
    if (task)
        *task = f ? g->failed[i] : NULL;
    return f ? f->err : 0;
}

void (ts_group_free)(ts_group *g) { ts_group_free_at(g, NULL); }

/* Its loop closed, and every task with it: free only what is ours. */
static void group_free_orphan(ts_group *g, const ts_site *site) {
    ts__node *n;
    while ((n = ts__list_pop_front(&g->children)))
        free(ts__container_of(n, group_child, node));
    free(g->failed);
    ts__errgroup_unref(g->errors);
    ts__obj_free(&g->obj, site);
}

void ts_group_free_at(ts_group *g, const ts_site *site) {
    if (g && ts__obj_orphaned(&g->obj)) {
        group_free_orphan(g, site);
        return;
    }
    if (!g || ts__obj_check(&g->obj, "ts_group_free", site))
        return;
    /* Only if ts_group_wait was skipped (a misuse the header forbids,
     * handled anyway): cancel and leave each child to finish detached. */
    ts__node *n;
    while ((n = ts__list_pop_front(&g->children))) {
        group_child *c = ts__container_of(n, group_child, node);
        ts__task_unwatch(&c->watch);
        ts__task_cancel_by(c->task, NULL, g->body);
        ts_task_detach(c->task);
        free(c);
    }
    size_t nerr = ts__errgroup_size(g->errors);
    for (size_t i = 0; i < nerr; i++)
        if (g->failed[i] != g->body)
            ts_task_unref(g->failed[i]);
    free(g->failed);
    ts__errgroup_unref(g->errors);
    ts_task_unref(g->body);
    ts__obj_free(&g->obj, site);
}
