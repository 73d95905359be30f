/*
 * echo_client.c - bench_echo: the TCP echo benchmark, its load client and
 * its driver.
 *
 *     bench_echo [--quick|--full] [--reps N] [--pin] [--api streams|protocol]
 *                [--only SOURCE]
 *
 * Workload: 50 connections over loopback, each sending a 64-byte message
 * (bench_echo_1k: 1,000 connections; bench_echo_4k: 4 KiB messages)
 * and waiting for its echo before sending the next (one request in flight
 * per connection); the figure is completed requests per second over a
 * fixed window after a warm-up.  The client is plain epoll and
 * non-blocking sockets, no taskscope, so it measures the server alone; it
 * checks every echoed byte.
 *
 * Servers, each started as a child process that prints its port, measured
 * and killed, one after the other within each repetition so that a burst
 * of machine noise hits them all alike:
 *   taskscope       echo_server (this directory's build)
 *   libuv           echo_libuv (bench/anchors/echo_libuv.c)
 *   io_uring-raw    echo_uring (bench/anchors/echo_uring.c): a bare
 *                   liburing server, the floor for any io_uring server
 *   python-asyncio  bench/anchors/echo_asyncio.py --loop asyncio
 *   python-uvloop   bench/anchors/echo_asyncio.py --loop uvloop
 *   taskscope-epoll echo_server with TASKSCOPE_NET=epoll (the socket
 *                   backend taskscope uses where io_uring is missing)
 *   (debug_echo)    echo_server again, with libtaskscope-debug swapped in
 *                   through LD_LIBRARY_PATH (same binary, same soname; the
 *                   child's /proc/PID/maps is checked to be sure)
 * Python is /usr/bin/python3 when it exists (Debian's, with uvloop), else
 * python3 from PATH.  --api picks the Python servers' interface (streams,
 * the default, is the same API as taskscope's server; protocol is
 * asyncio's faster callback interface).  --pin puts the client on CPU 0
 * and the server on CPU 1.  Each figure is one JSON line (bench_util.h),
 * the best of the repetitions; a server that is missing or fails gets an
 * error line instead.  Figures: `echo` from every server above, and
 * `debug_echo`: the debug runtime's rate (source taskscope) beside the
 * release runtime's from the same run (source release), so that bench/run
 * prints debug/release as its ratio.  And `echo_cpu`: each server's CPU
 * time per request over the window (utime + stime from /proc/PID/stat,
 * lowest of the repetitions), in us, lower is better: on a loaded machine
 * the rates swing far more than that cost does; likewise debug_echo_cpu.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#ifndef ECHO_ANCHOR_DIR
#define ECHO_ANCHOR_DIR "bench/anchors"
#endif

/* The shape: echo (50 x 64 B) by default; the build makes bench_echo_1k
 * (1,000 connections) and bench_echo_4k (4 KiB messages) from this file
 * too, which measure taskscope on both socket backends, libuv and
 * io_uring-raw only. */
#ifndef NCONN
#define NCONN 50
#endif
#ifndef MSG
#define MSG 64
#endif
#ifndef FIGURE
#define FIGURE "echo"
#define FULL_SET 1      /* the Python anchors and the debug runtime too */
#else
#define FULL_SET 0
#endif
#define NOT_INSTALLED 3

typedef struct server {
    const char *source;
    char *argv[8];
    const char *libdir;    /* LD_LIBRARY_PATH for the child, or NULL */
    const char *net;       /* TASKSCOPE_NET for the child, or NULL */
    double best;
    double best_cpu;       /* lowest server CPU seconds per request seen */
    int measured;
    char error[160];
} server;

typedef struct conn {
    int fd;
    size_t got;            /* bytes of the current echo received */
    char msg[MSG];
} conn;

static int pin_cpus;

