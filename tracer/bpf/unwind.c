/*
 * unwind.c - see unwind.h.
 *
 * Invariants: nothing is read outside the copied stack bytes (a read the
 * copy does not cover fails, and the unwind stops there); a fresh Dwfl
 * per unwind, since a Dwfl takes one thread-state attachment in its
 * life; at most `max` frames, and the walk stops at a pc outside every
 * module or a frame that does not move up the stack.
 */
#include <stdbool.h>
#include <string.h>

#include "../safe_open.h"
#include "unwind.h"

#if defined(TS_HAVE_LIBDW) && defined(__x86_64__)
#include <elfutils/libdwfl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

struct unwind {
    const struct tsb_block *b;
    uint64_t *pcs;
    size_t n, max;
    int done;
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_arg) {
    (void)dwfl;
    struct unwind *u = arg;
    *thread_arg = u;
    if (u->done)
        return 0;
    u->done = 1;
    return (pid_t)u->b->h.tid;
}

/* One word of the copied stack. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
    (void)dwfl;
    struct unwind *u = arg;
    uint64_t sp = u->b->regs[TSB_R_SP];
    uint32_t len = u->b->copy_bytes < TSB_STACK_COPY ? u->b->copy_bytes : TSB_STACK_COPY;
    if (addr < sp || addr - sp > (uint64_t)len || addr - sp + 8 > len)
        return false;
    memcpy(result, u->b->copy + (addr - sp), 8);
    return true;
}

/* x86-64 DWARF numbering: rbx 3, rbp 6, rsp 7, r12-r15 12-15. */
static bool set_initial_registers(Dwfl_Thread *thread, void *arg) {
    struct unwind *u = arg;
    const __u64 *r = u->b->regs;
    Dwarf_Word bx = r[TSB_R_BX], bp_sp[2] = {r[TSB_R_BP], r[TSB_R_SP]};
    Dwarf_Word high[4] = {r[TSB_R_R12], r[TSB_R_R13], r[TSB_R_R14], r[TSB_R_R15]};
    if (!dwfl_thread_state_registers(thread, 3, 1, &bx) ||
        !dwfl_thread_state_registers(thread, 6, 2, bp_sp) ||
        !dwfl_thread_state_registers(thread, 12, 4, high))
        return false;
    dwfl_thread_state_register_pc(thread, r[TSB_R_IP]);
    return true;
}

static int on_frame(Dwfl_Frame *frame, void *arg) {
    struct unwind *u = arg;
    Dwarf_Addr pc;
    if (!dwfl_frame_pc(frame, &pc, NULL) || !pc || u->n == u->max)
        return DWARF_CB_ABORT;
    u->pcs[u->n++] = pc;
    return DWARF_CB_OK;
}

static void report_modules(Dwfl *dwfl, const tsb_maps *maps, int pid) {
    dwfl_report_begin(dwfl);
    for (size_t i = 0; i < maps->n; i++) {
        const tsb_module *m = &maps->v[i];
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "/proc/%d/root%s", pid, m->path) >= (int)sizeof path ||
            access(path, R_OK) != 0)
            snprintf(path, sizeof path, "%s", m->path);
        int fd = ts_open_regular(path); /* a renamed-over FIFO cannot hang us */
        if (fd >= 0 &&
            !dwfl_report_elf(dwfl, m->path, path, fd, (GElf_Addr)(m->start - m->offset), false))
            close(fd);
    }
    dwfl_report_end(dwfl, NULL, NULL);
}

size_t tsb_unwind(const tsb_maps *maps, int pid, const struct tsb_block *b, uint64_t *pcs,
                  size_t max) {
    static const Dwfl_Callbacks cb = {
        .find_elf = dwfl_build_id_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
    };
    static const Dwfl_Thread_Callbacks tcb = {
        .next_thread = next_thread,
        .memory_read = memory_read,
        .set_initial_registers = set_initial_registers,
    };
    if (!maps->n || !b->copy_bytes || !b->regs[TSB_R_IP])
        return 0;
    Dwfl *dwfl = dwfl_begin(&cb);
    if (!dwfl)
        return 0;
    report_modules(dwfl, maps, pid);
    struct unwind u = {b, pcs, 0, max, 0};
    if (dwfl_attach_state(dwfl, NULL, (pid_t)pid, &tcb, &u))
        dwfl_getthread_frames(dwfl, (pid_t)b->h.tid, on_frame, &u);
    dwfl_end(dwfl);
    return u.n;
}

#else

size_t tsb_unwind(const tsb_maps *maps, int pid, const struct tsb_block *b, uint64_t *pcs,
                  size_t max) {
    (void)maps, (void)pid, (void)b, (void)pcs, (void)max;
    return 0;
}

#endif
