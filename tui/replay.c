/*
 * replay.c - the replay source: a recording's events held in memory and
 * applied to the model up to a time cursor.
 *
 * Invariants:
 *   - The model (and the per-task history) always equals a fresh model
 *     fed every event with ns <= cursor, in recording order, with its
 *     clock moved to the cursor (tm_model_advance), so every age,
 *     state duration and stuck-task warning is computed at the cursor,
 *     not at the last event before it.
 *   - Moving forward applies the events in between.  Moving backward
 *     restores the latest checkpoint at or before the cursor (a deep
 *     copy of the model and histories taken every `every` events while
 *     applying) and applies from there, so a seek costs at most one
 *     checkpoint interval of events plus one model copy, whatever the
 *     recording's length.
 *   - Checkpoints hold at most CHECKPOINT_BUDGET bytes: each shares the
 *     task records and histories that did not change since the previous
 *     one (tm_model_snapshot, tui_recent_snapshot), and when they still
 *     outgrow the budget every other one is dropped and the spacing
 *     doubles.  So the spacing follows the model's size: a small model
 *     keeps the finest spacing, a huge one costs longer seeks, never
 *     more memory.
 *   - The log is append-only while loading and read-only after; records
 *     never straddle chunks and keep their 8-byte alignment.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"

#define CHUNK_BYTES (4u << 20)
/* Checkpoint spacing: at least this many events apart, and at most
 * MAX_CHECKPOINTS in all (a 10M-event recording: one per 250k events). */
#define CHECKPOINT_MIN_EVENTS 100000u
#define MAX_CHECKPOINTS 64
/* What all checkpoints may hold together, in bytes (a 10-minute
 * recording replays on a small machine). */
#define CHECKPOINT_BUDGET ((size_t)256 << 20)

struct entry {             /* precedes each record */
    uint64_t ns;
    uint32_t tid;
    uint32_t size;         /* record bytes, a multiple of 8 */
};

struct chunk {
    struct chunk *next;
    size_t used;
    _Alignas(8) char data[CHUNK_BYTES];
};

/* The state after the first `applied` events: the position of the next
 * one and copies of everything applying them built. */
struct checkpoint {
    uint64_t applied;
    uint64_t max_ns;       /* latest time among those events */
    struct chunk *cur;
    size_t off;
    tm_model *model;                    /* a tm_model_snapshot */
    tui_recent_snap *recent, *res_recent;
    size_t own;                         /* bytes not shared with others */
};

struct tui_log {
    struct chunk *head, *tail;
    int oom;
    /* the next event to apply */
    struct chunk *cur;
    size_t off;
    uint64_t max_ns;       /* latest time among the events applied */
    uint64_t every;        /* checkpoint spacing in events, 0 = none yet */
    struct checkpoint cps[MAX_CHECKPOINTS];
    size_t ncps;
    size_t budget;         /* CHECKPOINT_BUDGET unless a test says otherwise */
    uint64_t min_every;    /* CHECKPOINT_MIN_EVENTS, likewise */
    size_t own_bytes;      /* the checkpoints' own bytes, summed */
    size_t shared_bytes;   /* the records they share: tm_model_snapshot's */
};

static void checkpoint_free(tui_log *l, struct checkpoint *c) {
    tm_model_snapshot_free(c->model, &l->shared_bytes);
    tui_recent_snap_free(c->recent, &l->shared_bytes);
    tui_recent_snap_free(c->res_recent, &l->shared_bytes);
    l->own_bytes -= c->own < l->own_bytes ? c->own : l->own_bytes;
    memset(c, 0, sizeof *c);
}

size_t tui_replay_checkpoint_bytes(const tui_src *s) {
    return s->log ? s->log->own_bytes + s->log->shared_bytes : 0;
}

size_t tui_replay_checkpoints(const tui_src *s, uint64_t *every) {
    if (every)
        *every = s->log ? s->log->every : 0;
    return s->log ? s->log->ncps : 0;
}

/* Over budget: keep every other checkpoint (those a doubled spacing
 * would have taken) and double the spacing. */
static void thin_checkpoints(tui_log *l) {
    size_t j = 0;
    for (size_t i = 0; i < l->ncps; i++) {
        if (l->cps[i].applied % (2 * l->every) == 0)
            l->cps[j++] = l->cps[i];
        else
            checkpoint_free(l, &l->cps[i]);
    }
    for (size_t i = j; i < l->ncps; i++)
        memset(&l->cps[i], 0, sizeof l->cps[i]);
    l->ncps = j;
    l->every *= 2;
}

