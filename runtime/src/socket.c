/*
 * socket.c - non-blocking socket calls (net.h) and the readiness wait they
 * share with streams and servers.
 *
 * Every call tries its system call first and waits only on EAGAIN: a
 * system call costs about a microsecond here, a trip through the loop
 * more, so an already-ready socket must not pay for a wait it does not
 * need.
 *
 * The wait (ts__net_wait) sits on ts_wait_fd, which admits one task per
 * fd, yet a connection commonly has a reader task and a writer task.  So
 * for each fd there is a small multiplexer, kept per thread and indexed by
 * fd, meaningful only while somebody waits (it is empty otherwise, so fd
 * numbers being reused does not matter):
 *   - the *poller* is the one task inside ts_wait_fd for the fd; it waits
 *     for its own direction plus the guest's;
 *   - the *guest* is a task waiting for the other direction, parked on the
 *     multiplexer; it kicks the poller (a wake with status 0, which
 *     ts_wait_fd returns as is) so the poller widens its wait;
 *   - the poller hands the guest its readiness, and when the poller leaves
 *     for any reason it wakes the guest with 0 ("retry"), which makes the
 *     guest the poller.
 * Invariants: at most one task per direction (busy); guest != NULL only
 * while its task is parked there or has just been woken by the poller;
 * entries are re-read after every suspension because the table may have
 * been reallocated meanwhile.  An entry records its loop: a thread runs one
 * loop at a time, so an entry left by another loop (one closed with tasks
 * still parked, which ts_run never does) is stale and is reset.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_impl.h"
#include "tracepoints.h"

#define NET_RETRY 0      /* internal: the wait must be started again */
#define NET_BUDGET 64    /* non-suspending calls in a row before a yield */

struct fdmux {
    uint64_t loop;       /* the loop whose tasks wait here (its id) */
    ts_task *poller;
    int poller_dir;
    ts__waiter *guest;
    int guest_dir;
    int busy;            /* directions with a waiting task */
};

static __thread struct fdmux *mux_tab;
static __thread int mux_cap;
static pthread_key_t mux_key;
static pthread_once_t mux_once = PTHREAD_ONCE_INIT;

/* A thread's table goes with the thread (the key's destructor). */
static void mux_key_make(void) { (void)pthread_key_create(&mux_key, free); }

static int mux_grow(int fd) {
    if (fd < mux_cap)
        return 0;
    pthread_once(&mux_once, mux_key_make);
    int cap = mux_cap ? mux_cap : 256;
    while (cap <= fd)
        cap *= 2;
    struct fdmux *t = realloc(mux_tab, (size_t)cap * sizeof *t);
    if (!t)
        return -ENOMEM;
    memset(t + mux_cap, 0, (size_t)(cap - mux_cap) * sizeof *t);
    mux_tab = t;
    mux_cap = cap;
    pthread_setspecific(mux_key, t);
    return 0;
}

/* ---- fairness ------------------------------------------------------------ */

static __thread ts_task *streak_task;
static __thread unsigned streak;

int ts__net_enter(const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (self != streak_task) {
        streak_task = self;
        streak = 0;
    }
    /* Attach the loop's ring (if io_uring is the backend) at its first
     * socket call rather than at its first wait, so its descriptors exist
     * from the start (tests count descriptors around a wait).  A TLS
     * compare once attached. */
    (void)ts__uring_net();
    if (++streak < NET_BUDGET)
        return 0;
    streak = 0;
    return ts__yield(site);
}

/* The task suspended: its streak of ready calls is over. */
static void streak_broken(const ts_task *self) {
    if (self == streak_task)
        streak = 0;
}

/* ---- the multiplexed wait ------------------------------------------------ */

/* Hand the guest its readiness, or tell it to retry (status 0). */
static void wake_guest(struct fdmux *m, int status) {
    ts__waiter *g = m->guest;
    m->guest = NULL;
    ts__wake(g->task, status);
}

static int wait_as_poller(int fd, int dir, ts_task *self, const ts_site *site) {
    mux_tab[fd].poller = self;
    mux_tab[fd].poller_dir = dir;
    for (;;) {
        struct fdmux *m = &mux_tab[fd];
        int want = dir | (m->guest ? m->guest_dir : 0);
        int r = ts_wait_fd_at(fd, want, TS_FOREVER, site);
        m = &mux_tab[fd];
        if (r == 0)
            continue; /* kicked by a new guest: widen the wait */
        if (r > 0 && m->guest && (r & m->guest_dir))
            wake_guest(m, r & m->guest_dir);
        if (r > 0 && !(r & dir))
            continue; /* only the guest's side was ready */
        m->poller = NULL;
        if (m->guest)
            wake_guest(m, NET_RETRY);
        return r > 0 ? dir : r;
    }
}

