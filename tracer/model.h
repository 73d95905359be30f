/*
 * model.h - the tracer's live model of a traced process.
 *
 * Fed one decoded event at a time (in timestamp order), it keeps every
 * task with its state, what it awaits, its timings and its history; the
 * await graph; resources with holders and waiters; loops with their
 * blocked episodes; and the warnings a human should see.  It is the one
 * source for the reports, the exports and the TUI, and it knows nothing
 * of shared memory, SQLite or ncurses.
 *
 * Timings follow tokio-console: busy (running a step), scheduled (ready,
 * waiting for the loop), idle (suspended); polls counts steps; the poll
 * histogram buckets step durations by powers of two of microseconds.
 */
#ifndef TS_TRACER_MODEL_H
#define TS_TRACER_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "../schemas/trace_format.h"
#include "hdr.h"

typedef enum tm_state {
    TM_READY = 0,
    TM_RUNNING = 1,
    TM_SUSPENDED = 2,
    TM_DONE = 3,
    TM_FAILED = 4,
    TM_CANCELLED = 5,
} tm_state;

#define TM_HIST_BUCKETS 24   /* < 1 us, < 2 us, ... < 2^22 us (~4 s), more */
#define TM_CANCEL_HISTORY 4

typedef struct tm_cancel {
    uint64_t ns;
    uint64_t by_task;
    uint32_t message;        /* string id */
} tm_cancel;

typedef struct tm_task {
    uint64_t id, parent, loop;
    uint32_t name, site;     /* string id, site id */
    tm_state state;
    uint32_t wait_kind;      /* ts_wait_kind while suspended */
    uint64_t wait_obj;       /* task id / resource id / fd / job */
    uint32_t await_site;
    uint64_t created_ns, done_ns, state_since_ns;
    uint64_t busy_ns, scheduled_ns, idle_ns;
    uint64_t polls;
    uint64_t max_poll_ns;
    uint32_t hist[TM_HIST_BUCKETS];
    int32_t err;
    uint32_t err_message;
    uint32_t cancel_requests;
    uint32_t ncancels;
    tm_cancel cancels[TM_CANCEL_HISTORY];
    uint64_t woken_by;       /* task that last woke it, 0 = the loop */
    uint32_t nchildren;
    uint32_t blocked_episodes;
    uint32_t warnings;       /* bitmask of tm_warning_kind */
    uint32_t freed;          /* task_free seen */
    uint32_t lost;           /* its end was dropped: a state dump no longer
                              * listed it, so it was retired as done */
    uint64_t dump_gen;       /* the last state dump that listed it */
    uint32_t gsite, gprefix; /* its stats groups (index + 1, 0 none) */
    uint32_t placeholder;    /* made from a later event: its task_create
                              * was never seen (dropped, or before the
                              * window) */
    uint64_t seq;            /* creation order among every task the model
                              * has known, evicted or not (1, 2, ...) */
    uint64_t yield_since_ns; /* start of its current run of sleep(0)s, 0
                              * when its last suspension was not one */
    uint64_t yields;         /* sleep(0)s in that run */
    uint64_t yield_busy0_ns; /* busy_ns when that run began */
} tm_task;

/* task_done's state for a task the tracer retired as lost (written into
 * a recording by the session, so a replay reconciles the same way). */
#define TM_REC_LOST 6

typedef enum tm_warning_kind {
    TM_WARN_BLOCKED = 1,        /* it blocked its loop */
    TM_WARN_SLOW_STEP = 2,
    TM_WARN_NEVER_AWAITED = 4,
    TM_WARN_NEVER_RETRIEVED = 8,
    TM_WARN_DEADLOCK = 16,      /* part of an await/lock cycle */
    TM_WARN_STUCK = 32,         /* awaits what nothing can complete */
    TM_WARN_DESTROYED_PENDING = 64,
    TM_WARN_DROPS = 128,        /* the reader fell behind: events lost */
    TM_WARN_DEAD_HOLDER = 256,  /* waits on a lock/semaphore a finished task holds */
    TM_WARN_ORPHAN_FUTURE = 512,/* awaits a future whose creator finished */
    TM_WARN_STARVATION = 1024,  /* its loop's ready queue made tasks wait long */
    TM_WARN_BUSY_YIELD = 2048,  /* only sleep(0)s, for a long time */
    TM_WARN_SELF_WAKE = 4096,   /* waits on what only it ever signals */
} tm_warning_kind;

/* A warning as a human reads it.  `dirty` is set whenever it is added or
 * its text changes (a blocked episode gets its full duration when it
 * ends): the session writes dirty warnings to the recording and clears
 * the flag, so the recording holds what the live model said. */
typedef struct tm_warning {
    tm_warning_kind kind;
    uint64_t ns;
    uint64_t task;
    uint64_t resource;       /* the lock or object involved, 0 none */
    int dirty;
    char text[512];
} tm_warning;

