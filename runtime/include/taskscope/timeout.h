/*
 * taskscope/timeout.h - sleeping and timeout scopes.
 */
#ifndef TASKSCOPE_TIMEOUT_H
#define TASKSCOPE_TIMEOUT_H

#include <math.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * TS_FOREVER - "no time limit", for every call that takes a timeout or a
 * delay (ts_wait, ts_wait_for, ts_as_completed_new, ts_timeout_enter,
 * ts_wait_fd).  It is INFINITY, so any positive infinity means the same.
 * Every other value is a limit: zero or a negative one has already
 * expired (as in asyncio, so a computed remaining time that went negative
 * times out at once instead of waiting for ever).
 */
#define TS_FOREVER INFINITY

/*
 * ts_sleep(seconds) - suspend the calling task for at least `seconds`.
 * ts_sleep(0) yields: the task goes to the back of the ready queue and runs
 * again in the next iteration, and so does a negative delay (as
 * asyncio.sleep(-1)).  Returns 0, -ECANCELED if cancelled while asleep,
 * -EINVAL for a NaN delay, TS_ENOTASK outside a task.
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
 * pattern above needs no extra check.  delay TS_FOREVER: no deadline;
 * delay <= 0 (and NaN): already expired, the body's first suspension
 * returns -ECANCELED and the exit -ETIMEDOUT, as asyncio.timeout(-1).
 * ts_timeout_enter_at(when): a time in the past has expired likewise.
 *
 * A scope handle is dead once exited: ts_timeout_exit on it again, or any
 * other call with it, returns TS_EINVALSTATE (exit: whatever err was) and
 * reports TS_DIAG_TIMEOUT_STALE through the diagnostic handler; it never
 * touches another scope, even one entered since.
 */
typedef struct ts_timeout ts_timeout;
ts_timeout *ts_timeout_enter(double delay);
ts_timeout *ts_timeout_enter_at(double when);
int ts_timeout_exit(ts_timeout *to, int err);
/* Move the deadline (absolute loop time; TS_FOREVER removes it, a time
 * in the past expires it at once).  Returns 0, or TS_EINVALSTATE if the
 * scope has already expired or was exited. */
int ts_timeout_reschedule(ts_timeout *to, double when);
/* The deadline, TS_FOREVER if none (or the handle is dead). */
double ts_timeout_when(const ts_timeout *to);
/* 1 once the deadline has passed inside the scope (0 for a dead handle). */
int ts_timeout_expired(const ts_timeout *to);

#ifdef __cplusplus
}
#endif
#endif
