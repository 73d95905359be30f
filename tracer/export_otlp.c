/*
 * export_otlp.c - `export --format otlp`: the recording as OpenTelemetry
 * traces.  One span per task: named after the task, its parent the
 * spawning task's span, one trace per task tree; attributes say its id,
 * loop, spawn site (code.function, code.filepath, code.lineno), state,
 * steps and busy time; the status comes from its outcome (done: OK;
 * failed or cancelled: ERROR with the message; lost or unfinished: unset);
 * span events tell the awaits that lasted at least the threshold, cancel
 * requests, warnings, and the steps that blocked its loop (with the
 * thread's state, syscall and stack).  The resource names the service,
 * the process (pid, executable) and the host.
 *
 * Streaming: a span is made when its task finishes and goes out in the
 * next batch; memory holds the live tasks (each at most MAX_EVENTS span
 * events, the rest counted in dropped_events_count) and one batch.
 *
 * Times: events are stamped on CLOCK_MONOTONIC; OTLP wants Unix time.  A
 * recording made by this version holds CLOCK_REALTIME - CLOCK_MONOTONIC
 * at its start (session key clock_offset_ns); an older one is converted
 * with this machine's offset now (right if it was recorded since the
 * last boot here), and the resource says taskscope.clock=estimated.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "export_otlp_impl.h"
#include "idmap.h"
#include "model.h"
#include "store.h"
#include "symbolize.h"
#include "syscalls.h"

#define MAX_EVENTS 64
#define DEFAULT_BATCH 512

enum ev_kind { E_AWAIT = 1, E_CANCEL, E_WARNING, E_BLOCKED, E_SLOW };

/* A span event, kept small until the span is built: strings stay ids
 * into the model's tables. */
struct oevent {
    uint64_t ns, dur;
    uint64_t x;              /* await object, cancelling task, loop */
    uint32_t a, b, c;        /* await kind/site; cancel message/requests; diag kind/site/message;
                              * blocked syscall+1/stack/thread state */
    uint8_t kind;
};

struct otask {
    uint64_t id, parent, loop, root;
    uint32_t name, site;
    uint64_t created_ns;
    uint64_t await_start, run_start;
    uint32_t await_kind, await_site;
    uint64_t await_obj;
    uint64_t busy_ns, steps;
    uint32_t state, message;
    int32_t err;
    struct oevent *ev;
    uint32_t nev, dropped;
};

struct oloop {               /* the last loop_blocked, for its unblocked */
    uint64_t loop;
    uint32_t syscall1, stack, thread_state;
};

struct ostate {
    const ts_otlp_opts *o;
    ts_otlp_sink sink;
    void *sink_arg;
    tm_model *names;
    tm_idmap ids;
    struct otask *tasks;
    size_t n, cap;
    struct oloop loops[64];
    int nloops;
    uint64_t salt;
    int64_t offset;
    ts_symbolizer *sym;
    size_t modules_added;
    /* the batch being built */
    otlp_arena arena;
    otlp_span **spans;
    size_t nspans, batch;
    otlp_resource *resource;
    otlp_arena resource_arena;
    otlp_scope scope;
    uint64_t sent;
    int rc;
    char *err;
    size_t errlen;
};

