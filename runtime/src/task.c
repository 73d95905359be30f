/*
 * task.c - tasks: spawning, the switch between loop and task, parking and
 * waking, cancellation, completion and freeing.
 *
 * Invariants:
 *   - Every switch is loop -> task (ts__task_step), task -> loop
 *     (switch_to_loop), or task -> task in a direct hand-off (hand_off):
 *     a task that parks or yields while exactly one other, started task
 *     is ready and no other entry of the loop's batch is waiting switches
 *     straight to it, as Go's runnext does.  That is the task the loop
 *     would have run next anyway, so the order is unchanged; what is
 *     skipped is one switch pair and the loop's bookkeeping, at most
 *     TS_HANDOFF_BUDGET times per iteration.  The loop finds the task
 *     that ended the chain in l->current.  A task is on its loop's ready
 *     queue exactly when its state is READY.
 *   - parked != NULL exactly while the task is SUSPENDED; ts__wake clears
 *     it, so a task is woken at most once per suspension.
 *   - A finished task's stack is recycled by the loop, never by the task
 *     itself: the task is still running on it when it finishes.
 *   - refs > 0 until every handle is given up and the loop is done with
 *     the task; only then is the task freed (and a failure nobody
 *     retrieved reported).  handles counts the handles alone (refs also
 *     counts the loop's and the done callbacks' holds): a handle given up
 *     when none is left is misuse, caught with one compare (TS_EFREED).
 *   - The debug runtime keeps a freed record out of reuse for a while
 *     (the loop's quarantine, state TS__TASK_FREED), so that a stale
 *     handle meets a dead record, named in the diagnostic, rather than
 *     another task.  The release runtime reuses records at once: there, a
 *     stale handle is caught only until the record is reused.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "loop_impl.h"
#include "tracepoints.h"

/* The fake-stack save slot ASan keeps per task (fiber.h), only in ASan
 * builds: elsewhere the record does without it. */
#ifdef TS_ASAN
#define TASK_FAKE(t) (&(t)->asan_fake)
#else
#define TASK_FAKE(t) ((void **)NULL)
#endif

/* An idle task costs a page of stack and this record (bench idle_memory,
 * issue 17: at most 4,403 B with the timer's heap entry): a record of
 * 232 B is a 240 B malloc chunk.  Rarely used fields go in ts__task_rare. */
#if !defined(TS_DEBUG_RUNTIME) && !defined(TS_ASAN) && !defined(TS_CORO_UCONTEXT) && \
    UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(struct ts_task) <= 232, "the task record grew: see bench idle_memory");
#endif

/* Where the last handle was given up: kept by the debug runtime only, for
 * its use-after-release diagnostic. */
#ifdef TS_DEBUG_RUNTIME
#define SET_RELEASE_SITE(t, site) ((t)->release_site = (site))
#else
#define SET_RELEASE_SITE(t, site) ((void)(site))
#endif

static _Atomic uint64_t next_task_id = 1;

/* Task ids are unique in the process and increase in spawn order on each
 * loop.  A loop takes them from the shared counter in blocks: a locked
 * add per spawn also waits for the store buffer to drain. */
enum { ID_BLOCK = 256 };

static uint64_t next_id(ts_loop *l) {
    if (l->id_next == l->id_end) {
        l->id_next = atomic_fetch_add_explicit(&next_task_id, ID_BLOCK, memory_order_relaxed);
        l->id_end = l->id_next + ID_BLOCK;
    }
    return l->id_next++;
}

/* A user done callback, scheduled from the loop after the task finishes. */
struct done_cb {
    ts__node node;
    ts_task_done_fn fn;
    void *arg;
};

ts_task *ts_current_task(void) { return ts__tls_task; }

static void task_entry(void *arg);
static void run_done_callbacks(ts__cb *cb);
static void drop_ref(ts_task *t);
static int record_freed(const ts_task *t, const char *what);

/* Every field of a fresh or recycled record, one store each.  Not memset:
 * GCC clears a record this size with rep stos, whose start-up cost was
 * ~12% of a spawn.  A field added to struct ts_task must be added here
 * (ctx is written by the task's first switch away before its first use). */
