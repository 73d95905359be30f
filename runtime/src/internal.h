/*
 * internal.h - what the runtime's files share and users never see.
 *
 * The one mechanism everything is built on: a task *parks* itself (ts__park)
 * after putting a waiter record on some wait list, and something else
 * *wakes* it (ts__wake) with a status.  Invariants:
 *
 *   - A parked task is woken exactly once: ts__wake on a task that is not
 *     parked (already woken, running, done) does nothing and returns 0.
 *   - ts__wake unlinks the task's waiter from whatever list it is on, so a
 *     cancelled waiter can never be picked by a later release.
 *   - Cancellation of a parked task is a wake with -ECANCELED.  A task
 *     that is ready or running when cancelled gets -ECANCELED from its next
 *     ts__park/ts__yield instead (must_cancel), without suspending.
 *   - Cancellation reaches what the task awaits at once: ts_task_cancel on
 *     a parked task wakes it and then calls its waiter's on_cancel hook
 *     (if set), synchronously, as asyncio's Task.cancel() cancels the
 *     awaited future before returning.  The hook runs on the canceller's
 *     stack while the parked task's frame (holding the waiter) is intact.
 *   - A wake with success is never turned into a cancellation afterwards:
 *     whatever the waker handed over (a lock, an item) is the task's, and a
 *     pending cancel request waits for the next suspension.  So primitives
 *     never have to hand a resource back.
 *
 * All of this runs on one loop thread; nothing here is thread-safe except
 * what says so.
 */
#ifndef TS_INTERNAL_H
#define TS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "taskscope/taskscope.h"
#include "coro.h"
#include "list.h"

#define TS_NSEC 1000000000LL
#define TS_DEFAULT_STACK (256u * 1024u)

/* ---- ready queue entries and timers ----------------------------------- */

/* Something runnable: a task step or a callback.  Lives inside its owner. */
typedef struct ts__cb {
    ts__node node;
    void (*fn)(struct ts__cb *cb);
} ts__cb;

/* A timer: a deadline in the loop's heap.  Equal deadlines fire in the
 * order they were started (seq breaks ties). */
typedef struct ts__timer {
    int64_t when;               /* loop clock, ns */
    uint64_t seq;
    size_t idx;                 /* position in the heap; SIZE_MAX if idle */
    void (*fn)(struct ts__timer *t);
} ts__timer;

void ts__timer_init(ts__timer *t, void (*fn)(ts__timer *));
void ts__timer_start(ts_loop *loop, ts__timer *t, int64_t when_ns);
void ts__timer_stop(ts_loop *loop, ts__timer *t);
static inline int ts__timer_active(const ts__timer *t) { return t->idx != SIZE_MAX; }

/* Seconds (double) to a loop deadline in ns, saturating; INFINITY and
 * anything past ~292 years map to INT64_MAX. */
int64_t ts__deadline_after(ts_loop *loop, double delay);
int64_t ts__seconds_to_ns(double s);

/* ---- waiters and parking ----------------------------------------------- */

typedef struct ts__waiter {
    ts__node node;     /* on the resource's wait list, or unlinked */
    ts_task *task;
    void *value;       /* handed over by the waker (queue item, ...) */
    /* Called by ts_task_cancel right after it woke the task with
     * -ECANCELED (w already unlinked); must not suspend.  NULL: none. */
    void (*on_cancel)(struct ts__waiter *w);
} ts__waiter;

static inline void ts__waiter_init(ts__waiter *w, ts_task *t) {
    w->node.next = w->node.prev = NULL;
    w->task = t;
    w->value = NULL;
    w->on_cancel = NULL;
}

/*
 * ts__park - suspend the running task until ts__wake(task, status) and
 * return status.  w is the task's waiter (on a list or not; NULL for none).
 * kind/obj/site say what it waits for (shown by debuggers).  If a cancel
 * request is pending, returns -ECANCELED at once without suspending (and
 * unlinks w).  Must be called from a task.
 */
int ts__park(ts__waiter *w, ts_wait_kind kind, const void *obj,
             const ts_site *site);

/* ts__wake - see the invariants above.  Returns 1 if t was parked. */
int ts__wake(ts_task *t, int status);

