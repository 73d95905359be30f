/*
 * overflow.c - turning a task's stack overflow into a clear message.
 *
 * Each loop thread gets an alternate signal stack, so a SIGSEGV raised by
 * running off the end of a task's stack can still be handled.  The handler
 * checks whether the fault hit the running task's guard page (or the
 * interrupted stack pointer is below its stack): if so it writes one line
 * naming the task, then restores the default action and returns, so the
 * faulting instruction re-executes and the process dies of SIGSEGV with a
 * core dump as usual.  Any other fault goes to the handler that was
 * installed before ours.  Only async-signal-safe calls are made: the
 * message is assembled by hand and written with write(2).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "fiber.h"
#include "loop_impl.h"

#ifndef TS_ASAN /* ASan catches overflows itself, with its own handler */
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

struct msgbuf {
    char buf[512];
    size_t len;
};

static void put(struct msgbuf *m, const char *s) {
    while (s && *s && m->len < sizeof m->buf - 1)
        m->buf[m->len++] = *s++;
}

static void put_num(struct msgbuf *m, unsigned long long v) {
    char tmp[24];
    int i = 0;
    do
        tmp[i++] = (char)('0' + v % 10);
    while ((v /= 10) && i < 23);
    while (i > 0 && m->len < sizeof m->buf - 1)
        m->buf[m->len++] = tmp[--i];
}

static uintptr_t interrupted_sp(void *uctx) {
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uctx)->uc_mcontext.sp;
#else
    (void)uctx;
    return 0;
#endif
}

static void on_segv(int sig, siginfo_t *si, void *uctx) {
    ts_task *t = ts__tls_task;
    if (t && t->stack.base) {
        uintptr_t lo = (uintptr_t)t->stack.base;
        uintptr_t addr = (uintptr_t)si->si_addr, sp = interrupted_sp(uctx);
        bool in_guard = addr >= lo - ts__guard_size() && addr < lo;
        bool sp_below = sp && sp < lo + 256 && sp + (64u << 20) > lo;
        if (in_guard || sp_below) {
            struct msgbuf m = {.len = 0};
            put(&m, "taskscope: stack overflow in task '");
            put(&m, t->name);
            put(&m, "' #");
            put_num(&m, t->id);
            if (t->spawn_site && t->spawn_site->file) {
                put(&m, " spawned at ");
                put(&m, t->spawn_site->file);
                put(&m, ":");
                put_num(&m, (unsigned long long)t->spawn_site->line);
            }
            put(&m, " (stack size ");
            put_num(&m, t->stack.size);
            put(&m, " bytes; raise it with ts_spawn_opts.stack_size or "
                    "TASKSCOPE_STACK_SIZE)\n");
            ssize_t r = write(2, m.buf, m.len);
            (void)r;
            signal(SIGSEGV, SIG_DFL);
            return;
        }
    }
    /* Not ours: hand over to whoever was there before. */
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) {
            previous.sa_sigaction(sig, si, uctx);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    signal(SIGSEGV, SIG_DFL);
}

static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
}

#endif

void ts__overflow_thread_init(ts_loop *l) {
#ifndef TS_ASAN
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) {
        pthread_once(&install_once, install); /* the thread has one already */
        return;
    }
    size_t size = 64 * 1024;
    void *mem = malloc(size);
    if (!mem)
        return;
    stack_t ss = {.ss_sp = mem, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        free(mem);
        return;
    }
    l->altstack = mem;
    pthread_once(&install_once, install);
#else
    (void)l;
#endif
}

void ts__overflow_thread_fini(ts_loop *l) {
    if (!l->altstack)
        return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(l->altstack);
    l->altstack = NULL;
}
