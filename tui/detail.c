/*
 * detail.c - the detail views: one task (asyncio's current_task view, for
 * any task) and one resource.
 *
 * Built fresh on every refresh from the model, as lines for the line
 * view; lines that name another task or resource are links (Enter).
 * Lists that could be huge (children, awaiters, waiters) are capped, so
 * a task with 100k children costs one scan of the tasks, not 100k lines.
 */
#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "report.h"

#define LIST_CAP 200
#define CHAIN_CAP 32

static const char *tname(const tm_model *m, uint64_t id) {
    const tm_task *t = tm_model_task(m, id);
    return t ? tm_model_string(m, t->name) : "(unknown)";
}

static void warning_names(uint32_t w, char *buf, size_t len) {
    static const char *const names[] = {"blocked the loop", "slow step", "never awaited",
                                        "error never retrieved", "deadlock", "stuck",
                                        "destroyed pending"};
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < 7; i++)
        if (w & (1u << i))
            n += (size_t)snprintf(buf + n, len > n ? len - n : 0, "%s%s", n ? ", " : "", names[i]);
    if (!n)
        snprintf(buf, len, "none");
}

/* The task a suspended task waits for, if any (awaited task, lock holder). */
static uint64_t waits_for(const tm_model *m, const tm_task *t) {
    if (t->state != TM_SUSPENDED)
        return 0;
    if (t->wait_kind == 1)
        return t->wait_obj;
    if (t->wait_kind == 5) {
        const tm_resource *r = tm_model_resource(m, t->wait_obj);
        return r ? r->holder : 0;
    }
    return 0;
}

static int waits_on_resource(uint32_t kind) { return kind >= 5 && kind <= 12; }

static void fields(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    char b1[160], b2[160], b3[64], b4[64];
    uint64_t busy, sched, idle, now = tm_model_now(m);
    tm_task_times(m, t, &busy, &sched, &idle);
    tr_fmt_dur(b3, sizeof b3, now > t->state_since_ns ? now - t->state_since_ns : 0);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  state       %s%s%s", tm_state_name(t->state),
             t->state < TM_DONE ? " for " : "", t->state < TM_DONE ? b3 : "");
    if (t->parent)
        tui_emit(a, ST_ACCENT, LINK_TASK, t->parent, "  parent      #%" PRIu64 " %s", t->parent,
                 tname(m, t->parent));
    else
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  parent      - (spawned outside any task)");
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  loop        %" PRIu64, t->loop);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  spawned at  %s",
             tm_model_site_text(m, t->site, b1, sizeof b1));
    /* the user's own fields (ts_task_set_field), one per line */
    const tm_field *uf;
    size_t nf = tm_model_task_fields(m, t->id, &uf);
    for (size_t i = 0; i < nf && i < LIST_CAP; i++) {
        char text[400];
        snprintf(text, sizeof text, "%s = %s", uf[i].key, uf[i].value);
        tui_emit_wrapped(a, ST_NORMAL, LINK_NONE, 0, i ? "              " : "  fields      ", 14,
                         text);
    }
    if (t->state == TM_SUSPENDED || (t->state == TM_READY && t->wait_kind == 4)) {
        tr_awaits_text(m, t, b2, sizeof b2);
        tm_model_site_text(m, t->await_site, b1, sizeof b1);
        tui_link link = t->wait_kind == 1 ? LINK_TASK
                        : waits_on_resource(t->wait_kind) && tm_model_resource(m, t->wait_obj)
                            ? LINK_RESOURCE : LINK_NONE;
        char text[400];
        snprintf(text, sizeof text, "%s at %s", b2, b1);
        tui_emit_wrapped(a, link ? ST_ACCENT : ST_NORMAL, link, t->wait_obj, "  awaits      ", 14,
                         text);
    }
    tui_fmt_at(a, b1, sizeof b1, t->created_ns);
    tui_fmt_at(a, b2, sizeof b2, t->state >= TM_DONE ? t->done_ns : 0);
    tr_fmt_dur(b3, sizeof b3, (t->state >= TM_DONE ? t->done_ns : now) - t->created_ns);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  created     %s   finished %s   age %s", b1, b2, b3);
    char d1[24], d2[24], d3[24];
    tr_fmt_dur(d1, sizeof d1, busy);
    tr_fmt_dur(d2, sizeof d2, sched);
    tr_fmt_dur(d3, sizeof d3, idle);
    tr_fmt_dur(b4, sizeof b4, t->max_poll_ns);
    /* two short lines rather than one that falls off an 80-column screen */
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  times       busy %s   scheduled %s   idle %s", d1, d2,
             d3);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  polls       %" PRIu64 "   longest poll %s", t->polls,
             b4);
    if (t->state == TM_FAILED || t->state == TM_CANCELLED || t->err) {
        char text[400];
        snprintf(text, sizeof text, "%s, error %d%s%s", tm_state_name(t->state), t->err,
                 t->err_message ? ": " : "", tui_strip_prefix(tm_model_string(m, t->err_message)));
        tui_emit_wrapped(a, t->state == TM_FAILED ? ST_BAD : ST_WARN, LINK_NONE, 0,
                         "  result      ", 14, text);
    }
    else if (t->state == TM_DONE)
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  result      done");
    if (t->woken_by)
        tui_emit(a, ST_ACCENT, LINK_TASK, t->woken_by, "  woken by    #%" PRIu64 " %s",
                 t->woken_by, tname(m, t->woken_by));
    uint32_t pending = tui_cancels_pending(t);
    if (pending || !t->cancel_requests || t->state >= TM_DONE)
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  cancel      %u request(s) pending, %u made in all",
                 pending, t->ncancels);
    else /* asyncio's cancelling(): delivered, not taken back (uncancel) */
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  cancel      0 pending (%u delivered), %u made in all",
                 t->cancel_requests, t->ncancels);
    uint32_t by = tm_model_task_canceller(m, t->id);
    if (by)
        tui_emit(a, ST_WARN, LINK_NONE, 0, "  cancelled   by taskscope cancel (pid %u)", by);
    warning_names(t->warnings, b1, sizeof b1);
    tui_emit(a, t->warnings ? ST_BAD : ST_NORMAL, LINK_NONE, 0, "  warnings    %s%s",
             t->warnings ? "! " : "", b1);
}

