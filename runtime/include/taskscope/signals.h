/*
 * taskscope/signals.h - Unix signals handled by tasks (asyncio's
 * loop.add_signal_handler), for instance a graceful shutdown on SIGINT or
 * SIGTERM:
 *
 *     static void *on_stop(int signo, void *main_task) {
 *         ts_task_cancel(main_task, strsignal(signo));
 *         return NULL;
 *     }
 *     ...
 *     ts_signal_handler *h;
 *     ts_signal_handler_add(SIGTERM, on_stop, ts_current_task(), &h);
 *
 * While a loop has a handler for a signal, that signal is blocked in the
 * loop's thread and read from a signalfd by a dispatcher task of the loop
 * (named "ts-signals"); each delivery starts one new task running the
 * handler, so a handler may suspend, and runs on the loop's thread like any
 * task.  Signals of one kind that arrive before the dispatcher reads them
 * coalesce into one delivery, as the kernel does for standard signals.
 *
 * For a process-directed signal (kill, a terminal's Ctrl-C) to reach the
 * signalfd, every other thread must block it too: threads started by
 * taskscope (executor, file I/O) do; threads the program creates after the
 * handler is added inherit the block from the loop thread; block it in
 * threads created before.  A signal is handled by one loop at a time.
 *
 * Cancelling the dispatcher task (ts_run does so when it shuts the loop
 * down) stops the loop's signal handling: the signals are unblocked again
 * (pending ones discarded) and later ts_signal_handler_add calls start a
 * new dispatcher.
 */
#ifndef TASKSCOPE_SIGNALS_H
#define TASKSCOPE_SIGNALS_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_signal_handler ts_signal_handler;

/* A signal handler: the body of the task started for one delivery.  Its
 * return value is the task's result; a handler that fails should return
 * ts_fail(err, ...) (the task is detached, so the failure is reported as
 * never retrieved). */
typedef void *(*ts_signal_fn)(int signo, void *arg);

/*
 * ts_signal_handler_add - run fn(signo, arg) as a new task of the calling
 * thread's loop each time signo is delivered.  Several handlers may watch
 * one signal; each runs.  Does not suspend.  Returns 0 and *out, -EINVAL
 * (SIGKILL, SIGSTOP, a fault signal such as SIGSEGV, or out of range),
 * -EBUSY (another loop handles signo), -ENOMEM, -EMFILE, or TS_ENOTASK if
 * the thread has no loop.
 */
int ts_signal_handler_add(int signo, ts_signal_fn fn, void *arg, ts_signal_handler **out);

/*
 * ts_signal_handler_remove - stop the handler and free it.  Tasks already
 * started for earlier deliveries run on.  When a loop's last handler for a
 * signal goes, the signal's earlier disposition applies again (pending
 * deliveries of it are discarded first).  Does not suspend.  Returns 0,
 * or TS_EWRONGLOOP from another thread than the loop's.
 */
int ts_signal_handler_remove(ts_signal_handler *h);

#ifdef __cplusplus
}
#endif
#endif
