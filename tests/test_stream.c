/*
 * test_stream.c - black-box tests of streams and servers (stream.h).
 *
 * Covered: read / read_exactly / read_until / readline, including partial
 * data at end of stream (TS_EOF) and lines too long for the buffer;
 * cancellation and time limits (ts_wait_for, timeout scopes) in the middle
 * of a read, which must consume nothing; buffered writes with drain, a
 * 64 MiB checksummed transfer through a server on loopback, half-close;
 * close waking a reader, free flushing in the background, abort dropping;
 * peer reset; a reader and the background flusher on one socket; servers:
 * echo, close_clients, serve_forever, Unix sockets, handler errors
 * reported; streams over pipes; and 10k concurrent loopback connections.
 * The descriptor count (/proc/self/fd) must be the same before and after
 * every test.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static int fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

static void run_ok(ts_task_fn body) {
    diag_reset();
    int before = fd_count();
    assert_int_equal(run_main(body, NULL), 0);
    assert_no_diag();
    assert_int_equal(fd_count(), before);
}

/* A stream connected over loopback TCP to a plain socket (*peer). */
static ts_stream *stream_pair(int *peer) {
    int lfd;
    assert_int_equal(ts_tcp_listen("127.0.0.1", "0", 8, &lfd), 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", ts_sock_port(lfd));
    ts_stream *s;
    assert_int_equal(ts_open_connection("127.0.0.1", ps, &s), 0);
    *peer = ts_sock_accept(lfd, NULL, NULL);
    assert_true(*peer >= 0);
    close(lfd);
    return s;
}

/* Fixed, small kernel buffers on both ends: without them, TCP autotuning
 * lets the kernel absorb megabytes that nobody reads, given time (as on a
 * loaded machine), and "the stream must still hold data" would not hold. */
static void small_buffers(ts_stream *s, int peer) {
    int sz = 64 * 1024;
    setsockopt(ts_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static void close_and_free(ts_stream *s) {
    ts_stream_close(s);
    assert_int_equal(ts_stream_wait_closed(s), 0);
    ts_stream_free(s);
}

/* ---- reading ---------------------------------------------------------------- */

static void *body_read_variants(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    const char *msg = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY12345tail";
    assert_int_equal(ts_sock_sendall(peer, msg, strlen(msg), NULL), 0);
    char line[64];
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 16);
    assert_string_equal(line, "GET / HTTP/1.1\r\n");
    size_t len;
    char buf[64];
    assert_int_equal(ts_stream_read_until(s, "\r\n\r\n", 4, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 11);
    assert_memory_equal(buf, "Host: x\r\n\r\n", 11);
    /* Too small a buffer: -EMSGSIZE and the data stays. */
    assert_int_equal(ts_stream_readline(s, line, 4), -EMSGSIZE);
    assert_int_equal(ts_stream_read_exactly(s, buf, 4, &len), 0);
    assert_memory_equal(buf, "BODY", 4);
    assert_int_equal(ts_stream_read(s, buf, 3), 3);
    assert_memory_equal(buf, "123", 3);
    /* End of stream in the middle of read_exactly: the partial data. */
    shutdown(peer, SHUT_WR);
    assert_int_equal(ts_stream_read_exactly(s, buf, 10, &len), TS_EOF);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "45tail", 6);
    assert_true(ts_stream_at_eof(s));
    assert_int_equal(ts_stream_read(s, buf, sizeof buf), 0);
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 0);
    assert_int_equal(ts_stream_read_until(s, "x", 1, buf, sizeof buf, &len), TS_EOF);
    assert_int_equal(len, 0);
    assert_int_equal(ts_stream_read_until(s, "", 0, buf, sizeof buf, &len), -EINVAL);
    close_and_free(s);
    close(peer);
    return NULL;
}
static void test_read_variants(void **st) { (void)st; run_ok(body_read_variants); }

static void *body_last_line_unterminated(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    assert_int_equal(ts_sock_sendall(peer, "one\ntwo", 7, NULL), 0);
    close(peer);
    char line[16];
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 4);
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 3);
    assert_string_equal(line, "two");
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 0);
    close_and_free(s);
    return NULL;
}
static void test_last_line_unterminated(void **st) { (void)st; run_ok(body_last_line_unterminated); }

