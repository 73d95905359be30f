/*
 * file.c - files that never block the loop: the public calls of file.h,
 * the choice of backend, and the thread backend.
 *
 * Each call builds one operation (file_impl.h) and hands it to the loop's
 * backend: io_uring (uring.c) when the kernel allows it, else a small
 * process-wide pool of threads that run the blocking system call.  The
 * choice is made once per loop and cached per thread (a thread runs one
 * loop at a time): TASKSCOPE_FILE_BACKEND=uring|threads forces it.
 *
 * Why not ts_to_thread: a cancelled ts_to_thread returns at once while its
 * job runs on, but a read must not write into a buffer its caller has
 * already given up.  This pool lets a cancelled caller drop an operation
 * that has not started, hand over one that owns nothing of the caller's
 * (open, stat, close), or wait for a running read or write to finish.
 *
 * Thread-backend states, each change made under tp.mu:
 *   QUEUED   on tp.queue; a cancelled caller unlinks and frees it (except
 *            a close, which it abandons: the descriptor must go).
 *   RUNNING  a worker runs the system call.  A cancelled caller marks an
 *            abandonable op `abandoned` and leaves; the worker then
 *            finishes it off and never touches the loop.  A cancelled
 *            caller of a read or write waits.
 *   POSTED   the completion is in the loop's cross-thread queue; the caller
 *            waits for it (`delivered`) and frees the op.
 * So a worker posts only to a loop whose task still waits for it.  A loop
 * closed with a task still waiting (reported as "destroyed but pending")
 * is the one case this cannot cover, as for the executor.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file_impl.h"
#include "tracepoints.h"

#define TP_MAX_THREADS 8
#define MAX_RW 0x7ffff000u   /* what Linux transfers in one call */

struct ts_file {
    int fd;
};

enum { T_QUEUED, T_RUNNING, T_POSTED };
enum { BE_URING = 1, BE_THREADS = 2 };

/* ---- operations ------------------------------------------------------------ */

static ts__fop *fop_new(ts__fop_kind kind, int fd) {
    ts__fop *op = calloc(1, sizeof *op);
    if (op) {
        op->kind = kind;
        op->fd = fd;
        op->off = -1;
    }
    return op;
}

void ts__fop_free(ts__fop *op) {
    if (!op)
        return;
    free(op->path);
    free(op->stx);
    free(op);
}

void ts__fop_finish_abandoned(ts__fop *op) {
    if (op->kind == FOP_OPEN && op->done && op->res >= 0)
        close((int)op->res);
    ts__fop_free(op);
}

/* The blocking system call behind op, run by a pool thread. */
static void fop_execute(ts__fop *op) {
    long r;
    do {
        switch (op->kind) {
        case FOP_OPEN:
            r = open(op->path, op->flags | O_CLOEXEC, (mode_t)op->mode);
            break;
        case FOP_READ:
            r = op->off < 0 ? read(op->fd, op->buf, op->len)
                            : pread(op->fd, op->buf, op->len, (off_t)op->off);
            break;
        case FOP_WRITE:
            r = op->off < 0 ? write(op->fd, op->buf, op->len)
                            : pwrite(op->fd, op->buf, op->len, (off_t)op->off);
            break;
        case FOP_STAT:
            r = stat(op->path, &op->st);
            break;
        case FOP_FSTAT:
            r = fstat(op->fd, &op->st);
            break;
        case FOP_FSYNC:
            r = fsync(op->fd);
            break;
        case FOP_CLOSE:
            /* On Linux the descriptor is gone even when close says EINTR. */
            r = close(op->fd);
            if (r < 0 && errno == EINTR)
                r = 0;
            break;
        default:
            r = -1;
            errno = EINVAL;
        }
    } while (r < 0 && errno == EINTR);
    op->res = r < 0 ? -errno : r;
    op->done = true; /* read by the caller only after the delivery */
}

/* ---- the thread pool ---------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ts__node queue;
    bool ready;
    bool stop;                         /* process exit: idle workers leave */
    unsigned nthreads, nidle, nqueued;
    pthread_t threads[TP_MAX_THREADS];
} tp = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* On the caller's loop: the op's result is in. */
static void fop_deliver(void *arg) {
    ts__fop *op = arg;
    op->delivered = true;
    ts__wake(op->w.task, 0);
}

static void fop_post(ts__fop *op) {
    int err;
    while ((err = ts_call_soon_threadsafe(op->loop, fop_deliver, op)) == -ENOMEM) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    if (err) /* the loop is closing: its tasks will never run again */
        ts__fop_finish_abandoned(op);
}

