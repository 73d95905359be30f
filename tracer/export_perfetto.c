/*
 * export_perfetto.c - `export --format perfetto`: the recording as a
 * Perfetto protobuf trace (TracePacket / TrackEvent), for ui.perfetto.dev
 * and trace_processor.  One pass in event order; every slice is begun and
 * ended as its events arrive, so nothing waits for the end of the
 * recording and memory holds only the tasks alive at the moment (plus the
 * model's strings and sites): a 10M-event recording streams through.
 *
 * What each event becomes (export_perfetto_impl.h has the tracks):
 *   task_create   the task's track, an instant "created" (site, parent),
 *                 an instant "spawn" on the parent's track with a flow to
 *                 the child's first run slice
 *   task_resume   a "run" slice begins (ends a flow from spawn or wake);
 *                 the loop's lag counter (time ready to running)
 *   task_suspend  "run" ends, "await <kind>" begins (site, object)
 *   task_wake     the await ends; an instant "wake" on the waking task's
 *                 track starts a flow to the next run
 *   task_cancel   an instant; task_done ends what is open, and an instant
 *                 done/failed/cancelled/lost (err, message)
 *   loop_blocked  a "BLOCKED by task #N" slice on the loop thread's track,
 *                 from the step's start to loop_unblocked, with the
 *                 thread's state, syscall and stack as debug annotations
 *   slow_step     a "slow step" slice there (unless drawn as blocked)
 *   diagnostic    an instant "warning" on the task (or process) track
 * and the ready-queue counter follows every wake, spawn and resume.
 *
 * With a critical path (ts_export_perfetto_critical, `--task N`): at each
 * of its wakes, an instant "critical path" (annotated with the waiter) on
 * the cause task's track starts a second flow, ended by the waiter's next
 * run slice with the wake's own: the arrows from cause to waiter are the
 * path `taskscope why` walks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "export_perfetto_impl.h"
#include "idmap.h"
#include "model.h"
#include "store.h"
#include "symbolize.h"
#include "syscalls.h"

enum {
    T_BEGIN = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_BEGIN,
    T_END = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_SLICE_END,
    T_INSTANT = PERFETTO__PROTOS__TRACK_EVENT__TYPE__TYPE_INSTANT,
};

/* A live task: what is open on its track.  Removed when it finishes. */
struct ptask {
    uint64_t id, loop;
    uint64_t last_ns;        /* its track's last timestamp */
    uint64_t ready_since;    /* 0: not in the ready queue */
    uint64_t pending_flow;   /* to end at its next run slice */
    uint64_t pending_crit;   /* a critical path's flow, to end there too */
    uint8_t running, awaiting;
};

/* A loop: its tracks' clocks, its ready count, the open blocked slice. */
struct ploop {
    uint64_t id;
    uint32_t tid;
    int described;
    uint64_t last_ns, counter_ns;
    int64_t ready;
    uint64_t step_start, step_task;
    int blocked_open;
    uint64_t blocked_task;
    uint32_t blocked_stack;   /* its stack id; the record may come after */
    int blocked_stack_shown;  /* the begin carried it */
    uint64_t drawn_task, drawn_dur;   /* the last blocked episode drawn */
};

#define MAX_LOOPS 256

struct pstate {
    pf_writer w;
    tm_model *names;
    tm_idmap ids;
    struct ptask *tasks;
    size_t n, cap;
    struct ploop loops[MAX_LOOPS];
    int nloops;
    int32_t pid;
    uint64_t process_ns;
    uint64_t next_flow;
    ts_symbolizer *sym;
    const ts_pf_edge *crit;  /* the critical path, by (waiter, wake_ns) */
    size_t ncrit;
    size_t modules_added;
    int oom;
};

static uint64_t stamp(uint64_t *last, uint64_t ns) {
    if (ns < *last)
        ns = *last;
    *last = ns;
    return ns;
}

static struct ploop *loop_of(struct pstate *s, uint64_t id) {
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i].id == id)
            return &s->loops[i];
    /* Past MAX_LOOPS, the last slot stands in for every further loop. */
    struct ploop *l = &s->loops[s->nloops < MAX_LOOPS ? s->nloops++ : MAX_LOOPS - 1];
    if (l->id != id) {
        memset(l, 0, sizeof *l);
        l->id = id;
    }
    return l;
}

