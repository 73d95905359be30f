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
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "tsb_abi.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* The schema's event ids (TS_EV_*), from the one definition. */
enum {
#define TS_EVENT(name, id, doc, fields) TS_EV_##name = id,
#define TS_FIELD(type, name, doc)
#define TS_TAIL(type, name, doc)
#include "events.def"
#undef TS_EVENT
#undef TS_FIELD
#undef TS_TAIL
};

/* Set by the collector before load. */
const volatile __u32 target_tgid = 0;
const volatile __u32 task_id_off = 0;   /* offsetof(struct ts_task, id) */
const volatile __u32 emit_mask = 0;     /* 1 << TSB_C_* */
const volatile __u64 block_ns = 1000000;
const volatile __u64 slow_ns = 100000000;
const volatile __s64 poll_nr[4] = {-1, -1, -1, -1}; /* the loop's own waits */

struct thr {
    __u64 task;         /* running task, 0 between steps */
    __u64 resume_ns;
    __u64 loop;
    __u64 enter_ns;     /* of the current system call */
    __u64 off_ns;       /* switched out during it so far */
    __u64 out_ns;       /* when it last switched out, 0 if on CPU */
    __s64 nr;
    __u32 in_sys;
    __u32 state;
    __u32 is_loop;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 << 20); /* resized by the collector */
} events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 4096);
    __type(key, __u32);
    __type(value, struct thr);
} threads SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, __u64);
} task_loop SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 16384);
    __type(key, __u64);
    __type(value, __u8);
} sites_sent SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TSB_C_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

#define EMITS(cls) (emit_mask & (1u << (cls)))

static __always_inline __u32 self_tid(void) { return (__u32)bpf_get_current_pid_tgid(); }

static __always_inline void count_drop(__u32 cls) {
    __u64 *n = bpf_map_lookup_elem(&drops, &cls);
    if (n)
        (*n)++;
}

static __always_inline struct thr *thr_of(__u32 tid) { return bpf_map_lookup_elem(&threads, &tid); }

static __always_inline struct thr *thr_make(__u32 tid) {
    struct thr *t = thr_of(tid);
    if (t)
        return t;
    struct thr z = {};
    bpf_map_update_elem(&threads, &tid, &z, BPF_NOEXIST);
    return thr_of(tid);
}

static __always_inline __u64 current_task(void) {
    struct thr *t = thr_of(self_tid());
    return t ? t->task : 0;
}

/* The id stored in a struct ts_task the program handed us a pointer to. */
static __always_inline __u64 task_id_at(__u64 ptr) {
    __u64 id = 0;
    if (ptr)
        bpf_probe_read_user(&id, sizeof id, (const void *)(ptr + task_id_off));
    return id;
}

/* A record for an event of class cls, or NULL: the class is not traced
 * (its probe may be attached for another class's bookkeeping), or the
 * ring is full (counted). */
static __always_inline struct tsb_event *ev_begin(__u16 type, __u32 cls) {
    if (!EMITS(cls))
        return NULL;
    struct tsb_event *e = bpf_ringbuf_reserve(&events, sizeof *e, 0);
    if (!e) {
        count_drop(cls);
        return NULL;
    }
    e->h.ns = bpf_ktime_get_ns();
    e->h.tid = self_tid();
    e->h.kind = TSB_EVENT;
    e->h.type = type;
    __builtin_memset(e->a, 0, sizeof e->a);
    e->has_str = 0;
    e->pad = 0;
    return e;
}

static __always_inline void ev_str(struct tsb_event *e, __u64 uptr) {
    if (uptr && bpf_probe_read_user_str(e->str, sizeof e->str, (const void *)uptr) > 0)
        e->has_str = 1;
}

/* Send a site's contents the first time its address is seen.  Marked
 * sent only after the record is in the ring, so no event naming the site
 * can be ahead of it; two threads racing both send it (harmless). */
static __always_inline void send_site(__u64 addr, __u32 cls) {
    if (!addr || bpf_map_lookup_elem(&sites_sent, &addr))
        return;
    struct tsb_site *s = bpf_ringbuf_reserve(&events, sizeof *s, 0);
    if (!s) {
        count_drop(cls);
        return;
    }
    struct { __u64 file, func; __s32 line, pad; } raw = {};
    bpf_probe_read_user(&raw, sizeof raw, (const void *)addr);
    s->h.ns = bpf_ktime_get_ns();
    s->h.tid = self_tid();
    s->h.kind = TSB_SITE;
    s->h.type = 0;
    s->addr = addr;
    s->line = raw.line > 0 ? (__u32)raw.line : 0;
    s->pad = 0;
    if (!raw.file || bpf_probe_read_user_str(s->file, sizeof s->file, (const void *)raw.file) < 0)
        s->file[0] = 0;
    if (!raw.func || bpf_probe_read_user_str(s->func, sizeof s->func, (const void *)raw.func) < 0)
        s->func[0] = 0;
    bpf_ringbuf_submit(s, 0);
    __u8 one = 1;
    bpf_map_update_elem(&sites_sent, &addr, &one, BPF_ANY);
}

/* The step of task id on this thread ends: forget it as running and
 * report the step if it was slow. */
