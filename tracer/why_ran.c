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
 * node in a list of thousands: the totals are kept per task in an array
 * hashed by task, and become nodes (the longest few) at the end.
 *
 * Even so, reading every step of a span as long as the recording is
 * 0.6 s of CPU per 10M events in SQLite alone: a long span is answered
 * from the per-task step summary the store writes at close (why_steps.c)
 * where that gives the same answer exactly (ran_by_summary says when).
 */
#include <stdlib.h>
#include <string.h>

#include "why_impl.h"

/* What a runnable node accumulates per task that ran meanwhile, before
 * why__fold_ran makes nodes of it.  A span the task spent runnable can
 * cover a million other tasks' steps (a task spawned and never run
 * again: the whole recording); a calloc'd node per task, found through a
 * hash of pointers, cost a cache miss or two a step and a sort of them
 * all, and all but WHY_RAN_MAX of them are folded into one anyway.  So
 * the totals live in one array (first seen first), hashed by task. */
typedef struct ran_acc {
    uint64_t task, ns;
    uint64_t loop_blocked_ns, blocker, blocker_ns, object; /* why__note_blocking's */
    unsigned count;
    int blocker_syscall;
} ran_acc;

typedef struct ran_table {
    ran_acc *v;
    size_t n, cap;   /* entries */
    uint32_t *slot;  /* entry index + 1, 0 = empty */
    size_t nslots;   /* a power of two, or 0 */
} ran_table;

void why__index_free(node *x) {
    ran_table *t = x->index;
    if (t) {
        free(t->v);
        free(t->slot);
    }
    free(t);
    x->index = NULL;
}

/* Task ids are handed out in order, and the tasks that run in a stretch
 * were mostly spawned close together: the low bits as they are keep
 * their slots together in the cache (a multiplicative hash scattered
 * them, a cache miss a step); the high bits folded in spread ids apart
 * by a power of two. */
static size_t ran_home(uint64_t task, size_t nslots) {
    return (size_t)(task ^ (task >> 21) ^ (task >> 42)) & (nslots - 1);
}

static int ran_rehash(ran_table *t) {
    size_t nslots = t->nslots ? t->nslots * 2 : 64;
    uint32_t *slot = calloc(nslots, sizeof *slot);
    if (!slot)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = ran_home(t->v[i].task, nslots);
        while (slot[k])
            k = (k + 1) & (nslots - 1);
        slot[k] = (uint32_t)(i + 1);
    }
    free(t->slot);
    t->slot = slot;
    t->nslots = nslots;
    return 0;
}

/* Runnable node x's totals for task `task`, or NULL. */
static ran_acc *ran_lookup(node *x, uint64_t task) {
    ran_table *t = x->index;
    if (t && t->nslots) {
        size_t k = ran_home(task, t->nslots);
        for (; t->slot[k]; k = (k + 1) & (t->nslots - 1))
            if (t->v[t->slot[k] - 1].task == task)
                return &t->v[t->slot[k] - 1];
    }
    return NULL;
}

/* Runnable node x's totals for task `task`, made if new; NULL when out
 * of memory. */
static ran_acc *ran_entry(node *x, uint64_t task) {
    ran_acc *e = ran_lookup(x, task);
    if (e)
        return e;
    ran_table *t = x->index;
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        x->index = t;
    }
    if (t->n == UINT32_MAX - 1)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        ran_acc *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->nslots && ran_rehash(t))
        return NULL;
    e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    e->task = task;
    size_t k = ran_home(task, t->nslots);
    while (t->slot[k])
        k = (k + 1) & (t->nslots - 1);
    t->slot[k] = (uint32_t)++t->n;
    return e;
}

/* Charge d ns of task `other`'s step [a, b) to its totals under x.  -1
 * when out of memory. */
static int ran_charge(why_ctx *c, node *x, uint64_t other, uint64_t a, uint64_t b, uint64_t d) {
    ran_acc *e = ran_entry(x, other);
    if (!e)
        return -1;
    e->ns += d;
    e->count++;
    if (d >= WHY_BLOCK_MIN_NS) { /* a step the watchdog reported? */
        node y = {.loop_blocked_ns = e->loop_blocked_ns, .blocker = e->blocker,
                  .blocker_ns = e->blocker_ns, .object = e->object,
                  .blocker_syscall = e->blocker_syscall};
        why__note_blocking(c, &y, other, a, b, d);
        e->loop_blocked_ns = y.loop_blocked_ns;
        e->blocker = y.blocker;
        e->blocker_ns = y.blocker_ns;
        e->object = y.object;
        e->blocker_syscall = y.blocker_syscall;
    }
    return 0;
}

/* Step [a, b) of task `other` ran during span sp: charge its part of the
 * span to other's totals under x (never past the span: tasks of other
 * loops, threads, may overlap). */
