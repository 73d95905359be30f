/*
 * synth_rec.h - a large synthetic recording, written through the tracer's
 * real store, for the benchmarks that time a command on one (export,
 * why_latency).
 *
 * The workload: one loop, a root task (id 1), and tasks in waves of 1,000
 * alive at a time, each spawned by the root, stepped 10 times round-robin
 * with a sleep between steps (resume, suspend, wake), then done and freed
 * (as the runtime does: the tracer's model lets go of a task once it is
 * freed).  Events are ~1 us apart.  With SYNTH_LOCK every task also takes
 * and gives back one lock in its first step and waits for it in its
 * sixth, so lock waits have a holder history.
 */
#ifndef TS_BENCH_SYNTH_REC_H
#define TS_BENCH_SYNTH_REC_H

#include <stddef.h>
#include <stdint.h>

#define SYNTH_LOCK 1

/* Write at least target events to path (replacing it): 0, or -EIO with
 * the store's error on stderr under the name who.  *events and *tasks
 * (NULL: not wanted) get the events written and the task ids used
 * (2 .. *tasks - 1 are the workers). */
int synth_recording(const char *path, uint64_t target, int flags, const char *who,
                    uint64_t *events, uint64_t *tasks);

/* A new empty file to write a recording into: $TMPDIR (else /tmp)/stem.XXXXXX
 * into path (len bytes).  0, or -errno. */
int synth_temp_path(char *path, size_t len, const char *stem);

/* The taskscope of this build (DIR/taskscope beside this program's
 * DIR/bench/) into exe (len bytes).  0, or -1. */
int synth_taskscope(char *exe, size_t len);

/* Run `exe args...` (args NULL-terminated, at most 14) with its stdout
 * to /dev/null: its wall time in ms, or -1 if it failed.  cpu_ms (may be
 * NULL) receives its CPU time, user + system: on a loaded machine the
 * wall time is mostly waiting for a core, this is what it cost. */
double synth_time_cmd(const char *exe, char *const *args, double *cpu_ms);

#endif