static void *tp_worker(void *arg) {
    (void)arg;
    pthread_setname_np(pthread_self(), "ts-file");
    pthread_mutex_lock(&tp.mu);
    for (;;) {
        while (ts__list_empty(&tp.queue) && !tp.stop) {
            tp.nidle++;
            pthread_cond_wait(&tp.cv, &tp.mu);
            tp.nidle--;
        }
        if (ts__list_empty(&tp.queue))
            break;
        ts__fop *op = ts__container_of(ts__list_pop_front(&tp.queue), ts__fop, qnode);
        tp.nqueued--;
        op->tstate = T_RUNNING;
        pthread_mutex_unlock(&tp.mu);
        fop_execute(op);
        pthread_mutex_lock(&tp.mu);
        if (op->abandoned) {
            pthread_mutex_unlock(&tp.mu);
            ts__fop_finish_abandoned(op);
        } else {
            op->tstate = T_POSTED;
            pthread_mutex_unlock(&tp.mu);
            fop_post(op);
        }
        pthread_mutex_lock(&tp.mu);
    }
    pthread_mutex_unlock(&tp.mu);
    return NULL;
}

/* At exit, idle workers are joined (so tools see no thread left behind);
 * one still inside a blocking call (a FIFO nobody writes) is left after a
 * second rather than hanging the exit. */
__attribute__((destructor)) static void tp_shutdown(void) {
    pthread_mutex_lock(&tp.mu);
    tp.stop = true;
    pthread_cond_broadcast(&tp.cv);
    unsigned n = tp.nthreads;
    pthread_mutex_unlock(&tp.mu);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    for (unsigned i = 0; i < n; i++)
        pthread_timedjoin_np(tp.threads[i], NULL, &deadline);
}

/* In a child forked by the program, the workers do not exist: forget them
 * (the queued ops are the parent's) so its exit does not wait for them. */
static void tp_forget_after_fork(void) {
    pthread_mutex_init(&tp.mu, NULL);
    pthread_cond_init(&tp.cv, NULL);
    ts__list_init(&tp.queue);
    tp.nthreads = tp.nidle = tp.nqueued = 0;
}

/* One more worker (they stay until exit); tp.mu held.  Workers block the
 * asynchronous signals so those reach loop threads (signalfd). */
static int tp_start_worker(void) {
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&tp.threads[tp.nthreads], NULL, tp_worker, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    tp.nthreads++;
    return 0;
}

static int tp_submit(ts__fop *op) {
    pthread_mutex_lock(&tp.mu);
    if (!tp.ready) {
        ts__list_init(&tp.queue);
        pthread_atfork(NULL, NULL, tp_forget_after_fork);
        tp.ready = true;
    }
    if (tp.stop) { /* a task still doing file I/O while the process exits */
        pthread_mutex_unlock(&tp.mu);
        return -ESHUTDOWN;
    }
    if (tp.nqueued + 1 > tp.nidle && tp.nthreads < TP_MAX_THREADS) {
        int err = tp_start_worker();
        if (err && tp.nthreads == 0) {
            pthread_mutex_unlock(&tp.mu);
            return err;
        }
    }
    op->tstate = T_QUEUED;
    ts__list_push_back(&tp.queue, &op->qnode);
    tp.nqueued++;
    pthread_cond_signal(&tp.cv);
    pthread_mutex_unlock(&tp.mu);
    return 0;
}

/* The caller was cancelled: true if it may leave now (and *opp was freed or
 * handed over), false if it must wait for the completion. */
static bool tp_cancel(ts__fop **opp) {
    ts__fop *op = *opp;
    bool leave = false;
    pthread_mutex_lock(&tp.mu);
    if (op->tstate == T_QUEUED && op->kind != FOP_CLOSE) {
        ts__list_remove(&op->qnode);
        tp.nqueued--;
        ts__fop_free(op);
        leave = true;
    } else if (op->tstate != T_POSTED && ts__fop_abandonable(op)) {
        /* Running, or a queued close, which must still happen. */
        op->abandoned = true;
        leave = true;
    }
    pthread_mutex_unlock(&tp.mu);
    if (leave)
        *opp = NULL;
    return leave;
}

static int64_t threads_run(ts__fop **opp, const ts_site *site) {
    ts__fop *op = *opp;
    op->loop = ts__loop();
    op->w.task = ts__current();
    int err = tp_submit(op);
    if (err)
        return err;
    bool cancelled = false;
    while (!op->delivered) {
        if (ts__park(NULL, TS_WAIT_EXECUTOR, op, site) == -ECANCELED && !cancelled) {
            cancelled = true;
            if (tp_cancel(opp))
                return -ECANCELED;
        }
    }
    return cancelled ? -ECANCELED : op->res;
}

/* ---- choosing the backend ------------------------------------------------------ */

static __thread uint64_t be_loop_id;
static __thread int be_choice;   /* BE_*, or -errno if forced and unusable */

static int backend(void) {
    ts_loop *l = ts__loop();
    if (!l)
        return TS_ENOTASK;
    if (be_loop_id == ts_loop_id(l))
        return be_choice;
    const char *env = getenv("TASKSCOPE_FILE_BACKEND");
    int choice;
    if (env && strcmp(env, "threads") == 0) {
        choice = BE_THREADS;
    } else {
        int err = ts__uring_attach(l);
        if (err == 0)
            choice = BE_URING;
        else
            choice = env && strcmp(env, "uring") == 0 ? err : BE_THREADS;
    }
    be_loop_id = ts_loop_id(l);
    be_choice = choice;
    return choice;
}