typedef struct exact_arg {
    ts_stream *s;
    char buf[16];
    size_t n, got;
    int rc;
} exact_arg;

static void *exact_task(void *arg) {
    exact_arg *a = arg;
    a->rc = ts_stream_read_exactly(a->s, a->buf, a->n, &a->got);
    return a->rc ? ts_fail(a->rc, NULL) : NULL;
}

static void *line_task(void *arg) {
    exact_arg *a = arg;
    ssize_t n = ts_stream_readline(a->s, a->buf, sizeof a->buf);
    a->rc = n < 0 ? (int)n : 0;
    a->got = n > 0 ? (size_t)n : 0;
    return a->rc ? ts_fail(a->rc, NULL) : NULL;
}

static void *body_cancel_keeps_partial(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    /* 3 of 8 bytes, then the reader is cancelled: nothing is lost. */
    assert_int_equal(ts_sock_sendall(peer, "abc", 3, NULL), 0);
    exact_arg a = {.s = s, .n = 8};
    ts_task *t = ts_spawn(exact_task, &a);
    assert_int_equal(ts_sleep(0.01), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(a.got, 0);
    assert_int_equal(ts_stream_read_buffer_size(s), 3);
    /* wait_for on a readline: times out, and the partial line stays. */
    assert_int_equal(ts_sock_sendall(peer, "defgh", 5, NULL), 0);
    exact_arg b = {.s = s};
    t = ts_spawn(line_task, &b);
    assert_int_equal(ts_sleep(0), 0); /* it parks before the clock starts */
    assert_int_equal(ts_wait_for(t, 0.02, NULL), -ETIMEDOUT);
    assert_int_equal(b.rc, -ECANCELED);
    /* A timeout scope around read_exactly. */
    char buf[16];
    ts_timeout *to = ts_timeout_enter(0.02);
    int err = ts_stream_read_exactly(s, buf, 12, NULL);
    assert_int_equal(ts_timeout_exit(to, err), -ETIMEDOUT);
    assert_int_equal(ts_sock_sendall(peer, "\n", 1, NULL), 0);
    assert_int_equal(ts_stream_readline(s, buf, sizeof buf), 9);
    assert_string_equal(buf, "abcdefgh\n");
    /* Two readers at once: the second is refused. */
    exact_arg c = {.s = s, .n = 1};
    ts_task *r1 = ts_spawn(exact_task, &c);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_stream_read(s, buf, 1), -EBUSY);
    assert_int_equal(ts_sock_sendall(peer, "Z", 1, NULL), 0);
    assert_int_equal(ts_await(r1, NULL), 0);
    assert_int_equal(c.buf[0], 'Z');
    close_and_free(s);
    close(peer);
    return NULL;
}
static void test_cancel_keeps_partial(void **st) { (void)st; run_ok(body_cancel_keeps_partial); }

static void *read_forever(void *arg) {
    ts_stream *s = arg;
    char buf[8];
    ssize_t n = ts_stream_read(s, buf, sizeof buf);
    return IPTR(n);
}

static void *body_close_wakes_reader(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    ts_task *r = ts_spawn(read_forever, s);
    assert_int_equal(ts_sleep(0.01), 0);
    assert_int_equal(ts_stream_wait_closed(s), -EINVAL); /* not closing */
    ts_stream_close(s);
    void *res;
    assert_int_equal(ts_await(r, &res), 0);
    assert_int_equal(PTRI(res), 0); /* end of stream */
    assert_int_equal(ts_stream_write(s, "x", 1), -EPIPE);
    assert_int_equal(ts_stream_wait_closed(s), 0);
    assert_int_equal(ts_stream_fd(s), -1);
    ts_stream_free(s);
    char c;
    assert_int_equal(ts_sock_recv(peer, &c, 1), 0);
    close(peer);
    return NULL;
}
static void test_close_wakes_reader(void **st) { (void)st; run_ok(body_close_wakes_reader); }

/* ---- writing ------------------------------------------------------------------ */

static unsigned checksum(unsigned sum, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        sum = sum * 31 + p[i];
    return sum;
}