static uint64_t mix64(uint64_t x) {  /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* ---- attributes -------------------------------------------------------- */

static otlp_kv *kv(otlp_arena *a, const char *key) {
    otlp_kv *k = otlp_alloc(a, sizeof *k);
    otlp_value *v = otlp_alloc(a, sizeof *v);
    if (!k || !v)
        return NULL;
    opentelemetry__proto__common__v1__key_value__init(k);
    opentelemetry__proto__common__v1__any_value__init(v);
    k->key = (char *)key;
    k->value = v;
    return k;
}

static otlp_kv *kv_str(otlp_arena *a, const char *key, const char *s) {
    otlp_kv *k = kv(a, key);
    char *c = otlp_strdup(a, s ? s : "");
    if (!k || !c)
        return NULL;
    k->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    k->value->string_value = c;
    return k;
}

static otlp_kv *kv_int(otlp_arena *a, const char *key, int64_t i) {
    otlp_kv *k = kv(a, key);
    if (!k)
        return NULL;
    k->value->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    k->value->int_value = i;
    return k;
}

/* A list of attributes being filled: a NULL from a failed allocation is
 * skipped, and the export reports out of memory at the end. */
typedef struct kvlist {
    otlp_kv *v[16];
    size_t n;
    int oom;
} kvlist;

static void add(kvlist *l, otlp_kv *k) {
    if (!k)
        l->oom = 1;
    else if (l->n < 16)
        l->v[l->n++] = k;
}

static otlp_kv **kv_array(otlp_arena *a, kvlist *l) {
    otlp_kv **p = otlp_alloc(a, (l->n ? l->n : 1) * sizeof *p);
    if (p)
        memcpy(p, l->v, l->n * sizeof *p);
    return p;
}

/* ---- tasks ------------------------------------------------------------- */

static struct otask *find(struct ostate *s, uint64_t id) {
    uint32_t i;
    return id && tm_idmap_get(&s->ids, id, &i) ? &s->tasks[i] : NULL;
}

static struct otask *add_task(struct ostate *s, uint64_t id, uint64_t parent, uint64_t loop,
                              uint32_t name, uint32_t site, uint64_t ns) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct otask *t = realloc(s->tasks, cap * sizeof *t);
        if (!t)
            return NULL;
        s->tasks = t;
        s->cap = cap;
    }
    if (tm_idmap_put(&s->ids, id, (uint32_t)s->n))
        return NULL;
    struct otask *t = &s->tasks[s->n++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->parent = parent;
    t->loop = loop;
    t->name = name;
    t->site = site;
    t->created_ns = ns;
    struct otask *p = find(s, parent);
    t->root = p ? p->root : parent ? parent : id;
    return t;
}

/* A task first met after its creation: its span starts there. */
static struct otask *task(struct ostate *s, uint64_t id, uint64_t ns) {
    struct otask *t = find(s, id);
    if (t || !id)
        return t;
    const tm_task *mt = tm_model_task(s->names, id);
    t = add_task(s, id, mt ? mt->parent : 0, mt ? mt->loop : 0, mt ? mt->name : 0,
                 mt ? mt->site : 0, mt && mt->created_ns ? mt->created_ns : ns);
    if (!t)
        s->rc = -ENOMEM;
    return t;
}

static void add_event(struct otask *t, const struct oevent *e) {
    if (t->nev == MAX_EVENTS) {
        t->dropped++;
        return;
    }
    if (!t->ev && !(t->ev = malloc(MAX_EVENTS * sizeof *t->ev))) {
        t->dropped++;
        return;
    }
    t->ev[t->nev++] = *e;
}

static void end_await(struct ostate *s, struct otask *t, uint64_t ns) {
    if (t->await_start && ns - t->await_start >= s->o->await_threshold_ns) {
        struct oevent e = {.ns = t->await_start, .dur = ns - t->await_start, .kind = E_AWAIT,
                           .a = t->await_kind, .b = t->await_site, .x = t->await_obj};
        add_event(t, &e);
    }
    t->await_start = 0;
}

/* ---- spans ------------------------------------------------------------- */

static const char *stack_text(struct ostate *s, uint32_t stack, char *buf, size_t len) {
    uint32_t depth = 0;
    const uint64_t *pcs = tm_model_stack(s->names, stack, &depth);
    buf[0] = 0;
    if (!pcs || !depth || (!s->sym && !(s->sym = ts_symbolizer_new())))
        return buf;
    for (; s->modules_added < tm_model_module_count(s->names); s->modules_added++) {
        const tm_module *m = tm_model_module_at(s->names, s->modules_added);
        ts_symbolizer_add_module(s->sym, m->start, m->end, m->offset,
                                 tm_model_string(s->names, m->path));
    }
    size_t o = 0;
    for (uint32_t k = 0; k < depth && o + 1 < len; k++) {
        ts_frame f;
        ts_symbolize(s->sym, pcs[k], k > 0, &f);
        const char *base = strrchr(f.file, '/');
        int n = f.file[0] ? snprintf(buf + o, len - o, "%s (%s:%d)\n", f.function,
                                     base ? base + 1 : f.file, f.line)
                          : snprintf(buf + o, len - o, "%s 0x%" PRIx64 "\n", f.function, f.pc);
        if (n < 0 || (size_t)n >= len - o)
            break;
        o += (size_t)n;
    }
    return buf;
}

