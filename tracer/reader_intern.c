/*
 * reader_intern.c - the strings and sites a reader has learnt from
 * STRING and SITE records, by id.
 *
 * Ids are unique in the traced process, and a state dump replays the
 * whole table, so the same id arrives many times with the same content.
 * The first definition wins: a pointer handed out stays valid until the
 * reader is closed, and a hostile segment cannot make us free one.  The
 * tables are bounded (entries and bytes); beyond that, entries are
 * ignored and counted, so a hostile segment cannot exhaust memory.
 */
#include <stdlib.h>
#include <string.h>

#include "reader_impl.h"

static size_t hash_id(uint32_t id) {
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32);
}

static bool grow_strs(struct rd_intern *t) {
    size_t cap = t->strs_cap ? t->strs_cap * 2 : 256;
    struct rd_string *n = calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < t->strs_cap; i++) {
        if (!t->strs[i].id)
            continue;
        size_t j = hash_id(t->strs[i].id) & (cap - 1);
        while (n[j].id)
            j = (j + 1) & (cap - 1);
        n[j] = t->strs[i];
    }
    free(t->strs);
    t->strs = n;
    t->strs_cap = cap;
    return true;
}

bool rd_intern_string(struct rd_intern *t, uint32_t id, const char *text, uint32_t len) {
    if (!id)
        return true;
    if (rd_find_string(t, id))
        return true;
    if (t->strs_n >= RD_INTERN_MAX_ENTRIES || t->bytes + len + 1 > RD_INTERN_MAX_BYTES)
        return false;
    if ((t->strs_n + 1) * 2 > t->strs_cap && !grow_strs(t))
        return false;
    char *copy = malloc((size_t)len + 1);
    if (!copy)
        return false;
    memcpy(copy, text, len);
    copy[len] = 0;
    size_t j = hash_id(id) & (t->strs_cap - 1);
    while (t->strs[j].id)
        j = (j + 1) & (t->strs_cap - 1);
    t->strs[j] = (struct rd_string){id, len, copy};
    t->strs_n++;
    t->bytes += (size_t)len + 1;
    return true;
}

const struct rd_string *rd_find_string(const struct rd_intern *t, uint32_t id) {
    if (!id || !t->strs_cap)
        return NULL;
    size_t j = hash_id(id) & (t->strs_cap - 1);
    while (t->strs[j].id) {
        if (t->strs[j].id == id)
            return &t->strs[j];
        j = (j + 1) & (t->strs_cap - 1);
    }
    return NULL;
}

static bool grow_sites(struct rd_intern *t) {
    size_t cap = t->sites_cap ? t->sites_cap * 2 : 256;
    struct rd_site *n = calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (size_t i = 0; i < t->sites_cap; i++) {
        if (!t->sites[i].id)
            continue;
        size_t j = hash_id(t->sites[i].id) & (cap - 1);
        while (n[j].id)
            j = (j + 1) & (cap - 1);
        n[j] = t->sites[i];
    }
    free(t->sites);
    t->sites = n;
    t->sites_cap = cap;
    return true;
}

bool rd_intern_site(struct rd_intern *t, uint32_t id, uint32_t file, uint32_t func,
                    uint32_t line) {
    if (!id)
        return true;
    if (rd_find_site(t, id))
        return true;
    if (t->sites_n >= RD_INTERN_MAX_ENTRIES)
        return false;
    if ((t->sites_n + 1) * 2 > t->sites_cap && !grow_sites(t))
        return false;
    size_t j = hash_id(id) & (t->sites_cap - 1);
    while (t->sites[j].id)
        j = (j + 1) & (t->sites_cap - 1);
    t->sites[j] = (struct rd_site){id, file, func, line};
    t->sites_n++;
    return true;
}

const struct rd_site *rd_find_site(const struct rd_intern *t, uint32_t id) {
    if (!id || !t->sites_cap)
        return NULL;
    size_t j = hash_id(id) & (t->sites_cap - 1);
    while (t->sites[j].id) {
        if (t->sites[j].id == id)
            return &t->sites[j];
        j = (j + 1) & (t->sites_cap - 1);
    }
    return NULL;
}

void rd_intern_free(struct rd_intern *t) {
    for (size_t i = 0; i < t->strs_cap; i++)
        free(t->strs[i].text);
    free(t->strs);
    free(t->sites);
    *t = (struct rd_intern){0};
}
