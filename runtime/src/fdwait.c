/*
 * fdwait.c - suspending a task until a file descriptor is ready.
 *
 * Registrations use EPOLLONESHOT and are kept after they fire, so the next
 * wait on the same descriptor costs one EPOLL_CTL_MOD rather than an ADD
 * and a DEL.  A descriptor closed (and maybe reused) since is detected by
 * MOD failing with ENOENT and registered afresh.  An event that arrives for
 * a slot nobody waits on (its waiter timed out or was cancelled) is
 * ignored; ONESHOT guarantees there is at most one such event.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "loop_impl.h"
#include "net_impl.h"

struct fd_slot {
    ts_task *task;     /* the waiting task, or NULL */
    int want;          /* TS_READABLE | TS_WRITABLE */
    bool registered;   /* known to epoll (possibly disarmed) */
    /* persistent (edge-triggered) mode, for descriptors the runtime owns:
     * see ts__fd_wait */
    bool persistent;
    unsigned char ready;   /* edges seen while nobody waited */
    /* Conditions that stay true and will not raise another edge: the peer
     * shut down (TS_READABLE), hang-up or error (both).  A caller may wait
     * right after a short read without trying again (streams do), which
     * is safe for data (a later arrival is a new edge) but not for an
     * end of stream that came with the data it just read. */
    unsigned char sticky;
    ts_task *dirw[2];      /* waiting reader, writer */
    /* watched (ts__fd_watch): the loop calls fn instead of waking tasks */
    void (*watch_fn)(void *);
    void *watch_arg;
};

struct fd_timeout {
    ts__timer timer;
    ts_task *task;
};

static void fd_timed_out(ts__timer *tm) {
    ts__wake(ts__container_of(tm, struct fd_timeout, timer)->task, -ETIMEDOUT);
}

static int grow(ts_loop *l, int fd) {
    if (fd < l->nfds_cap)
        return 0;
    int cap = l->nfds_cap ? l->nfds_cap : 64;
    while (cap <= fd)
        cap *= 2;
    struct fd_slot *s = realloc(l->fds, (size_t)cap * sizeof *s);
    if (!s)
        return -ENOMEM;
    memset(s + l->nfds_cap, 0, (size_t)(cap - l->nfds_cap) * sizeof *s);
    l->fds = s;
    l->nfds_cap = cap;
    return 0;
}

static int arm(ts_loop *l, int fd, struct fd_slot *slot, int events) {
    struct epoll_event ev = {
        .events = EPOLLONESHOT | (events & TS_READABLE ? EPOLLIN | EPOLLRDHUP : 0) |
                  (events & TS_WRITABLE ? EPOLLOUT : 0),
        .data.fd = fd,
    };
    int op = slot->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    int r = epoll_ctl(l->epfd, op, fd, &ev);
    if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
        r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    else if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
        r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (r < 0)
        return -errno;
    slot->registered = true;
    return 0;
}

int ts_wait_fd_at(int fd, int events, double timeout, const ts_site *site) {
    ts_task *t = ts__current();
    if (!t)
        return TS_ENOTASK;
    if (fd < 0)
        return -EBADF;
    if (!(events & (TS_READABLE | TS_WRITABLE)))
        return -EINVAL;
    ts_loop *l = t->loop;
    int err = grow(l, fd);
    if (err)
        return err;
    struct fd_slot *slot = &l->fds[fd];
    if (slot->task || slot->persistent || slot->watch_fn)
        return -EBUSY;
    err = arm(l, fd, slot, events);
    if (err)
        return err;
    slot->task = t;
    slot->want = events;
    l->nfds_armed++;

    struct fd_timeout tmo = {.task = t};
    ts__timer_init(&tmo.timer, fd_timed_out);
    /* TS_FOREVER: no limit; <= 0 and NaN have expired (checked once). */
    if (!(isinf(timeout) && timeout > 0))
        ts__timer_start(l, &tmo.timer, ts__deadline_after(l, timeout));
    int st = ts__park(NULL, TS_WAIT_FD, (const void *)(intptr_t)fd, site);
    ts__timer_stop(l, &tmo.timer);
    /* The slot table may have moved while we were parked. */
    slot = &l->fds[fd];
    slot->task = NULL;
    l->nfds_armed--;
    if (st <= 0) {
        /* Timed out or cancelled: the registration is still armed.  Remove
         * it, or activity on this file, should the descriptor be closed
         * while a dup keeps the file open and the number be reused, would
         * later wake whoever waits on the new file.  (A registration that
         * fired is disarmed by EPOLLONESHOT and cannot do that.) */
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        slot->registered = false;
    }
    return st;
}

