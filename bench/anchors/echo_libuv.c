/*
 * echo_libuv.c - the libuv anchor of the TCP echo benchmark.
 *
 * A libuv echo server written the way a libuv user who cares about speed
 * writes it: one read buffer per connection (no allocation per read), and
 * uv_try_write first, falling back to a queued uv_write (reading paused
 * until it completes) only when the socket's buffer is full.
 *
 * Listens on 127.0.0.1, a free port, prints the port on stdout and serves
 * until killed; driven by bench_echo (bench/echo_client.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define BUF_SIZE 16384

typedef struct conn {
    uv_tcp_t tcp;
    uv_write_t req;
    char buf[BUF_SIZE];
    char pending[BUF_SIZE];
} conn;

static uv_loop_t *loop;

static void on_close(uv_handle_t *h)
{
    free(h->data);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *out)
{
    (void)hint;
    conn *c = h->data;
    *out = uv_buf_init(c->buf, BUF_SIZE);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void write_cb(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    memcpy(c->pending, buf->base + done, (size_t)n - done);
    uv_buf_t rest = uv_buf_init(c->pending, (unsigned)((size_t)n - done));
    uv_read_stop(s);
    c->req.data = c;
    uv_write(&c->req, s, &rest, 1, write_cb);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    } else {
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

int main(void)
{
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    int err = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&server, 1024, on_connection);
    if (err) {
        fprintf(stderr, "echo_libuv: %s\n", uv_strerror(err));
        return 1;
    }
    struct sockaddr_in bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len);
    printf("%d\n", ntohs(bound.sin_port));
    fflush(stdout);
    return uv_run(loop, UV_RUN_DEFAULT);
}
