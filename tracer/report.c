/*
 * report.c - see report.h.  Text tables are fixed-width so they read in an
 * 80-column terminal; JSON is one document per report, stable field names.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "report.h"

void tr_json_str(FILE *out, const char *s) {
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

void tr_fmt_dur(char *buf, size_t len, uint64_t ns) {
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1fus", ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.1fms", ns / 1e6);
    else
        snprintf(buf, len, "%.2fs", ns / 1e9);
}

static const char *syscall_name(int nr) {
    switch (nr) {
    case -1: return "-";
#ifdef SYS_read
    case SYS_read: return "read";
#endif
#ifdef SYS_write
    case SYS_write: return "write";
#endif
#ifdef SYS_nanosleep
    case SYS_nanosleep: return "nanosleep";
#endif
#ifdef SYS_clock_nanosleep
    case SYS_clock_nanosleep: return "clock_nanosleep";
#endif
#ifdef SYS_poll
    case SYS_poll: return "poll";
#endif
#ifdef SYS_ppoll
    case SYS_ppoll: return "ppoll";
#endif
#ifdef SYS_select
    case SYS_select: return "select";
#endif
#ifdef SYS_pselect6
    case SYS_pselect6: return "pselect6";
#endif
#ifdef SYS_futex
    case SYS_futex: return "futex";
#endif
#ifdef SYS_connect
    case SYS_connect: return "connect";
#endif
#ifdef SYS_accept4
    case SYS_accept4: return "accept4";
#endif
#ifdef SYS_recvfrom
    case SYS_recvfrom: return "recvfrom";
#endif
#ifdef SYS_sendto
    case SYS_sendto: return "sendto";
#endif
#ifdef SYS_openat
    case SYS_openat: return "openat";
#endif
#ifdef SYS_fsync
    case SYS_fsync: return "fsync";
#endif
#ifdef SYS_wait4
    case SYS_wait4: return "wait4";
#endif
#ifdef SYS_epoll_wait
    case SYS_epoll_wait: return "epoll_wait";
#endif
#ifdef SYS_flock
    case SYS_flock: return "flock";
#endif
#ifdef SYS_fcntl
    case SYS_fcntl: return "fcntl";
#endif
    default: return NULL;
    }
}

void tr_syscall_text(char *buf, size_t len, int nr) {
    const char *n = syscall_name(nr);
    if (n)
        snprintf(buf, len, "%s", n);
    else
        snprintf(buf, len, "syscall %d", nr);
}

/* What a task awaits, in words: "sleep", "task #12", "lock 0x55..". */
void tr_awaits_text(const tm_model *m, const tm_task *t, char *buf, size_t len) {
    if (t->state != TM_SUSPENDED && !(t->state == TM_READY && t->wait_kind == 4)) {
        snprintf(buf, len, "-");
        return;
    }
    if (t->wait_kind == 1) {
        const tm_task *o = tm_model_task(m, t->wait_obj);
        snprintf(buf, len, "task #%" PRIu64 " %s", t->wait_obj,
                 o ? tm_model_string(m, o->name) : "");
    } else if (t->wait_kind == 3 || t->wait_kind == 4 || !t->wait_obj) {
        snprintf(buf, len, "%s", tm_wait_kind_name(t->wait_kind));
    } else if (t->wait_kind == 13) {
        snprintf(buf, len, "fd %" PRIu64, t->wait_obj);
    } else {
        snprintf(buf, len, "%s %#" PRIx64, tm_wait_kind_name(t->wait_kind), t->wait_obj);
    }
}

/* Opens a JSON report with {"source":"...", escaped: the source is a
 * file name, which may hold quotes or backslashes. */
static void json_head(FILE *out, const tr_opts *o) {
    fputs("{\"source\":", out);
    tr_json_str(out, o->source ? o->source : "");
    fputc(',', out);
}

