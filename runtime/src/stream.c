/*
 * stream.c - buffered streams over a connected descriptor (stream.h).
 *
 * Reading fills rbuf only when a call needs to look ahead (read_until,
 * readline); plain reads go from the socket straight into the caller's
 * buffer when rbuf is empty.  After a read that returned less than asked,
 * the socket is almost surely drained, so the next read waits for
 * readiness first instead of spending a system call on EAGAIN.
 *
 * Writing sends at once what the kernel takes; the rest goes to wbuf and a
 * flusher task (spawned only while wbuf is not empty) sends it.  paused is
 * asyncio's flow control: set when wbuf passes `high`, cleared when the
 * flusher brings it down to `low`; drain waits while it is set.
 *
 * Lifetime.  refs counts the handle plus every task inside a call on the
 * stream (including the flusher), so the memory outlives all of them.  nio
 * counts the tasks that may be waiting on the descriptor (the reader and
 * the flusher): the descriptor is closed only when the stream is closing,
 * nio is zero and nothing is left to send (maybe_finish_close), so no task
 * is ever parked on a closed (and maybe reused) fd number.  The flusher's
 * exit is handled by a done-watch, which also runs when the flusher is
 * cancelled before it ever ran (as at loop shutdown), so that path cannot
 * leak the descriptor either.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_impl.h"
#include "tracepoints.h"

#define READ_CHUNK (64u * 1024u)
#define DEFAULT_HIGH (64u * 1024u)
#define DEFAULT_LOW (16u * 1024u)

struct ts_stream {
    ts__obj obj;        /* first: no loop; creation site, live/freed */
    int fd;
    bool is_sock;
    int refs;
    bool handle_gone;
    /* reading: bytes rbuf[rpos, rpos + rlen) */
    char *rbuf;
    size_t rpos, rlen, rcap;
    bool reading;       /* a task is inside a read call */
    bool eof;           /* the peer ended the stream */
    bool short_read;    /* the last read got less than asked */
    int rerr;           /* sticky read error */
    ts__sop *rop;       /* io_uring: the reader's op in flight, or NULL */
    /* writing: bytes wbuf[wpos, wpos + wlen) */
    char *wbuf;
    size_t wpos, wlen, wcap;
    size_t high, low;
    bool paused;
    bool want_eof, eof_sent;
    int werr;           /* sticky write error */
    ts__sop *wop;       /* io_uring: the flusher's op in flight, or NULL */
    ts_task *flusher;
    ts__done_watch flush_watch;
    ts__node drain_waiters;
    /* closing */
    int nio;
    bool closing, aborted, closed;
    ts__node close_waiters;
    void (*on_closed)(void *);
    void *on_closed_arg;
};