typedef struct tm_blocked {
    uint64_t loop, task, step;
    uint64_t start_ns;       /* when the step began (estimate) */
    uint64_t seen_elapsed_ns;
    uint64_t duration_ns;    /* 0 while still blocked */
    uint32_t tid;
    char thread_state;
    int32_t syscall;
    uint32_t stack;          /* stack id, 0 none */
    int slow_only;           /* a slow_step, never seen blocked live */
    uint32_t warning;        /* its warning (index + 1), 0 none */
    int end_unseen;          /* over (its loop went on) but its end was
                              * lost: duration_ns is only what the
                              * watchdog saw, a lower bound */
} tm_blocked;

/* Resources (TS_RES_* 1 lock ... 6 queue) and, as kind TM_RES_FUTURE,
 * pending futures (a future leaves the table when it completes).  A
 * resource reads as its kind, name and creation site: tm_resource_text. */
#define TM_RES_FUTURE 7
typedef struct tm_resource {
    uint64_t id;
    uint32_t kind;           /* TS_RES_* (1 lock ... 6 queue), TM_RES_FUTURE */
    uint32_t capacity;
    uint32_t site;
    uint32_t depth;          /* queue items */
    uint64_t holder;         /* lock: holding task; semaphores: last acquirer;
                              * queues: last getter */
    uint32_t held;           /* permits/locks held now */
    int freed;
    uint32_t name;           /* string id of its name (ts_*_set_name), 0 none */
    uint64_t creator;        /* task running when it was created, 0 none */
    uint64_t created_ns;
    uint64_t signaller;      /* last task that set/notified/put/released it */
    int other_signallers;    /* some task other than `signaller` did too */
} tm_resource;

typedef struct tm_loop {
    uint64_t id;
    uint32_t tid;
    uint64_t running_task;
    uint64_t steps;
    uint64_t max_lag_ns;     /* longest ready-to-running wait seen */
    uint64_t lag_sum_ns, lag_count;
    int closed;
    uint32_t starve_warning; /* its starvation warning (index + 1), 0 none */
    uint64_t starve_max_lag_ns, starve_checked_ns;
    uint64_t starve_ready;   /* most ready tasks counted while starving */
    uint64_t starve_lag_sum_ns, starve_lags; /* lags over the threshold */
    uint64_t last_resume_ns; /* its latest step's start seen */
} tm_loop;

typedef struct tm_site {
    uint32_t file, func, line;
} tm_site;

typedef struct tm_module {
    uint64_t start, end, offset;
    uint32_t path;
} tm_module;

/*
 * Statistics groups.  Every task belongs to the group of its spawn site
 * and to the group of its name prefix (the name without a trailing
 * number and separator: client-1 .. client-65 are "client").  A group
 * counts its tasks as they appear and keeps HDR histograms (hdr.h) of
 * every step's duration and of each finished task's busy time, so its
 * figures cover the whole trace even after the tasks themselves were
 * evicted.  At most TM_MAX_GROUPS of each kind; later ones share the
 * last, keyed "(other)".
 */
#define TM_MAX_GROUPS 512

typedef enum tm_group_kind { TM_GROUP_SITE = 0, TM_GROUP_PREFIX = 1 } tm_group_kind;

typedef struct tm_group {
    tm_group_kind kind;
    uint32_t site;           /* TM_GROUP_SITE: the site id (0: unknown) */
    char prefix[64];         /* TM_GROUP_PREFIX: the name prefix */
    uint32_t first_name;     /* the name of its first task (string id) */
    uint64_t tasks, finished, polls;
    ts_hdr poll_ns;          /* every step */
    ts_hdr busy_ns;          /* each finished task's total busy time */
} tm_group;

typedef struct tm_model tm_model;

tm_model *tm_model_new(void);
void tm_model_free(tm_model *m);
/* Keep every task, finished or not (reports on a recording: every task
 * is counted and listed).  The live model keeps at most 50,000 finished
 * tasks. */
void tm_model_keep_all(tm_model *m);

/* Apply one record; ns is its time on CLOCK_MONOTONIC, tid the thread
 * whose ring it came from.  The record must have been validated. */
void tm_model_apply(tm_model *m, const ts_ev_header *rec, uint64_t ns, uint32_t tid);

/* Everything events cannot say: drops and the latest time seen. */
void tm_model_add_dropped(tm_model *m, uint64_t n);
uint64_t tm_model_dropped(const tm_model *m);
/* The clock moves on with no event (a live source that knows the time:
 * the BPF collector, whose state dump is all a quiet process sends; a
 * live report, as of its last drain; a replay cursor between events):
 * ages, waits and the stuck analysis grow with it.  Never backwards. */