static const char *warning_kind_name(tm_warning_kind k) {
    switch (k) {
    case TM_WARN_BLOCKED: return "blocked";
    case TM_WARN_SLOW_STEP: return "slow_step";
    case TM_WARN_NEVER_AWAITED: return "never_awaited";
    case TM_WARN_NEVER_RETRIEVED: return "never_retrieved";
    case TM_WARN_DEADLOCK: return "deadlock";
    case TM_WARN_STUCK: return "stuck";
    case TM_WARN_DESTROYED_PENDING: return "destroyed_pending";
    }
    return "other";
}

/* Closes a JSON report's list and adds the warnings, the JSON side of
 * tr_warnings: ],"warnings":[{"kind":..,"task":..,"text":..}]} */
static void json_tail(FILE *out, const tm_model *m) {
    fprintf(out, "],\"warnings\":[");
    for (size_t i = 0; i < tm_model_warning_count(m); i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        fprintf(out, "%s{\"kind\":\"%s\",\"task\":%" PRIu64 ",\"text\":", i ? "," : "",
                warning_kind_name(w->kind), w->task);
        tr_json_str(out, w->text);
        fputc('}', out);
    }
    fprintf(out, "]}\n");
}

static int task_listed(const tm_task *t, const tr_opts *o) {
    return t && (o->all || t->state < TM_DONE);
}

static void header(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t live = 0, total = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t)
            continue;
        total++;
        live += t->state < TM_DONE;
    }
    fprintf(out, "%s: %zu live tasks, %zu known, %zu loops, %" PRIu64 " events",
            o->source ? o->source : "trace", live, total, tm_model_loop_count(m),
            tm_model_events(m));
    if (tm_model_dropped(m))
        fprintf(out, ", %" PRIu64 " EVENTS DROPPED (the reader fell behind)", tm_model_dropped(m));
    fputc('\n', out);
}

void tr_ps(FILE *out, const tm_model *m, const tr_opts *o) {
    char age[16], busy[16], sched[16], idle[16], aw[64], asite[96], ssite[96];
    uint64_t now = tm_model_now(m);
    if (o->json) {
        fprintf(out, "{\"source\":");
        tr_json_str(out, o->source ? o->source : "");
        fprintf(out, ",\"dropped\":%" PRIu64 ",\"tasks\":[", tm_model_dropped(m));
    } else {
        header(out, m, o);
        fprintf(out, "%6s %-18s %-9s %8s %8s %8s %8s %6s  %-24s %-34s %s\n", "id", "name", "state",
                "age", "busy", "sched", "idle", "polls", "awaits", "await site", "spawn site");
    }
    int first = 1;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        uint64_t b, s, id;
        tm_task_times(m, t, &b, &s, &id);
        uint64_t end = t->state >= TM_DONE ? t->done_ns : now;
        tr_awaits_text(m, t, aw, sizeof aw);
        /* the await site only while it awaits: a finished task waits nowhere */
        tm_model_site_text(m, strcmp(aw, "-") ? t->await_site : 0, asite, sizeof asite);
        tm_model_site_text(m, t->site, ssite, sizeof ssite);
        if (o->json) {
            fprintf(out, "%s{\"id\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"loop\":%" PRIu64 ",\"name\":",
                    first ? "" : ",", t->id, t->parent, t->loop);
            tr_json_str(out, tm_task_name(m, t));
            fprintf(out, ",\"state\":\"%s\",\"age_ns\":%" PRIu64 ",\"busy_ns\":%" PRIu64
                         ",\"scheduled_ns\":%" PRIu64 ",\"idle_ns\":%" PRIu64 ",\"polls\":%" PRIu64
                         ",\"awaits\":\"%s\",\"awaits_object\":%" PRIu64 ",\"awaits_text\":",
                    tm_task_state_name(t), end - t->created_ns, b, s, id, t->polls,
                    tm_wait_kind_name(t->wait_kind), t->wait_obj);
            tr_json_str(out, aw);
            fprintf(out, ",\"await_site\":");
            tr_json_str(out, asite);
            fprintf(out, ",\"spawn_site\":");
            tr_json_str(out, ssite);
            fprintf(out, ",\"err\":%d,\"cancel_requests\":%u,\"warnings\":%u}", t->err,
                    t->cancel_requests, t->warnings);
            first = 0;
            continue;
        }
        tr_fmt_dur(age, sizeof age, end - t->created_ns);
        tr_fmt_dur(busy, sizeof busy, b);
        tr_fmt_dur(sched, sizeof sched, s);
        tr_fmt_dur(idle, sizeof idle, id);
        fprintf(out, "%6" PRIu64 " %-18.18s %-9s %8s %8s %8s %8s %6" PRIu64 "  %-24.24s %-34.34s %s%s\n",
                t->id, tm_task_name(m, t), tm_task_state_name(t), age, busy, sched, idle,
                t->polls, aw, asite, ssite, t->warnings ? "  !" : "");
    }
    if (o->json)
        json_tail(out, m);
    else
        tr_warnings(out, m, o);
}

