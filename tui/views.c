/*
 * views.c - the Loops, Resources, Warnings and help views, and the
 * symbolizer cache they share with the task detail.
 *
 * Stacks are symbolized with libdw (tracer/symbolize.h) through a small
 * direct-mapped cache keyed by address, so redrawing the Loops view ten
 * times a second does not walk DWARF ten times a second.  The modules the
 * model learns about are handed to the symbolizer as they appear.
 */
#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "report.h"

#define SYMCACHE 1024
#define EPISODES_SHOWN 50

struct tui_symcache {
    struct {
        uint64_t pc;
        int is_return, valid;
        ts_frame f;
    } e[SYMCACHE];
};

const ts_frame *tui_symbolize(tui_app *a, uint64_t pc, int is_return) {
    static ts_frame none;
    const tm_model *m = a->src->model;
    if (!a->sym) {
        a->sym = ts_symbolizer_new();
        /* live, a frame is wanted at the next redraw, not seconds later */
        ts_symbolizer_set_live(a->sym, a->src->mode == TUI_LIVE);
    }
    if (!a->symcache)
        a->symcache = calloc(1, sizeof *a->symcache);
    if (!a->sym || !a->symcache) {
        memset(&none, 0, sizeof none);
        none.pc = pc;
        snprintf(none.function, sizeof none.function, "?");
        return &none;
    }
    size_t nmod = tm_model_module_count(m);
    if (nmod != a->sym_modules) {
        /* new modules can only make lookups better: start the cache over */
        for (size_t i = a->sym_modules < nmod ? a->sym_modules : 0; i < nmod; i++) {
            const tm_module *mod = tm_model_module_at(m, i);
            ts_symbolizer_add_module(a->sym, mod->start, mod->end, mod->offset,
                                     tm_model_string(m, mod->path));
        }
        a->sym_modules = nmod;
        memset(a->symcache, 0, sizeof *a->symcache);
    }
    size_t h = (size_t)((pc >> 2) * 0x9e3779b97f4a7c15ull >> 54) % SYMCACHE;
    if (!a->symcache->e[h].valid || a->symcache->e[h].pc != pc ||
        a->symcache->e[h].is_return != is_return) {
        ts_symbolize(a->sym, pc, is_return, &a->symcache->e[h].f);
        a->symcache->e[h].pc = pc;
        a->symcache->e[h].is_return = is_return;
        a->symcache->e[h].valid = 1;
    }
    return &a->symcache->e[h].f;
}

static const char *tname(const tm_model *m, uint64_t id) {
    const tm_task *t = tm_model_task(m, id);
    return t ? tm_model_string(m, t->name) : "?";
}

void tui_emit_episode(tui_app *a, const tm_blocked *b) {
    const tm_model *m = a->src->model;
    char dur[24], at[32], sc[48];
    /* grows on screen while it lasts */
    tr_fmt_dur(dur, sizeof dur, tm_blocked_length(b, tui_src_now(a->src)));
    tui_fmt_at(a, at, sizeof at, b->start_ns);
    const char *what = b->slow_only ? "slow step" : b->duration_ns ? "blocked" : "BLOCKED NOW";
    tui_emit(a, b->slow_only ? ST_WARN : ST_BAD, b->task ? LINK_TASK : LINK_NONE, b->task,
             "  %s %s at %s: loop %" PRIu64 ", task #%" PRIu64 " %s", what, dur, at, b->loop,
             b->task, tname(m, b->task));
    if (b->slow_only)
        return;
    tr_syscall_text(sc, sizeof sc, b->syscall);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "    thread %u %s%s", b->tid,
             b->syscall >= 0 ? "blocked in system call " : b->thread_state == 'R' ? "busy on CPU"
                                                                              : "off CPU",
             b->syscall >= 0 ? sc : "");
    uint32_t depth = 0;
    const uint64_t *pcs = tm_model_stack(m, b->stack, &depth);
    for (uint32_t k = 0; k < depth && k < 24; k++) {
        if (!tui_emit_wanted(a)) {
            tui_emit_skip(a, LINK_NONE);
            continue;
        }
        const ts_frame *f = tui_symbolize(a, pcs[k], k > 0);
        const char *base = strrchr(f->file, '/');
        tui_emit(a, ST_DIM, LINK_NONE, 0, "      #%-2u %#014" PRIx64 " %s%s%s%s%.0d%s%s%s", k, f->pc,
                 f->function, f->file[0] ? " at " : "", f->file[0] ? (base ? base + 1 : f->file) : "",
                 f->file[0] ? ":" : "", f->file[0] ? f->line : 0, f->module[0] ? " (" : "",
                 f->module, f->module[0] ? ")" : "");
    }
    if (!depth)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "      (no stack captured)");
}