static void task_init(ts_task *t, ts_loop *l, ts_task_fn fn, void *arg) {
    t->run.node.prev = t->run.node.next = NULL;
    t->run.fn = ts__task_step;
    t->stack = (ts__stack){0};
    t->loop = l;
    t->parked = NULL;
    t->wake_status = 0;
    t->state = TS_TASK_READY;
    t->wait_kind = TS_WAIT_NONE;
    t->must_cancel = false;
    t->cancel_woken = false;
    t->started = false;
    t->err_retrieved = false;
    t->name_owned = false;
    t->mark = false;
    t->refs = 2; /* the caller's handle and the loop's */
    t->handles = 1;
    t->cancel_requests = 0;
    t->err = 0;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->id = t->parent_id = 0;
    t->name = NULL;
    t->spawn_site = t->await_site = NULL;
    t->wait_obj = NULL;
    t->err_msg = NULL;
    t->stack_size = 0;
    t->all.prev = t->all.next = NULL;
    ts__list_init(&t->watchers);
    t->rare = NULL;
#ifdef TS_ASAN
    t->asan_fake = NULL;
#endif
    SET_RELEASE_SITE(t, NULL);
}

ts_task *ts_spawn_at(const ts_spawn_opts *opts, ts_task_fn fn, void *arg,
                     const char *default_name, const ts_site *site) {
    ts_loop *l = opts && opts->loop ? opts->loop : ts__tls_loop;
    if (!l || !fn || (opts && opts->stack_size > (1u << 30))) {
        /* no loop; or no function; or a stack above 1 GiB, which could
         * never be mapped */
        errno = !l ? ESRCH : fn ? ENOMEM : EINVAL;
        return NULL;
    }
    if (ts__check_thread(l, "ts_spawn")) {
        errno = EXDEV;
        return NULL;
    }
    char *name = NULL;
    if (opts && opts->name && !(name = strdup(opts->name))) {
        errno = ENOMEM;
        return NULL;
    }
    ts_task *t = l->free_tasks;
    if (t) {
        l->free_tasks = *(ts_task **)t;
        l->nfree_tasks--;
    } else if (!(t = malloc(sizeof *t))) {
        free(name);
        errno = ENOMEM;
        return NULL;
    }
    task_init(t, l, fn, arg);
    t->id = next_id(l);
    t->parent_id = ts__tls_task ? ts__tls_task->id : 0;
    t->name = name ? name : default_name ? default_name : "task";
    t->name_owned = name != NULL;
    t->spawn_site = site;
    t->stack_size = opts ? (uint32_t)opts->stack_size : 0;
    ts__list_push_back(&l->tasks, &t->all);
    l->nunfinished++;
    if (++l->nlive_tasks > l->live_tasks_peak)
        l->live_tasks_peak = l->nlive_tasks;
    TS_TRACE_TASK_CREATE(t);
    ts__loop_ready_push(l, &t->run);
    return t;
}

/* ---- switching ------------------------------------------------------------ */

/* Back on t's stack after a switch away.  ASan: the stack we came from
 * is the loop's when the loop resumed us (its bounds are learned here),
 * another task's after a hand-off (not to be taken for the loop's). */
static inline void resumed(ts_task *t) {
#ifdef TS_ASAN
    ts_loop *l = t->loop;
    const void *bottom;
    size_t size;
    ts__fiber_finish(t->asan_fake, &bottom, &size);
    if (!l->resumed_by_task) {
        l->stack_bottom = bottom;
        l->stack_size = size;
    }
    l->resumed_by_task = false;
#else
    (void)t;
#endif
}

/* Leave the task for the loop; returns when the loop resumes the task. */
static void switch_to_loop(ts_task *t) {
    ts_loop *l = t->loop;
    ts__fiber_start(TASK_FAKE(t), l->stack_bottom, l->stack_size);
    ts__ctx_switch(&t->ctx, &l->ctx);
    resumed(t);
}

/* A timer is due by the loop's last clock reading: the loop must run it
 * before the next task, as it would have (a timeout already expired
 * cancels the task that yields).  One due since that reading waits for
 * the next iteration, as if the loop had been that much quicker. */
static inline bool timer_due(const ts_loop *l) {
    return l->nheap > 0 && l->heap[0].when <= l->now;
}

/* The task a leaving task may hand the thread to directly: the only
 * entry on the ready queue, when it is a started task, nothing else of
 * this iteration's batch waits its turn, no timer is due, the loop is not
 * stopping and the iteration's budget is not spent.  NULL otherwise. */
static inline ts_task *hand_off_target(ts_loop *l) {
    ts__node *n = l->ready.next;
    if (n == &l->ready || n->next != &l->ready || l->handoff_left == 0 ||
        !ts__list_empty(&l->batch) || l->stopping || timer_due(l))
        return NULL;
    ts__cb *cb = ts__container_of(n, ts__cb, node);
    if (cb->fn != ts__task_step)
        return NULL;
    ts_task *b = ts__container_of(cb, ts_task, run);
    return b->started ? b : NULL;
}