static otlp_event *make_event(struct ostate *s, const struct oevent *e) {
    otlp_arena *a = &s->arena;
    otlp_event *ev = otlp_alloc(a, sizeof *ev);
    if (!ev)
        return NULL;
    opentelemetry__proto__trace__v1__span__event__init(ev);
    ev->time_unix_nano = e->ns + (uint64_t)s->offset;
    kvlist l = {0};
    char buf[4096];
    switch (e->kind) {
    case E_AWAIT:
        ev->name = "await";
        add(&l, kv_str(a, "taskscope.await.kind", tm_wait_kind_name(e->a)));
        add(&l, kv_str(a, "taskscope.await.site", tm_model_site_text(s->names, e->b, buf, sizeof buf)));
        add(&l, kv_int(a, "taskscope.await.object", (int64_t)e->x));
        add(&l, kv_int(a, "taskscope.duration_ns", (int64_t)e->dur));
        break;
    case E_CANCEL:
        ev->name = "cancel requested";
        add(&l, kv_int(a, "taskscope.cancel.by_task", (int64_t)e->x));
        add(&l, kv_int(a, "taskscope.cancel.requests", e->b));
        if (e->a)
            add(&l, kv_str(a, "taskscope.cancel.message", tm_model_string(s->names, e->a)));
        break;
    case E_WARNING:
        ev->name = "warning";
        add(&l, kv_int(a, "taskscope.diagnostic.kind", e->a));
        if (e->b)
            add(&l, kv_str(a, "code.site", tm_model_site_text(s->names, e->b, buf, sizeof buf)));
        if (e->c)
            add(&l, kv_str(a, "message", tm_model_string(s->names, e->c)));
        break;
    case E_BLOCKED:
    case E_SLOW:
        ev->name = e->kind == E_BLOCKED ? "blocked the loop" : "slow step";
        add(&l, kv_int(a, "taskscope.loop.id", (int64_t)e->x));
        add(&l, kv_int(a, "taskscope.duration_ns", (int64_t)e->dur));
        if (e->kind == E_BLOCKED && e->c) {
            char st[2] = {(char)e->c, 0};
            add(&l, kv_str(a, "thread.state", st));
        }
        if (e->kind == E_BLOCKED && e->a) {
            const char *sc = ts_syscall_name((int)e->a - 1);
            add(&l, kv_str(a, "taskscope.syscall", sc ? sc : "?"));
        }
        if (e->kind == E_BLOCKED && e->b)
            add(&l, kv_str(a, "code.stacktrace", stack_text(s, e->b, buf, sizeof buf)));
        break;
    }
    ev->n_attributes = l.n;
    ev->attributes = kv_array(a, &l);
    return l.oom || !ev->attributes ? NULL : ev;
}

static int flush(struct ostate *s);