static __always_inline void step_end(__u64 id) {
    struct thr *t = thr_of(self_tid());
    if (!t || t->task != id)
        return;
    __u64 now = bpf_ktime_get_ns(), dur = t->resume_ns ? now - t->resume_ns : 0;
    __u64 loop = t->loop;
    t->task = 0;
    t->resume_ns = 0;
    if (!EMITS(TSB_C_TASKS) || dur < slow_ns)
        return;
    struct tsb_event *e = ev_begin(TS_EV_slow_step, TSB_C_TASKS);
    if (!e)
        return;
    e->a[0] = loop;
    e->a[1] = id;
    e->a[2] = dur;
    bpf_ringbuf_submit(e, 0);
}

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
    ev_str(e, name);
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

/* Later runtimes may pass the message as a third argument. */
SEC("usdt")
int BPF_USDT(task_cancel, __u64 id, __s32 requests) {
    struct tsb_event *e = ev_begin(TS_EV_task_cancel, TSB_C_TASKS);
    if (!e)
        return 0;
    e->a[0] = id;
    e->a[1] = current_task();
    e->a[2] = (__u32)requests;
    long msg;
    if (bpf_usdt_arg_cnt(ctx) > 2 && bpf_usdt_arg(ctx, 2, &msg) == 0)
        ev_str(e, (__u64)msg);
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
                ev_str(e, (__u64)msg);
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
        ev_str(e, (__u64)v);
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

/* ---- blocking system calls of loop threads ------------------------------------ */

static __always_inline struct thr *loop_thread(void) {
    __u64 pt = bpf_get_current_pid_tgid();
    if ((__u32)(pt >> 32) != target_tgid)
        return NULL;
    struct thr *t = thr_of((__u32)pt);
    return t && t->is_loop ? t : NULL;
}

static __always_inline int is_loop_poll(long nr) {
    return nr == poll_nr[0] || nr == poll_nr[1] || nr == poll_nr[2] || nr == poll_nr[3];
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr) {
    struct thr *t = loop_thread();
    if (!t)
        return 0;
    if (is_loop_poll(nr)) {
        t->in_sys = 0;
        return 0;
    }
    t->in_sys = 1;
    t->nr = nr;
    t->enter_ns = bpf_ktime_get_ns();
    t->off_ns = 0;
    t->out_ns = 0;
    t->state = 'R';
    return 0;
}

/* The user stack pointer's first words, as many as can be read. */
static __always_inline void read_window(struct tsb_block *b, __u64 sp) {
    b->window_words = 0;
    if (bpf_probe_read_user(b->window, sizeof b->window, (const void *)sp) == 0) {
        b->window_words = TSB_WINDOW;
        return;
    }
    /* Near the top of its stack mapping: read up to the page's end. */
    __u32 n = (4096 - (sp & 4095)) / 8;
    if (n > TSB_WINDOW)
        n = TSB_WINDOW;
    if (n && bpf_probe_read_user(b->window, (n * 8) & (sizeof b->window - 1), (const void *)sp) == 0)
        b->window_words = n;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret) {
    struct thr *t = loop_thread();
    if (!t || !t->in_sys)
        return 0;
    t->in_sys = 0;
    __u64 now = bpf_ktime_get_ns(), dur = now - t->enter_ns;
    if (dur < block_ns)
        return 0;
    struct tsb_block *b = bpf_ringbuf_reserve(&events, sizeof *b, 0);
    if (!b) {
        count_drop(TSB_C_SYSCALLS);
        return 0;
    }
    b->h.ns = now;
    b->h.tid = self_tid();
    b->h.kind = TSB_BLOCK;
    b->h.type = 0;
    b->loop = t->loop;
    b->task = t->task;
    b->nr = t->nr;
    b->duration_ns = dur;
    b->offcpu_ns = t->off_ns;
    b->state = t->state;
    b->pad = 0;
    __u64 sp = BPF_CORE_READ(regs, sp);
    b->sp = sp;
    read_window(b, sp);
    b->stack_bytes = (__s32)bpf_get_stack(ctx, b->stack, sizeof b->stack, BPF_F_USER_STACK);
    bpf_ringbuf_submit(b, 0);
    return 0;
}

struct task_struct___old {
    long state;
} __attribute__((preserve_access_index));

static __always_inline char sleep_state(struct task_struct *p) {
    long s;
    if (bpf_core_field_exists(p->__state))
        s = BPF_CORE_READ(p, __state);
    else
        s = BPF_CORE_READ((struct task_struct___old *)p, state);
    return s & 2 ? 'D' : s & 1 ? 'S' : 'R';
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next) {
    __u64 now = 0;
    if ((__u32)BPF_CORE_READ(prev, tgid) == target_tgid) {
        __u32 tid = (__u32)BPF_CORE_READ(prev, pid);
        struct thr *t = thr_of(tid);
        if (t && t->in_sys) {
            now = bpf_ktime_get_ns();
            t->out_ns = now;
            char s = sleep_state(prev);
            if (t->state == 'R' || s == 'D') /* the deepest sleep seen wins */
                t->state = s;
        }
    }
    if ((__u32)BPF_CORE_READ(next, tgid) == target_tgid) {
        __u32 tid = (__u32)BPF_CORE_READ(next, pid);
        struct thr *t = thr_of(tid);
        if (t && t->in_sys && t->out_ns) {
            if (!now)
                now = bpf_ktime_get_ns();
            t->off_ns += now - t->out_ns;
            t->out_ns = 0;
        }
    }
    return 0;
}

/* A thread of the target exits: its id may be reused by a thread that
 * runs no loop. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(thread_exit, struct task_struct *p) {
    __u64 pt = bpf_get_current_pid_tgid();
    if ((__u32)(pt >> 32) != target_tgid)
        return 0;
    __u32 tid = (__u32)pt;
    bpf_map_delete_elem(&threads, &tid);
    return 0;
}