/* A yield asks that everything else runs first, I/O included: asyncio's
 * sleep(0) lets the loop poll before the task goes on, and programs (and
 * CPython's tests) count on a connection being accepted or a cancelled
 * read being reaped by the next few sleep(0)s.  So while a descriptor or
 * ring operation is armed a yield goes through the loop, which polls;
 * with none armed only tasks could run, and the yield may skip the loop
 * (alone) or hand off (hand_off_target). */
static inline bool yield_may_skip_poll(const ts_loop *l) { return l->nfds_armed == 0; }

/* Nothing but the running task could run now (a yield need not switch). */
static inline bool alone(ts_loop *l) {
    return ts__list_empty(&l->ready) && ts__list_empty(&l->batch) &&
           l->handoff_left > 0 && !l->stopping && !timer_due(l) && yield_may_skip_poll(l);
}

/* Switch from t straight to b (taken off the ready queue), doing for b
 * what ts__task_step does around a step, and the trace of both steps; b
 * later returns to the loop, or hands off again. */
static void hand_off(ts_task *t, ts_task *b) {
    ts_loop *l = t->loop;
    l->handoff_left--;
    ts__list_remove(&b->run.node);
    TS_TRACE_STEP_END(l, t);
    b->state = TS_TASK_RUNNING;
    b->cancel_woken = false;
    l->current = b;
    ts__tls_task = b;
    TS_TRACE_STEP_BEGIN(l, b);
    TS_TRACE_TASK_RESUME(b);
#ifdef TS_ASAN
    l->resumed_by_task = true;
#endif
    ts__fiber_start(TASK_FAKE(t), b->stack.base, b->stack.size);
    ts__ctx_switch(&t->ctx, &b->ctx);
    resumed(t);
}

/* A parked task leaves: to the task it woke, if that is the only one
 * left to run, else to the loop. */
static void leave_parked(ts_task *t) {
    ts_task *b = hand_off_target(t->loop);
    if (b)
        hand_off(t, b);
    else
        switch_to_loop(t);
}

static void finish(ts_task *t);

/* The ready-queue step of a task: run it until it parks, yields or ends. */
void ts__task_step(ts__cb *cb) {
    ts_task *t = ts__container_of(cb, ts_task, run);
    ts_loop *l = t->loop;
    if (!t->started) {
        if (t->must_cancel) {
            /* Cancelled before its first step: the function never runs. */
            t->must_cancel = false;
            t->err = -ECANCELED;
            finish(t);
            drop_ref(t);
            return;
        }
        int err = ts__stack_get(l, t->stack_size, &t->stack);
        if (err) {
            t->err = err;
            finish(t);
            drop_ref(t);
            return;
        }
        ts__fiber_fresh_stack(t->stack.base, t->stack.size);
    }
    t->state = TS_TASK_RUNNING;
    t->cancel_woken = false;
    l->current = t;
    ts__tls_task = t;
    TS_TRACE_STEP_BEGIN(l, t);
    TS_TRACE_TASK_RESUME(t);
    void *fake = NULL;
    ts__fiber_start(&fake, t->stack.base, t->stack.size);
    if (t->started) {
        ts__ctx_switch(&l->ctx, &t->ctx);
    } else {
        t->started = true;
        ts__ctx_start(&l->ctx, &t->stack, task_entry, t);
    }
    ts__fiber_finish(fake, NULL, NULL);
    t = l->current; /* the last task of a hand-off chain: t, or another */
    ts__tls_task = NULL;
    l->current = NULL;
    TS_TRACE_STEP_END(l, t);
    if (t->state >= TS_TASK_DONE) {
        ts__stack_put(l, &t->stack);
        drop_ref(t); /* the loop's reference */
    }
}

static void task_entry(void *arg) {
    ts_task *t = arg;
    ts_loop *l = t->loop;
    ts__fiber_finish(NULL, &l->stack_bottom, &l->stack_size);
    t->result = t->fn(t->arg);
    finish(t);
    /* Last switch: NULL tells ASan this fiber's fake frames can go. */
    ts__fiber_start(NULL, l->stack_bottom, l->stack_size);
    ts__ctx_jump(&l->ctx);
}

/* Mark t finished, tell its watchers, schedule its done callbacks. */
static void finish(ts_task *t) {
    t->state = t->err == -ECANCELED ? TS_TASK_CANCELLED
               : t->err            ? TS_TASK_FAILED
                                   : TS_TASK_DONE;
    t->wait_kind = TS_WAIT_NONE;
    t->must_cancel = false;
    t->loop->nunfinished--;
    TS_TRACE_TASK_DONE(t);
    ts__node *n;
    while ((n = ts__list_pop_front(&t->watchers))) {
        ts__done_watch *w = ts__container_of(n, ts__done_watch, node);
        w->fn(w, t);
    }
    if (t->rare && !ts__list_empty(&t->rare->done_cbs)) {
        t->refs++; /* held until the callbacks have run */
        ts__loop_ready_push(t->loop, &t->rare->done_cb_run);
    }
}

