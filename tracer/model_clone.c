/*
 * model_clone.c - a deep copy of a model, and moving its clock to a time
 * no event carries: what a replay needs to answer "the state at the
 * cursor" without feeding a fresh model every event from the start.
 *
 * Invariant: a clone is indistinguishable from the original to every
 * tm_model_* call, and shares no memory with it (either may be applied
 * to or freed independently).  Every field of struct tm_model
 * (model_impl.h) is copied here: a field added there must be added here,
 * or a replay checkpoint silently forgets it.  The retire and evict
 * callbacks are not copied (it belongs to whoever registered it on the original).
 *
 * A snapshot (tm_model_snapshot) is a copy made to be kept, not applied
 * to or read: its task records are packed (zpack.h: mostly zeros) and
 * shared with the previous snapshot's wherever a task did not change
 * between the two (a long recording's finished tasks, most of a model,
 * stay as they are), so a replay can keep many.  Each shared record is
 * counted; only tm_model_snapshot_free frees a snapshot, and
 * tm_model_restore unpacks it into a model like any other.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_impl.h"
#include "model_fds.h"
#include "model_notes.h"
#include "zpack.h"

/* A task record kept by snapshots: packed (zpack.h) and counted by the
 * snapshots using it.  A snapshot's tasks[i] points to one of these (cast:
 * never read as a tm_task). */
struct shared {
    size_t refs;
    size_t nwords;
    uint64_t w[];
};

#define TASK_WORDS TS_ZPACK_MAX_WORDS(sizeof(tm_task))

enum { CLONE, SNAPSHOT, RESTORE };

/* One copy in progress: whether everything was copied, the bytes it
 * allocated, what it makes (a clone of a model, a snapshot of one, a
 * model from a snapshot) and, for a snapshot, the previous snapshot to
 * share records with. */
struct copy {
    int ok;
    int mode;
    size_t bytes;          /* all but the shared records */
    size_t shared;         /* new shared records */
    const tm_model *prev;
};

/* A copy of n elements of size elem, NULL for none or no memory (ok
 * cleared on no memory). */
static void *dup_array(const void *src, size_t n, size_t elem, struct copy *cp) {
    if (!src || !n)
        return NULL;
    void *p = malloc(n * elem);
    if (!p) {
        cp->ok = 0;
        return NULL;
    }
    memcpy(p, src, n * elem);
    cp->bytes += n * elem;
    return p;
}

static size_t shared_size(size_t nwords) {
    return sizeof(struct shared) + nwords * sizeof(uint64_t);
}

/* The copy of task t (a shared record when copying a snapshot): in a
 * snapshot, the previous snapshot's record of it if it packs to the same
 * words (the same bytes), else a new counted record; from a snapshot, the
 * record unpacked. */
static tm_task *dup_task(const tm_task *t, size_t at, struct copy *cp) {
    if (cp->mode == CLONE)
        return dup_array(t, 1, sizeof *t, cp);
    if (cp->mode == RESTORE) {
        const struct shared *sh = (const struct shared *)(const void *)t;
        tm_task *u = malloc(sizeof *u);
        if (!u) {
            cp->ok = 0;
            return NULL;
        }
        ts_zunpack(sh->w, sizeof *u, u);
        cp->bytes += sizeof *u;
        return u;
    }
    uint64_t buf[TASK_WORDS];
    size_t n = ts_zpack(t, sizeof *t, buf);
    /* a task keeps its index until evicted (or the model compacts): the
     * previous snapshot's record at the same index, if equal, is its own
     * (the packed words hold the id) */
    if (cp->prev && at < cp->prev->ntasks && cp->prev->tasks[at]) {
        struct shared *old = (struct shared *)(void *)cp->prev->tasks[at];
        if (old->nwords == n && memcmp(old->w, buf, n * sizeof *buf) == 0) {
            old->refs++;
            return (tm_task *)(void *)old;
        }
    }
    struct shared *sh = malloc(shared_size(n));
    if (!sh) {
        cp->ok = 0;
        return NULL;
    }
    sh->refs = 1;
    sh->nwords = n;
    memcpy(sh->w, buf, n * sizeof *buf);
    cp->shared += shared_size(n);
    return (tm_task *)(void *)sh;
}

static void dup_idmap(tm_idmap *dst, const tm_idmap *src, struct copy *cp) {
    *dst = *src;
    dst->keys = dup_array(src->keys, src->cap, sizeof *src->keys, cp);
    dst->vals = dup_array(src->vals, src->cap, sizeof *src->vals, cp);
    if (!dst->keys || !dst->vals) {
        free(dst->keys);
        free(dst->vals);
        memset(dst, 0, sizeof *dst);
        if (src->cap)
            cp->ok = 0;
    }
}

static void dup_hdr(ts_hdr *dst, const ts_hdr *src, struct copy *cp) {
    *dst = *src;
    dst->counts = dup_array(src->counts, src->counts_len, sizeof *src->counts, cp);
}

static void dup_groups(tm_groups *dst, const tm_groups *src, struct copy *cp) {
    *dst = *src;
    dst->v = dup_array(src->v, src->cap, sizeof *src->v, cp);
    dst->by_site = dup_array(src->by_site, src->by_site_cap, sizeof *src->by_site, cp);
    dst->by_name = dup_array(src->by_name, src->by_name_cap, sizeof *src->by_name, cp);
    if (!dst->v) {
        dst->n = dst->cap = 0;
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        dup_hdr(&dst->v[i].poll_ns, &src->v[i].poll_ns, cp);
        dup_hdr(&dst->v[i].busy_ns, &src->v[i].busy_ns, cp);
    }
}

