/*
 * loop_impl.h - the layout of loops and tasks, for the core files that
 * implement them (loop.c, task.c, timer.c, fdwait.c).  Everything else goes
 * through internal.h.
 */
#ifndef TS_LOOP_IMPL_H
#define TS_LOOP_IMPL_H

#include "fiber.h"
#include "internal.h"

/* What few tasks use, allocated on first use (task.c, task_rare): out of
 * the record, so that a task costs less memory while it waits
 * (bench idle_memory).  Freed with the task's record. */
struct ts__task_rare {
    ts_task *task;
    ts__node done_cbs;          /* user done callbacks (struct done_cb) */
    ts__cb done_cb_run;         /* runs the done callbacks from the loop */
    char *cancel_msg;
    struct ts_error_group *errgroup; /* errors of the last group whose wait
                                 * failed in this task (group.c), so an
                                 * outer group can nest them */
    struct ts__notes *notes;    /* debug runtime: user fields, NULL until
                                 * ts_task_set_field (trace/notes.c) */
};

/* t's rare part, allocated now if it has none, or NULL (out of memory). */
struct ts__task_rare *ts__task_rare(ts_task *t);

/* A task.  refs counts the handles the user holds plus one held by the
 * loop until the task has finished and its stack is back in the pool. */
struct ts_task {
    ts__cb run;                 /* ready-queue entry: one step of the task */
    ts__ctx ctx;
    ts__stack stack;
    ts_loop *loop;
    ts__waiter *parked;         /* its waiter while SUSPENDED */
    int wake_status;
    uint32_t stack_size;        /* asked for at spawn (at most 1 GiB) */
    unsigned char state;        /* ts_task_state */
    unsigned char wait_kind;    /* ts_wait_kind while suspended */
    bool must_cancel;           /* deliver -ECANCELED at the next suspension */
    bool cancel_woken;          /* woken by a cancellation, not yet run: a
                                 * further request adds nothing to deliver */
    bool started;
    bool err_retrieved;
    bool name_owned;
    bool mark;                  /* ts__task_mark */
    int refs;
    int handles;                /* handles the user (or a runtime call
                                 * holding one) still owns; 0 once every
                                 * one was given up: a later consuming use
                                 * of the pointer is misuse (TS_EFREED) */
    int cancel_requests;
    int err;
    ts_task_fn fn;
    void *arg;
    void *result;
    uint64_t id;
    uint64_t parent_id;
    const char *name;
    const ts_site *spawn_site;
    const ts_site *await_site;
    const void *wait_obj;
    char *err_msg;
    ts__node all;               /* on loop->tasks until freed */
    ts__node watchers;          /* ts__done_watch */
    struct ts__task_rare *rare; /* NULL until needed */
#ifdef TS_ASAN
    void *asan_fake;
#endif
#ifdef TS_DEBUG_RUNTIME
    /* Only the debug runtime's record has these (last, so the layout
     * before them is the same in both libraries: tracer/bpf/layout.c). */
    const ts_site *release_site; /* where the last handle was given up,
                                 * if known */
    uint32_t trace_name, trace_site; /* the interned ids its task_create
                                 * used, for the watchdog to name it while
                                 * its step blocks the loop */
#endif
};

/* state of a record whose task was freed (debug runtime: it waits in the
 * loop's quarantine, so a stale handle finds this and not another task) */
enum { TS__TASK_FREED = 0x7f };

struct fd_slot;

typedef struct ts__heap_entry {
    int64_t when;
    uint64_t seq;
    ts__timer *t;
} ts__heap_entry;

