/*
 * subprocess.c - child processes: spawn, pipes, wait, kill.
 *
 * Spawning uses posix_spawnp, which reports a failed exec (missing
 * program, no permission) as its return value.  Every descriptor made here
 * is close-on-exec, and the child closes all but 0-2 unless asked not to;
 * the child's ends of pipes are moved to numbers >= 3 first so that the
 * dup2 file actions can never overwrite one another.
 *
 * Waiting.  With a pidfd (the default where the kernel has them) a waiter
 * is just ts_wait_fd on it.  Without, the loop handles SIGCHLD (signals.c)
 * through a per-loop watch; each SIGCHLD wakes every waiter of the loop,
 * which then tries waitid(WNOHANG) on its own pid, as it does every 20 ms
 * anyway (another thread may have taken the signal: park_for_sigchld).  The watch is taken
 * before the child is started and a waiter always tries waitid before it
 * parks, so an exit is never missed.  Only our own pids are ever waited
 * for.
 *
 * Invariants:
 *   - p->pid stays a zombie (so it cannot be recycled) until p reaps it;
 *     after that p never signals or waits on it again;
 *   - a child freed unreaped is killed and its pid put on a process-wide
 *     list that later spawns and frees reap without blocking, as Python's
 *     subprocess does, so no zombie accumulates.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

typedef struct chld_watch {
    uint64_t loop_id;
    ts_signal_handler *handler;
    ts__node waiters;     /* ts__waiter of processes waiting for an exit */
    int users;            /* unreaped processes that wait through it */
} chld_watch;

struct ts_process {
    ts__obj obj;          /* first: no loop; creation site, live/freed */
    pid_t pid;
    int pidfd;            /* -1 when waiting through SIGCHLD */
    int pipes[3];         /* the parent's ends, or -1 */
    bool reaped;
    int returncode;
    chld_watch *watch;    /* SIGCHLD mode, until reaped */
    ts_task *waiter;      /* the task in ts_process_wait */
    ts__node followers;   /* ts__waiter of communicate calls waiting for it */
};

/* ---- zombies of freed processes --------------------------------------------- */

static pthread_mutex_t zombie_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t *zombies;
static size_t nzombies, zombies_cap;

static void reap_zombies(void) {
    pthread_mutex_lock(&zombie_mu);
    for (size_t i = 0; i < nzombies;) {
        pid_t r = waitpid(zombies[i], NULL, WNOHANG);
        if (r == zombies[i] || (r < 0 && errno == ECHILD))
            zombies[i] = zombies[--nzombies];
        else
            i++;
    }
    pthread_mutex_unlock(&zombie_mu);
}

static void add_zombie(pid_t pid) {
    pthread_mutex_lock(&zombie_mu);
    if (nzombies == zombies_cap) {
        size_t cap = zombies_cap ? zombies_cap * 2 : 16;
        pid_t *z = realloc(zombies, cap * sizeof *z);
        if (z) {
            zombies = z;
            zombies_cap = cap;
        }
    }
    if (nzombies < zombies_cap)
        zombies[nzombies++] = pid;
    pthread_mutex_unlock(&zombie_mu);
}

/* ---- the SIGCHLD watch -------------------------------------------------------- */

static __thread chld_watch *tls_watch;

