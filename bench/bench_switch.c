/*
 * bench_switch.c - what one context switch costs.
 *
 * Figures:
 *   switch       the bare ts__ctx_switch (runtime/src/coro.h): a coroutine
 *                and the main context switch to each other; ns per switch
 *                (one direction).  Anchor, measured here in the same
 *                process: glibc's swapcontext, which also saves the signal
 *                mask with a syscall.
 *   switch_loop  two tasks handing control to each other through the loop
 *                with ts_sleep(0); ns per task switch (task A suspends,
 *                task B resumes: two bare switches plus the scheduler).
 *
 * This program links the static runtime to reach coro.h; it never touches
 * the loop's private state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"
#include "coro.h"

/* ---- bare ts__ctx_switch ------------------------------------------------ */

static ts__ctx ctx_main, ctx_co;

/* Never returns: coro.h's contract.  After the measurement the coroutine is
 * simply left suspended and its stack freed. */
static void co_entry(void *arg)
{
    (void)arg;
    for (;;)
        ts__ctx_switch(&ctx_co, &ctx_main);
}

static double sample_ctx_switch(void *arg)
{
    long rounds = *(long *)arg / 2;
    ts__stack stack;
    int err = ts__stack_alloc(&stack, 64 * 1024);
    if (err)
        return err;
    ts__ctx_make(&ctx_co, &stack, co_entry, NULL);
    ts__ctx_switch(&ctx_main, &ctx_co);   /* start it: not timed */

    int64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++)
        ts__ctx_switch(&ctx_main, &ctx_co);
    int64_t t1 = bench_now_ns();

    ts__stack_free(&stack);
    return (double)(t1 - t0) / (double)(2 * rounds);
}

/* ---- ucontext anchor ------------------------------------------------------ */

static ucontext_t uc_main, uc_co;

static void uc_entry(void)
{
    for (;;)
        swapcontext(&uc_co, &uc_main);
}

static double sample_ucontext(void *arg)
{
    long rounds = *(long *)arg / 2;
    size_t size = 64 * 1024;
    void *stack = malloc(size);
    if (!stack)
        return -ENOMEM;
    getcontext(&uc_co);
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = size;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_entry, 0);
    swapcontext(&uc_main, &uc_co);

    int64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++)
        swapcontext(&uc_main, &uc_co);
    int64_t t1 = bench_now_ns();

    free(stack);
    return (double)(t1 - t0) / (double)(2 * rounds);
}

/* ---- two tasks through the loop ------------------------------------------ */

static void *yielder(void *arg)
{
    long n = *(long *)arg;
    for (long i = 0; i < n; i++) {
        int err = ts_sleep(0);
        if (err)
            return ts_fail(err, "ts_sleep(0)");
    }
    return NULL;
}

static double sample_loop_switch(void *arg)
{
    long per_task = *(long *)arg / 2;
    ts_task *a = ts_spawn(yielder, &per_task);
    ts_task *b = ts_spawn(yielder, &per_task);
    if (!a || !b)
        return -ENOMEM;

    int64_t t0 = bench_now_ns();
    int ea = ts_await(a, NULL);
    int eb = ts_await(b, NULL);
    int64_t t1 = bench_now_ns();
    if (ea || eb)
        return ea ? ea : eb;
    return (double)(t1 - t0) / (double)(2 * per_task);
}

static void *loop_main(void *arg)
{
    const bench_opts *o = arg;
    long n = bench_pick(o, 1000000, 5000000);
    bench_repeat(o, "switch_loop", "taskscope", "ns/switch", 0,
                 sample_loop_switch, &n);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;

    long n = bench_pick(&o, 20000000, 100000000);
    bench_repeat(&o, "switch", "taskscope", "ns/switch", 0, sample_ctx_switch,
                 &n);
    long n_uc = bench_pick(&o, 200000, 1000000);
    bench_repeat(&o, "switch", "ucontext", "ns/switch", 0, sample_ucontext,
                 &n_uc);

    return bench_run(loop_main, &o, "bench_switch");
}