static void make_span(struct ostate *s, struct otask *t, uint64_t end_ns, int finished) {
    if (s->rc) /* the export has failed: the batch is not emptied any more */
        return;
    otlp_arena *a = &s->arena;
    otlp_span *sp = otlp_alloc(a, sizeof *sp);
    uint8_t *ids = otlp_alloc(a, 32);
    if (!sp || !ids) {
        s->rc = -ENOMEM;
        return;
    }
    opentelemetry__proto__trace__v1__span__init(sp);
    uint64_t r = mix64(s->salt ^ t->root);
    put_be64(ids, r);
    put_be64(ids + 8, mix64(r ^ s->salt) | 1);
    put_be64(ids + 16, mix64(s->salt ^ t->id ^ 0x5350414eull) | 1);
    sp->trace_id = (ProtobufCBinaryData){16, ids};
    sp->span_id = (ProtobufCBinaryData){8, ids + 16};
    if (t->parent) {
        put_be64(ids + 24, mix64(s->salt ^ t->parent ^ 0x5350414eull) | 1);
        sp->parent_span_id = (ProtobufCBinaryData){8, ids + 24};
    }
    const char *name = tm_model_string(s->names, t->name);
    char fallback[48];
    if (!name[0]) {
        snprintf(fallback, sizeof fallback, "task #%" PRIu64, t->id);
        name = fallback;
    }
    sp->name = otlp_strdup(a, name);
    sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
    sp->start_time_unix_nano = t->created_ns + (uint64_t)s->offset;
    sp->end_time_unix_nano = (end_ns > t->created_ns ? end_ns : t->created_ns) + (uint64_t)s->offset;

    kvlist l = {0};
    char buf[512];
    const char *state = !finished ? "unfinished" : t->state == TM_REC_LOST ? "lost"
                        : tm_state_name((tm_state)t->state);
    add(&l, kv_int(a, "taskscope.task.id", (int64_t)t->id));
    if (t->parent)
        add(&l, kv_int(a, "taskscope.task.parent", (int64_t)t->parent));
    add(&l, kv_int(a, "taskscope.loop.id", (int64_t)t->loop));
    add(&l, kv_str(a, "taskscope.task.state", state));
    add(&l, kv_int(a, "taskscope.task.steps", (int64_t)t->steps));
    add(&l, kv_int(a, "taskscope.task.busy_ns", (int64_t)t->busy_ns));
    const tm_site *site = tm_model_site(s->names, t->site);
    if (site) {
        add(&l, kv_str(a, "code.function", tm_model_string(s->names, site->func)));
        add(&l, kv_str(a, "code.filepath", tm_model_string(s->names, site->file)));
        add(&l, kv_int(a, "code.lineno", site->line));
        add(&l, kv_str(a, "taskscope.spawn_site",
                       tm_model_site_text(s->names, t->site, buf, sizeof buf)));
    }
    if (t->err)
        add(&l, kv_int(a, "taskscope.task.error", t->err));
    sp->n_attributes = l.n;
    sp->attributes = kv_array(a, &l);

    otlp_status *st = otlp_alloc(a, sizeof *st);
    if (!st || !sp->name || !sp->attributes || l.oom) {
        s->rc = -ENOMEM;
        return;
    }
    opentelemetry__proto__trace__v1__status__init(st);
    if (finished && t->state == TM_DONE) {
        st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_OK;
    } else if (finished && (t->state == TM_FAILED || t->state == TM_CANCELLED)) {
        st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        const char *msg = t->message ? tm_model_string(s->names, t->message) : "";
        if (!msg[0])
            msg = t->state == TM_CANCELLED ? "cancelled" : strerror(-t->err);
        st->message = otlp_strdup(a, msg);
        if (!st->message)
            s->rc = -ENOMEM;
    }
    sp->status = st;
    if (t->nev) {
        sp->events = otlp_alloc(a, t->nev * sizeof *sp->events);
        if (!sp->events) {
            s->rc = -ENOMEM;
            return;
        }
        for (uint32_t i = 0; i < t->nev; i++) {
            otlp_event *ev = make_event(s, &t->ev[i]);
            if (!ev) {
                s->rc = -ENOMEM;
                return;
            }
            sp->events[sp->n_events++] = ev;
        }
    }
    sp->dropped_events_count = t->dropped;
    s->spans[s->nspans++] = sp;
    if (s->nspans == s->batch)
        flush(s);
}

static void remove_task(struct ostate *s, struct otask *t) {
    size_t i = (size_t)(t - s->tasks);
    free(t->ev);
    tm_idmap_del(&s->ids, t->id);
    if (i != s->n - 1) {
        s->tasks[i] = s->tasks[s->n - 1];
        tm_idmap_put(&s->ids, s->tasks[i].id, (uint32_t)i); /* replaces: cannot fail */
    }
    s->n--;
}

static int flush(struct ostate *s) {
    if (!s->nspans || s->rc)
        return s->rc;
    otlp_scope_spans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &s->scope;
    ss.n_spans = s->nspans;
    ss.spans = s->spans;
    otlp_scope_spans *ssp = &ss;
    otlp_resource_spans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = s->resource;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    otlp_resource_spans *rsp = &rs;
    otlp_request req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;
    s->rc = s->sink(&req, s->nspans, s->sink_arg, s->err, s->errlen);
    if (!s->rc)
        s->sent += s->nspans;
    s->nspans = 0;
    otlp_arena_free(&s->arena);
    return s->rc;
}

/* ---- events ------------------------------------------------------------ */

static struct oloop *loop_slot(struct ostate *s, uint64_t loop) {
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i].loop == loop)
            return &s->loops[i];
    struct oloop *l = &s->loops[s->nloops < 64 ? s->nloops++ : 63];
    memset(l, 0, sizeof *l);
    l->loop = loop;
    return l;
}