/* Free what a snapshot's task records hold and detach them, so the
 * usual free does the rest. */
static size_t release_tasks(tm_model *m) {
    size_t freed = 0;
    for (size_t i = 0; i < m->ntasks; i++) {
        struct shared *sh = (struct shared *)(void *)m->tasks[i];
        if (sh && --sh->refs == 0) {
            freed += shared_size(sh->nwords);
            free(sh);
        }
        m->tasks[i] = NULL;
    }
    return freed;
}

static tm_model *copy_model(const tm_model *src, struct copy *cp) {
    tm_model *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    cp->bytes += sizeof *m;
    *m = *src;
    m->retire_fn = NULL;
    m->retire_arg = NULL;
    m->evict_fn = NULL; /* the streamed reports' hook, like retire's */
    m->evict_arg = NULL;
    m->notes = NULL; /* until copied below: never the original's */
    m->fds = NULL;
    m->fds_cap = 0;

    m->tasks = calloc(src->tasks_cap ? src->tasks_cap : 1, sizeof *m->tasks);
    cp->ok &= m->tasks != NULL;
    cp->bytes += (src->tasks_cap ? src->tasks_cap : 1) * sizeof *m->tasks;
    for (size_t i = 0; m->tasks && i < src->ntasks; i++)
        if (src->tasks[i])
            m->tasks[i] = dup_task(src->tasks[i], i, cp);
    if (!m->tasks)
        m->ntasks = m->tasks_cap = 0;
    /* a snapshot keeps no id map (a table per checkpoint would cost more
     * than its packed tasks): a restore rebuilds it from the tasks */
    if (cp->mode == CLONE) {
        dup_idmap(&m->task_ids, &src->task_ids, cp);
    } else {
        memset(&m->task_ids, 0, sizeof m->task_ids);
        for (size_t i = 0; cp->mode == RESTORE && m->tasks && i < m->ntasks; i++)
            if (m->tasks[i] && tm_idmap_put(&m->task_ids, m->tasks[i]->id, (uint32_t)i) != 0)
                cp->ok = 0;
    }
    m->finished_ids = dup_array(src->finished_ids, src->fin_cap, sizeof *src->finished_ids, cp);

    m->strings.v = calloc(src->strings.cap ? src->strings.cap : 1, sizeof(char *));
    cp->ok &= m->strings.v != NULL;
    for (size_t i = 0; m->strings.v && i < src->strings.cap; i++)
        if (src->strings.v[i])
            m->strings.v[i] = dup_array(src->strings.v[i], strlen(src->strings.v[i]) + 1, 1, cp);
    if (!m->strings.v)
        m->strings.cap = 0;

    m->sites = dup_array(src->sites, src->sites_cap, sizeof *src->sites, cp);
    m->loops = dup_array(src->loops, src->nloops, sizeof *src->loops, cp);
    m->res = dup_array(src->res, src->res_cap, sizeof *src->res, cp);
    dup_idmap(&m->res_ids, &src->res_ids, cp);
    m->blocked = dup_array(src->blocked, src->blocked_cap, sizeof *src->blocked, cp);
    m->warnings = dup_array(src->warnings, src->warnings_cap, sizeof *src->warnings, cp);
    m->modules = dup_array(src->modules, src->modules_cap, sizeof *src->modules, cp);

    m->stacks = calloc(src->stacks_cap ? src->stacks_cap : 1, sizeof *m->stacks);
    cp->ok &= m->stacks != NULL;
    for (size_t i = 0; m->stacks && i < src->stacks_cap; i++)
        if (src->stacks[i])
            m->stacks[i] = dup_array(src->stacks[i], (size_t)src->stacks[i][0] + 1, 8, cp);
    if (!m->stacks)
        m->stacks_cap = 0;

    dup_groups(&m->groups, &src->groups, cp);
    if (tm__notes_clone(m, src))
        cp->ok = 0;
    if (tm__fds_clone(m, src))
        cp->ok = 0;
    if (!cp->ok) {
        /* every pointer is either a copy or NULL: the usual free works,
         * once the sizes of what failed are consistent */
        if (!m->sites)
            m->sites_cap = 0;
        if (!m->loops)
            m->nloops = 0;
        if (!m->res)
            m->nres = m->res_cap = 0;
        if (!m->blocked)
            m->nblocked = m->blocked_cap = 0;
        if (!m->warnings)
            m->nwarnings = m->warnings_cap = 0;
        if (!m->modules)
            m->nmodules = m->modules_cap = 0;
        if (cp->mode == SNAPSHOT && m->tasks)
            release_tasks(m);
        tm_model_free(m);
        return NULL;
    }
    return m;
}

tm_model *tm_model_clone(const tm_model *src) {
    struct copy cp = {1, CLONE, 0, 0, NULL};
    return copy_model(src, &cp);
}

tm_model *tm_model_restore(const tm_model *snap) {
    struct copy cp = {1, RESTORE, 0, 0, NULL};
    return copy_model(snap, &cp);
}

tm_model *tm_model_snapshot(const tm_model *src, const tm_model *prev, size_t *own,
                            size_t *shared) {
    struct copy cp = {1, SNAPSHOT, 0, 0, prev};
    tm_model *m = copy_model(src, &cp);
    *own = m ? cp.bytes : 0;
    if (m)
        *shared += cp.shared;
    return m;
}

void tm_model_snapshot_free(tm_model *snap, size_t *shared) {
    if (!snap)
        return;
    size_t freed = snap->tasks ? release_tasks(snap) : 0;
    *shared -= freed < *shared ? freed : *shared;
    tm_model_free(snap);
}
