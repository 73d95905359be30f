/*
 * model.c - see model.h.
 *
 * Invariants:
 *   - Every task accounts each nanosecond of its life to exactly one of
 *     busy/scheduled/idle: state_since marks the start of the current
 *     stretch, settle() books it when the state changes.
 *   - Tasks are kept in creation order (tasks[]) and found by id through
 *     an idmap.  Finished, freed tasks beyond TM_KEEP_FINISHED are evicted
 *     oldest first, so a long recording keeps memory flat; their numbers
 *     live on in the per-name statistics the store writes.
 *   - Events about unknown tasks (their task_create was overwritten before
 *     the reader attached) create a placeholder, filled in by the state
 *     dump or later events; nothing here trusts an id to exist.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "model.h"
#include "model_impl.h"
#include "model_fds.h"
#include "model_notes.h"

#define TM_KEEP_FINISHED 50000

static int reserve(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * elem);
    if (!p)
        return -ENOMEM;
    memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
    *arr = p;
    *cap = c;
    return 0;
}

tm_model *tm_model_new(void) { return calloc(1, sizeof(tm_model)); }

void tm_model_keep_all(tm_model *m) { m->keep_all = 1; }

void tm_model_free(tm_model *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->ntasks; i++)
        free(m->tasks[i]);
    free(m->tasks);
    tm_idmap_free(&m->task_ids);
    free(m->finished_ids);
    for (size_t i = 0; i < m->strings.cap; i++)
        free(m->strings.v[i]);
    free(m->strings.v);
    free(m->sites);
    free(m->loops);
    free(m->res);
    tm_idmap_free(&m->res_ids);
    free(m->blocked);
    free(m->warnings);
    free(m->modules);
    for (size_t i = 0; i < m->stacks_cap; i++)
        free(m->stacks[i]);
    free(m->stacks);
    tm_groups_free(&m->groups);
    tm__notes_free(m);
    tm__fds_free(m);
    free(m);
}

/* ---- lookups ------------------------------------------------------------- */

tm_task *tm_model_task(const tm_model *m, uint64_t id) {
    uint32_t i;
    return tm_idmap_get(&m->task_ids, id, &i) ? m->tasks[i] : NULL;
}

const char *tm_model_string(const tm_model *m, uint32_t id) {
    return id < m->strings.cap && m->strings.v[id] ? m->strings.v[id] : "";
}

const tm_site *tm_model_site(const tm_model *m, uint32_t id) {
    return id && id < m->sites_cap && m->sites[id].line ? &m->sites[id] : NULL;
}

const char *tm_model_site_text(const tm_model *m, uint32_t id, char *buf, size_t len) {
    const tm_site *s = tm_model_site(m, id);
    if (!s) {
        snprintf(buf, len, "-");
        return buf;
    }
    const char *file = tm_model_string(m, s->file);
    const char *slash = strrchr(file, '/');
    snprintf(buf, len, "%s:%u in %s()", slash ? slash + 1 : file, s->line,
             tm_model_string(m, s->func));
    return buf;
}

tm_resource *tm_model_resource(const tm_model *m, uint64_t id) {
    uint32_t i;
    return tm_idmap_get(&m->res_ids, id, &i) ? &m->res[i] : NULL;
}

const uint64_t *tm_model_stack(const tm_model *m, uint32_t id, uint32_t *depth) {
    if (id >= m->stacks_cap || !m->stacks[id]) {
        *depth = 0;
        return NULL;
    }
    *depth = (uint32_t)m->stacks[id][0];
    return m->stacks[id] + 1;
}

size_t tm_model_task_count(const tm_model *m) { return m->ntasks; }
tm_task *tm_model_task_at(const tm_model *m, size_t i) { return i < m->ntasks ? m->tasks[i] : NULL; }
size_t tm_model_loop_count(const tm_model *m) { return m->nloops; }
tm_loop *tm_model_loop_at(const tm_model *m, size_t i) { return &m->loops[i]; }
size_t tm_model_resource_count(const tm_model *m) { return m->nres; }
tm_resource *tm_model_resource_at(const tm_model *m, size_t i) { return &m->res[i]; }
size_t tm_model_blocked_count(const tm_model *m) { return m->nblocked; }
uint64_t tm_blocked_length(const tm_blocked *b, uint64_t now) {
    uint64_t len = b->duration_ns ? b->duration_ns : b->seen_elapsed_ns;
    if (!b->duration_ns && !b->slow_only && now > b->start_ns && now - b->start_ns > len)
        len = now - b->start_ns;
    return len;
}