static struct ploop *described_loop(struct pstate *s, uint64_t id) {
    struct ploop *l = loop_of(s, id);
    if (!l->described) {
        pf_describe_loop(&s->w, l->id, s->pid, l->tid);
        l->described = 1;
    }
    return l;
}

static struct ptask *find(struct pstate *s, uint64_t id) {
    uint32_t i;
    return id && tm_idmap_get(&s->ids, id, &i) ? &s->tasks[i] : NULL;
}

static struct ptask *add_task(struct pstate *s, uint64_t id, uint64_t loop, uint32_t name,
                              uint32_t site) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct ptask *t = realloc(s->tasks, cap * sizeof *t);
        if (!t) {
            s->oom = 1;
            return NULL;
        }
        s->tasks = t;
        s->cap = cap;
    }
    if (tm_idmap_put(&s->ids, id, (uint32_t)s->n)) {
        s->oom = 1;
        return NULL;
    }
    struct ptask *t = &s->tasks[s->n++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->loop = loop;
    char sitebuf[256];
    described_loop(s, loop);
    pf_describe_task(&s->w, id, name ? tm_model_string(s->names, name) : "?",
                     tm_model_site_text(s->names, site, sitebuf, sizeof sitebuf));
    return t;
}

/* A task first met after its creation (its task_create was dropped or
 * came before an attach): a track of its own all the same. */
static struct ptask *task(struct pstate *s, uint64_t id) {
    struct ptask *t = find(s, id);
    if (t || !id)
        return t;
    const tm_task *mt = tm_model_task(s->names, id);
    return add_task(s, id, mt ? mt->loop : 0, mt ? mt->name : 0, mt ? mt->site : 0);
}

static void remove_task(struct pstate *s, struct ptask *t) {
    size_t i = (size_t)(t - s->tasks);
    tm_idmap_del(&s->ids, t->id);
    if (i != s->n - 1) {
        s->tasks[i] = s->tasks[s->n - 1];
        tm_idmap_put(&s->ids, s->tasks[i].id, (uint32_t)i); /* replaces: cannot fail */
    }
    s->n--;
}

static void ready_count(struct pstate *s, uint64_t loop, int delta, uint64_t ns) {
    struct ploop *l = described_loop(s, loop);
    l->ready += delta;
    if (l->ready < 0)
        l->ready = 0;
    pf_emit_counter(&s->w, pf_ready_uuid(loop), stamp(&l->counter_ns, ns), l->ready);
}

static void make_ready(struct pstate *s, struct ptask *t, uint64_t ns) {
    if (t->ready_since)
        return;
    t->ready_since = ns ? ns : 1;
    ready_count(s, t->loop, +1, ns);
}

/* An event on task t's track, at ns or after the track's last event. */
static void instant(struct pstate *s, struct ptask *t, pf_event *e, uint64_t ns) {
    pf_emit_event(&s->w, e, stamp(&t->last_ns, ns));
}

static void end_slice(struct pstate *s, struct ptask *t, uint64_t ns) {
    pf_event e;
    pf_event_init(&e, T_END, pf_task_uuid(t->id), 0, NULL);
    pf_emit_event(&s->w, &e, stamp(&t->last_ns, ns));
}

static void close_open(struct pstate *s, struct ptask *t, uint64_t ns) {
    if (t->running || t->awaiting)
        end_slice(s, t, ns);
    t->running = t->awaiting = 0;
}

static void on_create(struct pstate *s, uint64_t id, uint64_t parent, uint64_t loop,
                      uint32_t name, uint32_t site, uint64_t ns) {
    struct ptask *t = find(s, id);
    if (!t)
        t = add_task(s, id, loop, name, site);
    if (!t)
        return;
    char sitebuf[256];
    pf_event e;
    pf_event_init(&e, T_INSTANT, pf_task_uuid(id), PF_N_CREATED, NULL);
    pf_arg_str(&e, PF_A_SITE, tm_model_site_text(s->names, site, sitebuf, sizeof sitebuf));
    if (parent)
        pf_arg_uint(&e, PF_A_PARENT, parent);
    instant(s, t, &e, ns);
    struct ptask *p = find(s, parent);
    if (p) {
        pf_event_init(&e, T_INSTANT, pf_task_uuid(p->id), PF_N_SPAWN, NULL);
        pf_arg_uint(&e, PF_A_TASK, id);
        e.flow = t->pending_flow = ++s->next_flow;
        instant(s, p, &e, ns);
    }
    make_ready(s, t, ns);
}

