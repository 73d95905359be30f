/*
 * taskscope/future.h - futures: a result that some code will set later.
 *
 * A future belongs to the loop of the thread that created it; every call
 * on it from another thread returns TS_EWRONGLOOP (use
 * ts_call_soon_threadsafe to complete one from a worker thread).  Awaiting
 * a future does not consume it; its creator frees it with ts_future_free.
 */
#ifndef TASKSCOPE_FUTURE_H
#define TASKSCOPE_FUTURE_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_future ts_future;

/* ts_future_new() - a pending future on this thread's loop; NULL (errno
 * ENOMEM or ESRCH: no loop) on failure.  The creation site is recorded for
 * diagnostics. */
#define ts_future_new() ts_future_new_at(TS_HERE)
ts_future *ts_future_new_at(const ts_site *site);
/* Names, as for the primitives of sync.h: the debug runtime reports an
 * awaited future as future "reply" (client.c:40). */
#define ts_future_new_named(name) ts_future_new_named_at((name), TS_HERE)
ts_future *ts_future_new_named_at(const char *name, const ts_site *site);
int ts_future_set_name(ts_future *f, const char *name);
const char *ts_future_get_name(const ts_future *f);

/*
 * ts_future_free - free the future.  Freeing one still pending is reported
 * ("future destroyed while pending") and wakes its awaiters with -ECANCELED.
 */
void ts_future_free(ts_future *f);

/* Complete the future, waking every awaiter.  Return 0, TS_EINVALSTATE if
 * it is already done, or TS_EWRONGLOOP.  ts_future_cancel returns 1 if it
 * cancelled the future, 0 if it was already done. */
int ts_future_set_result(ts_future *f, void *result);
int ts_future_set_error(ts_future *f, int err);
int ts_future_cancel(ts_future *f);

/*
 * ts_future_await - suspend until f is done; returns 0 and stores the
 * result, f's error, or -ECANCELED if f was cancelled.  If the calling task
 * is cancelled while waiting, returns -ECANCELED and f is cancelled too (as
 * asyncio does when a task awaiting a future is cancelled).
 */
#define ts_future_await(f, result) ts_future_await_at((f), (result), TS_HERE)
int ts_future_await_at(ts_future *f, void **result, const ts_site *site);

int ts_future_done(const ts_future *f);
int ts_future_cancelled(const ts_future *f);
/* 0 and the result, the error, -ECANCELED, or TS_EINVALSTATE if pending. */
int ts_future_result(const ts_future *f, void **result);

/* Call fn(f, arg) from the loop soon after f completes (at once if done). */
typedef void (*ts_future_done_fn)(ts_future *f, void *arg);
int ts_future_add_done_callback(ts_future *f, ts_future_done_fn fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
