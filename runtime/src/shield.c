/*
 * shield.c - ts_shield: await a task that the caller's cancellation must
 * not reach (asyncio.shield).
 *
 * The caller watches the task and parks with no wait list of its own.
 * Invariants:
 *   - a cancel request on the caller is never passed on to the task: the
 *     caller stops waiting at once, returns -ECANCELED and the task runs
 *     on, detached;
 *   - the handle is given up exactly once: after reading the outcome, or
 *     by detaching;
 *   - a failure nobody can see is reported once: when the caller was
 *     cancelled, the task's outcome is not read, so if it fails (before or
 *     after) and no other handle reads it, it is reported through the
 *     diagnostic handler as "Task exception was never retrieved" when the
 *     task is freed, as asyncio 3.13+ leaves the inner exception to the
 *     loop's exception handler instead of swallowing it;
 *   - the watch never outlives the call.
 */
#include <errno.h>

#include "internal.h"

typedef struct shield {
    ts__done_watch watch;
    ts_task *caller;
    int finished;
} shield;

static void shield_on_done(ts__done_watch *w, ts_task *t) {
    shield *sh = ts__container_of(w, shield, watch);
    (void)t;
    sh->finished = 1;
    ts__wake(sh->caller, 0);
}

static int take_outcome(ts_task *t, void **result) {
    void *res = NULL;
    int err = ts__task_outcome(t, &res);
    ts_task_unref(t);
    if (result && err == 0)
        *result = res;
    return err;
}

int ts_shield_at(ts_task *t, void **result, const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (!t)
        return -EINVAL;
    if (t == self)
        return -EDEADLK;
    int err = ts__check_thread(ts_task_loop(t), "ts_shield");
    if (err)
        return err;
    if (ts_task_done(t))
        return take_outcome(t, result);

    shield sh = {.caller = self};
    sh.watch.fn = shield_on_done;
    ts__task_watch(t, &sh.watch);
    while (!sh.finished) {
        if (ts__park(NULL, TS_WAIT_TASK, t, site) == -ECANCELED) {
            /* The cancel was delivered first, so it is the answer even if
             * the task has ended since; its outcome stays unread. */
            if (!sh.finished)
                ts__task_unwatch(&sh.watch);
            ts_task_detach(t);
            return -ECANCELED;
        }
    }
    return take_outcome(t, result);
}
