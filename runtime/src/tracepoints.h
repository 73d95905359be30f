/*
 * tracepoints.h - where the runtime reports what it does.
 *
 * Two mechanisms behind one set of macros:
 *   - USDT probes (sys/sdt.h), in both builds: a single nop each until a
 *     BPF or SystemTap tracer attaches to it, so the release library can be
 *     traced without relinking.
 *   - The debug runtime's ring events (TS_DEBUG_RUNTIME only): a call into
 *     trace/, which writes a record to the thread's ring.
 * In the release build without sys/sdt.h the macros are empty.
 */
#ifndef TS_TRACEPOINTS_H
#define TS_TRACEPOINTS_H

#if defined(TS_HAVE_SDT) && __has_include(<sys/sdt.h>)
#define SDT_USE_VARIADIC 1
#include <sys/sdt.h>
#define TS_USDT(name, ...) STAP_PROBEV(taskscope, name, __VA_ARGS__)
#define TS_USDT0(name) STAP_PROBE(taskscope, name)
#else
#define TS_USDT(name, ...) ((void)0)
#define TS_USDT0(name) ((void)0)
#endif

#ifdef TS_DEBUG_RUNTIME
#include "trace/trace.h"
#define TS_RING(call) ts__tr_##call
#else
#define TS_RING(call) ((void)0)
#endif

/* The state dump a BPF collector asks for (statedump.c): once per loop
 * iteration, compare the dump_request probe's SDT semaphore (raised by the
 * kernel while a collector's uprobe is attached there) with the value this
 * loop thread last saw; unequal only when a collector came or went. */
#if defined(TS_HAVE_SDT) && __has_include(<sys/sdt.h>)
struct ts_loop;
extern volatile unsigned short taskscope_dump_request_semaphore
    __attribute__((visibility("hidden")));
extern __thread unsigned short ts__dump_seen
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
void ts__dump_answer(struct ts_loop *l);
#define TS_DUMP_CHECK(l) \
    do { if (__builtin_expect(taskscope_dump_request_semaphore != ts__dump_seen, 0)) ts__dump_answer(l); } while (0)
#else
#define TS_DUMP_CHECK(l) ((void)0)
#endif

/* The loop's eventfd is registered in its epoll with this tag in the half
 * of epoll_data that data.fd does not cover, so a tracer can find it in
 * /proc/PID/fdinfo/<epoll fd> ("data: 7473776b000000NN") and wake an
 * idle loop to answer a dump (see statedump.c). */
#define TS_LOOP_EVFD_TAG 0x7473776bu /* "tswk" */

/* Task ids are read through the struct only in files that see it. */
#define TS_TRACE_TASK_CREATE(t) \
    do { TS_USDT(task_create, (t)->id, (t)->parent_id, (t)->loop->id, (t)->name, (t)->spawn_site); TS_RING(task_create(t)); } while (0)
#define TS_TRACE_TASK_RESUME(t) \
    do { TS_USDT(task_resume, (t)->id); TS_RING(task_resume(t)); } while (0)
#define TS_TRACE_TASK_SUSPEND(t, kind, obj, site) \
    do { TS_USDT(task_suspend, (t)->id, (kind), (obj), (site)); TS_RING(task_suspend((t), (kind), (obj), (site))); } while (0)
#define TS_TRACE_TASK_WAKE(t, status) \
    do { TS_USDT(task_wake, (t)->id, (status)); TS_RING(task_wake((t), (status))); } while (0)
/* by: the id of the task that requested the cancellation (0: none). */
#define TS_TRACE_TASK_CANCEL(t, msg, by) \
    do { TS_USDT(task_cancel, (t)->id, (t)->cancel_requests, (msg), (by)); TS_RING(task_cancel((t), (msg), (by))); } while (0)
#define TS_TRACE_TASK_DONE(t) \
    do { TS_USDT(task_done, (t)->id, (t)->state, (t)->err, (t)->err_msg); TS_RING(task_done(t)); } while (0)
#define TS_TRACE_TASK_FREE(t) \
    do { TS_USDT(task_free, (t)->id); TS_RING(task_free(t)); } while (0)
#define TS_TRACE_LOOP_CREATE(l) \
    do { TS_USDT(loop_create, (l)->id); TS_RING(loop_create(l)); } while (0)
#define TS_TRACE_LOOP_CLOSE(l) \
    do { TS_USDT(loop_close, (l)->id); TS_RING(loop_close(l)); } while (0)
#define TS_TRACE_ITERATION(l) do { TS_DUMP_CHECK(l); TS_RING(iteration(l)); } while (0)
#define TS_TRACE_BEFORE_POLL(l) do { TS_RING(before_poll(l)); } while (0)
#define TS_TRACE_STEP_BEGIN(l, t) do { TS_RING(step_begin((l), (t))); } while (0)
#define TS_TRACE_STEP_END(l, t) do { TS_RING(step_end((l), (t))); } while (0)
#define TS_TRACE_FUTURE_CREATE(f, site) \
    do { TS_USDT(future_create, (f), (site)); TS_RING(future_create((f), (site))); } while (0)
