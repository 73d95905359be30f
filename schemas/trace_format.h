/*
 * trace_format.h - the binary trace format: record structs generated from
 * events.def, and the shared-memory segment that holds the rings.
 *
 * Shared, unchanged, by the runtime's writer and the tracer's reader; the
 * reader must treat every byte of a segment as hostile (see
 * tracer/shm_reader.c), so nothing here is trusted without validation.
 *
 * The segment (one per process): a memfd named taskscope.<pid>, mode 0600,
 * sealed against shrinking and growing (F_SEAL_SHRINK|F_SEAL_GROW|
 * F_SEAL_SEAL), held open by the process for its life.  A reader finds it
 * among /proc/<pid>/fd (the link reads "/memfd:taskscope.<pid> (deleted)").
 * It has no name anywhere else, so nothing is left behind after any exit
 * and nobody can create it in advance; it is freed with the last
 * descriptor or mapping, which may be a reader's:
 *
 *   ts_seg_header                 magic, version, owner, clock calibration,
 *                                 attach handshake
 *   ts_ring_header[max_rings]     one per emitting thread
 *   ring data[max_rings]          each ring_size bytes
 *
 * A ring is a byte stream cut into pages of TS_PAGE_SIZE bytes.  A record
 * never straddles a page: a writer that cannot fit a record in the rest of
 * a page fills it with a PAD record and starts the next page.  So any page
 * boundary is a record boundary, and a reader that attaches late (after
 * the producer has wrapped and overwritten the oldest data) can start
 * decoding at the oldest page still intact.  Positions (head, tail) are
 * byte counts since the ring started, never wrapped; offset = pos %
 * ring_size.
 */
#ifndef TS_TRACE_FORMAT_H
#define TS_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define TS_SCHEMA_VERSION 1
#define TS_SEG_MAGIC "TSTRACE1"
#define TS_PAGE_SIZE 4096u
#define TS_MAX_RINGS 64u
#define TS_RING_SIZE_DEFAULT (1u << 20)
#define TS_RING_SIZE_MIN (16u * TS_PAGE_SIZE)
#define TS_RING_SIZE_MAX (1u << 28)

typedef uint64_t ts_u64;
typedef int64_t ts_i64;
typedef uint32_t ts_u32;
typedef int32_t ts_i32;

/* Every record starts with this.  size includes the header and is a
 * multiple of 8; type is a TS_EV_* id (0 = PAD: skip size bytes). */
typedef struct ts_ev_header {
    uint64_t ts;      /* event clock ticks; see ts_seg_header calibration */
    uint16_t type;
    uint16_t size;
    uint32_t spare;   /* reserved, written as 0 */
} ts_ev_header;

#define TS_EV_PAD 0

/* Event ids. */
enum ts_event_type {
#define TS_EVENT(name, id, doc, fields) TS_EV_##name = id,
#define TS_FIELD(type, name, doc)
#define TS_TAIL(type, name, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
    TS_EV_MAX_ID = 127
};

/* Record structs: ts_ev_<name>, header first, then the fixed fields; a
 * tail (if any) follows the struct directly. */
#define TS_EVENT(name, id, doc, fields) \
    typedef struct __attribute__((packed, aligned(8))) ts_ev_##name { \
        ts_ev_header h; \
        fields \
    } ts_ev_##name;
#define TS_FIELD(type, name, doc) ts_##type name;
#define TS_TAIL(type, name, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL

/* ---- the segment ---------------------------------------------------------- */

enum ts_thread_role {
    TS_ROLE_OTHER = 0,
    TS_ROLE_LOOP = 1,
    TS_ROLE_WORKER = 2,
    TS_ROLE_WATCHDOG = 3,
};

typedef struct ts_ring_header {
    /* Written by the producer. */
    _Alignas(64) uint64_t head;       /* bytes published (release store) */
    uint64_t dropped;                 /* events dropped, total */
    uint64_t generation;              /* bumped each time the slot is reused */
    uint32_t tid;
    uint32_t role;
    uint32_t in_use;                  /* 1 while a thread owns the ring */
    uint32_t fatal_signal;            /* the signal killing the process, set
                                       * by the crash handler on the ring of
                                       * the thread that took it; else 0 */
    char name[16];
    /* Written by the reader. */
    _Alignas(64) uint64_t tail;       /* bytes consumed (release store) */
    uint64_t pad1[7];
} ts_ring_header;

/* Per-loop block-detection state, written by the loop thread, read by the
 * watchdog thread and by tracers.  The loop stores step_start before
 * step (release), so a reader that sees a new step also sees its start. */
