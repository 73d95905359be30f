/*
 * wait_for.c - ts_wait_for: await one task with a time limit, as
 * asyncio.wait_for does in Python 3.12.
 *
 * The caller watches the task, arms a timer and parks with no wait list of
 * its own.  Invariants:
 *   - ts_wait_for never returns while the task is still running: on
 *     timeout and on cancellation of the caller it cancels the task and
 *     keeps waiting until the task has ended (so its cleanup has run);
 *   - -ETIMEDOUT is returned only when the timer fired, the task was
 *     cancelled because of it and ended cancelled; a task that swallowed
 *     that cancellation and finished gives its own outcome;
 *   - a cancellation of the caller wins over the timeout: once the caller
 *     was cancelled, the answer is -ECANCELED whatever the task did, and
 *     every further cancel request is passed on to the task;
 *   - the handle is given up exactly once (after its outcome was read),
 *     and neither the watch nor the timer outlives the call.
 * The caller itself is never cancelled here, so nothing has to be taken
 * back with ts_task_uncancel (unlike Python's timeout-scope version).
 */
#include <errno.h>
#include <math.h>

#include "internal.h"

typedef struct wait_for {
    ts__done_watch watch;
    ts__waiter waiter;   /* parked on no list; its hook forwards a cancel */
    bool forwarded;      /* the hook passed the last cancel on already */
    ts__timer timer;
    ts_task *caller;
    ts_task *task;
    int finished;
    int expired;         /* the timer fired */
} wait_for;

static void wait_for_on_done(ts__done_watch *w, ts_task *t) {
    wait_for *wf = ts__container_of(w, wait_for, watch);
    (void)t;
    wf->finished = 1;
    ts__wake(wf->caller, 0);
}

static void wait_for_on_timeout(ts__timer *tm) {
    wait_for *wf = ts__container_of(tm, wait_for, timer);
    wf->expired = 1;
    ts__wake(wf->caller, 0);
}

/* ts_task_cancel on the caller: pass it on to the task at once, as
 * asyncio's Task.cancel() cancels the awaited task synchronously. */
static void wait_for_forward(ts__waiter *w) {
    wait_for *wf = ts__container_of(w, wait_for, waiter);
    wf->forwarded = true;
    if (!wf->finished)
        ts_task_cancel(wf->task, ts_task_cancel_message(wf->caller));
}

/* Park until the task has ended.  Returns 1 if the caller was cancelled
 * meanwhile.  *timed_out is set once the task is cancelled for the
 * timeout. */
static int wait_for_run(wait_for *wf, const ts_site *site, int *timed_out) {
    int caller_cancelled = 0;
    while (!wf->finished) {
        ts__waiter_init(&wf->waiter, wf->caller);
        wf->waiter.on_cancel = wait_for_forward;
        wf->forwarded = false;
        int rc = ts__park(&wf->waiter, TS_WAIT_TASK, wf->task, site);
        if (rc == -ECANCELED) {
            /* Also when the task ended meanwhile: the cancel came first.
             * Not forwarded yet if it was pending before we parked. */
            caller_cancelled = 1;
            if (!wf->finished && !wf->forwarded)
                ts_task_cancel(wf->task, ts_task_cancel_message(wf->caller));
        } else if (wf->expired && !wf->finished && !*timed_out &&
                   !caller_cancelled) {
            *timed_out = 1;
            ts_task_cancel(wf->task, NULL);
        }
    }
    return caller_cancelled;
}

/* Read the outcome and give up the handle; *result only on success. */
static int take_outcome(ts_task *t, void **result, int keep_result) {
    void *res = NULL;
    int err = ts__task_outcome(t, &res);
    ts_task_unref(t);
    if (result && err == 0 && keep_result)
        *result = res;
    return err;
}

static int check_args(const ts_task *t, double timeout, const ts_task *self) {
    if (!t || isnan(timeout))
        return -EINVAL;
    if (t == self)
        return -EDEADLK;
    return ts__check_thread(ts_task_loop(t), "ts_wait_for");
}

int ts_wait_for_at(ts_task *t, double timeout, void **result,
                   const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    int err = check_args(t, timeout, self);
    if (err)
        return err;
    if (ts_task_done(t))
        return take_outcome(t, result, 1);

    ts_loop *loop = ts__loop();
    wait_for wf = {.caller = self, .task = t};
    wf.watch.fn = wait_for_on_done;
    ts__task_watch(t, &wf.watch);
    ts__timer_init(&wf.timer, wait_for_on_timeout);
    int timed_out = 0;
    if (timeout <= 0) {
        /* asyncio: a zero (or negative: already expired) timeout on an
         * unfinished task cancels it at once. */
        wf.expired = timed_out = 1;
        ts_task_cancel(t, NULL);
    } else if (!isinf(timeout)) {
        ts__timer_start(loop, &wf.timer, ts__deadline_after(loop, timeout));
    }
    int caller_cancelled = wait_for_run(&wf, site, &timed_out);
    if (ts__timer_active(&wf.timer))
        ts__timer_stop(loop, &wf.timer);
    err = take_outcome(t, result, !caller_cancelled);
    if (caller_cancelled)
        return -ECANCELED;
    if (timed_out && err == -ECANCELED)
        return -ETIMEDOUT;
    return err;
}