#define TS_TRACE_FUTURE_DONE(f, err) \
    do { TS_USDT(future_done, (f), (err)); TS_RING(future_done((f), (err))); } while (0)
#define TS_TRACE_RESOURCE_CREATE(obj, kind, cap, site) \
    do { TS_USDT(resource_create, (obj), (kind), (cap), (site)); TS_RING(resource_create((obj), (kind), (cap), (site))); } while (0)
/* A resource or future got a name (or lost it: name NULL). */
#define TS_TRACE_RESOURCE_NAME(obj, name) \
    do { TS_USDT(resource_name, (obj), (name)); TS_RING(resource_name((obj), (name))); } while (0)
/* What an fd is, where the runtime learns it (fd_info; once per fd life,
 * never per read or write).  Ring only: a USDT probe would need the BPF
 * collector to read the addresses itself. */
#define TS_FD_CONNECTED 1
#define TS_FD_ACCEPTED 2
#define TS_FD_LISTENING 3
#define TS_FD_BOUND 4
#define TS_FD_OPENED 5
#define TS_FD_CONNECTING 6
#define TS_FD_CLOSED 7 /* by the runtime (a stream, a file); a plain close() is not seen */
#define TS_TRACE_FD_INFO(fd, how, path) \
    do { TS_RING(fd_info((fd), (how), (path), NULL, 0)); } while (0)
/* A connect about to wait: the fd's wait is on it, and the kernel does
 * not name the peer until it completes (then TS_TRACE_FD_INFO again). */
#define TS_TRACE_FD_CONNECTING(fd, to, tolen) \
    do { TS_RING(fd_info((fd), TS_FD_CONNECTING, NULL, (to), (tolen))); } while (0)
#define TS_TRACE_RESOURCE_FREE(obj) \
    do { TS_USDT(resource_free, (obj)); TS_RING(resource_free(obj)); } while (0)
/* The task is often the thread's current one, a TLS load the compiler
 * would fold into the probe's argument as %fs:(...), which USDT readers
 * (libbpf) cannot decode: the whole probe would fail to attach.  An empty
 * asm puts it in a register first (it is loaded either way). */
#define TS_USDT_REG(x) \
    __extension__({ uintptr_t ts__r = (uintptr_t)(x); __asm__("" : "+r"(ts__r)); ts__r; })
#define TS_TRACE_RESOURCE_ACQUIRED(obj, t) \
    do { TS_USDT(resource_acquired, (obj), TS_USDT_REG(t)); TS_RING(resource_acquired((obj), (t))); } while (0)
#define TS_TRACE_RESOURCE_RELEASE(obj, t) \
    do { TS_USDT(resource_release, (obj), TS_USDT_REG(t)); TS_RING(resource_release((obj), (t))); } while (0)
#define TS_TRACE_QUEUE_DEPTH(q, depth) \
    do { TS_USDT(queue_depth, (q), (depth)); TS_RING(queue_depth((q), (depth))); } while (0)
/* The same three, for a record written right after another record of the
 * same runtime call, with no user code and no switch in between (a queue
 * put's release after the wake of the getter it hands the item to): the
 * ring record takes the previous record's timestamp instead of reading
 * the clock again, which costs more (~10 ns) than the bookkeeping between
 * the two. */
#define TS_TRACE_RESOURCE_ACQUIRED_NEXT(obj, t) \
    do { TS_USDT(resource_acquired, (obj), TS_USDT_REG(t)); TS_RING(resource_acquired_next((obj), (t))); } while (0)
#define TS_TRACE_RESOURCE_RELEASE_NEXT(obj, t) \
    do { TS_USDT(resource_release, (obj), TS_USDT_REG(t)); TS_RING(resource_release_next((obj), (t))); } while (0)
#define TS_TRACE_QUEUE_DEPTH_NEXT(q, depth) \
    do { TS_USDT(queue_depth, (q), (depth)); TS_RING(queue_depth_next((q), (depth))); } while (0)
#define TS_TRACE_JOB_SUBMIT(job, t) \
    do { TS_USDT(job_submit, (job)); TS_RING(job_submit((job), (t))); } while (0)
#define TS_TRACE_JOB_START(job) \
    do { TS_USDT(job_start, (job)); TS_RING(job_start(job)); } while (0)
#define TS_TRACE_JOB_DONE(job) \
    do { TS_USDT(job_done, (job)); TS_RING(job_done(job)); } while (0)
#define TS_TRACE_DIAG(d) \
    do { TS_USDT(diagnostic, (d)->kind, (d)->task_id, (d)->err, (d)->site, (d)->message); TS_RING(diag(d)); } while (0)

/* Resource kinds in events (schemas/events.def, resource_create.kind). */
enum { TS_RES_LOCK = 1, TS_RES_EVENT, TS_RES_CONDITION, TS_RES_SEMAPHORE,
       TS_RES_BARRIER, TS_RES_QUEUE };

#endif
