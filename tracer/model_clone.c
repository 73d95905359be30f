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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model_impl.h"
#include "model_notes.h"

/* A copy of n elements of size elem, NULL for none or no memory (*ok
 * cleared on no memory). */
static void *dup_array(const void *src, size_t n, size_t elem, int *ok) {
    if (!src || !n)
        return NULL;
    void *p = malloc(n * elem);
    if (!p) {
        *ok = 0;
        return NULL;
    }
    memcpy(p, src, n * elem);
    return p;
}

static void dup_idmap(tm_idmap *dst, const tm_idmap *src, int *ok) {
    *dst = *src;
    dst->keys = dup_array(src->keys, src->cap, sizeof *src->keys, ok);
    dst->vals = dup_array(src->vals, src->cap, sizeof *src->vals, ok);
    if (!dst->keys || !dst->vals) {
        free(dst->keys);
        free(dst->vals);
        memset(dst, 0, sizeof *dst);
        if (src->cap)
            *ok = 0;
    }
}

static void dup_hdr(ts_hdr *dst, const ts_hdr *src, int *ok) {
    *dst = *src;
    dst->counts = dup_array(src->counts, src->counts_len, sizeof *src->counts, ok);
}

static void dup_groups(tm_groups *dst, const tm_groups *src, int *ok) {
    *dst = *src;
    dst->v = dup_array(src->v, src->cap, sizeof *src->v, ok);
    dst->by_site = dup_array(src->by_site, src->by_site_cap, sizeof *src->by_site, ok);
    dst->by_name = dup_array(src->by_name, src->by_name_cap, sizeof *src->by_name, ok);
    if (!dst->v) {
        dst->n = dst->cap = 0;
        return;
    }
    for (size_t i = 0; i < src->n; i++) {
        dup_hdr(&dst->v[i].poll_ns, &src->v[i].poll_ns, ok);
        dup_hdr(&dst->v[i].busy_ns, &src->v[i].busy_ns, ok);
    }
}

tm_model *tm_model_clone(const tm_model *src) {
    tm_model *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    int ok = 1;
    *m = *src;
    m->retire_fn = NULL;
    m->retire_arg = NULL;
    m->evict_fn = NULL; /* the streamed reports' hook, like retire's */
    m->evict_arg = NULL;
    m->notes = NULL; /* until copied below: never the original's */

    m->tasks = calloc(src->tasks_cap ? src->tasks_cap : 1, sizeof *m->tasks);
    ok &= m->tasks != NULL;
    for (size_t i = 0; m->tasks && i < src->ntasks; i++)
        if (src->tasks[i])
            m->tasks[i] = dup_array(src->tasks[i], 1, sizeof(tm_task), &ok);
    if (!m->tasks)
        m->ntasks = m->tasks_cap = 0;
    dup_idmap(&m->task_ids, &src->task_ids, &ok);
    m->finished_ids = dup_array(src->finished_ids, src->fin_cap, sizeof *src->finished_ids, &ok);

    m->strings.v = calloc(src->strings.cap ? src->strings.cap : 1, sizeof(char *));
    ok &= m->strings.v != NULL;
    for (size_t i = 0; m->strings.v && i < src->strings.cap; i++)
        if (src->strings.v[i])
            m->strings.v[i] = dup_array(src->strings.v[i], strlen(src->strings.v[i]) + 1, 1, &ok);
    if (!m->strings.v)
        m->strings.cap = 0;

    m->sites = dup_array(src->sites, src->sites_cap, sizeof *src->sites, &ok);
    m->loops = dup_array(src->loops, src->nloops, sizeof *src->loops, &ok);
    m->res = dup_array(src->res, src->res_cap, sizeof *src->res, &ok);
    dup_idmap(&m->res_ids, &src->res_ids, &ok);
    m->blocked = dup_array(src->blocked, src->blocked_cap, sizeof *src->blocked, &ok);
    m->warnings = dup_array(src->warnings, src->warnings_cap, sizeof *src->warnings, &ok);
    m->modules = dup_array(src->modules, src->modules_cap, sizeof *src->modules, &ok);

    m->stacks = calloc(src->stacks_cap ? src->stacks_cap : 1, sizeof *m->stacks);
    ok &= m->stacks != NULL;
    for (size_t i = 0; m->stacks && i < src->stacks_cap; i++)
        if (src->stacks[i])
            m->stacks[i] = dup_array(src->stacks[i], (size_t)src->stacks[i][0] + 1, 8, &ok);
    if (!m->stacks)
        m->stacks_cap = 0;

    dup_groups(&m->groups, &src->groups, &ok);
    if (tm__notes_clone(m, src))
        ok = 0;
    if (!ok) {
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
        tm_model_free(m);
        return NULL;
    }
    return m;
}

void tm_model_advance_now(tm_model *m, uint64_t ns) {
    if (ns > m->now)
        m->now = ns;
}
