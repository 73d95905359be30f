/*
 * segimage.h - builds small trace segment images in memory, the way the
 * runtime lays them out, so tests can feed the reader exact, then
 * damaged, data: a few rings of a few pages, records written with the
 * writer's page rule (PAD to the page end, never a record across a
 * page), heads published as the writer would.
 *
 * The image is a plain malloc'd buffer of exactly its size, so ASan sees
 * any read past its end.
 */
#ifndef TS_SEGIMAGE_H
#define TS_SEGIMAGE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_format.h"

typedef struct segimage {
    unsigned char *buf;
    size_t len;
    uint32_t nrings, ring_size;
    uint64_t pos[TS_MAX_RINGS]; /* producer cursors (published as head) */
} segimage;

static inline ts_seg_header *seg_hdr(segimage *s) { return (ts_seg_header *)(void *)s->buf; }

static inline ts_ring_header *seg_ring(segimage *s, uint32_t i) {
    return (ts_ring_header *)(void *)(s->buf + seg_hdr(s)->rings_offset +
                                      i * sizeof(ts_ring_header));
}

/* A valid, empty image: nrings rings of ring_size bytes (a power of two,
 * at least a page), calibrated 1 tick = 1 ns from 0. */
static inline void seg_init(segimage *s, uint32_t nrings, uint32_t ring_size) {
    memset(s, 0, sizeof *s);
    s->nrings = nrings;
    s->ring_size = ring_size;
    uint64_t rings = (sizeof(ts_seg_header) + 63) & ~(uint64_t)63;
    uint64_t data = rings + (uint64_t)nrings * sizeof(ts_ring_header);
    s->len = (size_t)(data + (uint64_t)nrings * ring_size);
    s->buf = calloc(1, s->len);
    ts_seg_header *h = seg_hdr(s);
    memcpy(h->magic, TS_SEG_MAGIC, 8);
    h->version = TS_SCHEMA_VERSION;
    h->header_size = sizeof(ts_seg_header);
    h->total_size = s->len;
    h->pid = (uint32_t)getpid();
    h->uid = (uint32_t)geteuid();
    h->max_rings = nrings;
    h->ring_size = ring_size;
    h->rings_offset = rings;
    h->data_offset = data;
    h->ticks1 = h->mono1_ns = 1000000;
    h->block_threshold_ns = 100000000;
    memcpy(h->runtime_version, "image", 6);
}

static inline void seg_free(segimage *s) {
    free(s->buf);
    s->buf = NULL;
}

static inline unsigned char *seg_at(segimage *s, uint32_t ring, uint64_t pos) {
    return s->buf + seg_hdr(s)->data_offset + (uint64_t)ring * s->ring_size +
           (pos & (s->ring_size - 1));
}

/* Append a record of `size` bytes (header included; rounded up to 8)
 * whose body after the header is `body`.  Pads to the next page first if
 * it would cross one, as the writer does.  Overwrites like a flight
 * recorder (no tail).  Publishes head. */
static inline void seg_emit(segimage *s, uint32_t ring, uint16_t type, uint32_t size,
                            const void *body, uint64_t ts) {
    size = (size + 7) & ~7u;
    uint64_t *pos = &s->pos[ring];
    uint32_t room = TS_PAGE_SIZE - (uint32_t)(*pos & (TS_PAGE_SIZE - 1));
    if (room < size) {
        if (room >= sizeof(ts_ev_header)) {
            ts_ev_header pad = {0, TS_EV_PAD, (uint16_t)room, 0};
            memcpy(seg_at(s, ring, *pos), &pad, sizeof pad);
        }
        *pos += room;
    }
    unsigned char *p = seg_at(s, ring, *pos);
    memset(p, 0, size);
    ts_ev_header h = {ts, type, (uint16_t)size, 0};
    memcpy(p, &h, sizeof h);
    if (body && size > sizeof h)
        memcpy(p + sizeof h, body, size - sizeof h);
    *pos += size;
    seg_ring(s, ring)->head = *pos;
}

/* Typed helpers: fill the record struct after its header. */
#define SEG_EMIT(s, ring, name, ts, ...)                                          \
    do {                                                                         \
        ts_ev_##name e_ = {.h = {0}, __VA_ARGS__};                               \
        seg_emit((s), (ring), TS_EV_##name, sizeof e_,                            \
                 (const unsigned char *)&e_ + sizeof(ts_ev_header), (ts));        \
    } while (0)

static inline void seg_string(segimage *s, uint32_t ring, uint32_t id, const char *text,
                              uint64_t ts) {
    uint32_t len = (uint32_t)strlen(text);
    unsigned char body[512] = {0};
    ts_ev_string e = {.id = id, .len = len};
    memcpy(body, (unsigned char *)&e + sizeof(ts_ev_header), sizeof e - sizeof(ts_ev_header));
    memcpy(body + sizeof e - sizeof(ts_ev_header), text, len);
    seg_emit(s, ring, TS_EV_string, (uint32_t)(sizeof e + len), body, ts);
}

static inline void seg_stack(segimage *s, uint32_t ring, uint32_t id, const uint64_t *pcs,
                             uint32_t depth, uint64_t ts) {
    unsigned char body[1024] = {0};
    ts_ev_stack e = {.id = id, .depth = depth};
    memcpy(body, (unsigned char *)&e + sizeof(ts_ev_header), sizeof e - sizeof(ts_ev_header));
    memcpy(body + sizeof e - sizeof(ts_ev_header), pcs, depth * 8u);
    seg_emit(s, ring, TS_EV_stack, (uint32_t)(sizeof e + depth * 8u), body, ts);
}

/* A little of everything, on ring `ring`: names, a site, a task's life. */
static inline void seg_story(segimage *s, uint32_t ring, uint64_t task, uint64_t ts) {
    seg_string(s, ring, 1, "worker", ts);
    seg_string(s, ring, 2, "main.c", ts);
    seg_string(s, ring, 3, "amain", ts);
    SEG_EMIT(s, ring, site, ts, .id = 1, .file = 2, .func = 3, .line = 42);
    SEG_EMIT(s, ring, thread_start, ts, .tid = 1000 + ring, .role = TS_ROLE_LOOP, .name = 1);
    SEG_EMIT(s, ring, task_create, ts + 1, .task = task, .parent = 1, .loop = 1, .name = 1,
             .site = 1);
    SEG_EMIT(s, ring, task_resume, ts + 2, .task = task);
    SEG_EMIT(s, ring, task_suspend, ts + 3, .task = task, .object = 7, .kind = 3, .site = 1);
    SEG_EMIT(s, ring, task_wake, ts + 4, .task = task, .by_task = 0, .status = 0);
    SEG_EMIT(s, ring, task_done, ts + 5, .task = task, .state = 3, .err = 0);
    uint64_t pcs[3] = {0x401000, 0x402000, 0x403000};
    seg_stack(s, ring, 9, pcs, 3, ts + 6);
}

#endif
