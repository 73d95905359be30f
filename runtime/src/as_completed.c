/*
 * as_completed.c - an iterator over tasks in the order they finish
 * (asyncio.as_completed).
 *
 * Each unfinished task gets a done-watch that appends its index to a FIFO
 * of finished entries; next() pops that FIFO, parking while it is empty.
 * Invariants:
 *   - the FIFO holds each entry at most once, so n slots always suffice;
 *     entries already done at creation are queued first, in list order
 *     (asyncio schedules their callbacks in that order);
 *   - when the overall deadline passes, every remaining watch is removed
 *     (as asyncio removes its callbacks): entries that finished before the
 *     deadline are still yielded, then next() returns -ETIMEDOUT for good;
 *   - the handles are borrowed, never consumed or cancelled; watches and
 *     the timer are removed by ts_as_completed_free, which must not be
 *     called while a task is parked in next();
 *   - at most one task waits in next() at a time (another gets -EBUSY).
 * A task listed twice is refused (EINVAL), as ts_gather and ts_wait
 * refuse it: asyncio.as_completed takes a set, which cannot hold it twice.
 * The iterator starts with a ts__obj header (objcheck.c): next after free,
 * or after its loop closed, returns TS_EFREED and is reported with the
 * creation, call and free sites.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "internal.h"

typedef struct ac_slot {
    ts__done_watch watch;
    ts_as_completed *ac;
    size_t index;
    int watched;         /* the watch is on the task's list */
} ac_slot;

struct ts_as_completed {
    ts__obj obj;         /* first: the loop, the creation site, live/freed */
    ts_loop *loop;
    ts_task **tasks;
    ac_slot *slots;
    size_t *fifo;        /* indices of finished entries, in finish order */
    size_t n;
    size_t head, tail;   /* fifo[head..tail) not yielded yet */
    size_t cursor;       /* no entry below it is still watched */
    ts_task *waiter;     /* the task parked in next(), or NULL */
    int timed_out;
    ts__timer timer;
};

static void ac_push(ts_as_completed *ac, size_t i) {
    ac->fifo[ac->tail++] = i;
    if (ac->waiter)
        ts__wake(ac->waiter, 0);
}

static void ac_on_done(ts__done_watch *w, ts_task *t) {
    ac_slot *s = ts__container_of(w, ac_slot, watch);
    (void)t;
    s->watched = 0;
    ac_push(s->ac, s->index);
}

static void ac_unwatch_all(ts_as_completed *ac) {
    for (size_t i = 0; i < ac->n; i++) {
        if (ac->slots[i].watched) {
            ts__task_unwatch(&ac->slots[i].watch);
            ac->slots[i].watched = 0;
        }
    }
}

static void ac_on_timeout(ts__timer *tm) {
    ts_as_completed *ac = ts__container_of(tm, ts_as_completed, timer);
    ac->timed_out = 1;
    ac_unwatch_all(ac);
    if (ac->waiter)
        ts__wake(ac->waiter, 0);
}

static int ac_alloc(ts_as_completed *ac, ts_task *const *tasks, size_t n) {
    size_t cnt = n ? n : 1;
    ac->tasks = malloc(cnt * sizeof *ac->tasks);
    ac->slots = calloc(cnt, sizeof *ac->slots);
    ac->fifo = malloc(cnt * sizeof *ac->fifo);
    if (!ac->tasks || !ac->slots || !ac->fifo)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ac->tasks[i] = tasks[i];
    ac->n = n;
    return 0;
}

static void ac_release_arrays(ts_as_completed *ac) {
    free(ac->tasks);
    free(ac->slots);
    free(ac->fifo);
}

static void ac_watch_all(ts_as_completed *ac) {
    for (size_t i = 0; i < ac->n; i++) {
        ac_slot *s = &ac->slots[i];
        s->ac = ac;
        s->index = i;
        if (ts_task_done(ac->tasks[i])) {
            ac_push(ac, i);
            continue;
        }
        s->watch.fn = ac_on_done;
        ts__task_watch(ac->tasks[i], &s->watch);
        s->watched = 1;
    }
}

