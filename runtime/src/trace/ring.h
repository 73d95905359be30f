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
    uint32_t unpublished;    /* events since the last publish */
    bool reader_live;        /* cached at each publish */
    uint64_t dropped_pending;
    uint64_t dropped_total;
} ts__ring;

/* The calling thread's ring, attached on first use; NULL when tracing is
 * off or no ring slot is free (the event is then simply not recorded). */
ts__ring *ts__ring_self(void);
/* Register the calling thread with a role and name; idempotent. */
ts__ring *ts__ring_thread_start(uint32_t role, const char *name);
void ts__ring_thread_exit(void);

/* Reserve size bytes (a multiple of 8, at most TS_PAGE_SIZE) for one record of type and
 * return where to write it, or NULL if the event is dropped.  The header's
 * ts/type/size are filled in.  ts__ring_commit finishes the record. */
void *ts__ring_reserve(ts__ring *r, uint16_t type, uint32_t size);
void ts__ring_commit(ts__ring *r, uint32_t size);
/* Publish everything written so far. */
void ts__ring_publish(ts__ring *r);

/* The segment header (NULL when tracing is off). */
ts_seg_header *ts__seg(void);

#endif