const char *ts_file_backend(void) {
    int be = backend();
    if (be == TS_ENOTASK)
        return "none";
    return be == BE_URING ? "uring" : be == BE_THREADS ? "threads" : "unavailable";
}

/* Run op on this loop's backend.  Returns its result; if *opp is NULL
 * afterwards the op was freed or handed over, else the caller frees it. */
static int64_t run(ts__fop **opp, const ts_site *site) {
    if (!ts__current())
        return TS_ENOTASK;
    int be = backend();
    if (be < 0)
        return be;
    return be == BE_URING ? ts__uring_run(opp, site) : threads_run(opp, site);
}

/* Run a fresh op and free it unless it was handed over. */
static int64_t run_and_free(ts__fop *op, struct stat *st, const ts_site *site) {
    if (!op)
        return -ENOMEM;
    int64_t r = run(&op, site);
    if (op) {
        if (r == 0 && st)
            *st = op->st;
        if (r == -ECANCELED)
            ts__fop_finish_abandoned(op); /* done, but nobody takes its fd */
        else
            ts__fop_free(op);
    }
    return r;
}

/* ---- the public calls --------------------------------------------------------------- */

int ts_file_open_at(const char *path, int flags, unsigned mode, ts_file **out,
                    const ts_site *site) {
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    ts_file *f = malloc(sizeof *f);
    ts__fop *op = fop_new(FOP_OPEN, -1);
    char *copy = strdup(path);
    if (!f || !op || !copy) {
        free(f);
        free(copy);
        ts__fop_free(op);
        return -ENOMEM;
    }
    op->path = copy;
    op->flags = flags;
    op->mode = mode;
    int64_t r = run_and_free(op, NULL, site);
    if (r < 0) {
        free(f);
        return (int)r;
    }
    f->fd = (int)r;
    TS_TRACE_FD_INFO(f->fd, TS_FD_OPENED, path);
    *out = f;
    return 0;
}

static ssize_t rw_once(ts__fop_kind kind, ts_file *f, void *buf, size_t len, int64_t off,
                       const ts_site *site) {
    ts__fop *op = fop_new(kind, f->fd);
    if (!op)
        return -ENOMEM;
    op->buf = buf;
    op->len = len > MAX_RW ? MAX_RW : len;
    op->off = off < 0 ? -1 : off;
    return (ssize_t)run_and_free(op, NULL, site);
}

ssize_t ts_file_pread_at(ts_file *f, void *buf, size_t len, int64_t offset,
                         const ts_site *site) {
    if (!f || (!buf && len))
        return -EINVAL;
    return rw_once(FOP_READ, f, buf, len, offset, site);
}

ssize_t ts_file_pwrite_at(ts_file *f, const void *buf, size_t len, int64_t offset,
                          const ts_site *site) {
    if (!f || (!buf && len) || len > (size_t)SSIZE_MAX)
        return -EINVAL;
    size_t done = 0;
    do {
        int64_t off = offset < 0 ? -1 : offset + (int64_t)done;
        ssize_t n = rw_once(FOP_WRITE, f, (char *)buf + done, len - done, off, site);
        if (n == -ECANCELED || (n < 0 && done == 0))
            return n;
        if (n <= 0)
            break; /* a short count now, the error on the next call */
        done += (size_t)n;
    } while (done < len);
    return (ssize_t)done;
}

int ts_file_read_all_at(ts_file *f, char **data, size_t *len, const ts_site *site) {
    if (!f || !data || !len)
        return -EINVAL;
    *data = NULL;
    *len = 0;
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (cap - n < 4096) {
            char *bigger = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                return -ENOMEM;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = rw_once(FOP_READ, f, buf + n, cap - n - 1, -1, site);
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}

int ts_file_stat_at(ts_file *f, struct stat *st, const ts_site *site) {
    if (!f || !st)
        return -EINVAL;
    return (int)run_and_free(fop_new(FOP_FSTAT, f->fd), st, site);
}

int ts_stat_at(const char *path, struct stat *st, const ts_site *site) {
    if (!path || !st)
        return -EINVAL;
    ts__fop *op = fop_new(FOP_STAT, -1);
    if (op && !(op->path = strdup(path))) {
        ts__fop_free(op);
        op = NULL;
    }
    return (int)run_and_free(op, st, site);
}

int ts_file_sync_at(ts_file *f, const ts_site *site) {
    if (!f)
        return -EINVAL;
    return (int)run_and_free(fop_new(FOP_FSYNC, f->fd), NULL, site);
}

int ts_file_close_at(ts_file *f, const ts_site *site) {
    if (!f)
        return 0;
    int fd = f->fd;
    free(f);
    TS_TRACE_FD_INFO(fd, TS_FD_CLOSED, NULL);
    ts__fop *op = fop_new(FOP_CLOSE, fd);
    if (!op || !ts__current()) {
        /* No memory or no task: closing at once is all that is left. */
        ts__fop_free(op);
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    }
    int64_t r = run(&op, site);
    if (op) {
        if (!op->done) /* never started (no backend): do not leak the fd */
            close(fd);
        ts__fop_free(op);
    }
    return (int)r;
}

int ts_file_fd(const ts_file *f) { return f ? f->fd : -EINVAL; }
