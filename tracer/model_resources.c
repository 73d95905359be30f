/*
 * model_resources.c - the model's resources (model.h): locks, events,
 * conditions, semaphores, barriers, queues and pending futures, with
 * their names, creation sites, creators, holders and signallers, and how
 * each reads in a report (tm_resource_text).
 *
 * Invariants:
 *   - A resource is found by id through res_ids; resources stay (marked
 *     freed) so a recording can still name them, but a future leaves the
 *     table when it completes: futures are many and short-lived, and only
 *     a pending one can be awaited.
 *   - creator and signaller are hints, not facts the runtime promises:
 *     the task that was running on the creating thread, the last task
 *     that set, notified, put into or released the object.  The analysis
 *     (model_analyze.c) says "inferred" whenever it leans on them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

static tm_resource *res_get(tm_model *m, uint64_t id) {
    tm_resource *r = tm_model_resource(m, id);
    if (r || !id)
        return r;
    if (m->nres == m->res_cap) {
        size_t cap = m->res_cap ? m->res_cap * 2 : 64;
        tm_resource *v = realloc(m->res, cap * sizeof *v);
        if (!v)
            return NULL;
        m->res = v;
        m->res_cap = cap;
    }
    if (tm_idmap_put(&m->res_ids, id, (uint32_t)m->nres) != 0)
        return NULL;
    r = &m->res[m->nres++];
    memset(r, 0, sizeof *r);
    r->id = id;
    return r;
}

/* Take r out of the table: the last entry moves into its slot. */
static void res_drop(tm_model *m, tm_resource *r) {
    size_t i = (size_t)(r - m->res), last = m->nres - 1;
    tm_idmap_del(&m->res_ids, r->id);
    if (i != last) {
        m->res[i] = m->res[last];
        tm_idmap_put(&m->res_ids, m->res[i].id, (uint32_t)i);
    }
    m->nres--;
}

/* The task running on thread tid now (the one that made what that
 * thread's event describes), 0 if none is known. */
static uint64_t running_on(const tm_model *m, uint32_t tid) {
    for (size_t i = 0; i < m->nloops; i++)
        if (m->loops[i].tid == tid && !m->loops[i].closed)
            return m->loops[i].running_task;
    return 0;
}

static void created(tm_model *m, uint64_t id, uint32_t kind, uint32_t capacity, uint32_t site,
                    uint64_t ns, uint32_t tid) {
    tm_resource *r = res_get(m, id);
    if (!r)
        return;
    /* A state dump repeats a live resource: keep what only history
     * tells (name, creator, signallers); holder, held and depth it sends
     * again. */
    tm_resource old = *r;
    int repeat = r->kind == kind && !r->freed;
    memset(r, 0, sizeof *r);
    r->id = id;
    r->kind = kind;
    r->capacity = capacity;
    r->site = site;
    if (repeat) {
        r->name = old.name;
        r->creator = old.creator;
        r->created_ns = old.created_ns;
        r->signaller = old.signaller;
        r->other_signallers = old.other_signallers;
    } else {
        r->creator = running_on(m, tid);
        r->created_ns = ns;
    }
}

static void signalled(tm_resource *r, uint64_t task) {
    if (!task)
        return;
    if (r->signaller && r->signaller != task)
        r->other_signallers = 1;
    r->signaller = task;
}

void tm__apply_resource(tm_model *m, const ts_ev_header *h, uint64_t ns, uint32_t tid) {
    switch (h->type) {
    case TS_EV_resource_create: {
        const ts_ev_resource_create *e = (const void *)h;
        created(m, e->resource, e->kind, e->capacity, e->site, ns, tid);
        break;
    }
    case TS_EV_future_create: {
        const ts_ev_future_create *e = (const void *)h;
        created(m, e->future, TM_RES_FUTURE, 0, e->site, ns, tid);
        break;
    }
    case TS_EV_future_done: {
        tm_resource *r = tm_model_resource(m, ((const ts_ev_future_done *)h)->future);
        if (r && r->kind == TM_RES_FUTURE)
            res_drop(m, r);
        break;
    }
    case TS_EV_resource_name: {
        const ts_ev_resource_name *e = (const void *)h;
        tm_resource *r = res_get(m, e->resource);
        if (r)
            r->name = e->name;
        break;
    }
    case TS_EV_resource_free: {
        tm_resource *r = tm_model_resource(m, ((const ts_ev_resource_free *)h)->resource);
        if (r)
            r->freed = 1;
        break;
    }
    case TS_EV_resource_acquired: {
        const ts_ev_resource_acquired *e = (const void *)h;
        tm_resource *r = res_get(m, e->resource);
        if (r) {
            r->holder = e->task;
            r->held++;
        }
        break;
    }
    case TS_EV_resource_release: {
        const ts_ev_resource_release *e = (const void *)h;
        tm_resource *r = res_get(m, e->resource);
        if (!r)
            break;
        signalled(r, e->task);
        if (r->held) {
            r->held--;
            if (!r->held)
                r->holder = 0;
        }
        break;
    }
    case TS_EV_queue_depth: {
        const ts_ev_queue_depth *e = (const void *)h;
        tm_resource *r = res_get(m, e->resource);
        if (r)
            r->depth = e->depth;
        break;
    }
    default: break;
    }
}

int tm_wait_kind_is_resource(uint32_t k) { return k == 2 || (k >= 5 && k <= 12); }

const char *tm_resource_text(const tm_model *m, uint32_t wait_kind, uint64_t id, char *buf,
                             size_t len) {
    const tm_resource *r = tm_model_resource(m, id);
    /* the wait says more than the object: queue_get, queue_put, queue_join */
    const char *kind = tm_wait_kind_is_resource(wait_kind) ? tm_wait_kind_name(wait_kind)
                       : r && r->kind ? tm_resource_kind_name(r->kind) : "resource";
    const char *name = r ? tm_model_string(m, r->name) : "";
    const tm_site *s = r ? tm_model_site(m, r->site) : NULL;
    char site[128] = "";
    if (s) {
        const char *file = tm_model_string(m, s->file);
        const char *slash = strrchr(file, '/');
        snprintf(site, sizeof site, "%s:%u", slash ? slash + 1 : file, s->line);
    }
    /* A condition's own lock is named after it by the runtime
     * (condition "x" lock): that name says what it is, quotes and all. */
    size_t nl = strlen(name);
    if (!strcmp(kind, "lock") && !strncmp(name, "condition \"", 11) && nl > 17 &&
        !strcmp(name + nl - 6, "\" lock")) {
        if (*site)
            snprintf(buf, len, "%s (%s)", name, site);
        else
            snprintf(buf, len, "%s (%#" PRIx64 ")", name, id);
    } else if (*name && *site)
        snprintf(buf, len, "%s \"%s\" (%s)", kind, name, site);
    else if (*name)
        snprintf(buf, len, "%s \"%s\" (%#" PRIx64 ")", kind, name, id);
    else if (*site)
        snprintf(buf, len, "%s %#" PRIx64 " (%s)", kind, id, site);
    else
        snprintf(buf, len, "%s %#" PRIx64, kind, id);
    return buf;
}