static void ran_step(why_ctx *c, node *x, const span *sp, uint64_t other, uint64_t a,
                     uint64_t b, uint64_t *used) {
    uint64_t d = why__clip(a, b, sp->a, sp->b);
    if (d > sp->b - sp->a - *used)
        d = sp->b - sp->a - *used;
    if (!d)
        return;
    ran_charge(c, x, other, a, b, d);
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

/* ---- from the step summary (why_steps.c) --------------------------------
 * A span with c->steps_min events or more between its ends (100,000) is
 * answered from the summary where it can be; below, reading its steps
 * costs at most tens of ms. */

/* What one task's steps in [lo, s1) add to the span, read through its
 * (task, seq) indexes and paired as why__ran_meanwhile pairs them, into
 * tmp; *total grows by their time (uncapped).  -1 when out of memory. */
static int ran_task_steps(why_ctx *c, node *tmp, const span *sp, uint64_t t, int64_t lo,
                          uint64_t *total) {
    sqlite3_stmt *st = c->steps_task;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)t);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, lo);
    sqlite3_bind_int64(st, 4, sp->s1);
    int open = 0, rc = 0;
    int64_t oseq = 0;
    uint64_t ons = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        uint64_t ns = (uint64_t)sqlite3_column_int64(st, 1);
        if (sqlite3_column_int(st, 2) == 0) {
            open = 1;
            ons = ns;
            oseq = seq;
        } else if (open) {
            uint64_t d = why__clip(ons, ns, sp->a, sp->b);
            if (d && !(rc = ran_charge(c, tmp, t, ons, ns, d)))
                *total += d;
            open = 0;
        }
    }
    sqlite3_reset(st);
    if (open && !rc) { /* still running at the span's end: its end is after it */
        sqlite3_stmt *se = c->step_end;
        sqlite3_reset(se);
        sqlite3_bind_int64(se, 1, (sqlite3_int64)t);
        sqlite3_bind_int64(se, 2, c->pid);
        sqlite3_bind_int64(se, 3, oseq);
        sqlite3_bind_int64(se, 4, (sqlite3_int64)c->rec_end);
        uint64_t e = sqlite3_step(se) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(se, 0)
                                                     : c->rec_end;
        uint64_t d = why__clip(ons, e, sp->a, sp->b);
        if (d && !(rc = ran_charge(c, tmp, t, ons, e, d)))
            *total += d;
    }
    return rc;
}

/* The span's "ran meanwhile" from the summary: a task whose step events
 * all lie inside the span (by seq and by time), paired regularly, none
 * long enough to look up in the watchdog's reports, adds its summed
 * steps as they are: exactly what reading them would add.  The others
 * (running across the span's ends, irregular, long steps) have their
 * steps in the span read through the task indexes.  Only where one
 * thread ran all the process's steps (they never overlap, so the scan's
 * cap at the span's length never cuts one; checked: the total must fit),
 * and only when more than WHY_RAN_MAX tasks are named (else the order
 * they were first seen in, which the scan gives, is what is printed).
 * 0, or -1: read the steps instead (nothing added to x). */
static int ran_by_summary(why_ctx *c, node *x, uint64_t task, const span *sp, int64_t lo) {
    if (!c->steps_rows || sp->s1 - lo < c->steps_min)
        return -1;
    sqlite3_stmt *st = c->steps_pid;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, c->pid);
    int one = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_reset(st);
    if (!one)
        return -1;
    node tmp = {0}; /* this span's totals, in tmp.index */
    uint64_t total = 0, len = sp->b - sp->a, *other = NULL;
    size_t nother = 0, cap = 0;
    unsigned irregular = 0;
    int rc = 0;
    st = c->steps_rows;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, c->pid);
    sqlite3_bind_int64(st, 2, lo);
    sqlite3_bind_int64(st, 3, sp->s1);
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        uint64_t t = (uint64_t)sqlite3_column_int64(st, 0);
        if (!t || t == task) /* as the scan: taskless steps, and the task's own, are not "others" */
            continue;
        int irr = sqlite3_column_int(st, 8);
        if (sqlite3_column_int64(st, 1) >= lo && sqlite3_column_int64(st, 2) < sp->s1 &&
            (uint64_t)sqlite3_column_int64(st, 3) >= sp->a &&
            (uint64_t)sqlite3_column_int64(st, 4) <= sp->b && !sqlite3_column_int64(st, 7) &&
            !irr) {
            int64_t steps = sqlite3_column_int64(st, 6);
            if (steps) {
                ran_acc *e = ran_entry(&tmp, t);
                uint64_t ns = (uint64_t)sqlite3_column_int64(st, 5);
                if (!e) {
                    rc = -1;
                    break;
                }
                e->ns += ns;
                e->count += (unsigned)steps;
                total += ns;
            }
            continue;
        }
        irregular += irr != 0;
        if (nother == cap) {
            cap = cap ? cap * 2 : 256;
            uint64_t *p = realloc(other, cap * sizeof *p);
            if (!p) {
                rc = -1;
                break;
            }
            other = p;
        }
        other[nother++] = t;
    }
    sqlite3_reset(st);
    /* the scan forgets the oldest of WHY_OPEN_MAX steps left open (lost
     * ends): with that many, read it to get the same answer */
    if (irregular >= WHY_OPEN_MAX / 2)
        rc = -1;
    for (size_t i = 0; i < nother && !rc; i++)
        rc = ran_task_steps(c, &tmp, sp, other[i], lo, &total);
    free(other);
    ran_table *tt = tmp.index;
    size_t named = x->index ? ((ran_table *)x->index)->n : 0;
    for (size_t i = 0; !rc && tt && i < tt->n; i++)
        named += !ran_lookup(x, tt->v[i].task);
    if (!rc && (total > len || named <= WHY_RAN_MAX))
        rc = -1;
    for (size_t i = 0; !rc && tt && i < tt->n; i++) {
        const ran_acc *v = &tt->v[i];
        ran_acc *e = ran_entry(x, v->task);
        if (!e) /* out of memory: left out, as the scan leaves it (no going back now) */
            continue;
        e->ns += v->ns;
        e->count += v->count;
        if (v->loop_blocked_ns) { /* as why__note_blocking adds them */
            e->loop_blocked_ns += v->loop_blocked_ns;
            e->blocker = v->blocker;
            e->blocker_ns += v->blocker_ns;
            e->blocker_syscall = v->blocker_syscall;
            if (!e->object)
                e->object = v->object;
        }
    }
    why__index_free(&tmp);
    if (rc)
        return -1;
    if (total < len) {
        node *y = why__find_child(x, WHY_LOOP, 0, 0, 0, 0);
        if (y) {
            y->ns += len - total;
            y->count++;
        }
    }
    return 0;
}