static void on_resume(struct pstate *s, uint64_t id, uint64_t ns) {
    struct ptask *t = task(s, id);
    if (!t)
        return;
    close_open(s, t, ns);
    struct ploop *l = described_loop(s, t->loop);
    if (t->ready_since) {
        pf_emit_counter(&s->w, pf_lag_uuid(t->loop), stamp(&l->counter_ns, ns),
                        ns > t->ready_since ? (int64_t)(ns - t->ready_since) : 0);
        t->ready_since = 0;
        ready_count(s, t->loop, -1, ns);
    }
    pf_event e;
    pf_event_init(&e, T_BEGIN, pf_task_uuid(id), PF_N_RUN, NULL);
    e.end_flow = t->pending_flow;
    e.end_flow2 = t->pending_crit;
    t->pending_flow = t->pending_crit = 0;
    pf_emit_event(&s->w, &e, stamp(&t->last_ns, ns));
    t->running = 1;
    l->step_start = ns;
    l->step_task = id;
}

static void on_suspend(struct pstate *s, const ts_ev_task_suspend *ev, uint64_t ns) {
    struct ptask *t = task(s, ev->task);
    if (!t)
        return;
    close_open(s, t, ns);
    char sitebuf[256];
    uint32_t kind = ev->kind < PF_WAIT_KINDS ? ev->kind : 0;
    pf_event e;
    pf_event_init(&e, T_BEGIN, pf_task_uuid(t->id), PF_N_AWAIT0 + kind, NULL);
    pf_arg_str(&e, PF_A_SITE, tm_model_site_text(s->names, ev->site, sitebuf, sizeof sitebuf));
    if (ev->object)
        pf_arg_uint(&e, PF_A_OBJECT, ev->object);
    pf_emit_event(&s->w, &e, stamp(&t->last_ns, ns));
    t->awaiting = 1;
}

static int edge_cmp(const void *a, const void *b) {
    const ts_pf_edge *x = a, *y = b;
    if (x->waiter != y->waiter)
        return x->waiter < y->waiter ? -1 : 1;
    return x->wake_ns < y->wake_ns ? -1 : x->wake_ns > y->wake_ns;
}

/* Task t was woken at ns: if that ends a wait on the critical path, the
 * cause's instant and its flow to t's next run. */
static void critical_wake(struct pstate *s, struct ptask *t, uint64_t ns) {
    ts_pf_edge key = {.waiter = t->id, .wake_ns = ns};
    const ts_pf_edge *x = s->ncrit ? bsearch(&key, s->crit, s->ncrit, sizeof key, edge_cmp) : NULL;
    if (!x)
        return;
    /* The cause may have ended (an awaited task): its track stays, and
     * its last event was before this wake. */
    struct ptask *c = find(s, x->cause);
    uint64_t gone = ns;
    pf_event e;
    pf_event_init(&e, T_INSTANT, pf_task_uuid(x->cause), PF_N_CRITICAL, NULL);
    pf_arg_uint(&e, PF_A_WAITER, t->id);
    e.flow = t->pending_crit = ++s->next_flow;
    pf_emit_event(&s->w, &e, stamp(c ? &c->last_ns : &gone, ns));
}

static void on_wake(struct pstate *s, const ts_ev_task_wake *ev, uint64_t ns) {
    struct ptask *t = task(s, ev->task);
    if (!t)
        return;
    if (t->awaiting) {
        pf_event e;
        pf_event_init(&e, T_END, pf_task_uuid(t->id), 0, NULL);
        if (ev->status)
            pf_arg_int(&e, PF_A_STATUS, ev->status);
        pf_emit_event(&s->w, &e, stamp(&t->last_ns, ns));
        t->awaiting = 0;
    }
    struct ptask *w = ev->by_task != ev->task ? find(s, ev->by_task) : NULL;
    if (w) {
        pf_event e;
        pf_event_init(&e, T_INSTANT, pf_task_uuid(w->id), PF_N_WAKE, NULL);
        pf_arg_uint(&e, PF_A_TASK, t->id);
        e.flow = t->pending_flow = ++s->next_flow;
        instant(s, w, &e, ns);
    }
    critical_wake(s, t, ns);
    make_ready(s, t, ns);
}

