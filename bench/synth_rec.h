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

#include <stdint.h>

#define SYNTH_LOCK 1

/* Write at least target events to path (replacing it): 0, or -EIO with
 * the store's error on stderr under the name who.  *events and *tasks
 * (NULL: not wanted) get the events written and the task ids used
 * (2 .. *tasks - 1 are the workers). */
int synth_recording(const char *path, uint64_t target, int flags, const char *who,
                    uint64_t *events, uint64_t *tasks);

#endif
