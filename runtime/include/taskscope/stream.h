/*
 * taskscope/stream.h - buffered byte streams over a connection, in the
 * spirit of asyncio's StreamReader/StreamWriter (one object plays both).
 *
 *     ts_stream *s;
 *     int err = ts_open_connection("example.com", "80", &s);
 *     ts_stream_write(s, req, len);           // never suspends
 *     err = ts_stream_drain(s);               // flow control
 *     char line[1024];
 *     ssize_t n = ts_stream_readline(s, line, sizeof line);
 *     ts_stream_close(s);
 *     err = ts_stream_wait_closed(s);
 *     ts_stream_free(s);
 *
 * Reading.  One task at a time may read (another reader gets -EBUSY), while
 * another task writes.  Reads take what the stream has buffered first and
 * go to the socket only when that is empty; a read that suspends and is
 * cancelled consumes nothing: the bytes it had gathered stay in the
 * stream for the next read.  End of stream is 0 from ts_stream_read and
 * TS_EOF from the calls that need more than the peer sent.
 *
 * Writing.  ts_stream_write never suspends: it sends at once what the
 * kernel takes and keeps the rest in the stream's write buffer, which the
 * stream then sends in the background (a task of its own, spawned only
 * while there is something left to send), exactly as asyncio's transport
 * does.  ts_stream_drain is the flow control: it suspends while the buffer
 * is above its high-water mark (64 KiB) until it is back at the low-water
 * mark (16 KiB).  A write error (-EPIPE, -ECONNRESET) is sticky: later
 * writes and drains return it.
 *
 * Closing.  ts_stream_close starts a graceful close (what is buffered is
 * still sent, then the descriptor is closed); ts_stream_wait_closed waits
 * for it; ts_stream_abort drops buffered data and closes at once.
 * ts_stream_free gives up the handle: a stream not closed yet is closed
 * gracefully in the background, so free never loses written data and never
 * leaks the descriptor.  No descriptor outlives its stream's close on any
 * path, including cancellation and errors.
 *
 * Every suspending call returns -ECANCELED when the task is cancelled, so
 * ts_wait_for() and timeout scopes put time limits on them.  A stream
 * belongs to the loop it was made on.
 */
#ifndef TASKSCOPE_STREAM_H
#define TASKSCOPE_STREAM_H

#include <sys/types.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_stream ts_stream;

/*
 * ts_open_connection - asyncio.open_connection: connect over TCP (see
 * ts_tcp_connect in net.h) and wrap the socket in a stream.  Suspends.
 * Returns 0 and *out, or a resolution or connect error, -ENOMEM or
 * -ECANCELED; nothing is left open on failure.
 * ts_open_unix_connection does the same for a Unix socket path.
 */
#define ts_open_connection(host, port, out) \
    ts_open_connection_at((host), (port), (out), TS_HERE)
int ts_open_connection_at(const char *host, const char *port, ts_stream **out,
                          const ts_site *site);
#define ts_open_unix_connection(path, out) \
    ts_open_unix_connection_at((path), (out), TS_HERE)
int ts_open_unix_connection_at(const char *path, ts_stream **out,
                               const ts_site *site);

/*
 * ts_stream_new - wrap a connected descriptor (socket, pipe, tty) in a
 * stream, which then owns it and sets it non-blocking.  Must be called on
 * a loop's thread.  Returns 0, -EBADF, -ENOMEM or TS_ENOTASK (no loop); on
 * failure fd is left open and still the caller's.  Does not suspend.
 * The call site is kept for diagnostics: a stream used after
 * ts_stream_free gives TS_EFREED (every call that returns an error; close,
 * abort and free do nothing; the readers give -1 / 0) and a
 * TS_DIAG_USE_AFTER_FREE report naming where it was created, used and
 * freed.  Only the debug runtime recognises a freed stream (for the next
 * 1024 object frees); in the release runtime that is a use of freed
 * memory.  A stream is tied to no loop.
 */
#define ts_stream_new(fd, out) ts_stream_new_at((fd), (out), TS_HERE)
int ts_stream_new_at(int fd, ts_stream **out, const ts_site *site);
int (ts_stream_new)(int fd, ts_stream **out);

/*
 * ts_stream_read - read up to n bytes, suspending until at least one is
 * available.  Returns the count, 0 at end of stream (and for n == 0), a
 * read error (-ECONNRESET, ...; sticky), -EBUSY if another task is
 * reading, or -ECANCELED (nothing consumed).
 */
#define ts_stream_read(s, buf, n) ts_stream_read_at((s), (buf), (n), TS_HERE)
ssize_t ts_stream_read_at(ts_stream *s, void *buf, size_t n, const ts_site *site);

