/*
 * model_warnings.c - the warnings a human should see (model.h): added as
 * the model finds them, their text updated when what they describe
 * changes (a blocked episode ends, more events are dropped), marked dirty
 * until the session has written them to the recording, and merged back
 * from a recording without repeating what the replay found itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

/* Returns the warning's index + 1, or 0 on no memory. */
uint32_t tm__add_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                         uint64_t resource, const char *text) {
    if (m->nwarnings == m->warnings_cap) {
        size_t cap = m->warnings_cap ? m->warnings_cap * 2 : 16;
        tm_warning *w = realloc(m->warnings, cap * sizeof *w);
        if (!w)
            return 0;
        m->warnings = w;
        m->warnings_cap = cap;
    }
    tm_warning *w = &m->warnings[m->nwarnings++];
    w->kind = kind;
    w->ns = ns;
    w->task = task;
    w->resource = resource;
    w->dirty = 1;
    m->ndirty++;
    snprintf(w->text, sizeof w->text, "%s", text);
    tm_task *t = tm_model_task(m, task);
    if (t)
        t->warnings |= kind;
    return (uint32_t)m->nwarnings;
}

/* A warning's text changed (an episode ended): the recording must learn. */
void tm__set_warning_text(tm_model *m, uint32_t wi, const char *text) {
    if (!wi || wi > m->nwarnings)
        return;
    tm_warning *w = &m->warnings[wi - 1];
    if (!strcmp(w->text, text))
        return;
    snprintf(w->text, sizeof w->text, "%s", text);
    if (!w->dirty) {
        w->dirty = 1;
        m->ndirty++;
    }
}

/* One warning for all drops, its count kept current. */
void tm__note_drops(tm_model *m, uint64_t ns) {
    if (!m->dropped)
        return;
    char text[200];
    snprintf(text, sizeof text,
             "%llu events dropped: the reader fell behind, so some task states and "
             "timings are incomplete", (unsigned long long)m->dropped);
    if (!m->drops_warning)
        m->drops_warning = tm__add_warning(m, TM_WARN_DROPS, ns, 0, 0, text);
    else
        tm__set_warning_text(m, m->drops_warning, text);
}

int tm_model_merge_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                           uint64_t resource, const char *text) {
    /* The analysis's findings (model_analyze.c) carry the time the
     * analysis ran, which a replay does not repeat: one per task. */
    int by_time = !(kind & (TM_WARN_DEADLOCK | TM_WARN_STUCK | TM_WARN_DROPS |
                            TM_WARN_DEAD_HOLDER | TM_WARN_ORPHAN_FUTURE | TM_WARN_SELF_WAKE));
    for (size_t i = 0; i < m->nwarnings; i++) {
        const tm_warning *w = &m->warnings[i];
        if (w->kind == kind && w->task == task && (!by_time || w->ns == ns))
            return 0;
    }
    const tm_task *t = tm_model_task(m, task);
    if (kind == TM_WARN_DEADLOCK && t && (t->warnings & TM_WARN_DEADLOCK))
        return 0; /* the same cycle, reported from another of its members */
    uint32_t wi = tm__add_warning(m, kind, ns, task, resource, text);
    if (wi && kind == TM_WARN_DROPS)
        m->drops_warning = wi;
    return wi != 0;
}

/* ---- per-event checks (issue 15) ------------------------------------------ */

/* Ready tasks of loop l now. */
static size_t ready_tasks(const tm_model *m, uint64_t loop) {
    size_t n = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        const tm_task *t = m->tasks[i];
        n += t && t->loop == loop && t->state == TM_READY;
    }
    return n;
}

/* A blocked or slow step of l overlapping [from, to]: that, not the
 * ready queue, made the tasks wait.  Episodes are kept in the order seen,
 * so the walk goes back from the newest and stops at ones that began a
 * minute before `from` (a long recording has thousands). */