/* Down: what this task waits for, and what that waits for, ... */
static void await_chain(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Await chain (what it waits for)");
    if (t->state != TM_SUSPENDED) {
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (%s)", tm_state_name(t->state));
        return;
    }
    const tm_task *c = t;
    for (int depth = 0; c && depth < CHAIN_CAP; depth++) {
        char aw[160], site[160];
        tr_awaits_text(m, c, aw, sizeof aw);
        tm_model_site_text(m, c->await_site, site, sizeof site);
        char head[80], text[480];
        snprintf(head, sizeof head, "  %*s", depth * 2, "");
        if (depth) {
            snprintf(text, sizeof text, "#%" PRIu64 " %s [%s] awaits %s at %s", c->id,
                     tm_model_string(m, c->name), tm_state_name(c->state),
                     c->state == TM_SUSPENDED ? aw : "nothing", site);
            tui_emit_wrapped(a, ST_ACCENT, LINK_TASK, c->id, head, depth * 2 + 4, text);
        } else {
            snprintf(text, sizeof text, "awaits %s at %s", aw, site);
            tui_emit_wrapped(a, ST_NORMAL, LINK_NONE, 0, head, 4, text);
        }
        if (c->state == TM_SUSPENDED && c->wait_kind == 5) {
            const tm_resource *r = tm_model_resource(m, c->wait_obj);
            char rt[200];
            if (r && r->holder)
                tui_emit(a, ST_ACCENT, LINK_RESOURCE, r->id,
                         "  %*s%s is held by #%" PRIu64 " %s", depth * 2 + 1, "",
                         tm_resource_text(m, 5, r->id, rt, sizeof rt), r->holder,
                         tname(m, r->holder));
        }
        uint64_t next = waits_for(m, c);
        if (next == t->id) {
            tui_emit(a, ST_BAD, LINK_TASK, next, "  %*s-> back to #%" PRIu64 ": a DEADLOCK cycle",
                     depth * 2 + 2, "", next);
            break;
        }
        c = next ? tm_model_task(m, next) : NULL;
    }
}

