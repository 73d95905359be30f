/*
 * reader.h - reading a process's trace segment (the shm side of the
 * tracer): open it by pid, validate it, drain its rings, merge their
 * events in time order.
 *
 * Everything in a segment is hostile until checked.  The reader copies
 * ring bytes out of shared memory before it looks at them, keeps the
 * geometry it validated at open time and never re-reads it, and checks
 * every record against its page, its published head and its type's
 * size.  Bad data costs the bytes it occupies (counted), never a crash, a
 * hang or a read out of bounds.
 *
 * Two ways to read:
 *   - passively: a flight-recorder snapshot.  The runtime keeps
 *     overwriting its oldest events; the reader gets the most recent
 *     window and, on later polls, whatever came since (anything it fell
 *     too far behind on is counted as lost bytes).
 *   - attached (ts_reader_attach): the reader is the process's live
 *     reader.  The runtime stops overwriting what the reader has not
 *     consumed (it drops and counts instead), and answers the attach with
 *     a state dump: every live task and what it awaits.  The reader must
 *     poll (or call ts_reader_keepalive) at least once a second, or the
 *     runtime goes back to overwriting.
 *
 * A ts_reader is used by one thread at a time.  Functions return 0 (or a
 * count) on success and a negative errno-style code on error; the text of
 * the last error is in ts_reader_error() (or in the caller's buffer for
 * the open calls, which have no reader yet):
 *   -ESRCH            no such process
 *   -ENOENT           the process has no segment (it does not use the
 *                     debug runtime, or tracing is off, or no loop yet)
 *   -ESTALE           the segment was made by an earlier process with the
 *                     same pid (its start time differs)
 *   -EACCES           owner, mode or seals of the segment are wrong, or no
 *                     access to the process
 *   -EPROTONOSUPPORT  the segment has another schema version
 *   -EBADMSG          corrupt or truncated segment header
 *   -EBUSY            another live reader is attached
 *   -ENOMEM, -EINVAL
 */
#ifndef TS_TRACER_READER_H
#define TS_TRACER_READER_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_reader ts_reader;

/* One decoded event, as delivered to a poll callback.  rec points at the
 * whole record (header, fixed fields, tail), 8-byte aligned, valid only
 * during the callback.  For a known type, size >= sizeof(ts_ev_<type>)
 * and any tail fits, so the record may be cast to its struct. */
typedef struct ts_reader_event {
    const ts_ev_header *rec;
    uint64_t ns;       /* timestamp, CLOCK_MONOTONIC ns (calibrated) */
    uint32_t ring;     /* ring slot that held it */
    uint32_t tid;      /* thread that wrote it */
    uint32_t role;     /* that thread's ts_thread_role */
    uint16_t type;
    uint16_t size;
} ts_reader_event;

typedef void (*ts_reader_fn)(const ts_reader_event *ev, void *arg);

typedef struct ts_reader_stats {
    uint64_t polls;
    uint64_t events;          /* events delivered (PAD and unknown excluded) */
    uint64_t dropped_events;  /* sum of the `dropped` events' counts seen */
    uint64_t dropped_total;   /* sum of the rings' own drop counters */
    uint64_t lost_bytes;      /* overwritten before this reader got them */
    uint64_t corrupt;         /* resynchronisations after bad data */
    uint64_t corrupt_bytes;   /* bytes skipped by those */
    uint64_t last_corrupt_pos; /* where the last bad region began (stream
                               * position in its ring; the head, for a
                               * bad ring header) */
    uint64_t last_corrupt_len; /* its bytes (0: a ring header) */
    uint32_t last_corrupt_ring;
    uint64_t unknown;         /* well-formed records of unknown type */
    uint64_t intern_full;     /* strings/sites ignored: table limit */
    uint32_t rings;           /* ring slots that ever held data */
    int attached;
    int dump_done;            /* the runtime answered our attach */
} ts_reader_stats;

