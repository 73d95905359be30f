/*
 * why_ran.c - the tasks that ran while a task was runnable: who kept it
 * waiting for the loop (issue 19's "which other tasks ran meanwhile and
 * for how long").
 *
 * The steps come from three range scans by seq (resumes, suspends,
 * dones), merged here: a step is a resume up to its task's next suspend
 * or done.  Looking each step's end up instead costs index probes per
 * step, seconds for a span as long as a 10M-event recording (a task
 * runnable from its spawn to the end), and so would finding each step's
 * node in a list of thousands: the children are hashed by task.
 */
#include <stdlib.h>
#include <string.h>

#include "why_impl.h"

/* A runnable node's task children by task id.  A span the task spent
 * runnable can cover thousands of other tasks' steps (a task spawned and
 * never run again: the whole recording), and finding each step's node by
 * scanning the children would be quadratic. */
typedef struct child_index {
    size_t cap, n; /* cap: a power of two, or 0 */
    node **slot;
} child_index;

void why__index_free(node *x) {
    child_index *ix = x->index;
    if (ix)
        free(ix->slot);
    free(ix);
    x->index = NULL;
}

static size_t index_home(uint64_t task, size_t cap) {
    return (size_t)((task * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int index_grow(child_index *ix) {
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    node **slot = calloc(cap, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slot[i]) {
            size_t k = index_home(ix->slot[i]->task, cap);
            while (slot[k])
                k = (k + 1) & (cap - 1);
            slot[k] = ix->slot[i];
        }
    free(ix->slot);
    ix->slot = slot;
    ix->cap = cap;
    return 0;
}

/* The child of runnable node x for task `task`, made if new; NULL when
 * out of memory. */
static node *ran_child(node *x, uint64_t task) {
    child_index *ix = x->index;
    if (!ix) {
        ix = calloc(1, sizeof *ix);
        if (!ix)
            return NULL;
        x->index = ix; /* (only ran_child gives a runnable node task children) */
    }
    if ((ix->n + 1) * 2 > ix->cap && index_grow(ix))
        return NULL;
    size_t k = index_home(task, ix->cap);
    while (ix->slot[k] && ix->slot[k]->task != task)
        k = (k + 1) & (ix->cap - 1);
    if (ix->slot[k])
        return ix->slot[k];
    node *n = why__add_child(x, N_TASK);
    if (!n)
        return NULL;
    n->task = task;
    ix->slot[k] = n;
    ix->n++;
    return n;
}

/* Step [a, b) of task `other` ran during span sp: charge its part of the
 * span to other's child of x (never past the span: tasks of other loops,
 * threads, may overlap). */
static void ran_step(why_ctx *c, node *x, const span *sp, uint64_t other, uint64_t a,
                     uint64_t b, uint64_t *used) {
    uint64_t d = why__clip(a, b, sp->a, sp->b);
    if (d > sp->b - sp->a - *used)
        d = sp->b - sp->a - *used;
    if (!d)
        return;
    node *y = ran_child(x, other);
    if (y) {
        y->cause = WHY_CAUSE_RAN;
        y->ns += d;
        y->count++;
        if (d >= WHY_BLOCK_MIN_NS) /* a step the watchdog reported? */
            why__note_blocking(c, y, other, a, b, d);
    }
    *used += d;
}

/* One of the three seq-ordered scans add_sched merges. */
typedef struct scan {
    sqlite3_stmt *st;
    int live;
    int64_t seq;
    uint64_t ns, task;
} scan;

static void scan_next(scan *k) {
    k->live = sqlite3_step(k->st) == SQLITE_ROW;
    if (k->live) {
        k->seq = sqlite3_column_int64(k->st, 0);
        k->ns = (uint64_t)sqlite3_column_int64(k->st, 1);
        k->task = (uint64_t)sqlite3_column_int64(k->st, 2);
    }
}

static void scan_start(scan *k, sqlite3_stmt *st, int64_t pid, int64_t lo, int64_t hi) {
    k->st = st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, hi);
    scan_next(k);
}

/* Steps open at once while merging: one per loop. */
#define WHY_OPEN_MAX 64

void why__ran_meanwhile(why_ctx *c, node *x, uint64_t task, const span *sp) {
    /* from the step running when the span began */
    int64_t lo = 0;
    sqlite3_reset(c->ran_lo);
    sqlite3_bind_int64(c->ran_lo, 1, sp->s0);
    sqlite3_bind_int64(c->ran_lo, 2, c->pid);
    if (sqlite3_step(c->ran_lo) == SQLITE_ROW)
        lo = sqlite3_column_int64(c->ran_lo, 0);
    scan k[3];
    scan_start(&k[0], c->ran_resume, c->pid, lo, sp->s1);
    scan_start(&k[1], c->ran_suspend, c->pid, lo, sp->s1);
    scan_start(&k[2], c->ran_done, c->pid, lo, sp->s1);
    struct { uint64_t task, ns; int64_t seq; } open[WHY_OPEN_MAX];
    int nopen = 0;
    uint64_t used = 0;
    for (;;) {
        int m = -1;
        for (int i = 0; i < 3; i++)
            if (k[i].live && (m < 0 || k[i].seq < k[m].seq))
                m = i;
        if (m < 0)
            break;
        uint64_t t = k[m].task;
        int o = 0;
        while (o < nopen && open[o].task != t)
            o++;
        if (m == 0) {
            if (t && t != task) {
                if (o == nopen && nopen == WHY_OPEN_MAX) /* its end was lost: forget the oldest */
                    memmove(open, open + 1, (size_t)--nopen * sizeof *open), o = nopen;
                open[o].task = t;
                open[o].ns = k[m].ns;
                open[o].seq = k[m].seq;
                nopen += o == nopen;
            }
        } else if (o < nopen) {
            ran_step(c, x, sp, t, open[o].ns, k[m].ns, &used);
            open[o] = open[--nopen];
        }
        scan_next(&k[m]);
    }
    /* Steps still running at the span's end (another loop's): their ends
     * are after it. */
    for (int o = 0; o < nopen; o++) {
        sqlite3_stmt *st = c->step_end;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)open[o].task);
        sqlite3_bind_int64(st, 2, c->pid);
        sqlite3_bind_int64(st, 3, open[o].seq);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)c->rec_end);
        uint64_t e = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0)
                                                     : c->rec_end;
        ran_step(c, x, sp, open[o].task, open[o].ns, e, &used);
    }
    if (used < sp->b - sp->a) {
        node *y = why__find_child(x, WHY_LOOP, 0, 0, 0, 0);
        if (y) {
            y->ns += sp->b - sp->a - used;
            y->count++;
        }
    }
}