int ts__fd_wait(int fd, int dir, const ts_site *site) {
    ts_task *t = ts__current();
    if (!t)
        return TS_ENOTASK;
    if (fd < 0)
        return -EBADF;
    ts_loop *l = t->loop;
    int err = grow(l, fd);
    if (err)
        return err;
    struct fd_slot *slot = &l->fds[fd];
    if (slot->task || slot->watch_fn)
        return -EBUSY;
    if (!slot->persistent) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLET,
                                 .data.fd = fd};
        int r = epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
        if (r < 0 && errno == EEXIST)
            r = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev);
        if (r < 0)
            return -errno;
        slot->persistent = slot->registered = true;
        slot->ready = TS_READABLE | TS_WRITABLE; /* unknown: let the caller try */
    }
    if ((slot->ready | slot->sticky) & dir) {
        slot->ready &= (unsigned char)~dir;
        return dir;
    }
    int i = dir == TS_WRITABLE;
    if (slot->dirw[i])
        return -EBUSY;
    slot->dirw[i] = t;
    l->nfds_armed++;
    int st = ts__park(NULL, TS_WAIT_FD, (const void *)(intptr_t)fd, site);
    l->fds[fd].dirw[i] = NULL;
    l->nfds_armed--;
    return st;
}

int ts__fd_interrupt(int fd, int dir, int status) {
    ts_loop *l = ts__loop();
    if (!l || fd < 0 || fd >= l->nfds_cap)
        return 0;
    ts_task *w = l->fds[fd].dirw[dir == TS_WRITABLE];
    return w ? ts__wake(w, status) : 0;
}

void ts__fd_forget(int fd) {
    ts_loop *l = ts__loop();
    if (!l || fd < 0 || fd >= l->nfds_cap || !l->fds[fd].persistent)
        return;
    struct fd_slot *slot = &l->fds[fd];
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    slot->persistent = slot->registered = false;
    slot->ready = slot->sticky = 0;
}

static void dispatch_persistent(struct fd_slot *slot, uint32_t events) {
    static const int dirs[2] = {TS_READABLE, TS_WRITABLE};
    int ready = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        ready |= TS_READABLE;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= TS_WRITABLE;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        slot->sticky |= TS_READABLE;
    if (events & (EPOLLHUP | EPOLLERR))
        slot->sticky |= TS_WRITABLE;
    for (int i = 0; i < 2; i++)
        if ((ready & dirs[i]) && !(slot->dirw[i] && ts__wake(slot->dirw[i], dirs[i])))
            slot->ready |= (unsigned char)dirs[i];
}

int ts__fd_watch(int fd, void (*fn)(void *), void *arg) {
    ts_loop *l = ts__loop();
    if (!l || fd < 0)
        return -EBADF;
    int err = grow(l, fd);
    if (err)
        return err;
    struct fd_slot *slot = &l->fds[fd];
    if (!fn) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        memset(slot, 0, sizeof *slot);
        return 0;
    }
    if (slot->task || slot->persistent)
        return -EBUSY;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    slot->registered = true;
    slot->watch_fn = fn;
    slot->watch_arg = arg;
    return 0;
}

void ts__fd_dispatch(ts_loop *l, int fd, uint32_t events) {
    if (fd >= 0 && fd < l->nfds_cap && l->fds[fd].watch_fn) {
        l->fds[fd].watch_fn(l->fds[fd].watch_arg);
        return;
    }
    if (fd >= 0 && fd < l->nfds_cap && l->fds[fd].persistent) {
        dispatch_persistent(&l->fds[fd], events);
        return;
    }
    if (fd < 0 || fd >= l->nfds_cap || !l->fds[fd].task)
        return;
    struct fd_slot *slot = &l->fds[fd];
    int ready = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        ready |= TS_READABLE;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        ready |= TS_WRITABLE;
    ready &= slot->want;
    if (!ready)
        ready = slot->want; /* an error condition: let the caller's I/O call report it */
    ts__wake(slot->task, ready);
}

void ts__fd_close(ts_loop *l) {
    ts__uring_loop_close(l); /* its eventfd is in this table */
    free(l->fds);
    l->fds = NULL;
    l->nfds_cap = 0;
}
