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

#ifdef __cplusplus
}
#endif
#endif
