/*
 * crash.c - a program that dies of a fatal signal keeps its last moments.
 *
 * The flight recorder holds the last seconds of every thread and the
 * intern tables; at a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
 * SIGTRAP, SIGSYS) the handler first publishes the crashing thread's
 * unpublished events.  If a tracer is attached, that is all: the tracer
 * holds its own descriptor of the segment and drains the rest after the
 * process is gone.  Otherwise it writes a crash snapshot file
 * (schemas/crash_snapshot.h): the segment as it is, the crashing thread's
 * stack and /proc/self/maps, which `taskscope ps FILE` decodes like a
 * recording.  Then the signal goes on to whoever handled it before us, or
 * is re-raised with its default action, so the exit status is unchanged.
 *
 * Where: $TASKSCOPE_CRASH_DIR, else the working directory, else (not
 * writable) $TMPDIR or /tmp, as taskscope-crash.PID.tsnap.
 * TASKSCOPE_CRASH=0 turns it off.
 *
 * Must stay true: the handler makes only async-signal-safe calls (open,
 * write, pwrite, read, close, unlink, clock_gettime, sigaction, raw
 * syscalls), allocates nothing, reads the segment only through this
 * process's own sealed mapping (it cannot fault) and memory through
 * process_vm_readv (a bad frame pointer gives an error, not a fault);
 * everything it needs (paths, geometry) is prepared at install time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "../../../schemas/crash_snapshot.h"
#include "trace.h"

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

static struct sigaction previous[NFATAL];
static int installed;
static int enabled;
static int crashing;
static char path_main[PATH_MAX], path_fallback[PATH_MAX];
static ts_snap_header snap; /* static: the handler's stack may be small */
static ts_seg_header seg_copy;
/* Where the handler assembles the state dump: a ring's worth of address
 * space reserved at start-up (untouched, it costs no memory). */
static void *dump_buf;
static uint32_t dump_buf_size;

/* ---- async-signal-safe helpers --------------------------------------------------- */

struct line {
    char buf[PATH_MAX + 160];
    size_t len;
};

static void put(struct line *m, const char *s) {
    while (s && *s && m->len < sizeof m->buf - 1)
        m->buf[m->len++] = *s++;
}

static void put_num(struct line *m, unsigned long long v) {
    char tmp[24];
    int i = 0;
    do
        tmp[i++] = (char)('0' + v % 10);
    while ((v /= 10) && i < 23);
    while (i > 0 && m->len < sizeof m->buf - 1)
        m->buf[m->len++] = tmp[--i];
}

static int write_all(int fd, const void *p, size_t n, off_t off) {
    const char *c = p;
    while (n) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

static uint64_t clock_ns(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Read n bytes of our own memory at a without risking a fault. */
static int peek(uint64_t a, void *dst, size_t n) {
    struct iovec local = {dst, n}, remote = {(void *)(uintptr_t)a, n};
    return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0) == (long)n ? 0 : -1;
}

/* The interrupted context's pc and frame-pointer chain. */
static uint32_t walk_stack(void *uctx, uint64_t *pcs) {
    uint32_t n = 0;
    uint64_t pc = 0, fp = 0, sp = 0;
#if defined(__x86_64__)
    mcontext_t *mc = &((ucontext_t *)uctx)->uc_mcontext;
    pc = (uint64_t)mc->gregs[REG_RIP];
    fp = (uint64_t)mc->gregs[REG_RBP];
    sp = (uint64_t)mc->gregs[REG_RSP];
#elif defined(__aarch64__)
    mcontext_t *mc = &((ucontext_t *)uctx)->uc_mcontext;
    pc = mc->pc;
    fp = mc->regs[29];
    sp = mc->sp;
#else
    (void)uctx;
#endif
    if (!pc)
        return 0;
    pcs[n++] = pc;
    /* Saved frame pointers, strictly increasing, aligned, within 8 MiB
     * of the stack pointer; anything else ends the walk. */
    while (n < TS_SNAP_MAX_FRAMES && fp >= sp && fp - sp < (8u << 20) && !(fp & 7)) {
        uint64_t frame[2];
        if (peek(fp, frame, sizeof frame) != 0 || !frame[1])
            break;
        pcs[n++] = frame[1];
        if (frame[0] <= fp)
            break;
        fp = frame[0];
    }
    return n;
}

static int open_snapshot(const char **which) {
    const char *paths[] = {path_main, path_fallback};
    for (int i = 0; i < 2; i++) {
        if (!paths[i][0])
            continue;
        unlink(paths[i]); /* ours from a process that had our pid; not another user's */
        int fd = open(paths[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            *which = paths[i];
            return fd;
        }
    }
    return -1;
}

/* The segment: its header rewritten from the private geometry (a reader
 * may have damaged the shared one), the ring headers, and the data of
 * the slots ever used. */
static off_t copy_segment(int fd, off_t off, const ts__seg_geom *g) {
    uint32_t used = ts__seg_slots_used();
    memcpy(&seg_copy, g->base, sizeof seg_copy);
    memcpy(seg_copy.magic, TS_SEG_MAGIC, 8);
    seg_copy.version = TS_SCHEMA_VERSION;
    seg_copy.header_size = sizeof(ts_seg_header);
    seg_copy.pid = g->pid;
    seg_copy.max_rings = used ? used : 1;
    seg_copy.ring_size = g->ring_size;
    seg_copy.rings_offset = g->rings_offset;
    seg_copy.data_offset = g->data_offset;
    seg_copy.total_size = g->data_offset + (uint64_t)seg_copy.max_rings * g->ring_size;
    if (write_all(fd, &seg_copy, sizeof seg_copy, off) != 0)
        return -1;
    const char *base = g->base;
    if (write_all(fd, base + sizeof seg_copy, g->data_offset - sizeof seg_copy,
                  off + (off_t)sizeof seg_copy) != 0)
        return -1;
    if (write_all(fd, base + g->data_offset, (size_t)seg_copy.max_rings * g->ring_size,
                  off + (off_t)g->data_offset) != 0)
        return -1;
    return (off_t)seg_copy.total_size;
}

/* /proc/self/maps, up to 1 MiB, so the stacks can be symbolized later. */
static off_t copy_maps(int fd, off_t off) {
    int in = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return 0;
    char buf[4096];
    off_t n = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || n + r > (1 << 20) || write_all(fd, buf, (size_t)r, off + n) != 0)
            break;
        n += r;
    }
    close(in);
    return n;
}

