/*
 * event_desc.h - events.def as data: every event's name, id, fields
 * (name, type, offset in the record) and tail, for code that handles
 * events generically (the SQLite store, the JSON dump, the docs).
 */
#ifndef TS_EVENT_DESC_H
#define TS_EVENT_DESC_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

typedef enum ts_ftype { TS_F_U64, TS_F_I64, TS_F_U32, TS_F_I32, TS_F_BYTES } ts_ftype;

typedef struct ts_field_desc {
    const char *name;
    const char *doc;
    ts_ftype type;
    uint16_t offset;      /* from the start of the record */
} ts_field_desc;

typedef struct ts_event_desc {
    const char *name;
    const char *doc;
    uint16_t id;
    uint16_t fixed_size;  /* sizeof the record struct */
    uint8_t nfields;      /* fixed fields */
    int has_tail;
    ts_field_desc fields[12];
    ts_field_desc tail;   /* TS_F_BYTES (text) or TS_F_U64 (array) */
} ts_event_desc;

/* The descriptor of event type id, or NULL if unknown. */
const ts_event_desc *ts_event_desc_of(unsigned id);
/* All descriptors, in events.def order. */
const ts_event_desc *ts_event_descs(size_t *count);
/* Read a fixed field of a record as a 64-bit integer. */
int64_t ts_field_get(const void *record, const ts_field_desc *f);

#endif
