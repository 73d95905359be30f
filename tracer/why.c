/*
 * why.c - where a task's wall time went (issue 19): the model behind
 * why.h (`taskscope why`, the TUI's why view; who ran while a task was
 * runnable is why_ran.c, printing why_print.c, the command why_cmd.c,
 * the live window why_live.c).
 *
 * The task's life, spawn to end (or to the recording's last event while
 * it is live), is cut at its own events into intervals, each in exactly
 * one state: running (task_resume → task_suspend/task_done), runnable but
 * not yet running (task_create or task_wake → task_resume: scheduling
 * delay), or waiting (task_suspend → the next task_wake, the awaits
 * view).  Intervals partition the life, so the parts add up to the wall
 * time by construction; a stretch no event explains (events dropped, a
 * recording begun mid-life) is shown as "other/unattributed", never
 * spread over the rest.  The same holds one level down: a runnable
 * stretch splits into the other tasks' steps inside it and the loop's
 * own time; a running step the watchdog reported is "blocking" instead.
 *
 * Waits are grouped by what was awaited (kind, object, await site).  A
 * wait has a cause task when one is known: the holder of a lock when the
 * wait began, a semaphore's holder whose release woke it, the awaited
 * task (of several, the one that finished last), the canceller of a
 * cancelled wait, otherwise the task that woke it (producer, setter,
 * notifier).  With depth N the cause task's own time inside each wait
 * window is decomposed the same way, N levels deep, and summed over the
 * group's waits.  Inferred attributions say so (why.h: inferred).  A
 * group merges waits whose causes differ (a timer's sleeps and the one
 * sleep main cancelled): the waits no other task caused get a child of
 * their own by why (WHY_NOTASK: the timer, a timeout, the poll...), so
 * that a wait's children add up to it like every other node's.
 *
 * Everything comes from SQL over the recording through the (task, seq)
 * and (resource, seq) indexes the store builds at close, and primary-key
 * (seq) ranges, so one task's answer does not scan the recording (the
 * blocked-loop tables, one row per episode, are read whole; a runnable
 * span's other tasks, from the step summary when the span is long:
 * why_ran.c).  Known cost: a cause task's events are read from its
 * spawn to the window's end (no (task, ns) index), so a long-lived cause
 * task is read whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../schemas/store_ddl.h"
#include "store.h"
#include "symbolize.h"
#include "why.h"
#include "why_impl.h"

node *why__add_child(node *parent, int type) {
    node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->type = type;
    if (parent->last)
        parent->last->next = n;
    else
        parent->child = n;
    parent->last = n;
    return n;
}

node *why__find_child(node *parent, int type, int wkind, uint64_t object, int64_t site,
                      uint64_t task) {
    for (node *c = parent->child; c; c = c->next)
        if (c->type == type && c->wkind == wkind && c->object == object && c->site == site &&
            c->task == task)
            return c;
    node *n = why__add_child(parent, type);
    if (n) {
        n->wkind = wkind;
        n->object = object;
        n->site = site;
        n->task = task;
    }
    return n;
}

void why_node_free(why_node *n) {
    while (n) {
        node *next = n->next;
        why_node_free(n->child);
        why__index_free(n);
        free(n);
        n = next;
    }
}

/* A task whose spawn is not in the recording (a live process's window
 * began after it): its life is taken from the window's start, if the
 * task has any event in the window; the stretch before its first event
 * is unexplained (its state then is unknown). */
static int partial_life(why_ctx *c, uint64_t task, uint64_t *t0, uint64_t *t1) {
    sqlite3_stmt *st = c->seen;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL)
        return -ENOENT;
    *t0 = c->rec_start;
    *t1 = sqlite3_column_type(st, 1) == SQLITE_NULL ? c->rec_end
                                                    : (uint64_t)sqlite3_column_int64(st, 1);
    if (*t1 < *t0)
        *t1 = *t0;
    c->life_seq0 = 0;
    c->life_seq1 = sqlite3_column_type(st, 2) == SQLITE_NULL ? INT64_MAX
                                                             : sqlite3_column_int64(st, 2);
    c->life_partial = 1;
    return 0;
}

/* A task's life: created and ended ns (ended = the recording's end if it
 * has none).  0, or -ENOENT if the recording has no such task. */