static const char *stack_flags_text(uint32_t flags) {
    if (flags & TM_STACK_NO_WALK)
        return "this runtime build cannot walk parked stacks (ucontext backend)";
    if (flags & TM_STACK_BAD_FP)
        return "the frame-pointer chain left the task's stack here";
    if (flags & TM_STACK_TRUNCATED)
        return "deeper frames not recorded";
    return NULL;
}

/* The stack the latest state dump walked for the task while it was
 * parked (`taskscope where`), innermost first; no section when none is
 * known.  Symbolized through the view's cache (tui_symbolize), as the
 * blocked episodes' stacks are, so a refresh does not run libdw again. */
static void stack(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    tm_task_stack st;
    int have = tm_model_task_stack(m, t->id, &st) == 0;
    /* live, a parked task's stack comes with the next state dump */
    if ((t->state == TM_SUSPENDED || (t->state == TM_READY && t->polls)) &&
        (!have || t->state_since_ns > st.ns))
        tui_src_want_stacks(a->src);
    if (t->state >= TM_DONE || !have)
        return;
    char at[32], ago[24];
    tui_fmt_at(a, at, sizeof at, st.ns);
    tr_fmt_dur(ago, sizeof ago, tm_model_now(m) > st.ns ? tm_model_now(m) - st.ns : 0);
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Stack (%u frame%s, taken at %s, %s ago)", st.depth,
             st.depth == 1 ? "" : "s", at, ago);
    if (t->state_since_ns > st.ns || t->state == TM_RUNNING)
        tui_emit(a, ST_WARN, LINK_NONE, 0,
                 "  (taken before the task last ran: it may be elsewhere now)");
    for (uint32_t k = 0; k < st.depth; k++) {
        if (!tui_emit_wanted(a)) {
            tui_emit_skip(a, LINK_NONE);
            continue;
        }
        const ts_frame *f = tui_symbolize(a, st.pcs[k], k > 0);
        const char *base = strrchr(f->file, '/');
        char where[240] = "";
        if (f->file[0])
            snprintf(where, sizeof where, " at %s:%d", base ? base + 1 : f->file, f->line);
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  #%-2u %s%s%s%s%s", k, f->function, where,
                 f->module[0] ? " (" : "", f->module, f->module[0] ? ")" : "");
    }
    const char *why = stack_flags_text(st.flags);
    if (why)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  ... %s", why);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* Up: the tasks awaiting this one, and theirs, breadth first; one scan of
 * the tasks per level. */
static void awaiters(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Awaited by");
    uint64_t level[LIST_CAP];
    size_t nlevel = 1, shown = 0, total = 0;
    level[0] = t->id;
    for (int depth = 1; depth <= 8 && nlevel && shown < LIST_CAP; depth++) {
        uint64_t next[LIST_CAP];
        size_t nnext = 0;
        qsort(level, nlevel, sizeof *level, cmp_u64);
        for (size_t i = 0; i < tm_model_task_count(m); i++) {
            const tm_task *w = tm_model_task_at(m, i);
            if (!w || w->state != TM_SUSPENDED || w->wait_kind != 1 || w->id == t->id ||
                !bsearch(&w->wait_obj, level, nlevel, sizeof *level, cmp_u64))
                continue;
            total++;
            if (shown < LIST_CAP) {
                char site[160];
                tm_model_site_text(m, w->await_site, site, sizeof site);
                tui_emit(a, ST_ACCENT, LINK_TASK, w->id, "  %*s#%" PRIu64 " %s awaits #%" PRIu64 " at %s",
                         (depth - 1) * 2, "", w->id, tm_model_string(m, w->name), w->wait_obj, site);
                shown++;
            }
            if (nnext < LIST_CAP)
                next[nnext++] = w->id;
        }
        memcpy(level, next, nnext * sizeof *next);
        nlevel = nnext;
    }
    if (!total)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (no task awaits it)");
    else if (total > shown)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  ... and %zu more", total - shown);
}