const tm_blocked *tm_model_blocked_at(const tm_model *m, size_t i) { return &m->blocked[i]; }
uint64_t tm_model_blocked_changes(const tm_model *m) { return m->blocked_changes; }
size_t tm_model_warning_count(const tm_model *m) { return m->nwarnings; }
const tm_warning *tm_model_warning_at(const tm_model *m, size_t i) { return &m->warnings[i]; }
size_t tm_model_module_count(const tm_model *m) { return m->nmodules; }
const tm_module *tm_model_module_at(const tm_model *m, size_t i) { return &m->modules[i]; }
size_t tm_model_group_count(const tm_model *m) { return m->groups.n; }
const tm_group *tm_model_group_at(const tm_model *m, size_t i) { return &m->groups.v[i]; }
size_t tm_model_dirty_warnings(const tm_model *m) { return m->ndirty; }
void tm_model_warning_clean(tm_model *m, size_t i) {
    if (i < m->nwarnings && m->warnings[i].dirty) {
        m->warnings[i].dirty = 0;
        m->ndirty--;
    }
}
void tm_model_add_dropped(tm_model *m, uint64_t n) {
    m->dropped += n;
    tm__note_drops(m, m->now);
}
uint64_t tm_model_dropped(const tm_model *m) { return m->dropped; }
uint64_t tm_model_now(const tm_model *m) { return m->now; }
void tm_model_advance(tm_model *m, uint64_t ns) {
    if (ns > m->now)
        m->now = ns;
}
uint64_t tm_model_events(const tm_model *m) { return m->events; }
uint64_t tm_model_lost(const tm_model *m) { return m->lost; }
uint64_t tm_model_tasks_seen(const tm_model *m) { return m->tasks_seen; }

void tm_model_on_evict(tm_model *m, tm_evict_fn fn, void *arg) {
    m->evict_fn = fn;
    m->evict_arg = arg;
}

void tm_model_on_retire(tm_model *m, tm_retire_fn fn, void *arg) {
    m->retire_fn = fn;
    m->retire_arg = arg;
}

const char *tm_task_state_name(const tm_task *t) {
    return t->lost ? "lost" : tm_state_name(t->state);
}

const char *tm_task_name(const tm_model *m, const tm_task *t) {
    const char *n = tm_model_string(m, t->name);
    /* A name id whose string never arrived (dropped, or a placeholder no
     * dump has named yet) is shown as unknown, never as blank. */
    return *n || (!t->name && !t->placeholder) ? n : "?";
}

/* ---- state dumps: what is live, for sure ------------------------------------
 *
 * A dump lists every live task of its loop.  A task of that loop the model
 * still thinks live but the dump does not list has ended while its events
 * were dropped: it is retired as done (and marked lost), which is what
 * keeps the model, and the tracer's memory, from growing with tasks that
 * will never send another event. */
static int dump_slot(tm_model *m, uint32_t tid, int create) {
    for (int i = 0; i < 8; i++)
        if (m->dumps[i].tid == tid && m->dumps[i].gen)
            return i;
    if (!create)
        return -1;
    for (int i = 0; i < 8; i++)
        if (!m->dumps[i].gen) {
            m->dumps[i].tid = tid;
            return i;
        }
    return -1;
}

static void retire_unlisted(tm_model *m, uint64_t loop, uint64_t gen, uint64_t ns);
static void retire_loop(tm_model *m, uint64_t loop, uint64_t ns);

/* ---- tasks ------------------------------------------------------------------ */

static void compact(tm_model *m) {
    size_t j = 0;
    tm_idmap_free(&m->task_ids);
    for (size_t i = 0; i < m->ntasks; i++) {
        if (!m->tasks[i])
            continue;
        m->tasks[j] = m->tasks[i];
        tm_idmap_put(&m->task_ids, m->tasks[j]->id, (uint32_t)j);
        j++;
    }
    m->ntasks = j;
    m->nholes = 0;
}

static void evict(tm_model *m, uint64_t id) {
    uint32_t i;
    if (!tm_idmap_get(&m->task_ids, id, &i))
        return;
    tm_task *t = m->tasks[i];
    if (t->warnings) /* keep what a human must still be able to find */
        return;
    if (m->evict_fn)
        m->evict_fn(m, t, m->evict_arg);
    free(t);
    m->tasks[i] = NULL;
    tm_idmap_del(&m->task_ids, id);
    if (++m->nholes > 1024 && m->nholes * 2 > m->ntasks && !m->sweeping)
        compact(m);
}

/* A sweep over tasks[] that retires tasks may evict others (the oldest
 * finished ones, into a report's table): compacting then would move
 * tasks not yet looked at below the sweep's index, and they would stay
 * live for ever.  Compaction waits for the sweep's end. */
static void sweep_begin(tm_model *m) { m->sweeping = 1; }

static void sweep_end(tm_model *m) {
    m->sweeping = 0;
    if (m->nholes > 1024 && m->nholes * 2 > m->ntasks)
        compact(m);
}

