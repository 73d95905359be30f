/*
 * taskscope/procpool.h - a pool of worker processes for CPU-bound
 * functions (concurrent.futures.ProcessPoolExecutor with
 * loop.run_in_executor).
 *
 * The workers are forked when the pool is made (and again to replace one
 * that died), so any function of the program is valid in them and is
 * passed as a plain pointer; its argument and its result travel as bytes.
 * A worker runs one job at a time, outside any loop: a job function must
 * not call taskscope's suspending functions, and what it changes in memory
 * stays in the worker.  Functions in code loaded (dlopen) after the pool
 * was made are unknown to its first workers.
 *
 *     static int fib_job(const void *arg, size_t len, void **res, size_t *res_len) {
 *         long n = *(const long *)arg, *r = malloc(sizeof *r);
 *         if (len != sizeof n || !r) return -EINVAL;
 *         *r = fib(n); *res = r; *res_len = sizeof *r;
 *         return 0;
 *     }
 *     ...
 *     err = ts_procpool_run(pool, fib_job, &n, sizeof n, &res, &res_len);
 *
 * A worker that dies during a job (a crash, abort(), a kill) fails that
 * job with -ECHILD, ts_procpool_last_error() says how it died, and the pool
 * forks a replacement: nothing waits forever on a dead worker.
 */
#ifndef TASKSCOPE_PROCPOOL_H
#define TASKSCOPE_PROCPOOL_H

#include <stddef.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_procpool ts_procpool;

/* A job, run in a worker process: read arg_len bytes at arg, and store a
 * malloc'd result and its size in *result / *result_len (or leave them
 * NULL / 0).  Return 0, or a negative error code, which the caller gets
 * back from ts_procpool_run. */
typedef int (*ts_procpool_fn)(const void *arg, size_t arg_len, void **result,
                              size_t *result_len);

/*
 * ts_procpool_new - fork nworkers worker processes (0: one per CPU).
 * Blocks the calling thread for the forks (no task suspends).  Returns 0
 * and *out, -EAGAIN / -ENOMEM (fork failed), -EMFILE.  The call site is
 * kept for diagnostics: a pool used after ts_procpool_free gives
 * TS_EFREED (run; free does nothing; size gives 0, last_error "") and a
 * TS_DIAG_USE_AFTER_FREE report naming where it was created, used and
 * freed.  Only the debug runtime recognises a freed pool (for the next
 * 1024 object frees); in the release runtime that is a use of freed
 * memory.  A pool belongs to no loop while idle, so it outlives the loop
 * that made it.
 */
#define ts_procpool_new(nworkers, out) ts_procpool_new_at((nworkers), (out), TS_HERE)
int ts_procpool_new_at(unsigned nworkers, ts_procpool **out, const ts_site *site);
int (ts_procpool_new)(unsigned nworkers, ts_procpool **out);

/*
 * ts_procpool_run - run fn(arg) in an idle worker (waiting, first come
 * first served, for one to be free) and store its result: a malloc'd copy
 * in *result, NUL-terminated for convenience, which the caller frees (NULL
 * if empty), and its size in *result_len (result and result_len may be
 * NULL to discard it).  Suspends the calling task, not the loop.
 * Returns fn's return value, or
 *   -ECHILD     the worker died during the job (see ts_procpool_last_error);
 *               it has been replaced;
 *   -EMSGSIZE   the argument or the result is over 1 GiB;
 *   -ESHUTDOWN  the pool is being freed;
 *   -ECANCELED  the task was cancelled: a job not yet started never runs,
 *               a running one is stopped by killing its worker, which is
 *               replaced (unlike asyncio, where it would run on);
 *   -EAGAIN     no worker could be forked to replace a dead one;
 *   TS_EFREED   the pool was freed;
 *   TS_EWRONGLOOP from a loop other than the one that first used the pool,
 *   TS_ENOTASK outside a task, -EINVAL.
 * Replacing a worker forks, which blocks the loop for the fork's duration.
 */
#define ts_procpool_run(pool, fn, arg, arg_len, result, result_len) \
    ts_procpool_run_at((pool), (fn), (arg), (arg_len), (result), (result_len), TS_HERE)
int ts_procpool_run_at(ts_procpool *pool, ts_procpool_fn fn, const void *arg, size_t arg_len,
                       void **result, size_t *result_len, const ts_site *site);

/* ts_procpool_last_error - how the last worker that died during a job
 * died ("worker 1234 was killed by signal 6 (Aborted) during a job"), or
 * "" if none has.  Valid until the next call on the pool. */
const char *ts_procpool_last_error(const ts_procpool *pool);

/* ts_procpool_size - the number of workers. */
unsigned ts_procpool_size(const ts_procpool *pool);

/*
 * ts_procpool_free - stop the workers (idle ones exit when their channel
 * closes) and reap them, blocking the thread briefly; tasks still waiting
 * for a worker get -ESHUTDOWN.  No ts_procpool_run may be running a job.
 */
#define ts_procpool_free(pool) ts_procpool_free_at((pool), TS_HERE)
void ts_procpool_free_at(ts_procpool *pool, const ts_site *site);
void (ts_procpool_free)(ts_procpool *pool);

#ifdef __cplusplus
}
#endif
#endif
