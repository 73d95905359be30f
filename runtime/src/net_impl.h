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

/* Turn Nagle off on a TCP socket (asyncio does for every connection);
 * ignores sockets that are not TCP. */
void ts__set_nodelay(int fd);

#endif