/*
 * ts_stream_read_exactly - read exactly n bytes into buf, suspending as
 * needed.  Returns 0 (and *got = n).  If the stream ends first, returns
 * TS_EOF and the partial data: buf holds the *got bytes that did arrive
 * (asyncio's IncompleteReadError.partial; *got == 0 means the stream ended
 * cleanly on a message boundary).  On any other error or -ECANCELED
 * nothing is consumed (*got = 0): the partial bytes stay in the stream.
 * got may be NULL.
 */
#define ts_stream_read_exactly(s, buf, n, got) \
    ts_stream_read_exactly_at((s), (buf), (n), (got), TS_HERE)
int ts_stream_read_exactly_at(ts_stream *s, void *buf, size_t n, size_t *got,
                              const ts_site *site);

/*
 * ts_stream_read_until - read up to and including the first occurrence of
 * the delimiter (dlen > 0 bytes) and store it in buf (capacity cap); *len
 * receives the length, delimiter included.  Suspends as needed.  Returns
 * 0; TS_EOF if the stream ended before a delimiter, with the *len bytes
 * that did arrive in buf (consumed); -EMSGSIZE if no delimiter shows up
 * within cap bytes (the data stays in the stream: read it with
 * ts_stream_read); -EINVAL for dlen == 0; a read error; or -ECANCELED
 * (nothing consumed).
 */
#define ts_stream_read_until(s, delim, dlen, buf, cap, len) \
    ts_stream_read_until_at((s), (delim), (dlen), (buf), (cap), (len), TS_HERE)
int ts_stream_read_until_at(ts_stream *s, const void *delim, size_t dlen,
                            void *buf, size_t cap, size_t *len,
                            const ts_site *site);

/*
 * ts_stream_readline - read one line, '\n' included, into buf and
 * NUL-terminate it (so a line may be up to cap - 1 bytes).  Returns its
 * length; at end of stream the last, unterminated line (like asyncio's
 * readline), or 0 when nothing is left.  -EMSGSIZE if the line does not
 * fit (it stays in the stream); other errors as ts_stream_read_until.
 */
#define ts_stream_readline(s, buf, cap) ts_stream_readline_at((s), (buf), (cap), TS_HERE)
ssize_t ts_stream_readline_at(ts_stream *s, char *buf, size_t cap,
                              const ts_site *site);

/*
 * ts_stream_write - queue n bytes for sending; never suspends.  What the
 * socket accepts is sent at once; the rest is buffered and sent in the
 * background.  Returns 0, the sticky write error, -EPIPE once the stream
 * is closing or after ts_stream_write_eof, or -ENOMEM.
 */
int ts_stream_write(ts_stream *s, const void *buf, size_t n);

/*
 * ts_stream_drain - wait until the write buffer is below the high-water
 * mark (returns at once when it already is).  Returns 0, the sticky write
 * error, -EPIPE if the stream was closed or aborted (also when the abort
 * comes while it waits: the buffered data was dropped, not sent), or
 * -ECANCELED (the buffered data is still sent).
 */
#define ts_stream_drain(s) ts_stream_drain_at((s), TS_HERE)
int ts_stream_drain_at(ts_stream *s, const ts_site *site);

/*
 * ts_stream_write_eof - shut down the sending side once the buffer is sent
 * (half-close: the peer reads end of stream, this side can still read).
 * Sockets only: over a pipe, the reader sees end of stream once the stream
 * is closed.  Does not suspend.  Returns 0, -EPIPE if closing, or a
 * shutdown(2) error.
 */
int ts_stream_write_eof(ts_stream *s);

/*
 * ts_stream_close - start closing: writes fail with -EPIPE from now on, a
 * task suspended in a read sees end of stream, buffered data is still
 * sent, then the descriptor is closed.  Does not suspend; idempotent.
 * ts_stream_abort - the same, but buffered data is dropped.
 */
void ts_stream_close(ts_stream *s);
void ts_stream_abort(ts_stream *s);

/*
 * ts_stream_wait_closed - suspend until the descriptor has been closed
 * (after ts_stream_close or abort).  Returns 0, the write error that cut
 * the flush short, or -ECANCELED (the close goes on in the background).
 * Returns -EINVAL if the stream is not closing.
 */
#define ts_stream_wait_closed(s) ts_stream_wait_closed_at((s), TS_HERE)
int ts_stream_wait_closed_at(ts_stream *s, const ts_site *site);

/*
 * ts_stream_free - give up the handle.  A stream not closed yet is closed
 * as by ts_stream_close (gracefully, in the background).  A task still
 * inside a call on s sees the close (a read returns end of stream); the
 * memory goes when the last such call has returned.  NULL is ignored.
 */
#define ts_stream_free(s) ts_stream_free_at((s), TS_HERE)
void ts_stream_free_at(ts_stream *s, const ts_site *site);
void (ts_stream_free)(ts_stream *s);

/* Accessors; none suspends.  ts_stream_at_eof: 1 when the next read would
 * return end of stream: the peer has ended the stream (or this side is
 * closing) and nothing buffered is left to read, as asyncio's at_eof.  It
 * asks the kernel (poll, FIONREAD) when no read has seen the end yet, and
 * consumes nothing; after a read error it is 0. */