static void write_snapshot(int sig, siginfo_t *si, void *uctx) {
    const ts__seg_geom *g = ts__seg_geometry();
    if (!g)
        return;
    const char *path = NULL;
    int fd = open_snapshot(&path);
    if (fd < 0)
        return;
    memset(&snap, 0, sizeof snap);
    snap.version = TS_SNAP_VERSION;
    snap.header_size = sizeof snap;
    snap.pid = g->pid;
    snap.tid = (uint32_t)syscall(SYS_gettid);
    snap.signo = sig;
    snap.code = si ? si->si_code : 0;
    snap.addr = si ? (uint64_t)(uintptr_t)si->si_addr : 0;
    snap.mono_ns = clock_ns(CLOCK_MONOTONIC);
    snap.realtime_ns = clock_ns(CLOCK_REALTIME);
    snap.depth = uctx ? walk_stack(uctx, snap.pcs) : 0;
    off_t seg = copy_segment(fd, TS_SNAP_HEADER_ROOM, g);
    if (seg > 0) {
        snap.seg_offset = TS_SNAP_HEADER_ROOM;
        snap.seg_size = (uint64_t)seg;
        snap.maps_offset = snap.seg_offset + snap.seg_size;
        snap.maps_size = (uint64_t)copy_maps(fd, (off_t)snap.maps_offset);
        memcpy(snap.magic, TS_SNAP_MAGIC, 8);
    }
    int ok = seg > 0 && write_all(fd, &snap, sizeof snap, 0) == 0;
    /* The snapshot is whole now; the state dump comes on top, and only if
     * nobody holds the intern tables (the crashed thread may). */
    if (ok && dump_buf && ts__intern_try_freeze()) {
        ts_ring_header sh;
        ts__ring r;
        ts__ring_scratch_init(&r, &sh, dump_buf, dump_buf_size);
        ts__tr_crash_dump(&r);
        ts__intern_thaw();
        uint64_t at = snap.maps_offset + snap.maps_size;
        at = (at + 7) & ~(uint64_t)7;
        if (r.pos && write_all(fd, dump_buf, (size_t)r.pos, (off_t)at) == 0) {
            snap.dump_offset = at;
            snap.dump_size = r.pos;
            write_all(fd, &snap, sizeof snap, 0);
        }
    }
    close(fd);
    struct line m = {.len = 0};
    if (ok) {
        put(&m, "taskscope: crash snapshot written to ");
        put(&m, path);
        put(&m, " (read it with `taskscope ps ");
        put(&m, path);
        put(&m, "`)\n");
    } else {
        unlink(path);
        put(&m, "taskscope: could not write the crash snapshot ");
        put(&m, path);
        put(&m, "\n");
    }
    ssize_t w = write(2, m.buf, m.len);
    (void)w;
}

