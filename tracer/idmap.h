/*
 * idmap.h - a map from 64-bit ids (never 0) to array indexes: open
 * addressing with linear probing and backward-shift deletion, so lookups
 * stay short however many tasks come and go.
 */
#ifndef TS_TRACER_IDMAP_H
#define TS_TRACER_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tm_idmap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;     /* cap is a power of two, or 0 */
} tm_idmap;

int tm_idmap_put(tm_idmap *m, uint64_t key, uint32_t val);   /* 0 or -ENOMEM */
int tm_idmap_get(const tm_idmap *m, uint64_t key, uint32_t *val); /* 1 found */
void tm_idmap_del(tm_idmap *m, uint64_t key);
void tm_idmap_free(tm_idmap *m);

#endif
