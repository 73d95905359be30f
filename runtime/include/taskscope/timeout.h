/*
 * taskscope/timeout.h - sleeping and timeout scopes.
 */
#ifndef TASKSCOPE_TIMEOUT_H
#define TASKSCOPE_TIMEOUT_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ts_sleep(seconds) - suspend the calling task for at least `seconds`.
 * ts_sleep(0) yields: the task goes to the back of the ready queue and runs
 * again in the next iteration.  Returns 0, -ECANCELED if cancelled while
 * asleep, -EINVAL for a negative or NaN delay, TS_ENOTASK outside a task.
 */
#define ts_sleep(seconds) ts_sleep_at((seconds), TS_HERE)
int ts_sleep_at(double seconds, const ts_site *site);

/* ts_now - the current loop's clock in seconds (see ts_loop_time). */
double ts_now(void);

/*
 * Timeout scopes, like asyncio.timeout():
 *
 *     ts_timeout *to = ts_timeout_enter(1.5);
 *     int err = do_work();            // any suspending calls
 *     err = ts_timeout_exit(to, err); // -ETIMEDOUT if the scope expired
 *
 * When the deadline passes while the task is inside the scope, the task is
 * cancelled (its current or next suspension returns -ECANCELED).
 * ts_timeout_exit() is given the body's outcome; if the scope expired and
 * that cancellation is the one the body ended with, it returns -ETIMEDOUT
 * and takes the cancel request back; otherwise it returns err unchanged (a
 * cancellation from outside stays -ECANCELED).  Scopes nest; the inner
 * and outer deadlines act independently.  exit frees the scope and must be
 * called exactly once, from the task that entered it.
 *
 * ts_timeout_enter returns NULL only when out of memory or outside a task
 * (errno ENOMEM / ESRCH); ts_timeout_exit(NULL, err) returns err, so the
 * pattern above needs no extra check.  delay < 0 or INFINITY: no deadline.
 */
typedef struct ts_timeout ts_timeout;
ts_timeout *ts_timeout_enter(double delay);
ts_timeout *ts_timeout_enter_at(double when);
int ts_timeout_exit(ts_timeout *to, int err);
/* Move the deadline (absolute loop time; INFINITY removes it).  Returns 0,
 * or TS_EINVALSTATE if the scope has already expired. */
int ts_timeout_reschedule(ts_timeout *to, double when);
double ts_timeout_when(const ts_timeout *to);   /* INFINITY if none */
int ts_timeout_expired(const ts_timeout *to);

#ifdef __cplusplus
}
#endif
#endif