static void note_finished(tm_model *m, uint64_t id) {
    if (m->keep_all)
        return;
    if (reserve((void **)&m->finished_ids, &m->fin_cap, TM_KEEP_FINISHED + 1,
                sizeof(uint64_t)) != 0)
        return;
    if (m->fin_n == TM_KEEP_FINISHED) {
        evict(m, m->finished_ids[m->fin_head]);
        m->finished_ids[m->fin_head] = id;
        m->fin_head = (m->fin_head + 1) % TM_KEEP_FINISHED;
    } else {
        m->finished_ids[(m->fin_head + m->fin_n++) % TM_KEEP_FINISHED] = id;
    }
}

/* A placeholder for a task not seen before (id != 0, not in the map). */
static tm_task *task_new(tm_model *m, uint64_t id, uint64_t ns) {
    tm_task *t;
    if (reserve((void **)&m->tasks, &m->tasks_cap, m->ntasks + 1, sizeof *m->tasks) != 0)
        return NULL;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->id = id;
    t->created_ns = t->state_since_ns = ns;
    t->state = TM_READY;
    t->placeholder = 1; /* until its task_create or a dump names it */
    if (tm_idmap_put(&m->task_ids, id, (uint32_t)m->ntasks) != 0) {
        free(t);
        return NULL;
    }
    t->seq = ++m->tasks_seen;
    m->tasks[m->ntasks++] = t;
    return t;
}

static tm_task *task_get(tm_model *m, uint64_t id, uint64_t ns) {
    if (!id)
        return NULL;
    tm_task *t = tm_model_task(m, id);
    return t ? t : task_new(m, id, ns);
}

static void settle(tm_task *t, uint64_t ns) {
    uint64_t d = ns > t->state_since_ns ? ns - t->state_since_ns : 0;
    switch (t->state) {
    case TM_RUNNING: t->busy_ns += d; break;
    case TM_READY: t->scheduled_ns += d; break;
    case TM_SUSPENDED: t->idle_ns += d; break;
    default: break;
    }
    t->state_since_ns = ns;
}

void tm_task_times(const tm_model *m, const tm_task *t, uint64_t *busy,
                   uint64_t *scheduled, uint64_t *idle) {
    uint64_t d = m->now > t->state_since_ns ? m->now - t->state_since_ns : 0;
    *busy = t->busy_ns + (t->state == TM_RUNNING ? d : 0);
    *scheduled = t->scheduled_ns + (t->state == TM_READY ? d : 0);
    *idle = t->idle_ns + (t->state == TM_SUSPENDED ? d : 0);
}

/* The loop of that id, created on first sight; never a loop 0 (a
 * placeholder task's unknown loop is not a loop). */
static tm_loop *loop_get(tm_model *m, uint64_t id) {
    if (!id)
        return NULL;
    for (size_t i = 0; i < m->nloops; i++)
        if (m->loops[i].id == id)
            return &m->loops[i];
    tm_loop *l = realloc(m->loops, (m->nloops + 1) * sizeof *l);
    if (!l)
        return NULL;
    m->loops = l;
    l = &m->loops[m->nloops++];
    memset(l, 0, sizeof *l);
    l->id = id;
    return l;
}

/* Put t in the groups of its site and name (again when they change: a
 * placeholder learns them late), moving its count along. */
static void assign_groups(tm_model *m, tm_task *t) {
    uint32_t gs = tm_groups_site(&m->groups, t->site, t->name);
    uint32_t gp = tm_groups_prefix(&m->groups, t->name, tm_model_string(m, t->name));
    uint32_t old[2] = {t->gsite, t->gprefix}, now[2] = {gs, gp};
    for (int k = 0; k < 2; k++) {
        if (old[k] == now[k])
            continue;
        tm_group *o = tm_groups_get(&m->groups, old[k]), *n = tm_groups_get(&m->groups, now[k]);
        if (o && o->tasks)
            o->tasks--;
        if (n)
            n->tasks++;
    }
    t->gsite = gs;
    t->gprefix = gp;
}

static void end_poll(tm_model *m, tm_task *t, uint64_t ns) {
    uint64_t poll = ns > t->state_since_ns ? ns - t->state_since_ns : 0;
    for (int k = 0; k < 2; k++) {
        tm_group *g = tm_groups_get(&m->groups, k ? t->gprefix : t->gsite);
        if (g) {
            g->polls++;
            ts_hdr_record(&g->poll_ns, poll);
        }
    }
    if (poll > t->max_poll_ns)
        t->max_poll_ns = poll;
    uint64_t us = poll / 1000;
    int b = 0;
    while (us && b < TM_HIST_BUCKETS - 1) {
        us >>= 1;
        b++;
    }
    t->hist[b]++;
}

/* ---- applying events ------------------------------------------------------- */

static void on_string(tm_model *m, const ts_ev_string *e) {
    if (!e->id || e->id > (1u << 24))
        return;
    if (reserve((void **)&m->strings.v, &m->strings.cap, (size_t)e->id + 1, sizeof(char *)) != 0)
        return;
    if (m->strings.v[e->id])
        return;
    char *s = malloc(e->len + 1);
    if (!s)
        return;
    memcpy(s, e + 1, e->len);
    s[e->len] = 0;
    m->strings.v[e->id] = s;
}

