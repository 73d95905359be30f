/*
 * recent.c - see recent.h.
 *
 * Invariants: slots[] maps a task id to its ring in rings[] (open
 * addressing, linear probing, at most half full, id 0 = empty slot);
 * every ring is referenced by exactly one slot.  Nothing is ever deleted
 * from the table in place: prune rebuilds both arrays, so no tombstones.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recent.h"
#include "report.h"
#include "zpack.h"

struct ring {
    uint64_t task;
    uint32_t head, n;        /* next write position, entries held */
    tui_event ev[TUI_RECENT_PER_TASK];
};

struct slot {
    uint64_t task;
    uint32_t ring;
};

struct tui_recent {
    struct slot *slots;
    size_t cap;              /* power of two */
    struct ring *rings;
    size_t nrings, rings_cap;
};

static size_t hash(uint64_t id) {
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id;
}

tui_recent *tui_recent_new(void) { return calloc(1, sizeof(tui_recent)); }

void tui_recent_free(tui_recent *r) {
    if (!r)
        return;
    free(r->slots);
    free(r->rings);
    free(r);
}

void tui_recent_clear(tui_recent *r) {
    if (r->slots)
        memset(r->slots, 0, r->cap * sizeof *r->slots);
    r->nrings = 0;
}

size_t tui_recent_tasks(const tui_recent *r) { return r->nrings; }

static struct slot *find(const tui_recent *r, uint64_t task) {
    if (!r->cap)
        return NULL;
    for (size_t i = hash(task) & (r->cap - 1);; i = (i + 1) & (r->cap - 1)) {
        if (r->slots[i].task == task || !r->slots[i].task)
            return &r->slots[i];
    }
}

static int rehash(tui_recent *r, size_t cap) {
    struct slot *s = calloc(cap, sizeof *s);
    if (!s)
        return -1;
    free(r->slots);
    r->slots = s;
    r->cap = cap;
    for (size_t k = 0; k < r->nrings; k++) {
        struct slot *sl = find(r, r->rings[k].task);
        sl->task = r->rings[k].task;
        sl->ring = (uint32_t)k;
    }
    return 0;
}

static struct ring *ring_of(tui_recent *r, uint64_t task) {
    if ((r->nrings + 1) * 2 > r->cap && rehash(r, r->cap ? r->cap * 2 : 1024) != 0)
        return NULL;
    struct slot *sl = find(r, task);
    if (sl->task)
        return &r->rings[sl->ring];
    if (r->nrings == r->rings_cap) {
        size_t c = r->rings_cap ? r->rings_cap * 2 : 256;
        struct ring *p = realloc(r->rings, c * sizeof *p);
        if (!p)
            return NULL;
        r->rings = p;
        r->rings_cap = c;
    }
    struct ring *g = &r->rings[r->nrings];
    memset(g, 0, sizeof *g);
    g->task = task;
    sl->task = task;
    sl->ring = (uint32_t)r->nrings++;
    return g;
}

static void remember(tui_recent *r, uint64_t task, uint16_t type, uint64_t ns, uint64_t obj,
                     uint32_t x, uint32_t y) {
    if (!task)
        return;
    struct ring *g = ring_of(r, task);
    if (!g)
        return;
    g->ev[g->head] = (tui_event){ns, obj, type, x, y};
    g->head = (g->head + 1) % TUI_RECENT_PER_TASK;
    if (g->n < TUI_RECENT_PER_TASK)
        g->n++;
}

/* Which fields of each record are kept: the task it concerns, then obj,
 * x and y as tui_recent_format reads them. */