static void run_done_callbacks(ts__cb *cb) {
    struct ts__task_rare *rare = ts__container_of(cb, struct ts__task_rare, done_cb_run);
    ts_task *t = rare->task;
    ts__node *n;
    while ((n = ts__list_pop_front(&rare->done_cbs))) {
        struct done_cb *d = ts__container_of(n, struct done_cb, node);
        d->fn(t, d->arg);
        free(d);
    }
    drop_ref(t);
}

/* ---- parking ---------------------------------------------------------------*/

int ts__park(ts__waiter *w, ts_wait_kind kind, const void *obj,
             const ts_site *site) {
    ts_task *t = ts__tls_task;
    if (!t) {
        if (w)
            ts__list_remove(&w->node);
        return TS_ENOTASK;
    }
    if (t->must_cancel) {
        t->must_cancel = false;
        if (w)
            ts__list_remove(&w->node);
        return -ECANCELED;
    }
    static ts__waiter unlisted; /* stands for "parked on nothing" */
    t->parked = w ? w : &unlisted;
    t->state = TS_TASK_SUSPENDED;
    t->wait_kind = (unsigned char)kind;
    t->wait_obj = obj;
    t->await_site = site;
    TS_TRACE_TASK_SUSPEND(t, kind, obj, site);
    leave_parked(t);
    t->wait_kind = TS_WAIT_NONE;
    t->wait_obj = NULL;
    return t->wake_status;
}

int ts__wake(ts_task *t, int status) {
    if (t->state != TS_TASK_SUSPENDED)
        return 0;
    ts__list_remove(&t->parked->node);
    t->parked = NULL;
    t->wake_status = status;
    t->state = TS_TASK_READY;
    TS_TRACE_TASK_WAKE(t, status);
    ts__loop_ready_push(t->loop, &t->run);
    return 1;
}

int ts__yield(const ts_site *site) {
    ts_task *t = ts__tls_task;
    if (!t)
        return TS_ENOTASK;
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    ts_loop *l = t->loop;
    t->wait_kind = TS_WAIT_YIELD;
    t->await_site = site;
    TS_TRACE_TASK_SUSPEND(t, TS_WAIT_YIELD, NULL, site);
    if (alone(l)) {
        /* Nothing else to run: the loop would resume us at once.  Skip
         * the switch pair (the budget still sends us through the loop
         * now and then, for timers and I/O); the trace shows the same
         * step end and resume. */
        l->handoff_left--;
        TS_TRACE_STEP_END(l, t);
        TS_TRACE_STEP_BEGIN(l, t);
        TS_TRACE_TASK_RESUME(t);
        t->wait_kind = TS_WAIT_NONE;
        return 0;
    }
    /* The task that was first in line runs next either way: hand off to
     * it when it is alone there, then queue behind it. */
    ts_task *b = yield_may_skip_poll(l) ? hand_off_target(l) : NULL;
    t->state = TS_TASK_READY;
    ts__loop_ready_push(l, &t->run);
    if (b)
        hand_off(t, b);
    else
        switch_to_loop(t);
    t->wait_kind = TS_WAIT_NONE;
    /* Cancelled while it sat in the ready queue: sleep(0) is a suspension
     * point like any other, and gave nothing away, so deliver it here. */
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    return 0;
}

/* ---- cancellation ----------------------------------------------------------*/

int ts_task_cancel(ts_task *t, const char *msg) {
    int rc = ts__task_cancel_by(t, msg, ts__current());
    /* asyncio's Task.cancel() on a task already done clears its "never
     * retrieved" report: whoever cancels has said the outcome does not
     * matter to them (test_tb_logger_not_called_after_cancel).  Only the
     * public call does this; the runtime's own cancels (groups, gather,
     * timeouts) must not hide an error. */
    if (rc == 0 && t && t->state >= TS_TASK_DONE)
        t->err_retrieved = true;
    return rc;
}

/* The trace records `by` as the task that asked: the group's owner, a
 * timeout's task, a gather's caller, rather than whichever task happens
 * to be running when the request is made (a failing sibling, or none). */