static void on_site(tm_model *m, const ts_ev_site *e) {
    if (!e->id || e->id > (1u << 24))
        return;
    if (reserve((void **)&m->sites, &m->sites_cap, (size_t)e->id + 1, sizeof *m->sites) != 0)
        return;
    m->sites[e->id] = (tm_site){e->file, e->func, e->line ? e->line : 1};
}

static void on_task_create(tm_model *m, const ts_ev_task_create *e, uint64_t ns) {
    /* one lookup, not two: a spawn is the most common event of all */
    tm_task *t = e->task ? tm_model_task(m, e->task) : NULL;
    int known = t != NULL;
    if (!t && e->task)
        t = task_new(m, e->task, ns);
    if (!t)
        return;
    t->placeholder = 0;
    t->parent = e->parent;
    t->loop = e->loop;
    t->name = e->name;
    t->site = e->site;
    assign_groups(m, t);
    if (!known) {
        tm_task *p = tm_model_task(m, e->parent);
        if (p)
            p->nchildren++;
    }
}

static void on_task_state(tm_model *m, const ts_ev_task_state *e, uint64_t ns) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t)
        return;
    t->placeholder = 0;
    t->parent = e->parent;
    t->loop = e->loop;
    if (t->name != e->name || t->site != e->site || !t->gsite) {
        t->name = e->name;
        t->site = e->site;
        assign_groups(m, t);
    }
    /* A task already seen in this state keeps its since-time: the dump
     * says what it does now, not when it began (and every attach asks
     * for a dump, which would otherwise restart the clock of every
     * wait). */
    if (e->state <= TM_CANCELLED && t->state < TM_DONE && t->state != (tm_state)e->state) {
        settle(t, ns);
        t->state = (tm_state)e->state;
    }
    t->wait_kind = e->kind;
    t->wait_obj = e->object;
    t->await_site = e->await_site;
    t->cancel_requests = e->requests;
}

/* Open blocked episodes of `loop` seen before ns have ended: the loop
 * has gone on to another step (or a dump, or its close).  Their
 * loop_unblocked was lost (a small ring wraps the loop's events sooner
 * than the watchdog's), so all that is known of the length is what the
 * watchdog saw (at most ns - start, which after a wrap says little). */
static void end_episodes(tm_model *m, uint64_t loop, uint64_t ns) {
    for (size_t i = 0; i < m->nblocked; i++) {
        tm_blocked *b = &m->blocked[i];
        if (b->loop == loop && !b->duration_ns && !b->slow_only &&
            ns > b->start_ns + b->seen_elapsed_ns) {
            b->duration_ns = b->seen_elapsed_ns ? b->seen_elapsed_ns : 1;
            b->end_unseen = 1;
            m->blocked_changes++;
        }
    }
}

static void on_resume(tm_model *m, const ts_ev_task_resume *e, uint64_t ns, uint32_t tid) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t || t->state >= TM_DONE)
        return;
    if (!t->loop) /* a placeholder: it runs on the loop of this thread */
        for (size_t i = 0; i < m->nloops; i++)
            if (m->loops[i].tid == tid && !m->loops[i].closed)
                t->loop = m->loops[i].id;
    tm_loop *l = loop_get(m, t->loop);
    if (l) {
        end_episodes(m, l->id, ns);
        if (ns > l->last_resume_ns)
            l->last_resume_ns = ns;
    }
    if (l) {
        if (t->state == TM_READY) {
            uint64_t lag = ns - t->state_since_ns;
            if (ns < t->state_since_ns)
                lag = 0;
            l->lag_sum_ns += lag;
            l->lag_count++;
            if (lag > l->max_lag_ns)
                l->max_lag_ns = lag;
            if (lag >= TM_STARVATION_NS)
                tm__note_lag(m, l, lag, ns);
        }
        l->running_task = t->id;
        l->steps++;
        if (!l->tid)
            l->tid = tid;
    }
    settle(t, ns);
    t->state = TM_RUNNING;
    t->polls++;
    t->wait_kind = 0;
    t->wait_obj = 0;
}

static void stop_running(tm_model *m, tm_task *t, uint64_t ns) {
    if (t->state == TM_RUNNING)
        end_poll(m, t, ns);
    settle(t, ns);
    tm_loop *l = loop_get(m, t->loop);
    if (l && l->running_task == t->id)
        l->running_task = 0;
}

static void on_suspend(tm_model *m, const ts_ev_task_suspend *e, uint64_t ns) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t || t->state >= TM_DONE)
        return;
    stop_running(m, t, ns);
    tm__note_suspend(m, t, e->kind, ns);
    t->state = e->kind == 4 /* yield */ ? TM_READY : TM_SUSPENDED;
    t->wait_kind = e->kind;
    t->wait_obj = e->object;
    t->await_site = e->site;
}

