/*
 * snapshot.h - reading a crash snapshot (schemas/crash_snapshot.h): the
 * file the debug runtime writes when its program dies of a fatal signal
 * with no tracer attached.  It is read like a recording: every event of
 * the flight recorder it holds is replayed in time order, and its session
 * keys (status, pid, exe, ...) come from its header, so `taskscope
 * ps|pstree|blocked|top FILE` work on it unchanged (store.c hands a
 * snapshot here).
 *
 * Nothing in the file is trusted: it is opened without blocking and only
 * if it is a regular file, its offsets and sizes are checked against its
 * real size, and the segment copy goes through the normal segment reader
 * (tracer/shm_reader.c), which validates every header and record.
 */
#ifndef TS_TRACER_SNAPSHOT_H
#define TS_TRACER_SNAPSHOT_H

#include <stddef.h>

#include "store.h"

/* 1 if path is a crash snapshot (its magic), 0 if not or unreadable. */
int ts_snapshot_detect(const char *path);

/* Replay every event of the snapshot's flight recorder to fn, in time
 * order.  0, or a negative code with a sentence in err. */
int ts_snapshot_replay(const char *path, ts_replay_fn fn, void *arg, char *err, size_t errlen);

/* A session key, as ts_store_read_meta has them: "status" ("crash
 * snapshot: pid N killed by signal 11 (SIGSEGV) in thread T at f
 * (file:line) <- g ..."), "pid", "exe", "runtime_version", "dropped",
 * "crash_stack" (one frame a line), "signal", "tid".  buf gets "" for a
 * key it does not have.  0 or a negative code. */
/* Give sym the snapshot's executable mappings (its copy of
 * /proc/PID/maps): the crash dump's task stacks are symbolized with
 * them (`taskscope where FILE`).  0 or a negative errno. */
struct ts_symbolizer;
int ts_snapshot_add_modules(const char *path, struct ts_symbolizer *sym);
int ts_snapshot_read_meta(const char *path, const char *key, char *buf, size_t len);

#endif
