/*
 * export.c - see export.h.  One pass over the recording in event order;
 * each task's open slice is remembered until the event that closes it.
 * A recording of several processes (forked children followed) is passed
 * over once per process, since ids are per process: each one's loops
 * are tracks of their own (track = loop + the process's track_base), and
 * named with the process's pid.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "idmap.h"
#include "model.h"
#include "report.h"
#include "store.h"

#define TS_LOG_TEXT_MAX 1024 /* the runtime's TS_LOG_MAX */

struct xtask {
    uint64_t id, loop;
    uint64_t run_start;      /* 0: not running */
    uint64_t await_start;    /* 0: not awaiting */
    uint32_t await_kind, await_site;
    uint64_t pending_flow;   /* flow id to end at the next resume */
    int first_run_done;
};

struct xstate {
    FILE *out;
    tm_model *names;         /* strings and sites, as they arrive */
    tm_idmap ids;
    struct xtask *tasks;
    size_t n, cap;
    uint64_t t0;
    uint64_t next_flow;
    int first;
    uint64_t loops_named[64];
    int nloops_named;
    struct {                 /* the last blocked episode drawn per loop */
        uint64_t loop, task, duration;
    } last_blocked[64];
    int nlast_blocked;
    uint64_t track_base;     /* added to loop ids: 0 for the traced process */
    int pid;                 /* named in the tracks when track_base != 0 */
};

/* A step seen blocked also ends as a slow step (same loop, task and
 * duration, stamped a moment later): it is drawn once, as the blocked
 * episode, or the two slices would overlap partially on the loop track. */
static int blocked_slot(const struct xstate *x, uint64_t loop) {
    int i = 0;
    while (i < x->nlast_blocked && x->last_blocked[i].loop != loop)
        i++;
    return i;
}

static void remember_blocked(struct xstate *x, uint64_t loop, uint64_t task, uint64_t dur) {
    int i = blocked_slot(x, loop);
    if (i == 64)
        return;
    if (i == x->nlast_blocked)
        x->nlast_blocked++;
    x->last_blocked[i].loop = loop;
    x->last_blocked[i].task = task;
    x->last_blocked[i].duration = dur;
}

static int drawn_as_blocked(const struct xstate *x, uint64_t loop, uint64_t task, uint64_t dur) {
    int i = blocked_slot(x, loop);
    return i < x->nlast_blocked && x->last_blocked[i].task == task &&
           x->last_blocked[i].duration == dur;
}

static double us(const struct xstate *x, uint64_t ns) { return (double)(ns - x->t0) / 1000.0; }

static void sep(struct xstate *x) {
    fputs(x->first ? "\n" : ",\n", x->out);
    x->first = 0;
}

static void name_loop(struct xstate *x, uint64_t loop) {
    for (int i = 0; i < x->nloops_named; i++)
        if (x->loops_named[i] == loop)
            return;
    if (x->nloops_named < 64)
        x->loops_named[x->nloops_named++] = loop;
    sep(x);
    fprintf(x->out, "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%" PRIu64
                    ",\"args\":{\"name\":\"loop %" PRIu64, loop + x->track_base, loop);
    if (x->track_base)
        fprintf(x->out, " (pid %d)", x->pid);
    fputs("\"}}", x->out);
}

static struct xtask *xt(struct xstate *x, uint64_t id) {
    uint32_t i;
    if (tm_idmap_get(&x->ids, id, &i))
        return &x->tasks[i];
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        struct xtask *t = realloc(x->tasks, cap * sizeof *t);
        if (!t)
            return NULL;
        x->tasks = t;
        x->cap = cap;
    }
    if (tm_idmap_put(&x->ids, id, (uint32_t)x->n) != 0)
        return NULL;
    struct xtask *t = &x->tasks[x->n++];
    memset(t, 0, sizeof *t);
    t->id = id;
    return t;
}

static void slice(struct xstate *x, uint64_t pid, uint64_t tid, const char *name,
                  uint64_t start, uint64_t end, const char *site) {
    sep(x);
    fprintf(x->out, "{\"ph\":\"X\",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64 ",\"ts\":%.3f,\"dur\":%.3f,"
                    "\"name\":", pid + x->track_base, tid, us(x, start),
            (double)(end - start) / 1000.0);
    tr_json_str(x->out, name);
    if (site && *site && strcmp(site, "-")) {
        fprintf(x->out, ",\"args\":{\"site\":");
        tr_json_str(x->out, site);
        fputc('}', x->out);
    }
    fputc('}', x->out);
}

static void flow(struct xstate *x, char ph, uint64_t id, uint64_t pid, uint64_t tid, uint64_t ns,
                 const char *name) {
    sep(x);
    fprintf(x->out, "{\"ph\":\"%c\",\"id\":%" PRIu64 ",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64
                    ",\"ts\":%.3f,\"name\":\"%s\",\"cat\":\"%s\"%s}",
            ph, id, pid + x->track_base, tid, us(x, ns), name, name,
            ph == 'f' ? ",\"bp\":\"e\"" : "");
}

