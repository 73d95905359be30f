/*
 * uring.c - the io_uring backend: one ring per loop, for files and (when
 * the socket backend is io_uring, see ts__uring_net) for sockets.
 *
 * A task submits its operation at once (a page-cache hit then completes
 * inside the submit call, and the task does not suspend at all) and parks
 * until its completion.  Completions are announced on an eventfd
 * registered with the ring; the eventfd sits in the loop's epoll set with
 * a dispatch hook (ts__fd_watch), so the loop itself reaps the completion
 * queue after its epoll wait and wakes each op's task directly: no task
 * waits on the ring's behalf, and a loop with nothing in flight pays
 * nothing.
 *
 * Where the kernel has it (6.1), the ring is made with DEFER_TASKRUN and
 * the loop sleeps in the ring instead (ts__uring_wait): one io_uring_enter
 * per iteration submits what the tasks queued, runs the completions and
 * waits, with the loop's epoll set as one more thing polled on the ring.
 * Without it the kernel completes a socket op in task work at whatever
 * system call the loop thread makes next: a RECV ran inside the next
 * send(), on a socket whose lock the other CPU held for the incoming
 * packet (a third of the echo server's CPU spinning: 160k req/s against
 * 255k for the epoll path).  Deferred, completions run in one batch when
 * the loop asks, and there is no eventfd round trip.
 *
 * Invariants:
 *   - every SQE carries its op (or NULL for a cancel request) and counts in
 *     ctx->inflight until its CQE is reaped;
 *   - an op's memory stays valid until its CQE is reaped: buffer ops
 *     (file READ/WRITE, every socket op) are waited for by their caller,
 *     even when cancelled; abandoned ones are owned by the ring (on
 *     ctx->abandoned) and freed by the reaper;
 *   - an SQE is never left in the submission queue pointing at an op the
 *     caller may free (a failed submit turns it into a NOP);
 *   - a task parked on an op counts in the loop's nfds_armed, so a busy
 *     loop still polls for its completion.
 *
 * Lifetime: the ring is per thread and keyed by loop id (core offers no
 * hook on loop close); it is torn down when another loop of the thread
 * first does ring I/O, when the thread exits, or at process exit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file_impl.h"
#include "loop_impl.h"
#include "net_impl.h"

#ifdef TS_HAVE_LIBURING

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/sysmacros.h>
#ifdef TS_HAVE_VALGRIND
#include <valgrind/memcheck.h>
#define MARK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define MARK_DEFINED(p, n) ((void)(p), (void)(n))
#endif

#define RING_ENTRIES 256
#define CQ_ENTRIES 4096

typedef struct ring_ctx {
    struct io_uring ring;
    int evfd;
    uint64_t loop_id;
    unsigned inflight;
    bool net_ok;           /* the kernel has the socket opcodes */
    ts__cb flush;          /* queued on the loop while socket SQEs wait */
    bool flush_queued;
    ts__node abandoned;    /* ops owned by the ring: ts__fop.qnode */
    bool deferred;         /* DEFER_TASKRUN: the loop waits in the ring */
    bool epoll_armed;      /* a POLL_ADD on the loop's epoll set is in flight */
    bool epoll_ready;      /* ... and has completed since the last wait */
    int epfd;              /* the loop's epoll set (deferred rings) */
    bool forked;           /* inherited by a forked child: not ours */
} ring_ctx;

/* The user data of the deferred ring's poll on the loop's epoll set. */
static char epoll_tag;

static __thread ring_ctx *tls_ring;
static __thread uint64_t tls_failed_loop;
static __thread int tls_failed_err;
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

/* ---- completions ----------------------------------------------------------- */

static void statx_to_stat(const struct statx *x, struct stat *st) {
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x->stx_dev_major, x->stx_dev_minor);
    st->st_ino = x->stx_ino;
    st->st_mode = x->stx_mode;
    st->st_nlink = x->stx_nlink;
    st->st_uid = x->stx_uid;
    st->st_gid = x->stx_gid;
    st->st_rdev = makedev(x->stx_rdev_major, x->stx_rdev_minor);
    st->st_size = (off_t)x->stx_size;
    st->st_blksize = x->stx_blksize;
    st->st_blocks = (blkcnt_t)x->stx_blocks;
    st->st_atim = (struct timespec){x->stx_atime.tv_sec, x->stx_atime.tv_nsec};
    st->st_mtim = (struct timespec){x->stx_mtime.tv_sec, x->stx_mtime.tv_nsec};
    st->st_ctim = (struct timespec){x->stx_ctime.tv_sec, x->stx_ctime.tv_nsec};
}

