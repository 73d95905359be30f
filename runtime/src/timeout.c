/*
 * timeout.c - timeout scopes (asyncio.timeout).
 *
 * On expiry the scope cancels its task and remembers that it did.  On exit
 * it takes its request back (uncancel); if that leaves no more requests
 * than there were when the scope was entered, the cancellation the body
 * ended with was ours and becomes -ETIMEDOUT.  Any other cancellation
 * (from outside, or from an enclosing scope that also expired) keeps the
 * count higher and passes through as -ECANCELED, which is what makes
 * nesting work.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "loop_impl.h"

struct ts_timeout {
    ts__node node;         /* on loop->timeouts until exit */
    ts__timer timer;
    ts_task *task;
    int64_t when;          /* INT64_MAX: no deadline */
    int cancelling_at_entry;
    bool expired;
};

static void expired(ts__timer *tm) {
    ts_timeout *to = ts__container_of(tm, ts_timeout, timer);
    to->expired = true;
    ts_task_cancel(to->task, NULL);
}

static int64_t abs_ns(double when) {
    if (isnan(when) || when >= 9.2e9)
        return INT64_MAX;
    return when <= 0 ? 0 : (int64_t)(when * 1e9);
}

static void arm(ts_timeout *to) {
    if (to->when == INT64_MAX)
        ts__timer_stop(to->task->loop, &to->timer);
    else
        ts__timer_start(to->task->loop, &to->timer, to->when);
}

static ts_timeout *enter(int64_t when) {
    ts_task *t = ts__current();
    if (!t) {
        errno = ESRCH;
        return NULL;
    }
    ts_timeout *to = calloc(1, sizeof *to);
    if (!to) {
        errno = ENOMEM;
        return NULL;
    }
    to->task = t;
    to->when = when;
    to->cancelling_at_entry = ts_task_cancelling(t);
    ts__timer_init(&to->timer, expired);
    ts__list_push_back(&t->loop->timeouts, &to->node);
    arm(to);
    return to;
}

ts_timeout *ts_timeout_enter(double delay) {
    ts_loop *l = ts__loop();
    if (!l) {
        errno = ESRCH;
        return NULL;
    }
    if (isnan(delay) || delay < 0 || isinf(delay))
        return enter(INT64_MAX);
    return enter(ts__deadline_after(l, delay));
}

ts_timeout *ts_timeout_enter_at(double when) { return enter(abs_ns(when)); }

int ts_timeout_exit(ts_timeout *to, int err) {
    if (!to)
        return err;
    ts__timer_stop(to->task->loop, &to->timer);
    ts__list_remove(&to->node);
    if (to->expired) {
        int left = ts_task_uncancel(to->task);
        if (left <= to->cancelling_at_entry && err == -ECANCELED)
            err = -ETIMEDOUT;
    }
    free(to);
    return err;
}

void ts__timeouts_close(ts_loop *l) {
    ts__node *n;
    while ((n = ts__list_pop_front(&l->timeouts)))
        free(ts__container_of(n, ts_timeout, node));
}

int ts_timeout_reschedule(ts_timeout *to, double when) {
    if (to->expired)
        return TS_EINVALSTATE;
    to->when = abs_ns(when);
    arm(to);
    return 0;
}

double ts_timeout_when(const ts_timeout *to) {
    return to->when == INT64_MAX ? INFINITY : (double)to->when / 1e9;
}

int ts_timeout_expired(const ts_timeout *to) { return to->expired; }
