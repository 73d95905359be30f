/*
 * taskstack.c - the call stack of a parked task, for the state dump
 * (`taskscope where`, `ps --stacks`).
 *
 * A parked task's registers are on its own stack: the context switch
 * (arch/switch_*.S) pushed the callee-saved ones, frame pointer and return
 * address included, and saved the stack pointer in t->ctx.  Every file is
 * built with frame pointers, so from that saved frame pointer a chain of
 * (previous frame pointer, return address) pairs leads up to
 * ts__ctx_entry, whose frame pointer is 0.
 *
 * The walk runs on the loop's own thread between steps (the dump), so no
 * task of this loop is running and every parked stack is quiet; still it
 * trusts nothing it reads: every frame pointer must lie inside the task's
 * own stack, be 8-aligned, and grow strictly (stacks grow down, callers
 * are above), so the walk ends in at most size/16 steps and never reads
 * outside [base, base + size).  Frames of code built without frame
 * pointers are skipped silently (their caller's chain goes on); a chain
 * that leaves the stack ends the walk, flagged.
 */
#include <stdio.h>
#include <string.h>

#include "trace.h"

/* Deepest stack a dump records, and how many tasks' stacks one dump
 * holds: about 300 bytes each, so at most ~300 KiB of a dump, a third of
 * the default ring.  A task past the limit is listed without a stack. */
#define STACK_DEPTH_MAX 32
#define STACKS_PER_DUMP 1024

enum { FLAG_TRUNCATED = 1, FLAG_BAD_FP = 2, FLAG_NO_WALK = 4 };

/* The saved stack pointer, frame pointer and return address of a parked
 * context (the frame SAVE_FRAME / the AArch64 switch leave; ctx_make.c
 * builds the same).  false if this build cannot say. */
__attribute__((no_sanitize_address)) static bool parked_regs(const ts_task *t, uint64_t *sp, uint64_t *fp, uint64_t *pc) {
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

/* Walk t's frames into pcs (at most max); the flags into *flags.  Not
 * instrumented by ASan: the words read are saved registers on a parked
 * stack, which its shadow may describe as the redzones of frames that
 * are not running. */
__attribute__((no_sanitize_address)) static int walk(const ts_task *t, uint64_t *pcs, int max, uint32_t *flags) {
    uint64_t lo = (uint64_t)(uintptr_t)t->stack.base, hi = lo + t->stack.size;
    uint64_t sp, fp, pc;
    *flags = 0;
    if (!parked_regs(t, &sp, &fp, &pc)) {
        *flags = FLAG_NO_WALK;
        return 0;
    }
    int n = 0;
    pcs[n++] = pc;
    uint64_t floor = sp; /* a frame pointer must lie above everything seen */
    while (fp) {
        if (fp < floor || fp > hi - 16 || (fp & 7)) {
            *flags |= FLAG_BAD_FP;
            break;
        }
        const uint64_t *frame = (const uint64_t *)(uintptr_t)fp;
        uint64_t next = frame[0], ret = frame[1];
        if (!ret)
            break;
        if (n == max) {
            *flags |= FLAG_TRUNCATED;
            break;
        }
        pcs[n++] = ret;
        floor = fp + 16;
        fp = next;
    }
    return n;
}

/* Has this task a parked context to walk?  A task that never started has
 * none yet; a running one (never the case in a dump, which runs between
 * steps) has its registers in the CPU. */
static bool parked(const ts_task *t) {
    return t->started && t->state < TS_TASK_DONE && t != ts__current() && t->stack.base;
}

void ts__tr_dump_task_stack(ts__ring *r, ts_task *t, unsigned *budget) {
    if (!parked(t) || !*budget)
        return;
    (*budget)--;
    uint64_t pcs[STACK_DEPTH_MAX];
    uint32_t flags;
    int n = walk(t, pcs, STACK_DEPTH_MAX, &flags);
    uint32_t size = (uint32_t)(sizeof(ts_ev_task_stack) + (size_t)n * 8);
    ts_ev_task_stack *e = ts__ring_reserve(r, TS_EV_task_stack, size);
    if (!e)
        return;
    e->task = t->id;
    e->flags = flags;
    e->depth = (uint32_t)n;
    memcpy(e + 1, pcs, (size_t)n * 8);
    ts__ring_commit(r, size);
}

unsigned ts__tr_dump_stack_budget(void) { return STACKS_PER_DUMP; }

/* The executable file mappings, so a reader can symbolize the stacks of
 * this dump (the watchdog sends its own with a blocked stack).  Read
 * line by line from /proc/self/maps; at most MODULES_MAX. */
#define MODULES_MAX 256

void ts__tr_dump_modules(ts__ring *r) {
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < MODULES_MAX) {
        unsigned long long lo, hi, off;
        char perms[8], path[256] = "";
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &lo, &hi, perms, &off,
                   path) < 4 ||
            perms[2] != 'x' || path[0] != '/')
            continue;
        uint32_t pid = ts__intern_dynamic(r, path);
        ts_ev_module *e = ts__ring_reserve(r, TS_EV_module, sizeof *e);
        if (!e)
            continue;
        e->start = lo;
        e->end = hi;
        e->offset = off;
        e->path = pid;
        ts__ring_commit(r, sizeof *e);
        n++;
    }
    fclose(f);
}