typedef struct sink {
    int fd;
    size_t got;
    unsigned sum;
    int rc;
} sink;

static void *sink_task(void *arg) {
    sink *k = arg;
    static unsigned char buf[65536];
    ssize_t n;
    while ((n = ts_sock_recv(k->fd, buf, sizeof buf)) > 0) {
        k->sum = checksum(k->sum, buf, (size_t)n);
        k->got += (size_t)n;
    }
    k->rc = (int)n;
    return NULL;
}

static void *body_free_flushes(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    small_buffers(s, peer);
    size_t n = 8u << 20;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i % 253);
    /* Nobody reads: most of it stays in the stream's buffer. */
    assert_int_equal(ts_stream_write(s, big, n), 0);
    assert_true(ts_stream_write_buffer_size(s) > 0);
    ts_stream_free(s); /* sent in the background, then closed */
    sink k = {.fd = peer};
    assert_int_equal(ts_await(ts_spawn(sink_task, &k), NULL), 0);
    assert_int_equal(k.rc, 0);
    assert_int_equal(k.got, n);
    assert_int_equal(k.sum, checksum(0, big, n));
    free(big);
    close(peer);
    return NULL;
}
static void test_free_flushes(void **st) { (void)st; run_ok(body_free_flushes); }

static void *body_drain_and_abort(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    small_buffers(s, peer);
    size_t n = 4u << 20;
    unsigned char *big = calloc(1, n);
    assert_int_equal(ts_stream_write(s, big, n), 0);
    /* Above the high-water mark: drain waits (here: times out). */
    ts_timeout *to = ts_timeout_enter(0.02);
    int err = ts_stream_drain(s);
    assert_int_equal(ts_timeout_exit(to, err), -ETIMEDOUT);
    assert_true(ts_stream_write_buffer_size(s) > 64 * 1024);
    /* Abort drops the rest: the peer gets less, then end of stream. */
    ts_stream_abort(s);
    assert_int_equal(ts_stream_write_buffer_size(s), 0);
    assert_int_equal(ts_stream_wait_closed(s), 0);
    ts_stream_free(s);
    sink k = {.fd = peer};
    assert_int_equal(ts_await(ts_spawn(sink_task, &k), NULL), 0);
    assert_true(k.rc == 0 || k.rc == -ECONNRESET);
    assert_true(k.got < n);
    free(big);
    close(peer);
    return NULL;
}
static void test_drain_and_abort(void **st) { (void)st; run_ok(body_drain_and_abort); }

static void *body_peer_reset(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    struct linger lg = {1, 0};
    setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(peer);
    char buf[8];
    assert_int_equal(ts_stream_read(s, buf, sizeof buf), -ECONNRESET);
    assert_int_equal(ts_stream_read(s, buf, sizeof buf), -ECONNRESET); /* sticky */
    int err = 0;
    for (int i = 0; i < 100 && !err; i++) {
        err = ts_stream_write(s, "x", 1);
        if (!err)
            err = ts_stream_drain(s);
    }
    assert_true(err == -EPIPE || err == -ECONNRESET);
    assert_int_equal(ts_stream_write(s, "x", 1), err); /* sticky */
    ts_stream_close(s);
    assert_int_equal(ts_stream_wait_closed(s), err);
    ts_stream_free(s);
    return NULL;
}
static void test_peer_reset(void **st) { (void)st; run_ok(body_peer_reset); }

/* One task reads the stream while the flusher writes it. */
static void *body_reader_and_flusher(void *arg) {
    (void)arg;
    int peer;
    ts_stream *s = stream_pair(&peer);
    ts_task *r = ts_spawn(read_forever, s);
    assert_int_equal(ts_sleep(0.005), 0);
    size_t n = 4u << 20;
    unsigned char *big = calloc(1, n);
    assert_int_equal(ts_stream_write(s, big, n), 0);
    sink k = {.fd = peer};
    ts_task *kt = ts_spawn(sink_task, &k);
    assert_int_equal(ts_stream_drain(s), 0);
    assert_false(ts_task_done(r));
    assert_int_equal(ts_sock_sendall(peer, "ok", 2, NULL), 0);
    void *res;
    assert_int_equal(ts_await(r, &res), 0);
    assert_int_equal(PTRI(res), 2);
    ts_stream_close(s);
    assert_int_equal(ts_stream_wait_closed(s), 0);
    ts_stream_free(s);
    assert_int_equal(ts_await(kt, NULL), 0);
    assert_int_equal(k.got, n);
    free(big);
    close(peer);
    return NULL;
}
static void test_reader_and_flusher(void **st) { (void)st; run_ok(body_reader_and_flusher); }