static int wait_as_guest(int fd, int dir, ts_task *self, const ts_site *site) {
    ts__waiter w;
    ts__waiter_init(&w, self);
    struct fdmux *m = &mux_tab[fd];
    m->guest = &w;
    m->guest_dir = dir;
    ts__wake(m->poller, NET_RETRY);
    int r = ts__park(&w, TS_WAIT_FD, (const void *)(intptr_t)fd, site);
    m = &mux_tab[fd];
    if (m->guest == &w)
        m->guest = NULL; /* cancelled or interrupted while parked */
    return r;
}

/* Claim direction dir of fd for the calling task: -EBUSY if another task
 * waits in it (one task per direction, on either backend). */
static int busy_take(int fd, int dir, ts_task *self) {
    int err = mux_grow(fd);
    if (err)
        return err;
    uint64_t loop = ts_loop_id(ts_task_loop(self));
    if (mux_tab[fd].loop != loop)
        mux_tab[fd] = (struct fdmux){.loop = loop};
    if (mux_tab[fd].busy & dir)
        return -EBUSY;
    mux_tab[fd].busy |= dir;
    return 0;
}

/* The io_uring wait: run op with its direction claimed. */
static ssize_t uring_wait(ts__sop *op, int dir, const ts_site *site) {
    ts_task *self = ts__current();
    int err = busy_take(op->fd, dir, self);
    if (err)
        return err;
    ssize_t r = ts__uring_sock(op, site);
    mux_tab[op->fd].busy &= ~dir;
    streak_broken(self);
    return r;
}

int ts__net_wait(int fd, int dir, const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (fd < 0)
        return -EBADF;
    int err = busy_take(fd, dir, self);
    if (err)
        return err;
    int r;
    do {
        if (!mux_tab[fd].poller)
            r = wait_as_poller(fd, dir, self, site);
        else
            r = wait_as_guest(fd, dir, self, site);
    } while (r == NET_RETRY);
    mux_tab[fd].busy &= ~dir;
    streak_broken(self);
    return r;
}

int ts__net_interrupt(int fd, int dir, int status) {
    ts_loop *l = ts__loop();
    if (fd < 0 || fd >= mux_cap || !l || mux_tab[fd].loop != ts_loop_id(l))
        return 0;
    struct fdmux *m = &mux_tab[fd];
    if (m->poller && m->poller_dir == dir)
        return ts__wake(m->poller, status);
    if (m->guest && m->guest_dir == dir) {
        ts_task *t = m->guest->task;
        m->guest = NULL;
        return ts__wake(t, status);
    }
    return 0;
}

/* ---- plain socket calls ---------------------------------------------------- */