/* Resources it holds now (locks it owns, permits it took last). */
static void holds(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    size_t n = 0;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Holds");
    for (size_t i = 0; i < tm_model_resource_count(m); i++) {
        const tm_resource *r = tm_model_resource_at(m, i);
        /* locks and semaphores only: a queue's "taker" took an item,
         * it holds nothing */
        if (r->freed || r->holder != t->id || !r->held || (r->kind != 1 && r->kind != 4))
            continue;
        char rt[200];
        if (n++ < LIST_CAP)
            tui_emit(a, ST_ACCENT, LINK_RESOURCE, r->id, "  %s",
                     tm_resource_text(m, 0, r->id, rt, sizeof rt));
    }
    if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (no lock or semaphore)");
}

static void children(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    size_t n = 0;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Children (%u spawned)", t->nchildren);
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *c = tm_model_task_at(m, i);
        if (!c || c->parent != t->id || c->id == t->id)
            continue;
        if (n++ < LIST_CAP)
            tui_emit(a, c->state >= TM_DONE ? ST_DIM : ST_ACCENT, LINK_TASK, c->id,
                     "  #%" PRIu64 " %s [%s]%s", c->id, tm_model_string(m, c->name),
                     tm_state_name(c->state), c->warnings ? " !" : "");
    }
    if (n > LIST_CAP)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  ... and %zu more (t in the Tasks view shows the tree)",
                 n - LIST_CAP);
    else if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (none known%s)", t->nchildren ? " any more" : "");
}

static void cancels(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Cancel history (%u request%s)", t->ncancels,
             t->ncancels == 1 ? "" : "s");
    uint32_t n = t->ncancels < TM_CANCEL_HISTORY ? t->ncancels : TM_CANCEL_HISTORY;
    for (uint32_t i = 0; i < n; i++) {
        const tm_cancel *c = &t->cancels[(t->ncancels - n + i) % TM_CANCEL_HISTORY];
        char at[32];
        tui_fmt_at(a, at, sizeof at, c->ns);
        const char *msg = tm_model_string(m, c->message);
        if (c->by_task)
            tui_emit(a, ST_ACCENT, LINK_TASK, c->by_task, "  %s by #%" PRIu64 " %s%s%s", at,
                     c->by_task, tname(m, c->by_task), *msg ? ": " : "", msg);
        else
            tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  %s from outside any task%s%s", at,
                     *msg ? ": " : "", msg);
    }
    if (t->ncancels > n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  (%u earlier not kept)", t->ncancels - n);
}

/* One line per histogram: a sparkline over log2 bins of its range, then
 * the percentiles of the HDR histogram (the same one `taskscope stats`
 * reads, so the figures agree). */
static void hdr_line(tui_app *a, const char *what, const ts_hdr *h, const uint32_t *bins) {
    if (!h->total) {
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  %-10s - (none seen)", what);
        return;
    }
    char spark[TUI_WATCH_BINS * 4 + 1], lo[24], hi[24], p50[24], p90[24], p99[24], max[24];
    uint64_t l = 0, u = 0;
    tui_watch_sparkline(bins, a->utf8, spark, sizeof spark, &l, &u);
    tr_fmt_dur(lo, sizeof lo, l);
    tr_fmt_dur(hi, sizeof hi, u);
    tr_fmt_dur(p50, sizeof p50, ts_hdr_value_at(h, 50));
    tr_fmt_dur(p90, sizeof p90, ts_hdr_value_at(h, 90));
    tr_fmt_dur(p99, sizeof p99, ts_hdr_value_at(h, 99));
    tr_fmt_dur(max, sizeof max, h->max);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  %-10s p50 %s  p90 %s  p99 %s  max %s  (%" PRIu64 ")",
             what, p50, p90, p99, max, h->total);
    tui_emit(a, ST_ACCENT, LINK_NONE, 0, "  %-10s %s |%s| %s", "", lo, spark, hi);
}