int ts__task_cancel_by(ts_task *t, const char *msg, ts_task *by) {
    (void)by; /* only the trace points read it */
    if (!t || t->state >= TS_TASK_DONE)
        return t && record_freed(t, "ts_task_cancel") ? TS_EFREED : 0;
    if (ts__check_thread(t->loop, "ts_task_cancel"))
        return TS_EWRONGLOOP;
    t->cancel_requests++;
    struct ts__task_rare *rare = msg ? ts__task_rare(t) : NULL;
    if (rare) {
        char *m = strdup(msg);
        if (m) {
            free(rare->cancel_msg);
            rare->cancel_msg = m;
        }
    }
    TS_TRACE_TASK_CANCEL(t, msg, by ? by->id : 0);
    /* asyncio delivers requests that arrive before the task runs again
     * as one CancelledError: a task already woken by a cancellation has
     * its delivery pending, and must not get a second one later. */
    if (t->state == TS_TASK_SUSPENDED) {
        ts__waiter *w = t->parked;
        ts__wake(t, -ECANCELED);
        t->cancel_woken = true;
        /* What it awaited is cancelled now, not when it next runs (so a
         * value set on that future meanwhile is refused, not lost).  The
         * hook acts for t (t's await passes the request on), so t is the
         * current task meanwhile: a trace says t cancelled what it
         * awaited, which is the chain a debugger wants to show. */
        if (w->on_cancel) {
            ts_task *caller = ts__tls_task;
            ts__tls_task = t;
            w->on_cancel(w);
            ts__tls_task = caller;
        }
    } else if (!t->cancel_woken) {
        t->must_cancel = true;
    }
    return 1;
}

int ts_task_uncancel(ts_task *t) {
    if (!t)
        return 0;
    if (t->cancel_requests > 0)
        t->cancel_requests--;
    /* asyncio 3.13: once no request is left, a pending delivery is void. */
    if (t->cancel_requests == 0)
        t->must_cancel = false;
    return t->cancel_requests;
}

int ts_task_cancelling(const ts_task *t) { return t ? t->cancel_requests : 0; }

/* ---- completion, outcome, handles --------------------------------------------*/

void *ts_fail(int err, const char *fmt, ...) {
    ts_task *t = ts__tls_task;
    if (!t)
        return NULL;
    t->err = err < 0 ? err : -EINVAL;
    free(t->err_msg);
    t->err_msg = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&t->err_msg, fmt, ap) < 0)
            t->err_msg = NULL;
        va_end(ap);
    }
    return NULL;
}

bool ts__task_mark(ts_task *t, bool on) {
    bool was = t->mark;
    t->mark = on;
    return was;
}

int ts__task_outcome(ts_task *t, void **result) {
    t->err_retrieved = true;
    if (result)
        *result = t->err ? NULL : t->result;
    return t->err;
}

/* Back to the loop's reuse cache, or to malloc beyond it. */
static void recycle(ts_loop *l, ts_task *t) {
    if (l->nfree_tasks < TS_TASK_RECORDS_KEPT_IDLE || l->nfree_tasks < l->live_tasks_peak) {
        *(ts_task **)t = l->free_tasks; /* the record is dead: reuse its first word */
        l->free_tasks = t;
        l->nfree_tasks++;
    } else {
        free(t);
    }
}

#ifdef TS_DEBUG_RUNTIME
/* How many freed records the debug runtime keeps out of reuse per loop
 * (~1.7 MB): a stale handle used within the next 4096 task frees is named
 * as such instead of silently meaning another task. */
enum { QUARANTINE = 4096 };

static void quarantine_leave(ts_task *t) {
    if (t->name_owned)
        free((char *)t->name);
    t->name_owned = false;
}

static void quarantine(ts_loop *l, ts_task *t) {
    if (!l->task_quarantine.next)
        ts__list_init(&l->task_quarantine);
    ts__list_push_back(&l->task_quarantine, &t->all);
    if (++l->ntask_quarantine <= QUARANTINE)
        return;
    ts_task *old = ts__container_of(ts__list_pop_front(&l->task_quarantine), ts_task, all);
    l->ntask_quarantine--;
    quarantine_leave(old);
    recycle(l, old);
}

static void quarantine_free(ts_loop *l) {
    ts__node *n;
    while (l->task_quarantine.next && (n = ts__list_pop_front(&l->task_quarantine))) {
        ts_task *t = ts__container_of(n, ts_task, all);
        quarantine_leave(t);
        free(t);
    }
    l->ntask_quarantine = 0;
}
#endif