static double loop_rate(tui_app *a, const tm_loop *l) {
    uint64_t now = tui_src_now(a->src);
    tui_loop_rate *r = NULL;
    for (size_t i = 0; i < a->nrates; i++)
        if (a->rates[i].loop == l->id)
            r = &a->rates[i];
    if (!r) {
        if (a->nrates == sizeof a->rates / sizeof a->rates[0])
            return 0;
        r = &a->rates[a->nrates++];
        *r = (tui_loop_rate){l->id, l->steps, now, 0};
        return 0;
    }
    if (l->steps < r->steps || now < r->at_ns) { /* a replay moved backwards */
        *r = (tui_loop_rate){l->id, l->steps, now, 0};
    } else if (now - r->at_ns >= 1000000000ull) {
        r->rate = (double)(l->steps - r->steps) * 1e9 / (double)(now - r->at_ns);
        r->steps = l->steps;
        r->at_ns = now;
    }
    return r->rate;
}

void tui_build_loops(tui_app *a) {
    const tm_model *m = a->src->model;
    tui_emit(a, ST_HEAD, LINK_NONE, 0, "%-6s %8s %10s %9s %9s %9s %8s  %s", "LOOP", "TID", "STEPS",
             "STEPS/S", "LAG AVG", "LAG MAX", "BLOCKED", "RUNNING");
    for (size_t i = 0; i < tm_model_loop_count(m); i++) {
        const tm_loop *l = tm_model_loop_at(m, i);
        size_t blocked = 0;
        for (size_t b = 0; b < tm_model_blocked_count(m); b++)
            blocked += tm_model_blocked_at(m, b)->loop == l->id;
        char rate[24], avg[24], max[24], running[96];
        tui_fmt_count(rate, sizeof rate, loop_rate(a, l));
        tr_fmt_dur(avg, sizeof avg, l->lag_count ? l->lag_sum_ns / l->lag_count : 0);
        tr_fmt_dur(max, sizeof max, l->max_lag_ns);
        if (l->running_task)
            snprintf(running, sizeof running, "#%" PRIu64 " %s", l->running_task,
                     tname(m, l->running_task));
        else
            snprintf(running, sizeof running, "%s", l->closed ? "(closed)" : "- (polling)");
        tui_emit(a, blocked ? ST_WARN : ST_NORMAL, l->running_task ? LINK_TASK : LINK_NONE,
                 l->running_task, "%-6" PRIu64 " %8u %10" PRIu64 " %9s %9s %9s %8zu  %s", l->id,
                 l->tid, l->steps, rate, avg, max, blocked, running);
    }
    if (!tm_model_loop_count(m))
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (no loop seen yet)");
    size_t n = tm_model_blocked_count(m);
    tui_emit(a, ST_NORMAL, LINK_NONE, 0, "%s", "");
    tui_emit(a, ST_SECTION, LINK_NONE, 0, "Blocked episodes and slow steps (%zu, newest first)", n);
    for (size_t i = n, shown = 0; i-- > 0 && shown < EPISODES_SHOWN; shown++)
        tui_emit_episode(a, tm_model_blocked_at(m, i));
    if (n > EPISODES_SHOWN)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  ... and %zu older (taskscope blocked lists all)",
                 n - EPISODES_SHOWN);
    if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (none: no step ran past the threshold)");
}

/* Waiter counts by resource, from the tasks: wait_obj is the resource id
 * for every resource wait kind (lock .. queue join). */
