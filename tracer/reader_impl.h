/*
 * reader_impl.h - the inside of a ts_reader, shared by shm_reader.c
 * (open, validate, attach), ring_drain.c (poll) and reader_intern.c
 * (string and site tables).
 *
 * The geometry (ring count and size, offsets, file size) is validated
 * once at open and kept here; nothing in shared memory is trusted to
 * stay as it was, so it is never re-read.  Control words (heads, tails,
 * the attach handshake, the calibration) are re-read at each poll and
 * checked against that geometry before use.
 */
#ifndef TS_TRACER_READER_IMPL_H
#define TS_TRACER_READER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* Positions beyond this are corrupt: a real ring would need centuries. */
#define RD_POS_MAX (UINT64_C(1) << 56)
/* Bytes copied per ring, and in all, per poll: bounds the memory a
 * hostile segment (64 rings of 256 MiB) can make us allocate.  A ring
 * with more to read goes on at the next poll. */
#define RD_RING_BUDGET (8u << 20)
#define RD_POLL_BUDGET (64u << 20)
/* An attached reader whose last heartbeat is older than this cannot be
 * sure the producers still saw it as live (they give up after 2 s). */
#define RD_TRUST_NS 1500000000ull
/* Limits of the string and site tables. */
#define RD_INTERN_MAX_ENTRIES (1u << 20)
#define RD_INTERN_MAX_BYTES (64u << 20)

struct rd_string {
    uint32_t id;
    uint32_t len;
    char *text;
};

struct rd_site {
    uint32_t id, file, func, line;
};

struct rd_intern {
    struct rd_string *strs;      /* open addressing by id, power of two */
    size_t strs_cap, strs_n, bytes;
    struct rd_site *sites;
    size_t sites_cap, sites_n;
};

/* What the reader knows of one ring slot. */
struct rd_ring {
    bool seen;                   /* held data at some poll */
    bool bad_head;               /* head out of range at the last look */
    uint64_t pos;                /* next position to decode (may run past
                                  * head after a resync to a page start) */
    uint64_t last_head;
    uint64_t generation;
    uint64_t dropped;            /* the ring's own counter, last read */
    uint32_t tid, role;          /* of the thread writing it now */
    uint64_t dump_end;           /* head when attach_done answered us: the
                                  * loops' dumps lie below it */
    uint64_t last_ns;            /* of the last valid record: a ring's
                                  * clock does not run backwards */
    /* this poll's events: ev[first .. first + count) */
    size_t first, count, next;
};

/* One decoded record awaiting delivery. */
struct rd_pending {
    uint64_t ts;
    uint32_t off;                /* in the arena */
    uint32_t tid;
    uint16_t ring;
    uint16_t role;
};

struct ts_reader {
    /* where the bytes are */
    int fd;                      /* shm: open descriptor; buffer: -1 */
    const unsigned char *base;   /* the mapping or the caller's buffer */
    unsigned char *wbase;        /* writable mapping, or NULL */
    size_t size;
    int pid;
    uint64_t start_time;
    /* validated geometry */
    uint32_t max_rings, ring_size;
    uint64_t rings_offset, data_offset;
    ts_reader_info info;
    /* reading */
    struct rd_ring rings[TS_MAX_RINGS];
    uint32_t rotate;             /* first ring drained, for fairness */
    unsigned char *arena;        /* this poll's copies of ring bytes */
    size_t arena_cap, arena_used;
    struct rd_pending *ev;
    size_t ev_n, ev_cap;
    /* calibration as of the last poll: ns = mono0 + (ticks - ticks0) * k */
    uint64_t ticks0, mono0;
    double ns_per_tick;
    uint64_t calib_end_ns;       /* the newer calibration point, ns */
    /* attach */
    bool attached;
    bool dump_done;
    uint64_t dump_gen;
    uint64_t dump_ends_gen;      /* the dump_gen the rings' dump_end are for */
    uint64_t last_beat_ns;
    uint64_t polls_since_attach;
    struct rd_intern intern;
    uint64_t poll_ns;            /* CLOCK_MONOTONIC at this poll's start */
    uint64_t task_hi;            /* highest task id created or dumped */
    uint64_t corrupt_told;       /* st.corrupt as of the last report */
    ts_reader_stats st;
    char err[256];
};

/* shm_reader.c: control words, read and written in place. */
uint64_t rd_load64(const ts_reader *rd, uint64_t off);
uint32_t rd_load32(const ts_reader *rd, uint64_t off);
void rd_store64(ts_reader *rd, uint64_t off, uint64_t v);
int rd_copy(const ts_reader *rd, uint64_t off, void *dst, size_t len);
uint64_t rd_ring_hdr(const ts_reader *rd, uint32_t ring);
uint64_t rd_mono_ns(void);
int rd_fail(ts_reader *rd, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SEG_OFF(field) ((uint64_t)offsetof(ts_seg_header, field))
#define HDR_OFF(field) ((uint64_t)offsetof(ts_ring_header, field))

/* ring_drain.c */
uint64_t rd_window_start(uint64_t head, uint32_t ring_size);
/* Before announcing a live reader: store each ring's tail where reading
 * will start (where we are, or the oldest intact page). */
void rd_protect_window(ts_reader *rd);

/* event_desc.c: ts_event_desc_of without the one-time setup, for callers
 * that have made sure of it (ts_reader_poll). */
const ts_event_desc *rd_event_desc(unsigned type);
/* Are the record's ids and enumerations within what a writer produces?
 * (Its framing is checked by the caller.) */
bool rd_record_plausible(const ts_ev_header *h);

/* reader_intern.c: false when the table is full (the entry is ignored). */
bool rd_intern_string(struct rd_intern *t, uint32_t id, const char *text, uint32_t len);
bool rd_intern_site(struct rd_intern *t, uint32_t id, uint32_t file, uint32_t func,
                    uint32_t line);
const struct rd_string *rd_find_string(const struct rd_intern *t, uint32_t id);
const struct rd_site *rd_find_site(const struct rd_intern *t, uint32_t id);
void rd_intern_free(struct rd_intern *t);

#endif
