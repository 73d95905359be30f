/*
 * fdinfo.c - the fd_info event: what an fd is, said once per fd life.
 *
 * The runtime calls this where it learns what an fd is (socket.c: a
 * connect, an accept, a listen or bind; file.c: an open), never on a read
 * or write, so a wait on the fd can later be told as "fd 7 (tcp
 * 127.0.0.1:5432 <- 127.0.0.1:40122)" by `taskscope why`.  A socket's
 * addresses and type are asked of the kernel (getsockname, getpeername,
 * SO_TYPE): three system calls per connection (twice for a connect that
 * waits), in the debug runtime only.
 *
 * A loop's state dump (emit.c) tells again what each fd a parked task
 * waits on is (ts__tr_dump_fd), from how it was last described and the
 * kernel: after the ring wrapped, the original fd_info is gone.
 *
 * Invariants: the text is bounded (TEXT_MAX, a path is cut), so a record
 * stays small; nothing here blocks or fails visibly (a record that cannot
 * be written is dropped and counted like any other).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../tracepoints.h"
#include "trace.h"

/* The longest text recorded: two addresses fit with room to spare; a
 * longer path is cut (its end is lost, its start says enough). */
#define TEXT_MAX 512

enum { K_OTHER, K_TCP, K_UDP, K_UNIX_STREAM, K_UNIX_DGRAM, K_FILE };

/* One address as text into buf (n bytes); "?" when the kernel gives none
 * (an unnamed Unix socket). */
static void addr_text(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t n) {
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(buf, n, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(buf, n, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *a = (const void *)ss;
        size_t plen = len - offsetof(struct sockaddr_un, sun_path);
        if (plen > sizeof a->sun_path)
            plen = sizeof a->sun_path;
        if (a->sun_path[0]) { /* a path: NUL-terminated within plen */
            snprintf(buf, n, "%.*s", (int)strnlen(a->sun_path, plen), a->sun_path);
        } else { /* abstract: '@' then the name's bytes */
            snprintf(buf, n, "@%.*s", (int)(plen - 1), a->sun_path + 1);
        }
    } else {
        snprintf(buf, n, "?");
    }
}

/* dom: the family getsockname gave (one system call fewer than asking
 * SO_DOMAIN; each costs ~3 us on a sandboxed kernel). */
static int sock_kind(int fd, int dom) {
    int type = 0;
    socklen_t l2 = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0)
        return K_OTHER;
    if (dom == AF_INET || dom == AF_INET6)
        return type == SOCK_STREAM ? K_TCP : type == SOCK_DGRAM ? K_UDP : K_OTHER;
    if (dom == AF_UNIX)
        return type == SOCK_DGRAM ? K_UNIX_DGRAM : K_UNIX_STREAM;
    return K_OTHER;
}

static void emit(ts__ring *r, int fd, int kind, int how, const char *text, size_t len) {
    if (len > TEXT_MAX)
        len = TEXT_MAX;
    uint32_t size = (uint32_t)((sizeof(ts_ev_fd_info) + len + 7) & ~(size_t)7);
    ts_ev_fd_info *e = ts__ring_reserve(r, TS_EV_fd_info, size);
    if (!e)
        return;
    e->fd = fd;
    e->kind = (uint32_t)kind;
    e->how = (uint32_t)how;
    e->len = (uint32_t)len;
    memcpy(e + 1, text, len);
    memset((char *)(e + 1) + len, 0, size - sizeof *e - len);
    ts__ring_commit(r, size);
}

/* How each fd was last described (TS_FD_*, 0: never, or closed), so that
 * a state dump can describe again the fds parked tasks wait on: once the
 * ring has wrapped past an fd's fd_info, a recording of the window would
 * otherwise say only "fd 7".  Written by any thread that describes an fd,
 * read by a loop's dump: relaxed bytes (a race is one fd told with its
 * previous how).  fds past FD_HOW_MAX are not remembered. */
#define FD_HOW_MAX (1 << 16)
static _Atomic unsigned char fd_how[FD_HOW_MAX];

/* A socket's description (addresses asked of the kernel) into r. */
static void describe_socket(ts__ring *r, int fd, int how, const void *to, unsigned tolen) {
    struct sockaddr_storage me, peer;
    socklen_t mlen = sizeof me, plen = sizeof peer;
    memset(&me, 0, sizeof me);
    memset(&peer, 0, sizeof peer);
    char a[TEXT_MAX / 2], b[TEXT_MAX / 2], text[TEXT_MAX + 8];
    if (getsockname(fd, (struct sockaddr *)&me, &mlen) < 0)
        mlen = 0;
    addr_text(&me, mlen, b, sizeof b);
    if (to && tolen <= sizeof peer) { /* connecting: the kernel has no peer yet */
        memcpy(&peer, to, tolen);
        addr_text(&peer, tolen, a, sizeof a);
        snprintf(text, sizeof text, "%s <- %s", a, b);
    } else if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0) {
        addr_text(&peer, plen, a, sizeof a);
        snprintf(text, sizeof text, "%s <- %s", a, b);
    } else { /* a listener, or a datagram socket with no default peer */
        snprintf(text, sizeof text, "%s", b);
    }
    emit(r, fd, mlen ? sock_kind(fd, me.ss_family) : K_OTHER, how, text, strlen(text));
}

void ts__tr_fd_info(int fd, int how, const char *path, const void *to, unsigned tolen) {
    ts__ring *r = ts__ring_self();
    if (!r || fd < 0)
        return;
    if (fd < FD_HOW_MAX)
        atomic_store_explicit(&fd_how[fd], (unsigned char)(how == TS_FD_CLOSED ? 0 : how),
                              memory_order_relaxed);
    if (how == TS_FD_CLOSED) { /* the fd is nothing now (its number may be reused) */
        emit(r, fd, K_OTHER, how, "", 0);
        return;
    }
    if (path) {
        emit(r, fd, K_FILE, how, path, strnlen(path, TEXT_MAX));
        return;
    }
    describe_socket(r, fd, how, to, tolen);
}

void ts__tr_dump_fd(ts__ring *r, int fd) {
    unsigned how = fd >= 0 && fd < FD_HOW_MAX
                       ? atomic_load_explicit(&fd_how[fd], memory_order_relaxed)
                       : 0;
    /* A connect in progress: the kernel has no peer yet, and its target
     * is gone; it is told again when the connect completes. */
    if (!how || how == TS_FD_CONNECTING)
        return;
    if (how == TS_FD_OPENED) { /* a file: its path now, as the kernel has it */
        char link[32], path[TEXT_MAX + 1];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof path - 1);
        if (n > 0)
            emit(r, fd, K_FILE, (int)how, path, (size_t)n);
        return;
    }
    describe_socket(r, fd, (int)how, NULL, 0);
}