typedef struct ts_reader_ring {
    uint32_t tid;
    uint32_t role;
    uint32_t in_use;
    char name[16];
    uint64_t head;            /* published position */
    uint64_t pos;             /* how far this reader has read */
    uint64_t dropped;         /* the ring's drop counter */
    uint64_t generation;
} ts_reader_ring;

typedef struct ts_reader_info {
    uint32_t pid;
    uint32_t uid;
    uint32_t max_rings;
    uint32_t ring_size;
    uint64_t start_time;
    uint64_t block_threshold_ns;
    uint64_t slow_step_ns;
    char runtime_version[16];
    char exe[256];
} ts_reader_info;

/* Open the segment of process pid (its "/memfd:taskscope.<pid>"
 * descriptor, through /proc/<pid>/fd) and validate it: owner, mode and
 * seals, header, layout against the file size, and that it belongs to
 * the running process (pid and start time).  The reader keeps its own
 * descriptor: after the process is gone the segment can still be read
 * until ts_reader_close.  err (may be NULL) receives a sentence on
 * failure. */
int ts_reader_open_pid(ts_reader **out, int pid, char *err, size_t errlen);

/* The same checks on a descriptor the caller has (tests; a segment
 * received some other way), as process pid's segment.  fd is duplicated,
 * not taken. */
int ts_reader_open_fd(ts_reader **out, int fd, int pid, char *err, size_t errlen);

/* Read a segment image in memory (tests, fuzzing).  The buffer must stay
 * valid and is never written; the caller may change it between polls to
 * play the producer. */
int ts_reader_open_buffer(ts_reader **out, const void *buf, size_t len, char *err,
                          size_t errlen);

/* Become the process's live reader and ask for a state dump.  -EBUSY if
 * another live reader is attached, -EINVAL for a buffer.  Poll soon after:
 * the runtime holds back (drops) what does not fit until the reader has
 * consumed the window it protects. */
int ts_reader_attach(ts_reader *rd);

/* Drain every ring up to its published head and deliver the events, in
 * timestamp order across rings, to fn.  Returns the number delivered, or
 * a negative code if the segment can no longer be read (it was
 * truncated); damaged data is not an error (see the stats). */
int ts_reader_poll(ts_reader *rd, ts_reader_fn fn, void *arg);

/* Corruption found since the last call: returns how many bad regions
 * (0: none, buf untouched) and a sentence naming the latest one (ring,
 * position, bytes skipped) and the totals, for the caller to say once.
 * A bad region is one that failed validation (framing, sizes, kinds,
 * id ranges, a clock running backwards or from the future): it is
 * skipped to the next page and none of its records is delivered. */
int ts_reader_corruption(ts_reader *rd, char *buf, size_t len);

/* Keep an attached reader's heartbeat fresh without reading. */
int ts_reader_keepalive(ts_reader *rd);

/* 1 once the state dump asked for by ts_reader_attach has been written
 * and delivered by a poll. */
int ts_reader_dump_done(const ts_reader *rd);

/* Ask an attached process for another state dump (after drops, the model
 * can confirm which tasks still live).  -EINVAL when not attached. */
int ts_reader_request_dump(ts_reader *rd);

/* 1 while the segment's process runs (same pid and start time); 0 once
 * it is gone; 1 for a buffer. */
int ts_reader_alive(const ts_reader *rd);

/* The command channel (reader_command.c; trace_format.h describes it):
 * post a request (TS_COMMAND_CANCEL: cancel task, a task of loop, with
 * msg, which may be NULL) and get its number; then poll for its answer:
 * 1 with *result (0 applied, or the runtime's negative errno), 0 not yet.
 * Posting fails with -EBUSY while another process waits on the channel,
 * -EROFS on a read-only segment, -E2BIG for a message over
 * TS_COMMAND_MSG_MAX bytes. */
