/*
 * coro.h - the context switch and coroutine stacks.
 *
 * A coroutine is a saved stack pointer plus the stack it points into.  The
 * loop's own thread stack is the "main" context; every switch goes loop ->
 * task or task -> loop (asymmetric coroutines), so a task never needs to
 * know about another task's stack.
 *
 * The switch saves only what the ABI says a call preserves: the
 * callee-saved registers, plus the x87 control word and MXCSR on x86-64
 * (d8-d15 on AArch64).  Everything else is dead across a call anyway.
 */
#ifndef TS_CORO_H
#define TS_CORO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(TS_CORO_UCONTEXT)
#include <ucontext.h>
typedef struct ts__ctx {
    ucontext_t uc;
} ts__ctx;
#else
typedef struct ts__ctx {
    void *sp;
} ts__ctx;
#endif

/* A coroutine stack: [base, base + size) is usable; the guard
 * (ts__guard_size() bytes) lies just below base. */
typedef struct ts__stack {
    char *base;
    size_t size;          /* usable bytes */
    struct ts__slab *slab; /* the mapping it is a slot of (stack.c), or NULL:
                           * a mapping of its own */
    unsigned valgrind_id; /* from VALGRIND_STACK_REGISTER */
    bool guarded;         /* the guard below base is installed (it could
                           * not be when map slots ran out) */
} ts__stack;

/* Prepare ctx so that switching to it calls entry(arg) on stack.  entry
 * must never return; it switches away for the last time instead. */
void ts__ctx_make(ts__ctx *ctx, const ts__stack *stack, void (*entry)(void *),
                  void *arg);

/* Save the current context in from and resume to. */
void ts__ctx_switch(ts__ctx *from, ts__ctx *to);

/* Save the current context in from and start entry(arg) on stack: what
 * ts__ctx_make and a switch do, without building the frame first.  The
 * new context inherits the current floating-point control state. */
void ts__ctx_start(ts__ctx *from, const ts__stack *stack, void (*entry)(void *),
                   void *arg);

/* Resume to without saving the current context, which must never be
 * resumed again (a finished task's last switch). */
void ts__ctx_jump(ts__ctx *to) __attribute__((noreturn));

/* Stacks: allocate (lazily committed, guarded) and free.  Return 0 or
 * -ENOMEM. */
int ts__stack_alloc(ts__stack *s, size_t size);
void ts__stack_free(ts__stack *s);
/* The system page size, cached. */
size_t ts__page_size(void);
/* Bytes of guard below each stack (at least a page, 64 KiB by default). */
#define TS_GUARD_BYTES (64u * 1024u)
size_t ts__guard_size(void);
/* Round a requested stack size to what ts__stack_alloc will use. */
size_t ts__stack_round(size_t size);

#endif
