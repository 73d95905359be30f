/*
 * tsb_syscalls.bpf.h - the BPF programs of the `syscalls` class: for loop
 * threads of the target, the time spent in each system call other than
 * the loop's own poll (sys_enter/sys_exit), how long of it switched out
 * and in which state (sched_switch), and, for a call of at least the
 * block threshold, a record with the user registers, the kernel's
 * frame-pointer stack and a copy of the raw user stack.
 *
 * These tracepoints fire for every thread of the machine: each program
 * returns after one comparison for any other process.  Part of the one
 * BPF object taskscope.bpf.c builds; split out for reading.
 */
#ifndef TS_BPF_TSB_SYSCALLS_BPF_H
#define TS_BPF_TSB_SYSCALLS_BPF_H

#include "tsb_common.bpf.h"

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

/* The user stack from sp up, as much as can be read (up to the end of
 * its mapping, which a read past it would fail on). */
static __always_inline void copy_stack(struct tsb_block *b, __u64 sp) {
    b->copy_bytes = 0;
    if (bpf_probe_read_user(b->copy, TSB_STACK_COPY, (const void *)sp) == 0) {
        b->copy_bytes = TSB_STACK_COPY;
        return;
    }
    if (bpf_probe_read_user(b->copy, TSB_STACK_COPY / 2, (const void *)sp) == 0) {
        b->copy_bytes = TSB_STACK_COPY / 2;
        return;
    }
    __u32 n = 4096 - (sp & 4095);
    if (n && n <= TSB_STACK_COPY / 2 &&
        bpf_probe_read_user(b->copy, n & (TSB_STACK_COPY - 1), (const void *)sp) == 0)
        b->copy_bytes = n;
}

static __always_inline void user_regs(struct tsb_block *b, struct pt_regs *regs) {
    __builtin_memset(b->regs, 0, sizeof b->regs);
#if defined(__TARGET_ARCH_x86)
    b->regs[TSB_R_IP] = BPF_CORE_READ(regs, ip);
    b->regs[TSB_R_SP] = BPF_CORE_READ(regs, sp);
    b->regs[TSB_R_BP] = BPF_CORE_READ(regs, bp);
    b->regs[TSB_R_BX] = BPF_CORE_READ(regs, bx);
    b->regs[TSB_R_R12] = BPF_CORE_READ(regs, r12);
    b->regs[TSB_R_R13] = BPF_CORE_READ(regs, r13);
    b->regs[TSB_R_R14] = BPF_CORE_READ(regs, r14);
    b->regs[TSB_R_R15] = BPF_CORE_READ(regs, r15);
#else
    b->regs[TSB_R_IP] = PT_REGS_IP_CORE(regs);
    b->regs[TSB_R_SP] = PT_REGS_SP_CORE(regs);
    b->regs[TSB_R_BP] = PT_REGS_FP_CORE(regs);
#endif
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
    user_regs(b, regs);
    copy_stack(b, b->regs[TSB_R_SP]);
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

#endif
