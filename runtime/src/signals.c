/*
 * signals.c - Unix signals delivered to tasks through a signalfd.
 *
 * Per loop (found through a thread-local pointer, since a thread runs one
 * loop at a time) there is one context: a signalfd whose mask is the set of
 * signals the loop handles, the list of handlers, and a dispatcher task
 * that waits on the signalfd and starts one handler task per delivery.
 *
 * Invariants:
 *   - a signal is in ctx->watched iff some handler of the context watches
 *     it and the dispatcher still runs; while watched it is blocked in the
 *     loop thread and owned by this loop in the process-wide registry;
 *   - a signal we unblock was unblocked before we blocked it
 *     (ctx->blocked_by_us), and its pending deliveries are consumed first,
 *     so stopping never turns a handled signal into a default action;
 *   - the context lives while a handler or the running dispatcher refers to
 *     it (ctx->refs); ctx->dispatcher is the task, valid until it ends
 *     (a detached task is kept by its loop until it finishes), NULL after.
 *     The cleanup runs from a watch on the dispatcher, so it happens even
 *     when the dispatcher is cancelled before it first runs;
 *   - the dispatcher stops when a cancel request remains for it: the one
 *     ts_signal_handler_remove makes for the last handler (taken back if a
 *     handler is added before it stopped), or one from outside.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "internal.h"

typedef struct sig_ctx {
    uint64_t loop_id;
    int sfd;
    sigset_t watched;
    sigset_t blocked_by_us;
    ts__node handlers;
    ts_task *dispatcher;
    ts__done_watch watch;  /* on the dispatcher: cleans up when it ends */
    bool we_cancelled;     /* our request to stop is pending */
    int refs;
} sig_ctx;

struct ts_signal_handler {
    ts__node node;
    sig_ctx *ctx;
    int signo;
    ts_signal_fn fn;
    void *arg;
};

static __thread sig_ctx *tls_sig;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t reg_owner[NSIG];   /* loop id handling each signal, or 0 */

static void ctx_unref(sig_ctx *ctx) {
    if (--ctx->refs == 0)
        free(ctx);
}

static bool valid_signal(int signo) {
    static const int refused[] = {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
                                  SIGFPE,  SIGILL,  SIGTRAP, SIGSYS};
    if (signo <= 0 || signo >= NSIG)
        return false;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (signo == refused[i])
            return false;
    return true;
}

static bool watches(const sig_ctx *ctx, int signo) {
    ts__list_foreach(it, &ctx->handlers) {
        if (ts__container_of(it, ts_signal_handler, node)->signo == signo)
            return true;
    }
    return false;
}

/* ---- watching a signal -------------------------------------------------------- */

static int watch(sig_ctx *ctx, int signo) {
    if (sigismember(&ctx->watched, signo))
        return 0;
    pthread_mutex_lock(&reg_mu);
    bool taken = reg_owner[signo] != 0 && reg_owner[signo] != ctx->loop_id;
    if (!taken)
        reg_owner[signo] = ctx->loop_id;
    pthread_mutex_unlock(&reg_mu);
    if (taken)
        return -EBUSY;
    sigset_t one, old;
    sigemptyset(&one);
    sigaddset(&one, signo);
    pthread_sigmask(SIG_BLOCK, &one, &old);
    if (!sigismember(&old, signo))
        sigaddset(&ctx->blocked_by_us, signo);
    sigaddset(&ctx->watched, signo);
    if (signalfd(ctx->sfd, &ctx->watched, SFD_NONBLOCK | SFD_CLOEXEC) < 0)
        return -errno; /* cannot happen for a valid fd and mask */
    return 0;
}

static void unwatch(sig_ctx *ctx, int signo) {
    if (!sigismember(&ctx->watched, signo))
        return;
    sigdelset(&ctx->watched, signo);
    signalfd(ctx->sfd, &ctx->watched, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigismember(&ctx->blocked_by_us, signo)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, signo);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&one, NULL, &zero) == signo)
            ; /* discard what is pending: it was meant for a handler */
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        sigdelset(&ctx->blocked_by_us, signo);
    }
    pthread_mutex_lock(&reg_mu);
    if (reg_owner[signo] == ctx->loop_id)
        reg_owner[signo] = 0;
    pthread_mutex_unlock(&reg_mu);
}

/* The dispatcher is gone: give every signal back and close the fd. */
static void stop_watching(sig_ctx *ctx) {
    for (int s = 1; s < NSIG; s++)
        unwatch(ctx, s);
    close(ctx->sfd);
    ctx->sfd = -1;
    ctx->dispatcher = NULL;
    if (tls_sig == ctx)
        tls_sig = NULL;
}

/* ---- delivering ------------------------------------------------------------------ */

typedef struct delivery {
    ts_signal_fn fn;
    void *arg;
    int signo;
} delivery;

static void *run_handler(void *p) {
    delivery d = *(delivery *)p;
    free(p);
    return d.fn(d.signo, d.arg);
}

