/*
 * statedump.c - the state dump a BPF collector asks the runtime for, in
 * both builds: every live task of a loop, reported through USDT probes,
 * so a collector that attaches mid-run (`taskscope attach --bpf`,
 * `ps --bpf`) sees the tasks that already existed, with their names,
 * spawn sites and what each awaits, as the debug runtime's ring dump
 * gives them; and, for every lock, queue, event, condition, semaphore or
 * barrier a live task waits on, its name and creation site (a name given
 * before the collector attached is nowhere else), the lock's holder, the
 * queue's depth, so a tracer sees a lock cycle (deadlock) in the first
 * dump and names each resource as the debug runtime does; and each
 * parked task's call stack, for `taskscope where --bpf` (walked only if a
 * collector asked for them).
 *
 * How a collector asks: it attaches a BPF program to the probe
 * taskscope:dump_request, which has an SDT semaphore; the kernel adds one
 * to the semaphore for each uprobe attached there (ref_ctr_offset) and
 * takes it back on detach.  Each loop compares the semaphore with the
 * value it last saw once per iteration (TS_DUMP_CHECK in tracepoints.h:
 * two loads and a branch that is never taken while nobody traces), and
 * dumps when it went up.  An idle loop is woken by the collector writing
 * the loop's eventfd (registered edge-triggered, with the tag
 * TS_LOOP_EVFD_TAG so a tracer finds it in /proc/PID/fdinfo): a spurious
 * wakeup, harmless to the loop.
 *
 * Invariants:
 *   - Untraced, this costs the loop the check above and nothing else; the
 *     dump itself runs only on the loop's own thread, between steps, so
 *     the task list is stable while it is walked.
 *   - A dump never allocates, locks or fails: it reads the loop's task
 *     list and fires probes (nops unless traced).
 *   - Each dump has a generation unique in the process, so a tracer's
 *     model can tell the tasks of this dump from an earlier one's.
 *   - The release runtime keeps no registry of its locks and queues; the
 *     ones that matter to a reader (what a task waits on) are found
 *     through the waiting tasks themselves.  A holder is reported only if
 *     it is still on the loop's task list: a task that finished holding a
 *     lock and was freed leaves a dangling owner, which is never read.
 */
#define _SDT_HAS_SEMAPHORES 1 /* before sys/sdt.h, via tracepoints.h */

#include <limits.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop_impl.h"
#include "parkwalk.h"
#include "tracepoints.h"

#if defined(TS_HAVE_SDT) && __has_include(<sys/sdt.h>)

/* The semaphores of this file's probes (sys/sdt.h names them so; the
 * kernel writes the first; the others exist because every probe of a
 * file built with semaphores names one).  In .probes, as dtrace -G puts
 * them, so the tracer finds the file offset the kernel needs. */
#define TS_SEMAPHORE(name)                                                              \
    __attribute__((section(".probes"), visibility("hidden"), used)) volatile unsigned short \
        taskscope_##name##_semaphore
TS_SEMAPHORE(dump_request);
TS_SEMAPHORE(dump_begin);
TS_SEMAPHORE(task_state);
TS_SEMAPHORE(dump_end);
TS_SEMAPHORE(dump_resource);
TS_SEMAPHORE(task_stack);

__thread __attribute__((tls_model("initial-exec"), visibility("hidden")))
unsigned short ts__dump_seen;

static _Atomic uint64_t dump_generation;

static void dump_task(ts_task *t) {
    const void *obj = NULL;
    const ts_site *await_site = NULL;
    ts_wait_kind kind = ts_task_awaiting(t, &obj, &await_site);
    uint64_t object = !obj ? 0
                      : kind == TS_WAIT_TASK ? ((const ts_task *)obj)->id
                                             : (uint64_t)(uintptr_t)obj;
    STAP_PROBEV(taskscope, task_state, t->id, t->parent_id, t->loop->id, object, t->name,
                t->spawn_site, (unsigned)t->state, (unsigned)kind, await_site,
                t->cancel_requests);
}

/* The resources of one batch of waiting tasks, each once. */
#define DUMP_RES_BATCH 64

typedef struct dump_res {
    const void *obj;
    const ts_task *owner; /* a lock's holder as the lock has it (unchecked) */
    uint64_t holder_id;   /* its id once found live on the loop, else 0 */
    unsigned kind;        /* TS_RES_* */
} dump_res;

/* The resource kind of a wait on a synchronisation object (each starts
 * with a ts__obj), else 0: futures, tasks, fds and the rest are not
 * resources a dump describes. */
static unsigned res_kind_of(ts_wait_kind k) {
    switch (k) {
    case TS_WAIT_LOCK: return TS_RES_LOCK;
    case TS_WAIT_EVENT: return TS_RES_EVENT;
    case TS_WAIT_CONDITION: return TS_RES_CONDITION;
    case TS_WAIT_SEMAPHORE: return TS_RES_SEMAPHORE;
    case TS_WAIT_BARRIER: return TS_RES_BARRIER;
    case TS_WAIT_QUEUE_GET:
    case TS_WAIT_QUEUE_PUT:
    case TS_WAIT_QUEUE_JOIN: return TS_RES_QUEUE;
    default: return 0;
    }
}

/* resource_create's capacity as the dump knows it: a queue's maxsize, a
 * barrier's parties; 0 otherwise (a semaphore's initial value is not
 * kept, and 0 reads "unknown" to a reader's analysis). */
