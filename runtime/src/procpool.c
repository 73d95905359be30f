/*
 * procpool.c - a pool of forked worker processes for CPU-bound jobs.
 *
 * Each worker is connected to the parent by a stream socketpair (a socket,
 * not a pipe, so that writing to a dead worker is EPIPE with MSG_NOSIGNAL,
 * never SIGPIPE).  A job is a header {function pointer, length} and the
 * argument bytes; the answer a header {status, length} and the result.
 *
 * Workers are forked from a short-lived helper thread: the child then
 * starts on an ordinary thread stack, with no loop and no task in its
 * thread-local state, instead of on the stack of the task that made the
 * pool.  The child closes every descriptor but its socket and 0-2, and
 * unblocks every signal (a loop blocks those it handles).
 *
 * Invariants:
 *   - a worker is busy from the moment a task takes it until that task
 *     gives it back; it is handed directly to the first waiting task, so a
 *     woken waiter owns it (internal.h's "a wake with success is final");
 *   - only the task that owns a busy worker touches its socket, so the
 *     one-waiter-per-fd rule of ts_wait_fd always holds;
 *   - a worker's protocol state is known only between jobs: whenever a job
 *     ends otherwise (death, cancellation, a malformed answer) the worker
 *     is killed and replaced, never reused;
 *   - every worker pid is reaped: at once when possible, else from
 *     pool->dead on a later replacement, or blocking in ts_procpool_free.
 *
 * A pool may move to another loop while idle, so its ts__obj header
 * (objcheck.c) has no loop and is checked for liveness only: a use after
 * ts_procpool_free returns TS_EFREED, reported with the creation and free
 * sites (the debug runtime keeps the freed memory a while to tell).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define MAX_MSG (1ull << 30)

typedef struct job_hdr {
    uint64_t fn;
    uint64_t len;
} job_hdr;

typedef struct reply_hdr {
    int64_t status;
    uint64_t len;
} reply_hdr;

typedef struct worker {
    pid_t pid;      /* -1: no process (died, or could not be forked) */
    int fd;         /* the parent's end of the socketpair */
    int pidfd;      /* -1 if the kernel has none */
    bool busy;
} worker;

struct ts_procpool {
    ts__obj obj;            /* first: no loop; creation site, live/freed */
    unsigned n;
    worker *w;
    ts__node waiters;       /* ts__waiter; value = the worker index handed over */
    uint64_t loop_id;       /* the loop using it; may change while idle */
    unsigned nbusy;
    bool closing;
    pid_t *dead;            /* killed workers not reaped yet */
    size_t ndead, dead_cap;
    char last_error[160];
};

/* ---- the worker process ------------------------------------------------------- */