static int ac_check(ts_task *const *tasks, size_t n, double timeout,
                    const ts_loop *loop) {
    if (!loop)
        return ESRCH;
    if ((n > 0 && !tasks) || isnan(timeout))
        return EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!tasks[i] || ts_task_loop(tasks[i]) != loop)
            return EINVAL;
    /* Duplicates: mark each task, stop at one already marked, then clear
     * the marks set here (never suspending in between, internal.h). */
    size_t i;
    int dup = 0;
    for (i = 0; i < n && !dup; i++)
        dup = ts__task_mark(tasks[i], true);
    for (size_t j = 0; j < (dup ? i - 1 : i); j++)
        ts__task_mark(tasks[j], false);
    return dup ? EINVAL : 0;
}

/* The function behind the pre-site ABI (the header's macro calls the _at
 * form); kept for binaries built before. */
ts_as_completed *(ts_as_completed_new)(ts_task *const *tasks, size_t n, double timeout) {
    return ts_as_completed_new_at(tasks, n, timeout, NULL);
}

ts_as_completed *ts_as_completed_new_at(ts_task *const *tasks, size_t n,
                                        double timeout, const ts_site *site) {
    ts_loop *loop = ts__loop();
    int e = ac_check(tasks, n, timeout, loop);
    if (e) {
        errno = e;
        return NULL;
    }
    ts_as_completed *ac = calloc(1, sizeof *ac);
    if (!ac || ac_alloc(ac, tasks, n) < 0) {
        if (ac)
            ac_release_arrays(ac);
        free(ac);
        errno = ENOMEM;
        return NULL;
    }
    ac->loop = loop;
    ts__obj_init(&ac->obj, loop, "ts_as_completed", site);
    ts__timer_init(&ac->timer, ac_on_timeout);
    ac_watch_all(ac);
    /* TS_FOREVER: no deadline; <= 0 has passed already (fires at once). */
    if (!(isinf(timeout) && timeout > 0))
        ts__timer_start(loop, &ac->timer, ts__deadline_after(loop, timeout));
    return ac;
}

/* The first entry still watched: what a debugger shows next() awaits. */
static ts_task *ac_awaiting(ts_as_completed *ac) {
    while (ac->cursor < ac->n && !ac->slots[ac->cursor].watched)
        ac->cursor++;
    return ac->cursor < ac->n ? ac->tasks[ac->cursor] : NULL;
}

int ts_as_completed_next_at(ts_as_completed *ac, ts_task **task,
                            const ts_site *site) {
    if (!ac || !task)
        return -EINVAL;
    *task = NULL;
    int err = ts__obj_check(&ac->obj, "ts_as_completed_next", site);
    if (err)
        return err;
    for (;;) {
        if (ac->head < ac->tail) {
            *task = ac->tasks[ac->fifo[ac->head++]];
            return 0;
        }
        if (ac->timed_out)
            return -ETIMEDOUT;
        if (ac->head == ac->n)
            return TS_EOF;
        ts_task *self = ts__current();
        if (!self)
            return TS_ENOTASK;
        if (ac->waiter)
            return -EBUSY;
        ac->waiter = self;
        err = ts__park(NULL, TS_WAIT_TASK, ac_awaiting(ac), site);
        ac->waiter = NULL;
        if (err)
            return err;
    }
}

void (ts_as_completed_free)(ts_as_completed *ac) { ts_as_completed_free_at(ac, NULL); }

void ts_as_completed_free_at(ts_as_completed *ac, const ts_site *site) {
    /* After its loop closed, its timer and the tasks' watch lists went
     * with the loop: freeing is cleanup, and must not touch them. */
    int orphaned = ac && ts__obj_orphaned(&ac->obj);
    if (!ac || (!orphaned && ts__obj_check(&ac->obj, "ts_as_completed_free", site)))
        return;
    if (!orphaned) {
        if (ts__timer_active(&ac->timer))
            ts__timer_stop(ac->loop, &ac->timer);
        ac_unwatch_all(ac);
    }
    ac_release_arrays(ac);
    ts__obj_free(&ac->obj, site);
}
