/*
 * gather.c - ts_gather: asyncio.gather over n tasks.
 *
 * The gathering task puts one done-watch on every unfinished task and
 * parks with no wait list of its own: only those watches (and a cancel
 * request) ever wake it.  Invariants:
 *   - every handle is given up exactly once before ts_gather returns: a
 *     finished task after its outcome was read (so its error counts as
 *     retrieved), a task still running (fail-fast) by detaching it;
 *   - no watch outlives the call, because the slots live in this call's
 *     frame or heap block: a task still running at return is unwatched
 *     first;
 *   - once the caller is cancelled, every cancel request it receives is
 *     forwarded to every unfinished task, at once from ts_task_cancel (the
 *     waiter's on_cancel hook, as asyncio's Task.cancel cancels the
 *     _GatheringFuture synchronously), and gather returns only after all
 *     of them have ended.
 * Every error returned before the wait starts (TS_ENOTASK, -EINVAL,
 * -EDEADLK, TS_EWRONGLOOP, -ENOMEM) leaves all handles with the caller, as
 * ts_await does for its argument errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

/* Small gathers keep their slots on the caller's stack. */
#define GATHER_STACK_SLOTS 8
#define NO_FAILURE SIZE_MAX

typedef struct gather gather;

/* One watched task: slot i watches tasks[i]. */
typedef struct gather_slot {
    ts__done_watch watch;
    gather *g;
    size_t index;
    int finished;
} gather_slot;

typedef struct gather {
    ts_task *caller;
    ts_task *const *tasks;
    gather_slot *slots;
    size_t n;
    size_t pending;   /* watched tasks not finished yet */
    size_t cursor;    /* no slot below it is unfinished */
    size_t failed;    /* fail-fast: first task seen failing, or NO_FAILURE */
    int fail_fast;    /* errors == NULL and the caller is not cancelled */
    ts__waiter waiter;  /* parked on no list; its hook forwards a cancel */
    bool forwarded;     /* the hook passed the last cancel on already */
} gather;

static int task_ended_badly(const ts_task *t) {
    ts_task_state s = ts_task_state_of(t);
    return s == TS_TASK_FAILED || s == TS_TASK_CANCELLED;
}

static void unmark(ts_task *const *tasks, size_t n) {
    for (size_t i = 0; i < n; i++)
        ts__task_mark(tasks[i], false);
}

/* Check the arguments in one pass that also marks every task, to find one
 * listed twice.  On success the marks stay set: gather_watch_all clears
 * them (nothing runs in between); on error they are cleared here. */
static int check_and_mark(ts_task *const *tasks, size_t n, const ts_task *self) {
    if (n > 0 && !tasks)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int err = 0;
        if (!tasks[i])
            err = -EINVAL;
        else if (tasks[i] == self)
            err = -EDEADLK;
        else if ((err = ts__check_thread(ts_task_loop(tasks[i]), "ts_gather")))
            ;
        else if (ts__task_mark(tasks[i], true))
            err = -EINVAL; /* a duplicate: its mark is the first copy's */
        if (err) {
            unmark(tasks, i);
            return err;
        }
    }
    return 0;
}

static void gather_on_done(ts__done_watch *w, ts_task *t) {
    gather_slot *s = ts__container_of(w, gather_slot, watch);
    gather *g = s->g;
    s->finished = 1;
    g->pending--;
    if (g->fail_fast && g->failed == NO_FAILURE && task_ended_badly(t))
        g->failed = s->index;
    if (g->pending == 0 || g->failed != NO_FAILURE)
        ts__wake(g->caller, 0);
}

/* Watch every unfinished task; a task already done counts at once, in
 * list order, as asyncio runs their callbacks in that order. */
static void gather_watch_all(gather *g) {
    for (size_t i = 0; i < g->n; i++) {
        gather_slot *s = &g->slots[i];
        ts__task_mark(g->tasks[i], false); /* set by check_and_mark */
        s->g = g;
        s->index = i;
        s->finished = ts_task_done(g->tasks[i]);
        if (s->finished) {
            if (g->fail_fast && g->failed == NO_FAILURE &&
                task_ended_badly(g->tasks[i]))
                g->failed = i;
            continue;
        }
        s->watch.fn = gather_on_done;
        ts__task_watch(g->tasks[i], &s->watch);
        g->pending++;
    }
}