static size_t waiters_of(const tm_model *m, uint64_t res, const uint64_t *objs, size_t nobjs) {
    (void)m;
    size_t lo = 0, hi = nobjs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (objs[mid] < res)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t n = 0;
    while (lo + n < nobjs && objs[lo + n] == res)
        n++;
    return n;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

void tui_build_resources(tui_app *a) {
    const tm_model *m = a->src->model;
    size_t nt = tm_model_task_count(m), nobjs = 0;
    uint64_t *objs = malloc((nt + 1) * sizeof *objs);
    for (size_t i = 0; objs && i < nt; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (t && t->state == TM_SUSPENDED && t->wait_kind >= 5 && t->wait_kind <= 12)
            objs[nobjs++] = t->wait_obj;
    }
    if (objs)
        qsort(objs, nobjs, sizeof *objs, cmp_u64);
    /* one column per meaning: a queue's depth is not a lock's holder.
     * USE says what the kind has (held/free, permits taken, items
     * queued); HOLDER is a lock's holder or a semaphore's last taker */
    int hw = COLS >= 160 ? 40 : 22; /* wide terminals: names uncut */
    tui_emit(a, ST_HEAD, LINK_NONE, 0, "%-16s %-10s %-16s %-12s %7s  %-*s %s", "ID", "KIND",
             "NAME", "USE", "WAITERS", hw, "HOLDER / LAST TAKER", "CREATED AT");
    size_t shown = 0;
    for (size_t i = 0; i < tm_model_resource_count(m); i++) {
        const tm_resource *r = tm_model_resource_at(m, i);
        if (r->freed && !a->rows.show_finished)
            continue;
        shown++;
        if (!tui_emit_wanted(a)) {
            tui_emit_skip(a, LINK_RESOURCE);
            continue;
        }
        char holder[64], use[32], site[160];
        size_t w = objs ? waiters_of(m, r->id, objs, nobjs) : 0;
        switch (r->kind) {
        case 1: snprintf(use, sizeof use, "%s", r->held ? "held" : "free"); break;
        case 4: snprintf(use, sizeof use, "%u/%u taken", r->held, r->capacity); break;
        case 6:
            if (r->capacity)
                snprintf(use, sizeof use, "%u/%u items", r->depth, r->capacity);
            else
                snprintf(use, sizeof use, "%u items", r->depth);
            break;
        case 5: snprintf(use, sizeof use, "%u parties", r->capacity); break;
        default: snprintf(use, sizeof use, "-"); break;
        }
        if (r->freed)
            snprintf(use, sizeof use, "freed");
        if (r->holder && (r->kind == 1 || r->kind == 4) && (r->held || r->kind == 4))
            snprintf(holder, sizeof holder, "#%" PRIu64 " %s", r->holder, tname(m, r->holder));
        else
            snprintf(holder, sizeof holder, "-");
        tm_model_site_text(m, r->site, site, sizeof site);
        tui_emit(a, r->freed ? ST_DIM : w ? ST_WARN : ST_NORMAL, LINK_RESOURCE, r->id,
                 "%#-16" PRIx64 " %-10s %-16.16s %-12s %7zu  %-*.*s %s", r->id,
                 tm_resource_kind_name(r->kind), r->name ? tm_model_string(m, r->name) : "-",
                 use, w, hw, hw, holder, site);
    }
    if (!shown)
        tui_emit(a, ST_DIM, LINK_NONE, 0,
                 "  - (no lock, semaphore, event, condition, barrier or queue seen%s)",
                 a->rows.show_finished ? "" : "; f shows freed ones");
    free(objs);
}

static const char *warning_kind(tm_warning_kind k) {
    switch (k) {
    case TM_WARN_BLOCKED: return "blocked loop";
    case TM_WARN_SLOW_STEP: return "slow step";
    case TM_WARN_NEVER_AWAITED: return "never awaited";
    case TM_WARN_NEVER_RETRIEVED: return "never retrieved";
    case TM_WARN_DEADLOCK: return "DEADLOCK";
    case TM_WARN_STUCK: return "stuck";
    case TM_WARN_DESTROYED_PENDING: return "destroyed pending";
    default: return "?";
    }
}

void tui_build_warnings(tui_app *a) {
    const tm_model *m = a->src->model;
    size_t n = tm_model_warning_count(m);
    tui_emit(a, ST_HEAD, LINK_NONE, 0, "%-10s %-17s %-22s %s", "TIME", "KIND", "TASK", "WHAT");
    for (size_t i = 0; i < n; i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        char at[32], task[64];
        tui_fmt_at(a, at, sizeof at, w->ns);
        if (w->task)
            snprintf(task, sizeof task, "#%" PRIu64 " %s", w->task, tname(m, w->task));
        else
            snprintf(task, sizeof task, "-");
        /* the message gets the rest of the line and wraps below, so
         * it is read whole at any width */
        char head[128];
        snprintf(head, sizeof head, "%-10s %-17s %-22.22s ", at, warning_kind(w->kind), task);
        tui_emit_wrapped(a,
                         w->kind == TM_WARN_DEADLOCK || w->kind == TM_WARN_BLOCKED ? ST_BAD
                                                                                 : ST_WARN,
                         w->task ? LINK_TASK : LINK_NONE, w->task, head,
                         COLS >= 120 ? (int)strlen(head) : 4, tui_strip_prefix(w->text));
    }
    if (!n)
        tui_emit(a, ST_DIM, LINK_NONE, 0, "  - (no warning: nothing blocked, leaked or deadlocked)");
}

void tui_build_help(tui_app *a) {
    static const char *const help[] = {
        "#taskscope top: keys",
        "",
        "#Everywhere",
        "  q  Ctrl-C     quit (a program started by top is interrupted; recordings are closed)",
        "  ?  h  F1      this help (scrolls with Up Down PgUp PgDn; Esc or ? returns)",
        "  1 2 3 4       Tasks, Loops, Resources, Warnings views;  Tab / Shift-Tab: next / previous",
        "  Up Down j k   move the cursor;  PgUp PgDn: a page;  Home End g G: first / last",
        "  Enter         open the task under the cursor, or follow the link on the line",
        "  Esc Backspace back to where you came from (or clear the filter)",
        "  Space  p      replay: play / pause",
        "  P             top -- PROGRAM: show the next process (the program, then each forked",
        "                child being followed, then the program again)",
        "",
        "#Tasks view",
        "  /             filter by text: name, spawn or await site, state, await kind; #ID for one",
        "                task (Enter keeps the filter, Esc drops it); the header shows the",
        "                filter and how many tasks it leaves; Esc in the table clears it",
        "  s  S          sort by the next / previous column;  r: reverse the order; the",
        "                header marks the sort column with an up mark (smallest first) or a",
        "                down mark (largest first); every column sorts: c lists by what",
        "  t             tree mode: tasks under their parents (with a filter, ancestors dimmed)",
        "  f             show / hide finished tasks (and freed resources)",
        "  c  F2         choose the columns (Space shows / hides one, s sorts by it)",
        "",
        "#Replay (taskscope top FILE)",
        "  Left Right    cursor back / forward 1 s;  [ ]: 10 s;  < >: 0.1 s",
        "  b  e          beginning / end of the recording",
        "  n             run forward to the next warning",
        "  + -           playback speed x2 / /2",
        "",
        "#Columns",
        "  ! a warning concerns the task;  TOTAL its age;  BUSY running;  SCHED ready but waiting",
        "  for the loop;  IDLE suspended;  POLLS steps;  AWAITS what it waits for (task, lock, ...)",
        "  AWAIT SITE where it waits;  SPAWN SITE where it was created",
        "  Columns that do not fit are dropped, least useful first; text columns share",
        "  what is left, and a narrow terminal drops numbers before it cuts AWAITS.",
        "",
        "#Task detail",
        "  poll and scheduled times: a sparkline over log2 buckets with p50 p90 p99 max",
        "  (HDR histograms, as taskscope stats computes them)",
        "  stack: where the parked task waits, innermost frame first (its loop's",
        "  latest state dump walked it); fields: what the program set with",
        "  ts_task_set_field",
        "  K  F9         cancel the task (live only): y in the footer confirms, and the",
        "                footer says what its loop answered (as taskscope cancel PID TASK)",
        "  w             why: where the task's wall time went (as taskscope why FILE|PID",
        "                TASK), a scrollable text view; Esc returns",
        "",
        "#Resource detail",
        "  kind, holder and since when, waiters in arrival order with their wait,",
        "  queue depth and capacity, the latest acquire / release events",
        "",
        "(end of help)",
    };
    for (size_t i = 0; i < sizeof help / sizeof help[0]; i++)
        tui_emit(a, help[i][0] == '#' ? ST_SECTION : ST_NORMAL, LINK_NONE, 0, "%s",
                 help[i] + (help[i][0] == '#'));
}
