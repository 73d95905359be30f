/*
 * taskscope/net.h - non-blocking sockets: name resolution, connect, accept,
 * send and receive on TCP, UDP and Unix sockets (asyncio's loop.sock_*,
 * getaddrinfo and the socket halves of open_connection / start_server).
 *
 * Every descriptor this API creates is non-blocking and close-on-exec, and
 * belongs to the caller, who closes it with close(2).  The calls that take
 * an fd expect a non-blocking socket (ts_socket() makes one).
 *
 * Suspending calls try the system call first and park the task only when
 * it would block (EAGAIN), so an already-ready socket costs one system call
 * and no trip through the loop.  A task that keeps finding its sockets
 * ready still yields to the loop now and then (every 64 calls that did not
 * suspend), so it cannot starve other tasks, and so that a pending
 * cancellation is delivered.
 *
 * Cancellation: every suspending call returns -ECANCELED when the calling
 * task is cancelled while it waits (or at such a yield), having done
 * nothing that cannot be seen: no data is consumed or half-sent beyond
 * what the call reports, and any descriptor the call created is closed.
 * So every call composes with ts_wait_for() and timeout scopes
 * (ts_timeout_enter), which is how time limits are put on them.
 *
 * Backends: where the kernel has io_uring (and the build has liburing), a
 * call that would block waits by submitting the operation itself (RECV,
 * SEND, ACCEPT) on the loop's ring, which completes it when the socket is
 * ready; otherwise, or with TASKSCOPE_NET=epoll in the environment, it
 * waits for readiness with epoll and retries.  The semantics are the same
 * on both.  On io_uring a cancelled call may find that its operation
 * completed before the cancellation reached it: it then returns that
 * result (the bytes or the connection are the caller's) and the
 * cancellation is delivered at the task's next suspension.
 *
 * One task may wait to read and another to write the same socket at the
 * same time (a reader task and a writer task per connection, as in a
 * proxy).  Two tasks waiting in the same direction on one socket is an
 * error: the second gets -EBUSY.
 *
 * Errors are negative errno codes from the system calls (-ECONNREFUSED,
 * -ECONNRESET, -EPIPE, ...), plus TS_ENOTASK outside a task.  Sends never
 * raise SIGPIPE: a send to a closed peer returns -EPIPE.
 */
#ifndef TASKSCOPE_NET_H
#define TASKSCOPE_NET_H

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ts_getaddrinfo - getaddrinfo(3) that does not block the loop.
 *
 * A numeric host ("127.0.0.1", "::1", or NULL) with a numeric or NULL port
 * is resolved at once, without suspending.  Anything else runs getaddrinfo
 * on the loop's default executor (ts_to_thread) while the task suspends.
 * hints may be NULL (any family, any socket type, no flags).  On success
 * *res holds the list, to be freed with freeaddrinfo(3).
 *
 * Returns 0, or: -ENXIO (no such host, or no address of the family asked
 * for), -EAGAIN (temporary failure, try again), -EINVAL (bad service name
 * or flags), -EAFNOSUPPORT, -ESOCKTNOSUPPORT, -EIO (permanent resolver
 * failure), -ENOMEM, the errno of a system error, -ECANCELED, TS_ENOTASK.
 * Cancellation returns at once; a lookup already running in a worker
 * thread finishes there and its result is freed, never leaked.
 */
/* Declared here because <netdb.h> defines it only for POSIX programs: a
 * strict -std=c11 user without _POSIX_C_SOURCE still compiles. */
struct addrinfo;
#define ts_getaddrinfo(host, port, hints, res) \
    ts_getaddrinfo_at((host), (port), (hints), (res), TS_HERE)
int ts_getaddrinfo_at(const char *host, const char *port,
                      const struct addrinfo *hints, struct addrinfo **res,
                      const ts_site *site);

/*
 * ts_socket - socket(2) made non-blocking and close-on-exec.  Returns the
 * descriptor or a negative errno.  Does not suspend.
 */
int ts_socket(int domain, int type, int protocol);

/*
 * ts_sock_connect - connect the non-blocking socket fd to addr, suspending
 * until the connection is established or has failed.  Returns 0,
 * -ECONNREFUSED, -ENETUNREACH, -ETIMEDOUT (the kernel gave up), any other
 * connect(2) error, or -ECANCELED.  After a failure or cancellation the
 * socket's state is unspecified: close it (fd stays the caller's).
 */
#define ts_sock_connect(fd, addr, len) ts_sock_connect_at((fd), (addr), (len), TS_HERE)
int ts_sock_connect_at(int fd, const struct sockaddr *addr, socklen_t len,
                       const ts_site *site);

/*
 * ts_sock_accept - accept a connection on the listening socket lfd,
 * suspending until one arrives.  Returns the new descriptor (non-blocking,
 * close-on-exec) and fills addr/len when addr is not NULL; or a negative
 * errno (-EMFILE when out of descriptors, ...), or -ECANCELED, in which
 * case no connection was taken from the backlog.
 */
#define ts_sock_accept(lfd, addr, len) ts_sock_accept_at((lfd), (addr), (len), TS_HERE)
int ts_sock_accept_at(int lfd, struct sockaddr *addr, socklen_t *len,
                      const ts_site *site);

/*
 * ts_sock_recv - receive up to n bytes, suspending until at least one byte
 * has arrived or the peer has shut down its side.  Returns the number of
 * bytes (0: end of stream, or an empty datagram), -ECONNRESET and other
 * recv(2) errors, or -ECANCELED (nothing was received).
 */
