/*
 * taskscope/task.h - tasks: stackful coroutines scheduled by a loop.
 *
 * A task runs a function on its own small stack.  When the function calls a
 * suspending taskscope call (ts_sleep, ts_await, ts_lock_acquire, ...) the
 * task parks and the loop runs others; the call returns when the task is
 * resumed.  This is asyncio's Task with the awaits written as plain calls.
 *
 * Ownership.  ts_spawn() returns a handle the caller owns.  The handle is
 * given up exactly once, by one of: ts_await(), ts_gather(), ts_wait_for(),
 * ts_shield(), ts_loop_run_until_complete() (which all consume it), or
 * ts_task_detach() (fire and forget).  ts_task_ref() takes an extra handle.
 * A handle still held when its loop closes is reported as "never awaited".
 *
 * A handle used after it was given up is misuse: awaiting it again (or
 * from a second task while a first one awaits it), or giving it up again,
 * returns TS_EFREED (ts_task_detach/unref do nothing) in both runtimes,
 * as long as the task's record has not been reused.  The release runtime
 * reuses a record at the next spawn, after which a stale handle silently
 * means the new task; the debug runtime keeps the last 4096 released
 * records per loop out of reuse and reports each such use as "task handle
 * used after it was released" (TS_DIAG_USE_AFTER_FREE), naming the task,
 * its spawn site, the call and, when known, where the handle was given up.
 *
 * Cancellation follows asyncio: ts_task_cancel() counts a request and
 * delivers -ECANCELED at the task's current suspension, or at its next one
 * if it is running or ready.  The request is delivered once; a task may
 * swallow it and go on (ts_task_uncancel() takes the request back).  A task
 * is "cancelled" only if it ends by returning ts_fail(-ECANCELED, ...); one
 * that returns normally after a request finishes normally.  A task
 * cancelled before it first ran never runs its function.
 *
 * Every suspending call is a macro that records its call site (file, line,
 * function), so a debugger can say where each task waits.
 */
#ifndef TASKSCOPE_TASK_H
#define TASKSCOPE_TASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_loop ts_loop;
typedef struct ts_task ts_task;

/* A place in the source: where a task was spawned or where it waits. */
typedef struct ts_site {
    const char *file;
    const char *func;
    int line;
} ts_site;

/* TS_HERE - a pointer to a static ts_site for the line it is written on.
 * One pointer per call, no allocation; used by every suspending macro. */
#define TS_HERE                                                              \
    (__extension__({                                                         \
        static const ts_site ts__here_ = {__FILE__, __func__, __LINE__};     \
        &ts__here_;                                                          \
    }))

/* The function a task runs.  Its return value is the task's result. */
typedef void *(*ts_task_fn)(void *arg);

/* Where a task is in its life. */
typedef enum ts_task_state {
    TS_TASK_READY = 0,   /* scheduled to run (or not started yet) */
    TS_TASK_RUNNING,     /* running now, on its loop's thread */
    TS_TASK_SUSPENDED,   /* parked in a suspending call; see ts_task_awaiting */
    TS_TASK_DONE,        /* returned normally */
    TS_TASK_FAILED,      /* returned ts_fail() with an error */
    TS_TASK_CANCELLED,   /* returned ts_fail(-ECANCELED) */
} ts_task_state;

/* What a suspended task waits for. */
typedef enum ts_wait_kind {
    TS_WAIT_NONE = 0,
    TS_WAIT_TASK,        /* ts_await / ts_gather / ts_wait / ... on tasks */
    TS_WAIT_FUTURE,
    TS_WAIT_SLEEP,
    TS_WAIT_YIELD,       /* ts_sleep(0): ready again at once */
    TS_WAIT_LOCK,
    TS_WAIT_EVENT,
    TS_WAIT_CONDITION,
    TS_WAIT_SEMAPHORE,
    TS_WAIT_BARRIER,
    TS_WAIT_QUEUE_GET,
    TS_WAIT_QUEUE_PUT,
    TS_WAIT_QUEUE_JOIN,
    TS_WAIT_FD,
    TS_WAIT_EXECUTOR,
    TS_WAIT_GENERATOR,   /* consumer waits for a value, or generator for next() */
    TS_WAIT_GROUP,       /* task group exit waits for its children */
    TS_WAIT_KIND_COUNT
} ts_wait_kind;

/* Options for ts_spawn_with().  Zero-initialise and set what you need. */
typedef struct ts_spawn_opts {
    const char *name;   /* copied; default: the function's name */
    size_t stack_size;  /* bytes; 0 = the loop's default (256 KiB, or
                         * $TASKSCOPE_STACK_SIZE) */
    ts_loop *loop;      /* 0 = the calling thread's loop */
} ts_spawn_opts;

/*
 * ts_spawn(fn, arg) - create a task running fn(arg) on the calling thread's
 * loop, named after fn.  ts_spawn_named(name, fn, arg) names it.
 * ts_spawn_with(&opts, fn, arg) takes options.
 *
 * The task is scheduled, not started: it first runs when the spawning task
 * next suspends (or the loop next iterates).  The parent (the task calling
 * ts_spawn, if any) and the spawn site are recorded.  Does not suspend.
 * Returns the handle, or NULL when memory is exhausted or the thread has
 * no loop (errno is set to ENOMEM or ESRCH).
 */
