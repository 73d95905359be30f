/*
 * why.h - where a task's wall time went, as a library (issue 19): the
 * model under `taskscope why`, for other views (aggregates, folded
 * stacks, critical-path flows, the TUI).
 *
 * A why_ctx reads one recording (SQLite, read-only).  why_task() cuts one
 * task's life into intervals, each in exactly one state, and returns them
 * as a tree of why_node: the task node's children partition its time, so
 * at every level the children's ns add up to the parent's ns exactly.
 *
 *   WHY_TASK   a task (the root, or a cause task under a wait)
 *   WHY_RUN    running on the CPU (count: steps)
 *   WHY_BLOCK  running a step the loop watchdog saw blocking the loop
 *              (count: steps); wkind: the system call the loop thread
 *              was in (-1: on the CPU), object: the id of a stack of it
 *   WHY_SCHED  runnable, waiting for the loop (count: times).  With
 *              depth > 0, children: WHY_TASK nodes with cause
 *              WHY_CAUSE_RAN, the other tasks that ran meanwhile and how
 *              long (the loop-blocking culprits; the WHY_RAN_MAX longest,
 *              then one node with task 0 whose count is how many others),
 *              and WHY_LOOP, the rest
 *   WHY_LOOP   under WHY_SCHED: no task running (the loop's callbacks,
 *              timers, polling, or the thread preempted)
 *   WHY_WAIT   suspended, grouped by (kind, object, await site); count:
 *              waits.  Children (depth > 0): the cause task(s), decomposed
 *              inside the wait windows, and WHY_NOTASK for the waits no
 *              other task caused, so that they add up to the node too.
 *              A wait none of whose waits has a cause task is a leaf
 *              (its line already says how they ended)
 *   WHY_NOTASK under WHY_WAIT: the waits of the group no other task
 *              caused, by why (wkind: enum why_notask; count: waits):
 *              a group merges waits of one site whose causes differ
 *              (31 sleeps, one of them cancelled by main)
 *   WHY_ENDED  a cause task's time inside a wait after it had ended (an
 *              awaited task's end being delivered to its awaiter)
 *   WHY_OTHER  a stretch no event explains (dropped events, a recording
 *              begun mid-life): shown, never spread over the rest
 *
 * The API only grows: fields and functions are added, never renamed.
 * Nothing here writes to the recording or to a terminal except the
 * why_print_* functions, which escape every recorded string.
 */
#ifndef TS_TRACER_WHY_H
#define TS_TRACER_WHY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct why_ctx why_ctx;

enum why_type { WHY_TASK, WHY_RUN, WHY_SCHED, WHY_WAIT, WHY_OTHER, WHY_LOOP, WHY_BLOCK,
                WHY_ENDED, WHY_NOTASK };

/* Why no task caused a WHY_NOTASK node's waits (its wkind). */
enum why_notask {
    WHY_NOTASK_TIMER,      /* a sleep that ran its time */
    WHY_NOTASK_TIMED_OUT,  /* ended by its timeout */
    WHY_NOTASK_CANCELLED,  /* cancelled, the request from no task (or not recorded) */
    WHY_NOTASK_OUTSIDE,    /* woken by no task of the process: an fd ready, a
                              thread pool's job done, a yield's turn */
    WHY_NOTASK_UNFINISHED, /* no wake in the window: still waiting at its end */
    WHY_NOTASK_SELF,       /* its cause is the waiting task itself (a lock it holds) */
};

/* How a WHY_TASK node relates to its parent node. */
enum why_cause {
    WHY_CAUSE_NONE,    /* the root */
    WHY_CAUSE_HOLDER,  /* held the lock (or semaphore) when the wait began */
    WHY_CAUSE_AWAITED, /* the awaited task; of several, the one that finished last */
    WHY_CAUSE_WAKER,   /* woke the waiter (released, put, set, notified) */
    WHY_CAUSE_RAN,     /* under WHY_SCHED: ran while this task was runnable */
    WHY_CAUSE_PRODUCER,/* put the item that woke a queue getter */
    WHY_CAUSE_CANCELLER, /* requested the cancellation that ended the wait */
    WHY_CAUSE_SETTER,  /* set the event the waiter waited for */
    WHY_CAUSE_NOTIFIER,/* notified the condition the waiter waited on */
};