static void *on_sigchld(int signo, void *arg) {
    (void)signo;
    (void)arg;
    chld_watch *w = tls_watch;
    ts_loop *loop = ts__loop();
    if (!w || !loop || w->loop_id != ts_loop_id(loop))
        return NULL;
    ts__node *n;
    while ((n = ts__list_first(&w->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, 0);
    return NULL;
}

static int watch_acquire(chld_watch **out) {
    uint64_t id = ts_loop_id(ts__loop());
    chld_watch *w = tls_watch;
    if (w && w->loop_id != id)
        w = tls_watch = NULL; /* an older loop's; its processes keep it */
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return -ENOMEM;
        ts__list_init(&w->waiters);
        int err = ts_signal_handler_add(SIGCHLD, on_sigchld, NULL, &w->handler);
        if (err) {
            free(w);
            return err;
        }
        w->loop_id = id;
        tls_watch = w;
    }
    w->users++;
    *out = w;
    return 0;
}

static void watch_release(chld_watch *w) {
    if (!w || --w->users > 0)
        return;
    ts_signal_handler_remove(w->handler);
    if (tls_watch == w)
        tls_watch = NULL;
    free(w);
}

static bool want_pidfd(void) {
    const char *env = getenv("TASKSCOPE_CHILD_WAIT");
    return !(env && strcmp(env, "sigchld") == 0);
}

/* ---- spawning ------------------------------------------------------------------- */

/* Move fd to a number >= 3 (close-on-exec); returns it or -errno. */
static int above_stdio(int fd) {
    if (fd >= 3)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    return moved < 0 ? -err : moved;
}

static int nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Plan stream i: *child is the descriptor to dup2 onto i in the child
 * (closed by the caller afterwards), *parent our end of a pipe. */
static int plan_stdio(int i, ts_stdio mode, int user_fd, posix_spawn_file_actions_t *fa,
                      int *child, int *parent) {
    int fds[2];
    switch (mode) {
    case TS_STDIO_INHERIT:
        return 0;
    case TS_STDIO_DEVNULL:
        return -posix_spawn_file_actions_addopen(fa, i, "/dev/null",
                                                 i == 0 ? O_RDONLY : O_WRONLY, 0);
    case TS_STDIO_STDOUT:
        return i == 2 ? -posix_spawn_file_actions_adddup2(fa, 1, 2) : -EINVAL;
    case TS_STDIO_FD:
        if (user_fd < 0)
            return -EBADF;
        *child = fcntl(user_fd, F_DUPFD_CLOEXEC, 3);
        if (*child < 0)
            return -errno;
        break;
    case TS_STDIO_PIPE:
        if (pipe2(fds, O_CLOEXEC) < 0)
            return -errno;
        *child = above_stdio(fds[i == 0 ? 0 : 1]);
        *parent = fds[i == 0 ? 1 : 0];
        int err = *child < 0 ? *child : nonblocking(*parent);
        if (err) {
            if (*child >= 0)
                close(*child);
            close(*parent);
            *child = *parent = -1;
            return err;
        }
        break;
    default:
        return -EINVAL;
    }
    return -posix_spawn_file_actions_adddup2(fa, *child, i);
}

/* What exec would say about a program that is missing or not executable.
 * posix_spawnp reports it too, but not where vfork is emulated (valgrind),
 * and a clear error at spawn time is the point. */
static int precheck(const char *file, const char *cwd) {
    struct stat st;
    if (strchr(file, '/')) {
        if (cwd && file[0] != '/')
            return 0; /* relative to the child's directory: let exec judge */
        if (stat(file, &st) < 0)
            return -errno;
        return S_ISDIR(st.st_mode) || access(file, X_OK) < 0 ? -EACCES : 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    char buf[4096];
    for (const char *dir = path; dir; dir = strchr(dir, ':') ? strchr(dir, ':') + 1 : NULL) {
        size_t n = strcspn(dir, ":");
        if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)n, dir, n ? "/" : "", file) <
                (int)sizeof buf &&
            stat(buf, &st) == 0)
            return 0;
    }
    return -ENOENT;
}

static int start(const char *file, char *const argv[], const ts_process_opts *o,
                 ts_process *p) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int child[3] = {-1, -1, -1};
    int err = precheck(file, o->cwd);
    if (!err)
        err = -posix_spawn_file_actions_init(&fa);
    if (err)
        return err;
    posix_spawnattr_init(&attr);
    const ts_stdio modes[3] = {o->stdin_mode, o->stdout_mode, o->stderr_mode};
    const int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
    for (int i = 0; i < 3 && !err; i++)
        err = plan_stdio(i, modes[i], fds[i], &fa, &child[i], &p->pipes[i]);
    if (!err && o->cwd)
        err = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
    /* What the program left inheritable stays with it (Python's close_fds). */
    if (!err && !o->inherit_fds)
        err = -posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    if (!err) {
        /* The child starts clean: nothing blocked (a loop blocks the
         * signals it handles), every disposition the default. */
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        err = -posix_spawnp(&p->pid, file, &fa, &attr, argv, o->env ? o->env : environ);
    }
    for (int i = 0; i < 3; i++)
        if (child[i] >= 0)
            close(child[i]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return err;
}

static void close_pipes(ts_process *p) {
    for (int i = 0; i < 3; i++) {
        if (p->pipes[i] >= 0)
            close(p->pipes[i]);
        p->pipes[i] = -1;
    }
}

/* 0 if p is live; else TS_EFREED, reported (objcheck.c).  Liveness only:
 * a process is tied to no loop. */