int why_task_life(why_ctx *c, uint64_t task, uint64_t *t0, uint64_t *t1) {
    sqlite3_stmt *st = c->life;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    c->life_partial = 0;
    if (sqlite3_step(st) != SQLITE_ROW)
        return partial_life(c, task, t0, t1);
    *t0 = (uint64_t)sqlite3_column_int64(st, 0);
    *t1 = sqlite3_column_type(st, 1) == SQLITE_NULL ? c->rec_end
                                                    : (uint64_t)sqlite3_column_int64(st, 1);
    if (*t1 < *t0)
        *t1 = *t0;
    c->life_seq0 = sqlite3_column_int64(st, 2);
    c->life_seq1 = sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MAX
                                                             : sqlite3_column_int64(st, 3);
    return 0;
}

/* The task holding lock `resource` just before event seq: the last to
 * acquire it, if it has not been released since (a lock has one holder;
 * looking only at the last acquisition keeps this two index probes).  0
 * if none is known. */
static uint64_t lock_holder(why_ctx *c, uint64_t resource, int64_t seq) {
    sqlite3_stmt *st = c->holder;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)resource);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, seq);
    return sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
}

/* A stretch of running or runnable time: between the events seq s0 and
 * s1, and [a, b) of it inside the window asked about. */
/* Who requested task's cancellation, last before event seq; 0 if unknown. */
static uint64_t canceller(why_ctx *c, uint64_t task, int64_t seq) {
    sqlite3_stmt *st = c->canceller;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, seq);
    return sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
}

/* A running span: a plain step, or one the watchdog saw blocking the
 * loop (then grouped by the system call it was in). */
static void add_run(why_ctx *c, node *tn, uint64_t task, const span *sp) {
    node *x = NULL;
    if (sp->b - sp->a >= WHY_BLOCK_MIN_NS) {
        sqlite3_stmt *st = c->blocked;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        sqlite3_bind_int64(st, 2, c->pid);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)sp->a);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)sp->b);
        if (sqlite3_step(st) == SQLITE_ROW) {
            x = why__find_child(tn, WHY_BLOCK, sqlite3_column_int(st, 0), 0, 0, 0);
            if (x && !x->object)
                x->object = (uint64_t)sqlite3_column_int64(st, 2); /* a stack of it */
        }
    }
    if (!x)
        x = why__find_child(tn, N_RUN, 0, 0, 0, 0);
    if (x) {
        x->ns += sp->b - sp->a;
        x->count++;
    }
}

/* If task's step [a, b) is one the watchdog reported blocking the loop,
 * add d to y's loop_blocked_ns and keep the system call and the stack
 * (y->object) of it: the culprit's blocking call, named. */
void why__note_blocking(why_ctx *c, node *y, uint64_t task, uint64_t a, uint64_t b,
                        uint64_t d) {
    sqlite3_stmt *st = c->blocked;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)a);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)b);
    if (sqlite3_step(st) == SQLITE_ROW) {
        y->loop_blocked_ns += d;
        y->blocker = task;
        y->blocker_ns += d;
        y->blocker_syscall = sqlite3_column_int(st, 0);
        if (!y->object)
            y->object = (uint64_t)sqlite3_column_int64(st, 2);
    }
}

/* A runnable span: with depth, the tasks that ran meanwhile and the
 * loop's own time under it (why_ran.c). */
static void add_sched(why_ctx *c, node *tn, uint64_t task, const span *sp, int depth) {
    node *x = why__find_child(tn, N_SCHED, 0, 0, 0, 0);
    if (!x)
        return;
    x->ns += sp->b - sp->a;
    x->count++;
    if (depth > 0)
        why__ran_meanwhile(c, x, task, sp);
}

static void add_span(why_ctx *c, node *tn, uint64_t task, const span *sp, int depth) {
    if (sp->type == N_RUN)
        add_run(c, tn, task, sp);
    else
        add_sched(c, tn, task, sp, depth);
}

/* Add to wait node x the part of [a, b) the loop spent blocked by other
 * tasks' steps; the longest such blocker is named. */
static void add_blocked(why_ctx *c, node *x, uint64_t task, uint64_t a, uint64_t b) {
    if (b - a < WHY_BLOCK_MIN_NS)
        return;
    sqlite3_stmt *st = c->episodes;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)a);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)b);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint64_t d = why__clip((uint64_t)sqlite3_column_int64(st, 1),
                          (uint64_t)sqlite3_column_int64(st, 2), a, b);
        if (!d)
            continue;
        x->loop_blocked_ns += d;
        if (d > x->blocker_ns) {
            x->blocker_ns = d;
            x->blocker = (uint64_t)sqlite3_column_int64(st, 0);
            x->blocker_syscall = sqlite3_column_type(st, 3) == SQLITE_NULL
                                     ? -1 : sqlite3_column_int(st, 3);
        }
    }
}

