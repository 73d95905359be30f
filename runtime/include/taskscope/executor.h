/*
 * taskscope/executor.h - running blocking functions on a thread pool
 * (asyncio's run_in_executor and to_thread).
 *
 * The calling task suspends while a worker thread runs the function; the
 * loop goes on running other tasks.  A pool has a fixed maximum of worker
 * threads, started on demand; jobs beyond that wait in FIFO order.
 * Submitting is allowed from any loop thread; each job's completion is
 * delivered to the submitting loop.
 */
#ifndef TASKSCOPE_EXECUTOR_H
#define TASKSCOPE_EXECUTOR_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_executor ts_executor;
typedef void *(*ts_job_fn)(void *arg);

/* ts_executor_new - a pool of at most nthreads workers (0: as Python,
 * min(32, CPUs + 4)).  NULL on ENOMEM.  A pool belongs to no loop: it may
 * be used from any loop thread and outlives the loop it was made on.  The
 * call site is kept for diagnostics: a pool used after ts_executor_free
 * gives TS_EFREED (run_in_executor, shutdown; free does nothing;
 * max_threads gives 0) and a TS_DIAG_USE_AFTER_FREE report naming where it
 * was created, used and freed.  Only the debug runtime recognises a freed
 * pool (for the next 1024 object frees); in the release runtime that is a
 * use of freed memory. */
#define ts_executor_new(nthreads) ts_executor_new_at((nthreads), TS_HERE)
ts_executor *ts_executor_new_at(unsigned nthreads, const ts_site *site);
ts_executor *(ts_executor_new)(unsigned nthreads);

/*
 * ts_run_in_executor - run fn(arg) on a worker of ex (NULL: the loop's
 * default pool, made on first use), suspend until it returns, store its
 * return value in *result.  Returns 0, -ENOMEM, -ESHUTDOWN (pool shut
 * down), TS_EFREED (pool freed), or -ECANCELED if the caller was
 * cancelled: a job not yet started is dropped and never runs; a running
 * job cannot be stopped, it finishes in the background and its result is
 * discarded (as asyncio).
 * ts_to_thread(fn, arg, result) is the same on the default pool.
 */
#define ts_run_in_executor(ex, fn, arg, result) \
    ts_run_in_executor_at((ex), (fn), (arg), (result), TS_HERE)
#define ts_to_thread(fn, arg, result) \
    ts_run_in_executor_at(NULL, (fn), (arg), (result), TS_HERE)
int ts_run_in_executor_at(ts_executor *ex, ts_job_fn fn, void *arg,
                          void **result, const ts_site *site);

/*
 * ts_executor_shutdown - refuse new jobs (-ESHUTDOWN) and, with wait,
 * block the calling thread until every queued and running job is done.
 * With cancel_pending, queued jobs not yet started are dropped and their
 * awaiters get -ECANCELED.  Blocks the thread, not just the task: call it
 * outside a running loop or accept the pause.  Returns 0, or TS_EFREED
 * (pool freed).
 */
int ts_executor_shutdown(ts_executor *ex, int wait, int cancel_pending);
/* ts_executor_free - shut down (waiting) and free. */
#define ts_executor_free(ex) ts_executor_free_at((ex), TS_HERE)
void ts_executor_free_at(ts_executor *ex, const ts_site *site);
void (ts_executor_free)(ts_executor *ex);

unsigned ts_executor_max_threads(const ts_executor *ex);

#ifdef __cplusplus
}
#endif
#endif