static void pin_to(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

/* ---- servers ------------------------------------------------------------- */

/* Start argv with its stdout on a pipe and read the port it prints.
 * Returns the port, or -1 with why in err. */
static int start_server(char *const argv[], const char *libdir, const char *net,
                        pid_t *pid, char *err, size_t errlen)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    *pid = fork();
    if (*pid == 0) {
        if (pin_cpus)
            pin_to(1);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(p[1], 1);
        if (libdir)
            setenv("LD_LIBRARY_PATH", libdir, 1);
        if (net)
            setenv("TASKSCOPE_NET", net, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    char line[32] = "";
    size_t n = 0;
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    while (n < sizeof line - 1 && !memchr(line, '\n', n) && poll(&pfd, 1, 20000) > 0) {
        ssize_t r = read(p[0], line + n, sizeof line - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        line[n] = '\0';
    }
    close(p[0]);
    int port = atoi(line);
    if (port > 0)
        return port;
    int status = 0;
    kill(*pid, SIGKILL);
    waitpid(*pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == NOT_INSTALLED)
        snprintf(err, errlen, "not installed (%s)", argv[0]);
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(err, errlen, "cannot run %s", argv[0]);
    else
        snprintf(err, errlen, "%s did not start", argv[0]);
    return -1;
}

/* Whether the child mapped a file from dir (the library it was given). */
static int maps_from(pid_t pid, const char *dir)
{
    char path[64], line[PATH_MAX + 128];
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, real) != NULL && strstr(line, "libtaskscope") != NULL;
    if (f)
        fclose(f);
    return found;
}

static void stop_server(pid_t pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        struct timespec ms10 = {0, 10000000};
        nanosleep(&ms10, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- the load ---------------------------------------------------------------- */

static int connect_all(conn *c, int port, int ep)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < NCONN; i++) {
        c[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c[i].fd < 0 || connect(c[i].fd, (struct sockaddr *)&sin, sizeof sin) < 0)
            return -errno;
        int one = 1;
        setsockopt(c[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c[i].fd, F_SETFL, O_NONBLOCK);
        for (int k = 0; k < MSG; k++)
            c[i].msg[k] = (char)('A' + (i + k) % 26);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
            return -errno;
    }
    return 0;
}

/* Take what arrived on c; returns requests completed (0 or 1), or -1 on a
 * wrong echo or a broken connection. */
static int on_readable(conn *c)
{
    char buf[MSG];
    ssize_t n = read(c->fd, buf, MSG - c->got);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0 || memcmp(buf, c->msg + c->got, (size_t)n) != 0)
        return -1;
    c->got += (size_t)n;
    if (c->got < MSG)
        return 0;
    c->got = 0;
    return write(c->fd, c->msg, MSG) == MSG ? 1 : -1;
}

/* CPU time (user + system) the process has used so far, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    unsigned long ut = 0, st = 0;
    /* Fields 14 and 15, after the command name in parentheses. */
    int ok = f && fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                         &ut, &st) == 2;
    if (f)
        fclose(f);
    return ok ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) : -1;
}

/* Requests per second over `window` seconds after `warmup`, or a negative
 * value with the reason in err.  *cpu_per_req receives the server's CPU
 * time per request in the window (a figure that machine load disturbs
 * much less than the rate), or -1. */
static double run_load(int port, pid_t server, double warmup, double window,
                       double *cpu_per_req, char *err, size_t errlen)
{
    conn *c = calloc(NCONN, sizeof *c);
    struct epoll_event *evs = calloc(NCONN, sizeof *evs);
    double rate = -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!c || !evs) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < NCONN; i++)
        c[i].fd = -1;
    int e = connect_all(c, port, ep);
    for (int i = 0; !e && i < NCONN; i++)
        if (write(c[i].fd, c[i].msg, MSG) != MSG)
            e = -EIO;
    if (e) {
        snprintf(err, errlen, "connecting: %s", strerror(-e));
        goto out;
    }
    int64_t start = bench_now_ns();
    int64_t t0 = start + (int64_t)(warmup * 1e9), t1 = t0 + (int64_t)(window * 1e9);
    int64_t last_progress = start, now = start, t0_seen = -1;
    double cpu0 = -1;
    long done = 0, counted_from = 0;
    while (now < t1) {
        int n = epoll_wait(ep, evs, NCONN, 100);
        for (int i = 0; i < n; i++) {
            int r = on_readable(&c[evs[i].data.u32]);
            if (r < 0) {
                snprintf(err, errlen, "connection %u: bad echo or closed", evs[i].data.u32);
                goto out;
            }
            done += r;
        }
        now = bench_now_ns();
        if (n > 0)
            last_progress = now;
        if (t0_seen < 0 && now >= t0) {
            t0_seen = now;
            counted_from = done;
            cpu0 = cpu_seconds(server);
        }
        if (now - last_progress > 5 * (int64_t)1000000000) {
            snprintf(err, errlen, "server stalled");
            goto out;
        }
    }
    rate = (double)(done - counted_from) / ((double)(now - t0_seen) / 1e9);
    double cpu1 = cpu_seconds(server);
    *cpu_per_req = cpu0 >= 0 && cpu1 >= 0 && done > counted_from
                       ? (cpu1 - cpu0) / (double)(done - counted_from) : -1;
out:
    for (int i = 0; c && i < NCONN; i++)
        if (c[i].fd >= 0)
            close(c[i].fd);
    free(c);
    free(evs);
    close(ep);
    return rate;
}

static void measure(server *s, double warmup, double window)
{
    if (s->error[0] && !s->measured)
        return; /* failed before: do not retry every repetition */
    pid_t pid;
    char err[128] = "";
    int port = start_server(s->argv, s->libdir, s->net, &pid, err, sizeof err);
    if (port < 0) {
        snprintf(s->error, sizeof s->error, "%s", err);
        return;
    }
    if (s->libdir && !maps_from(pid, s->libdir)) {
        stop_server(pid);
        snprintf(s->error, sizeof s->error, "the library in %s was not loaded", s->libdir);
        return;
    }
    double cpu = -1;
    double v = run_load(port, pid, warmup, window, &cpu, err, sizeof err);
    stop_server(pid);
    if (v < 0) {
        snprintf(s->error, sizeof s->error, "%s", err);
        return;
    }
    fprintf(stderr, FIGURE "/%s: %.0f req/s, server CPU %.2f us/request\n", s->source, v,
            cpu * 1e6);
    if (cpu > 0 && (s->best_cpu <= 0 || cpu < s->best_cpu))
        s->best_cpu = cpu;
    if (!s->measured || v > s->best)
        s->best = v;
    s->measured++;
}

