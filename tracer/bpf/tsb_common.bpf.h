/*
 * tsb_common.bpf.h - what the BPF programs of taskscope.bpf.c share: the
 * maps, the knobs the collector sets before loading, and the helpers
 * that fill raw records.  Part of the one BPF object taskscope.bpf.c
 * builds (a BPF object's maps must be defined in its one translation
 * unit); split out for reading.  See taskscope.bpf.c for the invariants.
 */
#ifndef TS_BPF_TSB_COMMON_BPF_H
#define TS_BPF_TSB_COMMON_BPF_H

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "tsb_abi.h"

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

/* The string field a[i] at user address uptr. */
static __always_inline void ev_str(struct tsb_event *e, int i, __u64 uptr) {
    if (i >= 0 && i < TSB_EVENT_FIELDS)
        e->a[i] = uptr;
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
    s->file_addr = raw.file;
    s->func_addr = raw.func;
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

#endif