/* Socket ops travel with bit 0 of their user data set (both records are
 * pointer-aligned), so one completion queue serves both kinds. */
#define SOP_TAG ((uintptr_t)1)

static void complete_sop(ts__sop *op, int res) {
    op->res = res;
    op->done = true;
    if (res > 0 && op->kind == TS__SOP_RECV)
        MARK_DEFINED(op->buf, (size_t)res);
    if (res >= 0 && op->kind == TS__SOP_ACCEPT && op->alen)
        MARK_DEFINED(op->alen, sizeof *op->alen);
    if (op->parked)
        ts__wake(op->task, 0);
}

static void complete(ring_ctx *ctx, void *data, int res) {
    ctx->inflight--;
    if (!data)
        return; /* a cancel request's own completion */
    if (data == &epoll_tag) {
        ctx->epoll_armed = false;
        ctx->epoll_ready = true; /* (an error too: epoll_wait will say) */
        return;
    }
    if ((uintptr_t)data & SOP_TAG) {
        complete_sop((ts__sop *)((uintptr_t)data & ~SOP_TAG), res);
        return;
    }
    ts__fop *op = data;
    op->res = res;
    op->done = true;
    if (op->kind == FOP_READ && res > 0)
        MARK_DEFINED(op->buf, (size_t)res); /* the kernel wrote it */
    if ((op->kind == FOP_STAT || op->kind == FOP_FSTAT) && res == 0) {
        MARK_DEFINED(op->stx, sizeof(struct statx));
        statx_to_stat(op->stx, &op->st);
    }
    if (op->abandoned) {
        ts__list_remove(&op->qnode);
        ts__fop_finish_abandoned(op);
    } else if (op->w.value) {
        ts__wake(op->w.task, 0); /* parked in ts__uring_run */
    }
}

static void reap(ring_ctx *ctx) {
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ctx->ring, head, cqe) {
            complete(ctx, io_uring_cqe_get_data(cqe), cqe->res);
            n++;
        }
        io_uring_cq_advance(&ctx->ring, n);
        /* Completions beyond the CQ's size wait in the kernel (NODROP)
         * and raise no new eventfd signal: flush them in, reap again. */
        if (!io_uring_cq_has_overflow(&ctx->ring) || io_uring_get_events(&ctx->ring) < 0)
            return;
    }
}

/* The loop's dispatch hook for the eventfd (fdwait.c).  Drain the counter
 * before reaping: a completion posted after the read writes it again, so
 * none goes unnoticed. */
static void on_ring_event(void *arg) {
    ring_ctx *ctx = arg;
    if (ctx->forked)
        return; /* the parent's ring: see forget_after_fork */
    uint64_t v;
    if (read(ctx->evfd, &v, sizeof v) < 0)
        v = 0;
    reap(ctx);
}

/* ---- the ring's life ----------------------------------------------------------- */

static void ring_destroy(ring_ctx *ctx, bool wait) {
    reap(ctx);
    if (wait && ctx->inflight > 0) {
        /* Ask for every op to end (socket ops would otherwise wait for
         * their peers); its own CQE carries NULL. */
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ctx->ring);
        if (sqe) {
            io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data(sqe, NULL);
            ctx->inflight++;
            if (io_uring_submit(&ctx->ring) < 0)
                ctx->inflight--;
        }
    }
    /* Operations still in flight belong to tasks of a closed loop: wait a
     * little for them so that the kernel never writes into freed memory. */
    while (wait && ctx->inflight > 0) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec tmo = {.tv_sec = 1};
        if (io_uring_wait_cqe_timeout(&ctx->ring, &cqe, &tmo) < 0)
            break;
        reap(ctx);
    }
    /* Whatever is left never completed: leaking it is the safe choice. */
    io_uring_queue_exit(&ctx->ring);
    if (ctx->evfd >= 0)
        close(ctx->evfd);
    free(ctx);
}

static void ring_thread_exit(void *p) {
    if (p && p == tls_ring) {
        tls_ring = NULL;
        ring_destroy(p, true);
    }
}

/* A forked child inherits the ring's mappings shared with its parent:
 * an SQE it queued would be the parent's to submit, a CQE it reaped the
 * parent's lost (and a SINGLE_ISSUER ring refuses it anyway).  So the
 * child forgets the ring: its mappings and descriptor go, and the loop it
 * goes on with makes its own at its next ring I/O.  The record stays (an
 * eventfd watch in the loop's epoll set, shared with the parent, still
 * names it; removing that would remove the parent's).  What its tasks
 * had in flight was submitted by the parent and completes there: those
 * tasks wait for ever, as a forked loop's waits on shared sockets do. */
