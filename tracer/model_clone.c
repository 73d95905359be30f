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
 * A snapshot (tm_model_snapshot) is a clone made to be kept, not applied
 * to: its task records are shared, read-only, with the previous
 * snapshot's wherever a task did not change between the two (a long
 * recording's finished tasks, most of a model, stay as they are), so a
 * replay can keep many.  Each shared record is counted (struct shared
 * precedes it); only tm_model_snapshot_free frees a snapshot, and only
 * tm_model_clone of it gives a model that may be applied to.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_impl.h"
#include "model_notes.h"

/* A task record kept by snapshots, counted by the snapshots using it. */
struct shared {
    size_t refs;
    tm_task t;
};

/* One copy in progress: whether everything was copied, the bytes it
 * allocated, and (snapshots) the previous snapshot to share tasks with. */
struct copy {
    int ok;
    int snapshot;
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

static struct shared *shared_of(const tm_task *t) {
    return (struct shared *)((char *)t - offsetof(struct shared, t));
}

/* The copy of task t: in a snapshot, the previous snapshot's record of
 * it if byte for byte the same, else a new counted record. */
static tm_task *dup_task(const tm_task *t, struct copy *cp) {
    if (!cp->snapshot)
        return dup_array(t, 1, sizeof *t, cp);
    tm_task *old = cp->prev ? tm_model_task(cp->prev, t->id) : NULL;
    if (old && memcmp(old, t, sizeof *t) == 0) {
        shared_of(old)->refs++;
        return old;
    }
    struct shared *sh = malloc(sizeof *sh);
    if (!sh) {
        cp->ok = 0;
        return NULL;
    }
    sh->refs = 1;
    memcpy(&sh->t, t, sizeof *t);
    cp->shared += sizeof *sh;
    return &sh->t;
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
        if (m->tasks[i] && --shared_of(m->tasks[i])->refs == 0) {
            free(shared_of(m->tasks[i]));
            freed += sizeof(struct shared);
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

    m->tasks = calloc(src->tasks_cap ? src->tasks_cap : 1, sizeof *m->tasks);
    cp->ok &= m->tasks != NULL;
    cp->bytes += (src->tasks_cap ? src->tasks_cap : 1) * sizeof *m->tasks;
    for (size_t i = 0; m->tasks && i < src->ntasks; i++)
        if (src->tasks[i])
            m->tasks[i] = dup_task(src->tasks[i], cp);
    if (!m->tasks)
        m->ntasks = m->tasks_cap = 0;
    dup_idmap(&m->task_ids, &src->task_ids, cp);
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
        if (cp->snapshot && m->tasks)
            release_tasks(m);
        tm_model_free(m);
        return NULL;
    }
    return m;
}

tm_model *tm_model_clone(const tm_model *src) {
    struct copy cp = {1, 0, 0, 0, NULL};
    return copy_model(src, &cp);
}

tm_model *tm_model_snapshot(const tm_model *src, const tm_model *prev, size_t *own,
                            size_t *shared) {
    struct copy cp = {1, 1, 0, 0, prev};
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

void tm_model_advance_now(tm_model *m, uint64_t ns) {
    if (ns > m->now)
        m->now = ns;
}