static void wake_all(ts__node *list, int status) {
    ts__node *n;
    while ((n = ts__list_first(list)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, status); /* unlinks */
}

static void close_fd(ts_stream *s) {
    TS_TRACE_FD_INFO(s->fd, TS_FD_CLOSED, NULL);
    ts__fd_forget(s->fd);
    close(s->fd);
    s->closed = true;
    wake_all(&s->close_waiters, 0);
    wake_all(&s->drain_waiters, 0);
    if (s->on_closed)
        s->on_closed(s->on_closed_arg);
}

static void maybe_finish_close(ts_stream *s) {
    if (!s->closing || s->closed || s->nio > 0 || s->flusher ||
        (s->wlen > 0 && !s->aborted))
        return;
    close_fd(s);
}

void ts__stream_on_closed(ts_stream *s, void (*fn)(void *), void *arg) {
    s->on_closed = fn;
    s->on_closed_arg = arg;
    if (s->closed)
        fn(arg);
}

static void stream_unref(ts_stream *s) {
    if (--s->refs > 0)
        return;
    /* No handle and nobody inside: closing is set and nothing waits on the
     * fd, so it is closed now if it was not already. */
    if (!s->closed)
        close_fd(s);
    free(s->rbuf);
    free(s->wbuf);
    ts__obj_free(&s->obj, s->obj.freed);
}

/* 0 if the handle is live; else TS_EFREED, reported (objcheck.c).  A
 * stream is tied to no loop, so this checks liveness only; the calls that
 * wait check the loop through ts__net_enter as before. */
static int stream_check(const ts_stream *s, const char *what, const ts_site *site) {
    return s->obj.magic == TS__OBJ_LIVE ? 0 : ts__obj_misuse(&s->obj, what, site);
}

int ts__stream_wrap(int fd, bool is_sock, ts_stream **out) {
    ts_stream *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    ts__obj_init(&s->obj, NULL, "ts_stream", NULL);
    s->fd = fd;
    s->is_sock = is_sock;
    s->refs = 1;
    s->high = DEFAULT_HIGH;
    s->low = DEFAULT_LOW;
    ts__list_init(&s->drain_waiters);
    ts__list_init(&s->close_waiters);
    *out = s;
    return 0;
}

int ts_stream_new_at(int fd, ts_stream **out, const ts_site *site) {
    if (!ts__loop())
        return TS_ENOTASK;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -EBADF;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
        return -errno;
    int err = ts__stream_wrap(fd, S_ISSOCK(st.st_mode), out);
    if (!err)
        (*out)->obj.created = site;
    return err;
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
int (ts_stream_new)(int fd, ts_stream **out) { return ts_stream_new_at(fd, out, NULL); }

void (ts_stream_free)(ts_stream *s) { ts_stream_free_at(s, NULL); }

/* ---- reading ----------------------------------------------------------------- */

static int begin_read(ts_stream *s, const ts_site *site) {
    int err = stream_check(s, "ts_stream_read", site);
    if (err)
        return err;
    if (s->reading)
        return -EBUSY;
    err = ts__net_enter(site);
    if (err)
        return err;
    s->reading = true;
    s->refs++;
    s->nio++;
    return 0;
}

static void end_read(ts_stream *s) {
    s->reading = false;
    s->nio--;
    maybe_finish_close(s);
    stream_unref(s);
}

/* Move up to n buffered bytes to dst. */
static size_t take(ts_stream *s, void *dst, size_t n) {
    if (n > s->rlen)
        n = s->rlen;
    if (n == 0)
        return 0; /* rbuf may not exist yet */
    memcpy(dst, s->rbuf + s->rpos, n);
    s->rpos += n;
    s->rlen -= n;
    if (s->rlen == 0)
        s->rpos = 0;
    return n;
}

/* fd_read's wait on io_uring: the RECV itself waits.  Returns like
 * fd_read, or -EAGAIN to go round fd_read's loop again (interrupted by
 * closing, or a spurious EINTR). */
static ssize_t uring_read(ts_stream *s, void *dst, size_t n, const ts_site *site) {
    ts__sop op = {.kind = TS__SOP_RECV, .fd = s->fd, .buf = dst, .len = n};
    s->rop = &op;
    ssize_t r = ts__uring_sock(&op, site);
    s->rop = NULL;
    if (r > 0) {
        s->short_read = (size_t)r < n;
        return r;
    }
    if (r == 0) {
        s->eof = true;
        return 0;
    }
    if (r == TS__NET_CLOSING || r == -EINTR || r == -EAGAIN)
        return -EAGAIN;
    if (r == -ECANCELED || r == -ENOMEM || r == -EBUSY)
        return r; /* the wait failed: nothing consumed, nothing sticks */
    return s->rerr = (int)r;
}

/* One read from the descriptor into dst, suspending until something
 * arrives.  Returns the count, 0 at end of stream (or once closing), or an
 * error; a wait that fails consumes nothing. */
static ssize_t fd_read(ts_stream *s, void *dst, size_t n, const ts_site *site) {
    for (;;) {
        if (s->closing || s->eof)
            return 0;
        if (s->rerr)
            return s->rerr;
        if (!s->short_read) {
            ssize_t r = s->is_sock ? recv(s->fd, dst, n, 0) : read(s->fd, dst, n);
            if (r > 0) {
                s->short_read = (size_t)r < n;
                return r;
            }
            if (r == 0) {
                s->eof = true;
                return 0;
            }
            if (errno == EINTR)
                continue;
            if (!ts__would_block(errno))
                return s->rerr = -errno;
        }
        s->short_read = false;
        if (s->is_sock && ts__uring_net()) {
            ssize_t r = uring_read(s, dst, n, site);
            if (r != -EAGAIN)
                return r;
            continue;
        }
        int w = ts__fd_wait(s->fd, TS_READABLE, site);
        if (w < 0 && w != TS__NET_CLOSING)
            return w;
    }
}

ssize_t ts_stream_read_at(ts_stream *s, void *buf, size_t n, const ts_site *site) {
    int err = begin_read(s, site);
    if (err)
        return err;
    ssize_t r = 0;
    if (n > 0)
        r = s->rlen > 0 ? (ssize_t)take(s, buf, n) : fd_read(s, buf, n, site);
    end_read(s);
    return r;
}

/* Make room for at least `room` more bytes after the buffered ones. */
static int rbuf_reserve(ts_stream *s, size_t room) {
    if (s->rcap - s->rpos - s->rlen >= room)
        return 0;
    if (s->rpos > 0) {
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen);
        s->rpos = 0;
        if (s->rcap - s->rlen >= room)
            return 0;
    }
    size_t cap = s->rcap ? s->rcap : READ_CHUNK;
    while (cap - s->rlen < room)
        cap *= 2;
    char *b = realloc(s->rbuf, cap);
    if (!b)
        return -ENOMEM;
    s->rbuf = b;
    s->rcap = cap;
    return 0;
}

/* Give back bytes a failed read_exactly had gathered (rbuf is empty then:
 * it was drained before reading from the descriptor). */
static int unread(ts_stream *s, const void *data, size_t n) {
    if (n == 0)
        return 0;
    int err = rbuf_reserve(s, n);
    if (err)
        return err;
    memcpy(s->rbuf + s->rpos + s->rlen, data, n);
    s->rlen += n;
    return 0;
}

int ts_stream_read_exactly_at(ts_stream *s, void *buf, size_t n, size_t *got,
                              const ts_site *site) {
    size_t dummy;
    if (!got)
        got = &dummy;
    *got = 0;
    int err = begin_read(s, site);
    if (err)
        return err;
    size_t have = take(s, buf, n);
    ssize_t r = 1;
    while (have < n && (r = fd_read(s, (char *)buf + have, n - have, site)) > 0)
        have += (size_t)r;
    if (have == n) {
        *got = n;
    } else if (r == 0) {
        *got = have;
        err = TS_EOF;
    } else {
        int e = unread(s, buf, have);
        err = e ? e : (int)r;
    }
    end_read(s);
    return err;
}

/* Find the delimiter in rbuf, starting at *scanned; on a miss, advance
 * *scanned past what can no longer start a match.  Returns the length of
 * the data up to and including the delimiter, or 0. */
static size_t find_delim(ts_stream *s, const void *delim, size_t dlen,
                         size_t *scanned) {
    if (s->rlen < dlen)
        return 0;
    const char *base = s->rbuf + s->rpos;
    const char *hit = memmem(base + *scanned, s->rlen - *scanned, delim, dlen);
    if (hit)
        return (size_t)(hit - base) + dlen;
    *scanned = s->rlen - dlen + 1;
    return 0;
}

int ts_stream_read_until_at(ts_stream *s, const void *delim, size_t dlen,
                            void *buf, size_t cap, size_t *len,
                            const ts_site *site) {
    if (dlen == 0)
        return -EINVAL;
    size_t dummy;
    if (!len)
        len = &dummy;
    *len = 0;
    int err = begin_read(s, site);
    if (err)
        return err;
    size_t scanned = 0;
    for (;;) {
        size_t total = find_delim(s, delim, dlen, &scanned);
        if (total > cap || (!total && s->rlen >= cap)) {
            err = -EMSGSIZE; /* left in the stream */
            break;
        }
        if (total) {
            *len = take(s, buf, total);
            break;
        }
        err = rbuf_reserve(s, READ_CHUNK / 4);
        if (err)
            break;
        ssize_t r = fd_read(s, s->rbuf + s->rpos + s->rlen,
                            s->rcap - s->rpos - s->rlen, site);
        if (r > 0) {
            s->rlen += (size_t)r;
        } else {
            if (r == 0) {
                *len = take(s, buf, s->rlen); /* rlen < cap here */
                err = TS_EOF;
            } else {
                err = (int)r;
            }
            break;
        }
    }
    end_read(s);
    return err;
}

ssize_t ts_stream_readline_at(ts_stream *s, char *buf, size_t cap,
                              const ts_site *site) {
    if (cap < 2)
        return -EINVAL;
    size_t len;
    int err = ts_stream_read_until_at(s, "\n", 1, buf, cap - 1, &len, site);
    if (err && err != TS_EOF)
        return err;
    buf[len] = '\0';
    return (ssize_t)len;
}

/* ---- writing ----------------------------------------------------------------- */

static ssize_t fd_write(ts_stream *s, const void *p, size_t n) {
    return s->is_sock ? send(s->fd, p, n, MSG_NOSIGNAL) : write(s->fd, p, n);
}

/* A write failed: the error sticks, buffered data is dropped, drainers
 * learn of it. */
static int fail_write(ts_stream *s, int err) {
    if (!s->werr)
        s->werr = err;
    s->wpos = s->wlen = 0;
    s->paused = false;
    wake_all(&s->drain_waiters, 0);
    return s->werr;
}

static void wbuf_consume(ts_stream *s, size_t n) {
    s->wpos += n;
    s->wlen -= n;
    if (s->wlen == 0)
        s->wpos = 0;
    if (s->paused && s->wlen <= s->low) {
        s->paused = false;
        wake_all(&s->drain_waiters, 0);
    }
}

static int wbuf_append(ts_stream *s, const char *p, size_t n) {
    if (s->wcap - s->wpos - s->wlen < n) {
        if (s->wpos > 0) {
            memmove(s->wbuf, s->wbuf + s->wpos, s->wlen);
            s->wpos = 0;
        }
        if (s->wcap - s->wlen < n) {
            size_t cap = s->wcap ? s->wcap : 16384;
            while (cap - s->wlen < n)
                cap *= 2;
            char *b = realloc(s->wbuf, cap);
            if (!b)
                return -ENOMEM;
            s->wbuf = b;
            s->wcap = cap;
        }
    }
    memcpy(s->wbuf + s->wpos + s->wlen, p, n);
    s->wlen += n;
    return 0;
}

static void shutdown_write(ts_stream *s) {
    if (s->eof_sent)
        return;
    s->eof_sent = true;
    if (s->is_sock && shutdown(s->fd, SHUT_WR) < 0 && !s->werr)
        s->werr = -errno;
}

/* The flusher: send wbuf until it is empty, the stream is aborted or a
 * write fails.  Its exit is flusher_done (a done-watch). */
static void *flush_main(void *arg) {
    ts_stream *s = arg;
    static const ts_site site = {__FILE__, "ts_stream flusher", __LINE__};
    while (s->wlen > 0 && !s->aborted) {
        ssize_t k = fd_write(s, s->wbuf + s->wpos, s->wlen);
        if (k >= 0) {
            wbuf_consume(s, (size_t)k);
            continue;
        }
        if (errno == EINTR)
            continue;
        int err = -errno;
        if (ts__would_block(errno) && s->is_sock && ts__uring_net()) {
            /* A POLL, not a SEND: wbuf may move (ts_stream_write grows it)
             * while the op is in flight, and the kernel would read freed
             * memory. */
            ts__sop op = {.kind = TS__SOP_POLL, .fd = s->fd, .flags = POLLOUT};
            s->wop = &op;
            err = (int)ts__uring_sock(&op, &site);
            s->wop = NULL;
            if (err > 0 || (err == TS__NET_CLOSING && !s->aborted))
                continue;
        } else if (ts__would_block(errno)) {
            err = ts__fd_wait(s->fd, TS_WRITABLE, &site);
            if (err > 0 || (err == TS__NET_CLOSING && !s->aborted))
                continue;
        }
        if (!s->aborted)
            fail_write(s, err);
        break;
    }
    return NULL;
}

static void flusher_done(ts__done_watch *w, ts_task *t) {
    (void)t;
    ts_stream *s = ts__container_of(w, ts_stream, flush_watch);
    s->flusher = NULL;
    s->nio--;
    if (s->wlen > 0 && !s->aborted)
        fail_write(s, -ECANCELED); /* cancelled (loop shutdown) */
    if (s->want_eof && !s->aborted && !s->werr)
        shutdown_write(s);
    wake_all(&s->drain_waiters, 0);
    maybe_finish_close(s);
    stream_unref(s);
}

static int start_flusher(ts_stream *s) {
    static const ts_site site = {__FILE__, "ts_stream_write", __LINE__};
    ts_task *t = ts_spawn_at(NULL, flush_main, s, "ts_stream flusher", &site);
    if (!t)
        return -ENOMEM;
    s->flusher = t;
    s->nio++;
    s->refs++;
    s->flush_watch.fn = flusher_done;
    ts__task_watch(t, &s->flush_watch);
    ts_task_detach(t);
    return 0;
}

int ts_stream_write(ts_stream *s, const void *buf, size_t n) {
    int err = stream_check(s, "ts_stream_write", NULL);
    if (err)
        return err;
    if (s->werr)
        return s->werr;
    if (s->closing || s->want_eof)
        return -EPIPE;
    const char *p = buf;
    while (n > 0 && s->wlen == 0) {
        ssize_t k = fd_write(s, p, n);
        if (k >= 0) {
            p += k;
            n -= (size_t)k;
            break; /* partial: the kernel's buffer is full */
        }
        if (errno == EINTR)
            continue;
        if (ts__would_block(errno))
            break;
        return fail_write(s, -errno);
    }
    if (n == 0)
        return 0;
    if (wbuf_append(s, p, n) < 0 || (!s->flusher && start_flusher(s) < 0))
        return fail_write(s, -ENOMEM);
    if (s->wlen > s->high)
        s->paused = true;
    return 0;
}

int ts_stream_drain_at(ts_stream *s, const ts_site *site) {
    int err = stream_check(s, "ts_stream_drain", site);
    if (err)
        return err;
    err = ts__net_enter(site);
    if (err)
        return err;
    if (s->werr)
        return s->werr;
    if (s->closed || s->aborted)
        return -EPIPE;
    s->refs++;
    while (s->paused && !s->werr && !s->closed) {
        ts__waiter w;
        ts__waiter_init(&w, ts__current());
        ts__list_push_back(&s->drain_waiters, &w.node);
        err = ts__park(&w, TS_WAIT_FD, (const void *)(intptr_t)s->fd, site);
        if (err < 0)
            break;
    }
    /* An abort empties the buffer and so ends the wait, but the data was
     * dropped, not sent: that is no success (asyncio: "Connection lost"). */
    if (!err)
        err = s->werr ? s->werr : s->aborted ? -EPIPE : 0;
    stream_unref(s);
    return err;
}

int ts_stream_write_eof(ts_stream *s) {
    int err = stream_check(s, "ts_stream_write_eof", NULL);
    if (err)
        return err;
    if (s->closing)
        return -EPIPE;
    if (s->want_eof)
        return 0;
    s->want_eof = true;
    if (!s->flusher)
        shutdown_write(s);
    return s->werr;
}

int ts_stream_set_write_limits(ts_stream *s, size_t high, size_t low) {
    int err = stream_check(s, "ts_stream_set_write_limits", NULL);
    if (err)
        return err;
    if (low > high)
        return -EINVAL;
    s->high = high;
    s->low = low;
    if (s->wlen > high)
        s->paused = true;
    else if (s->paused && s->wlen <= low)
        wbuf_consume(s, 0);
    return 0;
}

/* ---- closing ----------------------------------------------------------------- */

static void start_close(ts_stream *s, bool abort) {
    if (abort && !s->aborted) {
        s->aborted = true;
        s->wpos = s->wlen = 0;
        s->paused = false;
        ts__fd_interrupt(s->fd, TS_WRITABLE, TS__NET_CLOSING);
        ts__uring_interrupt(s->wop);
        wake_all(&s->drain_waiters, 0);
    }
    if (!s->closing) {
        s->closing = true;
        ts__fd_interrupt(s->fd, TS_READABLE, TS__NET_CLOSING);
        ts__uring_interrupt(s->rop);
    }
    maybe_finish_close(s);
}

void ts_stream_close(ts_stream *s) {
    if (!stream_check(s, "ts_stream_close", NULL))
        start_close(s, false);
}

void ts_stream_abort(ts_stream *s) {
    if (!stream_check(s, "ts_stream_abort", NULL))
        start_close(s, true);
}

void ts__stream_abort(ts_stream *s) { start_close(s, true); }

int ts_stream_wait_closed_at(ts_stream *s, const ts_site *site) {
    int check = stream_check(s, "ts_stream_wait_closed", site);
    if (check)
        return check;
    if (!ts__current())
        return TS_ENOTASK;
    if (!s->closing)
        return -EINVAL;
    int err = 0;
    s->refs++;
    while (!s->closed) {
        ts__waiter w;
        ts__waiter_init(&w, ts__current());
        ts__list_push_back(&s->close_waiters, &w.node);
        err = ts__park(&w, TS_WAIT_FD, (const void *)(intptr_t)s->fd, site);
        if (err < 0)
            break;
    }
    if (!err && !s->aborted)
        err = s->werr;
    stream_unref(s);
    return err;
}

void ts_stream_free_at(ts_stream *s, const ts_site *site) {
    if (!s || stream_check(s, "ts_stream_free", site) || s->handle_gone)
        return;
    s->handle_gone = true;
    /* Freed for its user from now on; the memory goes with the last
     * reference (stream_unref). */
    s->obj.magic = TS__OBJ_FREED;
    s->obj.freed = site;
    start_close(s, false);
    stream_unref(s);
}

/* The readers give -1 / 0 for a freed stream, reported. */
int ts_stream_fd(const ts_stream *s) {
    return !ts__obj_readable(&s->obj, "ts_stream_fd") || s->closed ? -1 : s->fd;
}

/* The peer has ended the stream though no read has seen it yet (asyncio
 * knows at once, from feed_eof): it hung up and the kernel holds nothing
 * more.  Asked with poll and FIONREAD, which consume neither data nor a
 * pending socket error, so the next read still returns what it would. */
static bool peer_ended(const ts_stream *s) {
    struct pollfd p = {.fd = s->fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) != 1 || (p.revents & (POLLERR | POLLNVAL)) ||
        !(p.revents & (POLLRDHUP | POLLHUP)))
        return false;
    int queued = 0;
    return ioctl(s->fd, FIONREAD, &queued) == 0 && queued == 0;
}

int ts_stream_at_eof(const ts_stream *s) {
    if (!ts__obj_readable(&s->obj, "ts_stream_at_eof") || s->rlen > 0 || s->rerr)
        return 0;
    /* Once closing, reads return end of stream (after what is buffered),
     * as asyncio's reader is fed EOF when its transport closes. */
    return s->eof || s->closing || peer_ended(s);
}

size_t ts_stream_read_buffer_size(const ts_stream *s) {
    return ts__obj_readable(&s->obj, "ts_stream_read_buffer_size") ? s->rlen : 0;
}

size_t ts_stream_write_buffer_size(const ts_stream *s) {
    return ts__obj_readable(&s->obj, "ts_stream_write_buffer_size") ? s->wlen : 0;
}