/* ts__yield - go to the back of the ready queue (sleep(0)).  Returns 0, or
 * -ECANCELED if a cancel request was pending (then it does not yield). */
int ts__yield(const ts_site *site);

/* ---- tasks ----------------------------------------------------------------*/

/* Called synchronously, on the loop thread, the moment a task finishes
 * (before its done callbacks are scheduled).  Must not suspend. */
typedef struct ts__done_watch {
    ts__node node;
    void (*fn)(struct ts__done_watch *w, ts_task *t);
} ts__done_watch;

/* Watch t: fn runs when t finishes.  t must not be done yet. */
void ts__task_watch(ts_task *t, ts__done_watch *w);
void ts__task_unwatch(ts__done_watch *w);

/* A scratch mark on t for duplicate checks over task lists: sets it to on
 * and returns its previous value.  Users set and clear their marks without
 * suspending in between, so they never see each other's. */
bool ts__task_mark(ts_task *t, bool on);

/* Read t's outcome (result and error) and mark the error retrieved. */
int ts__task_outcome(ts_task *t, void **result);

/* Suspend until t is done, ignoring cancellation of the caller (each
 * cancel request that arrives meanwhile is forwarded to t when forward is
 * set).  Returns -ECANCELED if the caller was cancelled meanwhile (the
 * request is consumed), else 0. */
int ts__task_wait_done(ts_task *t, int forward, const ts_site *site);
/* ts_task_cancel on behalf of `by` (NULL: outside any task), which the
 * trace records as the requester. */
int ts__task_cancel_by(ts_task *t, const char *msg, ts_task *by);

/* The thread's loop and running task.  initial-exec: one fs-relative load
 * instead of a __tls_get_addr call on every switch (about 12% of a
 * sleep(0)); safe for a library loaded at start-up, and dlopen still works
 * while glibc's static TLS surplus lasts (three words). */
#define TS_TLS __thread __attribute__((tls_model("initial-exec")))
extern TS_TLS ts_loop *ts__tls_loop;
/* ts_loop_id(ts__tls_loop), 0 without a loop: objects compare their loop's
 * id with it, not the pointer, since a new loop may reuse a closed one's
 * address (ts__obj_check). */
extern TS_TLS uint64_t ts__tls_loop_id;
extern TS_TLS ts_task *ts__tls_task;

/* the running task of this thread, or NULL */
static inline ts_task *ts__current(void) { return ts__tls_task; }
/* this thread's loop, or NULL */
static inline ts_loop *ts__loop(void) { return ts__tls_loop; }

/* Report a loop call (`what`) from a thread that does not own the loop;
 * returns TS_EWRONGLOOP. */
int ts__wrong_thread(const char *what);

/* 0 if loop is this thread's loop, else TS_EWRONGLOOP plus a diagnostic
 * naming `what`.  Inline: every loop call makes this check. */
static inline int ts__check_thread(ts_loop *loop, const char *what) {
    return loop && loop == ts__tls_loop ? 0 : ts__wrong_thread(what);
}

/* ---- loop-bound objects: use after free/close (objcheck.c) -------------- */

/* The first member of every object that belongs to a loop (lock, group,
 * ...): enough to tell a use after free, or after the loop closed, from a
 * call from the wrong thread, and to name where the object was made. */
enum { TS__OBJ_LIVE = 0x4f424a31u /* "OBJ1" */, TS__OBJ_FREED = 0xdeadf1eeu };
typedef struct ts__obj {
    uint32_t magic;          /* TS__OBJ_LIVE until ts__obj_free */
    const char *kind;        /* "ts_lock", ... (static) */
    ts_loop *loop;
    uint64_t loop_id;        /* loop ids are never reused: see objcheck.c */
    const ts_site *created;  /* where it was made, NULL if unknown */
    const ts_site *freed;    /* where it was freed (debug runtime) */
    char *name;              /* ts_*_set_name's copy, NULL if unnamed */
} ts__obj;

void ts__obj_init(ts__obj *o, ts_loop *loop, const char *kind, const ts_site *created);
/* resname.c: give o (live, of this thread's loop) a copy of name, NULL
 * to clear it; traced as resource_name.  0, -ENOMEM or ts__obj_check's
 * error. */