static void log_free(tui_log *l) {
    if (!l)
        return;
    for (size_t i = 0; i < l->ncps; i++)
        checkpoint_free(l, &l->cps[i]);
    for (struct chunk *c = l->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(l);
}

struct load {
    tui_src *s;
    tui_log *l;
};

static void on_load(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    struct load *ld = arg;
    tui_log *l = ld->l;
    size_t size = ((size_t)rec->size + 7) & ~(size_t)7;
    size_t need = sizeof(struct entry) + size;
    if (l->oom || need > CHUNK_BYTES)
        return;
    if (!l->tail || l->tail->used + need > CHUNK_BYTES) {
        struct chunk *c = malloc(sizeof *c);
        if (!c) {
            l->oom = 1;
            return;
        }
        c->next = NULL;
        c->used = 0;
        if (l->tail)
            l->tail->next = c;
        else
            l->head = c;
        l->tail = c;
    }
    struct entry e = {ns, tid, (uint32_t)size};
    memcpy(l->tail->data + l->tail->used, &e, sizeof e);
    memcpy(l->tail->data + l->tail->used + sizeof e, rec, rec->size);
    l->tail->used += need;
    tui_src *s = ld->s;
    if (!s->log_events || ns < s->t0)
        s->t0 = ns;
    if (ns > s->t_end)
        s->t_end = ns;
    s->log_events++;
}

/* The next event, or NULL at the end; does not consume it. */
static const struct entry *peek(tui_log *l) {
    while (l->cur && l->off >= l->cur->used) {
        l->cur = l->cur->next;
        l->off = 0;
    }
    return l->cur ? (const struct entry *)(l->cur->data + l->off) : NULL;
}

/* Copy the state after the events applied so far, if a checkpoint is
 * due here (the first time the cursor passes this point). */
static void maybe_checkpoint(tui_src *s) {
    tui_log *l = s->log;
    if (!l->every || s->applied % l->every || l->ncps == MAX_CHECKPOINTS ||
        (l->ncps && l->cps[l->ncps - 1].applied >= s->applied))
        return;
    /* histories of tasks the model evicted can never be shown: not worth
     * copying (in a long recording they outnumber the live ones) */
    tui_recent_prune(s->recent, s->model);
    const struct checkpoint *prev = l->ncps ? &l->cps[l->ncps - 1] : NULL;
    struct checkpoint c = {.applied = s->applied, .max_ns = l->max_ns, .cur = l->cur,
                           .off = l->off};
    size_t own[3] = {0, 0, 0};
    c.model = tm_model_snapshot(s->model, prev ? prev->model : NULL, &own[0], &l->shared_bytes);
    c.recent = tui_recent_snapshot(s->recent, prev ? prev->recent : NULL, &own[1],
                                   &l->shared_bytes);
    if (s->res_recent)
        c.res_recent = tui_recent_snapshot(s->res_recent, prev ? prev->res_recent : NULL,
                                           &own[2], &l->shared_bytes);
    c.own = own[0] + own[1] + own[2];
    l->own_bytes += c.own;
    if (!c.model || !c.recent || (s->res_recent && !c.res_recent)) {
        checkpoint_free(l, &c); /* no memory: seeks back just cost more */
        return;
    }
    l->cps[l->ncps++] = c;
    while (l->ncps > 1 && l->own_bytes + l->shared_bytes > l->budget)
        thin_checkpoints(l);
}

static void apply_next(tui_src *s, const struct entry *e) {
    const ts_ev_header *rec = (const ts_ev_header *)(e + 1);
    tm_model_apply(s->model, rec, e->ns, e->tid);
    tui_src_note(s, rec, e->ns);
    s->log->off += sizeof *e + e->size;
    if (e->ns > s->log->max_ns)
        s->log->max_ns = e->ns;
    s->applied++;
    maybe_checkpoint(s);
}

/* The latest checkpoint whose events all lie at or before t, NULL if
 * none. */
static const struct checkpoint *checkpoint_before(const tui_log *l, uint64_t t) {
    for (size_t i = l->ncps; i-- > 0;)
        if (l->cps[i].max_ns <= t)
            return &l->cps[i];
    return NULL;
}

/* Back to the latest checkpoint whose events all lie at or before t (or
 * to the start); the watch must then be rebuilt. */
static int rewind_model(tui_src *s, uint64_t t) {
    tui_log *l = s->log;
    const struct checkpoint *c = checkpoint_before(l, t);
    tm_model *m = c ? tm_model_restore(c->model) : tm_model_new();
    tui_recent *r = c ? tui_recent_restore(c->recent) : tui_recent_new();
    tui_recent *rr = c && c->res_recent ? tui_recent_restore(c->res_recent) : tui_recent_new();
    if (!m || !r || !rr) {
        tm_model_free(m);
        tui_recent_free(r);
        tui_recent_free(rr);
        return -ENOMEM;
    }
    tm_model_free(s->model);
    s->model = m;
    tui_recent_free(s->recent);
    s->recent = r;
    tui_recent_free(s->res_recent);
    s->res_recent = rr;
    l->cur = c ? c->cur : l->head;
    l->off = c ? c->off : 0;
    l->max_ns = c ? c->max_ns : 0;
    s->applied = c ? c->applied : 0;
    s->watch.valid = 0;
    return 0;
}

/* The recording's own drop count covers drops no event reported; it is
 * known only for the whole run, so it is added at the end. */
static void add_meta_drops(tui_src *s) {
    if (s->meta_dropped > tm_model_dropped(s->model))
        tm_model_add_dropped(s->model, s->meta_dropped - tm_model_dropped(s->model));
}

static void analyze(tui_src *s) {
    tm_model_analyze(s->model);
    s->analyzed_ns = s->cursor;
}

void tui_replay_seek(tui_src *s, uint64_t t) {
    if (s->mode != TUI_REPLAY)
        return;
    if (t < s->t0)
        t = s->t0;
    if (t > s->t_end)
        t = s->t_end;
    /* backwards, or forwards past a checkpoint: start from the nearest
     * checkpoint rather than apply everything in between */
    const struct checkpoint *c = checkpoint_before(s->log, t);
    /* (a copy costs about what applying an eighth of an interval does) */
    int jump = t < s->cursor || (c && c->applied > s->applied + s->log->every / 8);
    if (jump && rewind_model(s, t) != 0 && t < s->cursor)
        return; /* out of memory: stay where we are */
    const struct entry *e;
    while ((e = peek(s->log)) && e->ns <= t)
        apply_next(s, e);
    s->cursor = t;
    tm_model_advance(s->model, t);
    if (!e)
        add_meta_drops(s);
    analyze(s);
    s->gen++;
}

void tui_replay_rewatch(tui_src *s) {
    tui_log *l = s->log;
    if (s->mode != TUI_REPLAY || !l)
        return;
    /* every event before the next one to apply, from the first chunk */
    for (struct chunk *c = l->head; c; c = c->next) {
        size_t end = c == l->cur ? l->off : c->used;
        for (size_t off = 0; off < end;) {
            const struct entry *e = (const struct entry *)(c->data + off);
            tui_watch_note(&s->watch, (const ts_ev_header *)(e + 1), e->ns);
            off += sizeof *e + e->size;
        }
        if (c == l->cur)
            break;
    }
    s->watch.valid = 1;
}

int tui_replay_next_warning(tui_src *s) {
    if (s->mode != TUI_REPLAY)
        return -EINVAL;
    size_t before = tm_model_warning_count(s->model);
    const struct entry *e;
    uint64_t since_analysis = 0;
    while ((e = peek(s->log))) {
        uint64_t ns = e->ns;
        apply_next(s, e);
        s->cursor = ns > s->cursor ? ns : s->cursor;
        /* deadlocks and stuck loops are found by analysis, not by events:
         * look every 100 ms of recorded time */
        if (ns - s->analyzed_ns >= 100000000ull || ++since_analysis >= 65536) {
            analyze(s);
            since_analysis = 0;
        }
        if (tm_model_warning_count(s->model) > before)
            break;
    }
    if (!e) {
        s->cursor = s->t_end;
        add_meta_drops(s);
    }
    tm_model_advance(s->model, s->cursor);
    analyze(s);
    s->gen++;
    return tm_model_warning_count(s->model) > before ? 0 : -ENOENT;
}

void tui_replay_play(tui_src *s, int playing) {
    if (s->mode != TUI_REPLAY)
        return;
    if (playing && s->cursor >= s->t_end)
        tui_replay_seek(s, s->t0); /* play again from the start */
    s->playing = playing;
    s->play_wall_ns = tui_wall_ns();
}

int tui_replay_tick(tui_src *s) {
    if (!s->playing)
        return 0;
    uint64_t now = tui_wall_ns();
    double step = (double)(now - s->play_wall_ns) * s->speed;
    s->play_wall_ns = now;
    uint64_t target = s->cursor + (uint64_t)step;
    if (target >= s->t_end) {
        target = s->t_end;
        s->playing = 0;
    }
    tui_replay_seek(s, target);
    return 1;
}

/* A seek back frees one model and copies another of the same size: with
 * glibc's defaults the large arrays go back to the kernel on every free
 * and come back as fresh pages (a page fault each, costly on a VM).
 * Keeping freed memory in the heap makes a seek a copy, not a fault
 * storm.  Process-wide, but a replaying TUI is the whole process. */
static void keep_freed_memory(void) {
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int tui_replay_begin(tui_src *s, const char *label) {
    keep_freed_memory();
    memset(s, 0, sizeof *s);
    s->mode = TUI_REPLAY;
    s->speed = 1.0;
    snprintf(s->path, sizeof s->path, "%s", label);
    s->log = calloc(1, sizeof *s->log);
    s->recent = tui_recent_new();
    s->model = tm_model_new();
    if (!s->log || !s->recent || !s->model) {
        tui_replay_close(s);
        return -ENOMEM;
    }
    s->log->budget = CHECKPOINT_BUDGET;
    s->log->min_every = CHECKPOINT_MIN_EVENTS;
    return 0;
}

void tui_replay_checkpoint_limits(tui_src *s, size_t budget, uint64_t min_every) {
    if (s->log) {
        s->log->budget = budget;
        s->log->min_every = min_every ? min_every : 1;
    }
}

int tui_replay_add(tui_src *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid) {
    struct load ld = {s, s->log};
    on_load(rec, ns, tid, &ld);
    return s->log->oom ? -ENOMEM : 0;
}

void tui_replay_finish(tui_src *s) {
    s->log->cur = s->log->head;
    s->log->every = s->log_events / MAX_CHECKPOINTS + 1;
    if (s->log->every < s->log->min_every)
        s->log->every = s->log->min_every;
    s->cursor = 0; /* nothing applied yet: before any event */
    tui_replay_seek(s, s->t_end);
    double secs = (double)(s->t_end - s->t0) / 1e9;
    s->events_per_s = secs > 0 ? (double)s->log_events / secs : 0;
}

int tui_src_replay(tui_src *s, const char *path, char *err, size_t len) {
    if (tui_replay_begin(s, path) != 0) {
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    struct load ld = {s, s->log};
    /* The traced process: a recording may hold the children it forked
     * too, whose ids are their own (`taskscope ps --pid` reports them). */
    char pidbuf[32];
    ts_store_read_meta(path, "pid", pidbuf, sizeof pidbuf);
    int rc = ts_store_replay_pid(path, atoi(pidbuf), on_load, &ld, err, len);
    if (rc == 0 && s->log->oom) {
        snprintf(err, len, "%s: out of memory loading the recording", path);
        rc = -ENOMEM;
    }
    if (rc) {
        tui_replay_close(s);
        return rc;
    }
    char buf[256];
    ts_store_read_meta(path, "pid", buf, sizeof buf);
    s->pid = atoi(buf);
    ts_store_read_meta(path, "exe", s->exe, sizeof s->exe);
    ts_store_read_meta(path, "runtime_version", s->version, sizeof s->version);
    ts_store_read_meta(path, "dropped", buf, sizeof buf);
    s->meta_dropped = strtoull(buf, NULL, 10);
    /* "complete: ...", "recording in progress" or "cut short: ...", as
     * the reports say it (ts_store_status). */
    if (ts_store_status(path, s->status, sizeof s->status) || !s->status[0])
        snprintf(s->status, sizeof s->status, "unknown status");
    tui_replay_finish(s);
    return 0;
}

void tui_replay_close(tui_src *s) {
    log_free(s->log);
    s->log = NULL;
    tm_model_free(s->model);
    s->model = NULL;
    tui_recent_free(s->recent);
    s->recent = NULL;
    tui_recent_free(s->res_recent);
    s->res_recent = NULL;
}