static void on_wake(tm_model *m, const ts_ev_task_wake *e, uint64_t ns) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t || t->state >= TM_DONE)
        return;
    settle(t, ns);
    t->state = TM_READY;
    t->woken_by = e->by_task;
}

static void on_cancel(tm_model *m, const ts_ev_task_cancel *e, uint64_t ns) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t)
        return;
    t->cancel_requests = e->requests;
    tm_cancel *c = &t->cancels[t->ncancels % TM_CANCEL_HISTORY];
    c->ns = ns;
    c->by_task = e->by_task;
    c->message = e->message;
    t->ncancels++;
}

static void on_done(tm_model *m, const ts_ev_task_done *e, uint64_t ns) {
    tm_task *t = task_get(m, e->task, ns);
    if (!t || t->state >= TM_DONE)
        return;
    stop_running(m, t, ns);
    t->state = e->state >= TM_DONE && e->state <= TM_CANCELLED ? (tm_state)e->state : TM_DONE;
    if (e->state == TM_REC_LOST) { /* the tracer's own record, on replay */
        t->lost = 1;
        m->lost++;
    }
    t->err = e->err;
    t->err_message = e->message;
    t->done_ns = ns;
    for (int k = 0; k < 2; k++) {
        tm_group *g = tm_groups_get(&m->groups, k ? t->gprefix : t->gsite);
        if (g) {
            g->finished++;
            ts_hdr_record(&g->busy_ns, t->busy_ns);
        }
    }
    t->wait_kind = 0;
    t->wait_obj = 0;
}

static void retire_task(tm_model *m, tm_task *t, uint64_t ns);

static void on_free(tm_model *m, const ts_ev_task_free *e, uint64_t ns) {
    tm_task *t = tm_model_task(m, e->task);
    if (!t || t->freed)
        return;
    /* The runtime frees a task only after its end: one freed while it
     * looks live here ended among dropped events.  Kept live, it would
     * be evicted as "ready" and listed so for ever. */
    if (t->state < TM_DONE) {
        retire_task(m, t, ns);
        return;
    }
    t->freed = 1;
    note_finished(m, t->id);
}

/* The warning of a blocked episode: "blocked for 300.1ms" once it has
 * ended (the same figure `blocked` prints), "for 110.2ms+" while it
 * lasts. */
static void blocked_text(const tm_blocked *b, char *text, size_t len) {
    char dur[16];
    tm_fmt_dur(dur, sizeof dur, b->duration_ns ? b->duration_ns : b->seen_elapsed_ns);
    snprintf(text, len, "loop %llu blocked for %s%s by task #%llu (%s)",
             (unsigned long long)b->loop, dur, b->duration_ns ? "" : "+",
             (unsigned long long)b->task,
             b->syscall >= 0 ? "in a system call" : "busy on CPU");
}

/* The end of (loop, step) read before its loop_blocked, if any (taken
 * out of the table). */
static int take_early_end(tm_model *m, uint64_t loop, uint64_t step, uint64_t *duration_ns) {
    for (size_t i = 0; i < sizeof m->early_ends / sizeof m->early_ends[0]; i++)
        if (m->early_ends[i].loop == loop && m->early_ends[i].step == step &&
            m->early_ends[i].duration_ns) {
            *duration_ns = m->early_ends[i].duration_ns;
            m->early_ends[i].duration_ns = 0;
            return 1;
        }
    return 0;
}

/* Has the blocked step at (loop, detected at ns) ended, by what was read
 * before its loop_blocked: its loop_unblocked, or a later step of the
 * loop (its end lost)?  Then it opens no ongoing episode: a reader that
 * read the loop's ring just before the watchdog's would otherwise show a
 * loop BLOCKED NOW long after it went on, until its next step. */
static int ended_before_seen(tm_model *m, tm_blocked *b, uint64_t ns) {
    uint64_t dur;
    if (take_early_end(m, b->loop, b->step, &dur)) {
        b->duration_ns = dur;
        return 1;
    }
    tm_loop *l = loop_get(m, b->loop);
    if (l && l->last_resume_ns > ns) {
        b->duration_ns = b->seen_elapsed_ns ? b->seen_elapsed_ns : 1;
        b->end_unseen = 1;
        return 1;
    }
    return 0;
}

/* The slow_step listed apart for a step whose loop_blocked came after
 * it (b, over by what was read before): taken out of the list, its
 * warning (index + 1) returned for the episode to carry.  One episode,
 * not two.  Without the step's loop_unblocked (the step ended while the
 * watchdog reported it: the loop wrote none) the slow step is the one
 * of its task that ended after the report, and its length is the
 * episode's. */