int ts__obj_set_name(ts__obj *o, const char *name, const char *what);
/* condition.c: a condition that made its own lock names it after
 * itself (condition "x" lock), so a deadlock's text reads whole. */
int ts__condition_name_lock(ts_condition *c, const char *name);
/* Mark o freed and free the object it heads (the debug runtime keeps the
 * memory a while, marked, so a stale pointer is recognised). */
void ts__obj_free(ts__obj *o, const ts_site *site);
/* The slow path of ts__obj_check: TS_EFREED (freed, or its loop closed)
 * or TS_EWRONGLOOP, each with its diagnostic. */
int ts__obj_misuse(const ts__obj *o, const char *what, const ts_site *site);
/* o is live but its loop was closed: freeing it is cleanup, not misuse
 * (what waited on it went with the loop; do not touch that). */
bool ts__obj_orphaned(const ts__obj *o);
/* loop.c: a loop id is alive from ts_loop_new until ts_loop_close. */
void ts__loop_alive_set(uint64_t id, bool alive);

/* 0 if o may be used from this thread now.  One compare more than
 * ts__check_thread; site is the call site if known (else NULL). */
static inline int ts__obj_check(const ts__obj *o, const char *what,
                                const ts_site *site) {
    return o->magic == TS__OBJ_LIVE && o->loop_id == ts__tls_loop_id
               ? 0
               : ts__obj_misuse(o, what, site);
}

/* For readers (size, value, ...): any thread may look, as before; only a
 * freed object is refused (false, and reported as a use after free). */
static inline bool ts__obj_readable(const ts__obj *o, const char *what) {
    return o->magic == TS__OBJ_LIVE || !ts__obj_misuse(o, what, NULL);
}

/* Run cb->fn(cb) from the loop soon (FIFO). */
void ts__ready_push(ts_loop *loop, ts__cb *cb);

/* The loop's clock in ns (cached per iteration). */
int64_t ts__now(ts_loop *loop);

/* ---- task group error lists (errgroup.c) ---------------------------------*/
ts_error_group *ts__errgroup_new(void);
/* Make room for `room` more entries; -ENOMEM. */
int ts__errgroup_reserve(ts_error_group *eg, size_t room);
ts_error_group *ts__errgroup_ref(ts_error_group *eg);
void ts__errgroup_unref(ts_error_group *eg);
/* Append t's failure (room reserved: never fails).  Nests t's attached
 * list when err is that list's verdict. */
void ts__errgroup_add(ts_error_group *eg, int err, const ts_task *t, int from_body);
size_t ts__errgroup_size(const ts_error_group *eg);
void ts__errgroup_set_verdict(ts_error_group *eg, int verdict);
/* The list attached to t by the last failing group wait in it (task.c);
 * setting one takes a reference and drops the previous one. */
ts_error_group *ts__task_errgroup(const ts_task *t);
void ts__task_set_errgroup(ts_task *t, ts_error_group *eg);

/* ---- diagnostics ------------------------------------------------------------*/
void ts__diag_task(ts_diag_kind kind, const char *what, const ts_task *t,
                   int err, const char *message);
void ts__diag_site(ts_diag_kind kind, const char *what, const ts_site *site);
/* Count, trace and hand d to the handler (or print it). */
void ts__diag_report(const ts_diag *d);
/* A misuse report: t (may be NULL) is the task concerned; created, call
 * and released are the sites described in diag.h (each may be NULL). */
void ts__diag_misuse(ts_diag_kind kind, const char *what, const ts_task *t,
                     const ts_site *created, const ts_site *call,
                     const ts_site *released, int err);

/* ---- executor (used by the loop on close) ---------------------------------*/
void ts__loop_set_default_executor(ts_loop *loop, ts_executor *ex);
ts_executor *ts__loop_default_executor(ts_loop *loop);

/* Persistent edge-triggered waits, for descriptors the runtime owns and
 * closes itself (streams): registered once, no epoll_ctl per wait, one
 * waiter per direction.  Call ts__fd_forget(fd) before close(fd). */
int ts__fd_wait(int fd, int dir, const ts_site *site);
int ts__fd_interrupt(int fd, int dir, int status);
void ts__fd_forget(int fd);

#endif