static int process_check(const ts_process *p, const char *what, const ts_site *site) {
    return p->obj.magic == TS__OBJ_LIVE ? 0 : ts__obj_misuse(&p->obj, what, site);
}

int ts_process_spawn_at(const char *file, char *const argv[], const ts_process_opts *opts,
                        ts_process **out, const ts_site *site) {
    if (!file || !argv || !argv[0] || !out)
        return -EINVAL;
    *out = NULL;
    if (!ts__loop())
        return TS_ENOTASK;
    reap_zombies();
    static const ts_process_opts defaults;
    ts_process *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    *p = (ts_process){.pid = -1, .pidfd = -1, .pipes = {-1, -1, -1}};
    ts__list_init(&p->followers);
    ts__obj_init(&p->obj, NULL, "ts_process", site);
    bool pidfd = want_pidfd();
    /* Watch SIGCHLD before the child exists, so its exit cannot be lost. */
    int err = pidfd ? 0 : watch_acquire(&p->watch);
    if (!err)
        err = start(file, argv, opts ? opts : &defaults, p);
    if (!err && pidfd) {
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
        if (p->pidfd < 0) /* an old kernel: fall back; waitid still sees the exit */
            err = watch_acquire(&p->watch);
    }
    if (err) {
        close_pipes(p);
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            add_zombie(p->pid);
        }
        watch_release(p->watch);
        free(p);
        return err;
    }
    *out = p;
    return 0;
}