void tui_recent_note(tui_recent *r, const ts_ev_header *h, uint64_t ns) {
    const void *p = h;
    uint16_t t = h->type;
    switch (t) {
    case TS_EV_task_create: {
        const ts_ev_task_create *e = p;
        remember(r, e->task, t, ns, e->parent, e->site, 0);
        break;
    }
    case TS_EV_task_resume: {
        const ts_ev_task_resume *e = p;
        remember(r, e->task, t, ns, 0, 0, 0);
        break;
    }
    case TS_EV_task_suspend: {
        const ts_ev_task_suspend *e = p;
        remember(r, e->task, t, ns, e->object, e->kind, e->site);
        break;
    }
    case TS_EV_task_wake: {
        const ts_ev_task_wake *e = p;
        remember(r, e->task, t, ns, e->by_task, (uint32_t)e->status, 0);
        break;
    }
    case TS_EV_task_cancel: {
        const ts_ev_task_cancel *e = p;
        remember(r, e->task, t, ns, e->by_task, e->requests, e->message);
        break;
    }
    case TS_EV_task_done: {
        const ts_ev_task_done *e = p;
        remember(r, e->task, t, ns, (uint64_t)(int64_t)e->err, e->state, e->message);
        break;
    }
    case TS_EV_task_free: {
        const ts_ev_task_free *e = p;
        remember(r, e->task, t, ns, 0, 0, 0);
        break;
    }
    case TS_EV_task_state: {
        const ts_ev_task_state *e = p;
        remember(r, e->task, t, ns, e->object, e->state, e->kind);
        break;
    }
    case TS_EV_resource_acquired: {
        const ts_ev_resource_acquired *e = p;
        remember(r, e->task, t, ns, e->resource, 0, 0);
        break;
    }
    case TS_EV_resource_release: {
        const ts_ev_resource_release *e = p;
        remember(r, e->task, t, ns, e->resource, 0, 0);
        break;
    }
    case TS_EV_slow_step: {
        const ts_ev_slow_step *e = p;
        remember(r, e->task, t, ns, e->duration_ns, 0, 0);
        break;
    }
    case TS_EV_loop_blocked: {
        const ts_ev_loop_blocked *e = p;
        remember(r, e->task, t, ns, e->elapsed_ns, (uint32_t)e->syscall, 0);
        break;
    }
    case TS_EV_loop_unblocked: {
        const ts_ev_loop_unblocked *e = p;
        remember(r, e->task, t, ns, e->duration_ns, 0, 0);
        break;
    }
    case TS_EV_diagnostic: {
        const ts_ev_diagnostic *e = p;
        remember(r, e->task, t, ns, (uint64_t)(int64_t)e->err, e->kind, e->message);
        break;
    }
    case TS_EV_job_submit: {
        const ts_ev_job_submit *e = p;
        remember(r, e->task, t, ns, e->job, 0, 0);
        break;
    }
    default: break;
    }
}

size_t tui_recent_get(const tui_recent *r, uint64_t task, tui_event *out, size_t cap) {
    struct slot *sl = find(r, task);
    if (!sl || !sl->task)
        return 0;
    const struct ring *g = &r->rings[sl->ring];
    size_t n = g->n < cap ? g->n : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = g->ev[(g->head + TUI_RECENT_PER_TASK - 1 - i) % TUI_RECENT_PER_TASK];
    /* newest first by time; insertion sort keeps arrival order for ties */
    for (size_t i = 1; i < n; i++) {
        tui_event e = out[i];
        size_t j = i;
        while (j > 0 && out[j - 1].ns < e.ns) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = e;
    }
    return n;
}

void tui_recent_note_resource(tui_recent *r, const ts_ev_header *h, uint64_t ns) {
    const void *p = h;
    uint16_t t = h->type;
    switch (t) {
    case TS_EV_resource_create: {
        const ts_ev_resource_create *e = p;
        remember(r, e->resource, t, ns, 0, e->kind, e->capacity);
        break;
    }
    case TS_EV_resource_free: {
        const ts_ev_resource_free *e = p;
        remember(r, e->resource, t, ns, 0, 0, 0);
        break;
    }
    case TS_EV_resource_acquired: {
        const ts_ev_resource_acquired *e = p;
        remember(r, e->resource, t, ns, e->task, 0, 0);
        break;
    }
    case TS_EV_resource_release: {
        const ts_ev_resource_release *e = p;
        remember(r, e->resource, t, ns, e->task, 0, 0);
        break;
    }
    case TS_EV_task_suspend: {
        const ts_ev_task_suspend *e = p;
        if (e->kind >= 5 && e->kind <= 12)
            remember(r, e->object, t, ns, e->task, e->kind, e->site);
        break;
    }
    default: break;
    }
}

tui_recent *tui_recent_clone(const tui_recent *r) {
    tui_recent *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    *c = *r;
    c->slots = r->cap ? malloc(r->cap * sizeof *c->slots) : NULL;
    c->rings = r->rings_cap ? malloc(r->rings_cap * sizeof *c->rings) : NULL;
    if ((r->cap && !c->slots) || (r->rings_cap && !c->rings)) {
        tui_recent_free(c);
        return NULL;
    }
    if (r->cap)
        memcpy(c->slots, r->slots, r->cap * sizeof *c->slots);
    if (r->nrings)
        memcpy(c->rings, r->rings, r->nrings * sizeof *c->rings);
    return c;
}

/* ---- snapshots (replay checkpoints) -------------------------------------- */

/* A ring kept by snapshots: packed (zpack.h: unused slots and fields are
 * zeros) and counted by the snapshots using it. */
struct shared_ring {
    size_t refs;
    size_t nwords;
    uint64_t w[];
};