/* The first task still running: what a debugger shows the caller awaits. */
static ts_task *gather_awaiting(gather *g) {
    while (g->cursor < g->n && g->slots[g->cursor].finished)
        g->cursor++;
    return g->cursor < g->n ? g->tasks[g->cursor] : NULL;
}

static void cancel_unfinished(gather *g, const char *msg) {
    for (size_t i = 0; i < g->n; i++)
        if (!g->slots[i].finished)
            ts__task_cancel_by(g->tasks[i], msg, g->caller);
}

static void gather_forward(ts__waiter *w) {
    gather *g = ts__container_of(w, gather, waiter);
    g->forwarded = true;
    g->fail_fast = 0;
    cancel_unfinished(g, ts_task_cancel_message(g->caller));
}

/* Park until woken; a cancel of the caller reaches the children at once
 * (or here, if it was pending before we parked). */
static int gather_park(gather *g, const ts_site *site) {
    ts__waiter_init(&g->waiter, g->caller);
    g->waiter.on_cancel = gather_forward;
    g->forwarded = false;
    int st = ts__park(&g->waiter, TS_WAIT_TASK, gather_awaiting(g), site);
    if (st == -ECANCELED && !g->forwarded)
        gather_forward(&g->waiter);
    return st;
}

/* Cancelled caller (the children were cancelled already): wait for all of
 * them, passing on every further cancel request. */
static void gather_drain(gather *g, const ts_site *site) {
    g->fail_fast = 0;
    while (g->pending > 0)
        (void)gather_park(g, site);
}

/* Returns 0, or -ECANCELED if the caller was cancelled (after draining). */
static int gather_wait(gather *g, const ts_site *site) {
    while (g->pending > 0 && g->failed == NO_FAILURE) {
        if (gather_park(g, site) == -ECANCELED) {
            gather_drain(g, site);
            return -ECANCELED;
        }
    }
    return 0;
}

/* As asyncio's gather does for the children it leaves behind: their
 * errors are looked at when they end, so none is reported as never
 * retrieved. */
static void mark_retrieved(ts_task *t, void *arg) {
    (void)arg;
    (void)ts_task_error(t);
}

static void detach_quietly(ts_task *t) {
    (void)ts_task_add_done_callback(t, mark_retrieved, NULL);
    ts_task_detach(t);
}

/* Give up every handle; store what each finished task produced.  Returns
 * the error of the fail-fast failure, if any (read here, while the handle
 * is still held). */
static int gather_collect(gather *g, void **results, int *errors) {
    int failed_err = 0;
    for (size_t i = 0; i < g->n; i++) {
        ts_task *t = g->tasks[i];
        void *res = NULL;
        int err = 0;
        if (g->slots[i].finished) {
            err = ts__task_outcome(t, &res);
            ts_task_unref(t);
        } else {
            ts__task_unwatch(&g->slots[i].watch);
            detach_quietly(t);
        }
        if (i == g->failed)
            failed_err = err;
        if (results)
            results[i] = err ? NULL : res;
        if (errors)
            errors[i] = err;
    }
    return failed_err;
}

int ts_gather_at(ts_task *const *tasks, size_t n, void **results, int *errors,
                 const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    int err = check_and_mark(tasks, n, self);
    if (err)
        return err;
    if (n == 0)
        return 0;

    gather_slot local[GATHER_STACK_SLOTS];
    gather_slot *slots = n <= GATHER_STACK_SLOTS ? local : calloc(n, sizeof *slots);
    if (!slots) {
        unmark(tasks, n);
        return -ENOMEM;
    }
    gather g = {
        .caller = self, .tasks = tasks, .slots = slots, .n = n,
        .failed = NO_FAILURE, .fail_fast = errors == NULL,
    };
    gather_watch_all(&g);
    err = gather_wait(&g, site);
    int failed_err = gather_collect(&g, results, errors);
    if (slots != local)
        free(slots);
    return err ? err : failed_err;
}
