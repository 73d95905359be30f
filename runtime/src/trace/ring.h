/*
 * ring.h - the debug runtime's side of the trace segment: one
 * single-producer ring per emitting thread.
 *
 * The producer never waits.  With no reader (or a reader whose heartbeat
 * is stale) it overwrites the oldest data: a flight recorder.  With a live
 * reader it never overwrites unread data; an event that does not fit is
 * dropped and counted, and the count is written as a `dropped` event as
 * soon as there is room again.
 *
 * Writes go to a thread-local cursor; the cursor is published to the
 * shared head with one release store per batch (every TS_PUBLISH_EVERY
 * events, and whenever the thread is about to sleep), which is what keeps
 * an event near 10 ns instead of ~50 with a busy reader.
 *
 * Room can be held back from ordinary events (ts__ring_hold): a loop that
 * owes its reader a state dump keeps the dump's size free, so the dump is
 * written whole as soon as the reader has read enough, and is never the
 * part that gets dropped.  A dump is assembled off the ring first
 * (ts__ring_scratch_open) and copied in only when all of it fits
 * (ts__ring_copy_in).
 */
#ifndef TS_TRACE_RING_H
#define TS_TRACE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../../schemas/trace_format.h"
#include "clock.h"

#define TS_PUBLISH_EVERY 64

typedef struct ts__ring {
    ts_ring_header *hdr;
    char *data;
    uint32_t mask;           /* ring_size - 1 */
    uint64_t pos;            /* producer cursor (unpublished beyond hdr->head) */
    uint64_t tail_cache;     /* last tail read from the reader */
    uint64_t limit;          /* with a live reader, ordinary events keep
                              * pos - tail <= limit (ring_size, less any
                              * room held back for a state dump) */
    uint32_t unpublished;    /* events since the last publish */
    uint32_t full_skip;      /* with a live reader, the ring was found full
                              * on a fresh tail: drop this many more before
                              * reading the tail again (ring.c) */
    uint32_t slot;           /* index of the ring in the segment */
    bool reader_live;        /* cached at each publish and page entry */
    bool scratch;            /* off-ring buffer: never wraps, never publishes */
    uint64_t dropped_pending;
    uint64_t dropped_total;
    uint64_t last_ts;        /* timestamp of the last record reserved */
    uint64_t populated;      /* bytes of data known to have their pages
                              * (ring.c: populate_ahead) */
    struct intern_cache *intern_cache; /* the thread's (intern.c), once looked up */
} ts__ring;

/* The calling thread's ring, attached on first use; NULL when tracing is
 * off or no ring slot is free (the event is then simply not recorded).
 * The fast path is inline: one initial-exec TLS load and a compare. */
struct ts__thread_ring {
    ts__ring ring;
    uint64_t fork_gen;
    int state;                 /* 0 none, 1 attached, -1 no slot */
};
extern __thread __attribute__((tls_model("initial-exec"), visibility("hidden")))
struct ts__thread_ring ts__tls_ring;
extern __attribute__((visibility("hidden"))) uint64_t ts__fork_generation;
ts__ring *ts__ring_self_slow(void);
static inline ts__ring *ts__ring_self(void) {
    if (__builtin_expect(ts__tls_ring.state == 1, 1) &&
        ts__tls_ring.fork_gen == __atomic_load_n(&ts__fork_generation, __ATOMIC_RELAXED))
        return &ts__tls_ring.ring;
    return ts__ring_self_slow();
}
/* Register the calling thread with a role and name; idempotent. */
ts__ring *ts__ring_thread_start(uint32_t role, const char *name);
void ts__ring_thread_exit(void);

/* Reserve size bytes (a multiple of 8, at most TS_PAGE_SIZE) for one record of type and
 * return where to write it, or NULL if the event is dropped.  The header's
 * ts/type/size are filled in.  ts__ring_commit finishes the record. */
void *ts__ring_reserve_slow(ts__ring *r, uint16_t type, uint32_t size, uint64_t ts);
/* Publish everything written so far. */
void ts__ring_publish(ts__ring *r);

/* The common case inline: nothing dropped to report, the record fits in
 * the current page (and is not the first in it: entering a page
 * publishes), and a live reader has left room.  ts: a timestamp the
 * caller has just read, or 0. */
