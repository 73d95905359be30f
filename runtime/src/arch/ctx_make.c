/*
 * ctx_make.c - lay out a fresh coroutine stack so that the first
 * ts__ctx_switch into it "returns" into ts__ctx_entry, which calls
 * entry(arg).  The frame built here must match exactly what the switch in
 * switch_<arch>.S pops.
 */
#include <string.h>

#include "../coro.h"

void ts__ctx_entry(void);

#if defined(__x86_64__)

void ts__ctx_make(ts__ctx *ctx, const ts__stack *stack, void (*entry)(void *),
                  void *arg) {
    /* After the switch's final ret, rsp = top, which must be 16-byte
     * aligned so that ts__ctx_entry's call leaves entry with the ABI's
     * (rsp + 8) % 16 == 0. */
    uintptr_t top = ((uintptr_t)stack->base + stack->size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 8;
    /* MXCSR at offset 0, the x87 control word at offset 4: the defaults. */
    uint64_t fpctl = 0x1F80u | ((uint64_t)0x037Fu << 32);
    sp[0] = fpctl;
    sp[1] = 0;                     /* r15 */
    sp[2] = 0;                     /* r14 */
    sp[3] = (uint64_t)arg;         /* r13 */
    sp[4] = (uint64_t)entry;       /* r12 */
    sp[5] = 0;                     /* rbx */
    sp[6] = 0;                     /* rbp: terminates frame-pointer walks */
    sp[7] = (uint64_t)ts__ctx_entry;
    ctx->sp = sp;
}

#elif defined(__aarch64__)

void ts__ctx_make(ts__ctx *ctx, const ts__stack *stack, void (*entry)(void *),
                  void *arg) {
    uintptr_t top = ((uintptr_t)stack->base + stack->size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uint64_t)entry;       /* x19 */
    sp[1] = (uint64_t)arg;         /* x20 */
    sp[10] = 0;                    /* x29 */
    sp[11] = (uint64_t)ts__ctx_entry; /* x30 */
    ctx->sp = sp;
}

#else
#error "no assembly context switch for this CPU; configure with -Dcoro_backend=ucontext"
#endif