static void histogram(tui_app *a, const tm_task *t) {
    tui_src *s = a->src;
    tui_src_watch(s, t->id);
    const tui_watch *w = &s->watch;
    char since[80] = "";
    if (w->since_ns) {
        char at[32];
        tui_fmt_at(a, at, sizeof at, w->since_ns);
        snprintf(since, sizeof since, ", since %s when this view opened", at);
    }
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Poll and scheduled times (%" PRIu64 " polls%s)", t->polls,
             since);
    hdr_line(a, "poll", &w->poll, w->poll_bins);
    hdr_line(a, "scheduled", &w->sched, w->sched_bins);
}

static void latest_events(tui_app *a, const tm_task *t) {
    tui_event ev[TUI_RECENT_PER_TASK];
    size_t n = tui_recent_get(a->src->recent, t->id, ev, TUI_RECENT_PER_TASK);
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Latest events (newest first)");
    for (size_t i = 0; i < n; i++) {
        char text[400];
        tui_recent_format(a->src->model, &ev[i], a->src->t0, text, sizeof text);
        tui_emit_wrapped(a, ev[i].type >= TS_EV_slow_step ? ST_WARN : ST_NORMAL, LINK_NONE, 0, "  ",
                         16, text);
    }
    if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (none seen since the TUI started)");
}

static void episodes(tui_app *a, const tm_task *t) {
    const tm_model *m = a->src->model;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Blocked episodes and slow steps it caused");
    size_t n = 0;
    for (size_t i = tm_model_blocked_count(m); i-- > 0 && n < 20;) {
        const tm_blocked *b = tm_model_blocked_at(m, i);
        if (b->task != t->id)
            continue;
        tui_emit_episode(a, b);
        n++;
    }
    if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (none)");
}

void tui_build_task(tui_app *a) {
    const tm_model *m = a->src->model;
    const tm_task *t = tm_model_task(m, a->subject);
    if (!t) {
        tui_emit(a, ST_WARN, LINK_NONE, 0,
                 "Task #%" PRIu64 " is not in the model (yet, or any more: finished tasks are "
                 "forgotten oldest first)", a->subject);
        return;
    }
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Task #%" PRIu64 " %s", t->id, tm_model_string(m, t->name));
    fields(a, t);
    await_chain(a, t);
    stack(a, t);
    awaiters(a, t);
    holds(a, t);
    children(a, t);
    cancels(a, t);
    histogram(a, t);
    latest_events(a, t);
    episodes(a, t);
}

/* Waiters of one resource, oldest wait first. */
typedef struct waiter {
    uint64_t since, id;
} waiter;

static int cmp_waiter(const void *x, const void *y) {
    const waiter *a = x, *b = y;
    return a->since != b->since ? (a->since < b->since ? -1 : 1) : (a->id > b->id) - (a->id < b->id);
}

static const char *res_event_text(const tm_model *m, uint32_t kind, const tui_event *e, char *buf,
                                  size_t len) {
    int q = kind == 6; /* a queue's take and give are items got and put */
    switch (e->type) {
    case TS_EV_resource_create: snprintf(buf, len, "created"); break;
    case TS_EV_resource_free: snprintf(buf, len, "freed"); break;
    case TS_EV_resource_acquired:
        snprintf(buf, len, "%s by #%" PRIu64 " %s", q ? "item got" : "taken", e->obj,
                 tname(m, e->obj));
        break;
    case TS_EV_resource_release:
        if (e->obj)
            snprintf(buf, len, "%s by #%" PRIu64 " %s", q ? "item put" : "given back", e->obj,
                     tname(m, e->obj));
        else
            snprintf(buf, len, "%s from outside any task", q ? "item put" : "given back");
        break;
    case TS_EV_task_suspend:
        snprintf(buf, len, "#%" PRIu64 " %s starts to wait (%s)", e->obj, tname(m, e->obj),
                 tm_wait_kind_name(e->x));
        break;
    default: snprintf(buf, len, "event %u", e->type); break;
    }
    return buf;
}