typedef struct wait_rec {
    int64_t seq;
    uint64_t start, end, object, cause_task;
    int64_t site;
    int kind, cause, status; /* status: the wake's (-ECANCELED, -ETIMEDOUT, ...) */
    int woken;               /* the wake is in the window (else: still waiting at its end) */
    unsigned nholders;       /* a semaphore's holders when the wait began */
    uint64_t holders[WHY_HOLDERS_MAX];
} wait_rec;

/* A semaphore's holders just before event seq: the tasks whose last
 * acquisition of it (among its latest 256) has no release by the same
 * task after it.  Inferred: a semaphore's release is not tied to an
 * acquisition (any task may release), so a task that released on
 * another's behalf confuses it. */
static unsigned sem_holders(why_ctx *c, uint64_t resource, int64_t seq, uint64_t *out) {
    sqlite3_stmt *st = c->sem_holders;
    unsigned n = 0;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)resource);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, seq);
    while (n < WHY_HOLDERS_MAX && sqlite3_step(st) == SQLITE_ROW) {
        uint64_t t = (uint64_t)sqlite3_column_int64(st, 0);
        unsigned k = 0;
        while (k < n && out[k] != t)
            k++;
        if (k == n)
            out[n++] = t;
    }
    return n;
}

/* Why no other task caused wait r of task (a WHY_NOTASK's wkind). */
static int notask_reason(const wait_rec *r, uint64_t task) {
    if (r->cause_task && r->cause_task == task)
        return WHY_NOTASK_SELF;
    if (!r->woken)
        return WHY_NOTASK_UNFINISHED;
    if (r->status == -ETIMEDOUT)
        return WHY_NOTASK_TIMED_OUT;
    if (r->status == -ECANCELED)
        return WHY_NOTASK_CANCELLED;
    return r->kind == 3 ? WHY_NOTASK_TIMER : WHY_NOTASK_OUTSIDE;
}

/* Decompose task's time inside [w0, w1) into children of tn, adding to
 * what is there (a group of waits sums its instances).  depth: how many
 * more levels of cause tasks to follow. */
