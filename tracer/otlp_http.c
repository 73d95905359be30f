/*
 * otlp_http.c - see otlp_http.h.  Every wait has a deadline (poll on a
 * non-blocking socket), so a collector that accepts and never answers
 * costs a timeout and a retry, never a hang; SIGPIPE is never raised
 * (MSG_NOSIGNAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "export_otlp_impl.h"
#include "otlp_http.h"
#include "textsafe.h"

#define RETRIES 5
#define CONNECT_MS 5000
#define IO_MS 30000
#define REPLY_MAX (64 * 1024)

struct ts_otlp_http {
    char host[256], port[16], path[1024];
    char url[1400];
    uint64_t requests, retries;
};

int ts_otlp_http_new(const char *url, ts_otlp_http **out, char *err, size_t errlen) {
    if (!strncasecmp(url, "https://", 8)) {
        snprintf(err, errlen, "%s: https is not supported: taskscope speaks plain HTTP "
                              "(http://) to a collector; let the collector do TLS onward", url);
        return -EINVAL;
    }
    if (strncasecmp(url, "http://", 7)) {
        snprintf(err, errlen, "%s: not an http:// URL", url);
        return -EINVAL;
    }
    ts_otlp_http *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    const char *p = url + 7, *hend, *rest;
    if (*p == '[') { /* [v6 address] */
        hend = strchr(p, ']');
        if (!hend) {
            free(h);
            snprintf(err, errlen, "%s: unterminated [address]", url);
            return -EINVAL;
        }
        snprintf(h->host, sizeof h->host, "%.*s", (int)(hend - p - 1), p + 1);
        rest = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        snprintf(h->host, sizeof h->host, "%.*s", (int)(hend - p), p);
        rest = hend;
    }
    snprintf(h->port, sizeof h->port, "4318");
    if (*rest == ':') {
        size_t n = strcspn(rest + 1, "/");
        if (!n || n >= sizeof h->port || strspn(rest + 1, "0123456789") != n) {
            free(h);
            snprintf(err, errlen, "%s: bad port", url);
            return -EINVAL;
        }
        snprintf(h->port, sizeof h->port, "%.*s", (int)n, rest + 1);
        rest += 1 + n;
    }
    if (!h->host[0] || strpbrk(h->host, " \r\n") || strpbrk(rest, " \r\n")) {
        free(h);
        snprintf(err, errlen, "%s: bad host or path", url);
        return -EINVAL;
    }
    snprintf(h->path, sizeof h->path, "%s", *rest && strcmp(rest, "/") ? rest : "/v1/traces");
    snprintf(h->url, sizeof h->url, "http://%s%s%s:%s%s", strchr(h->host, ':') ? "[" : "",
             h->host, strchr(h->host, ':') ? "]" : "", h->port, h->path);
    *out = h;
    return 0;
}

void ts_otlp_http_free(ts_otlp_http *h) { free(h); }
uint64_t ts_otlp_http_requests(const ts_otlp_http *h) { return h->requests; }
uint64_t ts_otlp_http_retries(const ts_otlp_http *h) { return h->retries; }

static int wait_fd(int fd, short events, int ms) {
    struct pollfd p = {.fd = fd, .events = events};
    int n;
    do
        n = poll(&p, 1, ms);
    while (n < 0 && errno == EINTR);
    return n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
}

static int dial(const ts_otlp_http *h, char *err, size_t errlen) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
    int rc = getaddrinfo(h->host, h->port, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", h->host, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    int fd = -1, e = ECONNREFUSED;
    for (a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS) {
            e = errno;
        } else {
            int w = wait_fd(fd, POLLOUT, CONNECT_MS);
            socklen_t len = sizeof e;
            if (w)
                e = -w;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) || !e)
                break; /* connected */
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to the collector at %s: %s", h->url, strerror(e));
    return fd < 0 ? -e : fd;
}

static int send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            int w = wait_fd(fd, POLLOUT, IO_MS);
            if (w)
                return w;
            continue;
        }
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read the reply until the server closes (we asked it to), at most
 * REPLY_MAX bytes (the rest of an over-long reply is not needed). */
static ssize_t read_reply(int fd, char *buf, size_t cap) {
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            int w = wait_fd(fd, POLLIN, IO_MS);
            if (w)
                return w;
            continue;
        }
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = 0;
    return (ssize_t)n;
}

/* The outcome of one attempt. */
enum { SENT, RETRY, REFUSED };