struct ts_loop {
    uint64_t id;
    pthread_t thread;
    int epfd;
    int evfd;
    bool running;
    bool stopping;
    bool now_valid;
    int64_t now;
    ts_task *current;
    ts__node ready;
    /* the entries of the running iteration not yet run (run_once); a
     * field, not a local, so that a direct hand-off (task.c) can see that
     * nothing else is waiting its turn */
    ts__node batch;
    /* direct hand-offs and switch-free yields left in this iteration:
     * each one skips the loop, so their number is bounded to keep timers,
     * I/O and cross-thread calls coming (TS_HANDOFF_BUDGET) */
    unsigned handoff_left;
    /* ASan: the task resuming now was switched to by a task, not by the
     * loop, so the stack it left is not the loop's (task.c) */
    bool resumed_by_task;
    /* timers */
    ts__heap_entry *heap;
    size_t nheap, heap_cap;
    uint64_t timer_seq;
    /* tasks */
    ts__node tasks;
    size_t nunfinished;
    /* stacks */
    ts__stack *pool;
    size_t npool, pool_alloc, pool_cap;   /* used, allocated, limit */
    size_t default_stack;
    /* the loop's own context, and its stack bounds for ASan */
    ts__ctx ctx;
    const void *stack_bottom;
    size_t stack_size;
    /* call_soon_threadsafe */
    pthread_mutex_t xlock;
    ts__node xqueue;
    _Atomic int xsignalled;
    bool closing;
    /* fd waits */
    struct fd_slot *fds;
    int nfds_cap;
    int nfds_armed;
    ts_executor *default_executor;
    void *altstack;
    /* finished task records kept for reuse, up to the peak number of
     * records alive at once (at least 1024): spawn-heavy code would
     * otherwise overflow malloc's per-thread cache on every batch, and a
     * burst of N tasks would fault N fresh records in every time.  Those
     * beyond 1024 are freed when the loop next waits (run_once), so a
     * past burst does not keep its memory. */
    ts_task *free_tasks;
    size_t nfree_tasks;
    size_t nlive_tasks, live_tasks_peak;
    uint64_t id_next, id_end;   /* this loop's block of task ids */
    /* debug runtime: this loop's block-detection slot in the trace
     * segment, and the last attach generation it answered with a dump */
    void *trace_slot;
    uint64_t trace_dump_gen;
    /* debug runtime: where and when the last step ended, so the next step
     * of the same ready batch, starting with no record in between, takes
     * that time instead of reading the clock (chain: valid this batch) */
    uint64_t trace_step_end_ts, trace_step_end_pos;
    bool trace_step_chain;
    /* timeout scopes not yet exited: freed at close if their task never
     * leaves them (it was destroyed pending) */
    ts__node timeouts;
    /* debug runtime: freed task records, oldest first, kept out of reuse
     * for a while so a stale handle is caught (task.c); lazily set up */
    ts__node task_quarantine;
    size_t ntask_quarantine;
};

/* ts__ready_push for the core files, which see the loop's layout. */
static inline void ts__loop_ready_push(ts_loop *l, ts__cb *cb) {
    ts__list_push_back(&l->ready, &cb->node);
}

/* Hand-offs (a task switching straight to the one it woke) and
 * switch-free yields per loop iteration: at ~10-50 ns each, the loop polls,
 * runs due timers and takes cross-thread calls at least every few us. */
enum { TS_HANDOFF_BUDGET = 64 };

void ts__timers_run(ts_loop *l, int64_t now);
void ts__task_step(ts__cb *cb);
void ts__task_finish_all(ts_loop *l); /* close: free every task */
void ts__task_records_free(ts_loop *l); /* close: the reuse cache */
/* Free cached task records beyond keep (when the loop is about to wait). */
void ts__task_records_trim(ts_loop *l, size_t keep);
enum { TS_TASK_RECORDS_KEPT_IDLE = 1024 };
void ts__fd_dispatch(ts_loop *l, int fd, uint32_t events);
void ts__fd_close(ts_loop *l);
void ts__timeouts_close(ts_loop *l);
int ts__stack_get_slow(ts_loop *l, size_t size, ts__stack *out);
void ts__stack_put_slow(ts_loop *l, ts__stack *s);

/* A stack for a task asking for size bytes (0: the loop's default): from
 * the pool when it holds one of that size, else freshly mapped. */
static inline int ts__stack_get(ts_loop *l, size_t size, ts__stack *out) {
    if (size == 0 && l->npool > 0) {
        *out = l->pool[--l->npool];
        return 0;
    }
    return ts__stack_get_slow(l, size, out);
}

/* Give a finished task's stack back: to the pool while it has room, else
 * unmapped.  s->base is NULL afterwards. */
static inline void ts__stack_put(ts_loop *l, ts__stack *s) {
    if (s->size == l->default_stack && l->npool < l->pool_alloc) {
        l->pool[l->npool++] = *s;
        s->base = NULL;
        return;
    }
    ts__stack_put_slow(l, s);
}
void ts__overflow_thread_init(ts_loop *l);
void ts__overflow_thread_fini(ts_loop *l);

#endif
