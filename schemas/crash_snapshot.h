/*
 * crash_snapshot.h - the crash snapshot file the debug runtime writes
 * when the program dies of a fatal signal with no tracer attached
 * (runtime/src/trace/crash.c), read by `taskscope ps|pstree|blocked|top
 * FILE` (tracer/snapshot.c).
 *
 * Layout: this header (TS_SNAP_HEADER_ROOM bytes reserved), then a copy
 * of the trace segment (its header rewritten from the runtime's private
 * geometry and cut to the ring slots ever used), then the text of
 * /proc/self/maps at the time of the crash, then (if it could be made)
 * a state dump of the crashing thread's loop, which a reader adds to the
 * segment as one more ring.  The header is written once the segment and
 * maps are in, its magic included, so a snapshot cut short has no magic;
 * it is written again when the dump is in.  Nothing in
 * it is trusted by the reader: offsets and sizes are checked against the
 * file, and the segment copy goes through the normal segment reader.
 */
#ifndef TS_CRASH_SNAPSHOT_H
#define TS_CRASH_SNAPSHOT_H

#include <stdint.h>

#define TS_SNAP_MAGIC "TSCRASH1"
#define TS_SNAP_VERSION 1
#define TS_SNAP_HEADER_ROOM 4096u
#define TS_SNAP_MAX_FRAMES 64u
/* The file name, in TASKSCOPE_CRASH_DIR (default: the working directory,
 * else $TMPDIR or /tmp); %d is the pid. */
#define TS_SNAP_NAME_FMT "taskscope-crash.%d.tsnap"

typedef struct ts_snap_header {
    char magic[8];             /* TS_SNAP_MAGIC */
    uint32_t version;          /* TS_SNAP_VERSION */
    uint32_t header_size;      /* sizeof(ts_snap_header) */
    uint32_t pid;
    uint32_t tid;              /* the thread that took the signal */
    int32_t signo;
    int32_t code;              /* si_code */
    uint64_t addr;             /* si_addr (faults) */
    uint64_t mono_ns;          /* CLOCK_MONOTONIC at the signal */
    uint64_t realtime_ns;      /* CLOCK_REALTIME at the signal */
    uint32_t depth;            /* valid entries of pcs */
    uint32_t pad;
    uint64_t pcs[TS_SNAP_MAX_FRAMES]; /* the crashing thread's stack,
                                       * innermost first: the pc, then
                                       * return addresses */
    uint64_t seg_offset, seg_size;    /* the segment copy */
    uint64_t maps_offset, maps_size;  /* /proc/self/maps text */
    uint64_t dump_offset, dump_size;  /* the crashing loop's state dump: the
                                       * bytes of one more ring (positions
                                       * from 0, records never across a
                                       * page), 0 if none could be made */
} ts_snap_header;

_Static_assert(sizeof(ts_snap_header) <= TS_SNAP_HEADER_ROOM, "the header outgrew its room");

#endif