void tui_build_resource(tui_app *a) {
    const tm_model *m = a->src->model;
    const tm_resource *r = tm_model_resource(m, a->subject);
    if (!r) {
        tui_emit(a, ST_WARN, LINK_NONE, 0, "Resource %#" PRIx64 " is not in the model", a->subject);
        return;
    }
    uint64_t now = tm_model_now(m);
    char site[160], at[32], dur[24], rt[200];
    tui_event hist[TUI_RECENT_PER_TASK];
    size_t nhist = a->src->res_recent
                       ? tui_recent_get(a->src->res_recent, r->id, hist, TUI_RECENT_PER_TASK)
                       : 0;
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "%s", tm_resource_text(m, 0, r->id, rt, sizeof rt));
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  kind        %s", tm_resource_kind_name(r->kind));
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  name        %s",
             r->name ? tm_model_string(m, r->name) : "-");
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  created at  %s",
             tm_model_site_text(m, r->site, site, sizeof site));
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  state       %s", r->freed ? "freed" : "alive");
    switch (r->kind) {
    case 1: /* lock: one holder, since its last take */
        if (r->holder && r->held) {
            uint64_t since = 0;
            for (size_t i = 0; i < nhist && !since; i++)
                if (hist[i].type == TS_EV_resource_acquired && hist[i].obj == r->holder)
                    since = hist[i].ns;
            if (since) {
                tui_fmt_at(a, at, sizeof at, since);
                tr_fmt_dur(dur, sizeof dur, now > since ? now - since : 0);
                tui_emit(a, ST_ACCENT, LINK_TASK, r->holder,
                         "  holder      #%" PRIu64 " %s since %s (%s)", r->holder,
                         tname(m, r->holder), at, dur);
            } else {
                tui_emit(a, ST_ACCENT, LINK_TASK, r->holder,
                         "  holder      #%" PRIu64 " %s since - (before the history kept)",
                         r->holder, tname(m, r->holder));
            }
        } else {
            tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  holder      - (free)");
        }
        break;
    case 4: /* semaphore */
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  permits     %u taken of %u", r->held, r->capacity);
        if (r->holder)
            tui_emit(a, ST_ACCENT, LINK_TASK, r->holder, "  last taker  #%" PRIu64 " %s",
                     r->holder, tname(m, r->holder));
        break;
    case 6: /* queue */
        if (r->capacity)
            tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  depth       %u item(s) of capacity %u", r->depth,
                     r->capacity);
        else
            tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  depth       %u item(s), unbounded", r->depth);
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  items taken %u", r->held);
        break;
    case 5: /* barrier */
        tui_emit(a, ST_NORMAL, LINK_NONE, 0, "  parties     %u", r->capacity);
        break;
    default: break;
    }

    /* waiters, longest waiting first: the order they queued in */
    size_t n = 0, cap = 0;
    waiter *wv = NULL;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t || t->state != TM_SUSPENDED || t->wait_obj != r->id || !waits_on_resource(t->wait_kind))
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            waiter *p = realloc(wv, c * sizeof *p);
            if (!p)
                break;
            wv = p;
            cap = c;
        }
        wv[n++] = (waiter){t->state_since_ns, t->id};
    }
    if (n)
        qsort(wv, n, sizeof *wv, cmp_waiter);
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Waiters (%zu, in the order they came)", n);
    for (size_t i = 0; i < n && i < LIST_CAP; i++) {
        const tm_task *t = tm_model_task(m, wv[i].id);
        if (!t)
            continue;
        tm_model_site_text(m, t->await_site, site, sizeof site);
        tr_fmt_dur(dur, sizeof dur, now > t->state_since_ns ? now - t->state_since_ns : 0);
        tui_emit(a, ST_ACCENT, LINK_TASK, t->id, "  %zu. #%" PRIu64 " %s waits %s (%s) at %s", i + 1,
                 t->id, tm_model_string(m, t->name), dur, tm_wait_kind_name(t->wait_kind), site);
    }
    free(wv);
    if (n > LIST_CAP)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  ... and %zu more", n - LIST_CAP);
    else if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (no task waits on it)");

    tui_emit(a, ST_SECTION, LINK_NONE, 0, "History (latest %d events, newest first)",
             TUI_RECENT_PER_TASK);
    for (size_t i = 0; i < nhist; i++) {
        char text[160];
        tui_fmt_at(a, at, sizeof at, hist[i].ns);
        res_event_text(m, r->kind, &hist[i], text, sizeof text);
        uint64_t task = hist[i].type == TS_EV_resource_create || hist[i].type == TS_EV_resource_free
                            ? 0 : hist[i].obj;
        tui_emit(a, ST_NORMAL, task ? LINK_TASK : LINK_NONE, task, "  %-10s %s", at, text);
    }
    if (!nhist)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (none seen%s)",
                 a->src->mode == TUI_LIVE ? " since the TUI started" : "");
}