static void close_await(struct xstate *x, struct xtask *t, uint64_t ns) {
    if (!t->await_start)
        return;
    char name[48], site[128];
    snprintf(name, sizeof name, "await %s", tm_wait_kind_name(t->await_kind));
    tm_model_site_text(x->names, t->await_site, site, sizeof site);
    slice(x, t->loop, t->id, name, t->await_start, ns, site);
    t->await_start = 0;
}

/* An instant on a task's track (its loop, its id), or a global one for a
 * task of 0: a log line, or a field the user set (issue 15). */
static void instant(struct xstate *x, uint64_t task, uint64_t ns, const char *name,
                    const char *key, const char *value) {
    struct xtask *t = task ? xt(x, task) : NULL;
    sep(x);
    fprintf(x->out, "{\"ph\":\"i\",\"s\":\"%s\",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64
                    ",\"ts\":%.3f,\"cat\":\"%s\",\"name\":", t ? "t" : "g", t ? t->loop : 0,
            t ? t->id : 0, us(x, ns), key ? "field" : "log");
    tr_json_str(x->out, name);
    fputs(",\"args\":{", x->out);
    if (key) {
        tr_json_str(x->out, key);
        fputc(':', x->out);
        tr_json_str(x->out, value);
    } else {
        fputs("\"text\":", x->out);
        tr_json_str(x->out, value);
    }
    fputs("}}", x->out);
}

/* A task_field as an instant, unless it repeats the value the task
 * already has (a state dump repeats every field).  Before the model
 * takes the record. */
static void field_instant(struct xstate *x, const ts_ev_task_field *e, uint64_t ns) {
    if (!e->key_len || e->key_len > e->len)
        return;
    char key[64], value[160];
    const char *text = (const char *)(e + 1);
    uint32_t vlen = e->len - e->key_len;
    snprintf(key, sizeof key, "%.*s", (int)e->key_len, text);
    snprintf(value, sizeof value, "%.*s", (int)vlen, text + e->key_len);
    const tm_field *f;
    size_t n = tm_model_task_fields(x->names, e->task, &f);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].key, key))
            if (!strcmp(f[i].value, value))
                return;
    char name[240];
    snprintf(name, sizeof name, vlen ? "%s=%s" : "%s removed", key, value);
    instant(x, e->task, ns, name, key, value);
}

static void on_event(const ts_ev_header *h, uint64_t ns, uint32_t tid, void *arg) {
    struct xstate *x = arg;
    if (!x->t0)
        x->t0 = ns;
    if (h->type == TS_EV_task_field)
        field_instant(x, (const void *)h, ns);
    tm_model_apply(x->names, h, ns, tid);
    switch (h->type) {
    case TS_EV_task_create: {
        const ts_ev_task_create *e = (const void *)h;
        struct xtask *t = xt(x, e->task);
        if (!t)
            return;
        t->loop = e->loop;
        name_loop(x, e->loop);
        sep(x);
        fprintf(x->out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%" PRIu64 ",\"tid\":%" PRIu64
                        ",\"args\":{\"name\":", e->loop + x->track_base, e->task);
        char label[160];
        snprintf(label, sizeof label, "#%" PRIu64 " %s", e->task, tm_model_string(x->names, e->name));
        tr_json_str(x->out, label);
        fputs("}}", x->out);
        struct xtask *p = e->parent ? xt(x, e->parent) : NULL;
        if (p && p->run_start) {
            t->pending_flow = ++x->next_flow;
            flow(x, 's', t->pending_flow, p->loop, p->id, ns, "spawn");
        }
        break;
    }
    case TS_EV_task_resume: {
        struct xtask *t = xt(x, ((const ts_ev_task_resume *)h)->task);
        if (!t)
            return;
        close_await(x, t, ns);
        t->run_start = ns;
        if (t->pending_flow) {
            flow(x, 'f', t->pending_flow, t->loop, t->id, ns,
                 t->first_run_done ? "wake" : "spawn");
            t->pending_flow = 0;
        }
        t->first_run_done = 1;
        break;
    }
    case TS_EV_task_suspend:
    case TS_EV_task_done: {
        uint64_t id = h->type == TS_EV_task_done ? ((const ts_ev_task_done *)h)->task
                                                 : ((const ts_ev_task_suspend *)h)->task;
        struct xtask *t = xt(x, id);
        if (!t)
            return;
        if (t->run_start) {
            slice(x, t->loop, t->id, "run", t->run_start, ns, NULL);
            t->run_start = 0;
        }
        if (h->type == TS_EV_task_suspend) {
            const ts_ev_task_suspend *e = (const void *)h;
            t->await_start = ns;
            t->await_kind = e->kind;
            t->await_site = e->site;
        }
        break;
    }
    case TS_EV_task_wake: {
        const ts_ev_task_wake *e = (const void *)h;
        struct xtask *t = xt(x, e->task);
        if (!t)
            return;
        close_await(x, t, ns);
        struct xtask *w = e->by_task ? xt(x, e->by_task) : NULL;
        if (w && w->run_start) {
            t->pending_flow = ++x->next_flow;
            flow(x, 's', t->pending_flow, w->loop, w->id, ns, "wake");
        }
        break;
    }
    case TS_EV_loop_unblocked: {
        const ts_ev_loop_unblocked *e = (const void *)h;
        char name[64];
        remember_blocked(x, e->loop, e->task, e->duration_ns);
        snprintf(name, sizeof name, "BLOCKED by task #%" PRIu64, e->task);
        name_loop(x, e->loop);
        uint64_t start = ns > e->duration_ns ? ns - e->duration_ns : x->t0;
        slice(x, e->loop, 0, name, start < x->t0 ? x->t0 : start, ns, NULL);
        break;
    }
    case TS_EV_slow_step: {
        const ts_ev_slow_step *e = (const void *)h;
        if (drawn_as_blocked(x, e->loop, e->task, e->duration_ns))
            break;
        char name[64];
        snprintf(name, sizeof name, "slow step: task #%" PRIu64, e->task);
        name_loop(x, e->loop);
        uint64_t start = ns > e->duration_ns ? ns - e->duration_ns : x->t0;
        slice(x, e->loop, 0, name, start < x->t0 ? x->t0 : start, ns, NULL);
        break;
    }
    case TS_EV_log: {
        const ts_ev_log *e = (const void *)h;
        char text[TS_LOG_TEXT_MAX + 1];
        snprintf(text, sizeof text, "%.*s", (int)e->len, (const char *)(e + 1));
        instant(x, e->task, ns, text, NULL, text);
        break;
    }
    default:
        break;
    }
}