int ts_process_spawn_shell_at(const char *command, const ts_process_opts *opts,
                              ts_process **out, const ts_site *site) {
    if (!command)
        return -EINVAL;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    return ts_process_spawn_at("/bin/sh", argv, opts, out, site);
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
int (ts_process_spawn)(const char *file, char *const argv[], const ts_process_opts *opts,
                       ts_process **out) {
    return ts_process_spawn_at(file, argv, opts, out, NULL);
}

int (ts_process_spawn_shell)(const char *command, const ts_process_opts *opts,
                             ts_process **out) {
    return ts_process_spawn_shell_at(command, opts, out, NULL);
}

void (ts_process_free)(ts_process *p) { ts_process_free_at(p, NULL); }

/* ---- pipes -------------------------------------------------------------------------- */

ssize_t ts_process_read_at(ts_process *p, int fd, void *buf, size_t len,
                           const ts_site *site) {
    if (!p || (fd != 1 && fd != 2) || (!buf && len))
        return -EINVAL;
    int check = process_check(p, "ts_process_read", site);
    if (check)
        return check;
    int pfd = p->pipes[fd];
    if (pfd < 0)
        return -EBADF;
    for (;;) {
        ssize_t n = read(pfd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int r = ts_wait_fd_at(pfd, TS_READABLE, TS_FOREVER, site);
        if (r < 0)
            return r;
    }
}

/* write(2) that reports a closed pipe as EPIPE without SIGPIPE killing
 * the process: the signal is blocked around the call and, if the write
 * raised it, consumed (SIGPIPE from a write is sent to the writing
 * thread).  One pending before the call is left alone. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t len) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t n = write(fd, buf, len);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

ssize_t ts_process_write_at(ts_process *p, const void *buf, size_t len,
                            const ts_site *site) {
    if (!p || (!buf && len))
        return -EINVAL;
    int check = process_check(p, "ts_process_write", site);
    if (check)
        return check;
    int pfd = p->pipes[0];
    if (pfd < 0)
        return -EBADF;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write_nosigpipe(pfd, (const char *)buf + done, len - done);
        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int r = ts_wait_fd_at(pfd, TS_WRITABLE, TS_FOREVER, site);
        if (r < 0)
            return r;
    }
    return (ssize_t)done;
}

int ts_process_close_stdin(ts_process *p) {
    if (p && process_check(p, "ts_process_close_stdin", NULL))
        return TS_EFREED;
    if (!p || p->pipes[0] < 0)
        return -EBADF;
    close(p->pipes[0]);
    p->pipes[0] = -1;
    return 0;
}

/* ---- communicate ------------------------------------------------------------------- */

typedef struct pipe_io {
    ts_process *p;
    int fd;
    const void *in;
    size_t in_len;
    char *buf;
    size_t len, cap;
} pipe_io;

static void *feed_stdin(void *arg) {
    pipe_io *io = arg;
    ssize_t n = io->in_len ? ts_process_write(io->p, io->in, io->in_len) : 0;
    if (n != -ECANCELED)
        ts_process_close_stdin(io->p);
    if (n < 0 && n != -EPIPE) /* EPIPE: the child did not want it all */
        return ts_fail((int)n, "writing the child's stdin");
    return NULL;
}

static void *drain(void *arg) {
    pipe_io *io = arg;
    for (;;) {
        if (io->cap - io->len < 4096) {
            size_t cap = io->cap ? io->cap * 2 : 16384;
            char *b = realloc(io->buf, cap);
            if (!b)
                return ts_fail(-ENOMEM, "buffering the child's output");
            io->buf = b;
            io->cap = cap;
        }
        ssize_t n = ts_process_read(io->p, io->fd, io->buf + io->len, io->cap - io->len - 1);
        if (n < 0)
            return ts_fail((int)n, "reading the child's fd %d", io->fd);
        if (n == 0)
            break;
        io->len += (size_t)n;
    }
    io->buf[io->len] = 0;
    return NULL;
}

static void hand_out(pipe_io *io, char **data, size_t *len) {
    if (data && io->buf) {
        *data = io->buf;
        io->buf = NULL;
    } else if (data && !(*data = calloc(1, 1))) {
        return;
    }
    if (len)
        *len = io->len;
}

static int wait_beside(ts_process *p, const ts_site *site);

int ts_process_communicate_at(ts_process *p, const void *in, size_t in_len, char **out,
                              size_t *out_len, char **err, size_t *err_len,
                              const ts_site *site) {
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (!p || (!in && in_len))
        return -EINVAL;
    int check = process_check(p, "ts_process_communicate", site);
    if (check)
        return check;
    if (!ts__current())
        return TS_ENOTASK;
    if (in_len && p->pipes[0] < 0)
        return -EBADF;
    pipe_io io[3];
    ts_task *tasks[3];
    int errs[3] = {0, 0, 0};
    size_t n = 0;
    int r = 0;
    for (int fd = 0; fd < 3; fd++) {
        io[fd] = (pipe_io){.p = p, .fd = fd, .in = in, .in_len = in_len};
        if (p->pipes[fd] < 0)
            continue;
        ts_task *t = fd == 0 ? ts_spawn_named("communicate stdin", feed_stdin, &io[fd])
                             : ts_spawn_named("communicate output", drain, &io[fd]);
        if (!t) {
            r = -ENOMEM;
            break;
        }
        tasks[n++] = t;
    }
    if (r) /* undo: none of them has run yet */
        for (size_t i = 0; i < n; i++)
            ts_task_cancel(tasks[i], NULL);
    int g = n ? ts_gather_at(tasks, n, NULL, errs, site) : 0;
    for (size_t i = 0; i < n && !r; i++)
        r = errs[i];
    if (!r)
        r = g;
    if (!r)
        r = wait_beside(p, site);
    if (!r) {
        hand_out(&io[1], out, out_len);
        hand_out(&io[2], err, err_len);
    }
    free(io[1].buf);
    free(io[2].buf);
    return r;
}

/* ---- exit ------------------------------------------------------------------------------ */

/* 1 if the child was reaped now or before, 0 if it still runs, -errno. */
static int try_reap(ts_process *p) {
    if (p->reaped)
        return 1;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int r;
    while ((r = waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r < 0 && errno != ECHILD)
        return -errno;
    if (r == 0 && info.si_pid == 0)
        return 0;
    p->reaped = true;
    if (r < 0) /* someone else reaped it: the status is lost */
        p->returncode = -ECHILD;
    else
        p->returncode = info.si_code == CLD_EXITED ? info.si_status : -info.si_status;
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    watch_release(p->watch);
    p->watch = NULL;
    return r < 0 ? -ECHILD : 1;
}

/* How long a SIGCHLD-mode waiter sleeps before trying waitid again
 * anyway.  A SIGCHLD is sent to the process, and the kernel gives it to
 * any thread that does not block it: with the loop on one thread and
 * others running (whose SIGCHLD is ignored by default), it is often never
 * seen by this loop's signalfd.  asyncio avoids the question with a
 * thread per child (ThreadedChildWatcher); here an exit whose signal went
 * elsewhere is noticed at most this late. */
#define SIGCHLD_RECHECK_S 0.02

typedef struct sigchld_wait {
    ts__waiter w;
    ts__timer recheck;
} sigchld_wait;

static void sigchld_recheck(ts__timer *tm) {
    sigchld_wait *sw = ts__container_of(tm, sigchld_wait, recheck);
    ts__wake(sw->w.task, 0);
}

/* Park until the next SIGCHLD of this loop, or the recheck's time. */
static int park_for_sigchld(ts_process *p, const ts_site *site) {
    ts_loop *loop = ts__loop();
    sigchld_wait sw;
    ts__waiter_init(&sw.w, ts__current());
    ts__list_push_back(&p->watch->waiters, &sw.w.node);
    ts__timer_init(&sw.recheck, sigchld_recheck);
    ts__timer_start(loop, &sw.recheck, ts__deadline_after(loop, SIGCHLD_RECHECK_S));
    int st = ts__park(&sw.w, TS_WAIT_FD, p, site);
    if (ts__timer_active(&sw.recheck))
        ts__timer_stop(loop, &sw.recheck);
    ts__list_remove(&sw.w.node);
    return st;
}

int ts_process_wait_at(ts_process *p, int *returncode, const ts_site *site) {
    if (!p)
        return -EINVAL;
    int check = process_check(p, "ts_process_wait", site);
    if (check)
        return check;
    if (!ts__current())
        return TS_ENOTASK;
    if (p->waiter)
        return -EBUSY;
    int r;
    p->waiter = ts__current();
    while ((r = try_reap(p)) == 0) {
        int st = p->pidfd >= 0 ? ts_wait_fd_at(p->pidfd, TS_READABLE, TS_FOREVER, site)
                               : park_for_sigchld(p, site);
        if (st < 0) {
            r = st;
            break;
        }
    }
    p->waiter = NULL;
    ts__node *n;
    while ((n = ts__list_first(&p->followers)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, 0);
    if (r < 0 && r != -ECHILD)
        return r;
    if (returncode)
        *returncode = p->returncode;
    return r < 0 ? r : 0;
}

/* communicate's wait.  asyncio lets any number of tasks await the exit;
 * ts_process_wait allows one, but communicate must not throw away the
 * output it has read because another task is in it: it waits for that
 * wait to end, then reaps the child itself if the other was cancelled. */
static int wait_beside(ts_process *p, const ts_site *site) {
    while (!p->reaped && p->waiter) {
        ts__waiter w;
        ts__waiter_init(&w, ts__current());
        ts__list_push_back(&p->followers, &w.node);
        int st = ts__park(&w, TS_WAIT_FD, p, site);
        ts__list_remove(&w.node);
        if (st < 0)
            return st;
    }
    return ts_process_wait_at(p, NULL, site);
}

int ts_process_kill(ts_process *p, int signo) {
    if (!p || signo < 0 || signo >= NSIG)
        return -EINVAL;
    if (process_check(p, "ts_process_kill", NULL))
        return TS_EFREED;
    if (p->reaped)
        return -ESRCH;
    int r = p->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, p->pidfd, signo, NULL, 0)
                          : kill(p->pid, signo);
    return r < 0 ? -errno : 0;
}

pid_t ts_process_pid(const ts_process *p) {
    return p && ts__obj_readable(&p->obj, "ts_process_pid") ? p->pid : -1;
}

int ts_process_returncode(const ts_process *p, int *returncode) {
    if (!p)
        return -EINVAL;
    if (!ts__obj_readable(&p->obj, "ts_process_returncode"))
        return TS_EFREED;
    if (!p->reaped)
        return TS_EINVALSTATE;
    if (returncode)
        *returncode = p->returncode;
    return 0;
}

int ts_process_pipe_fd(const ts_process *p, int fd) {
    if (p && !ts__obj_readable(&p->obj, "ts_process_pipe_fd"))
        return TS_EFREED;
    if (!p || fd < 0 || fd > 2 || p->pipes[fd] < 0)
        return -EBADF;
    return p->pipes[fd];
}

void ts_process_free_at(ts_process *p, const ts_site *site) {
    if (!p || process_check(p, "ts_process_free", site))
        return;
    close_pipes(p);
    if (try_reap(p) == 0) {
        ts_process_kill(p, SIGKILL);
        if (try_reap(p) == 0) {
            add_zombie(p->pid);
            if (p->pidfd >= 0)
                close(p->pidfd);
            watch_release(p->watch);
        }
    }
    ts__obj_free(&p->obj, site);
    reap_zombies();
}