/* One POST.  Returns SENT, RETRY (with *retry_after in ms, 0 for the
 * default backoff) or REFUSED, with a message in err for the last two. */
static int post(ts_otlp_http *h, const uint8_t *body, size_t len, size_t nspans, int *retry_after,
                char *err, size_t errlen) {
    *retry_after = 0;
    int fd = dial(h, err, errlen);
    if (fd < 0)
        return fd == -EHOSTUNREACH ? REFUSED : RETRY;
    char head[1600];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: taskscope/" TS_VERSION
                      "\r\nContent-Type: application/x-protobuf\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", h->path, h->host, h->port, len);
    int rc = send_all(fd, head, (size_t)hn);
    if (!rc)
        rc = send_all(fd, body, len);
    char *reply = malloc(REPLY_MAX);
    ssize_t n = rc || !reply ? rc : read_reply(fd, reply, REPLY_MAX);
    close(fd);
    if (!reply) {
        snprintf(err, errlen, "out of memory");
        return REFUSED;
    }
    if (rc || n <= 0) {
        snprintf(err, errlen, "the collector at %s: %s", h->url,
                 rc || n < 0 ? strerror((int)-(rc ? rc : n)) : "closed without a reply");
        free(reply);
        return RETRY;
    }
    int status = 0;
    char reason[64] = "";
    if (sscanf(reply, "HTTP/1.%*d %d %63[^\r\n]", &status, reason) < 1) {
        snprintf(err, errlen, "the collector at %s did not answer in HTTP", h->url);
        free(reply);
        return REFUSED;
    }
    char *hdr_end = strstr(reply, "\r\n\r\n");
    const char *bodyp = hdr_end ? hdr_end + 4 : "";
    size_t blen = hdr_end ? (size_t)n - (size_t)(bodyp - reply) : 0;
    if (hdr_end)
        *hdr_end = 0;
    for (char *l = strstr(reply, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, "Retry-After:", 12)) {
            long s = strtol(l + 14, NULL, 10);
            *retry_after = s > 0 && s <= 30 ? (int)s * 1000 : 0;
        }
    int out;
    if (status >= 200 && status < 300) {
        out = SENT;
        otlp_response *r = blen ? opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
                                      NULL, blen, (const uint8_t *)bodyp)
                                : NULL;
        if (r && r->partial_success && r->partial_success->rejected_spans > 0) {
            char msg[256];
            ts_text_safe(msg, sizeof msg, r->partial_success->error_message, 200);
            snprintf(err, errlen, "the collector at %s rejected %" PRId64 " of %zu spans: %s",
                     h->url, r->partial_success->rejected_spans, nspans, msg);
            out = REFUSED;
        }
        if (r)
            opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
    } else {
        char why[64], excerpt[256];
        ts_text_safe(why, sizeof why, reason, 60);
        /* a protobuf Status or text: shown escaped, never raw */
        char raw[201];
        size_t k = blen < 200 ? blen : 200;
        memcpy(raw, bodyp, k);
        raw[k] = 0;
        ts_text_safe(excerpt, sizeof excerpt, raw, 200);
        int again = status == 429 || status == 502 || status == 503 || status == 504;
        snprintf(err, errlen, "the collector at %s %s the batch: HTTP %d %s%s%s", h->url,
                 again ? "could not take" : "refused", status, why, excerpt[0] ? ": " : "",
                 excerpt);
        out = again ? RETRY : REFUSED;
    }
    free(reply);
    return out;
}

int ts_otlp_http_sink(const otlp_request *req, size_t nspans, void *arg, char *err,
                      size_t errlen) {
    ts_otlp_http *h = arg;
    size_t len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(req);
    uint8_t *body = malloc(len ? len : 1);
    if (!body) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(req, body);
    int backoff = 250, rc = REFUSED;
    for (int attempt = 0; attempt <= RETRIES; attempt++) {
        int retry_after;
        rc = post(h, body, len, nspans, &retry_after, err, errlen);
        if (rc != RETRY || attempt == RETRIES)
            break;
        int ms = retry_after ? retry_after : backoff;
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) && errno == EINTR)
            ;
        backoff *= 2;
        h->retries++;
    }
    free(body);
    if (rc == SENT) {
        h->requests++;
        return 0;
    }
    if (rc == RETRY) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (gave up after %d attempts)", RETRIES + 1);
    }
    return -EIO;
}