static void on_cancel(struct pstate *s, const ts_ev_task_cancel *ev, uint64_t ns) {
    struct ptask *t = task(s, ev->task);
    if (!t)
        return;
    pf_event e;
    pf_event_init(&e, T_INSTANT, pf_task_uuid(t->id), PF_N_CANCEL, NULL);
    if (ev->by_task)
        pf_arg_uint(&e, PF_A_BY_TASK, ev->by_task);
    pf_arg_uint(&e, PF_A_REQUESTS, ev->requests);
    if (ev->message)
        pf_arg_str(&e, PF_A_MESSAGE, tm_model_string(s->names, ev->message));
    instant(s, t, &e, ns);
}

static void on_done(struct pstate *s, const ts_ev_task_done *ev, uint64_t ns) {
    struct ptask *t = task(s, ev->task);
    if (!t)
        return;
    close_open(s, t, ns);
    if (t->ready_since)
        ready_count(s, t->loop, -1, ns);
    uint64_t name = ev->state == TM_FAILED      ? PF_N_FAILED
                    : ev->state == TM_CANCELLED ? PF_N_CANCELLED
                    : ev->state == TM_REC_LOST  ? PF_N_LOST
                                                : PF_N_DONE;
    pf_event e;
    pf_event_init(&e, T_INSTANT, pf_task_uuid(t->id), name, NULL);
    if (ev->err)
        pf_arg_int(&e, PF_A_ERR, ev->err);
    if (ev->message)
        pf_arg_str(&e, PF_A_MESSAGE, tm_model_string(s->names, ev->message));
    instant(s, t, &e, ns);
    remove_task(s, t);
}

/* The loop thread's stack, symbolized where libdw can (frames as text):
 * 1 if added, 0 if the stack is not (yet) known. */
static int add_stack(struct pstate *s, pf_event *e, uint32_t stack) {
    uint32_t depth = 0;
    const uint64_t *pcs = tm_model_stack(s->names, stack, &depth);
    if (!pcs || !depth)
        return 0;
    if (!s->sym && !(s->sym = ts_symbolizer_new()))
        return 0;
    for (; s->modules_added < tm_model_module_count(s->names); s->modules_added++) {
        const tm_module *m = tm_model_module_at(s->names, s->modules_added);
        ts_symbolizer_add_module(s->sym, m->start, m->end, m->offset,
                                 tm_model_string(s->names, m->path));
    }
    static char text[PF_MAX_FRAMES][320];
    const char *frames[PF_MAX_FRAMES];
    if (depth > PF_MAX_FRAMES)
        depth = PF_MAX_FRAMES;
    for (uint32_t k = 0; k < depth; k++) {
        ts_frame f;
        ts_symbolize(s->sym, pcs[k], k > 0, &f);
        const char *base = strrchr(f.file, '/');
        if (f.file[0])
            snprintf(text[k], sizeof text[k], "%s (%s:%d)", f.function, base ? base + 1 : f.file,
                     f.line);
        else
            snprintf(text[k], sizeof text[k], "%s 0x%" PRIx64 "%s%s", f.function, f.pc,
                     f.module[0] ? " in " : "", f.module);
        frames[k] = text[k];
    }
    pf_arg_frames(e, frames, depth);
    return 1;
}