static void forget_after_fork(void) {
    ring_ctx *ctx = tls_ring;
    if (!ctx)
        return;
    tls_ring = NULL;
    ctx->forked = true;
    io_uring_queue_exit(&ctx->ring);
}

static void make_key(void) {
    pthread_key_create(&ring_key, ring_thread_exit);
    pthread_atfork(NULL, NULL, forget_after_fork);
}

void ts__uring_loop_close(ts_loop *loop) {
    ring_ctx *ctx = tls_ring;
    if (!ctx || ctx->loop_id != ts_loop_id(loop))
        return;
    tls_ring = NULL;
    pthread_setspecific(ring_key, NULL);
    ring_destroy(ctx, true);
}

/* At exit nothing can use the memory an operation in flight writes to. */
__attribute__((destructor)) static void ring_process_exit(void) {
    ring_ctx *ctx = tls_ring;
    tls_ring = NULL;
    if (ctx)
        ring_destroy(ctx, false);
}

/* The kernel must offer what the backend uses: file position I/O (-1
 * offsets), no dropped completions, and every opcode. */
static int ring_supported(ring_ctx *ctx, const struct io_uring_params *p) {
    if (!(p->features & IORING_FEAT_NODROP) || !(p->features & IORING_FEAT_RW_CUR_POS))
        return -ENOSYS;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&ctx->ring);
    if (!probe)
        return -ENOSYS;
    static const int ops[] = {IORING_OP_OPENAT, IORING_OP_CLOSE, IORING_OP_READ,
                              IORING_OP_WRITE,  IORING_OP_STATX, IORING_OP_FSYNC,
                              IORING_OP_ASYNC_CANCEL};
    int ok = 1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        ok &= io_uring_opcode_supported(probe, ops[i]) != 0;
    static const int net_ops[] = {IORING_OP_RECV, IORING_OP_SEND, IORING_OP_ACCEPT,
                                  IORING_OP_POLL_ADD};
    ctx->net_ok = ok;
    for (size_t i = 0; i < sizeof net_ops / sizeof net_ops[0]; i++)
        ctx->net_ok &= io_uring_opcode_supported(probe, net_ops[i]) != 0;
    io_uring_free_probe(probe);
    return ok ? 0 : -ENOSYS;
}

/* TASKSCOPE_URING_WAIT=eventfd keeps the loop in epoll_wait even where
 * the kernel could defer task work (to compare the two). */
static bool defer_wanted(void) {
    static int wanted = -1;
    if (wanted < 0) {
        const char *env = getenv("TASKSCOPE_URING_WAIT");
        wanted = !(env && strcmp(env, "eventfd") == 0);
    }
    return wanted;
}

static int ring_create(ring_ctx **out) {
    ring_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -ENOMEM;
    ctx->evfd = -1;
    struct io_uring_params p;
    /* Every parked socket op holds a CQ slot until it completes: room for
     * a server's connections without overflowing (which still works).
     * SINGLE_ISSUER holds: the ring is this thread's alone. */
    int err = -EINVAL;
    if (defer_wanted()) {
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
        p.cq_entries = CQ_ENTRIES;
        err = io_uring_queue_init_params(RING_ENTRIES, &ctx->ring, &p);
        /* (the wait's timeout goes as an argument, never as a TIMEOUT SQE
         * whose user data the reaper would take for an op) */
        if (err == 0 && !(p.features & IORING_FEAT_EXT_ARG)) {
            io_uring_queue_exit(&ctx->ring);
            err = -EINVAL;
        }
        ctx->deferred = err == 0;
    }
    if (err == -EINVAL) { /* a kernel before 6.1 */
        memset(&p, 0, sizeof p);
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        err = io_uring_queue_init_params(RING_ENTRIES, &ctx->ring, &p);
    }
    if (err < 0) {
        free(ctx);
        return err;
    }
    err = ring_supported(ctx, &p);
    if (!err && !ctx->deferred) {
        ctx->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        err = ctx->evfd < 0 ? -errno : io_uring_register_eventfd(&ctx->ring, ctx->evfd);
        if (err && ctx->evfd >= 0)
            close(ctx->evfd);
    }
    if (err) {
        io_uring_queue_exit(&ctx->ring);
        free(ctx);
        return err;
    }
    ts__list_init(&ctx->abandoned);
    *out = ctx;
    return 0;
}