static uint32_t absorb_slow_step(tm_model *m, tm_blocked *b, uint64_t reported_ns) {
    for (size_t i = m->nblocked; i-- > 0;) {
        tm_blocked *s = &m->blocked[i];
        if (!s->slow_only || s->loop != b->loop || s->task != b->task)
            continue;
        if (b->end_unseen ? s->duration_ns >= b->seen_elapsed_ns &&
                                s->start_ns + s->duration_ns >= reported_ns
                          : s->duration_ns == b->duration_ns) {
            uint32_t w = s->warning;
            b->duration_ns = s->duration_ns;
            b->end_unseen = 0;
            memmove(s, s + 1, (m->nblocked - i - 1) * sizeof *s);
            m->nblocked--;
            if (w && w <= m->nwarnings)
                m->warnings[w - 1].kind = TM_WARN_BLOCKED;
            return w;
        }
    }
    return 0;
}

static void on_blocked(tm_model *m, const ts_ev_loop_blocked *e, uint64_t ns) {
    for (size_t i = 0; i < m->nblocked; i++)
        if (m->blocked[i].loop == e->loop && m->blocked[i].step == e->step)
            return;
    tm_blocked nb = {.loop = e->loop, .task = e->task, .step = e->step,
                     .start_ns = ns > e->elapsed_ns ? ns - e->elapsed_ns : 0,
                     .seen_elapsed_ns = e->elapsed_ns, .tid = e->tid,
                     .thread_state = (char)e->thread_state, .syscall = e->syscall,
                     .stack = e->stack};
    int over = ended_before_seen(m, &nb, ns);
    uint32_t slow_warning = over ? absorb_slow_step(m, &nb, ns) : 0;
    if (reserve((void **)&m->blocked, &m->blocked_cap, m->nblocked + 1, sizeof *m->blocked) != 0)
        return;
    tm_blocked *b = &m->blocked[m->nblocked++];
    *b = nb;
    m->blocked_changes++;
    /* The blocking task may be one whose spawn and resume the blocked
     * loop has not published yet: the watchdog names it (its name and
     * site records came just before, from the watchdog's ring), so it is
     * listed, running, while the loop is still blocked. */
    int known = tm_model_task(m, e->task) != NULL;
    tm_task *t = e->name || e->site ? task_get(m, e->task, ns) : tm_model_task(m, e->task);
    if (t && !known && !over) { /* first seen in this step: it has run since the step began */
        t->created_ns = t->state_since_ns = b->start_ns;
        t->state = TM_RUNNING;
        t->loop = e->loop;
        tm_loop *l = loop_get(m, e->loop);
        if (l)
            l->running_task = t->id;
    }
    if (t) {
        t->blocked_episodes++;
        if (!t->loop)
            t->loop = e->loop;
        if ((t->placeholder || !t->name) && (e->name || e->site)) {
            t->name = e->name;
            t->site = e->site;
            assign_groups(m, t);
        }
        if (t->state < TM_DONE && t->state != TM_RUNNING && !over) {
            settle(t, ns);
            t->state = TM_RUNNING;
            tm_loop *l = loop_get(m, t->loop);
            if (l)
                l->running_task = t->id;
        }
    }
    tm_loop *l = loop_get(m, e->loop);
    if (l && !l->tid)
        l->tid = e->tid;
    char text[200];
    blocked_text(b, text, sizeof text);
    if (slow_warning) {
        b->warning = slow_warning;
        tm__set_warning_text(m, slow_warning, text);
    } else {
        b->warning = tm__add_warning(m, TM_WARN_BLOCKED, ns, e->task, 0, text);
    }
}

/* An episode ended: its duration, and its warning's text, are final. */
static void episode_ended(tm_model *m, tm_blocked *b, uint64_t duration_ns) {
    char text[200];
    m->blocked_changes++;
    b->duration_ns = duration_ns;
    blocked_text(b, text, sizeof text);
    tm__set_warning_text(m, b->warning, text);
}

static void on_unblocked(tm_model *m, const ts_ev_loop_unblocked *e) {
    for (size_t i = 0; i < m->nblocked; i++)
        if (m->blocked[i].loop == e->loop && m->blocked[i].step == e->step) {
            m->blocked[i].end_unseen = 0;
            episode_ended(m, &m->blocked[i], e->duration_ns);
            return;
        }
    /* Its loop_blocked is not read yet (or was lost): keep the end for it. */
    unsigned k = m->early_next++ % (sizeof m->early_ends / sizeof m->early_ends[0]);
    m->early_ends[k].loop = e->loop;
    m->early_ends[k].step = e->step;
    m->early_ends[k].task = e->task;
    m->early_ends[k].duration_ns = e->duration_ns ? e->duration_ns : 1;
}