static int read_full(int fd, void *buf, size_t len) {
    for (size_t done = 0; done < len;) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return -1;
        done += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

static int send_full(int fd, const void *buf, size_t len) {
    for (size_t done = 0; done < len;) {
        ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR)
            return -1;
        done += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

static void close_all_but(int keep) {
    if (syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0 &&
        syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        if (fd != keep)
            close(fd);
}

static _Noreturn void worker_main(int sock) {
    close_all_but(sock);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    for (;;) {
        job_hdr h;
        if (read_full(sock, &h, sizeof h) < 0)
            _exit(0); /* the pool closed our channel */
        void *arg = malloc(h.len ? h.len : 1);
        if (!arg || read_full(sock, arg, h.len) < 0)
            _exit(1);
        ts_procpool_fn fn = (ts_procpool_fn)(uintptr_t)h.fn;
        void *res = NULL;
        size_t res_len = 0;
        int st = fn(arg, h.len, &res, &res_len);
        fflush(NULL); /* what the job printed must not die with us */
        reply_hdr r = {.status = st, .len = st == 0 && res ? res_len : 0};
        if (send_full(sock, &r, sizeof r) < 0 || send_full(sock, res, r.len) < 0)
            _exit(1);
        free(arg);
        free(res);
    }
}

/* ---- forking workers ------------------------------------------------------------- */

typedef struct fork_req {
    pid_t pid;
    int fd;
    int err;
} fork_req;

static void *fork_thread(void *arg) {
    fork_req *r = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        r->err = -errno;
        return NULL;
    }
    fflush(NULL); /* or the child would print our buffered output again */
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        worker_main(sv[1]);
    }
    close(sv[1]);
    if (pid < 0) {
        r->err = -errno;
        close(sv[0]);
        return NULL;
    }
    r->pid = pid;
    r->fd = sv[0];
    return NULL;
}

static void reap_dead(ts_procpool *pool, bool block) {
    for (size_t i = 0; i < pool->ndead;) {
        pid_t r = waitpid(pool->dead[i], NULL, block ? 0 : WNOHANG);
        if (r == pool->dead[i] || (r < 0 && errno == ECHILD))
            pool->dead[i] = pool->dead[--pool->ndead];
        else
            i++;
    }
}

/* Start a process in slot i (which has none).  Blocks for the fork. */
static int spawn_worker(ts_procpool *pool, unsigned i) {
    reap_dead(pool, false);
    fork_req r = {.pid = -1, .fd = -1};
    pthread_t th;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no handler runs mid-fork */
    int err = pthread_create(&th, NULL, fork_thread, &r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    pthread_join(th, NULL);
    if (r.err)
        return r.err;
    int fl = fcntl(r.fd, F_GETFL);
    fcntl(r.fd, F_SETFL, fl | O_NONBLOCK);
    pool->w[i] = (worker){.pid = r.pid, .fd = r.fd, .pidfd = -1, .busy = pool->w[i].busy};
    pool->w[i].pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
    return 0;
}

/* Stop slot i's process (if any) and leave the slot empty.  The pid is
 * reaped now if it is already gone, else later. */
static void discard_worker(ts_procpool *pool, unsigned i) {
    worker *w = &pool->w[i];
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        if (waitpid(w->pid, NULL, WNOHANG) != w->pid) {
            if (pool->ndead == pool->dead_cap) {
                size_t cap = pool->dead_cap ? pool->dead_cap * 2 : 8;
                pid_t *d = realloc(pool->dead, cap * sizeof *d);
                if (d) {
                    pool->dead = d;
                    pool->dead_cap = cap;
                }
            }
            if (pool->ndead < pool->dead_cap)
                pool->dead[pool->ndead++] = w->pid;
            else
                waitpid(w->pid, NULL, 0); /* no memory to remember it */
        }
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pid = -1;
    w->fd = w->pidfd = -1;
}

/* ---- running a job ------------------------------------------------------------------ */

/* Take a worker: an idle one, or wait until one is handed over. */
static int acquire(ts_procpool *pool, unsigned *idx, const ts_site *site) {
    for (unsigned i = 0; i < pool->n; i++) {
        if (!pool->w[i].busy) {
            pool->w[i].busy = true;
            pool->nbusy++;
            *idx = i;
            return 0;
        }
    }
    ts__waiter w;
    ts__waiter_init(&w, ts__current());
    ts__list_push_back(&pool->waiters, &w.node);
    int st = ts__park(&w, TS_WAIT_EXECUTOR, pool, site);
    ts__list_remove(&w.node);
    if (st)
        return st;
    *idx = (unsigned)(uintptr_t)w.value;
    return 0;
}

/* Give worker i back: to the first waiter (it stays busy), or idle. */
static void release(ts_procpool *pool, unsigned i) {
    ts__node *n = ts__list_first(&pool->waiters);
    if (n) {
        ts__waiter *w = ts__container_of(n, ts__waiter, node);
        w->value = (void *)(uintptr_t)i;
        ts__wake(w->task, 0);
        return;
    }
    pool->w[i].busy = false;
    pool->nbusy--;
}

/* A worker that died while idle (or never started) is replaced now. */
static int ensure_alive(ts_procpool *pool, unsigned i) {
    worker *w = &pool->w[i];
    if (w->pid > 0) {
        char c;
        ssize_t r = recv(w->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        discard_worker(pool, i); /* end of file: it is gone */
    }
    return spawn_worker(pool, i);
}

/* -EPIPE means the worker is gone. */
static int chan_send(int fd, const void *buf, size_t len, const ts_site *site) {
    for (size_t done = 0; done < len;) {
        ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            done += (size_t)n;
        } else if (errno == EPIPE || errno == ECONNRESET) {
            return -EPIPE;
        } else if (errno == EAGAIN) {
            int r = ts_wait_fd_at(fd, TS_WRITABLE, TS_FOREVER, site);
            if (r < 0)
                return r;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

static int chan_recv(int fd, void *buf, size_t len, const ts_site *site) {
    for (size_t done = 0; done < len;) {
        ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
        } else if (n == 0 || errno == ECONNRESET) {
            return -EPIPE;
        } else if (errno == EAGAIN) {
            int r = ts_wait_fd_at(fd, TS_READABLE, TS_FOREVER, site);
            if (r < 0)
                return r;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/* Worker i died during a job: say how (waiting for its exit status, which
 * comes just after its socket closes), then empty the slot.  Returns
 * -ECHILD, or -ECANCELED if the caller was cancelled meanwhile. */
static int report_death(ts_procpool *pool, unsigned i, const ts_site *site) {
    worker *w = &pool->w[i];
    int status = 0, err = -ECHILD;
    pid_t r = waitpid(w->pid, &status, WNOHANG);
    for (int tries = 0; r == 0 && tries < 100 && err != -ECANCELED; tries++) {
        int st = w->pidfd >= 0 ? ts_wait_fd_at(w->pidfd, TS_READABLE, 0.05, site)
                               : ts_sleep_at(0.001, site);
        if (st == -ECANCELED)
            err = st;
        r = waitpid(w->pid, &status, WNOHANG);
    }
    if (r == w->pid && WIFSIGNALED(status))
        snprintf(pool->last_error, sizeof pool->last_error,
                 "worker %d was killed by signal %d (%s) during a job", (int)w->pid,
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (r == w->pid)
        snprintf(pool->last_error, sizeof pool->last_error,
                 "worker %d exited with status %d during a job", (int)w->pid,
                 WEXITSTATUS(status));
    else
        snprintf(pool->last_error, sizeof pool->last_error,
                 "worker %d closed its channel during a job", (int)w->pid);
    if (r == w->pid)
        w->pid = -1; /* reaped: its number may be reused, never signal it */
    discard_worker(pool, i);
    return err;
}

/* Send the job to worker i and read the answer.  On any failure the worker
 * is discarded and (if possible) replaced. */
static int exchange(ts_procpool *pool, unsigned i, ts_procpool_fn fn, const void *arg,
                    size_t arg_len, void **result, size_t *result_len, const ts_site *site) {
    int fd = pool->w[i].fd;
    job_hdr h = {(uint64_t)(uintptr_t)fn, arg_len};
    reply_hdr r = {0, 0};
    char *buf = NULL;
    int err = chan_send(fd, &h, sizeof h, site);
    if (!err)
        err = chan_send(fd, arg, arg_len, site);
    if (!err)
        err = chan_recv(fd, &r, sizeof r, site);
    if (!err && r.len > MAX_MSG)
        err = -EMSGSIZE;
    if (!err && !(buf = malloc(r.len + 1)))
        err = -ENOMEM;
    if (!err)
        err = chan_recv(fd, buf, r.len, site);
    if (err) {
        free(buf);
        if (err == -EPIPE)
            err = report_death(pool, i, site);
        else
            discard_worker(pool, i);
        (void)spawn_worker(pool, i); /* if it fails, the next job retries */
        return err;
    }
    if (r.status) {
        free(buf);
        return (int)r.status;
    }
    buf[r.len] = 0;
    if (result && r.len)
        *result = buf;
    else
        free(buf);
    if (result_len)
        *result_len = r.len;
    return 0;
}

/* 0 if pool is live; else TS_EFREED, reported.  Liveness only: the pool
 * checks its loop itself (ts_procpool_run). */
static int pool_check(const ts_procpool *pool, const char *what, const ts_site *site) {
    return pool->obj.magic == TS__OBJ_LIVE ? 0 : ts__obj_misuse(&pool->obj, what, site);
}

int ts_procpool_run_at(ts_procpool *pool, ts_procpool_fn fn, const void *arg, size_t arg_len,
                       void **result, size_t *result_len, const ts_site *site) {
    if (result)
        *result = NULL;
    if (result_len)
        *result_len = 0;
    if (!pool || !fn || (!arg && arg_len))
        return -EINVAL;
    int err = pool_check(pool, "ts_procpool_run", site);
    if (err)
        return err;
    if (!ts__current())
        return TS_ENOTASK;
    uint64_t loop = ts_loop_id(ts__loop());
    if (pool->loop_id != loop && (pool->nbusy || !ts__list_empty(&pool->waiters)))
        return TS_EWRONGLOOP;
    pool->loop_id = loop;
    if (pool->closing)
        return -ESHUTDOWN;
    if (arg_len > MAX_MSG)
        return -EMSGSIZE;
    unsigned i;
    err = acquire(pool, &i, site);
    if (err)
        return err;
    err = ensure_alive(pool, i);
    if (!err)
        err = exchange(pool, i, fn, arg, arg_len, result, result_len, site);
    release(pool, i);
    return err;
}

/* ---- the pool ---------------------------------------------------------------------- */

int ts_procpool_new_at(unsigned nworkers, ts_procpool **out, const ts_site *site) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (nworkers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = cpus > 0 ? (unsigned)cpus : 1;
    }
    ts_procpool *pool = calloc(1, sizeof *pool);
    if (!pool || !(pool->w = calloc(nworkers, sizeof *pool->w))) {
        free(pool);
        return -ENOMEM;
    }
    ts__obj_init(&pool->obj, NULL, "ts_procpool", site);
    pool->n = nworkers;
    ts__list_init(&pool->waiters);
    for (unsigned i = 0; i < nworkers; i++)
        pool->w[i] = (worker){.pid = -1, .fd = -1, .pidfd = -1};
    for (unsigned i = 0; i < nworkers; i++) {
        int err = spawn_worker(pool, i);
        if (err) {
            ts_procpool_free(pool);
            return err;
        }
    }
    *out = pool;
    return 0;
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
int (ts_procpool_new)(unsigned nworkers, ts_procpool **out) {
    return ts_procpool_new_at(nworkers, out, NULL);
}

void (ts_procpool_free)(ts_procpool *pool) { ts_procpool_free_at(pool, NULL); }

unsigned ts_procpool_size(const ts_procpool *pool) {
    return pool && ts__obj_readable(&pool->obj, "ts_procpool_size") ? pool->n : 0;
}

const char *ts_procpool_last_error(const ts_procpool *pool) {
    return pool && ts__obj_readable(&pool->obj, "ts_procpool_last_error") ? pool->last_error
                                                                         : "";
}

void ts_procpool_free_at(ts_procpool *pool, const ts_site *site) {
    if (!pool || pool_check(pool, "ts_procpool_free", site))
        return;
    pool->closing = true;
    ts__node *n;
    while ((n = ts__list_first(&pool->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, -ESHUTDOWN);
    for (unsigned i = 0; i < pool->n; i++) {
        worker *w = &pool->w[i];
        if (w->fd >= 0)
            close(w->fd); /* an idle worker reads EOF and exits */
        if (w->pidfd >= 0)
            close(w->pidfd);
        if (w->pid > 0 && w->busy)
            kill(w->pid, SIGKILL);
        if (w->pid > 0)
            waitpid(w->pid, NULL, 0);
    }
    reap_dead(pool, true);
    free(pool->dead);
    free(pool->w);
    ts__obj_free(&pool->obj, site);
}
