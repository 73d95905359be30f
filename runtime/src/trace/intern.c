/*
 * intern.c - strings and call sites, written once and referred to by id.
 *
 * One process-wide table under a mutex, fronted by a small per-thread
 * cache keyed by address, so the common case (a static task name or a
 * TS_HERE site already seen) is a load and a compare, with no lock.
 * Only addresses that always hold the same text go in the address cache;
 * everything else is looked up by content.
 *
 * The first interning of a string emits its STRING record into the
 * calling thread's ring; a state dump replays the whole table, so a
 * reader that attached after those records were overwritten still learns
 * every name.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

struct str_entry {
    char *text;
    uint32_t len;
    uint32_t id;
    uint64_t hash;
};

struct site_entry {
    const ts_site *site;
    uint32_t id, file, func, line;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct str_entry *strs;      /* open addressing, power-of-two size */
static size_t strs_cap, strs_n;
static struct site_entry *sites;    /* open addressing by address */
static size_t sites_cap, sites_n;
static uint32_t next_str = 1, next_site = 1;

#define CACHE_SIZE 256
struct cache_entry {
    const void *key;
    uint32_t id;
};
/* The caches stay global-dynamic TLS (8 KiB would not fit the static TLS
 * surplus a dlopen()ed library may use); the thread's ring keeps their
 * address, so a lookup pays __tls_get_addr once per thread, not per
 * event. */
struct intern_cache {
    struct cache_entry str[CACHE_SIZE];
    struct cache_entry site[CACHE_SIZE];
};
static __thread struct intern_cache caches;

static inline struct intern_cache *cache_of(ts__ring *r) {
    if (__builtin_expect(r && r->intern_cache, 1))
        return r->intern_cache;
    if (r)
        r->intern_cache = &caches;
    return &caches;
}

static inline size_t slot_of(const void *p) {
    uintptr_t v = (uintptr_t)p;
    return (size_t)((v >> 3) ^ (v >> 11)) & (CACHE_SIZE - 1);
}

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void emit_string(ts__ring *r, uint32_t id, const char *s, uint32_t len) {
    if (!r)
        return;
    uint32_t size = (uint32_t)((sizeof(ts_ev_string) + len + 7) & ~7u);
    ts_ev_string *e = ts__ring_reserve(r, TS_EV_string, size);
    if (!e)
        return;
    e->id = id;
    e->len = len;
    memcpy((char *)(e + 1), s, len);
    memset((char *)(e + 1) + len, 0, size - sizeof *e - len);
    ts__ring_commit(r, size);
}

static int grow_strs(void) {
    size_t cap = strs_cap ? strs_cap * 2 : 1024;
    struct str_entry *n = calloc(cap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < strs_cap; i++) {
        if (!strs[i].text)
            continue;
        size_t j = strs[i].hash & (cap - 1);
        while (n[j].text)
            j = (j + 1) & (cap - 1);
        n[j] = strs[i];
    }
    free(strs);
    strs = n;
    strs_cap = cap;
    return 0;
}

/* After fork() the child traces into a segment of its own, which holds
 * none of the STRING/SITE records the parent wrote: start the tables
 * afresh (and the caches of the forking thread, the only thread the child
 * has), or the child's events would use ids its segment never defines.
 * Another parent thread may have held the lock at the fork: re-init it. */
static void forget_after_fork(void) {
    pthread_mutex_init(&lock, NULL);
    for (size_t i = 0; i < strs_cap; i++)
        free(strs[i].text);
    free(strs);
    free(sites);
    strs = NULL;
    sites = NULL;
    strs_cap = strs_n = sites_cap = sites_n = 0;
    next_str = next_site = 1;
    memset(&caches, 0, sizeof caches);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_after_fork); }

/* Look s up by content; add it (and emit it) if new.  Called locked. */
static uint32_t intern_locked(ts__ring *r, const char *s) {
    pthread_once(&atfork_once, register_atfork);
    size_t len = strnlen(s, TS_PAGE_SIZE - sizeof(ts_ev_string) - 8);
    uint64_t h = fnv1a(s, len);
    if ((strs_n + 1) * 2 > strs_cap && grow_strs() != 0)
        return 0;
    size_t j = h & (strs_cap - 1);
    while (strs[j].text) {
        if (strs[j].hash == h && strs[j].len == len && !memcmp(strs[j].text, s, len))
            return strs[j].id;
        j = (j + 1) & (strs_cap - 1);
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, s, len);
    copy[len] = 0;
    strs[j] = (struct str_entry){copy, (uint32_t)len, next_str++, h};
    strs_n++;
    emit_string(r, strs[j].id, copy, (uint32_t)len);
    return strs[j].id;
}

uint32_t ts__intern_dynamic(ts__ring *r, const char *s) {
    if (!s)
        return 0;
    pthread_mutex_lock(&lock);
    uint32_t id = intern_locked(r, s);
    pthread_mutex_unlock(&lock);
    return id;
}

uint32_t ts__intern_static(ts__ring *r, const char *s) {
    if (!s)
        return 0;
    struct cache_entry *c = &cache_of(r)->str[slot_of(s)];
    if (c->key == s)
        return c->id;
    uint32_t id = ts__intern_dynamic(r, s);
    if (id) {
        c->key = s;
        c->id = id;
    }
    return id;
}