static void on_slow(tm_model *m, const ts_ev_slow_step *e, uint64_t ns) {
    /* A step that was also seen blocked is one episode, not two. */
    for (size_t i = 0; i < m->nblocked; i++) {
        tm_blocked *b = &m->blocked[i];
        if (b->loop == e->loop && b->task == e->task && !b->slow_only &&
            (b->duration_ns == e->duration_ns || !b->duration_ns)) {
            episode_ended(m, b, e->duration_ns);
            return;
        }
    }
    if (reserve((void **)&m->blocked, &m->blocked_cap, m->nblocked + 1, sizeof *m->blocked) != 0)
        return;
    tm_blocked *b = &m->blocked[m->nblocked++];
    m->blocked_changes++;
    memset(b, 0, sizeof *b);
    b->loop = e->loop;
    b->task = e->task;
    b->start_ns = ns > e->duration_ns ? ns - e->duration_ns : 0;
    b->duration_ns = e->duration_ns;
    b->syscall = -1;
    b->slow_only = 1;
    char text[200], dur[16];
    tm_fmt_dur(dur, sizeof dur, e->duration_ns);
    snprintf(text, sizeof text, "slow step: task #%llu ran %s without suspending",
             (unsigned long long)e->task, dur);
    b->warning = tm__add_warning(m, TM_WARN_SLOW_STEP, ns, e->task, 0, text);
}

static void on_stack(tm_model *m, const ts_ev_stack *e) {
    if (!e->id || e->id > (1u << 20))
        return;
    if (reserve((void **)&m->stacks, &m->stacks_cap, (size_t)e->id + 1, sizeof *m->stacks) != 0)
        return;
    uint64_t *s = malloc(((size_t)e->depth + 1) * 8);
    if (!s)
        return;
    s[0] = e->depth;
    memcpy(s + 1, e + 1, (size_t)e->depth * 8);
    free(m->stacks[e->id]);
    m->stacks[e->id] = s;
}

static void on_module(tm_model *m, const ts_ev_module *e) {
    for (size_t i = 0; i < m->nmodules; i++)
        if (m->modules[i].start == e->start) {
            m->modules[i].end = e->end;
            m->modules[i].path = e->path;
            return;
        }
    if (reserve((void **)&m->modules, &m->modules_cap, m->nmodules + 1, sizeof *m->modules) != 0)
        return;
    m->modules[m->nmodules++] = (tm_module){e->start, e->end, e->offset, e->path};
}

static void on_diag(tm_model *m, const ts_ev_diagnostic *e, uint64_t ns) {
    static const tm_warning_kind map[] = {
        0, TM_WARN_NEVER_RETRIEVED, TM_WARN_NEVER_AWAITED, TM_WARN_DESTROYED_PENDING,
        TM_WARN_STUCK, TM_WARN_STUCK, TM_WARN_BLOCKED};
    tm_warning_kind k = e->kind < sizeof map / sizeof map[0] ? map[e->kind] : TM_WARN_STUCK;
    if (!k)
        return;
    tm__add_warning(m, k, ns, e->task, 0, tm_model_string(m, e->message));
}

