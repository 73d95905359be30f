/*
 * echo_server.c - the taskscope side of the TCP echo benchmark.
 *
 * asyncio.start_server with a streams handler, as the tutorial writes an
 * echo server:
 *     async def handle(reader, writer):
 *         while data := await reader.read(65536):
 *             writer.write(data)
 *             await writer.drain()
 *
 * Listens on 127.0.0.1, a free port, prints the port on stdout and serves
 * until killed.  Driven by bench_echo (echo_client.c), which starts it,
 * measures it and kills it; the same protocol as anchors/echo_libuv.c and
 * anchors/echo_asyncio.py.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static int echo(ts_stream *s, void *arg)
{
    (void)arg;
    char buf[16384];
    ssize_t n;
    while ((n = ts_stream_read(s, buf, sizeof buf)) > 0) {
        if (ts_stream_write(s, buf, (size_t)n) || ts_stream_drain(s))
            break;
    }
    return 0; /* a client going away is not an error here */
}

static void *serve(void *arg)
{
    (void)arg;
    ts_server *srv;
    int err = ts_start_server(echo, NULL, "127.0.0.1", "0", NULL, &srv);
    if (err)
        return ts_fail(err, "start_server");
    printf("%d\n", ts_server_port(srv));
    fflush(stdout);
    err = ts_serve_forever(srv);
    ts_server_free(srv);
    return err ? ts_fail(err, "serve_forever") : NULL;
}

int main(void)
{
    int err = ts_run(serve, NULL);
    if (err) {
        fprintf(stderr, "echo_server: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
