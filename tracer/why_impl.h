/*
 * why_impl.h - what why.c and why_ran.c share: the context, the tree's
 * short names and its helpers.  Private to the why model.
 */
#ifndef TS_WHY_IMPL_H
#define TS_WHY_IMPL_H

#include <stdint.h>

#include <sqlite3.h>

#include "symbolize.h"
#include "why.h"

/* Short names inside why*.c. */
enum { N_TASK = WHY_TASK, N_RUN = WHY_RUN, N_SCHED = WHY_SCHED, N_WAIT = WHY_WAIT,
       N_OTHER = WHY_OTHER };
enum { CAUSE_NONE = WHY_CAUSE_NONE, CAUSE_HOLDER = WHY_CAUSE_HOLDER,
       CAUSE_AWAITED = WHY_CAUSE_AWAITED, CAUSE_WAKER = WHY_CAUSE_WAKER };
typedef why_node node;

struct why_ctx {
    sqlite3 *db;
    int64_t pid;
    uint64_t rec_start, rec_end; /* ns of the recording's first and last event */
    sqlite3_stmt *events, *life, *holder, *blocked, *canceller, *sem_holders, *episodes;
    int64_t life_seq0, life_seq1; /* the last why_task_life's create and done seq */
    int life_partial;             /* ... and its spawn was before the recording */
    ts_symbolizer *sym;           /* made on first use (why_stack_site) */
    sqlite3_stmt *seen;
    /* why_ran.c's: where to start, the three scans it merges, a late step's end */
    sqlite3_stmt *ran_lo, *ran_resume, *ran_suspend, *ran_done, *step_end;
    /* ... and the step summary's (why_steps.c; NULL in a recording
     * without one): the tasks with steps in a seq range, whether one
     * thread ran a process's steps, one task's step events in a range */
    sqlite3_stmt *steps_rows, *steps_pid, *steps_task;
    int64_t steps_min; /* the fewest events in a span read through the summary */
    int keep_notask;   /* why_set_keep_notask */
};

typedef struct span {
    int type;
    int64_t s0, s1;
    uint64_t a, b;
} span;

/* Steps shorter than this are not looked up for a watchdog report: the
 * block threshold is far above it, and a task can have millions. */
#define WHY_BLOCK_MIN_NS 1000000u

/* The part of [a, b) inside [w0, w1). */
static inline uint64_t why__clip(uint64_t a, uint64_t b, uint64_t w0, uint64_t w1) {
    if (a < w0)
        a = w0;
    if (b > w1)
        b = w1;
    return b > a ? b - a : 0;
}

/* A new last child of parent, of type; NULL when out of memory. */
node *why__add_child(node *parent, int type);
/* The child of parent that is this thing, made if new. */
node *why__find_child(node *parent, int type, int wkind, uint64_t object, int64_t site,
                      uint64_t task);
/* If task's step [a, b) is one the watchdog reported blocking the loop,
 * add d to y's loop_blocked_ns and keep its system call and stack. */
void why__note_blocking(why_ctx *c, node *y, uint64_t task, uint64_t a, uint64_t b,
                        uint64_t d);

/* why_ran.c: under runnable node x, the other tasks' steps during span
 * sp and the loop's own time, adding up to the span. */
void why__ran_meanwhile(why_ctx *c, node *x, uint64_t task, const span *sp);
/* Fold each runnable node's task children to the WHY_RAN_MAX longest
 * and one "others" node (after the decomposition). */
void why__fold_ran(node *n);
/* Free x's private child index (why_node_free does). */
void why__index_free(node *x);

#endif