/* ---- pstree ------------------------------------------------------------------ */

/* The listed tasks by parent id (then model order): a node finds its
 * children by binary search instead of a scan of every task, which made
 * pstree quadratic (50 s for the 50k tasks a flooded recording keeps). */
typedef struct kid_ref {
    uint64_t parent;
    size_t at;          /* index in the model */
} kid_ref;

typedef struct kid_index {
    kid_ref *v;
    size_t n;
} kid_index;

static int kid_cmp(const void *a, const void *b) {
    const kid_ref *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static int kid_index_build(kid_index *kx, const tm_model *m, const tr_opts *o) {
    size_t n = tm_model_task_count(m);
    kx->n = 0;
    kx->v = malloc((n ? n : 1) * sizeof *kx->v);
    if (!kx->v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (task_listed(t, o) && t->parent)
            kx->v[kx->n++] = (kid_ref){t->parent, i};
    }
    qsort(kx->v, kx->n, sizeof *kx->v, kid_cmp);
    return 0;
}

/* The first entry whose parent is id (or kx->n). */
static size_t kid_first(const kid_index *kx, uint64_t id) {
    size_t lo = 0, hi = kx->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kx->v[mid].parent < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void tree_node(FILE *out, const tm_model *m, const kid_index *kx, const tm_task *t,
                      const tr_opts *o, char *prefix, size_t plen, int last, int depth,
                      int *first) {
    char aw[64], asite[96];
    tr_awaits_text(m, t, aw, sizeof aw);
    tm_model_site_text(m, t->await_site, asite, sizeof asite);
    if (o->json) {
        fprintf(out, "%s{\"id\":%" PRIu64 ",\"parent\":%" PRIu64 ",\"depth\":%d,\"name\":",
                *first ? "" : ",", t->id, t->parent, depth);
        tr_json_str(out, tm_task_name(m, t));
        fprintf(out, ",\"state\":\"%s\",\"awaits\":", tm_task_state_name(t));
        tr_json_str(out, aw);
        fprintf(out, ",\"await_site\":");
        tr_json_str(out, asite);
        fprintf(out, "}");
        *first = 0;
    } else {
        fprintf(out, "%s%s#%" PRIu64 " %s [%s]", prefix, depth ? (last ? "└── " : "├── ") : "",
                t->id, tm_task_name(m, t), tm_task_state_name(t));
        if (strcmp(aw, "-"))
            fprintf(out, " awaits %s at %s", aw, asite);
        fputc('\n', out);
    }
    /* children: tasks whose parent is t */
    size_t from = kid_first(kx, t->id), to = from, kids = 0, seen = 0;
    for (; to < kx->n && kx->v[to].parent == t->id; to++)
        kids += tm_model_task_at(m, kx->v[to].at) != t;
    size_t add = depth ? 4 : 0;
    if (plen + add + 8 >= 512 || depth > 100)
        return;
    if (depth)
        memcpy(prefix + plen, last ? "    " : "│   ", last ? 5 : 7), add = last ? 4 : 6;
    prefix[plen + add] = 0;
    for (size_t k = from; k < to; k++) {
        const tm_task *c = tm_model_task_at(m, kx->v[k].at);
        if (c == t)
            continue;
        seen++;
        tree_node(out, m, kx, c, o, prefix, plen + add, seen == kids, depth + 1, first);
    }
    prefix[plen] = 0;
}

void tr_pstree(FILE *out, const tm_model *m, const tr_opts *o) {
    char prefix[520] = "";
    int first = 1;
    kid_index kx;
    if (kid_index_build(&kx, m, o)) {
        fprintf(stderr, "taskscope: out of memory\n");
        return;
    }
    if (o->json) {
        json_head(out, o);
        fprintf(out, "\"dropped\":%" PRIu64 ",\"tasks\":[", tm_model_dropped(m));
    } else {
        header(out, m, o);
    }
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!task_listed(t, o))
            continue;
        const tm_task *p = tm_model_task(m, t->parent);
        if (p && task_listed(p, o) && p != t)
            continue; /* printed under its parent */
        tree_node(out, m, &kx, t, o, prefix, 0, 1, 0, &first);
    }
    free(kx.v);
    if (o->json)
        json_tail(out, m);
    else
        tr_warnings(out, m, o);
}