void tm_model_advance(tm_model *m, uint64_t ns);
uint64_t tm_model_now(const tm_model *m);
uint64_t tm_model_events(const tm_model *m);
/* Tasks retired because a state dump no longer listed them (their end
 * was among the dropped events). */
uint64_t tm_model_lost(const tm_model *m);
/* Every task the model has known, including those it evicted since. */
uint64_t tm_model_tasks_seen(const tm_model *m);

/* Told of every task the model retires as lost (a state dump no longer
 * lists it, or its loop closed while the model held it live), after the
 * model has done so; a recorder writes it down.  NULL to stop. */
typedef void (*tm_retire_fn)(uint64_t task, uint64_t ns, void *arg);
void tm_model_on_retire(tm_model *m, tm_retire_fn fn, void *arg);

/* Told of every task the model evicts (finished and freed, beyond the
 * 50,000 finished tasks it keeps), just before it goes: a report on a
 * whole recording keeps what it prints of it elsewhere (report_sql.c).
 * NULL to stop. */
typedef void (*tm_evict_fn)(const tm_model *m, const tm_task *t, void *arg);
void tm_model_on_evict(tm_model *m, tm_evict_fn fn, void *arg);

/* "lost" for a retired task, else tm_state_name(t->state). */
const char *tm_task_state_name(const tm_task *t);
/* The task's name; "?" when it has one whose text never arrived (its
 * string record was dropped) or it is a placeholder no dump named yet. */
const char *tm_task_name(const tm_model *m, const tm_task *t);

/* Lookups (NULL when unknown). */
tm_task *tm_model_task(const tm_model *m, uint64_t id);
const char *tm_model_string(const tm_model *m, uint32_t id);   /* "" if unknown */
const tm_site *tm_model_site(const tm_model *m, uint32_t id);
/* "file:line in func()" for a site id, into buf; "-" for none. */
const char *tm_model_site_text(const tm_model *m, uint32_t id, char *buf, size_t len);
tm_resource *tm_model_resource(const tm_model *m, uint64_t id);
const uint64_t *tm_model_stack(const tm_model *m, uint32_t id, uint32_t *depth);

/* A resource as people read it, into buf: lock "cache" (cache.c:12),
 * the address when it has neither name nor site (lock 0x55..).  The
 * first word is the kind of wait (2, 5 .. 12: queue_get "jobs" ...) when
 * wait_kind is one, else the resource's kind (wait_kind 0).  Returns buf. */
const char *tm_resource_text(const tm_model *m, uint32_t wait_kind, uint64_t id, char *buf,
                             size_t len);
/* The resource a wait kind waits on, or 0 (task, sleep, fd, ...). */
int tm_wait_kind_is_resource(uint32_t wait_kind);

/* Iteration: the arrays are valid until the next apply. */
size_t tm_model_task_count(const tm_model *m);
tm_task *tm_model_task_at(const tm_model *m, size_t i);   /* creation order */
size_t tm_model_loop_count(const tm_model *m);
tm_loop *tm_model_loop_at(const tm_model *m, size_t i);
size_t tm_model_resource_count(const tm_model *m);
tm_resource *tm_model_resource_at(const tm_model *m, size_t i);
size_t tm_model_blocked_count(const tm_model *m);
const tm_blocked *tm_model_blocked_at(const tm_model *m, size_t i);
/* An episode's length as of now (model ns): its measured length once
 * over; while it lasts, at least until now (the watchdog reports once, at
 * the threshold, and on a live source no loop_unblocked yet means the
 * loop is still blocked). */
uint64_t tm_blocked_length(const tm_blocked *b, uint64_t now);
/* Changes with every blocked episode or slow step listed, ended or
 * merged: a view redraws when it changes (an episode that ends need not
 * be the last one listed). */
uint64_t tm_model_blocked_changes(const tm_model *m);
size_t tm_model_warning_count(const tm_model *m);
const tm_warning *tm_model_warning_at(const tm_model *m, size_t i);
size_t tm_model_group_count(const tm_model *m);
const tm_group *tm_model_group_at(const tm_model *m, size_t i);
/* Warnings not yet written to the recording (see tm_warning.dirty). */
size_t tm_model_dirty_warnings(const tm_model *m);
void tm_model_warning_clean(tm_model *m, size_t i);
/* Add a warning from elsewhere (one stored in a recording), unless the
 * model already has it: same kind and task, and the same time for
 * per-event kinds; a deadlock also when the task is already flagged as
 * part of one.  Returns 1 if added. */
int tm_model_merge_warning(tm_model *m, tm_warning_kind kind, uint64_t ns, uint64_t task,
                           uint64_t resource, const char *text);
size_t tm_model_module_count(const tm_model *m);
const tm_module *tm_model_module_at(const tm_model *m, size_t i);

/* A deep copy of m (model_clone.c): applying to or freeing either never
 * touches the other; the retire callback is not copied.  NULL on no
 * memory.  A replay keeps clones as checkpoints to seek backwards. */
