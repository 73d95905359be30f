/*
 * idmap.c - see idmap.h.  Load factor kept at or below 1/2.
 */
#include <errno.h>
#include <stdlib.h>

#include "idmap.h"

static inline size_t hash(uint64_t k, size_t mask) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

static int grow(tm_idmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = hash(m->keys[i], cap - 1);
        while (keys[j])
            j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int tm_idmap_put(tm_idmap *m, uint64_t key, uint32_t val) {
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
        return -ENOMEM;
    size_t mask = m->cap - 1, j = hash(key, mask);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & mask;
    if (!m->keys[j])
        m->n++;
    m->keys[j] = key;
    m->vals[j] = val;
    return 0;
}

int tm_idmap_get(const tm_idmap *m, uint64_t key, uint32_t *val) {
    if (!m->cap || !key)
        return 0;
    size_t mask = m->cap - 1, j = hash(key, mask);
    while (m->keys[j]) {
        if (m->keys[j] == key) {
            *val = m->vals[j];
            return 1;
        }
        j = (j + 1) & mask;
    }
    return 0;
}

void tm_idmap_del(tm_idmap *m, uint64_t key) {
    if (!m->cap || !key)
        return;
    size_t mask = m->cap - 1, j = hash(key, mask);
    while (m->keys[j] && m->keys[j] != key)
        j = (j + 1) & mask;
    if (!m->keys[j])
        return;
    /* Backward-shift: pull later members of the probe run into the hole
     * so that no lookup ever stops early at it. */
    size_t hole = j;
    for (size_t k = (j + 1) & mask; m->keys[k]; k = (k + 1) & mask) {
        size_t home = hash(m->keys[k], mask);
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            m->keys[hole] = m->keys[k];
            m->vals[hole] = m->vals[k];
            hole = k;
        }
    }
    m->keys[hole] = 0;
    m->n--;
}

void tm_idmap_free(tm_idmap *m) {
    free(m->keys);
    free(m->vals);
    *m = (tm_idmap){0};
}