static inline void *ts__ring_reserve_at(ts__ring *r, uint16_t type, uint32_t size,
                                        uint64_t ts) {
    uint32_t off = (uint32_t)(r->pos & (TS_PAGE_SIZE - 1));
    if (__builtin_expect(!r->dropped_pending && off != 0 && off + size <= TS_PAGE_SIZE &&
                             (!r->reader_live || r->pos + size - r->tail_cache <= r->limit),
                         1)) {
        ts_ev_header *h = (ts_ev_header *)(r->data + (r->pos & r->mask));
        h->ts = r->last_ts = ts ? ts : ts__ticks();
        h->type = type;
        h->size = (uint16_t)size;
        h->spare = 0;
        return h;
    }
    return ts__ring_reserve_slow(r, type, size, ts);
}

static inline void *ts__ring_reserve(ts__ring *r, uint16_t type, uint32_t size) {
    return ts__ring_reserve_at(r, type, size, 0);
}

static inline void ts__ring_commit(ts__ring *r, uint32_t size) {
    r->pos += size;
    if (__builtin_expect(++r->unpublished >= TS_PUBLISH_EVERY, 0))
        ts__ring_publish(r);
}

/* With a live reader, ordinary events always leave this much free: the
 * end of a loop (the count of what was dropped, then its loop_close)
 * goes in even when the reader fell far behind, so the recording still
 * learns that every task of the loop is gone (a burst that dropped their
 * task_done records would otherwise leave them "live" forever).  Room
 * for two small records, each with a page's padding before it. */
#define TS_RING_END_RESERVE 256u

/* Keep `bytes` of the ring (at least TS_RING_END_RESERVE) free from
 * ordinary events while a live reader reads it (0: just the reserve).
 * What does not fit in the rest is dropped and counted as usual. */
void ts__ring_hold(ts__ring *r, uint64_t bytes);
/* Let the next records use the whole ring, reserve included: for a dump
 * being copied in, or a loop's last record.  ts__ring_hold ends it. */
void ts__ring_open_reserve(ts__ring *r);
/* Would `bytes` more fit now (no live reader, or the reader has left that
 * much room)?  Re-reads the reader's tail. */
bool ts__ring_fits(ts__ring *r, uint64_t bytes);

/* An off-ring ring of the same size as the thread's rings, in heap
 * memory, to assemble records before committing them together: it never
 * wraps (a record past its size is dropped and counted, as with a live
 * reader) and publishes nothing.  -ENOMEM, or -ENOTSUP without a segment. */
int ts__ring_scratch_open(ts__ring *s, ts_ring_header *hdr);
void ts__ring_scratch_close(ts__ring *s);
/* The same over a buffer the caller owns (size: a power of two, at least
 * a page); nothing is allocated (the crash handler's). */
void ts__ring_scratch_init(ts__ring *s, ts_ring_header *hdr, void *buf, uint32_t size);
/* Copy every record of scratch s into r, all or nothing; on success any
 * hold on r is released.  0; -ENOSPC if the live reader has not left room
 * for all of it (*need: the bytes it takes from r's cursor, page padding
 * included); -E2BIG if s itself overflowed. */
int ts__ring_copy_in(ts__ring *r, const ts__ring *s, uint64_t *need);

/* The segment header (NULL when tracing is off).  Shared with readers:
 * the producers write it and read back only what a reader may write
 * (attach_request, reader_pid, reader_heartbeat_ns, each ring's tail),
 * treating every such value as possibly hostile. */
ts_seg_header *ts__seg(void);

/* What this process made, kept in private memory (see ring.c). */
typedef struct ts__seg_geom {
    void *base;
    size_t size;
    uint32_t ring_size;
    uint32_t pid;
    uint64_t rings_offset, data_offset;
    int fd;                  /* the memfd, open for the process's life */
    uint64_t ticks0, mono0_ns; /* both clocks when it was made: the calibration's start */
} ts__seg_geom;
/* NULL when tracing is off. */
const ts__seg_geom *ts__seg_geometry(void);
/* Ring slots ever claimed (the highest index plus one). */
uint32_t ts__seg_slots_used(void);
/* A value a reader wrote is impossible: log it once on stderr. */
void ts__seg_damaged(const char *what);
/* The private block-detection slot i (< TS_MAX_LOOPS) of emit.c; the
 * segment's loops[] are copies for readers, never read back. */
ts_loop_slot *ts__loop_slot_at(uint32_t i);
/* Set attach_done to the newest attach request every loop (every live
 * slot of h->loops) has answered with a state dump. */
void ts__seg_settle_dump(void);
/* Publish (ticks, ns), read with ts__clock_pair, as the calibration's
 * newer point (ticks1, mono1_ns) under the header's seqlock. */
void ts__seg_calibrate(uint64_t ticks, uint64_t ns);

#endif