static void free_task(ts_task *t) {
    if (t->state == TS_TASK_FAILED && !t->err_retrieved)
        ts__diag_task(TS_DIAG_ERROR_NEVER_RETRIEVED,
                      "Task exception was never retrieved", t, t->err, t->err_msg);
    TS_TRACE_TASK_FREE(t);
    ts__list_remove(&t->all);
    if (t->stack.base)
        ts__stack_free(&t->stack);
    /* The common task owns none of these: skip the calls into free(). */
    if (t->err_msg)
        free(t->err_msg);
    t->err_msg = NULL;
    struct ts__task_rare *rare = t->rare;
    if (rare) {
        free(rare->cancel_msg);
        ts__node *n;
        while ((n = ts__list_pop_front(&rare->done_cbs)))
            free(ts__container_of(n, struct done_cb, node));
        if (rare->errgroup)
            ts__errgroup_unref(rare->errgroup);
        free(rare->notes);   /* the debug runtime freed it already (notes.c) */
        free(rare);
        t->rare = NULL;
    }
    t->state = TS__TASK_FREED;
    t->handles = 0;
    ts_loop *l = t->loop;
    l->nlive_tasks--;
#ifdef TS_DEBUG_RUNTIME
    quarantine(l, t);   /* keeps the name, for the diagnostic */
#else
    if (t->name_owned)
        free((char *)t->name);
    recycle(l, t);
#endif
}

void ts__task_records_trim(ts_loop *l, size_t keep) {
    while (l->nfree_tasks > keep) {
        ts_task *t = l->free_tasks;
        l->free_tasks = *(ts_task **)t;
        l->nfree_tasks--;
        free(t);
    }
}

void ts__task_records_free(ts_loop *l) {
#ifdef TS_DEBUG_RUNTIME
    quarantine_free(l);
#endif
    ts__task_records_trim(l, 0);
}

/* The loop's or a done callback's hold, not a handle. */
static void drop_ref(ts_task *t) {
    if (--t->refs == 0)
        free_task(t);
}

/* A handle used after every handle was given up: TS_EFREED, and in the
 * debug runtime a diagnostic naming the task, where the bad call was made
 * (or which call, when it takes no site) and where the handle was given
 * up (when known). */
static int handle_misuse(const ts_task *t, const char *what, const ts_site *site) {
#ifdef TS_DEBUG_RUNTIME
    ts_site call = {NULL, what, 0};
    ts__diag_misuse(TS_DIAG_USE_AFTER_FREE, "task handle used after it was released",
                    t, t->spawn_site, site ? site : &call, t->release_site, TS_EFREED);
#else
    (void)t, (void)what, (void)site;
#endif
    return TS_EFREED;
}

/* A non-consuming use of a pointer whose record was freed (debug runtime
 * only: the release runtime may already have reused the record). */
static int record_freed(const ts_task *t, const char *what) {
#ifdef TS_DEBUG_RUNTIME
    if (t->state == TS__TASK_FREED) {
        handle_misuse(t, what, NULL);
        return 1;
    }
#else
    (void)t, (void)what;
#endif
    return 0;
}

ts_task *ts_task_ref(ts_task *t) {
    if (!t || record_freed(t, "ts_task_ref"))
        return NULL;
    t->refs++;
    t->handles++;
    return t;
}

/* Give up one handle (site: where, if known). */
static void give_up(ts_task *t, const char *what, const ts_site *site) {
    if (t->handles <= 0) {
        handle_misuse(t, what, site);
        return;
    }
    t->handles--;
    SET_RELEASE_SITE(t, site);
    drop_ref(t);
}

void ts_task_unref(ts_task *t) {
    if (t)
        give_up(t, "ts_task_unref", NULL);
}

void ts_task_detach(ts_task *t) {
    if (t)
        give_up(t, "ts_task_detach", NULL);
}

ts_error_group *ts__task_errgroup(const ts_task *t) { return t->rare ? t->rare->errgroup : NULL; }

/* Out of memory for the rare part, the list is not kept: an outer group
 * then reports this task's error without the nested ones. */
void ts__task_set_errgroup(ts_task *t, ts_error_group *eg) {
    struct ts__task_rare *rare = eg || t->rare ? ts__task_rare(t) : NULL;
    if (!rare)
        return;
    ts__errgroup_ref(eg);
    ts__errgroup_unref(rare->errgroup);
    rare->errgroup = eg;
}

const ts_error_group *ts_task_error_group(const ts_task *t) {
    return t ? ts__task_errgroup(t) : NULL;
}

void ts__task_watch(ts_task *t, ts__done_watch *w) { ts__list_push_back(&t->watchers, &w->node); }
void ts__task_unwatch(ts__done_watch *w) { ts__list_remove(&w->node); }

struct wake_on_done {
    ts__done_watch watch;
    ts_task *waiter;
};

static void wake_waiter(ts__done_watch *w, ts_task *done) {
    (void)done;
    ts__wake(ts__container_of(w, struct wake_on_done, watch)->waiter, 0);
}