#define ts_sock_recv(fd, buf, n) ts_sock_recv_at((fd), (buf), (n), TS_HERE)
ssize_t ts_sock_recv_at(int fd, void *buf, size_t n, const ts_site *site);

/*
 * ts_sock_send - send up to n bytes, suspending until at least one can be
 * sent.  Returns the number sent (may be less than n: a partial send),
 * -EPIPE / -ECONNRESET and other send(2) errors, or -ECANCELED (nothing
 * was sent).
 */
#define ts_sock_send(fd, buf, n) ts_sock_send_at((fd), (buf), (n), TS_HERE)
ssize_t ts_sock_send_at(int fd, const void *buf, size_t n, const ts_site *site);

/*
 * ts_sock_sendall - send all n bytes, suspending as often as the socket
 * fills.  Returns 0 or the error that stopped it (-ECANCELED included);
 * *sent (may be NULL) receives the number of bytes sent either way, so a
 * cancelled or timed-out sendall says exactly how far it got.
 */
#define ts_sock_sendall(fd, buf, n, sent) \
    ts_sock_sendall_at((fd), (buf), (n), (sent), TS_HERE)
int ts_sock_sendall_at(int fd, const void *buf, size_t n, size_t *sent,
                       const ts_site *site);

/*
 * ts_sock_recvfrom / ts_sock_sendto - datagrams (UDP, Unix datagram).
 * recvfrom suspends until a datagram arrives and returns its length
 * (truncated to n), filling from/fromlen when from is not NULL.  sendto
 * suspends only while the socket's send buffer is full and returns the
 * length sent; to may be NULL on a connected socket.  Errors as recv/send;
 * -ECANCELED means nothing was received / sent.
 */
#define ts_sock_recvfrom(fd, buf, n, from, fromlen) \
    ts_sock_recvfrom_at((fd), (buf), (n), (from), (fromlen), TS_HERE)
ssize_t ts_sock_recvfrom_at(int fd, void *buf, size_t n, struct sockaddr *from,
                            socklen_t *fromlen, const ts_site *site);
#define ts_sock_sendto(fd, buf, n, to, tolen) \
    ts_sock_sendto_at((fd), (buf), (n), (to), (tolen), TS_HERE)
ssize_t ts_sock_sendto_at(int fd, const void *buf, size_t n,
                          const struct sockaddr *to, socklen_t tolen,
                          const ts_site *site);

/*
 * ts_tcp_connect - resolve host and port (see ts_getaddrinfo) and connect
 * to the first address that accepts, trying each in turn.  On success *fd
 * is a connected TCP socket with TCP_NODELAY set (as asyncio does).
 * Returns 0, the first address's connect error when none accepted
 * (-ECONNREFUSED, ...), a resolution error, or -ECANCELED.  Suspends.
 * No descriptor is left open on any error or cancellation.
 */
#define ts_tcp_connect(host, port, fd) ts_tcp_connect_at((host), (port), (fd), TS_HERE)
int ts_tcp_connect_at(const char *host, const char *port, int *fd,
                      const ts_site *site);

/*
 * ts_tcp_listen - a listening TCP socket bound to host:port (host NULL:
 * every local IPv4 address, "::" for IPv6; port "0": any free port, see
 * ts_sock_port).  SO_REUSEADDR is set.  backlog <= 0 means SOMAXCONN.
 * Resolves like ts_getaddrinfo, so may suspend for a host name.  Returns 0
 * and *fd, or a resolution, socket, bind or listen error, or -ECANCELED.
 */
#define ts_tcp_listen(host, port, backlog, fd) \
    ts_tcp_listen_at((host), (port), (backlog), (fd), TS_HERE)
int ts_tcp_listen_at(const char *host, const char *port, int backlog, int *fd,
                     const ts_site *site);

/*
 * ts_udp_open - a UDP socket, bound to local_host:local_port if local_port
 * is not NULL and connected to remote_host:remote_port if remote_port is
 * not NULL (asyncio's create_datagram_endpoint).  With neither, an unbound
 * IPv4 socket.  May suspend to resolve names.  Returns 0 and *fd, or an
 * error as ts_tcp_listen, or -ECANCELED.
 */
#define ts_udp_open(local_host, local_port, remote_host, remote_port, fd)    \
    ts_udp_open_at((local_host), (local_port), (remote_host), (remote_port), \
                   (fd), TS_HERE)
int ts_udp_open_at(const char *local_host, const char *local_port,
                   const char *remote_host, const char *remote_port, int *fd,
                   const ts_site *site);

/*
 * ts_unix_connect - connect a stream socket to the Unix socket at path.
 * Returns 0 and *fd, -ENOENT (no such socket), -ECONNREFUSED (nobody
 * listens), -ENAMETOOLONG, or -ECANCELED.  May suspend.
 */
#define ts_unix_connect(path, fd) ts_unix_connect_at((path), (fd), TS_HERE)
int ts_unix_connect_at(const char *path, int *fd, const ts_site *site);

/*
 * ts_unix_listen - a listening Unix stream socket at path.  A stale socket
 * file left at path is not removed (bind then fails with -EADDRINUSE);
 * the caller unlinks the path when done.  Does not suspend.
 */
int ts_unix_listen(const char *path, int backlog, int *fd);

/* ts_sock_port - the local port a socket is bound to (host order), or a
 * negative errno.  For servers started on port "0". */
int ts_sock_port(int fd);

/*
 * ts_net_backend - "uring" or "epoll": how the calling thread's loop waits
 * on sockets (see Backends above; choosing now if it has not yet), or
 * "none" outside a loop.  Does not suspend.
 */
const char *ts_net_backend(void);

#ifdef __cplusplus
}
#endif
#endif