static void *body_pipe_stream(void *arg) {
    (void)arg;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    ts_stream *r, *w;
    assert_int_equal(ts_stream_new(p[0], &r), 0);
    assert_int_equal(ts_stream_new(p[1], &w), 0);
    assert_int_equal(ts_stream_write(w, "line one\nline two\n", 18), 0);
    assert_int_equal(ts_stream_write_eof(w), 0);
    char line[32];
    assert_int_equal(ts_stream_readline(r, line, sizeof line), 9);
    assert_int_equal(ts_stream_readline(r, line, sizeof line), 9);
    close_and_free(w); /* the pipe's write end closes: end of stream */
    assert_int_equal(ts_stream_readline(r, line, sizeof line), 0);
    close_and_free(r);
    assert_int_equal(ts_stream_new(-1, &r), -EBADF);
    return NULL;
}
static void test_pipe_stream(void **st) { (void)st; run_ok(body_pipe_stream); }

/* ---- servers ---------------------------------------------------------------------- */

static int echo_lines(ts_stream *s, void *arg) {
    (void)arg;
    char line[256];
    ssize_t n;
    while ((n = ts_stream_readline(s, line, sizeof line)) > 0) {
        int err = ts_stream_write(s, line, (size_t)n);
        if (!err)
            err = ts_stream_drain(s);
        if (err)
            return err;
    }
    return n < 0 ? (int)n : 0;
}

typedef struct client_arg {
    int port;
    int id;
    int ok;
} client_arg;

static void *echo_client(void *arg) {
    client_arg *c = arg;
    char ps[16], msg[64], line[64];
    snprintf(ps, sizeof ps, "%d", c->port);
    ts_stream *s;
    int err = ts_open_connection("127.0.0.1", ps, &s);
    if (err)
        return ts_fail(err, "connect");
    for (int i = 0; i < 5 && !err; i++) {
        int len = snprintf(msg, sizeof msg, "client %d line %d\n", c->id, i);
        err = ts_stream_write(s, msg, (size_t)len);
        ssize_t n = err ? err : ts_stream_readline(s, line, sizeof line);
        if (n < 0)
            err = (int)n;
        else if (n != len || memcmp(line, msg, (size_t)len) != 0)
            err = -EPROTO;
    }
    ts_stream_free(s);
    c->ok = !err;
    return err ? ts_fail(err, "echo") : NULL;
}

