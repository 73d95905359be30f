/*
 * prog_why_fd.c - fd waits whose peer is known, for test_why_fd.py
 * (issue 19: "I/O on an fd, with the peer where known").
 *
 *   prog_why_fd thread
 *     A plain thread (not a task: the recording sees nothing of it)
 *     serves a blocking TCP listener on 127.0.0.1; task "asker" connects
 *     with ts_tcp_connect, sends "ping" and waits in ts_sock_recv; the
 *     thread answers "pong" 50 ms after reading the ping.  No task woke
 *     the asker: why says the cause is outside the process (the peer).
 *   prog_why_fd task
 *     The same, the server being task "server" on a ts_tcp_listen fd
 *     (accepts, sleeps 50 ms, answers): the peer is this process's own
 *     accepted fd, which why names.
 *   prog_why_fd hangwrap
 *     As hang, on a 64 KiB ring, and once the asker waits task "churner"
 *     writes events until the ring has wrapped past the fd's fd_info; then
 *     "ready ...": a state dump must describe the fd again.
 *   prog_why_fd hang
 *     As thread, but the thread never answers: once the asker waits, the
 *     program prints "ready pid=P asker=ID fd=FD port=PORT" and runs
 *     until killed (for a live `taskscope ps`).
 *   prog_why_fd hostile DIR
 *     task "asker" connects to a Unix socket whose name, in DIR, holds
 *     control characters (ESC, newline, BEL); task "server" answers late.
 *     First main opens and closes file DIR/f<ESC>[1mile with ts_file_*:
 *     its fd gets an "opened" row with the path, then a "closed" row.
 *
 * Each prints "asker=ID fd=FD port=PORT" (port 0 for Unix) once done.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static int lfd = -1, asker_fd = -1, port;
static char port_s[16], unix_path[512];
static int use_unix, hang, wrap;
/* hangwrap: the asker is parked in its recv (asked), then the churner
 * has written enough events to wrap the ring (churned) */
static atomic_int asked, churned;
static _Atomic unsigned long long asker_id;

static void *thread_server(void *arg) {
    (void)arg;
    int c = accept(lfd, NULL, NULL);
    char buf[8];
    if (c < 0 || recv(c, buf, 4, MSG_WAITALL) != 4)
        return NULL;
    if (hang) { /* the asker is in its recv by now, or about to be */
        usleep(100000);
        atomic_store(&asked, 1);
        while (wrap && !atomic_load(&churned))
            usleep(10000);
        printf("ready pid=%d asker=%llu fd=%d port=%d\n", (int)getpid(),
               (unsigned long long)atomic_load(&asker_id), asker_fd, port);
        fflush(stdout);
        for (;;)
            pause();
    }
    usleep(50000);
    (void)send(c, "pong", 4, 0);
    recv(c, buf, sizeof buf, 0); /* until the asker closes */
    close(c);
    return NULL;
}

static void *task_server(void *arg) {
    (void)arg;
    int c = ts_sock_accept(lfd, NULL, NULL);
    char buf[8];
    if (c < 0 || ts_sock_recv(c, buf, 4) != 4)
        return NULL;
    ts_sleep(0.050);
    ts_sock_sendall(c, "pong", 4, NULL);
    close(c);
    return NULL;
}

static void *asker_main(void *arg) {
    (void)arg;
    int fd = -1;
    int err = use_unix ? ts_unix_connect(unix_path, &fd) : ts_tcp_connect("127.0.0.1", port_s, &fd);
    if (err) {
        fprintf(stderr, "connect: %s\n", strerror(-err));
        return NULL;
    }
    asker_fd = fd;
    ts_sock_sendall(fd, "ping", 4, NULL);
    char buf[8];
    ssize_t n = ts_sock_recv(fd, buf, sizeof buf);
    if (n != 4)
        fprintf(stderr, "recv: %zd\n", n);
    close(fd);
    return NULL;
}

/* hangwrap: once the asker waits, 20,000 sleep(0)s, a few hundred KB of
 * events through a 64 KiB ring: the fd_info of the asker's fd is gone
 * from it. */
static void *churner_main(void *arg) {
    (void)arg;
    while (!atomic_load(&asked))
        ts_sleep(0.005);
    for (int i = 0; i < 20000; i++)
        ts_sleep(0);
    atomic_store(&churned, 1);
    return NULL;
}

static const char *mode;

static void *amain(void *arg) {
    (void)arg;
    pthread_t th;
    ts_task *srv = NULL;
    if (use_unix) {
        char fpath[600];
        ts_file *f;
        snprintf(fpath, sizeof fpath, "%s", unix_path);
        strcpy(strrchr(fpath, '/'), "/f\x1b[1mile");
        if (ts_file_open(fpath, O_CREAT | O_WRONLY, 0600, &f) || ts_file_close(f))
            return (void *)1;
        unlink(fpath);
    }
    if (!strcmp(mode, "thread") || !strcmp(mode, "hang") || wrap) {
        hang = strcmp(mode, "thread") != 0;
        if (wrap)
            ts_spawn_named("churner", churner_main, NULL);
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t l = sizeof a;
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 4) ||
            getsockname(lfd, (struct sockaddr *)&a, &l))
            return (void *)1;
        port = ntohs(a.sin_port);
        pthread_create(&th, NULL, thread_server, NULL);
    } else {
        int err = use_unix ? ts_unix_listen(unix_path, 4, &lfd)
                           : ts_tcp_listen("127.0.0.1", "0", 4, &lfd);
        if (err)
            return (void *)1;
        port = use_unix ? 0 : ts_sock_port(lfd);
        srv = ts_spawn_named("server", task_server, NULL);
    }
    snprintf(port_s, sizeof port_s, "%d", port);
    ts_task *a = ts_spawn_named("asker", asker_main, NULL);
    uint64_t id = ts_task_id(a);
    atomic_store(&asker_id, id);
    ts_await(a, NULL);
    if (srv)
        ts_await(srv, NULL);
    else
        pthread_join(th, NULL);
    close(lfd);
    if (use_unix)
        unlink(unix_path);
    printf("asker=%llu fd=%d port=%d\n", (unsigned long long)id, asker_fd, port);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    mode = argv[1];
    wrap = !strcmp(mode, "hangwrap");
    if (wrap && ts_debug_set_ring_size(64 * 1024))
        return 2;
    if (!strcmp(mode, "hostile")) {
        if (argc < 3)
            return 2;
        use_unix = 1;
        snprintf(unix_path, sizeof unix_path, "%s/ev\x1b[31mil\nso\ack", argv[2]);
    }
    return ts_run(amain, NULL) ? 1 : 0;
}