/* ---- blocked ------------------------------------------------------------------- */

void tr_blocked(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o) {
    for (size_t i = 0; i < tm_model_module_count(m); i++) {
        const tm_module *mod = tm_model_module_at(m, i);
        ts_symbolizer_add_module(sym, mod->start, mod->end, mod->offset,
                                 tm_model_string(m, mod->path));
    }
    if (o->json) {
        json_head(out, o);
        fprintf(out, "\"dropped\":%" PRIu64 ",\"episodes\":[", tm_model_dropped(m));
    } else {
        header(out, m, o);
    }
    size_t n = tm_model_blocked_count(m);
    if (!n && !o->json)
        fprintf(out, "no blocked loop and no slow step recorded\n");
    for (size_t i = 0; i < n; i++) {
        const tm_blocked *b = tm_model_blocked_at(m, i);
        const tm_task *t = tm_model_task(m, b->task);
        char dur[16], sc[32], ssite[96];
        tr_fmt_dur(dur, sizeof dur, b->duration_ns ? b->duration_ns : b->seen_elapsed_ns);
        tr_syscall_text(sc, sizeof sc, b->syscall);
        tm_model_site_text(m, t ? t->site : 0, ssite, sizeof ssite);
        const char *what = b->slow_only     ? "slow step"
                           : b->end_unseen ? "blocked at least"
                           : b->duration_ns ? "blocked"
                                            : "BLOCKED NOW";
        const char *state = b->slow_only ? "-" : b->syscall >= 0 ? "blocked in syscall"
                                              : b->thread_state == 'R' ? "busy on CPU" : "off CPU";
        uint32_t depth = 0;
        const uint64_t *pcs = tm_model_stack(m, b->stack, &depth);
        if (o->json) {
            fprintf(out, "%s{\"kind\":\"%s\",\"loop\":%" PRIu64 ",\"task\":%" PRIu64 ",\"task_name\":",
                    i ? "," : "", b->slow_only ? "slow_step" : "blocked", b->loop, b->task);
            tr_json_str(out, t ? tm_model_string(m, t->name) : "");
            fprintf(out, ",\"duration_ns\":%" PRIu64 ",\"ongoing\":%s,\"thread_state\":\"%c\","
                         "\"syscall\":%d,\"syscall_name\":\"%s\",\"spawn_site\":",
                    b->duration_ns ? b->duration_ns : b->seen_elapsed_ns,
                    b->duration_ns || b->slow_only ? "false" : "true",
                    b->thread_state ? b->thread_state : '-', b->syscall, sc);
            tr_json_str(out, ssite);
            fprintf(out, ",\"stack\":[");
        } else {
            fprintf(out, "\n%s %s: loop %" PRIu64 ", task #%" PRIu64 " %s (spawned at %s)\n", what,
                    dur, b->loop, b->task, t ? tm_model_string(m, t->name) : "?", ssite);
            if (!b->slow_only)
                fprintf(out, "  thread %u %s%s%s\n", b->tid, state,
                        b->syscall >= 0 ? ": " : "", b->syscall >= 0 ? sc : "");
        }
        for (uint32_t k = 0; k < depth; k++) {
            ts_frame f;
            ts_symbolize(sym, pcs[k], k > 0, &f);
            if (o->json) {
                fprintf(out, "%s{\"pc\":\"%#" PRIx64 "\",\"function\":", k ? "," : "", f.pc);
                tr_json_str(out, f.function);
                fprintf(out, ",\"file\":");
                tr_json_str(out, f.file);
                fprintf(out, ",\"line\":%d,\"module\":", f.line);
                tr_json_str(out, f.module);
                fprintf(out, "}");
            } else {
                const char *base = strrchr(f.file, '/');
                fprintf(out, "    #%-2u %#014" PRIx64 " %s", k, f.pc, f.function);
                if (f.file[0])
                    fprintf(out, " at %s:%d", base ? base + 1 : f.file, f.line);
                if (f.module[0])
                    fprintf(out, " (%s)", f.module);
                fputc('\n', out);
            }
        }
        if (o->json)
            fprintf(out, "]}");
    }
    if (o->json)
        json_tail(out, m);
    else
        tr_warnings(out, m, o);
}