static void on_blocked(struct pstate *s, const ts_ev_loop_blocked *ev, uint64_t ns) {
    struct ploop *l = described_loop(s, ev->loop);
    if (l->blocked_open)
        return; /* the watchdog reports a step once; a repeat adds nothing */
    uint64_t start = ns > ev->elapsed_ns ? ns - ev->elapsed_ns : ns;
    if (l->step_task == ev->task && l->step_start && l->step_start <= ns)
        start = l->step_start;
    char name[64];
    snprintf(name, sizeof name, "BLOCKED by task #%" PRIu64, ev->task);
    pf_event e;
    pf_event_init(&e, T_BEGIN, pf_loop_uuid(l->id), 0, name);
    pf_arg_uint(&e, PF_A_TASK, ev->task);
    if (ev->thread_state) {
        char st[2] = {(char)ev->thread_state, 0};
        pf_arg_str(&e, PF_A_THREAD_STATE, st);
    }
    if (ev->syscall >= 0) {
        const char *sc = ts_syscall_name(ev->syscall);
        pf_arg_str(&e, PF_A_SYSCALL, sc ? sc : "?");
    }
    pf_arg_uint(&e, PF_A_ELAPSED_NS, ev->elapsed_ns);
    /* The watchdog reports first and walks the stack after (the report
     * must not wait for it): a stack not known yet goes on the slice's
     * end, whose annotations Perfetto merges into the slice's. */
    l->blocked_stack = ev->stack;
    l->blocked_stack_shown = add_stack(s, &e, ev->stack);
    pf_emit_event(&s->w, &e, stamp(&l->last_ns, start));
    l->blocked_open = 1;
    l->blocked_task = ev->task;
}

static void loop_slice(struct pstate *s, struct ploop *l, const char *name, uint64_t name_iid,
                       uint64_t task, uint64_t start, uint64_t end) {
    pf_event e;
    pf_event_init(&e, T_BEGIN, pf_loop_uuid(l->id), name_iid, name);
    pf_arg_uint(&e, PF_A_TASK, task);
    pf_arg_uint(&e, PF_A_DURATION_NS, end - start);
    pf_emit_event(&s->w, &e, stamp(&l->last_ns, start));
    pf_event_init(&e, T_END, pf_loop_uuid(l->id), 0, NULL);
    pf_emit_event(&s->w, &e, stamp(&l->last_ns, end));
}

static void on_unblocked(struct pstate *s, const ts_ev_loop_unblocked *ev, uint64_t ns) {
    struct ploop *l = described_loop(s, ev->loop);
    if (l->blocked_open) {
        pf_event e;
        pf_event_init(&e, T_END, pf_loop_uuid(l->id), 0, NULL);
        pf_arg_uint(&e, PF_A_DURATION_NS, ev->duration_ns);
        if (!l->blocked_stack_shown)
            add_stack(s, &e, l->blocked_stack);
        pf_emit_event(&s->w, &e, stamp(&l->last_ns, ns));
        l->blocked_open = 0;
    } else { /* its loop_blocked was lost: draw it from the duration */
        char name[64];
        snprintf(name, sizeof name, "BLOCKED by task #%" PRIu64, ev->task);
        loop_slice(s, l, name, 0, ev->task, ns > ev->duration_ns ? ns - ev->duration_ns : ns, ns);
    }
    l->drawn_task = ev->task;
    l->drawn_dur = ev->duration_ns;
}

/* A step seen blocked also ends as a slow step (same task and duration):
 * drawn once, as the blocked episode. */
static void on_slow(struct pstate *s, const ts_ev_slow_step *ev, uint64_t ns) {
    struct ploop *l = described_loop(s, ev->loop);
    if (l->drawn_task == ev->task && l->drawn_dur == ev->duration_ns)
        return;
    if (l->blocked_open)
        return; /* inside the blocked slice already */
    loop_slice(s, l, NULL, PF_N_SLOW_STEP, ev->task,
               ns > ev->duration_ns ? ns - ev->duration_ns : ns, ns);
}

static void on_diagnostic(struct pstate *s, const ts_ev_diagnostic *ev, uint64_t ns) {
    struct ptask *t = find(s, ev->task);
    char sitebuf[256];
    pf_event e;
    pf_event_init(&e, T_INSTANT, t ? pf_task_uuid(t->id) : PF_PROCESS_UUID, PF_N_WARNING, NULL);
    pf_arg_uint(&e, PF_A_KIND, ev->kind);
    if (ev->task)
        pf_arg_uint(&e, PF_A_TASK, ev->task);
    if (ev->err)
        pf_arg_int(&e, PF_A_ERR, ev->err);
    if (ev->site)
        pf_arg_str(&e, PF_A_SITE, tm_model_site_text(s->names, ev->site, sitebuf, sizeof sitebuf));
    if (ev->message)
        pf_arg_str(&e, PF_A_MESSAGE, tm_model_string(s->names, ev->message));
    pf_emit_event(&s->w, &e, stamp(t ? &t->last_ns : &s->process_ns, ns));
}