/* wd lives in this frame while linked on t->watchers; it is unlinked
 * before we return (finish() pops it, or the unwatch below), which GCC's
 * dangling-pointer analysis cannot see. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
/* A waiter parked on a task it forwards cancellation to: the request is
 * passed on from ts_task_cancel itself (asyncio cancels the awaited task
 * synchronously), and only once per wake. */
struct forward_waiter {
    ts__waiter w;
    ts_task *target;
    bool forwarded;
};

static void forward_cancel(ts__waiter *w) {
    struct forward_waiter *fw = ts__container_of(w, struct forward_waiter, w);
    fw->forwarded = true;
    ts_task_cancel(fw->target, ts_task_cancel_message(w->task));
}

int ts__task_wait_done(ts_task *t, int forward, const ts_site *site) {
    int cancelled = 0;
    if (t->state >= TS_TASK_DONE)
        return 0;
    struct wake_on_done wd = {.watch.fn = wake_waiter, .waiter = ts__tls_task};
    ts__task_watch(t, &wd.watch);
    struct forward_waiter fw = {.target = t};
    while (t->state < TS_TASK_DONE) {
        ts__waiter_init(&fw.w, wd.waiter);
        fw.w.on_cancel = forward ? forward_cancel : NULL;
        fw.forwarded = false;
        int st = ts__park(&fw.w, TS_WAIT_TASK, t, site);
        if (st == -ECANCELED) {
            cancelled = 1;
            /* Not forwarded yet if the request was pending before we
             * parked (ts__park returned at once). */
            if (forward && !fw.forwarded)
                ts_task_cancel(t, ts_task_cancel_message(wd.waiter));
        } else if (st == TS_ENOTASK) {
            break;
        }
    }
    ts__task_unwatch(&wd.watch);
    return cancelled ? -ECANCELED : 0;
}

int ts_await_at(ts_task *t, void **result, const ts_site *site) {
    if (!t)
        return -EINVAL;
    ts_task *cur = ts__tls_task;
    if (!cur)
        return TS_ENOTASK;
    /* Every handle already given up (or being given up by another
     * ts_await): one compare, in both runtimes. */
    if (t->handles <= 0)
        return handle_misuse(t, "ts_await", site);
    if (t == cur)
        return -EDEADLK;
    if (ts__check_thread(t->loop, "ts_await"))
        return TS_EWRONGLOOP;
    /* The handle is given up now, not on return, so a second ts_await on
     * it while this one waits is caught; the hold stays until we return. */
    t->handles--;
    SET_RELEASE_SITE(t, site);
    int cancelled = t->state >= TS_TASK_DONE ? 0 : ts__task_wait_done(t, 1, site);
    int err = ts__task_outcome(t, result);
    drop_ref(t);
    return cancelled ? -ECANCELED : err;
}

int ts_task_add_done_callback(ts_task *t, ts_task_done_fn fn, void *arg) {
    if (!t || !fn)
        return -EINVAL;
    if (record_freed(t, "ts_task_add_done_callback"))
        return TS_EFREED;
    struct done_cb *d = malloc(sizeof *d);
    if (!d)
        return -ENOMEM;
    d->fn = fn;
    d->arg = arg;
    struct ts__task_rare *rare = ts__task_rare(t);
    if (!rare) {
        free(d);
        return -ENOMEM;
    }
    bool was_empty = ts__list_empty(&rare->done_cbs);
    ts__list_push_back(&rare->done_cbs, &d->node);
    if (t->state >= TS_TASK_DONE && was_empty && !ts__node_linked(&rare->done_cb_run.node)) {
        t->refs++;
        ts__loop_ready_push(t->loop, &rare->done_cb_run);
    }
    return 0;
}

int ts_task_remove_done_callback(ts_task *t, ts_task_done_fn fn, void *arg) {
    int removed = 0;
    if (!t || !t->rare)
        return 0;
    ts__list_foreach(it, &t->rare->done_cbs) {
        struct done_cb *d = ts__container_of(it, struct done_cb, node);
        if (d->fn == fn && d->arg == arg) {
            ts__list_remove(it);
            free(d);
            removed++;
        }
    }
    return removed;
}

/* ---- accessors -------------------------------------------------------------*/

/* Accessors accept NULL (answering as for no task) rather than crash:
 * nothing outside the runtime may make it abort. */
