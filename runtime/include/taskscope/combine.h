/*
 * taskscope/combine.h - waiting on several tasks: gather, wait, wait_for,
 * shield, as_completed.
 */
#ifndef TASKSCOPE_COMBINE_H
#define TASKSCOPE_COMBINE_H

#include "task.h"
#include "timeout.h"   /* TS_FOREVER */

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ts_gather - asyncio.gather over n tasks; consumes all n handles.
 *
 * Suspends until the tasks finish and stores results[i] (results may be
 * NULL).  With errors == NULL, the first failure is returned as soon as it
 * happens and the other tasks keep running, detached (asyncio's default).
 * With errors != NULL (return_exceptions=True), waits for all, stores each
 * task's error code in errors[i] (0, an error, -ECANCELED) and returns 0.
 * If the calling task is cancelled while waiting, every unfinished task is
 * cancelled, gather waits for them to finish and returns -ECANCELED.
 * Returns -EINVAL if a task is NULL or listed twice.
 */
#define ts_gather(tasks, n, results, errors) \
    ts_gather_at((tasks), (n), (results), (errors), TS_HERE)
int ts_gather_at(ts_task *const *tasks, size_t n, void **results, int *errors,
                 const ts_site *site);

/* When ts_wait returns. */
typedef enum ts_return_when {
    TS_ALL_COMPLETED = 0,
    TS_FIRST_COMPLETED,
    TS_FIRST_EXCEPTION,   /* first task that fails or is cancelled, else all */
} ts_return_when;

/*
 * ts_wait - asyncio.wait: suspend until the condition holds or timeout
 * seconds pass (TS_FOREVER: no limit; <= 0: already expired, so it
 * returns after one loop iteration with what is done by then).  Does not
 * consume the handles and does not cancel anything on timeout; check
 * ts_task_done(tasks[i]) to split done from pending.  *ndone (may be NULL)
 * receives the number done.  Returns 0 (also on timeout, as asyncio),
 * -ECANCELED if the caller is cancelled (the tasks are not), -EINVAL for
 * n == 0, a NULL task, a task listed twice (asyncio.wait takes a set, so
 * it cannot hold one twice), a NaN timeout or a bad return_when.
 */
#define ts_wait(tasks, n, timeout, return_when, ndone) \
    ts_wait_at((tasks), (n), (timeout), (return_when), (ndone), TS_HERE)
int ts_wait_at(ts_task *const *tasks, size_t n, double timeout,
               ts_return_when return_when, size_t *ndone, const ts_site *site);

/*
 * ts_wait_for - asyncio.wait_for: await t with a time limit; consumes t.
 * On timeout, t is cancelled and wait_for waits until it has finished, then
 * returns -ETIMEDOUT (if t swallowed the cancellation and finished anyway,
 * its own outcome is returned, as in Python 3.12).  If the caller is
 * cancelled, t is cancelled and awaited and -ECANCELED returned.
 * timeout TS_FOREVER: no limit; <= 0: expired already, so an unfinished t
 * is cancelled at once (asyncio.wait_for(t, 0) or (t, -1)).  -EINVAL for
 * a NaN timeout.
 */
#define ts_wait_for(t, timeout, result) \
    ts_wait_for_at((t), (timeout), (result), TS_HERE)
int ts_wait_for_at(ts_task *t, double timeout, void **result,
                   const ts_site *site);

/*
 * ts_shield - asyncio.shield: await t, but if the caller is cancelled, t is
 * not: it keeps running detached and ts_shield returns -ECANCELED at once.
 * Consumes t.  Otherwise returns t's outcome like ts_await.
 */
#define ts_shield(t, result) ts_shield_at((t), (result), TS_HERE)
int ts_shield_at(ts_task *t, void **result, const ts_site *site);

/*
 * as_completed - yield tasks in the order they finish:
 *
 *     ts_as_completed *ac = ts_as_completed_new(tasks, n, 5.0);
 *     ts_task *t;
 *     while ((err = ts_as_completed_next(ac, &t)) == 0) { ... }
 *     ts_as_completed_free(ac);   // err == TS_EOF when all were yielded
 *
 * Does not consume the handles.  timeout (TS_FOREVER: none; <= 0:
 * expires at the first wait) bounds the whole iteration, as in asyncio:
 * once it passes, next returns -ETIMEDOUT.  next returns -ECANCELED if the
 * caller is cancelled while waiting.  ts_as_completed_new returns NULL
 * with errno EINVAL for a NULL task, a task of another loop, a task
 * listed twice (asyncio.as_completed takes a set of them) or a NaN
 * timeout; ENOMEM; ESRCH outside a loop.  The call site is kept for
 * diagnostics: an iterator used after ts_as_completed_free, or after its
 * loop closed, gives TS_EFREED from next (free does nothing) and is
 * reported as a lock is (sync.h).
 */
typedef struct ts_as_completed ts_as_completed;
#define ts_as_completed_new(tasks, n, timeout) \
    ts_as_completed_new_at((tasks), (n), (timeout), TS_HERE)
ts_as_completed *ts_as_completed_new_at(ts_task *const *tasks, size_t n,
                                        double timeout, const ts_site *site);
ts_as_completed *(ts_as_completed_new)(ts_task *const *tasks, size_t n,
                                       double timeout);
#define ts_as_completed_next(ac, task) \
    ts_as_completed_next_at((ac), (task), TS_HERE)
int ts_as_completed_next_at(ts_as_completed *ac, ts_task **task,
                            const ts_site *site);
#define ts_as_completed_free(ac) ts_as_completed_free_at((ac), TS_HERE)
void ts_as_completed_free_at(ts_as_completed *ac, const ts_site *site);
void (ts_as_completed_free)(ts_as_completed *ac);

#ifdef __cplusplus
}
#endif
#endif
