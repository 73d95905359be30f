/*
 * echo_uring.c - the raw io_uring anchor of the TCP echo benchmark: the
 * floor the kernel sets.
 *
 * One thread, one ring, no runtime: what an io_uring echo server costs
 * when nothing but the kernel's own work is left.  Every connection has a
 * multishot RECV armed on it that picks its buffers from a provided buffer
 * ring, so a request is one completion and its echo one SEND of the very
 * buffer it arrived in; one io_uring_enter per loop turn submits every
 * SEND queued by the previous batch and waits for the next batch of
 * completions (SINGLE_ISSUER | DEFER_TASKRUN: the kernel runs them in
 * that call, not at whatever system call comes next).  There is no
 * epoll, no eventfd, no copy and no allocation per request, and the
 * accepts are one multishot ACCEPT too: any io_uring server, taskscope's
 * included, does at least this much per request, so its CPU per request
 * here is the lowest one can reach on this machine and kernel.
 *
 * Invariants:
 *   - a connection has at most one SEND in flight: the head of its chunk
 *     queue.  Sends on one socket are never concurrent, so a short send is
 *     finished (resubmitted from where it stopped) before the next chunk
 *     goes, and bytes never reorder;
 *   - a buffer belongs to the kernel (in the buffer ring) or to exactly
 *     one connection's queue; it goes back to the ring when its send has
 *     completed or failed;
 *   - a connection's fd is closed only once its RECV has ended (a CQE
 *     without IORING_CQE_F_MORE that will not be re-armed) and no SEND is
 *     in flight: no completion can name an fd after it was closed and
 *     perhaps reused by a new accept.
 *
 * Listens on 127.0.0.1, a free port, prints the port on stdout and serves
 * until killed; driven by bench_echo (bench/echo_client.c), the same
 * protocol as echo_server.c and anchors/echo_libuv.c.  Exits 3, which
 * bench_echo reports as "not installed", where no ring can be made.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <liburing.h>

#define SQ_ENTRIES 1024
#define CQ_ENTRIES 8192   /* 1,000 connections' recvs and sends in one batch */
#define NBUFS 2048        /* a power of two; > one message per connection at 1k */
#define BUF_SIZE 4096     /* a bench_echo_4k message arrives in one buffer */
#define BGID 0

enum { OP_ACCEPT, OP_RECV, OP_SEND, OP_CANCEL };

/* A received chunk waiting to be echoed, one per provided buffer (by its
 * buffer id): bytes [off, len) of the buffer are still to be sent. */
typedef struct chunk {
    unsigned len, off;
    int next;              /* next chunk of the same connection, or -1 */
} chunk;

/* A connection, by fd.  Its send queue runs head..tail through
 * chunk.next; the head is the chunk whose SEND is in flight. */
typedef struct conn {
    int head, tail;        /* buffer ids, -1 when nothing is queued */
    bool reading;          /* its RECV is armed, or waits for buffers */
    bool starved;          /* ... waits: the RECV ended with ENOBUFS */
    bool broken;           /* a send failed: drop what arrives */
} conn;

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static chunk chunks[NBUFS];
static int nreturned;      /* buffers added to br since its last advance */
static conn *conns;
static int nconns;
static int nstarved;       /* connections with starved set */
static int listen_fd;

static uint64_t tag(int op, int fd)
{
    return (uint64_t)op << 32 | (uint32_t)fd;
}

/* An SQE, submitting the queue first when it is full. */
static struct io_uring_sqe *get_sqe(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    while (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

/* liburing 2.4's io_uring_setup_buf_ring, which Debian 12's 2.3 lacks:
 * the ring's memory must be page-aligned, hence mmap. */
static struct io_uring_buf_ring *buf_ring_setup(unsigned entries, int bgid, int *err)
{
    size_t size = entries * sizeof(struct io_uring_buf);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (p == MAP_FAILED) {
        *err = -errno;
        return NULL;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)p, .ring_entries = entries, .bgid = (uint16_t)bgid};
    *err = io_uring_register_buf_ring(&ring, &reg, 0);
    if (*err) {
        munmap(p, size);
        return NULL;
    }
    io_uring_buf_ring_init(p);
    return p;
}

/* Hands buffer bid back to the kernel; made visible in one store at the
 * end of the batch (publish_buffers). */
static void return_buffer(int bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUFS), nreturned++);
}

static void arm_recv(int fd);

/* Makes the returned buffers visible, and lets the connections that ran
 * out of them listen again (re-arming at once would spin on ENOBUFS until
 * a send completes). */
static void publish_buffers(void)
{
    if (!nreturned)
        return;
    io_uring_buf_ring_advance(br, nreturned);
    nreturned = 0;
    for (int fd = 0; nstarved && fd < nconns; fd++) {
        if (conns[fd].starved) {
            conns[fd].starved = false;
            nstarved--;
            arm_recv(fd);
        }
    }
}

static void arm_accept(void)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    sqe->user_data = tag(OP_ACCEPT, listen_fd);
}

static void arm_recv(int fd)
{
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    sqe->user_data = tag(OP_RECV, fd);
}

static void send_head(int fd)
{
    chunk *ch = &chunks[conns[fd].head];
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_send(sqe, fd, bufs + (size_t)conns[fd].head * BUF_SIZE + ch->off,
                       ch->len - ch->off, MSG_NOSIGNAL);
    sqe->user_data = tag(OP_SEND, fd);
}

static void close_if_done(int fd)
{
    if (!conns[fd].reading && conns[fd].head < 0)
        close(fd);
}

