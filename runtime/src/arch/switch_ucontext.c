/*
 * switch_ucontext.c - the portable context switch: POSIX ucontext.
 *
 * About a hundred times slower than the assembly switch (swapcontext saves
 * the signal mask with a system call), but it works on any CPU glibc
 * supports.  Selected with -Dcoro_backend=ucontext.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "../coro.h"

static void trampoline(unsigned hi, unsigned lo, unsigned ehi, unsigned elo) {
    void *arg = (void *)(((uintptr_t)hi << 32) | lo);
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)ehi << 32) | elo);
    entry(arg);
    abort(); /* entry functions never return */
}

void ts__ctx_make(ts__ctx *ctx, const ts__stack *stack, void (*entry)(void *),
                  void *arg) {
    uintptr_t a = (uintptr_t)arg, e = (uintptr_t)entry;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack->base;
    ctx->uc.uc_stack.ss_size = stack->size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 4, (unsigned)(a >> 32),
                (unsigned)a, (unsigned)(e >> 32), (unsigned)e);
}

/* swapcontext also installs the signal mask saved in the target context.
 * The mask belongs to the thread, not to a coroutine (the signals module
 * blocks the signals it reads through signalfd, for instance), so the
 * target is given the thread's current mask first: a switch must never
 * change it.  It costs one more system call on a path that already makes
 * one; the assembly switch has neither. */
void ts__ctx_switch(ts__ctx *from, ts__ctx *to) {
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    swapcontext(&from->uc, &to->uc);
}

void ts__ctx_jump(ts__ctx *to) {
    pthread_sigmask(SIG_SETMASK, NULL, &to->uc.uc_sigmask);
    setcontext(&to->uc);
    abort(); /* setcontext returns only on failure */
}

void ts__ctx_start(ts__ctx *from, const ts__stack *stack, void (*entry)(void *),
                   void *arg) {
    ts__ctx fresh;
    ts__ctx_make(&fresh, stack, entry, arg);
    ts__ctx_switch(from, &fresh);
}