void why__ran_meanwhile(why_ctx *c, node *x, uint64_t task, const span *sp) {
    /* from the step running when the span began */
    int64_t lo = 0;
    sqlite3_reset(c->ran_lo);
    sqlite3_bind_int64(c->ran_lo, 1, sp->s0);
    sqlite3_bind_int64(c->ran_lo, 2, c->pid);
    if (sqlite3_step(c->ran_lo) == SQLITE_ROW)
        lo = sqlite3_column_int64(c->ran_lo, 0);
    if (ran_by_summary(c, x, task, sp, lo) == 0)
        return;
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

/* Does a rank before b (more time; of equal times, the lower task)? */
static int ran_before(const ran_acc *a, const ran_acc *b) {
    return a->ns != b->ns ? a->ns > b->ns : a->task < b->task;
}

/* A task node under runnable node n, before its WHY_LOOP child (kept
 * last), from totals e; NULL when out of memory. */
static node *ran_node(node *n, const ran_acc *e) {
    node *y = calloc(1, sizeof *y);
    if (!y)
        return NULL;
    y->type = N_TASK;
    y->cause = WHY_CAUSE_RAN;
    y->task = e->task;
    y->ns = e->ns;
    y->count = e->count;
    y->loop_blocked_ns = e->loop_blocked_ns;
    y->blocker = e->blocker;
    y->blocker_ns = e->blocker_ns;
    y->object = e->object;
    y->blocker_syscall = e->blocker_syscall;
    node **p = &n->child;
    while (*p && (*p)->type != WHY_LOOP)
        p = &(*p)->next;
    y->next = *p;
    *p = y;
    if (!y->next)
        n->last = y;
    return y;
}

/* Under each runnable node name the WHY_RAN_MAX tasks that ran longest
 * (in first-seen order when there are no more, else longest first); the
 * others become one node, task 0, count = how many tasks, ns their exact
 * total (a busy loop runs thousands meanwhile: a list nobody reads, and
 * slow to name). */
void why__fold_ran(node *n) {
    for (; n; n = n->next) {
        why__fold_ran(n->child);
        ran_table *t = n->index;
        if (n->type != N_SCHED || !t)
            continue;
        if (t->n <= WHY_RAN_MAX) {
            for (size_t i = 0; i < t->n; i++)
                ran_node(n, &t->v[i]);
        } else {
            /* the longest WHY_RAN_MAX, by insertion into a short sorted list */
            size_t top[WHY_RAN_MAX], k = 0;
            for (size_t i = 0; i < t->n; i++) {
                if (k == WHY_RAN_MAX && !ran_before(&t->v[i], &t->v[top[k - 1]]))
                    continue;
                size_t j = k < WHY_RAN_MAX ? k++ : k - 1;
                for (; j > 0 && ran_before(&t->v[i], &t->v[top[j - 1]]); j--)
                    top[j] = top[j - 1];
                top[j] = i;
            }
            ran_acc rest = {0};
            for (size_t i = 0; i < t->n; i++) {
                rest.ns += t->v[i].ns;
                rest.count++;
            }
            for (size_t j = 0; j < k; j++) {
                rest.ns -= t->v[top[j]].ns;
                rest.count--;
                ran_node(n, &t->v[top[j]]);
            }
            ran_node(n, &rest); /* task 0; count: how many tasks, not steps */
        }
        why__index_free(n);
    }
}