static int on_accept(int res, unsigned flags)
{
    if (res >= 0) {
        if (res >= nconns) {
            int n = nconns ? nconns : 1024;
            while (n <= res)
                n *= 2;
            conn *grown = realloc(conns, (size_t)n * sizeof *conns);
            if (!grown) {
                close(res);
                goto rearm;
            }
            /* publish_buffers reads every entry's starved */
            memset(grown + nconns, 0, (size_t)(n - nconns) * sizeof *conns);
            conns = grown;
            nconns = n;
        }
        int one = 1;
        setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[res] = (conn){.head = -1, .tail = -1, .reading = true};
        arm_recv(res);
    } else if (res == -EINVAL) {
        return res; /* no multishot accept in this kernel */
    }
rearm:
    if (!(flags & IORING_CQE_F_MORE))
        arm_accept();
    return 0;
}

static void on_recv(int fd, int res, unsigned flags)
{
    conn *c = &conns[fd];
    if (res > 0) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
        if (c->broken) {
            return_buffer(bid);
        } else {
            chunks[bid] = (chunk){.len = (unsigned)res, .off = 0, .next = -1};
            if (c->head < 0) {
                c->head = c->tail = bid;
                send_head(fd);
            } else {
                chunks[c->tail].next = bid;
                c->tail = bid;
            }
        }
    }
    if (flags & IORING_CQE_F_MORE)
        return;
    /* The multishot ended.  On EOF, an error, a cancel, or anything on a
     * broken connection (a new RECV would escape on_send's cancel), the
     * connection is done reading; out of buffers, it listens again once
     * sends have returned some; otherwise (a reason of its own) at once. */
    if (c->broken || (res <= 0 && res != -ENOBUFS)) {
        c->reading = false;
        close_if_done(fd);
    } else if (res > 0) {
        arm_recv(fd);
    } else {
        c->starved = true;
        nstarved++;
    }
}

/* Ends fd's RECV.  Shutting the socket down was not enough: once a failed
 * send had taken the socket's error, a RECV armed on it (after ENOBUFS)
 * read what was left, then waited for a wake-up that never came (kernel
 * 6.18), and the fd was never closed. */
static void cancel_recv(int fd)
{
    if (conns[fd].starved) {
        conns[fd].starved = false;
        nstarved--;
        conns[fd].reading = false;
        return;
    }
    struct io_uring_sqe *sqe = get_sqe();
    io_uring_prep_cancel64(sqe, tag(OP_RECV, fd), 0);
    sqe->user_data = tag(OP_CANCEL, fd);
}

static void on_send(int fd, int res)
{
    conn *c = &conns[fd];
    chunk *ch = &chunks[c->head];
    if (res > 0) {
        ch->off += (unsigned)res;
        if (ch->off < ch->len) {
            send_head(fd); /* short send: the rest, before anything else */
            return;
        }
    }
    int bid = c->head;
    c->head = ch->next;
    return_buffer(bid);
    if (res <= 0 && !c->broken) {
        /* The peer is gone: drop what is queued and end the RECV, after
         * which the fd can close.  The cancel is queued before the fd can
         * close and SQEs are issued in order, so it cannot hit a later
         * connection's RECV on the same fd. */
        c->broken = true;
        for (; c->head >= 0; c->head = chunks[c->head].next)
            return_buffer(c->head);
        if (c->reading)
            cancel_recv(fd);
    }
    if (c->head >= 0)
        send_head(fd);
    close_if_done(fd);
}

static int setup_ring(void)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        .cq_entries = CQ_ENTRIES};
    int err = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    if (err == -EINVAL) { /* before 6.1: completions run as task work */
        p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES};
        err = io_uring_queue_init_params(SQ_ENTRIES, &ring, &p);
    }
    if (err)
        return err;
    io_uring_register_ring_fd(&ring); /* saves an fd lookup per enter; optional */
    bufs = mmap(NULL, (size_t)NBUFS * BUF_SIZE, PROT_READ | PROT_WRITE,
                MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (bufs == MAP_FAILED)
        return -errno;
    br = buf_ring_setup(NBUFS, BGID, &err);
    if (!br)
        return err;
    for (int bid = 0; bid < NBUFS; bid++)
        return_buffer(bid);
    publish_buffers();
    return 0;
}

static int listen_loopback(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
        return -errno;
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        listen(listen_fd, 1024) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &len) < 0)
        return -errno;
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return 0;
}

static int serve(void)
{
    arm_accept();
    for (;;) {
        int err = io_uring_submit_and_wait(&ring, 1);
        if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY)
            return err;
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            int fd = (int)(uint32_t)cqe->user_data;
            switch (cqe->user_data >> 32) {
            case OP_ACCEPT:
                err = on_accept(cqe->res, cqe->flags);
                if (err)
                    return err;
                break;
            case OP_RECV:
                on_recv(fd, cqe->res, cqe->flags);
                break;
            case OP_SEND:
                on_send(fd, cqe->res);
                break;
            case OP_CANCEL: /* -ENOENT when the RECV had already ended */
                break;
            }
            n++;
        }
        io_uring_cq_advance(&ring, n);
        publish_buffers();
    }
}

#define NOT_INSTALLED 3 /* bench_echo's "not installed": no io_uring here */

int main(void)
{
    int err = setup_ring();
    if (err) {
        fprintf(stderr, "echo_uring: io_uring: %s\n", strerror(-err));
        return NOT_INSTALLED;
    }
    err = listen_loopback();
    if (!err)
        err = serve();
    fprintf(stderr, "echo_uring: %s\n", strerror(-err));
    return 1;
}