static unsigned res_capacity(const dump_res *r) {
    size_t cap = r->kind == TS_RES_QUEUE     ? ts_queue_maxsize(r->obj)
                 : r->kind == TS_RES_BARRIER ? ts_barrier_parties(r->obj)
                                             : 0;
    return (unsigned)(cap > UINT_MAX ? UINT_MAX : cap);
}

/* Add what live task t waits on to the batch, unless it is there already
 * or t waits on no lock or queue.  0 when the batch is full (t not
 * taken). */
static int batch_add(dump_res *b, size_t *n, ts_task *t) {
    const void *obj = NULL;
    unsigned kind = t->state < TS_TASK_DONE ? res_kind_of(ts_task_awaiting(t, &obj, NULL)) : 0;
    if (!kind || !obj)
        return 1;
    for (size_t i = 0; i < *n; i++)
        if (b[i].obj == obj)
            return 1;
    if (*n == DUMP_RES_BATCH)
        return 0;
    b[(*n)++] = (dump_res){obj, kind == TS_RES_LOCK ? ts_lock_owner(obj) : NULL, 0, kind};
    return 1;
}

/* Fire one dump_resource per entry, with its name and creation site: a
 * lock with its holder's id (0 when unknown), a queue with its maxsize
 * and depth, a barrier with its parties.  The holders are looked
 * up by address among the loop's tasks, never dereferenced before. */
static void batch_emit(ts_loop *l, uint64_t gen, dump_res *b, size_t n) {
    size_t owners = 0;
    for (size_t i = 0; i < n; i++)
        owners += b[i].owner != NULL;
    if (owners) {
        ts__list_foreach(it, &l->tasks) {
            const ts_task *t = ts__container_of(it, ts_task, all);
            for (size_t i = 0; i < n; i++)
                if (b[i].owner == t)
                    b[i].holder_id = t->id;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t depth = b[i].kind == TS_RES_QUEUE ? ts_queue_size(b[i].obj) : 0;
        /* its name and site too: a name given before a collector
         * attached is nowhere else (every kind starts with a ts__obj) */
        const ts__obj *o = b[i].obj;
        STAP_PROBEV(taskscope, dump_resource, gen, b[i].obj, b[i].kind, res_capacity(&b[i]),
                    b[i].holder_id, (uint64_t)depth, o->name, o->created);
    }
}

/* Every resource a live task of l waits on, in batches of
 * DUMP_RES_BATCH distinct ones: one walk of the tasks per batch with a
 * lock in it, to find the holders (so a dump costs O(tasks x batches),
 * one batch unless over 64 resources are awaited).  Across
 * batches a resource may come twice; a reader's model takes a repeat as
 * the same facts (resource_create resets it, resource_acquired sets the
 * holder). */
static void dump_resources(ts_loop *l, uint64_t gen) {
    dump_res batch[DUMP_RES_BATCH];
    size_t n = 0;
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (batch_add(batch, &n, t))
            continue;
        batch_emit(l, gen, batch, n);
        n = 0;
        batch_add(batch, &n, t);
    }
    if (n)
        batch_emit(l, gen, batch, n);
}

/* ---- parked tasks' stacks (issue 15: `taskscope where --bpf`) ----------
 * Each parked task's call stack, walked in-process as the debug runtime's
 * ring dump walks it (parkwalk.c), handed to the task_stack probe as the
 * address and length of the walked array, which the BPF program copies.
 * Only when a collector attached that probe (its own semaphore): an older
 * collector, or one that wants no stacks, costs the dump nothing more.
 * At most STACKS_PER_DUMP tasks of a dump, STACK_DEPTH_MAX frames each,
 * as on the debug runtime. */
#define STACK_DEPTH_MAX 32
#define STACKS_PER_DUMP 1024

static void dump_task_stack(uint64_t gen, ts_task *t, unsigned *budget) {
    if (!*budget || !ts__park_walkable(t))
        return;
    (*budget)--;
    uint64_t pcs[STACK_DEPTH_MAX];
    uint32_t flags;
    int n = ts__park_walk(t, pcs, STACK_DEPTH_MAX, &flags);
    /* the probe's arguments are read while it fires, so pcs lives long
     * enough; keep the compiler from dropping the stores it cannot see
     * read */
    __asm__ volatile("" : : "r"(pcs) : "memory");
    STAP_PROBEV(taskscope, task_stack, gen, t->id, pcs, (unsigned)n, flags);
}

void ts__dump_answer(ts_loop *l) {
    unsigned short now = taskscope_dump_request_semaphore, was = ts__dump_seen;
    ts__dump_seen = now;
    if (now <= was)
        return; /* a collector left (or none came): nobody to answer */
    uint64_t gen = atomic_fetch_add(&dump_generation, 1) + 1;
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    STAP_PROBEV(taskscope, dump_request, gen);
    STAP_PROBEV(taskscope, dump_begin, gen, l->id, tid);
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (t->state < TS_TASK_DONE)
            dump_task(t);
    }
    if (taskscope_task_stack_semaphore) { /* a collector wants the stacks */
        unsigned stacks = STACKS_PER_DUMP;
        ts__list_foreach(it, &l->tasks)
            dump_task_stack(gen, ts__container_of(it, ts_task, all), &stacks);
    }
    dump_resources(l, gen);
    STAP_PROBEV(taskscope, dump_end, gen, l->id);
}

#else

void ts__dump_answer(ts_loop *l) { (void)l; }

#endif