typedef struct ts_loop_slot {
    _Alignas(64) uint64_t loop;       /* loop id, 0 = slot free */
    uint64_t step;                    /* odd while a step runs (in the
                                       * segment's copy: the last step the
                                       * watchdog saw running, written by it) */
    uint64_t step_start;              /* event clock at step start */
    uint64_t task;                    /* running task id, 0 = callback */
    uint64_t blocked_step;            /* set by the watchdog: the step it
                                       * reported as blocked */
    uint64_t dump_gen;                /* the attach generation this loop
                                       * last answered with a state dump */
    uint32_t tid;
    uint32_t pad;
} ts_loop_slot;

#define TS_MAX_LOOPS 32u

/* The command channel (runtime/src/trace/command.c): a reader asks the
 * debug runtime to act on a task, and the loop that owns it does so on
 * its own thread at its next iteration.  One request at a time:
 *
 *   reader: claim (CAS 0 -> its pid); write op, loop, task, pid, msg;
 *           seq = done_seq + 1 (release); wait for done_seq == seq.
 *   loop:   sees seq != done_seq (acquire), copies the request into
 *           private memory, validates it (op, lengths, the loop and task
 *           exist, the requesting pid belongs to its uid or root), acts,
 *           writes result, then done_seq = seq (release) and claim = 0.
 *
 * Only a process that can open the memfd (same uid, or root) can write
 * here.  The runtime never trusts a byte of it: it acts on a copy, at
 * most once per TS_COMMAND_MIN_NS, so a reader that scribbles can cost
 * the program a few task lookups a second, never a hang or a crash. */
#define TS_COMMAND_CANCEL 1u
#define TS_COMMAND_MSG_MAX 120u

typedef struct ts_seg_command {
    _Alignas(64) uint64_t claim;      /* reader: pid holding the channel, 0 free */
    uint64_t seq;                     /* reader: the request's number */
    uint64_t loop;                    /* reader: the loop that owns the task */
    uint64_t task;                    /* reader: the task */
    uint32_t op;                      /* reader: TS_COMMAND_* */
    uint32_t pid;                     /* reader: the requesting process */
    uint32_t msg_len;                 /* reader: bytes of msg, <= TS_COMMAND_MSG_MAX */
    uint32_t pad;
    char msg[TS_COMMAND_MSG_MAX];     /* reader: the cancel message, not terminated */
    uint64_t done_seq;                /* runtime: the last request answered */
    int32_t result;                   /* runtime: 0 applied, or a negative errno */
    uint32_t pad2;
} ts_seg_command;

typedef struct ts_seg_header {
    char magic[8];                    /* TS_SEG_MAGIC */
    uint32_t version;                 /* TS_SCHEMA_VERSION */
    uint32_t header_size;             /* sizeof(ts_seg_header) */
    uint64_t total_size;              /* bytes in the whole segment */
    uint32_t pid;
    uint32_t uid;
    uint64_t start_time;              /* /proc/<pid>/stat field 22: with pid,
                                       * tells this process's segment from
                                       * one it inherited across fork */
    uint32_t max_rings;
    uint32_t ring_size;               /* power of two, multiple of TS_PAGE_SIZE */
    uint64_t rings_offset;            /* where ring headers start */
    uint64_t data_offset;             /* where ring data starts */
    /* Clock calibration: two (ticks, CLOCK_MONOTONIC ns) pairs; the second
     * is refreshed by the watchdog, guarded by calib_seq (odd = updating). */
    uint64_t calib_seq;
    uint64_t ticks0, mono0_ns;
    uint64_t ticks1, mono1_ns;
    /* Attach handshake: a reader bumps attach_request; the runtime answers
     * by writing a state dump and setting attach_done to the same value. */
    uint64_t attach_request;
    uint64_t attach_done;
    /* Reader presence: a reader stores its pid and refreshes the heartbeat
     * (CLOCK_MONOTONIC ns) at least every second.  While it is fresh the
     * producers drop instead of overwriting unread data. */
    uint64_t reader_pid;
    uint64_t reader_heartbeat_ns;
    /* Block detection settings (ns) and the loops being watched. */
    uint64_t block_threshold_ns;
    uint64_t slow_step_ns;
    /* CLOCK_MONOTONIC ns at which the watchdog began its latest scan of
     * the loops, stored when that scan is over (its copies of the steps
     * in loops[] are then written): a reader that came before it cannot
     * yet know whether a step was running when it came. */
    uint64_t watch_scan_ns;
    ts_loop_slot loops[TS_MAX_LOOPS];
    char runtime_version[16];
    char exe[256];                    /* /proc/self/exe at creation */
    ts_seg_command command;           /* taskscope cancel (issue 15) */
} ts_seg_header;

/* The memfd name of a process's segment, and what every such name starts
 * with. */
#define TS_SEG_NAME_PREFIX "taskscope."
#define TS_SEG_NAME_FMT TS_SEG_NAME_PREFIX "%d"

#endif
