/*
 * net_impl.h - what the socket, stream, server and resolver files share
 * (runtime/src/socket.c, stream.c, server.c, resolve.c); users never see
 * it.
 */
#ifndef TS_NET_IMPL_H
#define TS_NET_IMPL_H

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "internal.h"

/* A wake status of ts__net_wait meaning "the object owning this fd is
 * closing": no system call produces it on a socket wait. */
#define TS__NET_CLOSING (-ESHUTDOWN)

static inline bool ts__would_block(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

/*
 * ts__net_wait - suspend until fd is ready in direction dir (TS_READABLE
 * or TS_WRITABLE), allowing one task per direction on the same fd at once
 * (ts_wait_fd allows one task per fd).  Returns dir (> 0), -ECANCELED,
 * -EBUSY if a task already waits in that direction, a ts_wait_fd error, or
 * the status given to ts__net_interrupt.
 */
int ts__net_wait(int fd, int dir, const ts_site *site);

/* ts__net_interrupt - wake the task waiting on fd in direction dir with
 * status (negative).  Returns 1 if a task was woken, 0 if none waited. */
int ts__net_interrupt(int fd, int dir, int status);

/*
 * ts__net_enter - the start of every suspending socket or stream call:
 * TS_ENOTASK outside a task; otherwise counts one call that may complete
 * without suspending, and every 64th such call in a row yields to the loop
 * (returning -ECANCELED if a cancellation was pending).  Returns 0 to go on.
 */
int ts__net_enter(const ts_site *site);

/* A listening socket for one resolved address: SO_REUSEADDR, optional
 * SO_REUSEPORT, IPV6_V6ONLY for IPv6 (so "::" and "0.0.0.0" can both be
 * bound).  Returns the fd or a negative errno; nothing is left open on
 * error. */
int ts__listen_socket(int family, int type, int protocol,
                      const struct sockaddr *addr, socklen_t len, int backlog,
                      bool reuse_port);

typedef struct ts_stream ts_stream;

/* ts__stream_wrap - ts_stream_new for a descriptor already known to be
 * non-blocking (accept4, ts_socket, pipe2 with O_NONBLOCK), saying whether
 * it is a socket: no checks, no system calls. */
int ts__stream_wrap(int fd, bool is_sock, ts_stream **out);

/* ts__stream_on_closed - call fn(arg) once s's descriptor has been closed
 * (at once if it already is).  For the server, which counts a connection
 * as served until then.  One registration per stream. */
void ts__stream_on_closed(ts_stream *s, void (*fn)(void *), void *arg);

/* ts__stream_abort - ts_stream_abort for the runtime's own use: it may
 * abort a stream whose handle was already freed (a server connection whose
 * handler returned), which ts_stream_abort refuses as a use after free. */
void ts__stream_abort(ts_stream *s);

/* ---- the io_uring socket backend (uring.c) ------------------------------
 *
 * Chosen at run time: io_uring when the kernel offers the socket opcodes
 * and TASKSCOPE_NET is not "epoll"; otherwise the epoll readiness path.
 * Either way a call first tries its system call and only waits when it
 * would block; on io_uring the wait *is* the operation (a RECV, SEND or
 * ACCEPT SQE the kernel completes when the socket is ready), which saves
 * the second system call a readiness wait needs. */

enum { TS__SOP_RECV, TS__SOP_SEND, TS__SOP_ACCEPT, TS__SOP_POLL };

/* One socket operation, on its caller's stack: the caller never returns
 * before its completion is reaped (even when cancelled), so the record and
 * the buffer it names stay valid while the kernel may use them. */
typedef struct ts__sop {
    int kind;
    int fd;
    void *buf;              /* RECV, SEND: the caller's */
    size_t len;
    int flags;              /* RECV/SEND: MSG_*; POLL: POLLIN/POLLOUT */
    struct sockaddr *addr;  /* ACCEPT: may be NULL */
    socklen_t *alen;
    /* set by the backend */
    int res;
    bool done, parked, cancelled;
    ts_task *task;
} ts__sop;

/* ts__uring_net - true if this loop's sockets use io_uring. */
bool ts__uring_net(void);

/* ts__uring_sock - run op on the loop's ring, suspending until it
 * completes.  Returns its result (a count, an fd, a poll mask, or -errno);
 * -ECANCELED if the task was cancelled before the op did anything (if it
 * had completed, its result is returned and the cancellation is delivered
 * at the task's next suspension); TS__NET_CLOSING if ts__uring_interrupt
 * cancelled it; -ENOSYS without a ring. */
ssize_t ts__uring_sock(ts__sop *op, const ts_site *site);

/* ts__uring_interrupt - ask the kernel to cancel op (in flight, waited for
 * by another task), whose caller then gets TS__NET_CLOSING. */
void ts__uring_interrupt(ts__sop *op);

/* ts__uring_wait - the loop's wait for I/O, in the ring, when its ring
 * defers task work (uring.c): submit what is queued, run completions,
 * wait up to timeout_ns (-1: no limit; 0: not at all) for a completion or
 * for the loop's epoll set.  1 when the epoll set may hold events (the
 * caller collects them without waiting), 0 when not, -ENOSYS when the
 * loop has no such ring (the caller waits in epoll_wait). */
int ts__uring_wait(ts_loop *l, int64_t timeout_ns);

/* ts__uring_loop_close - the loop is closing: cancel what is left on its
 * ring and close the ring (fdwait.c's ts__fd_close calls it), so a loop
 * leaves no descriptor behind. */
void ts__uring_loop_close(ts_loop *loop);

/* fdwait.c: call fn(arg) from the loop whenever fd (owned by the caller,
 * registered edge-triggered for reading) becomes readable; fn NULL
 * removes it.  For the ring's eventfd. */
int ts__fd_watch(int fd, void (*fn)(void *), void *arg);

/* Turn Nagle off on a TCP socket (asyncio does for every connection);
 * ignores sockets that are not TCP. */
void ts__set_nodelay(int fd);

#endif