void tm_model_apply(tm_model *m, const ts_ev_header *h, uint64_t ns, uint32_t tid) {
    m->events++;
    if (ns > m->now)
        m->now = ns;
    switch (h->type) {
    case TS_EV_string: on_string(m, (const void *)h); break;
    case TS_EV_site: on_site(m, (const void *)h); break;
    case TS_EV_dropped: {
        m->dropped += ((const ts_ev_dropped *)h)->count;
        tm__note_drops(m, ns);
        int d = dump_slot(m, tid, 0);
        if (d >= 0) /* part of that dump may be among them: it proves nothing */
            m->dumps[d].torn = 1;
        break;
    }
    case TS_EV_loop_create: {
        const ts_ev_loop_create *e = (const void *)h;
        tm_loop *l = loop_get(m, e->loop);
        if (l)
            l->tid = e->tid;
        int d = dump_slot(m, tid, 0);
        if (d >= 0) {
            m->dumps[d].loop = e->loop;
            end_episodes(m, e->loop, ns); /* a loop writing a dump is not blocked */
        }
        break;
    }
    case TS_EV_dump_begin: {
        int d = dump_slot(m, tid, 1);
        if (d >= 0) {
            m->dumps[d].gen = ((const ts_ev_dump_begin *)h)->generation;
            m->dumps[d].loop = 0;
            m->dumps[d].torn = 0;
        }
        break;
    }
    case TS_EV_dump_end: {
        int d = dump_slot(m, tid, 0);
        if (d >= 0) {
            if (m->dumps[d].loop && !m->dumps[d].torn)
                retire_unlisted(m, m->dumps[d].loop, m->dumps[d].gen, ns);
            m->dumps[d].gen = 0;
            m->dumps[d].tid = 0;
        }
        break;
    }
    case TS_EV_loop_close: {
        tm_loop *l = loop_get(m, ((const ts_ev_loop_close *)h)->loop);
        if (l) {
            l->closed = 1;
            end_episodes(m, l->id, ns);
            retire_loop(m, l->id, ns);
        }
        break;
    }
    case TS_EV_task_create: on_task_create(m, (const void *)h, ns); break;
    case TS_EV_task_state: {
        on_task_state(m, (const void *)h, ns);
        int d = dump_slot(m, tid, 0);
        tm_task *t = tm_model_task(m, ((const ts_ev_task_state *)h)->task);
        if (d >= 0 && t)
            t->dump_gen = m->dumps[d].gen;
        break;
    }
    case TS_EV_task_resume: on_resume(m, (const void *)h, ns, tid); break;
    case TS_EV_task_suspend: on_suspend(m, (const void *)h, ns); break;
    case TS_EV_task_wake: on_wake(m, (const void *)h, ns); break;
    case TS_EV_task_cancel: on_cancel(m, (const void *)h, ns); break;
    case TS_EV_task_done: on_done(m, (const void *)h, ns); break;
    case TS_EV_task_free: on_free(m, (const void *)h, ns); break;
    case TS_EV_resource_create:
    case TS_EV_resource_free:
    case TS_EV_resource_acquired:
    case TS_EV_resource_release:
    case TS_EV_resource_name:
    case TS_EV_queue_depth:
    case TS_EV_future_create:
    case TS_EV_future_done: tm__apply_resource(m, h, ns, tid); break;
    case TS_EV_loop_blocked: on_blocked(m, (const void *)h, ns); break;
    case TS_EV_loop_unblocked: on_unblocked(m, (const void *)h); break;
    case TS_EV_slow_step: on_slow(m, (const void *)h, ns); break;
    case TS_EV_stack: on_stack(m, (const void *)h); break;
    case TS_EV_module: on_module(m, (const void *)h); break;
    case TS_EV_diagnostic: on_diag(m, (const void *)h, ns); break;
    case TS_EV_task_stack: tm__on_task_stack(m, (const void *)h, ns); break; /* model_notes.c */
    case TS_EV_task_field: tm__on_task_field(m, (const void *)h); break;
    case TS_EV_log: tm__on_log(m, (const void *)h, ns); break;
    case TS_EV_cancel_request: tm__on_cancel_request(m, (const void *)h); break;
    case TS_EV_fd_info: tm__on_fd_info(m, (const void *)h); break; /* model_fds.c */
    default: break;
    }
}

/* Is t, as of a complete dump of `loop`, a task whose end was dropped?
 * Not listed, not finished, and of that loop; a placeholder (its
 * task_create was dropped, so its loop is unknown) counts when the
 * process has only the one loop it could belong to. */
static int unlisted(const tm_model *m, const tm_task *t, uint64_t loop, uint64_t gen) {
    if (t->state >= TM_DONE || t->dump_gen == gen)
        return 0;
    if (t->loop)
        return t->loop == loop;
    for (size_t i = 0; i < m->nloops; i++) /* (a placeholder's steps make a loop 0) */
        if (m->loops[i].id && m->loops[i].id != loop)
            return 0;
    return 1;
}

static void retire_task(tm_model *m, tm_task *t, uint64_t ns) {
    stop_running(m, t, ns);
    t->state = TM_DONE;
    t->lost = 1;
    t->done_ns = ns;
    t->wait_kind = 0;
    t->wait_obj = 0;
    m->lost++;
    if (m->retire_fn)
        m->retire_fn(t->id, ns, m->retire_arg);
    if (!t->freed) {
        t->freed = 1;
        note_finished(m, t->id);
    }
}

static void retire_unlisted(tm_model *m, uint64_t loop, uint64_t gen, uint64_t ns) {
    sweep_begin(m);
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *t = m->tasks[i];
        if (!t)
            continue;
        if (!t->freed && t->state >= TM_DONE && m->dropped) {
            /* Finished but never freed, with events dropped: its
             * task_free may be among them, and nothing else would ever
             * let it go.  It joins the finished tasks, evicted after
             * TM_KEEP_FINISHED newer ones (a dump never lists finished
             * tasks, so there is nothing better to go by). */
            t->freed = 1;
            note_finished(m, t->id);
            continue;
        }
        if (unlisted(m, t, loop, gen))
            retire_task(m, t, ns);
    }
    sweep_end(m);
}

/* A closed loop has no live task left (ts_loop_close finishes them all
 * before it says so): any the model still holds live ended while its
 * events were dropped. */
static void retire_loop(tm_model *m, uint64_t loop, uint64_t ns) {
    /* With every loop closed, a task of unknown loop (a placeholder in
     * a process of several loops) has ended too. */
    int all_closed = 1;
    for (size_t i = 0; i < m->nloops; i++)
        all_closed &= m->loops[i].closed;
    sweep_begin(m);
    for (size_t i = 0; i < m->ntasks; i++) {
        tm_task *t = m->tasks[i];
        if (t && t->state < TM_DONE &&
            (unlisted(m, t, loop, UINT64_MAX) || (all_closed && !t->loop)))
            retire_task(m, t, ns);
    }
    sweep_end(m);
}
