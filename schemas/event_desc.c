/*
 * event_desc.c - descriptors generated from events.def.  Field offsets
 * follow from the layout rule there: records are packed, fields in
 * declaration order right after the 16-byte header.
 */
#include <string.h>

#include "event_desc.h"

#define SZ_u64 8
#define SZ_i64 8
#define SZ_u32 4
#define SZ_i32 4
#define FT_u64 TS_F_U64
#define FT_i64 TS_F_I64
#define FT_u32 TS_F_U32
#define FT_i32 TS_F_I32
#define FT_bytes TS_F_BYTES

static ts_event_desc descs[] = {
#define TS_EVENT(name_, id_, doc_, FIELDS_)                                  \
    {.name = #name_, .doc = doc_, .id = id_, .fixed_size = sizeof(ts_ev_##name_), \
     .fields = {FIELDS_}},
#define TS_FIELD(T_, N_, D_) {.name = #N_, .doc = D_, .type = FT_##T_},
#define TS_TAIL(type, fname, fdoc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
};

/* Tails, in a second pass (a designated initializer cannot mix them into
 * the fields list above). */
static const struct {
    unsigned id;
    ts_field_desc tail;
} tails[] = {
#define TS_EVENT(name_, id_, doc_, fields) fields
#define TS_FIELD(type, fname, fdoc)
#define TS_TAIL(T_, N_, D_) {0, {.name = #N_, .doc = D_, .type = FT_##T_}},
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
};

static int ready;

static void init(void) {
    size_t n = sizeof descs / sizeof descs[0];
    size_t tail = 0;
    for (size_t i = 0; i < n; i++) {
        ts_event_desc *d = &descs[i];
        uint16_t off = sizeof(ts_ev_header);
        d->nfields = 0;
        while (d->nfields < 12 && d->fields[d->nfields].name) {
            ts_field_desc *f = &d->fields[d->nfields++];
            f->offset = off;
            off += (f->type == TS_F_U64 || f->type == TS_F_I64) ? 8 : 4;
        }
        /* An event has a tail exactly when its struct ends before the
         * record does: events.def lists tails only for string and stack. */
        if (d->id == TS_EV_string || d->id == TS_EV_stack) {
            d->has_tail = 1;
            d->tail = tails[tail++].tail;
            d->tail.offset = d->fixed_size;
        }
    }
    ready = 1;
}

const ts_event_desc *ts_event_descs(size_t *count) {
    if (!ready)
        init();
    *count = sizeof descs / sizeof descs[0];
    return descs;
}

const ts_event_desc *ts_event_desc_of(unsigned id) {
    size_t n;
    const ts_event_desc *d = ts_event_descs(&n);
    for (size_t i = 0; i < n; i++)
        if (d[i].id == id)
            return &d[i];
    return NULL;
}

int64_t ts_field_get(const void *rec, const ts_field_desc *f) {
    const char *p = (const char *)rec + f->offset;
    switch (f->type) {
    case TS_F_U64: { uint64_t v; memcpy(&v, p, 8); return (int64_t)v; }
    case TS_F_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case TS_F_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case TS_F_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    default: return 0;
    }
}