static int decompose(why_ctx *c, node *tn, uint64_t task, uint64_t w0, uint64_t w1, int depth) {
    uint64_t t0, t1;
    tn->ns += w1 - w0;
    tn->count++;
    uint64_t covered = 0;
    if (why_task_life(c, task, &t0, &t1) == 0 && w1 > w0) {
        /* A cause task that ended inside the window (an awaited child
         * finishes a little before its awaiter is woken): that stretch
         * is its end being delivered, not unexplained. */
        uint64_t after = c->life_seq1 != INT64_MAX ? why__clip(t1, w1, w0, w1) : 0;
        if (after) {
            node *x = why__find_child(tn, WHY_ENDED, 0, 0, 0, 0);
            if (x) {
                x->ns += after;
                x->count++;
            }
            covered += after;
        }
        /* Read the task's events first (the statement is reused when
         * recursing), then walk them. */
        size_t n = 0, cap = 0;
        struct ev { int64_t seq; uint64_t ns, a; int64_t b, site; int type; } *evs = NULL;
        sqlite3_stmt *st = c->events;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        sqlite3_bind_int64(st, 2, c->pid);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)w1);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                void *p = realloc(evs, cap * sizeof *evs);
                if (!p) {
                    free(evs);
                    return -1;
                }
                evs = p;
            }
            evs[n].seq = sqlite3_column_int64(st, 0);
            evs[n].ns = (uint64_t)sqlite3_column_int64(st, 1);
            evs[n].type = sqlite3_column_int(st, 2);
            evs[n].a = (uint64_t)sqlite3_column_int64(st, 3);
            evs[n].b = sqlite3_column_int64(st, 4);
            evs[n].site = sqlite3_column_int64(st, 5);
            n++;
        }
        /* type 0 resume, 1 suspend (a object, b kind), 2 wake (a by_task) */
        int64_t seq0 = c->life_seq0, seq1 = c->life_seq1; /* the next call overwrites them */
        /* from spawn until the first step; unknown before the first
         * event of a task spawned before the recording */
        int state = c->life_partial ? N_OTHER : N_SCHED;
        uint64_t since = t0;
        int64_t since_seq = seq0;
        wait_rec w = {0};
        size_t nwaits = 0, wcap = 0, nspans = 0, scap = 0;
        wait_rec *waits = NULL;
        span *spans = NULL;
        for (size_t i = 0; i <= n; i++) {
            uint64_t at = i < n ? evs[i].ns : t1;
            if (at > t1)
                at = t1;
            uint64_t d = why__clip(since, at, w0, w1);
            if (state == N_WAIT && i < n && evs[i].type == 2) {
                w.status = (int)evs[i].b;
                w.woken = 1;
                if (evs[i].a && w.kind == 1) {
                    /* A wait on tasks is ended by the one that finished
                     * last (a gather parks naming its first unfinished
                     * task): that is the critical child. */
                    w.cause_task = evs[i].a;
                    w.cause = CAUSE_AWAITED;
                } else if (evs[i].a && w.kind == 8 && w.nholders > 1) {
                    /* several held the semaphore: the one whose release
                     * woke us is the cause (a holder, if it was one) */
                    w.cause_task = evs[i].a;
                    w.cause = CAUSE_WAKER;
                    for (unsigned k = 0; k < w.nholders; k++)
                        if (w.holders[k] == evs[i].a)
                            w.cause = CAUSE_HOLDER;
                } else if (evs[i].a && !w.cause_task) {
                    /* woken by a task: the cause when nothing better is known */
                    w.cause_task = evs[i].a;
                    w.cause = w.kind == 10  ? WHY_CAUSE_PRODUCER
                              : w.kind == 6 ? WHY_CAUSE_SETTER
                              : w.kind == 7 ? WHY_CAUSE_NOTIFIER
                                            : CAUSE_WAKER;
                }
                if (w.status == -ECANCELED && w.cause != CAUSE_HOLDER && w.cause != CAUSE_AWAITED) {
                    /* ended by a cancellation: its requester, not the
                     * task that happened to deliver it */
                    uint64_t by = canceller(c, task, evs[i].seq);
                    if (by) {
                        w.cause_task = by;
                        w.cause = WHY_CAUSE_CANCELLER;
                    }
                }
            }
            if ((state == N_RUN || state == N_SCHED) && d) {
                if (nspans == scap) {
                    scap = scap ? scap * 2 : 32;
                    void *p = realloc(spans, scap * sizeof *spans);
                    if (!p)
                        break;
                    spans = p;
                }
                uint64_t a = since > w0 ? since : w0;
                spans[nspans++] = (span){state, since_seq, i < n ? evs[i].seq : seq1, a, a + d};
                covered += d;
            } else if (state == N_WAIT && d) {
                w.start = since > w0 ? since : w0;
                w.end = w.start + d;
                if (nwaits == wcap) {
                    wcap = wcap ? wcap * 2 : 16;
                    void *p = realloc(waits, wcap * sizeof *waits);
                    if (!p)
                        break;
                    waits = p;
                }
                waits[nwaits++] = w;
                covered += d;
            }
            if (i == n || evs[i].ns >= t1)
                break;
            since = at;
            since_seq = evs[i].seq;
            if (evs[i].type == 0) {
                state = N_RUN;
            } else if (evs[i].type == 1) {
                state = N_WAIT;
                memset(&w, 0, sizeof w);
                w.seq = evs[i].seq;
                w.object = evs[i].a;
                w.kind = (int)evs[i].b;
                w.site = evs[i].site;
                if (w.kind == 5) { /* lock: who held it when we asked */
                    w.cause_task = lock_holder(c, w.object, w.seq);
                    w.cause = w.cause_task ? CAUSE_HOLDER : CAUSE_NONE;
                } else if (w.kind == 1 && w.object) {
                    w.cause_task = w.object;
                    w.cause = CAUSE_AWAITED;
                } else if (w.kind == 8) {
                    w.nholders = sem_holders(c, w.object, w.seq, w.holders);
                    if (w.nholders == 1) {
                        w.cause_task = w.holders[0];
                        w.cause = CAUSE_HOLDER;
                    }
                }
            } else {
                state = N_SCHED;
            }
        }
        for (size_t k = 0; k < nspans; k++)
            add_span(c, tn, task, &spans[k], depth);
        free(spans);
        free(evs);
        /* Waits last: recursing reuses the statements above. */
        for (size_t k = 0; k < nwaits; k++) {
            wait_rec *r = &waits[k];
            node *x = why__find_child(tn, N_WAIT, r->kind, r->object, r->site, 0);
            if (!x)
                break;
            x->ns += r->end - r->start;
            x->count++;
            if (!x->seq)
                x->seq = r->seq;
            x->external += !r->cause_task && r->status >= 0;
            x->cancelled += r->status == -ECANCELED;
            x->timed_out += r->status == -ETIMEDOUT;
            add_blocked(c, x, task, r->start, r->end);
            for (unsigned k = 0; k < r->nholders && x->nholders < WHY_HOLDERS_MAX; k++) {
                unsigned j = 0;
                while (j < x->nholders && x->holders[j] != r->holders[k])
                    j++;
                if (j == x->nholders)
                    x->holders[x->nholders++] = r->holders[k];
            }
            if (depth > 0 && r->cause_task && r->cause_task != task) {
                node *y = why__find_child(x, N_TASK, 0, 0, 0, r->cause_task);
                if (y) {
                    y->cause = r->cause;
                    /* of several semaphore holders, the one named is the
                     * releaser: which permit it freed is not recorded */
                    y->inferred += r->kind == 8 && r->nholders > 1;
                    decompose(c, y, r->cause_task, r->start, r->end, depth - 1);
                }
            } else if (depth > 0) {
                /* the group's other waits have cause children: this one
                 * is shown beside them, or they would not add up */
                node *y = why__find_child(x, WHY_NOTASK, notask_reason(r, task), 0, 0, 0);
                if (y) {
                    y->ns += r->end - r->start;
                    y->count++;
                }
            }
        }
        free(waits);
    }
    uint64_t total = w1 - w0;
    if (covered < total) {
        node *x = why__find_child(tn, N_OTHER, 0, 0, 0, 0);
        if (x)
            x->ns += total - covered;
    }
    return 0;
}