int ts_reader_command_post(ts_reader *rd, uint32_t op, uint64_t loop, uint64_t task,
                           const char *msg, uint64_t *seq);
int ts_reader_command_result(ts_reader *rd, uint64_t seq, int *result);

/* 1 until the watchdog has finished a scan of the loops begun at or
 * after `since` (CLOCK_MONOTONIC ns), and then while it watches a loop
 * step begun before `since` that it has not reported as blocked and no
 * scan begun past the step's deadline has finished: a live report
 * started meanwhile waits for that report (a task spawned in the step's
 * batch is unpublished until then).  The watchdog notes a step within
 * its idle period (<= 50 ms) of its start, and its note stays after the
 * step ends: a short step noted keeps this 1 until the first scan past
 * its deadline, so only a caller with nothing better to wait for (no
 * state dump coming) asks, with a deadline of its own (a stopped
 * process's watchdog never scans).  0 without block detection. */
int ts_reader_step_pending(const ts_reader *rd, uint64_t since);

/* The fatal signal the process's crash handler said it is dying of (a
 * ring header's fatal_signal), 0 if none.  Meaningful once the process
 * is gone: the reader's own reference keeps the segment readable. */
int ts_reader_fatal_signal(const ts_reader *rd);

void ts_reader_get_stats(const ts_reader *rd, ts_reader_stats *out);
void ts_reader_get_info(const ts_reader *rd, ts_reader_info *out);
/* -ENOENT for a ring slot that never held data or is out of range. */
int ts_reader_get_ring(const ts_reader *rd, unsigned ring, ts_reader_ring *out);

/* Interned strings and sites seen so far (NULL / -ENOENT if unknown).
 * The returned pointers stay valid until ts_reader_close. */
const char *ts_reader_string(const ts_reader *rd, uint32_t id);
int ts_reader_site(const ts_reader *rd, uint32_t id, const char **file, const char **func,
                   uint32_t *line);

/* Event clock ticks to CLOCK_MONOTONIC ns, with the segment's
 * calibration as of the last poll. */
uint64_t ts_reader_ns(const ts_reader *rd, uint64_t ticks);

/* The last error's text ("" if none). */
const char *ts_reader_error(const ts_reader *rd);

/* Detach (if attached), unmap, free.  NULL is fine. */
void ts_reader_close(ts_reader *rd);

/* ---- the schema, for decoders (generated from schemas/events.def) ----- */

enum ts_field_type { TS_FT_U64, TS_FT_I64, TS_FT_U32, TS_FT_I32, TS_FT_BYTES, TS_FT_U64_ARRAY };

typedef struct ts_field_desc {
    const char *name;
    const char *doc;
    uint8_t type;          /* ts_field_type */
    uint8_t size;          /* bytes (0 for a tail) */
    uint16_t offset;       /* from the start of the record */
} ts_field_desc;

typedef struct ts_event_desc {
    const char *name;
    const char *doc;
    uint16_t id;
    uint16_t size;         /* sizeof(ts_ev_<name>), the minimum record size */
    uint16_t nfields;
    const ts_field_desc *fields;
    const ts_field_desc *tail; /* NULL if none; it follows the fixed part */
} ts_event_desc;

/* The description of an event type, NULL if unknown. */
const ts_event_desc *ts_event_desc_of(unsigned type);
const char *ts_event_name(unsigned type);   /* "?" if unknown */
/* The tail of rec (of type d): its length is always the last fixed field
 * (bytes for a bytes tail, elements for a u64 array).  Returns the bytes
 * it claims, which the caller must check against rec's size; 0 when d
 * has no tail. */
uint64_t ts_event_tail_bytes(const ts_event_desc *d, const void *rec);

/* One line describing the event: "task_create task=3 parent=1 ...",
 * with string and site ids resolved through rd (which may be NULL).
 * Returns the length it wanted, like snprintf. */
int ts_reader_format(const ts_reader *rd, const ts_reader_event *ev, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