int ts__uring_attach(ts_loop *loop) {
    uint64_t id = ts_loop_id(loop);
    if (tls_ring && tls_ring->loop_id == id)
        return 0;
    if (tls_failed_loop == id)
        return tls_failed_err;
    if (tls_ring) {
        ring_destroy(tls_ring, true);
        tls_ring = NULL;
    }
    ring_ctx *ctx;
    int err = ring_create(&ctx);
    if (err) {
        tls_failed_loop = id;
        tls_failed_err = err;
        return err;
    }
    ctx->epfd = loop->epfd;
    err = ctx->deferred ? 0 : ts__fd_watch(ctx->evfd, on_ring_event, ctx);
    if (err) {
        ring_destroy(ctx, false);
        tls_failed_loop = id;
        tls_failed_err = err;
        return err;
    }
    ctx->loop_id = id;
    tls_ring = ctx;
    pthread_once(&ring_key_once, make_key);
    pthread_setspecific(ring_key, ctx);
    return 0;
}

/* ---- submitting ------------------------------------------------------------------ */

static struct io_uring_sqe *get_sqe(ring_ctx *ctx) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ctx->ring);
    if (!sqe) { /* the queue is full: push it to the kernel and retry */
        io_uring_submit(&ctx->ring);
        sqe = io_uring_get_sqe(&ctx->ring);
    }
    return sqe;
}

static void prep(struct io_uring_sqe *sqe, ts__fop *op) {
    switch (op->kind) {
    case FOP_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, op->path, op->flags | O_CLOEXEC, op->mode);
        break;
    case FOP_READ:
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case FOP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, (uint64_t)op->off);
        break;
    case FOP_STAT:
        io_uring_prep_statx(sqe, AT_FDCWD, op->path, 0, STATX_BASIC_STATS, op->stx);
        break;
    case FOP_FSTAT:
        io_uring_prep_statx(sqe, op->fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, op->stx);
        break;
    case FOP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, 0);
        break;
    case FOP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    }
}

/* Submit sqe (already prepared, carrying its data).  Returns 0 or -errno;
 * on failure nothing refers to the op it carried. */