int ts_task_done(const ts_task *t) { return t && t->state >= TS_TASK_DONE; }
int ts_task_cancelled(const ts_task *t) { return t && t->state == TS_TASK_CANCELLED; }
ts_task_state ts_task_state_of(const ts_task *t) { return t ? (ts_task_state)t->state : TS_TASK_DONE; }
uint64_t ts_task_id(const ts_task *t) { return t ? t->id : 0; }
uint64_t ts_task_parent_id(const ts_task *t) { return t ? t->parent_id : 0; }
const char *ts_task_name(const ts_task *t) { return t ? t->name : NULL; }
const ts_site *ts_task_spawn_site(const ts_task *t) { return t ? t->spawn_site : NULL; }
ts_loop *ts_task_loop(const ts_task *t) { return t ? t->loop : NULL; }
const char *ts_task_error_message(const ts_task *t) { return t ? t->err_msg : NULL; }
const char *ts_task_cancel_message(const ts_task *t) {
    return t && t->rare ? t->rare->cancel_msg : NULL;
}

struct ts__task_rare *ts__task_rare(ts_task *t) {
    if (!t->rare && (t->rare = calloc(1, sizeof *t->rare))) {
        t->rare->task = t;
        ts__list_init(&t->rare->done_cbs);
        t->rare->done_cb_run.fn = run_done_callbacks;
    }
    return t->rare;
}

int ts_task_result(ts_task *t, void **result) {
    if (!t)
        return -EINVAL;
    if (record_freed(t, "ts_task_result"))
        return TS_EFREED;
    if (t->state < TS_TASK_DONE)
        return TS_EINVALSTATE;
    return ts__task_outcome(t, result);
}

int ts_task_error(ts_task *t) {
    if (!t || t->state < TS_TASK_DONE)
        return 0;
    if (record_freed(t, "ts_task_error"))
        return TS_EFREED;
    t->err_retrieved = true;
    return t->err;
}

int ts_task_set_name(ts_task *t, const char *name) {
    if (!t)
        return -EINVAL;
    char *copy = strdup(name ? name : "");
    if (!copy)
        return -ENOMEM;
    if (t->name_owned)
        free((char *)t->name);
    t->name = copy;
    t->name_owned = true;
    return 0;
}

ts_wait_kind ts_task_awaiting(const ts_task *t, const void **object,
                              const ts_site **site) {
    ts_wait_kind k = !t ? TS_WAIT_NONE
                   : t->state == TS_TASK_SUSPENDED || t->wait_kind == TS_WAIT_YIELD
                         ? (ts_wait_kind)t->wait_kind
                         : TS_WAIT_NONE;
    if (object)
        *object = k ? t->wait_obj : NULL;
    if (site)
        *site = k ? t->await_site : NULL;
    return k;
}

const char *ts_task_state_name(ts_task_state s) {
    static const char *const names[] = {"ready", "running", "suspended",
                                        "done", "failed", "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *ts_wait_kind_name(ts_wait_kind k) {
    static const char *const names[] = {
        "none", "task", "future", "sleep", "yield", "lock", "event",
        "condition", "semaphore", "barrier", "queue_get", "queue_put",
        "queue_join", "fd", "executor", "generator", "group"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

size_t ts_all_tasks(ts_loop *l, ts_task **out, size_t cap) {
    if (!l)
        l = ts__tls_loop;
    if (!l)
        return 0;
    size_t n = 0;
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (t->state >= TS_TASK_DONE)
            continue;
        if (n < cap)
            out[n] = t;
        n++;
    }
    return n;
}

/* Loop close: report and free every task that remains. */
void ts__task_finish_all(ts_loop *l) {
    ts__node *n;
    while ((n = ts__list_first(&l->tasks))) {
        ts_task *t = ts__container_of(n, ts_task, all);
        if (t->state < TS_TASK_DONE) {
            ts__diag_task(TS_DIAG_TASK_DESTROYED_PENDING,
                          "Task was destroyed but it is pending", t, 0, NULL);
            ts__list_remove(&t->run.node);
            if (t->parked)
                ts__list_remove(&t->parked->node);
            t->state = TS_TASK_CANCELLED;
            t->err = -ECANCELED;
            t->err_retrieved = true;
            l->nunfinished--;
            t->refs--; /* the loop's own reference: what is left are handles */
        }
        /* Still referenced, and nobody waiting on it: a handle forgotten.
         * (A task some other task awaits when the loop closes is held by
         * that await, not forgotten.) */
        if (t->refs > 0 && t->state != TS_TASK_FAILED && ts__list_empty(&t->watchers)) {
            ts__diag_task(TS_DIAG_NEVER_AWAITED,
                          "Task was never awaited (its handle was never released)",
                          t, 0, NULL);
        }
        if (t->rare)
            ts__list_remove(&t->rare->done_cb_run.node);
        t->refs = 1;
        drop_ref(t);
    }
}
