/*
 * statedump.c - the state dump a BPF collector asks the runtime for, in
 * both builds: every live task of a loop, reported through USDT probes,
 * so a collector that attaches mid-run (`taskscope attach --bpf`,
 * `ps --bpf`) sees the tasks that already existed, with their names,
 * spawn sites and what each awaits, as the debug runtime's ring dump
 * gives them.
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
 */
#define _SDT_HAS_SEMAPHORES 1 /* before sys/sdt.h, via tracepoints.h */

#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loop_impl.h"
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
    STAP_PROBEV(taskscope, dump_end, gen, l->id);
}

#else

void ts__dump_answer(ts_loop *l) { (void)l; }

#endif
