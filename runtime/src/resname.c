/*
 * resname.c - names for resources and futures: ts_*_set_name and the
 * ts_*_new_named constructors (sync.h, queue.h, future.h).
 *
 * A name is only for people reading a trace: the object keeps its own
 * copy (in its ts__obj header, freed with it) and the debug runtime
 * interns it and emits resource_name, so `ps`, warnings and SQL say
 * lock "cache" (cache.c:12) instead of an address.  Every object named
 * here starts with a ts__obj (its first member), which is what lets one
 * function serve them all.  Naming never suspends and never changes how
 * the object behaves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tracepoints.h"
#include "taskscope/future.h"
#include "taskscope/queue.h"
#include "taskscope/sync.h"

/* Long enough for any sensible name; a longer one is cut, not refused. */
enum { NAME_MAX_BYTES = 127 };

int ts__obj_set_name(ts__obj *o, const char *name, const char *what) {
    if (!o)
        return -EINVAL;
    int err = ts__obj_check(o, what, NULL);
    if (err)
        return err;
    char *copy = NULL;
    if (name) {
        size_t n = strnlen(name, NAME_MAX_BYTES);
        copy = malloc(n + 1);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, name, n);
        copy[n] = 0;
    }
    free(o->name);
    o->name = copy;
    TS_TRACE_RESOURCE_NAME(o, copy);
    return 0;
}

#define OBJ(p) ((p) ? (ts__obj *)(void *)(p) : NULL)

int ts_lock_set_name(ts_lock *l, const char *name) {
    return ts__obj_set_name(OBJ(l), name, "ts_lock_set_name");
}
int ts_event_set_name(ts_event *e, const char *name) {
    return ts__obj_set_name(OBJ(e), name, "ts_event_set_name");
}
int ts_condition_set_name(ts_condition *c, const char *name) {
    int err = ts__obj_set_name(OBJ(c), name, "ts_condition_set_name");
    return err ? err : ts__condition_name_lock(c, name);
}
int ts_semaphore_set_name(ts_semaphore *s, const char *name) {
    return ts__obj_set_name(OBJ(s), name, "ts_semaphore_set_name");
}
int ts_barrier_set_name(ts_barrier *b, const char *name) {
    return ts__obj_set_name(OBJ(b), name, "ts_barrier_set_name");
}
int ts_queue_set_name(ts_queue *q, const char *name) {
    return ts__obj_set_name(OBJ(q), name, "ts_queue_set_name");
}
int ts_future_set_name(ts_future *f, const char *name) {
    return ts__obj_set_name(OBJ(f), name, "ts_future_set_name");
}

/* The name of o, NULL if it has none or is not a live object. */
static const char *name_of(const void *p) {
    const ts__obj *o = p;
    return o && o->magic == TS__OBJ_LIVE ? o->name : NULL;
}
const char *ts_lock_get_name(const ts_lock *l) { return name_of(l); }
const char *ts_event_get_name(const ts_event *e) { return name_of(e); }
const char *ts_condition_get_name(const ts_condition *c) { return name_of(c); }
const char *ts_semaphore_get_name(const ts_semaphore *s) { return name_of(s); }
const char *ts_barrier_get_name(const ts_barrier *b) { return name_of(b); }
const char *ts_queue_get_name(const ts_queue *q) { return name_of(q); }
const char *ts_future_get_name(const ts_future *f) { return name_of(f); }

/* The named constructors: make it, then name it.  A name that cannot be
 * copied (no memory) fails the whole call, so a caller that asked for a
 * name never gets an object without one. */
#define NAMED(obj, setter, freer)                                           \
    do {                                                                    \
        if ((obj) && setter((obj), name) != 0) {                            \
            freer(obj);                                                     \
            errno = ENOMEM;                                                 \
            return NULL;                                                    \
        }                                                                   \
        return (obj);                                                       \
    } while (0)

ts_lock *ts_lock_new_named_at(const char *name, const ts_site *site) {
    ts_lock *l = ts_lock_new_at(site);
    NAMED(l, ts_lock_set_name, (ts_lock_free));
}
ts_event *ts_event_new_named_at(const char *name, const ts_site *site) {
    ts_event *e = ts_event_new_at(site);
    NAMED(e, ts_event_set_name, ts_event_free);
}
ts_condition *ts_condition_new_named_at(ts_lock *lock, const char *name, const ts_site *site) {
    ts_condition *c = ts_condition_new_at(lock, site);
    NAMED(c, ts_condition_set_name, (ts_condition_free));
}
ts_semaphore *ts_semaphore_new_named_at(int value, const char *name, const ts_site *site) {
    ts_semaphore *s = ts_semaphore_new_at(value, site);
    NAMED(s, ts_semaphore_set_name, (ts_semaphore_free));
}
ts_semaphore *ts_bounded_semaphore_new_named_at(int value, const char *name,
                                                const ts_site *site) {
    ts_semaphore *s = ts_bounded_semaphore_new_at(value, site);
    NAMED(s, ts_semaphore_set_name, (ts_semaphore_free));
}
ts_barrier *ts_barrier_new_named_at(int parties, const char *name, const ts_site *site) {
    ts_barrier *b = ts_barrier_new_at(parties, site);
    NAMED(b, ts_barrier_set_name, (ts_barrier_free));
}
ts_queue *ts_queue_new_named_at(size_t maxsize, const char *name, const ts_site *site) {
    ts_queue *q = ts_queue_new_at(maxsize, site);
    NAMED(q, ts_queue_set_name, (ts_queue_free));
}
ts_future *ts_future_new_named_at(const char *name, const ts_site *site) {
    ts_future *f = ts_future_new_at(site);
    NAMED(f, ts_future_set_name, ts_future_free);
}