/* ---- entry points ----------------------------------------------------------- */

why_ctx *why_open(const char *file, char *err, size_t n) {
    why_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    if (ts_store_open_read(file, &c->db, err, n)) {
        free(c);
        return NULL;
    }
    static const char EVENTS[] =
        "SELECT seq, ns, 0, 0, 0, 0 FROM ev_task_resume\n"
        "  WHERE task = ?1 AND task > 0 AND pid = ?2 AND ns <= ?3\n" /* > 0: the partial index */
        "UNION ALL SELECT seq, ns, 1, object, kind, site FROM ev_task_suspend\n"
        "  WHERE task = ?1 AND pid = ?2 AND ns <= ?3\n"
        "UNION ALL SELECT seq, ns, 2, by_task, status, 0 FROM ev_task_wake\n"
        "  WHERE task = ?1 AND pid = ?2 AND ns <= ?3\n"
        "ORDER BY 2, 1";
    static const char LIFE[] =
        "SELECT c.ns, (SELECT d.ns FROM ev_task_done d WHERE d.task = c.task AND d.pid = c.pid\n"
        "  ORDER BY d.seq LIMIT 1), c.seq, (SELECT d.seq FROM ev_task_done d\n"
        "  WHERE d.task = c.task AND d.pid = c.pid ORDER BY d.seq LIMIT 1)\n"
        "  FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2 ORDER BY c.seq LIMIT 1";
    /* The steps of other tasks between two events (seq ?3, ?4): who ran
     * while a task was runnable.  Starts from the step in progress at ?3
     * (the waker's, usually), found as the last resume before it. A
     * step ends at its task's next suspend, or at its end. */
    /* The steps add_sched merges: ?1 pid, seq in [?2, ?3); where to
     * start (the last resume before seq ?1; not max(): a scan); and the
     * end of task ?1's step begun at seq ?3 (?4 if none). */
#define RAN_SCAN(table) \
    "SELECT seq, ns, task FROM " table " WHERE pid = ?1 AND seq >= ?2 AND seq < ?3 ORDER BY seq"
    static const char RAN_LO[] =
        "SELECT seq FROM ev_task_resume WHERE seq < ?1 AND pid = ?2 ORDER BY seq DESC LIMIT 1";
    static const char STEP_END[] =
        "SELECT coalesce((SELECT s.ns FROM ev_task_suspend s\n"
        "    WHERE s.task = ?1 AND s.pid = ?2 AND s.seq > ?3 ORDER BY s.seq LIMIT 1),\n"
        "  (SELECT d.ns FROM ev_task_done d WHERE d.task = ?1 AND d.pid = ?2\n"
        "    AND d.seq > ?3 ORDER BY d.seq LIMIT 1), ?4)";
    /* The watchdog's report on a step of task ?1 between ns ?3 and ?4.
     * By time, not seq: the watchdog thread's events are drained from
     * its own ring, out of step with the loop thread's.  (A small table:
     * one row per blocked episode.) */
    static const char BLOCKED[] =
        "SELECT syscall, thread_state, stack FROM ev_loop_blocked\n"
        "  WHERE ns >= ?3 AND ns <= ?4 AND task = ?1 AND pid = ?2 ORDER BY seq LIMIT 1";
    static const char SEM_HOLDERS[] =
        "SELECT a.task FROM (SELECT task, seq FROM ev_resource_acquired WHERE resource = ?1\n"
        "    AND pid = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 256) a\n"
        "  WHERE a.task > 0 AND NOT EXISTS (SELECT 1 FROM ev_resource_release r\n"
        "    WHERE r.resource = ?1 AND r.pid = ?2 AND r.task = a.task AND r.seq > a.seq\n"
        "      AND r.seq < ?3) ORDER BY a.seq";
    /* Steps of other tasks that blocked the loop (watchdog episodes)
     * overlapping [?3, ?4): while the loop is blocked no wake can be
     * delivered, so a wait that spans one is stretched by it.  A small
     * table: one row per episode. */
    static const char EPISODES[] =
        "SELECT u.task, u.ns - u.duration_ns, u.ns, (SELECT b.syscall FROM ev_loop_blocked b\n"
        "    WHERE b.loop = u.loop AND b.step = u.step AND b.pid = u.pid LIMIT 1)\n"
        "  FROM ev_loop_unblocked u WHERE u.pid = ?2 AND u.task != ?1 AND u.ns > ?3\n"
        "    AND u.ns - u.duration_ns < ?4";
    /* A task without a task_create in the recording: whether it has
     * events, and its end if any. */
    static const char SEEN[] =
        "SELECT coalesce((SELECT ns FROM ev_task_resume WHERE task = ?1 AND task > 0 AND pid = ?2\n"
        "    ORDER BY seq LIMIT 1), (SELECT ns FROM ev_task_suspend WHERE task = ?1 AND pid = ?2\n"
        "    ORDER BY seq LIMIT 1), (SELECT ns FROM ev_task_wake WHERE task = ?1 AND pid = ?2\n"
        "    ORDER BY seq LIMIT 1), (SELECT ns FROM ev_task_state WHERE task = ?1 AND pid = ?2\n"
        "    LIMIT 1)),\n"
        "  (SELECT ns FROM ev_task_done WHERE task = ?1 AND pid = ?2 ORDER BY seq LIMIT 1),\n"
        "  (SELECT seq FROM ev_task_done WHERE task = ?1 AND pid = ?2 ORDER BY seq LIMIT 1)";
    /* Who asked for task ?1's cancellation last before seq ?3. */
    static const char CANCELLER[] =
        "SELECT by_task FROM ev_task_cancel WHERE task = ?1 AND pid = ?2 AND seq < ?3\n"
        "  ORDER BY seq DESC LIMIT 1";
    static const char HOLDER[] =
        "SELECT a.task FROM (SELECT task, seq FROM ev_resource_acquired WHERE resource = ?1\n"
        "    AND pid = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 1) a\n"
        "  WHERE NOT EXISTS (SELECT 1 FROM ev_resource_release r\n"
        "    WHERE r.resource = ?1 AND r.pid = ?2 AND r.seq > a.seq AND r.seq < ?3)";
    /* The recording's ends: the first and last rows (by seq, the primary
     * key: no scan) of the busiest tables. */
#define WHY_ENDS(f, dir)                                                                      \
    "SELECT " f "(x) FROM (SELECT (SELECT ns FROM ev_task_resume ORDER BY seq " dir           \
    " LIMIT 1) AS x\n"                                                                        \
    "  UNION ALL SELECT (SELECT ns FROM ev_task_suspend ORDER BY seq " dir " LIMIT 1)\n"      \
    "  UNION ALL SELECT (SELECT ns FROM ev_task_wake ORDER BY seq " dir " LIMIT 1)\n"         \
    "  UNION ALL SELECT (SELECT ns FROM ev_task_done ORDER BY seq " dir " LIMIT 1)\n"         \
    "  UNION ALL SELECT (SELECT ns FROM ev_task_create ORDER BY seq " dir " LIMIT 1))"
    static const char *const ENDS[2] = {WHY_ENDS("min", "ASC"), WHY_ENDS("max", "DESC")};
#undef WHY_ENDS
    if (sqlite3_prepare_v2(c->db, EVENTS, -1, &c->events, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, LIFE, -1, &c->life, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, HOLDER, -1, &c->holder, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, RAN_LO, -1, &c->ran_lo, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, RAN_SCAN("ev_task_resume"), -1, &c->ran_resume, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(c->db, RAN_SCAN("ev_task_suspend"), -1, &c->ran_suspend, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(c->db, RAN_SCAN("ev_task_done"), -1, &c->ran_done, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, STEP_END, -1, &c->step_end, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, BLOCKED, -1, &c->blocked, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, CANCELLER, -1, &c->canceller, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, SEM_HOLDERS, -1, &c->sem_holders, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, EPISODES, -1, &c->episodes, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, SEEN, -1, &c->seen, NULL) != SQLITE_OK) {
        snprintf(err, n, "%s: %s (a recording from an older taskscope?)", file,
                 sqlite3_errmsg(c->db));
        why_close(c);
        return NULL;
    }
    /* The step summary (why_steps.c): optional, absent from recordings
     * of an older taskscope or cut short. */
    static const char STEPS_ROWS[] =
        "SELECT task, first_seq, last_seq, min_ns, max_ns, ns, steps, long_steps, irregular\n"
        "  FROM task_steps WHERE pid = ?1 AND first_seq < ?3 AND last_seq >= ?2";
    static const char STEPS_PID[] = "SELECT threads FROM task_steps_pids WHERE pid = ?1";
    static const char STEPS_TASK[] =
        "SELECT seq, ns, 0 FROM ev_task_resume\n"
        "  WHERE task = ?1 AND task > 0 AND pid = ?2 AND seq >= ?3 AND seq < ?4\n"
        "UNION ALL SELECT seq, ns, 1 FROM ev_task_suspend\n"
        "  WHERE task = ?1 AND pid = ?2 AND seq >= ?3 AND seq < ?4\n"
        "UNION ALL SELECT seq, ns, 1 FROM ev_task_done\n"
        "  WHERE task = ?1 AND pid = ?2 AND seq >= ?3 AND seq < ?4\n"
        "ORDER BY 1";
    if (sqlite3_prepare_v2(c->db, STEPS_ROWS, -1, &c->steps_rows, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, STEPS_PID, -1, &c->steps_pid, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, STEPS_TASK, -1, &c->steps_task, NULL) != SQLITE_OK) {
        sqlite3_finalize(c->steps_rows);
        sqlite3_finalize(c->steps_pid);
        sqlite3_finalize(c->steps_task);
        c->steps_rows = c->steps_pid = c->steps_task = NULL;
    }
    /* Spans shorter than this read their steps (tens of ms at most);
     * the tests set it to 0 to compare both ways on small recordings. */
    const char *min = getenv("TASKSCOPE_WHY_STEPS_MIN");
    c->steps_min = min && *min ? strtoll(min, NULL, 10) : 100000;
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(c->db, ENDS[k], -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            *(k ? &c->rec_end : &c->rec_start) = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return c;
}

void why_close(why_ctx *c) {
    if (!c)
        return;
    sqlite3_finalize(c->events);
    sqlite3_finalize(c->life);
    sqlite3_finalize(c->holder);
    sqlite3_finalize(c->ran_lo);
    sqlite3_finalize(c->ran_resume);
    sqlite3_finalize(c->ran_suspend);
    sqlite3_finalize(c->ran_done);
    sqlite3_finalize(c->step_end);
    sqlite3_finalize(c->blocked);
    sqlite3_finalize(c->canceller);
    sqlite3_finalize(c->sem_holders);
    sqlite3_finalize(c->episodes);
    sqlite3_finalize(c->seen);
    sqlite3_finalize(c->steps_rows);
    sqlite3_finalize(c->steps_pid);
    sqlite3_finalize(c->steps_task);
    ts_symbolizer_free(c->sym);
    sqlite3_close(c->db);
    free(c);
}

int why_pick_pid(why_ctx *c, uint64_t task) {
    static const char SQL[] =
        "SELECT c.pid FROM ev_task_create c WHERE c.task = ?1\n"
        "  ORDER BY c.pid IN (SELECT pid FROM process WHERE parent IS NULL) DESC, c.seq LIMIT 1";
    sqlite3_stmt *st = NULL;
    int rc = -ENOENT;
    if (sqlite3_prepare_v2(c->db, SQL, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        if (sqlite3_step(st) == SQLITE_ROW) {
            c->pid = sqlite3_column_int64(st, 0);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    if (rc) {
        /* spawned before the recording (a live window): any event of it */
        static const char SEEN_PID[] =
            "SELECT pid FROM ev_task_resume WHERE task = ?1 AND task > 0 UNION ALL\n"
            "SELECT pid FROM ev_task_state WHERE task = ?1 LIMIT 1";
        st = NULL;
        if (sqlite3_prepare_v2(c->db, SEEN_PID, -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
            if (sqlite3_step(st) == SQLITE_ROW) {
                c->pid = sqlite3_column_int64(st, 0);
                rc = 0;
            }
        }
        sqlite3_finalize(st);
    }
    return rc;
}

int why_task_before_window(why_ctx *c, uint64_t task) {
    uint64_t a, b;
    return why_task_life(c, task, &a, &b) == 0 && c->life_partial;
}

int64_t why_pid(const why_ctx *c) { return c->pid; }
void why_set_pid(why_ctx *c, int64_t pid) { c->pid = pid; }
uint64_t why_rec_start(const why_ctx *c) { return c->rec_start; }
uint64_t why_rec_end(const why_ctx *c) { return c->rec_end; }
struct sqlite3 *why_db(why_ctx *c) { return c->db; }

void why_set_keep_notask(why_ctx *c, int keep) { c->keep_notask = keep; }

/* A wait whose waits no task caused would list only WHY_NOTASK children,
 * saying again what its own line says (how many were cancelled, timed
 * out): it stays a leaf, as before any of its waits had a cause. */
void why_node_compact(why_node *n) {
    for (; n; n = n->next) {
        int tasks = 0;
        for (node *k = n->child; k && !tasks; k = k->next)
            tasks = k->type == N_TASK;
        if (n->type == N_WAIT && !tasks) {
            why_node_free(n->child);
            n->child = n->last = NULL;
        }
        why_node_compact(n->child);
    }
}

why_node *why_window(why_ctx *c, uint64_t task, uint64_t w0, uint64_t w1, int depth) {
    if (depth < 0)
        depth = 0;
    if (depth > WHY_DEPTH_MAX)
        depth = WHY_DEPTH_MAX;
    if (w1 < w0)
        w1 = w0;
    node *top = calloc(1, sizeof *top);
    if (!top) {
        errno = ENOMEM;
        return NULL;
    }
    top->type = N_TASK;
    top->task = task;
    if (decompose(c, top, task, w0, w1, depth)) {
        why_node_free(top);
        errno = ENOMEM;
        return NULL;
    }
    why__fold_ran(top);
    if (!c->keep_notask)
        why_node_compact(top);
    return top;
}

why_node *why_task(why_ctx *c, uint64_t task, int depth, uint64_t *t0, uint64_t *t1) {
    uint64_t a, b;
    if (why_task_life(c, task, &a, &b)) {
        errno = ENOENT;
        return NULL;
    }
    if (t0)
        *t0 = a;
    if (t1)
        *t1 = b;
    return why_window(c, task, a, b, depth);
}

/* The recording's module map for the chosen process, for symbolizing. */
static ts_symbolizer *symbolizer(why_ctx *c) {
    if (c->sym)
        return c->sym;
    c->sym = ts_symbolizer_new();
    if (!c->sym)
        return NULL;
    static const char SQL[] = "SELECT m.start, m.end, m.offset, " TS_DDL_STR("m.path", "m.pid")
                              " FROM ev_module m WHERE m.pid = ?1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, SQL, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, c->pid);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (sqlite3_column_text(st, 3))
                ts_symbolizer_add_module(c->sym, (uint64_t)sqlite3_column_int64(st, 0),
                                         (uint64_t)sqlite3_column_int64(st, 1),
                                         (uint64_t)sqlite3_column_int64(st, 2),
                                         (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    return c->sym;
}

char *why_stack_site(why_ctx *c, uint64_t stack) {
    static const char SQL[] =
        "SELECT depth, pcs FROM ev_stack WHERE id = ?1 AND pid = ?2 ORDER BY seq DESC LIMIT 1";
    if (!stack)
        return NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(c->db, SQL, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)stack);
        sqlite3_bind_int64(st, 2, c->pid);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *b = sqlite3_column_blob(st, 1);
            int bytes = sqlite3_column_bytes(st, 1);
            ts_symbolizer *sym = symbolizer(c);
            /* innermost first: the first frame with a source line outside
             * the system's and the runtime's libraries (lib*.so*) is the
             * program's own call; failing that, the first with a line */
            for (int pass = 0; pass < 2 && !out; pass++)
                for (int i = 0; b && sym && !out && (i + 1) * 8 <= bytes && i < 64; i++) {
                    uint64_t pc;
                    memcpy(&pc, b + i * 8, sizeof pc);
                    ts_frame f;
                    ts_symbolize(sym, pc, i > 0, &f);
                    int lib = !strncmp(f.module, "lib", 3) && strstr(f.module, ".so");
                    if (!f.file[0] || f.line <= 0 || (pass == 0 && lib))
                        continue;
                    const char *base = strrchr(f.file, '/');
                    size_t n = strlen(f.function) + strlen(f.file) + 32;
                    out = malloc(n);
                    if (out)
                        snprintf(out, n, "%s:%d in %s()", base ? base + 1 : f.file, f.line,
                                 f.function);
                }
        }
    }
    sqlite3_finalize(st);
    return out;
}