static void on_event(const ts_ev_header *h, uint64_t ns, uint32_t tid, void *arg) {
    struct ostate *s = arg;
    tm_model_apply(s->names, h, ns, tid);
    if (s->rc)
        return;
    switch (h->type) {
    case TS_EV_task_create: {
        const ts_ev_task_create *e = (const void *)h;
        if (!find(s, e->task) && !add_task(s, e->task, e->parent, e->loop, e->name, e->site, ns))
            s->rc = -ENOMEM;
        break;
    }
    case TS_EV_task_state: {
        const ts_ev_task_state *e = (const void *)h;
        if (!find(s, e->task) && !add_task(s, e->task, e->parent, e->loop, e->name, e->site, ns))
            s->rc = -ENOMEM;
        break;
    }
    case TS_EV_task_resume: {
        struct otask *t = task(s, ((const ts_ev_task_resume *)h)->task, ns);
        if (t) {
            end_await(s, t, ns);
            t->run_start = ns;
            t->steps++;
        }
        break;
    }
    case TS_EV_task_suspend: {
        const ts_ev_task_suspend *e = (const void *)h;
        struct otask *t = task(s, e->task, ns);
        if (t) {
            if (t->run_start && ns > t->run_start)
                t->busy_ns += ns - t->run_start;
            t->run_start = 0;
            t->await_start = ns;
            t->await_kind = e->kind;
            t->await_site = e->site;
            t->await_obj = e->object;
        }
        break;
    }
    case TS_EV_task_wake: {
        struct otask *t = task(s, ((const ts_ev_task_wake *)h)->task, ns);
        if (t)
            end_await(s, t, ns);
        break;
    }
    case TS_EV_task_cancel: {
        const ts_ev_task_cancel *e = (const void *)h;
        struct otask *t = task(s, e->task, ns);
        if (t) {
            struct oevent ev = {.ns = ns, .kind = E_CANCEL, .x = e->by_task, .a = e->message,
                                .b = e->requests};
            add_event(t, &ev);
        }
        break;
    }
    case TS_EV_task_done: {
        const ts_ev_task_done *e = (const void *)h;
        struct otask *t = task(s, e->task, ns);
        if (!t)
            break;
        if (t->run_start && ns > t->run_start)
            t->busy_ns += ns - t->run_start;
        end_await(s, t, ns);
        t->state = e->state;
        t->err = e->err;
        t->message = e->message;
        make_span(s, t, ns, 1);
        remove_task(s, t);
        break;
    }
    case TS_EV_loop_blocked: {
        const ts_ev_loop_blocked *e = (const void *)h;
        struct oloop *l = loop_slot(s, e->loop);
        l->syscall1 = e->syscall >= 0 ? (uint32_t)e->syscall + 1 : 0;
        l->stack = e->stack;
        l->thread_state = e->thread_state;
        break;
    }
    case TS_EV_loop_unblocked:
    case TS_EV_slow_step: {
        /* Both carry loop, task, duration_ns at the same offsets. */
        const ts_ev_loop_unblocked *e = (const void *)h;
        struct otask *t = find(s, e->task);
        struct oloop *l = loop_slot(s, e->loop);
        if (!t)
            break;
        if (h->type == TS_EV_slow_step && t->nev && t->ev[t->nev - 1].kind == E_BLOCKED &&
            t->ev[t->nev - 1].dur == e->duration_ns)
            break; /* the same step, already told as blocked */
        struct oevent ev = {.ns = ns > e->duration_ns ? ns - e->duration_ns : ns,
                            .dur = e->duration_ns, .x = e->loop,
                            .kind = h->type == TS_EV_slow_step ? E_SLOW : E_BLOCKED};
        if (ev.kind == E_BLOCKED) {
            ev.a = l->syscall1;
            ev.b = l->stack;
            ev.c = l->thread_state;
            memset(l, 0, sizeof *l);
            l->loop = e->loop;
        }
        add_event(t, &ev);
        break;
    }
    case TS_EV_diagnostic: {
        const ts_ev_diagnostic *e = (const void *)h;
        struct otask *t = find(s, e->task);
        if (t) {
            struct oevent ev = {.ns = ns, .kind = E_WARNING, .a = e->kind, .b = e->site,
                                .c = e->message};
            add_event(t, &ev);
        }
        break;
    }
    default:
        break;
    }
}

_Static_assert(offsetof(ts_ev_loop_unblocked, loop) == offsetof(ts_ev_slow_step, loop) &&
               offsetof(ts_ev_loop_unblocked, task) == offsetof(ts_ev_slow_step, task) &&
               offsetof(ts_ev_loop_unblocked, duration_ns) == offsetof(ts_ev_slow_step, duration_ns),
               "slow_step and loop_unblocked share their first fields");

/* ---- the resource ------------------------------------------------------ */

