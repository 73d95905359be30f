/*
 * http_fetch.c - fetch several URLs concurrently over HTTP/1.1, each with a
 * time limit.
 *
 * Python (aiohttp):
 *     async def fetch(session, url):
 *         async with session.get(url) as response:
 *             return await response.text()
 *
 *     async def main():
 *         urls = ['http://example.com', 'http://example.org',
 *                 'http://example.net']
 *         async with aiohttp.ClientSession() as session:
 *             tasks = [asyncio.wait_for(fetch(session, url), timeout=3)
 *                      for url in urls]
 *             results = await asyncio.gather(*tasks, return_exceptions=True)
 *             for url, result in zip(urls, results):
 *                 print(f"Content from {url}: {len(result)} characters")
 *
 * The HTTP client is written here on taskscope's streams: ts_open_connection
 * (the name is resolved off the loop), ts_stream_write + ts_stream_drain
 * for the request, ts_stream_readline for the status line and headers,
 * ts_stream_read_exactly for a Content-Length body, chunked bodies and
 * bodies ending with the connection.  Each fetch is its own task under
 * ts_wait_for, and ts_gather collects them all, errors included; a fetch
 * that is too slow is cancelled wherever it waits, and its connection is
 * closed on the way out.  Plain http:// only (no TLS).
 *
 * URLs come from the command line, else from $TASKSCOPE_HTTP_URLS
 * (space-separated), else the three above.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <taskscope/taskscope.h>

#define TIMEOUT 3.0          /* seconds per URL */
#define MAX_URLS 32
#define MAX_BODY (16u << 20)

typedef struct url {
    char host[256];
    char port[8];
    char path[1024];
} url;

/* "http://host[:port][/path]" */
static int parse_url(const char *s, url *u) {
    if (strncmp(s, "http://", 7) != 0)
        return -EPROTONOSUPPORT;
    s += 7;
    size_t hl = strcspn(s, ":/");
    if (hl == 0 || hl >= sizeof u->host)
        return -EINVAL;
    memcpy(u->host, s, hl);
    u->host[hl] = '\0';
    s += hl;
    snprintf(u->port, sizeof u->port, "80");
    if (*s == ':') {
        size_t pl = strcspn(++s, "/");
        if (pl == 0 || pl >= sizeof u->port)
            return -EINVAL;
        memcpy(u->port, s, pl);
        u->port[pl] = '\0';
        s += pl;
    }
    snprintf(u->path, sizeof u->path, "%s", *s ? s : "/");
    return 0;
}

/* What the headers say about the body. */
typedef struct response {
    int status;
    long long length;    /* Content-Length, or -1 */
    int chunked;
    char *body;
    size_t size;
} response;

static int read_head(ts_stream *s, response *r) {
    char line[8192];
    ssize_t n = ts_stream_readline(s, line, sizeof line);
    if (n <= 0)
        return n < 0 ? (int)n : -EPROTO;
    if (sscanf(line, "HTTP/%*d.%*d %d", &r->status) != 1)
        return -EPROTO;
    r->length = -1;
    while ((n = ts_stream_readline(s, line, sizeof line)) > 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            r->length = strtoll(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
                 strstr(line + 18, "chunked"))
            r->chunked = 1;
    }
    return n < 0 ? (int)n : n == 0 ? -EPROTO : 0;
}

/* Append exactly n bytes of the stream to the body. */
static int read_body_part(ts_stream *s, response *r, size_t n) {
    if (r->size + n > MAX_BODY)
        return -EFBIG;
    char *b = realloc(r->body, r->size + n + 1);
    if (!b)
        return -ENOMEM;
    r->body = b;
    int err = ts_stream_read_exactly(s, b + r->size, n, NULL);
    if (err)
        return err == TS_EOF ? -EPROTO : err;
    r->size += n;
    return 0;
}

static int read_chunked(ts_stream *s, response *r) {
    char line[256];
    for (;;) {
        ssize_t n = ts_stream_readline(s, line, sizeof line);
        if (n <= 0)
            return n < 0 ? (int)n : -EPROTO;
        size_t len = strtoul(line, NULL, 16);
        if (len == 0)
            return 0; /* trailers are not read: the connection closes */
        int err = read_body_part(s, r, len);
        if (!err && ts_stream_readline(s, line, sizeof line) != 2)
            err = -EPROTO;
        if (err)
            return err;
    }
}