tm_model *tm_model_clone(const tm_model *m);
/* A copy of m to keep, neither applied to nor read (replay checkpoints):
 * its task records are packed, and those unchanged since prev (an
 * earlier snapshot, or NULL) are shared with it, counted.  *own gets the
 * bytes of its own arrays; *shared (a caller's running total for a set
 * of snapshots) grows by the bytes of the task records it added.
 * tm_model_restore gives a model equal to m from it (to read or apply
 * to); tm_model_snapshot_free frees it (snapshots in any order) and takes
 * the records it frees off *shared.  NULL on no memory. */
tm_model *tm_model_snapshot(const tm_model *m, const tm_model *prev, size_t *own,
                            size_t *shared);
tm_model *tm_model_restore(const tm_model *snap);
void tm_model_snapshot_free(tm_model *snap, size_t *shared);

/* Time a task has spent in each state up to now (includes the current
 * stretch). */
void tm_task_times(const tm_model *m, const tm_task *t, uint64_t *busy,
                   uint64_t *scheduled, uint64_t *idle);

/*
 * tm_model_analyze - look for tasks that can never finish, and say why:
 * cycles in the wait-for graph through tasks, locks, semaphores, queues,
 * events, conditions and futures (certain when every edge is an awaited
 * task or a holder; "inferred" when one is a waker guessed from history:
 * who last set, put or notified, who created a future, the only other
 * task of the loop); locks and semaphores held by a finished task (dead
 * holder); futures awaited for TM_STUCK_NS whose creator finished (orphan
 * future); waits on what only the waiter ever signalled (self wake); and
 * loops where every live task waits on something only another task of
 * the loop could complete.  All per task, while other tasks run.
 * Starvation and busy yields are found as events arrive, not here.  Adds
 * warnings (each once) and returns how many new ones it found.
 */
size_t tm_model_analyze(tm_model *m);

/* Thresholds of the analysis (model time, ns): a wait this old with no
 * possible waker is stuck; a ready-to-run wait this long is starvation;
 * a run of sleep(0)s this long is a busy yield. */
#define TM_STUCK_NS 1000000000ull
#define TM_STARVATION_NS 100000000ull
#define TM_BUSY_YIELD_NS 1000000000ull

/* A duration as reports print it ("850ns", "12.3us", "300.1ms", "2.05s"):
 * one definition, so a warning's text and a report's column agree. */
void tm_fmt_dur(char *buf, size_t len, uint64_t ns);
const char *tm_warning_kind_name(tm_warning_kind k);
/* What to do about a warning of that kind: one short line. */
const char *tm_warning_kind_hint(tm_warning_kind k);
/* The inverse (0 for an unknown name). */
tm_warning_kind tm_warning_kind_parse(const char *name);

/*
 * Stacks of parked tasks, user fields and log lines (issue 15).
 *
 * tm_model_task_stack: the call stack the latest state dump walked for a
 * parked task (innermost first; the first address is where it parked,
 * the others are return addresses).  ns says when: if the task has run
 * since (t->state_since_ns > ns), the stack is the one it had then.
 * Symbolize with tracer/where.h.  0, or -ENOENT (none recorded: the task
 * never parked during a dump, the dump held too many stacks, or the
 * tracer reads the release runtime).
 */
#define TM_STACK_TRUNCATED 1  /* deeper than the runtime records */
#define TM_STACK_BAD_FP 2     /* the chain left the task's stack */
#define TM_STACK_NO_WALK 4    /* the runtime could not walk (ucontext build) */
typedef struct tm_task_stack {
    uint64_t ns;
    uint32_t flags, depth;
    const uint64_t *pcs;
} tm_task_stack;
int tm_model_task_stack(const tm_model *m, uint64_t task, tm_task_stack *out);

/* A task's fields as the user set them (key order of first setting,
 * except that removals reorder); *fields is valid until the next apply. */
typedef struct tm_field {
    char *key, *value;
} tm_field;
size_t tm_model_task_fields(const tm_model *m, uint64_t task, const tm_field **fields);

/* Log lines, oldest first (the live model keeps the latest 10,000). */
typedef struct tm_log {
    uint64_t ns;
    uint64_t task;           /* 0: logged outside any task */
    const char *text;
} tm_log;
/* The pid of the `taskscope cancel` that cancelled task (through the
 * debug runtime's command channel), 0 if none did. */
uint32_t tm_model_task_canceller(const tm_model *m, uint64_t task);

size_t tm_model_log_count(const tm_model *m);
const tm_log *tm_model_log_at(const tm_model *m, size_t i);

const char *tm_state_name(tm_state s);
const char *tm_wait_kind_name(uint32_t kind);
const char *tm_resource_kind_name(uint32_t kind);

#endif
