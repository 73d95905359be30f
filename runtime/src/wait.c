/*
 * wait.c - ts_wait: asyncio.wait over n tasks, with a timeout.
 *
 * The waiting task watches every unfinished task and, with a timeout, arms
 * one timer; it parks with no wait list of its own, so only a watch, the
 * timer or a cancel request wakes it.  Invariants:
 *   - ts_wait never consumes, cancels or otherwise touches the tasks: on
 *     timeout or cancellation of the caller they simply keep running;
 *   - no watch and no timer outlives the call (both live in its frame or
 *     heap block and are removed before it returns);
 *   - a condition already true on entry returns at once, without
 *     suspending (so a pending cancel request waits for the next
 *     suspension).
 * A task listed twice is refused with -EINVAL, as ts_gather refuses it
 * (asyncio.wait takes a set, which cannot hold it twice; counting it twice
 * would make *ndone exceed the number of distinct tasks).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"

#define WAIT_STACK_SLOTS 8

typedef struct waitset waitset;

typedef struct wait_slot {
    ts__done_watch watch;
    waitset *ws;
    int finished;
} wait_slot;

typedef struct waitset {
    ts_task *caller;
    ts_task *const *tasks;
    wait_slot *slots;
    size_t n;
    size_t ndone;
    size_t cursor;      /* no slot below it is unfinished */
    int failures;       /* tasks that failed or were cancelled */
    int timed_out;
    ts_return_when when;
    ts__timer timer;
} waitset;

static int ended_badly(const ts_task *t) {
    ts_task_state s = ts_task_state_of(t);
    return s == TS_TASK_FAILED || s == TS_TASK_CANCELLED;
}

static int condition_holds(const waitset *ws) {
    switch (ws->when) {
    case TS_FIRST_COMPLETED:
        return ws->ndone > 0;
    case TS_FIRST_EXCEPTION:
        return ws->failures > 0 || ws->ndone == ws->n;
    case TS_ALL_COMPLETED:
    default:
        return ws->ndone == ws->n;
    }
}

static void count_finished(waitset *ws, wait_slot *s, const ts_task *t) {
    s->finished = 1;
    ws->ndone++;
    if (ended_badly(t))
        ws->failures++;
}

static void wait_on_done(ts__done_watch *w, ts_task *t) {
    wait_slot *s = ts__container_of(w, wait_slot, watch);
    waitset *ws = s->ws;
    count_finished(ws, s, t);
    if (condition_holds(ws))
        ts__wake(ws->caller, 0);
}

static void wait_on_timeout(ts__timer *tm) {
    waitset *ws = ts__container_of(tm, waitset, timer);
    ws->timed_out = 1;
    ts__wake(ws->caller, 0);
}

/* 1 if a task appears twice in tasks[0..n).  The marks are set and
 * cleared without suspending in between (internal.h). */
static int has_duplicate(ts_task *const *tasks, size_t n) {
    size_t i;
    int dup = 0;
    for (i = 0; i < n && !dup; i++)
        dup = ts__task_mark(tasks[i], true);
    /* tasks[i - 1] was already marked by its first copy: leave that mark
     * for the loop below to clear once. */
    size_t marked = dup ? i - 1 : i;
    for (size_t j = 0; j < marked; j++)
        ts__task_mark(tasks[j], false);
    return dup;
}

static int check_args(ts_task *const *tasks, size_t n, double timeout,
                      ts_return_when when, const ts_task *self) {
    if (n == 0 || !tasks || isnan(timeout))
        return -EINVAL;
    if (when != TS_ALL_COMPLETED && when != TS_FIRST_COMPLETED &&
        when != TS_FIRST_EXCEPTION)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!tasks[i])
            return -EINVAL;
        if (tasks[i] == self)
            return -EDEADLK;
        int err = ts__check_thread(ts_task_loop(tasks[i]), "ts_wait");
        if (err)
            return err;
    }
    return has_duplicate(tasks, n) ? -EINVAL : 0;
}

static void watch_unfinished(waitset *ws) {
    for (size_t i = 0; i < ws->n; i++) {
        wait_slot *s = &ws->slots[i];
        s->ws = ws;
        s->finished = 0;
        if (ts_task_done(ws->tasks[i])) {
            count_finished(ws, s, ws->tasks[i]);
            continue;
        }
        s->watch.fn = wait_on_done;
        ts__task_watch(ws->tasks[i], &s->watch);
    }
}

static void unwatch_unfinished(waitset *ws) {
    for (size_t i = 0; i < ws->n; i++)
        if (!ws->slots[i].finished)
            ts__task_unwatch(&ws->slots[i].watch);
}

static ts_task *first_unfinished(waitset *ws) {
    while (ws->cursor < ws->n && ws->slots[ws->cursor].finished)
        ws->cursor++;
    return ws->cursor < ws->n ? ws->tasks[ws->cursor] : NULL;
}

/* Park until the condition holds, the timer fires or the caller is
 * cancelled. */
static int wait_park(waitset *ws, double timeout, const ts_site *site) {
    ts_loop *loop = ts__loop();
    ts__timer_init(&ws->timer, wait_on_timeout);
    /* Anything but TS_FOREVER is a limit; <= 0 has already passed, so the
     * timer fires in this iteration (asyncio's call_later(-1)). */
    if (!(isinf(timeout) && timeout > 0))
        ts__timer_start(loop, &ws->timer, ts__deadline_after(loop, timeout));
    int err = 0;
    while (!condition_holds(ws) && !ws->timed_out && err == 0)
        err = ts__park(NULL, TS_WAIT_TASK, first_unfinished(ws), site);
    if (ts__timer_active(&ws->timer))
        ts__timer_stop(loop, &ws->timer);
    return err;
}

int ts_wait_at(ts_task *const *tasks, size_t n, double timeout,
               ts_return_when return_when, size_t *ndone, const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    int err = check_args(tasks, n, timeout, return_when, self);
    if (err)
        return err;

    wait_slot local[WAIT_STACK_SLOTS];
    wait_slot *slots = n <= WAIT_STACK_SLOTS ? local : calloc(n, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    waitset ws = {.caller = self, .tasks = tasks, .slots = slots, .n = n,
                  .when = return_when};
    watch_unfinished(&ws);
    if (!condition_holds(&ws))
        err = wait_park(&ws, timeout, site);
    unwatch_unfinished(&ws);
    if (ndone)
        *ndone = ws.ndone;
    if (slots != local)
        free(slots);
    return err;
}
