/*
 * parkwalk.c - see parkwalk.h.
 *
 * A parked task's registers are on its own stack: the context switch
 * (arch/switch_*.S) pushed the callee-saved ones, frame pointer and return
 * address included, and saved the stack pointer in t->ctx.  Every file is
 * built with frame pointers, so from that saved frame pointer a chain of
 * (previous frame pointer, return address) pairs leads up to
 * ts__ctx_entry, whose frame pointer is 0.
 *
 * The walk runs on the loop's own thread between steps (a state dump), so
 * no task of this loop is running and every parked stack is quiet; still
 * it trusts nothing it reads: every frame pointer must lie inside the
 * task's own stack, be 8-aligned, and grow strictly (stacks grow down,
 * callers are above), so the walk ends in at most size/16 steps and never
 * reads outside [base, base + size).  Frames of code built without frame
 * pointers are skipped silently (their caller's chain goes on); a chain
 * that leaves the stack ends the walk, flagged.
 */
#include "parkwalk.h"

/* The saved stack pointer, frame pointer and return address of a parked
 * context (the frame SAVE_FRAME / the AArch64 switch leave; ctx_make.c
 * builds the same).  false if this build cannot say. */
__attribute__((no_sanitize_address)) static bool parked_regs(const ts_task *t, uint64_t *sp,
                                                             uint64_t *fp, uint64_t *pc) {
#if defined(TS_CORO_UCONTEXT) || !(defined(__x86_64__) || defined(__aarch64__))
    (void)t, (void)sp, (void)fp, (void)pc;
    return false;
#else
    uint64_t lo = (uint64_t)(uintptr_t)t->stack.base, hi = lo + t->stack.size;
    uint64_t s = (uint64_t)(uintptr_t)t->ctx.sp;
#if defined(__x86_64__)
    enum { FP_AT = 6, PC_AT = 7 };
#else
    enum { FP_AT = 10, PC_AT = 11 };
#endif
    if (s < lo || s > hi - (PC_AT + 1) * 8 || (s & 7))
        return false;
    const uint64_t *frame = (const uint64_t *)(uintptr_t)s;
    *sp = s, *fp = frame[FP_AT], *pc = frame[PC_AT];
    return true;
#endif
}

bool ts__park_walkable(const ts_task *t) {
    return t->started && t->state < TS_TASK_DONE && t != ts__current() && t->stack.base;
}

/* Not instrumented by ASan: the words read are saved registers on a
 * parked stack, which its shadow may describe as the redzones of frames
 * that are not running. */
__attribute__((no_sanitize_address)) int ts__park_walk(const ts_task *t, uint64_t *pcs, int max,
                                                       uint32_t *flags) {
    uint64_t hi = (uint64_t)(uintptr_t)t->stack.base + t->stack.size;
    uint64_t sp, fp, pc;
    *flags = 0;
    if (max < 1 || !parked_regs(t, &sp, &fp, &pc)) {
        *flags = TS_PARKWALK_NO_WALK;
        return 0;
    }
    int n = 0;
    pcs[n++] = pc;
    uint64_t floor = sp; /* a frame pointer must lie above everything seen */
    while (fp) {
        if (fp < floor || fp > hi - 16 || (fp & 7)) {
            *flags |= TS_PARKWALK_BAD_FP;
            break;
        }
        const uint64_t *frame = (const uint64_t *)(uintptr_t)fp;
        uint64_t next = frame[0], ret = frame[1];
        if (!ret)
            break;
        if (n == max) {
            *flags |= TS_PARKWALK_TRUNCATED;
            break;
        }
        pcs[n++] = ret;
        floor = fp + 16;
        fp = next;
    }
    return n;
}