/* The deepest --depth accepted (each level is a few index probes per
 * wait; a chain N deep needs depth N to reach its bottom). */
#define WHY_DEPTH_MAX 256

/* The most tasks a runnable node names (see WHY_SCHED). */
#define WHY_RAN_MAX 5

/* The most holders of a semaphore a wait node lists. */
#define WHY_HOLDERS_MAX 8

/* One node of the tree.  Children are a singly linked list (child,
 * next); last is the tail, for appending.  Fields not meaningful for a
 * node's type are 0. */
typedef struct why_node {
    int type;                 /* enum why_type */
    int wkind;                /* WHY_WAIT: the ts_wait_kind (why_kind_name) */
    int cause;                /* WHY_TASK: enum why_cause */
    uint64_t object;          /* WHY_WAIT: the awaited object (resource id, task, fd) */
    uint64_t task;            /* WHY_TASK: which task */
    int64_t site;             /* WHY_WAIT: await site id (why_site) */
    uint64_t ns;              /* time, summed over instances */
    unsigned count;           /* instances (waits, steps, windows) */
    unsigned cancelled, timed_out; /* WHY_WAIT: instances ended so */
    unsigned inferred;        /* WHY_TASK: instances whose cause is a guess (several
                                 semaphore holders: the one named released) */
    /* WHY_WAIT: the first instance's suspend seq (what an fd was then:
     * the latest fd_info before it), and how many instances ended well
     * with no task of the process waking them (an fd: the cause was
     * outside the process, inferred to be the peer). */
    int64_t seq;
    unsigned external;
    unsigned nholders;        /* WHY_WAIT on a semaphore: its holders when the waits */
    uint64_t holders[WHY_HOLDERS_MAX]; /* began (inferred: releases name no permit) */
    /* WHY_WAIT: how much of the waits the loop spent blocked by other
     * tasks' steps (watchdog episodes; no wake is delivered meanwhile),
     * and the task whose episode covered most of it, with the system
     * call it was in (-1: on the CPU or unknown). */
    uint64_t loop_blocked_ns, blocker, blocker_ns;
    int blocker_syscall;
    /* (WHY_TASK with cause WHY_CAUSE_RAN: loop_blocked_ns is the part of
     * its time in steps the watchdog reported blocking the loop, with
     * blocker_syscall, and object the id of a stack of one) */
    struct why_node *child, *last, *next;
    void *index;              /* private to why_ran.c: a runnable node's totals by task */
} why_node;

/* Open recording `file` read-only.  NULL on failure, with a sentence in
 * err (n bytes). */
why_ctx *why_open(const char *file, char *err, size_t n);

/* Close what why_open opened.  NULL is allowed. */
void why_close(why_ctx *c);

/* Choose the process whose task `task` is meant: the traced one if it
 * has such a task, else the first that does (a recording may hold forked
 * children).  0, or -ENOENT if no process has it. */
int why_pick_pid(why_ctx *c, uint64_t task);

/* The process chosen (or set); lookups and why_task use it. */
int64_t why_pid(const why_ctx *c);
void why_set_pid(why_ctx *c, int64_t pid);

/* The recording's first and last event's ns. */
uint64_t why_rec_start(const why_ctx *c);
uint64_t why_rec_end(const why_ctx *c);

/* The recording's database, for queries the API does not cover (e.g.
 * the tasks spawned at a site).  Owned by c. */
struct sqlite3 *why_db(why_ctx *c);