static int by_ns_desc(const void *a, const void *b) {
    const node *x = *(node *const *)a, *y = *(node *const *)b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : x->task < y->task ? -1 : x->task > y->task;
}

/* Under each runnable node keep the WHY_RAN_MAX tasks that ran longest;
 * the others become one node, task 0, count = how many tasks (a busy
 * loop runs thousands meanwhile: a list nobody reads, and slow to
 * name). */
void why__fold_ran(node *n) {
    for (; n; n = n->next) {
        why__fold_ran(n->child);
        if (n->type != N_SCHED)
            continue;
        why__index_free(n); /* its nodes are about to be merged and freed */
        size_t k = 0;
        for (node *x = n->child; x; x = x->next)
            k += x->type == N_TASK;
        if (k <= WHY_RAN_MAX)
            continue;
        node **v = malloc(k * sizeof *v), *loop = NULL;
        if (!v)
            continue;
        k = 0;
        for (node *x = n->child; x; x = x->next) {
            if (x->type == N_TASK)
                v[k++] = x;
            else
                loop = x; /* WHY_LOOP, the only other child */
        }
        qsort(v, k, sizeof *v, by_ns_desc);
        node *rest = v[WHY_RAN_MAX];
        rest->count = 1;
        for (size_t i = WHY_RAN_MAX + 1; i < k; i++) {
            rest->ns += v[i]->ns;
            rest->count++;
            v[i]->next = NULL;
            why_node_free(v[i]);
        }
        rest->task = 0;
        rest->object = rest->loop_blocked_ns = rest->blocker = rest->blocker_ns = 0;
        n->child = NULL;
        n->last = NULL;
        for (size_t i = 0; i <= WHY_RAN_MAX; i++) {
            v[i]->next = NULL;
            if (n->last)
                n->last->next = v[i];
            else
                n->child = v[i];
            n->last = v[i];
        }
        if (loop) {
            loop->next = NULL;
            n->last->next = loop;
            n->last = loop;
        }
        free(v);
    }
}