static void deliver(sig_ctx *ctx, int signo) {
    char name[32];
    const char *abbrev = sigabbrev_np(signo);
    if (abbrev)
        snprintf(name, sizeof name, "signal SIG%s", abbrev);
    else
        snprintf(name, sizeof name, "signal %d", signo);
    ts_spawn_opts opts = {.name = name};
    ts__list_foreach(it, &ctx->handlers) {
        ts_signal_handler *h = ts__container_of(it, ts_signal_handler, node);
        if (h->signo != signo)
            continue;
        delivery *d = malloc(sizeof *d);
        ts_task *t = d ? ts_spawn_with(&opts, run_handler, d) : NULL;
        if (!t) { /* out of memory: this delivery is lost, as with a full queue */
            free(d);
            continue;
        }
        *d = (delivery){h->fn, h->arg, signo};
        ts_task_detach(t);
    }
}

static void *dispatch(void *arg) {
    sig_ctx *ctx = arg;
    while (!ts__list_empty(&ctx->handlers)) {
        int r = ts_wait_fd(ctx->sfd, TS_READABLE, TS_FOREVER);
        if (r == -ECANCELED && ts_task_cancelling(ts__current()) == 0)
            continue; /* our stop request was taken back by a new handler */
        if (r < 0)
            break;
        struct signalfd_siginfo si[8];
        ssize_t n;
        while ((n = read(ctx->sfd, si, sizeof si)) > 0)
            for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
                deliver(ctx, (int)si[i].ssi_signo);
    }
    return NULL;
}

static void dispatcher_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    sig_ctx *ctx = ts__container_of(w, sig_ctx, watch);
    stop_watching(ctx);
    ctx_unref(ctx);
}

/* ---- the public calls ----------------------------------------------------------- */

/* This loop's context, made (with its dispatcher) if needed. */
static int get_ctx(ts_loop *loop, sig_ctx **out) {
    sig_ctx *ctx = tls_sig;
    if (ctx && ctx->loop_id != ts_loop_id(loop)) {
        /* Left by a loop closed while its dispatcher was pending (the
         * watch never fired). */
        stop_watching(ctx);
        ctx_unref(ctx);
        ctx = NULL;
    }
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return -ENOMEM;
        sigemptyset(&ctx->watched);
        sigemptyset(&ctx->blocked_by_us);
        ts__list_init(&ctx->handlers);
        ctx->loop_id = ts_loop_id(loop);
        ctx->sfd = signalfd(-1, &ctx->watched, SFD_NONBLOCK | SFD_CLOEXEC);
        if (ctx->sfd < 0) {
            int err = -errno;
            free(ctx);
            return err;
        }
        ts_spawn_opts opts = {.name = "ts-signals", .loop = loop};
        ctx->dispatcher = ts_spawn_with(&opts, dispatch, ctx);
        if (!ctx->dispatcher) {
            close(ctx->sfd);
            free(ctx);
            return -ENOMEM;
        }
        ctx->watch.fn = dispatcher_done;
        ts__task_watch(ctx->dispatcher, &ctx->watch);
        ts_task_detach(ctx->dispatcher);
        ctx->refs = 1;
        tls_sig = ctx;
    }
    *out = ctx;
    return 0;
}

int ts_signal_handler_add(int signo, ts_signal_fn fn, void *arg, ts_signal_handler **out) {
    if (out)
        *out = NULL;
    if (!fn || !out || !valid_signal(signo))
        return -EINVAL;
    ts_loop *loop = ts__loop();
    if (!loop)
        return TS_ENOTASK;
    ts_signal_handler *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    sig_ctx *ctx = NULL;
    int err = get_ctx(loop, &ctx);
    if (!err)
        err = watch(ctx, signo);
    if (err) {
        free(h);
        return err;
    }
    *h = (ts_signal_handler){.ctx = ctx, .signo = signo, .fn = fn, .arg = arg};
    ts__list_push_back(&ctx->handlers, &h->node);
    ctx->refs++;
    if (ctx->we_cancelled) {
        ctx->we_cancelled = false;
        ts_task_uncancel(ctx->dispatcher);
    }
    *out = h;
    return 0;
}

int ts_signal_handler_remove(ts_signal_handler *h) {
    if (!h)
        return -EINVAL;
    sig_ctx *ctx = h->ctx;
    if (ctx->dispatcher) {
        ts_loop *loop = ts__loop();
        if (!loop || ts_loop_id(loop) != ctx->loop_id)
            return TS_EWRONGLOOP;
    }
    ts__list_remove(&h->node);
    if (ctx->dispatcher) {
        if (!watches(ctx, h->signo))
            unwatch(ctx, h->signo);
        if (ts__list_empty(&ctx->handlers) && !ctx->we_cancelled) {
            ctx->we_cancelled = true;
            ts_task_cancel(ctx->dispatcher, NULL);
        }
    }
    free(h);
    ctx_unref(ctx);
    return 0;
}