static bool reader_attached(void) {
    ts_seg_header *h = ts__seg();
    if (!h || !__atomic_load_n(&h->reader_pid, __ATOMIC_ACQUIRE))
        return false;
    uint64_t hb = __atomic_load_n(&h->reader_heartbeat_ns, __ATOMIC_ACQUIRE);
    return clock_ns(CLOCK_MONOTONIC) - hb < 2000000000ull;
}

/* Hand the signal on: to the handler that was there before ours, or to
 * the default action (re-raised: it stays pending while we run, and
 * kills the process as soon as the handler returns). */
static void pass_on(int sig, siginfo_t *si, void *uctx) {
    for (size_t i = 0; i < NFATAL; i++) {
        if (fatal_signals[i] != sig)
            continue;
        struct sigaction *p = &previous[i];
        if ((p->sa_flags & SA_SIGINFO) && p->sa_sigaction) {
            p->sa_sigaction(sig, si, uctx);
            return;
        }
        if (!(p->sa_flags & SA_SIGINFO) && p->sa_handler != SIG_DFL &&
            p->sa_handler != SIG_IGN) {
            p->sa_handler(sig);
            return;
        }
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static void on_fatal(int sig, siginfo_t *si, void *uctx) {
    int saved = errno;
    /* Once per process: a second thread crashing meanwhile just goes on. */
    if (!__atomic_exchange_n(&crashing, 1, __ATOMIC_ACQ_REL)) {
        /* Only a pos the thread committed is published: a record being
         * written when the signal came is not covered. */
        if (ts__tls_ring.state == 1 && ts__tls_ring.ring.hdr &&
            ts__tls_ring.fork_gen == __atomic_load_n(&ts__fork_generation, __ATOMIC_RELAXED)) {
            /* (an attached tracer, whose own reference keeps the segment,
             * reads how the process died here) */
            __atomic_store_n(&ts__tls_ring.ring.hdr->fatal_signal, (uint32_t)sig,
                             __ATOMIC_RELAXED);
            __atomic_store_n(&ts__tls_ring.ring.hdr->head, ts__tls_ring.ring.pos,
                             __ATOMIC_RELEASE);
        }
        if (enabled && geteuid() == getuid() && !reader_attached())
            write_snapshot(sig, si, uctx);
    }
    errno = saved;
    pass_on(sig, si, uctx);
}

static void make_path(char *dst, size_t len, const char *dir, pid_t pid) {
    struct line m = {.len = 0};
    if (dir && *dir) {
        put(&m, dir);
        put(&m, "/");
    }
    put(&m, "taskscope-crash.");
    put_num(&m, (unsigned long long)pid);
    put(&m, ".tsnap");
    if (m.len + 1 > len || m.len == sizeof m.buf - 1) {
        dst[0] = 0; /* too long: not used */
        return;
    }
    memcpy(dst, m.buf, m.len);
    dst[m.len] = 0;
}

/* Called when the segment comes up (again in a forked child: the pid in
 * the file name changes; the handlers stay). */
void ts__crash_install(void) {
    const char *off = getenv("TASKSCOPE_CRASH");
    enabled = !(off && (!strcmp(off, "0") || !strcmp(off, "off")));
    const char *dir = getenv("TASKSCOPE_CRASH_DIR");
    const char *tmp = getenv("TMPDIR");
    pid_t pid = getpid();
    make_path(path_main, sizeof path_main, dir && *dir ? dir : NULL, pid);
    make_path(path_fallback, sizeof path_fallback,
              dir && *dir ? NULL : (tmp && *tmp ? tmp : "/tmp"), pid);
    if (dir && *dir)
        path_fallback[0] = 0; /* the user said where */
    if (!enabled)
        return;
    const ts__seg_geom *g = ts__seg_geometry();
    if (g && !dump_buf) {
        void *p = mmap(NULL, g->ring_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            dump_buf = p;
            dump_buf_size = g->ring_size;
        }
    }
    if (installed)
        return;
    installed = 1;
    for (size_t i = 0; i < NFATAL; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(fatal_signals[i], NULL, &previous[i]) != 0 ||
            (!(previous[i].sa_flags & SA_SIGINFO) && previous[i].sa_handler == SIG_IGN))
            continue; /* an ignored signal stays ignored */
        sigaction(fatal_signals[i], &sa, NULL);
    }
}