static void *body_server_echo(void *arg) {
    (void)arg;
    ts_server *srv;
    assert_int_equal(ts_start_server(echo_lines, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    int port = ts_server_port(srv);
    assert_true(port > 0);
    enum { N = 20 };
    client_arg ca[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        ca[i] = (client_arg){.port = port, .id = i};
        t[i] = ts_spawn(echo_client, &ca[i]);
    }
    assert_int_equal(ts_gather(t, N, NULL, NULL), 0);
    for (int i = 0; i < N; i++)
        assert_true(ca[i].ok);
    ts_server_close(srv);
    assert_int_equal(ts_server_wait_closed(srv), 0);
    assert_int_equal(ts_server_connections(srv), 0);
    assert_int_equal(ts_server_port(srv), -EBADF);
    ts_server_free(srv);
    /* Closed: nobody listens any more. */
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    ts_stream *s;
    assert_int_equal(ts_open_connection("127.0.0.1", ps, &s), -ECONNREFUSED);
    return NULL;
}
static void test_server_echo(void **st) { (void)st; run_ok(body_server_echo); }

static void *wait_closed_task(void *arg) {
    int err = ts_server_wait_closed((ts_server *)arg);
    return err ? ts_fail(err, NULL) : NULL;
}

static void *body_close_clients(void *arg) {
    (void)arg;
    ts_server *srv;
    ts_server_opts o = {.backlog = 16, .stack_size = 64 * 1024};
    assert_int_equal(ts_start_server(echo_lines, NULL, "127.0.0.1", "0", &o, &srv), 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", ts_server_port(srv));
    ts_stream *c[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_open_connection("127.0.0.1", ps, &c[i]), 0);
    while (ts_server_connections(srv) < 3)
        assert_int_equal(ts_sleep(0.001), 0);
    /* wait_closed on an open server does not return by itself. */
    ts_task *w = ts_spawn(wait_closed_task, srv);
    assert_int_equal(ts_sleep(0.005), 0);
    assert_false(ts_task_done(w));
    ts_task_cancel(w, NULL);
    assert_int_equal(ts_await(w, NULL), -ECANCELED);
    ts_server_close(srv);
    ts_server_close_clients(srv); /* handlers read end of stream */
    assert_int_equal(ts_server_wait_closed(srv), 0);
    ts_server_free(srv);
    char buf[4];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_stream_read(c[i], buf, sizeof buf), 0);
        ts_stream_free(c[i]);
    }
    return NULL;
}
static void test_close_clients(void **st) { (void)st; run_ok(body_close_clients); }

static void *forever_task(void *arg) {
    int err = ts_serve_forever((ts_server *)arg);
    return err ? ts_fail(err, NULL) : NULL;
}

static void *body_serve_forever(void *arg) {
    (void)arg;
    ts_server *srv;
    assert_int_equal(ts_start_server(echo_lines, NULL, NULL, "0", NULL, &srv), 0);
    ts_task *f = ts_spawn(forever_task, srv);
    assert_int_equal(ts_sleep(0.005), 0);
    assert_false(ts_task_done(f));
    ts_task_cancel(f, NULL);
    assert_int_equal(ts_await(f, NULL), -ECANCELED);
    assert_int_equal(ts_server_wait_closed(srv), 0);
    ts_server_free(srv);
    /* serve_forever also returns (0) when another task closes the server. */
    assert_int_equal(ts_start_server(echo_lines, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    f = ts_spawn(forever_task, srv);
    assert_int_equal(ts_sleep(0.005), 0);
    ts_server_close(srv);
    assert_int_equal(ts_await(f, NULL), 0);
    ts_server_free(srv);
    return NULL;
}
static void test_serve_forever(void **st) { (void)st; run_ok(body_serve_forever); }

static int fail_handler(ts_stream *s, void *arg) {
    (void)s;
    (void)arg;
    return -EIO;
}

static void *body_unix_server_and_errors(void *arg) {
    (void)arg;
    char path[sizeof(struct sockaddr_un)];
    assert_int_equal(test_sock_path(path, sizeof path, "ts_test_stream"), 0);
    unlink(path);
    ts_server *srv;
    assert_int_equal(ts_start_unix_server(echo_lines, NULL, path, NULL, &srv), 0);
    ts_stream *s;
    assert_int_equal(ts_open_unix_connection(path, &s), 0);
    assert_int_equal(ts_stream_write(s, "hi\n", 3), 0);
    char line[8];
    assert_int_equal(ts_stream_readline(s, line, sizeof line), 3);
    ts_stream_free(s);
    ts_server_free(srv);
    unlink(path);
    /* A handler's error is reported as a failure nobody retrieved. */
    assert_int_equal(ts_start_server(fail_handler, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", ts_server_port(srv));
    assert_int_equal(ts_open_connection("127.0.0.1", ps, &s), 0);
    assert_int_equal(ts_stream_read(s, line, 1), 0);
    ts_stream_free(s);
    ts_server_close(srv);
    assert_int_equal(ts_server_wait_closed(srv), 0);
    ts_server_free(srv);
    /* Address in use. */
    int lfd;
    assert_int_equal(ts_tcp_listen("127.0.0.1", "0", 1, &lfd), 0);
    snprintf(ps, sizeof ps, "%d", ts_sock_port(lfd));
    ts_server_opts o = {0};
    assert_int_equal(ts_start_server(echo_lines, NULL, "127.0.0.1", ps, &o, &srv), -EADDRINUSE);
    close(lfd);
    return NULL;
}
static void test_unix_server_and_errors(void **st) {
    (void)st;
    diag_reset();
    int before = fd_count();
    assert_int_equal(run_main(body_unix_server_and_errors, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
    assert_non_null(strstr(diag_last, "connection handler failed"));
    assert_int_equal(fd_count(), before);
}

/* ---- 64 MiB through a server -------------------------------------------------- */

static int checksum_handler(ts_stream *s, void *arg) {
    (void)arg;
    unsigned char *buf = malloc(1 << 18);
    if (!buf)
        return -ENOMEM;
    unsigned sum = 0;
    uint64_t total = 0;
    ssize_t n;
    while ((n = ts_stream_read(s, buf, 1 << 18)) > 0) {
        sum = checksum(sum, buf, (size_t)n);
        total += (uint64_t)n;
    }
    free(buf);
    if (n < 0)
        return (int)n;
    unsigned char reply[12];
    memcpy(reply, &sum, 4);
    memcpy(reply + 4, &total, 8);
    int err = ts_stream_write(s, reply, sizeof reply);
    return err ? err : ts_stream_drain(s);
}

static void *body_large_transfer(void *arg) {
    (void)arg;
    ts_server *srv;
    assert_int_equal(ts_start_server(checksum_handler, NULL, "127.0.0.1", "0", NULL, &srv), 0);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", ts_server_port(srv));
    ts_stream *s;
    assert_int_equal(ts_open_connection("127.0.0.1", ps, &s), 0);
    enum { CHUNK = 1 << 20, TOTAL = 64 };
    unsigned char *chunk = malloc(CHUNK);
    unsigned sum = 0;
    for (int c = 0; c < TOTAL; c++) {
        for (size_t i = 0; i < CHUNK; i++)
            chunk[i] = (unsigned char)((i * 131 + (size_t)c * 7) >> 3);
        sum = checksum(sum, chunk, CHUNK);
        assert_int_equal(ts_stream_write(s, chunk, CHUNK), 0);
        assert_int_equal(ts_stream_drain(s), 0);
    }
    assert_int_equal(ts_stream_write_eof(s), 0); /* half-close */
    assert_int_equal(ts_stream_write(s, "x", 1), -EPIPE);
    unsigned char reply[12];
    assert_int_equal(ts_stream_read_exactly(s, reply, sizeof reply, NULL), 0);
    unsigned got_sum;
    uint64_t got_total;
    memcpy(&got_sum, reply, 4);
    memcpy(&got_total, reply + 4, 8);
    assert_int_equal(got_total, (uint64_t)TOTAL * CHUNK);
    assert_int_equal(got_sum, sum);
    free(chunk);
    close_and_free(s);
    ts_server_close(srv);
    assert_int_equal(ts_server_wait_closed(srv), 0);
    ts_server_free(srv);
    return NULL;
}
static void test_large_transfer(void **st) { (void)st; run_ok(body_large_transfer); }

/* ---- 10k concurrent connections --------------------------------------------------- */

enum { NCONN = 10000 };

typedef struct many {
    int port;
    int connected, failed;
    ts_event *all_in;
    ts_semaphore *connecting;
} many;

static void *many_client(void *arg) {
    many *m = arg;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", m->port);
    ts_stream *s = NULL;
    int err = ts_semaphore_acquire(m->connecting);
    if (!err) {
        err = ts_open_connection("127.0.0.1", ps, &s);
        ts_semaphore_release(m->connecting);
    }
    char line[8];
    if (!err)
        err = ts_stream_write(s, "a\n", 2);
    if (!err && ts_stream_readline(s, line, sizeof line) != 2)
        err = -EPROTO;
    if (!err && ++m->connected == NCONN)
        ts_event_set(m->all_in);
    /* Every connection stays open until all are in. */
    if (!err)
        err = ts_event_wait(m->all_in);
    if (!err && (ts_stream_write(s, "b\n", 2) || ts_stream_readline(s, line, sizeof line) != 2))
        err = -EPROTO;
    ts_stream_free(s);
    if (err)
        m->failed++;
    return NULL;
}

static void *body_many_clients(void *arg) {
    many *m = arg;
    m->all_in = ts_event_new();
    m->connecting = ts_semaphore_new(256);
    ts_task **t = calloc(NCONN, sizeof *t);
    ts_spawn_opts o = {.stack_size = 64 * 1024};
    for (int i = 0; i < NCONN; i++)
        t[i] = ts_spawn_with(&o, many_client, m);
    int err = ts_gather(t, NCONN, NULL, NULL);
    free(t);
    ts_event_free(m->all_in);
    ts_semaphore_free(m->connecting);
    return err ? ts_fail(err, NULL) : NULL;
}

/* The server side, in a child process so each side has its own NCONN
 * descriptors.  Reports its peak connection count through `report`. */
typedef struct many_server {
    int report, quit;
    size_t peak;
} many_server;

static void *body_many_server(void *arg) {
    many_server *ms = arg;
    ts_server *srv;
    ts_server_opts o = {.backlog = 4096, .stack_size = 64 * 1024};
    int err = ts_start_server(echo_lines, NULL, "127.0.0.1", "0", &o, &srv);
    if (err)
        return ts_fail(err, "start_server");
    int port = ts_server_port(srv);
    if (write(ms->report, &port, sizeof port) != sizeof port)
        return ts_fail(-EIO, "report");
    /* Until the parent closes the quit pipe, sample the connection count. */
    while (ts_wait_fd(ms->quit, TS_READABLE, 0.01) == -ETIMEDOUT)
        if (ts_server_connections(srv) > ms->peak)
            ms->peak = ts_server_connections(srv);
    ts_server_close(srv);
    ts_server_close_clients(srv);
    err = ts_server_wait_closed(srv);
    ts_server_free(srv);
    return err ? ts_fail(err, "wait_closed") : NULL;
}

static void test_10k_connections(void **st) {
    (void)st;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rlim_t need = NCONN + 256;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
        print_message("skipped: RLIMIT_NOFILE hard limit %llu < %llu needed for %d connections\n",
                      (unsigned long long)rl.rlim_max, (unsigned long long)need, NCONN);
        skip();
    }
    struct rlimit old = rl;
    rl.rlim_cur = rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int report[2], quit[2];
    assert_int_equal(pipe2(report, O_CLOEXEC), 0);
    assert_int_equal(pipe2(quit, O_CLOEXEC), 0);
    int before = fd_count();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        close(quit[1]);
        many_server ms = {.report = report[1], .quit = quit[0]};
        int rc = ts_run(body_many_server, &ms);
        size_t peak = ms.peak;
        ssize_t w = write(report[1], &peak, sizeof peak);
        _exit(rc == 0 && w == sizeof peak ? 0 : 1);
    }
    close(report[1]);
    close(quit[0]);
    many m = {0};
    assert_int_equal(read(report[0], &m.port, sizeof m.port), (ssize_t)sizeof m.port);
    diag_reset();
    int rc = run_main(body_many_clients, &m);
    close(quit[1]); /* the child closes its server */
    size_t peak = 0;
    assert_int_equal(read(report[0], &peak, sizeof peak), (ssize_t)sizeof peak);
    close(report[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(rc, 0);
    assert_int_equal(m.failed, 0);
    assert_int_equal(m.connected, NCONN);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    print_message("10k: %d connections open at once; server peak %zu\n", m.connected, peak);
    assert_no_diag();
    assert_int_equal(fd_count(), before - 4); /* the two pipes */
    setrlimit(RLIMIT_NOFILE, &old);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_variants),
        cmocka_unit_test(test_last_line_unterminated),
        cmocka_unit_test(test_cancel_keeps_partial),
        cmocka_unit_test(test_close_wakes_reader),
        cmocka_unit_test(test_free_flushes),
        cmocka_unit_test(test_drain_and_abort),
        cmocka_unit_test(test_peer_reset),
        cmocka_unit_test(test_reader_and_flusher),
        cmocka_unit_test(test_pipe_stream),
        cmocka_unit_test(test_server_echo),
        cmocka_unit_test(test_close_clients),
        cmocka_unit_test(test_serve_forever),
        cmocka_unit_test(test_unix_server_and_errors),
        cmocka_unit_test(test_large_transfer),
        cmocka_unit_test(test_10k_connections),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
