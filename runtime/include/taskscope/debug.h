/*
 * taskscope/debug.h - settings of the debug runtime.
 *
 * These calls exist in both libraries, so a program can set them and be
 * linked against either.  In the release library they do nothing and
 * return -ENOTSUP.  In libtaskscope-debug:
 *
 *   - every thread that runs a loop (and every executor worker) records
 *     what its tasks do into its own ring in a shared-memory segment (a
 *     sealed memfd, mode 0600, found through /proc/<pid>/fd), which
 *     `taskscope attach PID` reads.  With no reader attached the rings
 *     are a flight recorder: the newest events overwrite the oldest.
 *     Nothing a reader writes into the segment can hang, crash or slow
 *     the program beyond a bound: at worst its trace loses events.
 *   - a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
 *     SIGSYS) with no tracer attached writes a crash snapshot,
 *     taskscope-crash.<pid>.tsnap, which `taskscope ps FILE` reads; the
 *     signal then takes its course (handlers installed before ours run).
 *   - a watchdog thread reports a loop step that runs past the block
 *     threshold while it is still running (loop_blocked: the task, the
 *     thread's state and system call, its stack), and every step longer
 *     than the slow-step threshold once it ends.
 *   - the state dump a reader asks for (and a crash snapshot) carries the
 *     call stack of every parked task, walked along its frame pointers
 *     inside its own stack (`taskscope where`; at most 1024 stacks of 32
 *     frames per dump).
 *   - `taskscope cancel PID TASK` asks, through the segment, for a task
 *     to be cancelled; the loop that owns it checks the request and
 *     applies it on its own thread at its next iteration, as
 *     ts_task_cancel would.
 *
 * Environment (read when the first loop is created):
 *   TASKSCOPE_TRACE=0          no segment, no watchdog
 *   TASKSCOPE_RING_SIZE=BYTES  per-thread ring size (default 1 MiB; 32 MiB
 *                              when `taskscope run` or `top --` starts
 *                              the program, so a burst is recorded whole)
 *   TASKSCOPE_BLOCK_MS=MS      block threshold (default 100, like asyncio's
 *                              slow_callback_duration)
 *   TASKSCOPE_SLOW_MS=MS       slow-step threshold (default: the block one)
 *   TASKSCOPE_CRASH=0          no crash snapshot
 *   TASKSCOPE_CRASH_DIR=DIR    where it goes (default: the working
 *                              directory, else $TMPDIR or /tmp)
 */
#ifndef TASKSCOPE_DEBUG_H
#define TASKSCOPE_DEBUG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ring size in bytes (rounded up to a power of two, 64 KiB .. 256 MiB).
 * Must be called before the first loop is created: -EBUSY after. */
int ts_debug_set_ring_size(size_t bytes);

/* Thresholds in seconds; take effect at once.  -EINVAL if negative. */
int ts_debug_set_block_threshold(double seconds);
int ts_debug_set_slow_step_threshold(double seconds);

/* Publish the calling thread's buffered events now (they are otherwise
 * published in batches and whenever the loop is about to sleep). */
int ts_debug_flush(void);

/*
 * User annotations (shown by `taskscope ps --fields`, the TUI's detail
 * view, SQL and exports).  Like the settings above, the release library
 * has them as cheap no-ops returning -ENOTSUP: nothing is stored.
 */
typedef struct ts_task ts_task;

#define TS_FIELD_KEY_MAX 32      /* bytes of a field's key */
#define TS_FIELD_VALUE_MAX 128   /* bytes of a field's value */
#define TS_FIELDS_PER_TASK 8
#define TS_LOG_MAX 1024          /* bytes of a log line; longer ones are cut */

/* Set the field key of task t to value (a copy is kept); an empty or NULL
 * value removes the key.  Call it on t's loop thread, from any task or
 * none; it never suspends.  Returns 0, -EINVAL (no task or key, a key
 * longer than TS_FIELD_KEY_MAX or a value longer than
 * TS_FIELD_VALUE_MAX), -ENOSPC (t already has TS_FIELDS_PER_TASK other
 * keys), -ENOMEM, TS_EWRONGLOOP (another thread), -ENOTSUP (release
 * library).  The fields go with the task when it is freed. */
int ts_task_set_field(ts_task *t, const char *key, const char *value);

/* Record a log line, attributed to the running task (or to none outside
 * a task); text beyond TS_LOG_MAX bytes is cut.  Never suspends; safe on
 * any thread.  Returns 0 (also when the trace is off: the line is simply
 * not kept), -EINVAL for NULL, -ENOTSUP in the release library. */
int ts_event_log(const char *text);

#ifdef __cplusplus
}
#endif
#endif
