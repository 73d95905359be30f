/*
 * event_desc.c - the event schema as data (names, fields, offsets, docs),
 * generated from schemas/events.def, and a one-line formatter built on
 * it, so that a new event or field needs no edit here.
 *
 * The record structs are packed with their fields in definition order
 * after the 16-byte header, so a field's offset is the sum of the sizes
 * before it; a compile-time check per event proves that sum matches the
 * struct the writer uses.  Offsets are filled in once, on first use.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "reader_impl.h"

#define FT_u64 TS_FT_U64
#define FT_i64 TS_FT_I64
#define FT_u32 TS_FT_U32
#define FT_i32 TS_FT_I32
#define FT_TAIL_bytes TS_FT_BYTES
#define FT_TAIL_u64 TS_FT_U64_ARRAY

/* The fields of each event, header excluded; tails last, size 0. */
#define TS_EVENT(name, id, doc, fields) static ts_field_desc fields_##name[] = {fields{0}};
#define TS_FIELD(type, fname, doc) {#fname, doc, FT_##type, sizeof(ts_##type), 0},
#define TS_TAIL(type, fname, doc) {#fname, doc, FT_TAIL_##type, 0, 0},
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL

/* The fixed fields, summed, fill the struct up to its 8-byte padding. */
#define TS_EVENT(name, id, doc, fields)                                              \
    _Static_assert((sizeof(ts_ev_header) + 0 fields + 7) / 8 * 8 == sizeof(ts_ev_##name), \
                   #name ": events.def and the record struct disagree");
#define TS_FIELD(type, fname, doc) +sizeof(ts_##type)
#define TS_TAIL(type, fname, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL

static ts_event_desc events[] = {
#define TS_EVENT(name, id, doc, fields) \
    {#name, doc, id, sizeof(ts_ev_##name), 0, fields_##name, NULL},
#define TS_FIELD(type, fname, doc)
#define TS_TAIL(type, fname, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
};

#define NEVENTS (sizeof events / sizeof events[0])

static const ts_event_desc *by_id[TS_EV_MAX_ID + 1];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- plausibility: what a well-formed record can still get wrong ------------------
 *
 * Bytes that happen to parse (a known type, a size that fits) are not an
 * event yet: random data once made a task 8329760454054248450 appear.
 * The writer's ids have ranges, and so do its enumerations: task and
 * loop ids count up from 1 (a process would need centuries of spawning
 * to pass 2^48), states and kinds are small.  A record outside them is
 * corrupt, whatever its framing says. */
#define ID_MAX (UINT64_C(1) << 48)

struct bound {
    uint16_t offset;
    uint8_t size;      /* 4 or 8 */
    uint64_t max;
};

#define MAX_BOUNDS 6
static struct bound bounds[TS_EV_MAX_ID + 1][MAX_BOUNDS];

/* The largest value a field of that name may hold, 0 if unchecked. */
static uint64_t field_max(const char *event, const ts_field_desc *f) {
    static const char *const ids[] = {"task", "parent", "by_task", "loop"};
    if (f->type == TS_FT_U64)
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
            if (!strcmp(f->name, ids[i]))
                return ID_MAX - 1;
    if (f->type != TS_FT_U32)
        return 0;
    if (!strcmp(f->name, "state")) /* ts_task_state; a task_done is 3..5 */
        return 5;
    if (!strcmp(f->name, "kind")) /* wait kinds, resource kinds, diag kinds */
        return 255;
    if (!strcmp(f->name, "role"))
        return 15;
    (void)event;
    return 0;
}

static void build_bounds(const ts_event_desc *d) {
    int n = 0;
    for (const ts_field_desc *f = d->fields; f->name && n < MAX_BOUNDS; f++) {
        uint64_t max = f->size ? field_max(d->name, f) : 0;
        if (max)
            bounds[d->id][n++] = (struct bound){f->offset, f->size, max};
    }
}

bool rd_record_plausible(const ts_ev_header *h) {
    if (h->type > TS_EV_MAX_ID)
        return true;
    const unsigned char *p = (const unsigned char *)h;
    for (int i = 0; i < MAX_BOUNDS && bounds[h->type][i].size; i++) {
        const struct bound *b = &bounds[h->type][i];
        uint64_t v;
        if (b->size == 8) {
            memcpy(&v, p + b->offset, 8);
        } else {
            uint32_t v32;
            memcpy(&v32, p + b->offset, 4);
            v = v32;
        }
        if (v > b->max)
            return false;
    }
    if (h->type == TS_EV_task_done) {
        uint32_t st = ((const ts_ev_task_done *)h)->state;
        return st >= 3 && st <= 5;
    }
    return true;
}

static void build(void) {
    for (size_t i = 0; i < NEVENTS; i++) {
        ts_event_desc *d = &events[i];
        ts_field_desc *f = (ts_field_desc *)d->fields;
        uint16_t off = sizeof(ts_ev_header), n = 0;
        for (; f->name; f++) {
            if (f->size == 0) { /* the tail follows the padded struct */
                f->offset = d->size;
                d->tail = f;
                continue;
            }
            f->offset = off;
            off += f->size;
            n++;
        }
        d->nfields = n;
        if (d->id <= TS_EV_MAX_ID) {
            by_id[d->id] = d;
            build_bounds(d);
        }
    }
}

const ts_event_desc *ts_event_desc_of(unsigned type) {
    pthread_once(&once, build);
    return rd_event_desc(type);
}

/* For the decoder's inner loop, which has called ts_event_desc_of once
 * (the tables are built) and should not pay for pthread_once per record. */
const ts_event_desc *rd_event_desc(unsigned type) {
    return type <= TS_EV_MAX_ID ? by_id[type] : NULL;
}

const char *ts_event_name(unsigned type) {
    const ts_event_desc *d = ts_event_desc_of(type);
    return d ? d->name : "?";
}

/* ---- formatting ------------------------------------------------------------------ */

struct out {
    char *buf;
    size_t len, used; /* used may pass len: the length wanted */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->used < o->len ? o->len - o->used : 0;
    int n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->used += (size_t)n;
}

/* A string from the segment, quoted, with anything unprintable escaped. */
static void put_quoted(struct out *o, const char *s, size_t n) {
    put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            put(o, "\\x%02x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

static void put_string_id(struct out *o, const ts_reader *rd, uint32_t id) {
    const char *s = rd && id ? ts_reader_string(rd, id) : NULL;
    if (s)
        put_quoted(o, s, strlen(s));
    else
        put(o, "#%" PRIu32, id);
}

static void put_site_id(struct out *o, const ts_reader *rd, uint32_t id) {
    const char *file = NULL, *func = NULL;
    uint32_t line = 0;
    if (!rd || !id || ts_reader_site(rd, id, &file, &func, &line) != 0) {
        put(o, "#%" PRIu32, id);
        return;
    }
    const char *base = file ? strrchr(file, '/') : NULL;
    put(o, "%s:%" PRIu32 "(%s)", base ? base + 1 : file ? file : "?", line, func ? func : "?");
}

static void put_field(struct out *o, const ts_reader *rd, const ts_field_desc *f,
                      const unsigned char *p) {
    uint64_t u = 0;
    memcpy(&u, p, f->size);
    if (f->type == TS_FT_U64 || f->type == TS_FT_I64) {
        if (f->type == TS_FT_I64)
            put(o, " %s=%" PRId64, f->name, (int64_t)u);
        else if (strstr(f->doc, "address"))
            put(o, " %s=0x%" PRIx64, f->name, u);
        else
            put(o, " %s=%" PRIu64, f->name, u);
        return;
    }
    uint32_t v = (uint32_t)u;
    put(o, " %s=", f->name);
    bool own_id = !strcmp(f->name, "id"); /* a string or site record's own id */
    if (own_id)
        put(o, "%" PRIu32, v);
    else if (!strncmp(f->doc, "string id", 9))
        put_string_id(o, rd, v);
    else if (!strncmp(f->doc, "site id", 7))
        put_site_id(o, rd, v);
    else if (!strcmp(f->name, "thread_state") && v >= 0x21 && v < 0x7f)
        put(o, "%c", (char)v);
    else if (f->type == TS_FT_I32)
        put(o, "%" PRId32, (int32_t)v);
    else
        put(o, "%" PRIu32, v);
}

uint64_t ts_event_tail_bytes(const ts_event_desc *d, const void *rec) {
    if (!d || !d->tail || !d->nfields)
        return 0;
    const ts_field_desc *last = &d->fields[d->nfields - 1];
    uint32_t n;
    memcpy(&n, (const unsigned char *)rec + last->offset, 4);
    return d->tail->type == TS_FT_BYTES ? n : (uint64_t)n * 8;
}

int ts_reader_format(const ts_reader *rd, const ts_reader_event *ev, char *buf, size_t len) {
    struct out o = {buf, len, 0};
    if (len)
        buf[0] = 0;
    const ts_event_desc *d = ts_event_desc_of(ev->type);
    if (!d || ev->size < d->size) {
        put(&o, "unknown type=%u size=%u", ev->type, ev->size);
        return (int)o.used;
    }
    const unsigned char *rec = (const unsigned char *)ev->rec;
    put(&o, "%s", d->name);
    for (const ts_field_desc *f = d->fields; f->name; f++)
        if (f->size)
            put_field(&o, rd, f, rec + f->offset);
    uint32_t room = (uint32_t)(ev->size - d->size);
    uint64_t tail = ts_event_tail_bytes(d, ev->rec);
    if (d->tail && d->tail->type == TS_FT_BYTES) {
        put(&o, " %s=", d->tail->name);
        put_quoted(&o, (const char *)rec + d->size, tail <= room ? (uint32_t)tail : 0);
    } else if (d->tail) {
        uint32_t n = tail <= room ? (uint32_t)(tail / 8) : 0;
        put(&o, " %s=", d->tail->name);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t pc;
            memcpy(&pc, rec + d->size + 8 * i, 8);
            put(&o, "%s0x%" PRIx64, i ? "," : "", pc);
        }
    }
    return (int)o.used;
}