#define RING_WORDS TS_ZPACK_MAX_WORDS(sizeof(struct ring))

static size_t shared_size(size_t nwords) {
    return sizeof(struct shared_ring) + nwords * sizeof(uint64_t);
}

/* The rings in the live table's order; the slots are rebuilt on restore
 * (cheaper than keeping a half-empty table per checkpoint). */
struct tui_recent_snap {
    struct shared_ring **rings;
    size_t nrings;
};

/* The ring as it packs: its events field by field into a zeroed copy,
 * so padding never tells equal rings apart. */
static size_t pack_ring(const struct ring *g, uint64_t *out) {
    struct ring c;
    memset(&c, 0, sizeof c);
    c.task = g->task;
    c.head = g->head;
    c.n = g->n;
    for (size_t i = 0; i < TUI_RECENT_PER_TASK; i++) {
        c.ev[i].ns = g->ev[i].ns;
        c.ev[i].obj = g->ev[i].obj;
        c.ev[i].type = g->ev[i].type;
        c.ev[i].x = g->ev[i].x;
        c.ev[i].y = g->ev[i].y;
    }
    return ts_zpack(&c, sizeof c, out);
}

tui_recent_snap *tui_recent_snapshot(const tui_recent *r, const tui_recent_snap *prev,
                                     size_t *own, size_t *shared) {
    tui_recent_snap *sn = calloc(1, sizeof *sn);
    if (!sn)
        return NULL;
    sn->rings = calloc(r->nrings ? r->nrings : 1, sizeof *sn->rings);
    if (!sn->rings) {
        free(sn);
        return NULL;
    }
    sn->nrings = r->nrings;
    uint64_t buf[RING_WORDS];
    /* rings unchanged since prev: shared */
    for (size_t k = 0; prev && k < prev->nrings; k++) {
        struct shared_ring *p = prev->rings[k];
        /* the ring's first word, its task (never 0), is the first after
         * the bitmap */
        size_t nmask = (sizeof(struct ring) / 8 + 63) / 64;
        if (!(p->w[0] & 1))
            continue;
        uint64_t task = p->w[nmask];
        struct slot *sl = find(r, task);
        if (!sl || !sl->task || sn->rings[sl->ring])
            continue;
        size_t n = pack_ring(&r->rings[sl->ring], buf);
        if (n == p->nwords && memcmp(buf, p->w, n * sizeof *buf) == 0) {
            p->refs++;
            sn->rings[sl->ring] = p;
        }
    }
    for (size_t k = 0; k < r->nrings; k++) {
        if (sn->rings[k])
            continue;
        size_t n = pack_ring(&r->rings[k], buf);
        struct shared_ring *p = malloc(shared_size(n));
        if (!p) {
            tui_recent_snap_free(sn, shared);
            return NULL;
        }
        p->refs = 1;
        p->nwords = n;
        memcpy(p->w, buf, n * sizeof *buf);
        sn->rings[k] = p;
        *shared += shared_size(n);
    }
    *own = sizeof *sn + sn->nrings * sizeof *sn->rings;
    return sn;
}

tui_recent *tui_recent_restore(const tui_recent_snap *sn) {
    tui_recent *r = tui_recent_new();
    if (!r)
        return NULL;
    if (!sn->nrings)
        return r;
    r->rings = malloc(sn->nrings * sizeof *r->rings);
    if (!r->rings) {
        tui_recent_free(r);
        return NULL;
    }
    r->rings_cap = r->nrings = sn->nrings;
    for (size_t k = 0; k < sn->nrings; k++)
        ts_zunpack(sn->rings[k]->w, sizeof r->rings[k], &r->rings[k]);
    size_t cap = 1024;
    while (cap < r->nrings * 2 + 2)
        cap *= 2;
    if (rehash(r, cap) != 0) {
        tui_recent_free(r);
        return NULL;
    }
    return r;
}

void tui_recent_snap_free(tui_recent_snap *sn, size_t *shared) {
    if (!sn)
        return;
    for (size_t k = 0; k < sn->nrings; k++) {
        struct shared_ring *p = sn->rings[k];
        if (p && --p->refs == 0) {
            size_t sz = shared_size(p->nwords);
            free(p);
            *shared -= sz < *shared ? sz : *shared;
        }
    }
    free(sn->rings);
    free(sn);
}

void tui_recent_prune(tui_recent *r, const tm_model *m) {
    size_t j = 0;
    for (size_t k = 0; k < r->nrings; k++)
        if (tm_model_task(m, r->rings[k].task))
            r->rings[j++] = r->rings[k];
    if (j == r->nrings)
        return;
    r->nrings = j;
    size_t cap = 1024;
    while (cap < j * 2 + 2)
        cap *= 2;
    if (rehash(r, cap) != 0)
        tui_recent_clear(r); /* the old table points at moved rings */
}