static int push(ring_ctx *ctx, struct io_uring_sqe *sqe) {
    ctx->inflight++;
    /* Retry while the kernel is short of room (reaping makes some); loop
     * while SQEs remain, so ours never waits for someone else's submit. */
    int r = 0;
    for (int tries = 0; tries < 16 && io_uring_sq_ready(&ctx->ring) > 0; tries++) {
        r = io_uring_submit(&ctx->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            break;
        if (r < 0)
            reap(ctx);
    }
    if (r < 0 && io_uring_sq_ready(&ctx->ring) > 0) {
        /* Still queued: make it harmless (its CQE decrements inflight). */
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data(sqe, NULL);
        return r;
    }
    return 0;
}

static int submit_op(ring_ctx *ctx, ts__fop *op) {
    struct io_uring_sqe *sqe = get_sqe(ctx);
    if (!sqe)
        return -EBUSY;
    prep(sqe, op);
    io_uring_sqe_set_data(sqe, op);
    return push(ctx, sqe);
}

/* Ask the kernel to cancel the op whose user data is target; the
 * request's own CQE carries NULL. */
static int submit_cancel(ring_ctx *ctx, void *target) {
    struct io_uring_sqe *sqe = get_sqe(ctx);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel(sqe, target, 0);
    io_uring_sqe_set_data(sqe, NULL);
    return push(ctx, sqe);
}

/* ---- waiting ---------------------------------------------------------------------- */

/* Park until the loop's reaper wakes us (status 0) or a cancellation
 * does (-ECANCELED).  Counted as an armed wait so that a loop with ready
 * tasks still polls. */
static int park_op(ts__waiter *w, const void *obj, const ts_site *site) {
    ts_loop *l = ts__loop();
    l->nfds_armed++;
    int st = ts__park(w, TS_WAIT_FD, obj, site);
    l->nfds_armed--;
    return st;
}

/* The caller was cancelled.  Returns true if it leaves at once (the op is
 * now the ring's), false if it must wait for the op's completion. */
static bool cancel_op(ring_ctx *ctx, ts__fop **opp) {
    ts__fop *op = *opp;
    if (ts__fop_abandonable(op)) {
        op->abandoned = true;
        ts__list_push_back(&ctx->abandoned, &op->qnode);
        /* An open blocked on a FIFO is interrupted; a close must happen.
         * The request is processed within the submit, before op can be
         * freed and its address reused. */
        if (op->kind != FOP_CLOSE)
            (void)submit_cancel(ctx, op);
        *opp = NULL;
        return true;
    }
    (void)submit_cancel(ctx, op); /* if it fails, the op just runs to its end */
    return false;
}

int64_t ts__uring_run(ts__fop **opp, const ts_site *site) {
    ts__fop *op = *opp;
    ts_task *self = ts__current();
    /* (file.c chose this backend once per loop; a forked child has
     * forgotten the ring since, and makes its own here) */
    int err = ts__uring_attach(ts__loop());
    if (err)
        return err;
    ring_ctx *ctx = tls_ring;
    if ((op->kind == FOP_STAT || op->kind == FOP_FSTAT) &&
        !(op->stx = malloc(sizeof(struct statx))))
        return -ENOMEM;
    ts__waiter_init(&op->w, self);
    err = submit_op(ctx, op);
    if (err)
        return err;
    reap(ctx);
    bool cancelled = false;
    while (!op->done) {
        op->w.value = op; /* parked: the reaper wakes us */
        int st = park_op(&op->w, op, site);
        op->w.value = NULL;
        if (st == -ECANCELED && !cancelled && !op->done) {
            cancelled = true;
            if (cancel_op(ctx, opp))
                return -ECANCELED;
        } else if (st == -ECANCELED) {
            cancelled = true;
        }
    }
    return cancelled ? -ECANCELED : op->res;
}

/* ---- sockets ------------------------------------------------------------------------ */

bool ts__uring_net(void) {
    static int mode = -1; /* 1: io_uring wanted, 0: epoll forced */
    if (mode < 0) {
        const char *env = getenv("TASKSCOPE_NET");
        mode = !(env && strcmp(env, "epoll") == 0);
    }
    ts_loop *l = ts__loop();
    if (!mode || !l)
        return false;
    ring_ctx *ctx = tls_ring;
    if (ctx && ctx->loop_id == ts_loop_id(l))
        return ctx->net_ok;
    return ts__uring_attach(l) == 0 && tls_ring->net_ok;
}

static void prep_sop(struct io_uring_sqe *sqe, ts__sop *op) {
    switch (op->kind) {
    case TS__SOP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
        break;
    case TS__SOP_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, op->len, op->flags | MSG_NOSIGNAL);
        break;
    case TS__SOP_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->addr, op->alen,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case TS__SOP_POLL:
        io_uring_prep_poll_add(sqe, op->fd, (unsigned)op->flags);
        break;
    }
    io_uring_sqe_set_data(sqe, (void *)((uintptr_t)op | SOP_TAG));
}

/* Batched submission: a socket op's SQE waits in the queue, and one loop
 * callback, queued behind the tasks already ready, submits all of them in
 * one io_uring_enter (the tasks woken by one poll each add theirs first).
 * If the kernel refuses for now, the callback runs again next iteration
 * (the ops' tasks are parked meanwhile, and the loop polls). */
static void flush_run(ts__cb *cb) {
    ring_ctx *ctx = ts__container_of(cb, ring_ctx, flush);
    ctx->flush_queued = false;
    if (tls_ring != ctx || !io_uring_sq_ready(&ctx->ring))
        return;
    int r = io_uring_submit(&ctx->ring);
    if (r < 0 || io_uring_sq_ready(&ctx->ring) > 0) {
        reap(ctx);
        ctx->flush_queued = true;
        ts__ready_push(ts__loop(), &ctx->flush);
    }
}

static void flush_later(ring_ctx *ctx) {
    if (ctx->flush_queued || ctx->deferred) /* deferred: the loop's wait submits */
        return;
    ctx->flush_queued = true;
    ctx->flush.fn = flush_run;
    ts__ready_push(ts__loop(), &ctx->flush);
}