static void on_event(const ts_ev_header *h, uint64_t ns, uint32_t tid, void *arg) {
    struct pstate *s = arg;
    tm_model_apply(s->names, h, ns, tid);
    if (s->oom)
        return;
    switch (h->type) {
    case TS_EV_loop_create: {
        const ts_ev_loop_create *e = (const void *)h;
        struct ploop *l = loop_of(s, e->loop);
        if (!l->described)
            l->tid = e->tid;
        described_loop(s, e->loop);
        break;
    }
    case TS_EV_task_create: {
        const ts_ev_task_create *e = (const void *)h;
        on_create(s, e->task, e->parent, e->loop, e->name, e->site, ns);
        break;
    }
    case TS_EV_task_state: { /* a state dump: a task alive before the recording */
        const ts_ev_task_state *e = (const void *)h;
        if (!find(s, e->task))
            on_create(s, e->task, e->parent, e->loop, e->name, e->site, ns);
        break;
    }
    case TS_EV_task_resume:
        on_resume(s, ((const ts_ev_task_resume *)h)->task, ns);
        break;
    case TS_EV_task_suspend:
        on_suspend(s, (const void *)h, ns);
        break;
    case TS_EV_task_wake:
        on_wake(s, (const void *)h, ns);
        break;
    case TS_EV_task_cancel:
        on_cancel(s, (const void *)h, ns);
        break;
    case TS_EV_task_done:
        on_done(s, (const void *)h, ns);
        break;
    case TS_EV_loop_blocked:
        on_blocked(s, (const void *)h, ns);
        break;
    case TS_EV_loop_unblocked:
        on_unblocked(s, (const void *)h, ns);
        break;
    case TS_EV_slow_step:
        on_slow(s, (const void *)h, ns);
        break;
    case TS_EV_diagnostic:
        on_diagnostic(s, (const void *)h, ns);
        break;
    default:
        break;
    }
}

int ts_export_perfetto(const char *path, FILE *out, char *err, size_t errlen) {
    return ts_export_perfetto_critical(path, out, NULL, 0, err, errlen);
}

int ts_export_perfetto_critical(const char *path, FILE *out, const ts_pf_edge *edges, size_t n,
                                char *err, size_t errlen) {
    struct pstate *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    ts_pf_edge *crit = NULL;
    if (n) {
        crit = malloc(n * sizeof *crit);
        if (!crit) {
            free(s);
            return -ENOMEM;
        }
        memcpy(crit, edges, n * sizeof *crit);
        qsort(crit, n, sizeof *crit, edge_cmp);
        s->crit = crit;
        s->ncrit = n;
    }
    s->w.out = out;
    s->names = tm_model_new();
    if (!s->names) {
        free(crit);
        free(s);
        return -ENOMEM;
    }
    char buf[256] = "", exe[256] = "";
    ts_store_read_meta(path, "pid", buf, sizeof buf);
    s->pid = (int32_t)strtol(buf, NULL, 10);
    ts_store_read_meta(path, "exe", exe, sizeof exe);
    const char *base = strrchr(exe, '/');
    pf_describe_process(&s->w, s->pid, base ? base + 1 : exe[0] ? exe : "taskscope recording");
    int rc = ts_store_replay_pid(path, ts_export_one_pid(path, "perfetto"), on_event, s,
                                 err, errlen);
    /* Close what was still open when the recording ended. */
    uint64_t end = tm_model_now(s->names);
    for (size_t i = 0; i < s->n; i++)
        close_open(s, &s->tasks[i], end);
    for (int i = 0; i < s->nloops; i++)
        if (s->loops[i].blocked_open) {
            pf_event e;
            pf_event_init(&e, T_END, pf_loop_uuid(s->loops[i].id), 0, NULL);
            pf_emit_event(&s->w, &e, stamp(&s->loops[i].last_ns, end));
        }
    if (!rc && s->oom) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    if (!rc && (s->w.error || fflush(out))) {
        snprintf(err, errlen, "write error: %s", strerror(errno));
        rc = -EIO;
    }
    if (s->sym)
        ts_symbolizer_free(s->sym);
    tm_idmap_free(&s->ids);
    free(s->tasks);
    tm_model_free(s->names);
    free(crit);
    free(s);
    return rc;
}