int ts_socket(int domain, int type, int protocol) {
    (void)ts__uring_net(); /* on a loop: its ring exists before its sockets */
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

void ts__set_nodelay(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_result(int fd) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        return -errno;
    return -soerr;
}

int ts_sock_connect_at(int fd, const struct sockaddr *addr, socklen_t len,
                       const ts_site *site) {
    int err = ts__net_enter(site);
    if (err)
        return err;
    while (connect(fd, addr, len) < 0) {
        if (errno == EINPROGRESS || errno == EINTR) {
            /* In progress (EINTR too: the connect goes on). */
            TS_TRACE_FD_CONNECTING(fd, addr, len);
            err = ts__net_wait(fd, TS_WRITABLE, site);
            if (err >= 0)
                err = connect_result(fd);
            if (!err)
                TS_TRACE_FD_INFO(fd, TS_FD_CONNECTED, NULL);
            return err;
        }
        if (errno != EAGAIN || addr->sa_family != AF_UNIX)
            return -errno;
        /* A Unix listener's backlog is full: nothing in progress to wait
         * for, so try again shortly. */
        err = ts_sleep_at(0.001, site);
        if (err)
            return err;
    }
    TS_TRACE_FD_INFO(fd, TS_FD_CONNECTED, NULL);
    return 0;
}

int ts_sock_accept_at(int lfd, struct sockaddr *addr, socklen_t *len,
                      const ts_site *site) {
    int err = ts__net_enter(site);
    if (err)
        return err;
    for (;;) {
        int fd = accept4(lfd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            TS_TRACE_FD_INFO(fd, TS_FD_ACCEPTED, NULL);
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (!ts__would_block(errno))
            return -errno;
        if (ts__uring_net()) {
            ts__sop op = {.kind = TS__SOP_ACCEPT, .fd = lfd, .addr = addr,
                          .alen = addr ? len : NULL};
            ssize_t r = uring_wait(&op, TS_READABLE, site);
            if (r >= 0)
                TS_TRACE_FD_INFO((int)r, TS_FD_ACCEPTED, NULL);
            if (r >= 0 || (r != -EINTR && r != -ECONNABORTED && r != -EAGAIN))
                return (int)r;
            continue;
        }
        err = ts__net_wait(lfd, TS_READABLE, site);
        if (err < 0)
            return err;
    }
}

/* The wait of a send or receive on io_uring: the op itself.  Returns its
 * result, or -EAGAIN to try the system call again. */
static ssize_t uring_xfer(int kind, int fd, void *buf, size_t n,
                          const ts_site *site) {
    ts__sop op = {.kind = kind, .fd = fd, .buf = buf, .len = n};
    ssize_t r = uring_wait(&op, kind == TS__SOP_RECV ? TS_READABLE : TS_WRITABLE, site);
    return r == -EINTR ? -EAGAIN : r;
}

ssize_t ts_sock_recvfrom_at(int fd, void *buf, size_t n, struct sockaddr *from,
                            socklen_t *fromlen, const ts_site *site) {
    int err = ts__net_enter(site);
    if (err)
        return err;
    for (;;) {
        ssize_t r = recvfrom(fd, buf, n, 0, from, from ? fromlen : NULL);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (!ts__would_block(errno))
            return -errno;
        if (!from && ts__uring_net()) {
            r = uring_xfer(TS__SOP_RECV, fd, buf, n, site);
            if (r != -EAGAIN)
                return r;
            continue;
        }
        err = ts__net_wait(fd, TS_READABLE, site);
        if (err < 0)
            return err;
    }
}

ssize_t ts_sock_recv_at(int fd, void *buf, size_t n, const ts_site *site) {
    return ts_sock_recvfrom_at(fd, buf, n, NULL, NULL, site);
}

ssize_t ts_sock_sendto_at(int fd, const void *buf, size_t n,
                          const struct sockaddr *to, socklen_t tolen,
                          const ts_site *site) {
    int err = ts__net_enter(site);
    if (err)
        return err;
    for (;;) {
        ssize_t r = sendto(fd, buf, n, MSG_NOSIGNAL, to, to ? tolen : 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (!ts__would_block(errno))
            return -errno;
        if (!to && ts__uring_net()) {
            r = uring_xfer(TS__SOP_SEND, fd, (void *)buf, n, site);
            if (r != -EAGAIN)
                return r;
            continue;
        }
        err = ts__net_wait(fd, TS_WRITABLE, site);
        if (err < 0)
            return err;
    }
}

ssize_t ts_sock_send_at(int fd, const void *buf, size_t n, const ts_site *site) {
    return ts_sock_sendto_at(fd, buf, n, NULL, 0, site);
}

int ts_sock_sendall_at(int fd, const void *buf, size_t n, size_t *sent,
                       const ts_site *site) {
    size_t done = 0;
    int err = ts__net_enter(site);
    while (!err && done < n) {
        ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (r >= 0)
            done += (size_t)r;
        else if (ts__would_block(errno) && ts__uring_net()) {
            /* The SEND waits for room and sends: a partial count is fine
             * (the loop goes on); an error ends the call. */
            r = uring_xfer(TS__SOP_SEND, fd, (char *)buf + done, n - done, site);
            if (r >= 0)
                done += (size_t)r;
            else if (r != -EAGAIN)
                err = (int)r;
        } else if (ts__would_block(errno))
            err = ts__net_wait(fd, TS_WRITABLE, site);
        else if (errno != EINTR)
            err = -errno;
        if (err > 0)
            err = 0;
    }
    if (sent)
        *sent = done;
    return err;
}

int ts_sock_port(int fd) {
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

const char *ts_net_backend(void) {
    if (!ts__loop())
        return "none";
    return ts__uring_net() ? "uring" : "epoll";
}

/* ---- connecting and listening by name -------------------------------------- */

int ts_tcp_connect_at(const char *host, const char *port, int *fdp,
                      const ts_site *site) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int err = ts_getaddrinfo_at(host, port, &hints, &res, site);
    if (err)
        return err;
    int first = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = ts_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        err = fd;
        if (fd >= 0) {
            err = ts_sock_connect_at(fd, ai->ai_addr, ai->ai_addrlen, site);
            if (err == 0) {
                ts__set_nodelay(fd);
                *fdp = fd;
                break;
            }
            close(fd);
        }
        if (!first)
            first = err;
        if (err == -ECANCELED)
            break;
    }
    freeaddrinfo(res);
    if (err == -ECANCELED || err == 0)
        return err;
    return first;
}

int ts__listen_socket(int family, int type, int protocol,
                      const struct sockaddr *addr, socklen_t len, int backlog,
                      bool reuse_port) {
    int fd = ts_socket(family, type, protocol);
    if (fd < 0)
        return fd;
    int one = 1;
    if (family != AF_UNIX)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    if (family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, addr, len) < 0)
        goto fail;
    if (type == SOCK_STREAM && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        goto fail;
    TS_TRACE_FD_INFO(fd, type == SOCK_STREAM ? TS_FD_LISTENING : TS_FD_BOUND, NULL);
    return fd;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

int ts_tcp_listen_at(const char *host, const char *port, int backlog, int *fdp,
                     const ts_site *site) {
    struct addrinfo hints = {.ai_family = host ? AF_UNSPEC : AF_INET,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    int err = ts_getaddrinfo_at(host, port, &hints, &res, site);
    if (err)
        return err;
    int fd = ts__listen_socket(res->ai_family, res->ai_socktype, res->ai_protocol,
                               res->ai_addr, res->ai_addrlen, backlog, false);
    freeaddrinfo(res);
    if (fd < 0)
        return fd;
    *fdp = fd;
    return 0;
}

/* Resolve one end of a datagram socket: the first address of family
 * (AF_UNSPEC: any). */
static int resolve_dgram(const char *host, const char *port, int family,
                         bool passive, struct addrinfo **res,
                         const ts_site *site) {
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = passive ? AI_PASSIVE : 0};
    return ts_getaddrinfo_at(host, port, &hints, res, site);
}

int ts_udp_open_at(const char *local_host, const char *local_port,
                   const char *remote_host, const char *remote_port, int *fdp,
                   const ts_site *site) {
    struct addrinfo *remote = NULL, *local = NULL;
    int err = 0, family = AF_INET;
    if (remote_port) {
        err = resolve_dgram(remote_host, remote_port, AF_UNSPEC, false, &remote, site);
        if (err)
            return err;
        family = remote->ai_family;
    }
    if (local_port) {
        /* Bind in the remote's family; a bare port binds IPv4 like
         * ts_tcp_listen. */
        int lfam = remote ? family : local_host ? AF_UNSPEC : AF_INET;
        err = resolve_dgram(local_host, local_port, lfam, true, &local, site);
        if (err)
            goto out;
        family = local->ai_family;
    }
    int fd = ts_socket(family, SOCK_DGRAM, 0);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    if ((local && bind(fd, local->ai_addr, local->ai_addrlen) < 0) ||
        (remote && connect(fd, remote->ai_addr, remote->ai_addrlen) < 0)) {
        err = -errno;
        close(fd);
        goto out;
    }
    TS_TRACE_FD_INFO(fd, remote ? TS_FD_CONNECTED : TS_FD_BOUND, NULL);
    *fdp = fd;
out:
    if (remote)
        freeaddrinfo(remote);
    if (local)
        freeaddrinfo(local);
    return err;
}

static int unix_address(const char *path, struct sockaddr_un *sun, socklen_t *len) {
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int ts_unix_connect_at(const char *path, int *fdp, const ts_site *site) {
    struct sockaddr_un sun;
    socklen_t len;
    int err = unix_address(path, &sun, &len);
    if (err)
        return err;
    int fd = ts_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    err = ts_sock_connect_at(fd, (struct sockaddr *)&sun, len, site);
    if (err) {
        close(fd);
        return err;
    }
    *fdp = fd;
    return 0;
}

int ts_unix_listen(const char *path, int backlog, int *fdp) {
    struct sockaddr_un sun;
    socklen_t len;
    int err = unix_address(path, &sun, &len);
    if (err)
        return err;
    int fd = ts__listen_socket(AF_UNIX, SOCK_STREAM, 0, (struct sockaddr *)&sun,
                               len, backlog, false);
    if (fd < 0)
        return fd;
    *fdp = fd;
    return 0;
}
