/*
 * taskscope/loop.h - the event loop.
 *
 * One loop per thread; a process may run several, each on its own thread.
 * A loop belongs to the thread that created it: only that thread may run
 * it, spawn on it or call into it, except ts_call_soon_threadsafe(), which
 * any thread may call.  Calls from a foreign thread return TS_EWRONGLOOP
 * and are reported as a diagnostic.
 *
 * One iteration: run the timers that are due, then every callback and task
 * that was ready when the iteration began (in FIFO order), then poll file
 * descriptors (epoll), sleeping until the next timer if nothing is ready.
 * The loop's clock is CLOCK_MONOTONIC in seconds.  The loop reads it
 * once per iteration for its timer bookkeeping; ts_loop_time(), ts_now()
 * and every new deadline (sleep, call_later, timeouts) read it afresh, so
 * a step that ran long does not shorten the next sleep.
 */
#ifndef TASKSCOPE_LOOP_H
#define TASKSCOPE_LOOP_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_handle ts_handle;
typedef void (*ts_callback)(void *arg);

/*
 * ts_loop_new - create a loop owned by the calling thread, which becomes
 * the thread's current loop.  Returns 0, -ENOMEM, -EMFILE (no descriptors
 * for epoll/eventfd) or -EBUSY (the thread already has an open loop).
 */
int ts_loop_new(ts_loop **out);

/*
 * ts_loop_close - free the loop.  Tasks still unfinished are reported as
 * "destroyed but pending" and freed without running further; handles never
 * given up are reported as "never awaited".  Shuts down the loop's default
 * executor, waiting for running jobs.  Returns 0, -EBUSY if the loop is
 * running, or TS_EWRONGLOOP from a foreign thread.
 */
int ts_loop_close(ts_loop *loop);

/*
 * ts_loop_run_until_complete - run the loop until t finishes; consumes the
 * handle like ts_await.  Returns t's outcome (0, its error, -ECANCELED), or
 * -EBUSY if the loop is already running (use ts_await from inside).
 */
int ts_loop_run_until_complete(ts_loop *loop, ts_task *t, void **result);

/* ts_loop_run_forever - run until ts_loop_stop().  Returns 0 or -EBUSY. */
int ts_loop_run_forever(ts_loop *loop);

/* ts_loop_stop - make the running loop return after the current iteration. */
void ts_loop_stop(ts_loop *loop);

/* ts_loop_current - the calling thread's loop, or NULL. */
ts_loop *ts_loop_current(void);

/* ts_loop_time - the loop's monotonic clock, in seconds. */
double ts_loop_time(ts_loop *loop);

/* ts_loop_is_running / ts_loop_id - the id is unique in the process. */
int ts_loop_is_running(const ts_loop *loop);
uint64_t ts_loop_id(const ts_loop *loop);

/*
 * ts_call_soon / ts_call_later / ts_call_at - schedule cb(arg) on the loop
 * (loop NULL: this thread's).  call_soon callbacks run in FIFO order;
 * timers with equal deadlines run in the order they were set.  If out is
 * not NULL, *out receives a handle for ts_handle_cancel(); the caller must
 * then give it back with ts_handle_release() (before or after it ran).
 * Returns 0, -ENOMEM, -EINVAL (no loop / bad delay) or TS_EWRONGLOOP.
 */
int ts_call_soon(ts_loop *loop, ts_callback cb, void *arg, ts_handle **out);
int ts_call_later(ts_loop *loop, double delay, ts_callback cb, void *arg,
                  ts_handle **out);
int ts_call_at(ts_loop *loop, double when, ts_callback cb, void *arg,
               ts_handle **out);
/* ts_handle_cancel - stop the callback from running if it has not run;
 * returns 1 if it was cancelled, 0 if it had already run or been cancelled. */
int ts_handle_cancel(ts_handle *h);
void ts_handle_release(ts_handle *h);

/*
 * ts_call_soon_threadsafe - schedule cb(arg) on loop from any thread
 * (asyncio's call_soon_threadsafe), waking the loop if it sleeps.
 * Returns 0, -ENOMEM, or -ESHUTDOWN if the loop is closing.
 */
int ts_call_soon_threadsafe(ts_loop *loop, ts_callback cb, void *arg);

/*
 * ts_run - asyncio.run: create a loop on this thread, run main(arg) as a
 * task named "main" until it finishes, cancel every task still running and
 * let them finish, then close the loop.  Returns main's outcome (0, its
 * error or -ECANCELED), or a setup error (-ENOMEM, -EBUSY).
 * ts_run_result also stores main's result.
 */
#define ts_run(main, arg) ts_run_at((main), (arg), NULL, TS_HERE)
#define ts_run_result(main, arg, result) ts_run_at((main), (arg), (result), TS_HERE)
/* The function behind both macros; site is where main was started (the
 * main task's spawn site), NULL for none. */
int ts_run_at(ts_task_fn main, void *arg, void **result, const ts_site *site);

/*
 * ts_wait_fd - suspend until fd is readable (TS_READABLE) and/or writable
 * (TS_WRITABLE), or timeout seconds pass (TS_FOREVER, see timeout.h: no
 * limit; <= 0: expired at once unless the fd is ready already).  For
 * integrating any non-blocking library with the loop.  Returns the ready
 * events (> 0), -ETIMEDOUT, -ECANCELED, -EBADF/-EPERM (epoll refused fd)
 * or TS_ENOTASK.  Only one task may wait on a given fd at a time (-EBUSY).
 */
enum { TS_READABLE = 1, TS_WRITABLE = 2 };
#define ts_wait_fd(fd, events, timeout) ts_wait_fd_at((fd), (events), (timeout), TS_HERE)
int ts_wait_fd_at(int fd, int events, double timeout, const ts_site *site);

#ifdef __cplusplus
}
#endif
#endif