static int make_resource(struct ostate *s, const char *path) {
    otlp_arena *a = &s->resource_arena;
    char pid[32] = "", exe[4096] = "", host[256] = "", off[32] = "";
    ts_store_read_meta(path, "pid", pid, sizeof pid);
    ts_store_read_meta(path, "exe", exe, sizeof exe);
    ts_store_read_meta(path, "host", host, sizeof host);
    ts_store_read_meta(path, "clock_offset_ns", off, sizeof off);
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : exe;
    const char *rec = strrchr(path, '/');
    kvlist l = {0};
    add(&l, kv_str(a, "service.name", s->o->service ? s->o->service : base[0] ? base
                                                                             : "unknown_service"));
    if (pid[0])
        add(&l, kv_int(a, "process.pid", strtoll(pid, NULL, 10)));
    if (exe[0]) {
        add(&l, kv_str(a, "process.executable.path", exe));
        add(&l, kv_str(a, "process.executable.name", base));
    }
    if (host[0])
        add(&l, kv_str(a, "host.name", host));
    add(&l, kv_str(a, "taskscope.recording", rec ? rec + 1 : path));
    add(&l, kv_str(a, "telemetry.sdk.name", "taskscope"));
    add(&l, kv_str(a, "telemetry.sdk.version", TS_VERSION));
    if (off[0]) {
        s->offset = strtoll(off, NULL, 10);
    } else {
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        s->offset = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
        add(&l, kv_str(a, "taskscope.clock", "estimated"));
    }
    s->salt = mix64(strtoull(pid, NULL, 10) ^ mix64((uint64_t)s->offset)) ^ mix64(strlen(exe));
    for (const char *p = host; *p; p++)
        s->salt = mix64(s->salt ^ (uint8_t)*p);
    s->resource = otlp_alloc(a, sizeof *s->resource);
    if (!s->resource || l.oom)
        return -ENOMEM;
    opentelemetry__proto__resource__v1__resource__init(s->resource);
    s->resource->n_attributes = l.n;
    s->resource->attributes = kv_array(a, &l);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&s->scope);
    s->scope.name = "taskscope";
    s->scope.version = TS_VERSION;
    return s->resource->attributes ? 0 : -ENOMEM;
}

int ts_export_otlp(const char *path, const ts_otlp_opts *o, ts_otlp_sink sink, void *arg,
                   uint64_t *spans, char *err, size_t errlen) {
    struct ostate *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->o = o;
    s->sink = sink;
    s->sink_arg = arg;
    s->err = err;
    s->errlen = errlen;
    s->batch = o->batch ? o->batch : DEFAULT_BATCH;
    s->spans = calloc(s->batch, sizeof *s->spans);
    s->names = tm_model_new();
    int rc = !s->spans || !s->names ? -ENOMEM : 0;
    if (!rc)
        rc = make_resource(s, path);
    if (!rc)
        rc = ts_store_replay_pid(path, ts_export_one_pid(path, "otlp"), on_event, s, err,
                                 errlen);
    /* Tasks still alive at the end: spans that end with the recording. */
    uint64_t end = tm_model_now(s->names);
    for (size_t i = 0; !rc && !s->rc && i < s->n; i++) {
        struct otask *t = &s->tasks[i];
        if (t->run_start && end > t->run_start)
            t->busy_ns += end - t->run_start;
        end_await(s, t, end);
        make_span(s, t, end, 0);
    }
    if (!rc)
        flush(s);
    if (!rc && s->rc) {
        rc = s->rc;
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
    }
    if (spans)
        *spans = s->sent;
    for (size_t i = 0; i < s->n; i++)
        free(s->tasks[i].ev);
    otlp_arena_free(&s->arena);
    otlp_arena_free(&s->resource_arena);
    if (s->sym)
        ts_symbolizer_free(s->sym);
    tm_idmap_free(&s->ids);
    free(s->tasks);
    free(s->spans);
    if (s->names)
        tm_model_free(s->names);
    free(s);
    return rc;
}

/* ---- file sinks -------------------------------------------------------- */

int ts_otlp_sink_protobuf(const otlp_request *req, size_t nspans, void *arg, char *err,
                          size_t errlen) {
    (void)nspans;
    /* Packed whole, then one fwrite (protobuf-c's buffer interface appends
     * field by field); a batch is at most some hundred KiB. */
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(req, buf);
    int bad = fwrite(buf, 1, n, arg) != n;
    free(buf);
    if (bad) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -EIO;
    }
    return 0;
}

int ts_otlp_sink_json(const otlp_request *req, size_t nspans, void *arg, char *err,
                      size_t errlen) {
    (void)nspans;
    if (otlp_write_json(arg, req)) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        return -EIO;
    }
    return 0;
}