ssize_t ts__uring_sock(ts__sop *op, const ts_site *site) {
    ring_ctx *ctx = tls_ring;
    ts_task *self = ts__current();
    if (!ctx || !self || ctx->loop_id != ts_loop_id(ts__loop()))
        return -ENOSYS;
    op->task = self;
    op->done = op->parked = op->cancelled = false;
    struct io_uring_sqe *sqe = get_sqe(ctx);
    if (!sqe)
        return -EBUSY;
    prep_sop(sqe, op);
    ctx->inflight++;
    flush_later(ctx);
    ts__waiter w;
    ts__waiter_init(&w, self);
    bool cancelled = false;
    while (!op->done) {
        op->parked = true;
        int st = park_op(&w, (const void *)(intptr_t)op->fd, site);
        op->parked = false;
        if (st == -ECANCELED && !op->done && !cancelled && !op->cancelled) {
            /* Our memory (the op, the caller's buffer) is the kernel's
             * until the CQE: ask for cancellation and keep waiting. */
            op->cancelled = true;
            (void)submit_cancel(ctx, (void *)((uintptr_t)op | SOP_TAG));
        }
        if (st == -ECANCELED)
            cancelled = true;
    }
    int res = op->res;
    if (!cancelled)
        return res == -ECANCELED ? TS__NET_CLOSING : res; /* interrupted */
    if (res == -ECANCELED || res == -EINTR)
        return -ECANCELED;
    /* The op completed before the cancellation reached it: its result is
     * the caller's (data was consumed, bytes went out, a connection was
     * accepted), and the cancellation is delivered at the next suspension,
     * as for any wake with success (internal.h). */
    self->must_cancel = true;
    return res;
}

void ts__uring_interrupt(ts__sop *op) {
    ring_ctx *ctx = tls_ring;
    if (!op || op->done || op->cancelled || !ctx)
        return;
    op->cancelled = true;
    if (submit_cancel(ctx, (void *)((uintptr_t)op | SOP_TAG)) != 0)
        return;
    /* The cancelled op's completion is kernel task work, posted only when
     * this thread next asks for events (at once with DEFER_TASKRUN, at its
     * next system call otherwise): ask now and reap, so that its task is
     * woken here, as the epoll backend wakes it.  A close interrupting a
     * reader is then seen by the next sleep(0), not one poll later. */
    (void)io_uring_get_events(&ctx->ring);
    reap(ctx);
}

/* ---- the loop's wait ------------------------------------------------------------------ */

int ts__uring_wait(ts_loop *l, int64_t timeout_ns) {
    ring_ctx *ctx = tls_ring;
    if (!ctx || !ctx->deferred || ctx->loop_id != ts_loop_id(l))
        return -ENOSYS;
    /* One-shot, armed again for every wait: readiness is checked when it
     * is armed, so events left in the set (more than one epoll_wait
     * takes) complete it at once, where a multishot poll would wait for
     * the next wake-up. */
    if (!ctx->epoll_armed) {
        struct io_uring_sqe *sqe = get_sqe(ctx);
        if (!sqe)
            return 1; /* the kernel refuses SQEs: epoll, without waiting */
        io_uring_prep_poll_add(sqe, ctx->epfd, POLLIN);
        io_uring_sqe_set_data(sqe, &epoll_tag);
        ctx->inflight++;
        ctx->epoll_armed = true;
    }
    ctx->epoll_ready = false;
    int r;
    if (timeout_ns == 0) {
        r = io_uring_submit_and_get_events(&ctx->ring);
    } else {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = timeout_ns / 1000000000,
                                       .tv_nsec = timeout_ns % 1000000000};
        r = io_uring_submit_and_wait_timeout(&ctx->ring, &cqe, 1, timeout_ns < 0 ? NULL : &ts,
                                             NULL);
    }
    (void)r; /* -ETIME, -EINTR: woken without completions; others: see below */
    reap(ctx);
    /* SQEs the kernel did not take (short of memory): they go with the
     * next wait; meanwhile the loop must not sleep on them. */
    return ctx->epoll_ready || io_uring_sq_ready(&ctx->ring) > 0;
}

#else /* !TS_HAVE_LIBURING */

/* Built without liburing: every loop uses the thread backend. */
int ts__uring_attach(ts_loop *loop) {
    (void)loop;
    return -ENOSYS;
}

int64_t ts__uring_run(ts__fop **opp, const ts_site *site) {
    (void)opp;
    (void)site;
    return -ENOSYS;
}

bool ts__uring_net(void) { return false; }

void ts__uring_loop_close(ts_loop *loop) { (void)loop; }

ssize_t ts__uring_sock(ts__sop *op, const ts_site *site) {
    (void)op;
    (void)site;
    return -ENOSYS;
}

void ts__uring_interrupt(ts__sop *op) { (void)op; }

int ts__uring_wait(ts_loop *l, int64_t timeout_ns) {
    (void)l;
    (void)timeout_ns;
    return -ENOSYS;
}

#endif