static int read_to_end(ts_stream *s, response *r) {
    char buf[16384];
    ssize_t n;
    while ((n = ts_stream_read(s, buf, sizeof buf)) > 0) {
        if (r->size + (size_t)n > MAX_BODY)
            return -EFBIG;
        char *b = realloc(r->body, r->size + (size_t)n + 1);
        if (!b)
            return -ENOMEM;
        memcpy(b + r->size, buf, (size_t)n);
        r->body = b;
        r->size += (size_t)n;
    }
    return (int)n;
}

/* session.get(url) and response.text(): one request on its own connection. */
static int http_get(const url *u, response *r) {
    ts_stream *s;
    int err = ts_open_connection(u->host, u->port, &s);
    if (err)
        return err;
    char req[2048];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.1\r\nHost: %s\r\n"
                       "User-Agent: taskscope-http_fetch\r\n"
                       "Connection: close\r\n\r\n", u->path, u->host);
    err = ts_stream_write(s, req, (size_t)len);
    if (!err)
        err = ts_stream_drain(s);
    if (!err)
        err = read_head(s, r);
    if (!err && r->chunked)
        err = read_chunked(s, r);
    else if (!err && r->length >= 0)
        err = r->length > (long long)MAX_BODY ? -EFBIG
                                              : read_body_part(s, r, (size_t)r->length);
    else if (!err)
        err = read_to_end(s, r);
    ts_stream_free(s); /* closes the connection, on every path */
    return err;
}

/* len(text): UTF-8 characters, not bytes. */
static size_t utf8_length(const char *p, size_t n) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)p[i] & 0xC0) != 0x80;
    return chars;
}

typedef struct fetch {
    const char *url;
    int status;
    size_t chars;
} fetch;

static void *fetch_url(void *arg) {
    fetch *f = arg;
    url u;
    response r = {0};
    int err = parse_url(f->url, &u);
    if (!err)
        err = http_get(&u, &r);
    f->status = r.status;
    f->chars = utf8_length(r.body, r.size);
    free(r.body);
    return err ? ts_fail(err, "fetching %s", f->url) : NULL;
}

/* asyncio.wait_for(fetch(session, url), timeout=TIMEOUT) */
static void *fetch_with_timeout(void *arg) {
    int err = ts_wait_for(ts_spawn(fetch_url, arg), TIMEOUT, NULL);
    return err ? ts_fail(err, NULL) : NULL;
}

typedef struct urls {
    const char *list[MAX_URLS];
    size_t n;
} urls;

static void *amain(void *arg) {
    urls *us = arg;
    fetch f[MAX_URLS] = {{0}};
    ts_task *t[MAX_URLS];
    int errs[MAX_URLS];
    for (size_t i = 0; i < us->n; i++) {
        f[i].url = us->list[i];
        t[i] = ts_spawn(fetch_with_timeout, &f[i]);
    }
    int err = ts_gather(t, us->n, NULL, errs); /* return_exceptions=True */
    if (err)
        return ts_fail(err, "gather");
    for (size_t i = 0; i < us->n; i++) {
        if (errs[i] == -ETIMEDOUT)
            printf("%s: timed out after %.0f s\n", f[i].url, TIMEOUT);
        else if (errs[i])
            printf("%s: failed: %s\n", f[i].url, ts_strerror(errs[i]));
        else if (f[i].status != 200)
            printf("%s: HTTP status %d\n", f[i].url, f[i].status);
        else
            printf("Content from %s: %zu characters\n", f[i].url, f[i].chars);
    }
    return NULL;
}

int main(int argc, char **argv) {
    static const char *defaults[] = {"http://example.com", "http://example.org",
                                     "http://example.net"};
    urls us = {.n = 0};
    char *env = getenv("TASKSCOPE_HTTP_URLS");
    char *copy = env ? strdup(env) : NULL;
    if (argc > 1) {
        for (int i = 1; i < argc && us.n < MAX_URLS; i++)
            us.list[us.n++] = argv[i];
    } else if (copy) {
        for (char *save, *tok = strtok_r(copy, " ", &save); tok && us.n < MAX_URLS;
             tok = strtok_r(NULL, " ", &save))
            us.list[us.n++] = tok;
    } else {
        for (size_t i = 0; i < 3; i++)
            us.list[us.n++] = defaults[i];
    }
    int err = ts_run(amain, &us);
    free(copy);
    if (err) {
        fprintf(stderr, "http_fetch: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