static int grow_sites(void) {
    size_t cap = sites_cap ? sites_cap * 2 : 512;
    struct site_entry *n = calloc(cap, sizeof *n);
    if (!n)
        return -1;
    for (size_t i = 0; i < sites_cap; i++) {
        if (!sites[i].site)
            continue;
        size_t j = slot_of(sites[i].site) * 31 & (cap - 1);
        while (n[j].site)
            j = (j + 1) & (cap - 1);
        n[j] = sites[i];
    }
    free(sites);
    sites = n;
    sites_cap = cap;
    return 0;
}

static void emit_site(ts__ring *r, const struct site_entry *s) {
    if (!r)
        return;
    ts_ev_site *e = ts__ring_reserve(r, TS_EV_site, sizeof *e);
    if (!e)
        return;
    e->id = s->id;
    e->file = s->file;
    e->func = s->func;
    e->line = s->line;
    ts__ring_commit(r, sizeof *e);
}

uint32_t ts__intern_site(ts__ring *r, const ts_site *site) {
    if (!site)
        return 0;
    struct cache_entry *c = &cache_of(r)->site[slot_of(site)];
    if (c->key == site)
        return c->id;
    pthread_mutex_lock(&lock);
    uint32_t id = 0;
    if ((sites_n + 1) * 2 > sites_cap && grow_sites() != 0)
        goto out;
    size_t j = slot_of(site) * 31 & (sites_cap - 1);
    while (sites[j].site && sites[j].site != site)
        j = (j + 1) & (sites_cap - 1);
    if (!sites[j].site) {
        struct site_entry e = {
            .site = site,
            .file = site->file ? intern_locked(r, site->file) : 0,
            .func = site->func ? intern_locked(r, site->func) : 0,
            .line = (uint32_t)site->line,
            .id = next_site++,
        };
        sites[j] = e;
        sites_n++;
        emit_site(r, &sites[j]);
    }
    id = sites[j].id;
out:
    pthread_mutex_unlock(&lock);
    if (id) {
        c->key = site;
        c->id = id;
    }
    return id;
}

void ts__intern_replay(ts__ring *r) {
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < strs_cap; i++)
        if (strs[i].text)
            emit_string(r, strs[i].id, strs[i].text, strs[i].len);
    for (size_t i = 0; i < sites_cap; i++)
        if (sites[i].site)
            emit_site(r, &sites[i]);
    pthread_mutex_unlock(&lock);
}

/* ---- for the watchdog: names readable without the loop's help ------------------------
 *
 * A loop publishes its ring in batches, so while it is blocked the
 * STRING and SITE records it wrote for the running task (at its spawn,
 * often in the same batch as the blocking step) may sit unpublished in
 * its ring.  The watchdog writes them again, from the table, into its
 * own ring just before its loop_blocked, so a reader can name the task
 * and its spawn site while the loop is still blocked.  A linear scan of
 * the table: this runs once per blocked episode, never per event. */

static void emit_str_by_id(ts__ring *r, uint32_t id) {
    if (!id)
        return;
    for (size_t i = 0; i < strs_cap; i++)
        if (strs[i].text && strs[i].id == id) {
            emit_string(r, id, strs[i].text, strs[i].len);
            return;
        }
}

void ts__intern_emit_again(ts__ring *r, uint32_t str, uint32_t site) {
    pthread_mutex_lock(&lock);
    emit_str_by_id(r, str);
    for (size_t i = 0; site && i < sites_cap; i++)
        if (sites[i].site && sites[i].id == site) {
            emit_str_by_id(r, sites[i].file);
            if (sites[i].func != sites[i].file)
                emit_str_by_id(r, sites[i].func);
            emit_site(r, &sites[i]);
            break;
        }
    pthread_mutex_unlock(&lock);
}

/* ---- for the crash handler (crash.c) -------------------------------------------------
 *
 * A signal handler may neither wait for the lock (the crashed thread may
 * hold it) nor allocate.  It freezes the tables only if nobody holds
 * them, then looks ids up and replays the tables without inserting or
 * locking. */

bool ts__intern_try_freeze(void) { return pthread_mutex_trylock(&lock) == 0; }

void ts__intern_thaw(void) { pthread_mutex_unlock(&lock); }

uint32_t ts__intern_peek(const char *s) {
    if (!s || !strs_cap)
        return 0;
    size_t len = strnlen(s, TS_PAGE_SIZE - sizeof(ts_ev_string) - 8);
    uint64_t h = fnv1a(s, len);
    for (size_t j = h & (strs_cap - 1), n = 0; strs[j].text && n < strs_cap;
         j = (j + 1) & (strs_cap - 1), n++)
        if (strs[j].hash == h && strs[j].len == len && !memcmp(strs[j].text, s, len))
            return strs[j].id;
    return 0;
}

uint32_t ts__intern_peek_site(const ts_site *site) {
    if (!site || !sites_cap)
        return 0;
    for (size_t j = slot_of(site) * 31 & (sites_cap - 1), n = 0; sites[j].site && n < sites_cap;
         j = (j + 1) & (sites_cap - 1), n++)
        if (sites[j].site == site)
            return sites[j].id;
    return 0;
}

void ts__intern_replay_frozen(ts__ring *r) {
    for (size_t i = 0; i < strs_cap; i++)
        if (strs[i].text)
            emit_string(r, strs[i].id, strs[i].text, strs[i].len);
    for (size_t i = 0; i < sites_cap; i++)
        if (sites[i].site)
            emit_site(r, &sites[i]);
}