int ts_stream_fd(const ts_stream *s);
int ts_stream_at_eof(const ts_stream *s);
size_t ts_stream_read_buffer_size(const ts_stream *s);
size_t ts_stream_write_buffer_size(const ts_stream *s);

/* ts_stream_set_write_limits - the high- and low-water marks of drain
 * (asyncio's set_write_buffer_limits; 0, 0: drain waits until everything
 * is sent).  Returns 0 or -EINVAL if low > high. */
int ts_stream_set_write_limits(ts_stream *s, size_t high, size_t low);

/*
 * Servers, asyncio.start_server: a listening socket, and a task per
 * connection running handler(stream, arg).  The stream belongs to the
 * server: when the handler returns it is closed gracefully and freed.  A
 * handler returning a negative code ends its task with that error, which
 * is reported like any other task failure nobody retrieved.
 */
typedef int (*ts_stream_handler)(ts_stream *s, void *arg);
typedef struct ts_server ts_server;

/* Options for ts_start_server.  Zero-initialise; NULL means all defaults. */
typedef struct ts_server_opts {
    int backlog;            /* listen(2) backlog; 0: SOMAXCONN */
    int reuse_port;         /* set SO_REUSEPORT */
    size_t stack_size;      /* handler tasks' stacks; 0: the loop's default */
} ts_server_opts;

/*
 * ts_start_server - listen on host:port (host NULL: every IPv4 and IPv6
 * address; port "0": a free port, see ts_server_port) and start serving.
 * Every address the host resolves to gets its own listening socket.
 * Suspends only to resolve names.  Returns 0 and *out, or a resolution,
 * bind or listen error (-EADDRINUSE, ...), -ENOMEM, or -ECANCELED; no
 * socket is left open on failure.
 * ts_start_unix_server listens on a Unix socket path instead; the socket
 * file stays when the server closes (unlink it, as after ts_unix_listen).
 */
#define ts_start_server(handler, arg, host, port, opts, out) \
    ts_start_server_at((handler), (arg), (host), (port), (opts), (out), TS_HERE)
int ts_start_server_at(ts_stream_handler handler, void *arg, const char *host,
                       const char *port, const ts_server_opts *opts,
                       ts_server **out, const ts_site *site);
int ts_start_unix_server(ts_stream_handler handler, void *arg,
                         const char *path, const ts_server_opts *opts,
                         ts_server **out);

/* ts_server_port - the TCP port of the first listening socket, or a
 * negative errno (-EBADF once closed).  ts_server_fd - listening socket i,
 * or -1. */
int ts_server_port(const ts_server *srv);
int ts_server_fd(const ts_server *srv, size_t i);

/*
 * ts_server_close - stop listening: the listening sockets are closed; the
 * connections being served go on, and one the kernel had queued but the
 * server had not yet taken up is reset, as in asyncio (a client that
 * must be served waits until ts_server_connections counts it).  Does not
 * suspend; idempotent.
 * ts_server_close_clients / ts_server_abort_clients close (gracefully) or
 * abort every connection being served: the handlers' reads see end of
 * stream and their writes fail with -EPIPE.
 */
void ts_server_close(ts_server *srv);
void ts_server_close_clients(ts_server *srv);
void ts_server_abort_clients(ts_server *srv);

/*
 * ts_server_wait_closed - suspend until the server is closed and every
 * handler has returned.  Returns 0 or -ECANCELED.
 */
#define ts_server_wait_closed(srv) ts_server_wait_closed_at((srv), TS_HERE)
int ts_server_wait_closed_at(ts_server *srv, const ts_site *site);

/*
 * ts_serve_forever - suspend until the calling task is cancelled, then
 * close the server (not its connections) and return -ECANCELED.
 */
#define ts_serve_forever(srv) ts_serve_forever_at((srv), TS_HERE)
int ts_serve_forever_at(ts_server *srv, const ts_site *site);

/* ts_server_connections - how many connections are being served now. */
size_t ts_server_connections(const ts_server *srv);

/*
 * ts_server_free - give up the handle.  Closes the server if it is open;
 * connections still being served go on, and the memory goes when the last
 * handler returns.  NULL is ignored.  A server used after ts_server_free
 * gives TS_EFREED (wait_closed, serve_forever, port; close, free and the
 * client calls do nothing; fd gives -1, connections 0) and a
 * TS_DIAG_USE_AFTER_FREE report naming where it was started, used and
 * freed.  Only the debug runtime recognises a freed server (for the next
 * 1024 object frees); in the release runtime that is a use of freed
 * memory.  A server is tied to no loop.
 */
#define ts_server_free(srv) ts_server_free_at((srv), TS_HERE)
void ts_server_free_at(ts_server *srv, const ts_site *site);
void (ts_server_free)(ts_server *srv);

#ifdef __cplusplus
}
#endif
#endif
