/*
 * taskscope.bpf.c - the BPF side of the collector: the runtime's USDT
 * probes (present, as nops, in the release library) and, for loop
 * threads, the system calls that block them.
 *
 * What it keeps and why:
 *   - threads: per thread of the target that runs a loop, the task it is
 *     running (set by task_resume, cleared by task_suspend/task_done) and
 *     the system call it is in.  That is how a blocked read() is charged
 *     to its task, how task_wake and task_cancel learn who did it, and
 *     how a step's length (slow_step) is measured.
 *   - task_loop: task id -> loop id, so a thread first seen through
 *     task_resume (the collector attached after loop_create) still gets
 *     its loop.
 *   - sites_sent: the ts_site addresses whose contents were sent, so each
 *     site costs its strings once.
 * Every map is bounded (LRU where an entry could otherwise leak), and a
 * full ring buffer drops the record and counts it per class: nothing here
 * can block or fail the traced program.  The USDT programs run only for
 * the target (the uprobes are attached for its pid); the tracepoint
 * programs run for every thread of the machine and return at once for
 * any other process.
 */
#include "tsb_common.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* ---- tasks and loops ---------------------------------------------------- */

SEC("usdt")
int BPF_USDT(task_create, __u64 id, __u64 parent, __u64 loop, __u64 name, __u64 site) {
    __u64 l = loop;
    bpf_map_update_elem(&task_loop, &id, &l, BPF_ANY);
    if (!EMITS(TSB_C_TASKS))
        return 0;
    send_site(site, TSB_C_TASKS);
    struct tsb_event *e = ev_begin(TS_EV_task_create, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    e->a[1] = parent;
    e->a[2] = loop;
    e->a[4] = site;
    ev_str(e, 3, name);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_resume, __u64 id) {
    struct thr *t = thr_make(self_tid());
    if (t) {
        t->task = id;
        t->resume_ns = bpf_ktime_get_ns();
        t->is_loop = 1;
        if (!t->loop) {
            __u64 *l = bpf_map_lookup_elem(&task_loop, &id);
            if (l)
                t->loop = *l;
        }
    }
    if (!EMITS(TSB_C_TASKS))
        return 0;
    struct tsb_event *e = ev_begin(TS_EV_task_resume, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_suspend, __u64 id, __s32 kind, __u64 obj, __u64 site) {
    if (EMITS(TSB_C_TASKS)) {
        send_site(site, TSB_C_TASKS);
        struct tsb_event *e = ev_begin(TS_EV_task_suspend, TSB_C_TASKS);
        if (e) {
            e->a[0] = id;
            e->a[1] = kind == 1 /* TS_WAIT_TASK: obj is a ts_task */ ? task_id_at(obj) : obj;
            e->a[2] = (__u32)kind;
            e->a[3] = site;
            bpf_ringbuf_submit(e, 0);
        }
    }
    step_end(id);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_wake, __u64 id, __s32 status) {
    struct tsb_event *e = ev_begin(TS_EV_task_wake, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    e->a[1] = current_task();
    e->a[2] = (__u64)(__s64)status;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Later runtimes pass the message as a third argument and the task that
 * requested the cancellation as a fourth: the group's owner, a timeout's
 * task, a gather's caller, which is not always the task running now (a
 * group cancels its children from the failing child's completion).  The
 * ring path records the same argument, so both paths give one answer. */
SEC("usdt")
int BPF_USDT(task_cancel, __u64 id, __s32 requests) {
    struct tsb_event *e = ev_begin(TS_EV_task_cancel, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    long by;
    if (bpf_usdt_arg_cnt(ctx) > 3 && bpf_usdt_arg(ctx, 3, &by) == 0)
        e->a[1] = (__u64)by;
    else
        e->a[1] = current_task();
    e->a[2] = (__u32)requests;
    long msg;
    if (bpf_usdt_arg_cnt(ctx) > 2 && bpf_usdt_arg(ctx, 2, &msg) == 0)
        ev_str(e, 3, (__u64)msg);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Later runtimes may pass the error message as a fourth argument. */
SEC("usdt")
int BPF_USDT(task_done, __u64 id, __u32 state, __s32 err) {
    if (EMITS(TSB_C_TASKS)) {
        struct tsb_event *e = ev_begin(TS_EV_task_done, TSB_C_TASKS);
        if (e) {
            e->a[0] = id;
            e->a[1] = state;
            e->a[2] = (__u64)(__s64)err;
            long msg;
            if (bpf_usdt_arg_cnt(ctx) > 3 && bpf_usdt_arg(ctx, 3, &msg) == 0)
                ev_str(e, 3, (__u64)msg);
            bpf_ringbuf_submit(e, 0);
        }
    }
    step_end(id);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_free, __u64 id) {
    bpf_map_delete_elem(&task_loop, &id);
    struct tsb_event *e = ev_begin(TS_EV_task_free, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(loop_create, __u64 id) {
    struct thr *t = thr_make(self_tid());
    if (t) {
        t->loop = id;
        t->is_loop = 1;
    }
    struct tsb_event *e = ev_begin(TS_EV_loop_create, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    e->a[1] = self_tid();
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(loop_close, __u64 id) {
    struct thr *t = thr_of(self_tid());
    if (t && t->loop == id) {
        t->is_loop = 0;
        t->loop = 0;
    }
    struct tsb_event *e = ev_begin(TS_EV_loop_close, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* Later runtimes may add err, site and the text as arguments 3 to 5. */
SEC("usdt")
int BPF_USDT(diagnostic, __u32 kind, __u64 task) {
    struct tsb_event *e = ev_begin(TS_EV_diagnostic, TSB_C_TASKS);
    if (!e)
        return 0;
    long v;
    int n = bpf_usdt_arg_cnt(ctx);
    e->a[0] = task;
    e->a[1] = kind;
    if (n > 2 && bpf_usdt_arg(ctx, 2, &v) == 0)
        e->a[2] = (__u64)v;
    if (n > 3 && bpf_usdt_arg(ctx, 3, &v) == 0) {
        send_site((__u64)v, TSB_C_TASKS);
        e->a[3] = (__u64)v;
    }
    if (n > 4 && bpf_usdt_arg(ctx, 4, &v) == 0)
        ev_str(e, 4, (__u64)v);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* ---- the state dump (runtime/src/statedump.c) -------------------------------
 *
 * Attaching dump_request raises its SDT semaphore, which makes every loop
 * dump its live tasks at its next iteration; its program has nothing to
 * say (dump_begin follows it).  The dump becomes the records the debug
 * runtime's ring dump gives: dump_begin, loop_create, task_state per
 * task, the resources they wait on (dump_resource), dump_end.  It also teaches the bookkeeping which thread runs
 * which loop and which loop each task belongs to, for a collector that
 * attached after they were created. */

SEC("usdt")
int BPF_USDT(dump_request, __u64 gen) { return 0; }

SEC("usdt")
int BPF_USDT(dump_begin, __u64 gen, __u64 loop, __u32 tid) {
    struct thr *t = thr_make(self_tid());
    if (t) {
        t->loop = loop;
        t->is_loop = 1;
    }
    struct tsb_event *e = ev_begin(TS_EV_dump_begin, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = gen;
    bpf_ringbuf_submit(e, 0);
    e = ev_begin(TS_EV_loop_create, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = loop;
    e->a[1] = tid;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(task_state, __u64 id, __u64 parent, __u64 loop, __u64 object, __u64 name,
             __u64 site, __u32 state, __u32 kind, __u64 await_site, __s32 requests) {
    __u64 l = loop;
    bpf_map_update_elem(&task_loop, &id, &l, BPF_ANY);
    if (!EMITS(TSB_C_TASKS))
        return 0;
    send_site(site, TSB_C_TASKS);
    send_site(await_site, TSB_C_TASKS);
    struct tsb_event *e = ev_begin(TS_EV_task_state, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    e->a[1] = parent;
    e->a[2] = loop;
    e->a[3] = object;
    e->a[5] = site;
    e->a[6] = state;
    e->a[7] = kind;
    e->a[8] = await_site;
    e->a[9] = (__u32)requests;
    ev_str(e, 4, name);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* A lock, queue, event, condition, semaphore or barrier some dumped task
 * waits on (after the tasks, before dump_end; each once per dump, or a
 * few times past 64 of them, which the model takes as the same facts):
 * the records the debug runtime's dump gives for it, resource_create
 * with its creation site (and resource_name when it has a name), then
 * resource_acquired with the holder's id for a held lock (0: not known),
 * and queue_depth for a queue.  So the model sees lock cycles from the
 * first dump, and names what a task waits on as `event "ready" (a.c:9)`
 * though the name and the resource predate the attach. */
SEC("usdt")
int BPF_USDT(dump_resource, __u64 gen, __u64 obj, __u32 kind, __u32 capacity, __u64 holder,
             __u64 depth, __u64 name, __u64 site) {
    send_site(site, TSB_C_TASKS);
    struct tsb_event *e = ev_begin(TS_EV_resource_create, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = obj;
    e->a[1] = kind;
    e->a[2] = capacity;
    e->a[3] = site;
    bpf_ringbuf_submit(e, 0);
    /* a name given before we attached: resource_name, as a live one */
    if (name && (e = ev_begin(TS_EV_resource_name, TSB_C_TASKS))) {
        e->a[0] = obj;
        ev_str(e, 1, name);
        bpf_ringbuf_submit(e, 0);
    }
    if (holder && (e = ev_begin(TS_EV_resource_acquired, TSB_C_TASKS))) {
        e->a[0] = obj;
        e->a[1] = holder;
        bpf_ringbuf_submit(e, 0);
    }
    if (kind == TSB_RES_QUEUE && (e = ev_begin(TS_EV_queue_depth, TSB_C_TASKS))) {
        e->a[0] = obj;
        e->a[1] = (__u32)depth;
        bpf_ringbuf_submit(e, 0);
    }
    return 0;
}

/* A parked task's stack, walked by the runtime (statedump.c, parkwalk.c):
 * the array of depth return addresses at pcs, on the loop thread's own
 * stack, just written, so readable here.  A depth past TSB_TASK_DEPTH is
 * cut; an unreadable array sends nothing. */
SEC("usdt")
int BPF_USDT(task_stack, __u64 gen, __u64 id, __u64 pcs, __u32 depth, __u32 flags) {
    if (!EMITS(TSB_C_TASKS))
        return 0;
    struct tsb_task_stack *s = bpf_ringbuf_reserve(&events, sizeof *s, 0);
    if (!s) {
        count_drop(TSB_C_TASKS);
        return 0;
    }
    __u64 n = depth;
    if (n > TSB_TASK_DEPTH)
        n = TSB_TASK_DEPTH;
    barrier_var(n); /* the verifier must see the clamped n in the read */
    s->h.ns = bpf_ktime_get_ns();
    s->h.tid = self_tid();
    s->h.kind = TSB_TASK_STACK;
    s->h.type = 0;
    s->task = id;
    s->flags = flags | (depth > TSB_TASK_DEPTH ? 1 /* truncated */ : 0);
    s->depth = (__u32)n;
    __u64 bytes = n * 8;
    if (bytes > sizeof s->pcs)
        bytes = sizeof s->pcs;
    if (bytes && bpf_probe_read_user(s->pcs, bytes, (const void *)pcs)) {
        bpf_ringbuf_discard(s, 0);
        return 0;
    }
    bpf_ringbuf_submit(s, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(dump_end, __u64 gen, __u64 loop) {
    struct tsb_event *e = ev_begin(TS_EV_dump_end, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = gen;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* ---- futures, resources, jobs ---------------------------------------------- */

SEC("usdt")
int BPF_USDT(future_create, __u64 f, __u64 site) {
    send_site(site, TSB_C_FUTURES);
    struct tsb_event *e = ev_begin(TS_EV_future_create, TSB_C_FUTURES);
    if (!e)
        return 0;
    e->a[0] = f;
    e->a[1] = site;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(future_done, __u64 f, __s32 err) {
    struct tsb_event *e = ev_begin(TS_EV_future_done, TSB_C_FUTURES);
    if (!e)
        return 0;
    e->a[0] = f;
    e->a[1] = (__u64)(__s64)err;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(resource_create, __u64 obj, __u32 kind, __u32 capacity) {
    struct tsb_event *e = ev_begin(TS_EV_resource_create, TSB_C_SYNC);
    if (!e)
        return 0;
    e->a[0] = obj;
    e->a[1] = kind;
    e->a[2] = capacity;
    long site;
    if (bpf_usdt_arg_cnt(ctx) > 3 && bpf_usdt_arg(ctx, 3, &site) == 0)
        e->a[3] = (__u64)site; /* its contents: see translate.c's fallback */
    bpf_ringbuf_submit(e, 0);
    return 0;
}

/* A resource or future got a name (issue 15): the name's text travels
 * with the event, as a task's does.  Names given before the collector
 * attached come with the state dump, for the resources a task waits on
 * (dump_resource). */
SEC("usdt")
int BPF_USDT(resource_name, __u64 obj, __u64 name) {
    struct tsb_event *e = ev_begin(TS_EV_resource_name, TSB_C_SYNC);
    if (!e)
        return 0;
    e->a[0] = obj;
    ev_str(e, 1, name);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(resource_free, __u64 obj) {
    struct tsb_event *e = ev_begin(TS_EV_resource_free, TSB_C_SYNC);
    if (!e)
        return 0;
    e->a[0] = obj;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

static __always_inline int resource_task(__u16 type, __u64 obj, __u64 task) {
    struct tsb_event *e = ev_begin(type, TSB_C_SYNC);
    if (!e)
        return 0;
    e->a[0] = obj;
    e->a[1] = task_id_at(task);
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(resource_acquired, __u64 obj, __u64 task) {
    return resource_task(TS_EV_resource_acquired, obj, task);
}

SEC("usdt")
int BPF_USDT(resource_release, __u64 obj, __u64 task) {
    return resource_task(TS_EV_resource_release, obj, task);
}

SEC("usdt")
int BPF_USDT(queue_depth, __u64 q, __u64 depth) {
    struct tsb_event *e = ev_begin(TS_EV_queue_depth, TSB_C_SYNC);
    if (!e)
        return 0;
    e->a[0] = q;
    e->a[1] = (__u32)depth;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(job_submit, __u64 job) {
    struct tsb_event *e = ev_begin(TS_EV_job_submit, TSB_C_JOBS);
    if (!e)
        return 0;
    e->a[0] = job;
    e->a[1] = current_task();
    bpf_ringbuf_submit(e, 0);
    return 0;
}

static __always_inline int job_on_worker(__u16 type, __u64 job) {
    struct tsb_event *e = ev_begin(type, TSB_C_JOBS);
    if (!e)
        return 0;
    e->a[0] = job;
    e->a[1] = self_tid();
    bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("usdt")
int BPF_USDT(job_start, __u64 job) { return job_on_worker(TS_EV_job_start, job); }

SEC("usdt")
int BPF_USDT(job_done, __u64 job) { return job_on_worker(TS_EV_job_done, job); }

#include "tsb_syscalls.bpf.h"