static const char *task_name(const tm_model *m, uint64_t id) {
    const tm_task *t = tm_model_task(m, id);
    return t ? tm_model_string(m, t->name) : "";
}

void tui_recent_format(const tm_model *m, const tui_event *e, uint64_t t0, char *buf,
                       size_t len) {
    char site[160], d[24];
    double at = e->ns >= t0 ? (double)(e->ns - t0) / 1e9 : -(double)(t0 - e->ns) / 1e9;
    int n = snprintf(buf, len, "%+11.6fs  ", at);
    if (n < 0 || (size_t)n >= len)
        return;
    buf += n;
    len -= (size_t)n;
    switch (e->type) {
    case TS_EV_task_create:
        tm_model_site_text(m, e->x, site, sizeof site);
        if (e->obj)
            snprintf(buf, len, "spawned by #%" PRIu64 " %s at %s", e->obj, task_name(m, e->obj), site);
        else
            snprintf(buf, len, "spawned outside any task at %s", site);
        break;
    case TS_EV_task_resume: snprintf(buf, len, "resumed (a step begins)"); break;
    case TS_EV_task_suspend:
        tm_model_site_text(m, e->y, site, sizeof site);
        if (e->x == 1)
            snprintf(buf, len, "suspended: awaits task #%" PRIu64 " %s at %s", e->obj,
                     task_name(m, e->obj), site);
        else if (e->x == 3 || e->x == 4 || !e->obj)
            snprintf(buf, len, "suspended: %s at %s", tm_wait_kind_name(e->x), site);
        else
            snprintf(buf, len, "suspended: awaits %s %#" PRIx64 " at %s", tm_wait_kind_name(e->x),
                     e->obj, site);
        break;
    case TS_EV_task_wake:
        if (e->obj)
            snprintf(buf, len, "woken by #%" PRIu64 " %s (status %d)", e->obj, task_name(m, e->obj),
                     (int32_t)e->x);
        else
            snprintf(buf, len, "woken by the loop (status %d)", (int32_t)e->x);
        break;
    case TS_EV_task_cancel:
        snprintf(buf, len, "cancel requested by %s%" PRIu64 " (%u pending)%s%s",
                 e->obj ? "#" : "outside any task ", e->obj, e->x, e->y ? ": " : "",
                 tm_model_string(m, e->y));
        break;
    case TS_EV_task_done:
        snprintf(buf, len, "finished: %s (err %d)%s%s", tm_state_name((tm_state)e->x),
                 (int)(int64_t)e->obj, e->y ? ": " : "", tm_model_string(m, e->y));
        break;
    case TS_EV_task_free: snprintf(buf, len, "freed"); break;
    case TS_EV_task_state:
        snprintf(buf, len, "state dump: %s, awaits %s %#" PRIx64, tm_state_name((tm_state)e->x),
                 tm_wait_kind_name(e->y), e->obj);
        break;
    case TS_EV_resource_acquired: {
        const tm_resource *res = tm_model_resource(m, e->obj);
        snprintf(buf, len, "acquired %s %#" PRIx64, res ? tm_resource_kind_name(res->kind) : "resource",
                 e->obj);
        break;
    }
    case TS_EV_resource_release: {
        const tm_resource *res = tm_model_resource(m, e->obj);
        snprintf(buf, len, "released %s %#" PRIx64, res ? tm_resource_kind_name(res->kind) : "resource",
                 e->obj);
        break;
    }
    case TS_EV_slow_step:
        tr_fmt_dur(d, sizeof d, e->obj);
        snprintf(buf, len, "SLOW STEP: ran %s without suspending", d);
        break;
    case TS_EV_loop_blocked:
        tr_fmt_dur(d, sizeof d, e->obj);
        tr_syscall_text(site, sizeof site, (int32_t)e->x);
        snprintf(buf, len, "BLOCKED THE LOOP: %s so far (%s)", d,
                 (int32_t)e->x >= 0 ? site : "busy on CPU");
        break;
    case TS_EV_loop_unblocked:
        tr_fmt_dur(d, sizeof d, e->obj);
        snprintf(buf, len, "released the loop after %s", d);
        break;
    case TS_EV_diagnostic:
        snprintf(buf, len, "diagnostic: %s", tm_model_string(m, e->y));
        break;
    case TS_EV_job_submit:
        snprintf(buf, len, "submitted job %" PRIu64 " to a thread pool", e->obj);
        break;
    default: snprintf(buf, len, "event %u", e->type); break;
    }
}