/* Requests the task has not seen yet.  The runtime's count (asyncio's
 * cancelling()) stays up after the task sees -ECANCELED, until it takes
 * the request back; a reader asks whether the request still waits.  It
 * waits until the task changes state after the latest request (it
 * resumes, or runs on to its next await), and never once it finished. */
uint32_t tui_cancels_pending(const tm_task *t) {
    if (!t->cancel_requests || !t->ncancels || t->state >= TM_DONE)
        return 0;
    const tm_cancel *last = &t->cancels[(t->ncancels - 1) % TM_CANCEL_HISTORY];
    return t->state_since_ns > last->ns ? 0 : t->cancel_requests;
}

/* ---- the cancel key -------------------------------------------------------- */

#define CANCEL_WAIT_NS 5000000000ull /* as `taskscope cancel`'s --timeout */

int tui_task_key(tui_app *a, int key) {
    const tm_model *m = a->src->model;
    if (a->confirm_task) { /* the question in the footer: y sends, anything else does not */
        uint64_t id = a->confirm_task;
        a->confirm_task = 0;
        if (key != 'y' && key != 'Y') {
            tui_app_message(a, "task #%" PRIu64 " not cancelled", id);
            return 1;
        }
        char why[400];
        if (tui_src_cancel(a->src, id, &a->cancel, why, sizeof why) != 0) {
            tui_app_message(a, "task #%" PRIu64 " %s%s%s", id, a->cancel.name,
                            a->cancel.name[0] ? " " : "", why);
            return 1;
        }
        a->cancel_pending = 1;
        a->cancel_until = tui_wall_ns() + CANCEL_WAIT_NS;
        tui_app_message(a, "cancel of task #%" PRIu64 " sent; waiting for its loop", id);
        return 1;
    }
    if (key != 'K' && key != KEY_F(9))
        return 0;
    const tm_task *t = tm_model_task(m, a->subject);
    if (a->src->mode != TUI_LIVE || a->src->finished)
        tui_app_message(a, "cancel needs a live process (%s)",
                        a->src->mode == TUI_LIVE ? "it is gone" : "this is a replay");
    else if (a->cancel_pending)
        tui_app_message(a, "a cancel is already waiting for its answer");
    else if (!t || t->placeholder)
        tui_app_message(a, "task #%" PRIu64 " is not in the model", a->subject);
    else if (t->state >= TM_DONE)
        tui_app_message(a, "task #%" PRIu64 " has already finished (%s)", t->id,
                        tm_task_state_name(t));
    else {
        a->confirm_task = t->id;
        a->msg_until = 0; /* the question replaces any message */
        snprintf(a->confirm, sizeof a->confirm,
                 " Cancel task #%" PRIu64 " %s?  y: cancel it  any other key: keep it", t->id,
                 tm_task_name(m, t));
    }
    return 1;
}

void tui_cancel_poll(tui_app *a) {
    if (!a->cancel_pending)
        return;
    int result = 0;
    uint64_t id = a->cancel.task;
    if (tui_src_cancel_result(a->src, &a->cancel, &result) == 1) {
        a->cancel_pending = 0;
        if (result == 0) {
            tui_app_message(a, "cancelled task #%" PRIu64 " %s: it sees -ECANCELED at its next "
                            "await", id, a->cancel.name);
        } else {
            char why[160];
            ts_cancel_result_text(result, why, sizeof why);
            tui_app_message(a, "task #%" PRIu64 " %s %s", id, a->cancel.name, why);
        }
    } else if (tui_wall_ns() >= a->cancel_until || a->src->mode != TUI_LIVE || a->src->finished) {
        a->cancel_pending = 0;
        tui_app_message(a, "task #%" PRIu64 ": no answer within 5 s: its loop is blocked or "
                        "stopped; the request stays queued", id);
    }
}