/* ---- stats -------------------------------------------------------------------- */

struct name_stats {
    uint32_t name;
    uint64_t count, polls;
    uint64_t *busy;          /* per task, for percentiles */
    size_t nbusy, cap;
    uint32_t hist[TM_HIST_BUCKETS];
    uint64_t max_poll;
};

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p) {
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* Percentile of poll time from a log2 histogram: the bucket's upper bound. */
static uint64_t hist_pct(const uint32_t *h, double p) {
    uint64_t total = 0;
    for (int i = 0; i < TM_HIST_BUCKETS; i++)
        total += h[i];
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(p * (double)total + 0.5), acc = 0;
    for (int i = 0; i < TM_HIST_BUCKETS; i++) {
        acc += h[i];
        if (acc >= want && acc)
            return (1ull << i) * 1000;
    }
    return (1ull << (TM_HIST_BUCKETS - 1)) * 1000;
}

void tr_stats(FILE *out, const tm_model *m, const tr_opts *o) {
    struct name_stats *ns = NULL;
    size_t nn = 0;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t)
            continue;
        size_t k;
        for (k = 0; k < nn && ns[k].name != t->name; k++)
            ;
        if (k == nn) {
            struct name_stats *p = realloc(ns, (nn + 1) * sizeof *ns);
            if (!p)
                break;
            ns = p;
            memset(&ns[nn++], 0, sizeof *ns);
            ns[k].name = t->name;
        }
        struct name_stats *s = &ns[k];
        uint64_t b, sc, id;
        tm_task_times(m, t, &b, &sc, &id);
        s->count++;
        s->polls += t->polls;
        if (s->nbusy == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 16;
            uint64_t *p = realloc(s->busy, cap * sizeof *p);
            if (!p)
                continue;
            s->busy = p;
            s->cap = cap;
        }
        s->busy[s->nbusy++] = b;
        for (int h = 0; h < TM_HIST_BUCKETS; h++)
            s->hist[h] += t->hist[h];
        if (t->max_poll_ns > s->max_poll)
            s->max_poll = t->max_poll_ns;
    }
    if (o->json) {
        json_head(out, o);
        fprintf(out, "\"dropped\":%" PRIu64 ",\"names\":[", tm_model_dropped(m));
    } else {
        header(out, m, o);
        fprintf(out, "%-20s %7s %9s %9s %9s %9s %9s %9s %9s\n", "task name", "count", "polls",
                "busy p50", "busy p90", "busy p99", "poll p50", "poll p99", "poll max");
    }
    for (size_t k = 0; k < nn; k++) {
        struct name_stats *s = &ns[k];
        qsort(s->busy, s->nbusy, sizeof *s->busy, cmp_u64);
        uint64_t v[6] = {pct(s->busy, s->nbusy, .5), pct(s->busy, s->nbusy, .9),
                         pct(s->busy, s->nbusy, .99), hist_pct(s->hist, .5),
                         hist_pct(s->hist, .99), s->max_poll};
        /* A bucket's upper bound may lie above the slowest poll seen. */
        for (int j = 3; j < 5; j++)
            if (v[j] > s->max_poll)
                v[j] = s->max_poll;
        if (o->json) {
            fprintf(out, "%s{\"name\":", k ? "," : "");
            tr_json_str(out, tm_model_string(m, s->name));
            fprintf(out, ",\"count\":%" PRIu64 ",\"polls\":%" PRIu64 ",\"busy_p50_ns\":%" PRIu64
                         ",\"busy_p90_ns\":%" PRIu64 ",\"busy_p99_ns\":%" PRIu64
                         ",\"poll_p50_ns\":%" PRIu64 ",\"poll_p99_ns\":%" PRIu64
                         ",\"poll_max_ns\":%" PRIu64 "}",
                    s->count, s->polls, v[0], v[1], v[2], v[3], v[4], v[5]);
        } else {
            char d[6][16];
            for (int j = 0; j < 6; j++)
                tr_fmt_dur(d[j], sizeof d[j], v[j]);
            fprintf(out, "%-20.20s %7" PRIu64 " %9" PRIu64 " %9s %9s %9s %9s %9s %9s\n",
                    tm_model_string(m, s->name), s->count, s->polls, d[0], d[1], d[2], d[3],
                    d[4], d[5]);
        }
        free(s->busy);
    }
    free(ns);
    if (o->json) {
        fprintf(out, "],\"loops\":[");
    } else {
        fprintf(out, "\n%-8s %8s %10s %10s %10s %8s\n", "loop", "tid", "steps", "lag avg",
                "lag max", "blocked");
    }
    for (size_t i = 0; i < tm_model_loop_count(m); i++) {
        const tm_loop *l = tm_model_loop_at(m, i);
        size_t blocked = 0;
        for (size_t b = 0; b < tm_model_blocked_count(m); b++)
            blocked += tm_model_blocked_at(m, b)->loop == l->id;
        uint64_t avg = l->lag_count ? l->lag_sum_ns / l->lag_count : 0;
        if (o->json) {
            fprintf(out, "%s{\"loop\":%" PRIu64 ",\"tid\":%u,\"steps\":%" PRIu64
                         ",\"lag_avg_ns\":%" PRIu64 ",\"lag_max_ns\":%" PRIu64 ",\"blocked\":%zu}",
                    i ? "," : "", l->id, l->tid, l->steps, avg, l->max_lag_ns, blocked);
        } else {
            char a[16], mx[16];
            tr_fmt_dur(a, sizeof a, avg);
            tr_fmt_dur(mx, sizeof mx, l->max_lag_ns);
            fprintf(out, "%-8" PRIu64 " %8u %10" PRIu64 " %10s %10s %8zu\n", l->id, l->tid,
                    l->steps, a, mx, blocked);
        }
    }
    if (o->json)
        json_tail(out, m);
    else
        tr_warnings(out, m, o);
}

size_t tr_warnings(FILE *out, const tm_model *m, const tr_opts *o) {
    size_t n = tm_model_warning_count(m);
    if (o->json || !n)
        return n;
    fprintf(out, "\nwarnings:\n");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  ! %s\n", tm_model_warning_at(m, i)->text);
    return n;
}