/* One process's events (pid 0: the whole recording) into x. */
static int export_process(struct xstate *x, const char *path, int pid, char *err,
                          size_t errlen) {
    x->names = tm_model_new();
    if (!x->names)
        return -ENOMEM;
    int rc = ts_store_replay_pid(path, pid, on_event, x, err, errlen);
    /* Close what was still open when the recording ended. */
    for (size_t i = 0; i < x->n; i++) {
        struct xtask *t = &x->tasks[i];
        uint64_t end = tm_model_now(x->names);
        if (t->run_start)
            slice(x, t->loop, t->id, "run", t->run_start, end, NULL);
        close_await(x, t, end);
    }
    /* The loop-thread tracks (tid 0) get a name too. */
    for (int i = 0; i < x->nloops_named; i++) {
        sep(x);
        fprintf(x->out, "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%" PRIu64
                        ",\"tid\":0,\"args\":{\"name\":\"loop thread\"}}",
                x->loops_named[i] + x->track_base);
    }
    tm_idmap_free(&x->ids);
    free(x->tasks);
    tm_model_free(x->names);
    return rc;
}

int ts_export_chrome(const char *path, FILE *out, char *err, size_t errlen) {
    ts_store_proc procs[64];
    size_t n = 0;
    int rc = ts_store_processes(path, procs, 64, &n, err, errlen);
    if (rc)
        return rc;
    fprintf(out, "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"format_version\":%d},"
                 "\"traceEvents\":[", TR_FORMAT_VERSION);
    /* Shared across processes: the separator state, the time origin (the
     * traced process's first event: its children come later) and the
     * flow ids. */
    struct xstate x = {.out = out, .first = 1};
    for (size_t k = 0; k < n && k < 64 && !rc; k++) {
        struct xstate px = {.out = out, .first = x.first, .t0 = x.t0,
                            .next_flow = x.next_flow, .pid = procs[k].pid,
                            .track_base = (uint64_t)k * 100000};
        rc = export_process(&px, path, n > 1 ? procs[k].pid : 0, err, errlen);
        x.first = px.first;
        x.t0 = px.t0;
        x.next_flow = px.next_flow;
    }
    fputs("\n]}\n", out);
    return rc;
}

int ts_export_one_pid(const char *path, const char *format) {
    char buf[32] = "";
    ts_store_read_meta(path, "pid", buf, sizeof buf);
    int pid = (int)strtol(buf, NULL, 10);
    ts_store_proc procs[64];
    size_t np = 0;
    char err[256];
    if (pid > 0 && ts_store_processes(path, procs, 64, &np, err, sizeof err) == 0 && np > 1)
        fprintf(stderr, "taskscope export: %s draws process %d only; the recording's %zu "
                        "followed child process(es) are in --format chrome, and ps --pid N\n",
                format, pid, np - 1);
    return pid > 0 ? pid : 0;
}