/* Task `task`'s life: spawn, and end (the recording's end while live).
 * 0, or -ENOENT. */
int why_task_life(why_ctx *c, uint64_t task, uint64_t *t0, uint64_t *t1);

/* The tree for task `task`'s whole life, following cause tasks `depth`
 * levels (0..WHY_DEPTH_MAX).  t0/t1 (may be NULL) receive the life.
 * NULL if there is no such task (errno ENOENT) or memory ran out
 * (ENOMEM).  Free with why_node_free. */
why_node *why_task(why_ctx *c, uint64_t task, int depth, uint64_t *t0, uint64_t *t1);

/* The same for the part of the task's life inside [w0, w1). */
why_node *why_window(why_ctx *c, uint64_t task, uint64_t w0, uint64_t w1, int depth);

/* 1 if task `task` was spawned before the recording began (a live
 * process's flight-recorder window): its life is then taken from the
 * recording's start, and the time before its first event in it is
 * unexplained (WHY_OTHER). */
int why_task_before_window(why_ctx *c, uint64_t task);

/* Record live process pid's flight-recorder window (what its ring still
 * holds, and a state dump) into a new recording in a new private
 * temporary directory; path (n bytes) receives its name.  0, or a
 * negative code with a sentence in err.  Remove it with why_live_remove. */
int why_live_record(int pid, char *path, size_t n, char *err, size_t errn);
void why_live_remove(const char *path);

/* Whether why_task and why_window keep the WHY_NOTASK children of a
 * wait that has no cause task child (default 0: dropped, the wait is a
 * leaf).  A caller that merges trees keeps them, then calls
 * why_node_compact on the merged tree: a wait group caused in one tree
 * and not in another still adds up. */
void why_set_keep_notask(why_ctx *c, int keep);

/* Drop the WHY_NOTASK children of each wait in tree n that has no cause
 * task child (what why_task does unless told to keep them). */
void why_node_compact(why_node *n);

/* Free a tree (its siblings too).  NULL is allowed. */
void why_node_free(why_node *n);

/* Names, malloc'd (free them), or NULL when the recording has none. */
char *why_task_name(why_ctx *c, uint64_t task);
char *why_task_site(why_ctx *c, uint64_t task);  /* "file:line" where it was spawned */
char *why_site(why_ctx *c, int64_t site);        /* an await site id as "file:line" */
char *why_resource_name(why_ctx *c, uint64_t id);

/* What fd `fd` was when the event seq happened (a WHY_WAIT node's seq;
 * 0: now): "tcp PEER <- LOCAL", "unix PATH", "file PATH"..., from the
 * runtime's fd_info events, malloc'd and not escaped; NULL when unknown
 * (never described, closed since, or seq < 0). */
char *why_fd_name(why_ctx *c, uint64_t fd, int64_t seq);

/* Where a captured stack (a WHY_BLOCK node's object) is in the program:
 * "file:line in function()" of its innermost frame with a source line,
 * malloc'd, or NULL (no stack, no debug information, or a tracer built
 * without libdw). */
char *why_stack_site(why_ctx *c, uint64_t stack);

/* Static names. */
const char *why_kind_name(int wkind);  /* "sleep", "lock", "queue_get", ... */
const char *why_type_name(int type);   /* "task", "running", "runnable", "wait", "other" */
const char *why_cause_name(int cause); /* "held by", "awaited", "woken by", ... */
const char *why_notask_name(int why);  /* "timer", "timed_out", "cancelled", ... */
int why_kind_is_resource(int wkind);   /* does the object name a resource? */

/* The tree as `taskscope why` prints it: indented text (every recorded
 * string escaped) and JSON.  wall: the 100 % for percentages. */
void why_print_text(FILE *out, why_ctx *c, const why_node *n, uint64_t wall, int indent);
void why_print_json(FILE *out, why_ctx *c, const why_node *n, uint64_t wall);

#endif