#define ts_spawn(fn, arg) ts_spawn_at(NULL, (fn), (arg), #fn, TS_HERE)
#define ts_spawn_named(task_name, fn, arg) \
    ts__spawn_named_at((task_name), (fn), (arg), #fn, TS_HERE)
#define ts_spawn_with(opts, fn, arg) ts_spawn_at((opts), (fn), (arg), #fn, TS_HERE)
ts_task *ts_spawn_at(const ts_spawn_opts *opts, ts_task_fn fn, void *arg,
                     const char *default_name, const ts_site *site);

/* ts_spawn_named's options, built here rather than as a compound literal
 * in the macro: C++ has no compound literals.  Inline, so it adds no
 * symbol to the library's ABI. */
static inline ts_task *ts__spawn_named_at(const char *name, ts_task_fn fn, void *arg,
                                          const char *default_name, const ts_site *site) {
#ifdef __cplusplus
    ts_spawn_opts opts = {};
#else
    ts_spawn_opts opts = {0};
#endif
    opts.name = name;
    return ts_spawn_at(&opts, fn, arg, default_name, site);
}

/*
 * ts_await(t, &result) - wait for t to finish; consumes the handle.
 *
 * Suspends the calling task until t is done (returns at once if it is).
 * Returns t's outcome: 0 and *result set (result may be NULL), t's error
 * code if it failed, or -ECANCELED if it was cancelled.  Awaiting a task
 * from itself returns -EDEADLK; from another loop's thread TS_EWRONGLOOP;
 * a handle already given up TS_EFREED (see Ownership above).  The handle
 * is given up when the wait starts.
 * If the *caller* is cancelled while waiting, the cancellation is passed on
 * to t (as asyncio does), ts_await waits for t to finish and returns
 * -ECANCELED; use ts_shield() to keep t running instead.
 */
#define ts_await(t, result) ts_await_at((t), (result), TS_HERE)
int ts_await_at(ts_task *t, void **result, const ts_site *site);

/* ts_task_detach - give up the handle without waiting; the task runs on.
 * If it later fails, its error is reported as never retrieved. */
void ts_task_detach(ts_task *t);

/* ts_task_ref - take one more handle to t; give it up with ts_task_unref. */
ts_task *ts_task_ref(ts_task *t);
void ts_task_unref(ts_task *t);

/*
 * ts_fail(err, fmt, ...) - record an error for the calling task and return
 * NULL, so a task function ends with `return ts_fail(err, "why %d", x);`.
 * err must be negative; -ECANCELED makes the task cancelled.  fmt may be
 * NULL.  Outside a task it does nothing but return NULL.
 */
void *ts_fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * ts_task_cancel - request cancellation of t (asyncio's Task.cancel).
 * msg (may be NULL) is copied and kept as the cancel message.  Returns 1 if
 * a request was made, 0 if t had already finished, TS_EWRONGLOOP from a
 * thread other than t's loop's.  Does not suspend; callable on any task of
 * the calling thread's loop, including the caller.  Cancelling a task that
 * already failed marks its error retrieved (no "never retrieved" report),
 * as asyncio's Task.cancel() does.
 */
int ts_task_cancel(ts_task *t, const char *msg);

/* ts_task_uncancel - take back one cancel request; returns the count left. */
int ts_task_uncancel(ts_task *t);

/* ts_task_cancelling - the number of cancel requests not taken back. */
int ts_task_cancelling(const ts_task *t);

/* Accessors.  None suspends. */
int ts_task_done(const ts_task *t);       /* 1 once finished, whichever way */
int ts_task_cancelled(const ts_task *t);  /* 1 if it ended cancelled */
ts_task_state ts_task_state_of(const ts_task *t);
const char *ts_task_state_name(ts_task_state s);
/* ts_task_result - 0 and the result if done normally; the task's error if
 * it failed or was cancelled; TS_EINVALSTATE if not done.  Counts as
 * retrieving the error. */
int ts_task_result(ts_task *t, void **result);
/* ts_task_error - the error code the task ended with (0 if none or not
 * done).  Counts as retrieving the error. */
int ts_task_error(ts_task *t);
/* ts_task_error_message - the message given to ts_fail, or NULL. */
const char *ts_task_error_message(const ts_task *t);
const char *ts_task_cancel_message(const ts_task *t);
uint64_t ts_task_id(const ts_task *t);        /* unique in the process, from 1 */
uint64_t ts_task_parent_id(const ts_task *t); /* 0 if spawned outside a task */
const char *ts_task_name(const ts_task *t);
int ts_task_set_name(ts_task *t, const char *name);
const ts_site *ts_task_spawn_site(const ts_task *t);
ts_loop *ts_task_loop(const ts_task *t);
/* ts_task_awaiting - what a suspended task waits for: the kind, the object
 * (a ts_task *, ts_lock *, ...; may be NULL) and the call site.  Returns
 * TS_WAIT_NONE when the task is not suspended. */
ts_wait_kind ts_task_awaiting(const ts_task *t, const void **object,
                              const ts_site **site);
const char *ts_wait_kind_name(ts_wait_kind k);

/*
 * ts_task_add_done_callback - call fn(t, arg) once t has finished, from the
 * loop (soon after, never inside the call).  If t is already done the call
 * is scheduled at once.  Returns 0 or -ENOMEM.
 * ts_task_remove_done_callback removes every registration of (fn, arg) and
 * returns how many it removed.
 */
typedef void (*ts_task_done_fn)(ts_task *t, void *arg);
int ts_task_add_done_callback(ts_task *t, ts_task_done_fn fn, void *arg);
int ts_task_remove_done_callback(ts_task *t, ts_task_done_fn fn, void *arg);

/* ts_current_task - the task running on this thread, or NULL. */
ts_task *ts_current_task(void);

/*
 * ts_all_tasks - the loop's unfinished tasks (loop NULL: this thread's).
 * Stores up to cap borrowed pointers in out (valid until the loop next
 * runs) and returns how many there are in all, which may exceed cap.
 */
size_t ts_all_tasks(ts_loop *loop, ts_task **out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