static int step_overlaps(const tm_model *m, uint64_t loop, uint64_t from, uint64_t to) {
    for (size_t i = m->nblocked; i-- > 0;) {
        const tm_blocked *b = &m->blocked[i];
        if (b->start_ns + 60000000000ull < from)
            break;
        uint64_t end = b->duration_ns ? b->start_ns + b->duration_ns : UINT64_MAX;
        if (b->loop == loop && b->start_ns < to && end > from)
            return 1;
    }
    return 0;
}

/* A task waited `lag` (>= TM_STARVATION_NS) between ready and running.
 * One warning per loop, its figures kept current.  Counting the ready
 * queue walks every task, so it is done at most once a second of trace
 * time or when the worst lag doubles: with 100k ready tasks every resume
 * lags, and a count per resume would be quadratic. */
void tm__note_lag(tm_model *m, tm_loop *l, uint64_t lag, uint64_t ns) {
    if (step_overlaps(m, l->id, ns - lag, ns))
        return;
    l->starve_lag_sum_ns += lag;
    l->starve_lags++;
    int worse = lag > l->starve_max_lag_ns;
    int recount = !l->starve_warning || lag > 2 * l->starve_max_lag_ns ||
                  ns - l->starve_checked_ns >= 1000000000ull;
    if (!worse && !recount)
        return;
    if (worse)
        l->starve_max_lag_ns = lag;
    if (recount) {
        l->starve_checked_ns = ns;
        size_t ready = ready_tasks(m, l->id) + 1; /* + the task that now runs */
        if (ready > l->starve_ready)
            l->starve_ready = ready;
    }
    char worst[16], avg[16], text[300];
    tm_fmt_dur(worst, sizeof worst, l->starve_max_lag_ns);
    tm_fmt_dur(avg, sizeof avg, l->starve_lag_sum_ns / l->starve_lags);
    snprintf(text, sizeof text,
             "loop starvation: tasks of loop %llu waited up to %s to run (%llu waits over "
             "100ms, average %s) with up to %llu tasks ready at once",
             (unsigned long long)l->id, worst, (unsigned long long)l->starve_lags, avg,
             (unsigned long long)l->starve_ready);
    if (!l->starve_warning)
        l->starve_warning = tm__add_warning(m, TM_WARN_STARVATION, ns, 0, 0, text);
    else
        tm__set_warning_text(m, l->starve_warning, text);
}

/* Busy yield: a run of sleep(0)s at least TM_BUSY_YIELD_NS long, of at
 * least 1000 steps averaging under 1 ms of work each (a CPU-bound task
 * that yields between real chunks of work is not polling; the bound is
 * loose because preemption on a busy machine inflates a poll's steps
 * several times). */
void tm__note_suspend(tm_model *m, tm_task *t, uint32_t kind, uint64_t ns) {
    if (kind != 4) {
        t->yield_since_ns = 0;
        t->yields = 0;
        return;
    }
    if (!t->yield_since_ns) {
        t->yield_since_ns = ns;
        t->yield_busy0_ns = t->busy_ns;
        t->yields = 0;
    }
    t->yields++;
    if ((t->warnings & TM_WARN_BUSY_YIELD) || t->yields < 1000 ||
        ns - t->yield_since_ns < TM_BUSY_YIELD_NS)
        return;
    uint64_t avg = (t->busy_ns - t->yield_busy0_ns) / t->yields;
    if (avg >= 1000000)
        return;
    char dur[16], step[16], site[160], text[400];
    tm_fmt_dur(dur, sizeof dur, ns - t->yield_since_ns);
    tm_fmt_dur(step, sizeof step, avg);
    tm_model_site_text(m, t->await_site, site, sizeof site);
    snprintf(text, sizeof text,
             "busy yield: task #%llu %s has done nothing but sleep(0) for %s "
             "(%llu times, %s of work each, at %s)",
             (unsigned long long)t->id, tm_task_name(m, t), dur, (unsigned long long)t->yields,
             step, site);
    tm__add_warning(m, TM_WARN_BUSY_YIELD, ns, t->id, 0, text);
}