/* One figure line from s's best rate, or its error.  Returns 1 on error. */
static int emit(const char *figure, const char *source, const server *s)
{
    char stat[32];
    if (!s->measured) {
        bench_emit_error(figure, source, "req/s", 1, s->error);
        return 1;
    }
    snprintf(stat, sizeof stat, "best of %d", s->measured);
    bench_emit(figure, source, s->best, "req/s", 1, stat);
    return 0;
}

/* A CPU-cost line: the server's lowest CPU time per request, in us. */
static void emit_cpu(const char *figure, const char *source, const server *s)
{
    char stat[32];
    if (!s->measured || s->best_cpu <= 0) {
        bench_emit_error(figure, source, "us/request", 0,
                         s->measured ? "no CPU time for the server" : s->error);
        return;
    }
    snprintf(stat, sizeof stat, "best of %d", s->measured);
    bench_emit(figure, source, s->best_cpu * 1e6, "us/request", 0, stat);
}

/* ---- command line ---------------------------------------------------------------- */

/* A path next to this program; at most NSIBLINGS of them are alive. */
#define NSIBLINGS 8
static char *sibling(const char *name)
{
    static char paths[NSIBLINGS][PATH_MAX];
    static int next;
    if (next == NSIBLINGS)
        abort(); /* a programming error in main below, not bad input */
    char *out = paths[next++];
    ssize_t n = readlink("/proc/self/exe", out, PATH_MAX - 64);
    if (n < 0)
        n = 0;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    snprintf(slash ? slash + 1 : out, 64, "%s", name);
    return out;
}

int main(int argc, char **argv)
{
    const char *api = "streams", *only = NULL;
    char *rest[8];
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pin") == 0)
            pin_cpus = 1;
        else if (strcmp(argv[i], "--api") == 0 && i + 1 < argc)
            api = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (nrest < 7)
            rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    bench_opts o;
    if (bench_parse(nrest, rest, &o))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (pin_cpus)
        pin_to(0);

    char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char *script = ECHO_ANCHOR_DIR "/echo_asyncio.py";
    /* taskscope runs on its default socket backend (io_uring where the
     * kernel has it) and again with TASKSCOPE_NET=epoll: its figure's
     * _vs_taskscope-epoll line is the io_uring/epoll ratio. */
    server servers[] = {
        {.source = "taskscope", .argv = {sibling("echo_server")}},
        {.source = "libuv", .argv = {sibling("echo_libuv")}},
        {.source = "io_uring-raw", .argv = {sibling("echo_uring")}},
#if FULL_SET
        {.source = "python-asyncio",
         .argv = {python, script, "--loop", "asyncio", "--api", (char *)api}},
        {.source = "python-uvloop",
         .argv = {python, script, "--loop", "uvloop", "--api", (char *)api}},
#endif
        {.source = "taskscope-epoll", .argv = {sibling("echo_server")}, .net = "epoll"},
#if FULL_SET
        {.source = "taskscope-debug", .argv = {sibling("echo_server")},
         .libdir = sibling("../runtime/debug")},
#endif
    };
    (void)python;
    (void)script;
    (void)api;
    int nservers = sizeof servers / sizeof servers[0];
    double warmup = bench_pick(&o, 2, 5) / 10.0;
    double window = bench_pick(&o, 5, 30) / 10.0;
    for (int rep = 0; rep < o.reps; rep++)
        for (int i = 0; i < nservers; i++)
            if (!only || strcmp(only, servers[i].source) == 0)
                measure(&servers[i], warmup, window);

    int status = 0;
    int nplain = nservers - FULL_SET; /* all but the debug runtime */
    for (int i = 0; i < nplain; i++)
        if (!only || strcmp(only, servers[i].source) == 0)
            status |= emit(FIGURE, servers[i].source, &servers[i]) && i == 0;
    for (int i = 0; i < nplain; i++)
        if (!only || strcmp(only, servers[i].source) == 0)
            emit_cpu(FIGURE "_cpu", servers[i].source, &servers[i]);
#if FULL_SET
    if (!only || strcmp(only, "taskscope-debug") == 0)
        status |= emit("debug_echo", "taskscope", &servers[nservers - 1]);
    if (!only)
        emit("debug_echo", "release", &servers[0]);
    if (!only || strcmp(only, "taskscope-debug") == 0)
        emit_cpu("debug_echo_cpu", "taskscope", &servers[nservers - 1]);
    if (!only)
        emit_cpu("debug_echo_cpu", "release", &servers[0]);
#endif
    return status;
}
