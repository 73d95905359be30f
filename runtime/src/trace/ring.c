/*
 * ring.c - the trace segment and the per-thread rings (producer side).
 *
 * Invariants (see ring.h and schemas/trace_format.h for the layout):
 *   - Only the owning thread writes its ring's data and head; only the
 *     reader writes tail.  head is published with a release store after
 *     the bytes it covers, and pairs with the reader's acquire load.
 *   - A record never crosses a page; every page starts on a record.
 *   - With a live reader, pos - tail never exceeds ring_size: what does not
 *     fit is dropped and counted, never written over unread bytes.  The
 *     producer learns of a reader that has just arrived before it writes
 *     into a new page (the next page may be the oldest of the window the
 *     reader protects), so past the page it was in when the reader
 *     announced itself, nothing of that window is overwritten.
 *   - Ordinary events leave the room held back for a state dump free
 *     (r->limit); a dump goes in whole or not at all (ts__ring_copy_in).
 *     They also leave TS_RING_END_RESERVE free for a loop's last record.
 *   - The header's magic is written last (release), so a reader that sees
 *     it sees a complete header.
 *   - After fork() the child owns nothing of the parent's segment: an
 *     atfork handler unmaps it and closes the descriptor, and the child
 *     makes its own on first use.
 *   - Nothing the producers need is read back from the segment: a reader
 *     (anyone who can open /proc/PID/fd/N) may write any byte of it.  The
 *     geometry, slot ownership and positions, loop slots and thresholds
 *     are private; what a reader may legitimately write (tail,
 *     attach_request, reader_pid, reader_heartbeat_ns) is clamped where
 *     it is read, so hostile content costs the trace, never the program.
 *   - The segment is a sealed memfd: it cannot change size under anyone,
 *     has no name to squat or leave behind, and dies with its last
 *     descriptor or mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "trace.h"

static pthread_mutex_t seg_lock = PTHREAD_MUTEX_INITIALIZER;
/* The first calibration of a loop's thread and the watchdog's refreshes
 * may come at once: one writer at a time, or a reader could take the
 * ticks of one pair with the time of the other (a seqlock's readers
 * cannot tell two interleaved writers from none). */
static pthread_mutex_t calib_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_seg_header *seg;
static int seg_state;          /* 0 not tried, 1 up, -1 off/failed */
static uint32_t ring_size_wanted;
/* The segment's geometry as this process made it.  A reader can write
 * anything into the segment's header, so nothing the producers need is
 * ever read back from there: sizes, offsets, the owner pid, which slots
 * belong to which thread and where each slot's stream stands all live
 * here. */
static ts__seg_geom geom = {.fd = -1};
/* Slot ownership (the header's in_use is only a copy for readers) and
 * where a released slot's stream stopped, for the next owner to carry on
 * from (positions stay monotonic for the reader's tail). */
static uint32_t slot_owned[TS_MAX_RINGS];
static uint64_t slot_pos[TS_MAX_RINGS];
static uint32_t slots_used; /* highest slot ever claimed, plus one */
/* Bumped in a forked child: a thread ring from before the fork is not
 * the child's.  Read inline by ts__ring_self (ring.h). */
uint64_t ts__fork_generation;
/* The calling thread's ring.  initial-exec: ts__ring_self is one
 * fs-relative load and a compare (the general-dynamic model cost a call
 * to __tls_get_addr per event). */
__thread __attribute__((tls_model("initial-exec"))) struct ts__thread_ring ts__tls_ring;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

ts_seg_header *ts__seg(void) { return seg_state == 1 ? seg : NULL; }
const ts__seg_geom *ts__seg_geometry(void) { return seg_state == 1 ? &geom : NULL; }
uint32_t ts__seg_slots_used(void) { return __atomic_load_n(&slots_used, __ATOMIC_ACQUIRE); }

/* Something a reader wrote could not have come from an honest reader:
 * say so once (the trace may suffer from here on; the program does not). */
void ts__seg_damaged(const char *what) {
    static int said;
    if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
        return;
    fprintf(stderr, "taskscope: the trace segment was damaged by a reader (%s); "
                    "the program goes on, its trace may lose events\n", what);
}

static uint32_t round_ring_size(uint64_t v) {
    if (v < TS_RING_SIZE_MIN)
        v = TS_RING_SIZE_MIN;
    if (v > TS_RING_SIZE_MAX)
        v = TS_RING_SIZE_MAX;
    uint32_t p = TS_RING_SIZE_MIN;
    while (p < v)
        p <<= 1;
    return p;
}

int ts__trace_set_ring_size(size_t bytes) {
    pthread_mutex_lock(&seg_lock);
    int up = seg_state == 1;
    if (!up)
        ring_size_wanted = round_ring_size(bytes);
    pthread_mutex_unlock(&seg_lock);
    return up ? -EBUSY : 0;
}

static uint64_t proc_start_time(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may contain spaces */
    if (!p)
        return 0;
    unsigned long long v = 0;
    /* after ")": field 3 (state) ... field 22 (starttime) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &v) != 1)
        return 0;
    return v;
}

/* At exit: stop the watchdog and publish what the exiting thread wrote.
 * The segment is a memfd: it has no name to remove, and goes away with
 * the last descriptor or mapping of it, which is a reader's if one is
 * attached (so the end of the trace is not lost with the process). */
static void at_exit(void) {
    if (seg_state == 1 && geom.pid == (uint32_t)getpid()) {
        ts__watchdog_stop();
        if (ts__tls_ring.state == 1)
            ts__ring_publish(&ts__tls_ring.ring);
    }
}

/* `taskscope run` starts a program with TASKSCOPE_WAIT_READER_MS so that
 * nothing happens before the tracer is attached: a short program would
 * otherwise be over before the tracer has found its segment.  Bounded:
 * 10 s at most whatever the variable says. */
static void wait_for_reader(void) {
    /* A forked child inherits the setting, which was for its parent: it
     * waits only when the tracer follows forks (fork.c). */
    if (ts__trace_forked() && !ts__trace_followed())
        return;
    const char *s = getenv("TASKSCOPE_WAIT_READER_MS");
    long ms = s ? strtol(s, NULL, 10) : 0;
    if (ms > 10000)
        ms = 10000;
    for (long i = 0; i < ms && !__atomic_load_n(&seg->reader_pid, __ATOMIC_ACQUIRE); i++) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
}

static void forget_after_fork(void) {
    /* The child must not write into its parent's segment, and has no
     * watchdog thread (fork copies only the calling thread).  It drops
     * its copy of the parent's descriptor, so that a reader looking for
     * the child's segment never finds the parent's. */
    ts__watchdog_after_fork();
    seg = NULL;
    seg_state = 0;
    if (geom.base) /* nothing reaches it now: ts__seg() is NULL, old rings are stale */
        munmap(geom.base, geom.size);
    if (geom.fd >= 0)
        close(geom.fd);
    geom = (ts__seg_geom){.fd = -1};
    memset(slot_owned, 0, sizeof slot_owned);
    memset(slot_pos, 0, sizeof slot_pos);
    slots_used = 0;
    __atomic_add_fetch(&ts__fork_generation, 1, __ATOMIC_RELAXED);
    pthread_mutex_init(&seg_lock, NULL);
    pthread_mutex_init(&calib_lock, NULL); /* another thread may have held it */
}

/* The segment is an anonymous memfd sealed against shrinking and growing:
 *   - nobody (a reader, or anyone who opens /proc/PID/fd/N) can truncate
 *     it, so no side can take SIGBUS through its mapping;
 *   - it has no name in /dev/shm, so nothing is left behind after any
 *     exit (SIGKILL included), and nobody can squat a name in advance;
 *   - a reader finds it through /proc/PID/fd ("/memfd:taskscope.PID"),
 *     which takes the same permission as reading the process's memory.
 * The descriptor stays open for the process's life (that is how it is
 * found); it is close-on-exec. */
static int make_memfd(size_t total) {
    char name[64];
    snprintf(name, sizeof name, TS_SEG_NAME_FMT, (int)getpid());
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        fprintf(stderr, "taskscope: tracing off: cannot create the trace segment: %s\n",
                strerror(errno));
        return -1;
    }
    /* All of this before the header's magic is written (create_segment):
     * a reader takes a segment without magic for one not there yet, and
     * checks mode and seals only once the magic is there. */
    const char *why = NULL;
    if (fchmod(fd, 0600) != 0)
        why = "fchmod";
    else if (ftruncate(fd, (off_t)total) != 0)
        why = "ftruncate";
    else if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)
        why = "seal";
    if (why) {
        fprintf(stderr, "taskscope: tracing off: cannot set up the trace segment (%s): %s\n",
                why, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* A recorder started this program (taskscope run, top --: they ask it
 * to wait for them) and reads from its first event, so the ring is sized
 * for bursts rather than for a flight recorder's last seconds: a burst
 * of 100,001 tasks spawned at once (~500k events, ~20 MB) lost 43k
 * events with 8 MiB rings and none with 16 MiB on the 2-core test VM;
 * 32 MiB leaves twice that.  Memory is spent only as the ring fills (a
 * memfd's pages exist once written).  A forked child the recorder does
 * not follow is no recorded program (the same rule as for waiting). */
#define TS_RING_SIZE_RECORDED (32u << 20)

static int launched_by_recorder(void) {
    const char *s = getenv("TASKSCOPE_WAIT_READER_MS");
    if (!s || strtol(s, NULL, 10) <= 0)
        return 0;
    return !(ts__trace_forked() && !ts__trace_followed());
}

static void create_segment(void) {
    const char *env = getenv("TASKSCOPE_TRACE");
    if (env && (!strcmp(env, "0") || !strcmp(env, "off"))) {
        seg_state = -1;
        return;
    }
    uint32_t ring_size = ring_size_wanted;
    if (!ring_size) {
        const char *rs = getenv("TASKSCOPE_RING_SIZE");
        unsigned long long v = rs ? strtoull(rs, NULL, 0) : 0;
        ring_size = round_ring_size(v ? v : launched_by_recorder() ? TS_RING_SIZE_RECORDED
                                                                   : TS_RING_SIZE_DEFAULT);
    }
    size_t hdr = (sizeof(ts_seg_header) + TS_PAGE_SIZE - 1) & ~(size_t)(TS_PAGE_SIZE - 1);
    size_t rings = (TS_MAX_RINGS * sizeof(ts_ring_header) + TS_PAGE_SIZE - 1) &
                   ~(size_t)(TS_PAGE_SIZE - 1);
    size_t total = hdr + rings + (size_t)TS_MAX_RINGS * ring_size;
    pid_t pid = getpid();
    int fd = make_memfd(total);
    if (fd < 0) {
        seg_state = -1;
        return;
    }
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        seg_state = -1;
        return;
    }
    geom = (ts__seg_geom){.base = p, .size = total, .ring_size = ring_size,
                          .rings_offset = hdr, .data_offset = hdr + rings,
                          .pid = (uint32_t)pid, .fd = fd};
    ts_seg_header *h = p;
    h->version = TS_SCHEMA_VERSION;
    h->header_size = sizeof(ts_seg_header);
    h->total_size = total;
    h->pid = (uint32_t)pid;
    h->uid = (uint32_t)geteuid();
    h->start_time = proc_start_time(pid);
    h->max_rings = TS_MAX_RINGS;
    h->ring_size = ring_size;
    h->rings_offset = hdr;
    h->data_offset = hdr + rings;
    uint64_t t0, m0;
    ts__clock_pair(&t0, &m0); /* the calibration's start: one moment */
    h->ticks0 = h->ticks1 = geom.ticks0 = t0;
    h->mono0_ns = h->mono1_ns = geom.mono0_ns = m0;
    h->block_threshold_ns = ts__trace_block_threshold_ns();
    h->slow_step_ns = ts__trace_slow_step_ns();
    snprintf(h->runtime_version, sizeof h->runtime_version, "%s", ts_version());
    ssize_t n = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
    h->exe[n > 0 ? n : 0] = 0;
    seg = h;
    atomic_thread_fence(memory_order_release);
    memcpy(h->magic, TS_SEG_MAGIC, 8);
    seg_state = 1;
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(at_exit);
        pthread_atfork(NULL, NULL, forget_after_fork);
    }
}

/* Bring the segment up (once per process, and again in a forked child). */
int ts__trace_init(void) {
    if (seg_state != 0)
        return seg_state == 1 ? 0 : -ENOTSUP;
    pthread_mutex_lock(&seg_lock);
    if (seg_state == 0) {
        create_segment();
        if (seg_state == 1) {
            ts__crash_install();
            ts__watchdog_start();
            wait_for_reader();
        }
    }
    pthread_mutex_unlock(&seg_lock);
    return seg_state == 1 ? 0 : -ENOTSUP;
}

static void on_thread_exit(void *unused) {
    (void)unused;
    ts__ring_thread_exit();
}

static void make_key(void) { pthread_key_create(&exit_key, on_thread_exit); }

static int claim_slot(uint32_t role, const char *name) {
    ts_seg_header *h = seg;
    ts_ring_header *rh = (ts_ring_header *)((char *)h + geom.rings_offset);
    for (uint32_t i = 0; i < TS_MAX_RINGS; i++) {
        uint32_t expect = 0;
        if (!__atomic_compare_exchange_n(&slot_owned[i], &expect, 1, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        uint32_t used = __atomic_load_n(&slots_used, __ATOMIC_RELAXED);
        while (used < i + 1 && !__atomic_compare_exchange_n(&slots_used, &used, i + 1, false,
                                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            ;
        ts__ring *r = &ts__tls_ring.ring;
        r->hdr = &rh[i];
        r->slot = i;
        r->data = (char *)h + geom.data_offset + (size_t)i * geom.ring_size;
        r->mask = geom.ring_size - 1;
        /* Positions carry on from the slot's previous owner, so a reader's
         * tail stays meaningful.  Carry on exactly where it stopped:
         * skipping to the next page would leave the bytes in between
         * (stale data from an earlier lap) below the new head, for a
         * reader to decode as records. */
        r->pos = __atomic_load_n(&slot_pos[i], __ATOMIC_ACQUIRE);
        r->tail_cache = r->pos;
        r->populated = r->pos < geom.ring_size ? r->pos & ~(uint64_t)(TS_PAGE_SIZE - 1)
                                               : geom.ring_size;
        r->limit = geom.ring_size - TS_RING_END_RESERVE;
        r->unpublished = 0;
        r->full_skip = 0;
        r->dropped_pending = 0;
        r->reader_live = false;
        __atomic_store_n(&rh[i].in_use, 1, __ATOMIC_RELAXED);
        rh[i].tid = (uint32_t)syscall(SYS_gettid);
        rh[i].role = role;
        snprintf(rh[i].name, sizeof rh[i].name, "%s", name ? name : "");
        __atomic_add_fetch(&rh[i].generation, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&rh[i].head, r->pos, __ATOMIC_RELEASE);
        return 0;
    }
    return -ENOSPC;
}

ts__ring *ts__ring_thread_start(uint32_t role, const char *name) {
    uint64_t fg = __atomic_load_n(&ts__fork_generation, __ATOMIC_RELAXED);
    if (ts__tls_ring.state != 0 && ts__tls_ring.fork_gen == fg)
        return ts__tls_ring.state == 1 ? &ts__tls_ring.ring : NULL;
    ts__tls_ring = (struct ts__thread_ring){.fork_gen = fg};
    if (ts__trace_init() != 0 || claim_slot(role, name) != 0) {
        ts__tls_ring.state = -1;
        return NULL;
    }
    ts__tls_ring.state = 1;
    pthread_once(&key_once, make_key);
    pthread_setspecific(exit_key, &ts__tls_ring);
    ts__ring *r = &ts__tls_ring.ring;
    ts__ring_publish(r); /* sets reader_live */
    ts__tr_thread_start(r, role, name);
    return r;
}

ts__ring *ts__ring_self_slow(void) {
    if (__builtin_expect(ts__tls_ring.state == 1, 1) &&
        ts__tls_ring.fork_gen == __atomic_load_n(&ts__fork_generation, __ATOMIC_RELAXED))
        return &ts__tls_ring.ring;
    if (ts__tls_ring.state == -1 &&
        ts__tls_ring.fork_gen == __atomic_load_n(&ts__fork_generation, __ATOMIC_RELAXED))
        return NULL;
    return ts__ring_thread_start(TS_ROLE_OTHER, NULL);
}

void ts__ring_thread_exit(void) {
    if (ts__tls_ring.state != 1)
        return;
    ts__ring *r = &ts__tls_ring.ring;
    ts__tr_thread_exit(r);
    ts__ring_publish(r);
    __atomic_store_n(&r->hdr->in_use, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&slot_pos[r->slot], r->pos, __ATOMIC_RELEASE);
    __atomic_store_n(&slot_owned[r->slot], 0, __ATOMIC_RELEASE);
    ts__tls_ring.state = 0;
}

static bool reader_live(void) {
    uint64_t pid = __atomic_load_n(&seg->reader_pid, __ATOMIC_ACQUIRE);
    if (!pid)
        return false;
    uint64_t hb = __atomic_load_n(&seg->reader_heartbeat_ns, __ATOMIC_ACQUIRE);
    return ts__mono_ns() - hb < 2000000000ull;
}

/* The reader's tail, as far as it can be true: never ahead of what we
 * wrote, never more than a ring behind it.  Anything else is taken as
 * "nothing read" (events drop and are counted; nothing is overwritten,
 * nothing loops).  Ahead of us is impossible for an honest reader, and
 * said once; a ring or more behind is a reader that stalled while we
 * lapped it (its heartbeat went stale), which it finds out itself. */
static uint64_t read_tail(ts__ring *r) {
    uint64_t t = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
    if (__builtin_expect(t > r->pos || r->pos - t > (uint64_t)r->mask + 1, 0)) {
        if (t > r->pos)
            ts__seg_damaged("a ring's tail ahead of its head");
        t = r->pos > (uint64_t)r->mask + 1 ? r->pos - r->mask - 1 : 0;
    }
    return t;
}

/* Re-read whether a reader is live; one that has just arrived is
 * honoured from here on, from the tail it stored before announcing itself
 * (shm_reader.c), so it never sees a tail from an earlier session. */
static void learn_reader(ts__ring *r) {
    bool live = reader_live();
    if (live && !r->reader_live)
        r->tail_cache = read_tail(r);
    r->reader_live = live;
}

void ts__ring_publish(ts__ring *r) {
    r->unpublished = 0;
    r->full_skip = 0; /* a publish (every 64 records or drops, and before
                       * the loop waits) looks at the tail afresh */
    if (r->scratch)
        return;
    if (r->dropped_total) /* (never read back: a reader may write it) */
        __atomic_store_n(&r->hdr->dropped, r->dropped_total, __ATOMIC_RELAXED);
    __atomic_store_n(&r->hdr->head, r->pos, __ATOMIC_RELEASE);
    learn_reader(r);
}

/* About to write the first byte of a new page: publish first, so the
 * published head is never more than a page behind what is being written.
 * A reader without a tail the producer honours (a flight-recorder reader)
 * relies on this to know which pages may be overwritten under it: those
 * older than ring_size before the end of head's page.  The fence orders
 * the head store before the writes into the page (pairs with the
 * reader's copy-then-reload of head).  Costs one store per page; the
 * reader's liveness was re-read just before (reserve_raw). */
static void enter_page(ts__ring *r) {
    if (r->scratch || __atomic_load_n(&r->hdr->head, __ATOMIC_RELAXED) == r->pos)
        return;
    __atomic_store_n(&r->hdr->head, r->pos, __ATOMIC_RELEASE);
    r->unpublished = 0;
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* The ring's pages are created ahead of the writer, a chunk at a time,
 * during its first lap.  A memfd page comes into being at its first
 * write, and that fault costs 3-4 us on this VM (the hypervisor's page
 * tables too): a 32 MiB recorder ring is 8,192 of them, in the middle of
 * the traced program's work (debug spawn with a reader 6.4 M/s; with its
 * ring made beforehand 8.6 M/s).  MADV_POPULATE_WRITE makes the same
 * pages for ~1.8 us each, in one call per chunk and without a trap each
 * (with it, 7.3 M/s).  Memory is still spent only as the ring fills, one
 * chunk ahead.  Where the call fails (a kernel before 5.14) the pages
 * come by faults, as before. */
#define POPULATE_CHUNK (256u << 10)

static void populate_ahead(ts__ring *r) {
    uint64_t size = (uint64_t)r->mask + 1;
    uint64_t end = r->populated + POPULATE_CHUNK;
    if (end > size)
        end = size;
#ifdef MADV_POPULATE_WRITE
    if (madvise(r->data + r->populated, end - r->populated, MADV_POPULATE_WRITE) != 0)
        end = size; /* give up: by faults from here on */
#else
    end = size;
#endif
    r->populated = end;
}

/* Records dropped on a full ring before its tail is read again. */
enum { FULL_RECHECK = 32 };

/* Room for `size` bytes at the cursor, padding to the next page if the
 * record would cross one.  Returns where to write, or NULL (dropped). */
static void *reserve_raw(ts__ring *r, uint32_t size) {
    uint32_t off = (uint32_t)(r->pos & (TS_PAGE_SIZE - 1));
    uint32_t pad = TS_PAGE_SIZE - off < size ? TS_PAGE_SIZE - off : 0;
    /* Entering a page: a reader that arrived since we last looked may
     * protect it (it is the oldest page of the window when the ring is
     * full).  Learn of it before deciding, not after the first write. */
    if ((pad || !off) && !r->scratch)
        learn_reader(r);
    if (r->reader_live) {
        uint64_t need = r->pos + pad + size;
        if (need - r->tail_cache > r->limit) {
            /* Full.  The tail is the reader's cache line: reading it on
             * every record while the reader drains moves that line back
             * and forth (~100 ns a time, several times an event's cost).
             * Having found the ring full on a fresh tail, drop the next
             * FULL_RECHECK records on the cached one (counted as any
             * drop); the reader frees whole pages at a time anyway. */
            if (r->full_skip) {
                r->full_skip--;
                return NULL;
            }
            if (!r->scratch)
                r->tail_cache = read_tail(r);
            if (need - r->tail_cache > r->limit) {
                r->full_skip = r->scratch ? 0 : FULL_RECHECK;
                return NULL;
            }
        }
    }
    if (pad) {
        if (pad >= sizeof(ts_ev_header)) {
            ts_ev_header *ph = (ts_ev_header *)(r->data + (r->pos & r->mask));
            ph->ts = 0;
            ph->type = TS_EV_PAD;
            ph->size = (uint16_t)pad;
            ph->spare = 0;
        }
        r->pos += pad;
    }
    if (!(r->pos & (TS_PAGE_SIZE - 1))) {
        if (r->populated <= r->mask && r->pos + POPULATE_CHUNK / 2 >= r->populated &&
            !r->scratch)
            populate_ahead(r);
        enter_page(r);
    }
    return r->data + (r->pos & r->mask);
}

void *ts__ring_reserve_slow(ts__ring *r, uint16_t type, uint32_t size, uint64_t ts) {
    if (r->dropped_pending) {
        ts_ev_dropped *d = reserve_raw(r, sizeof *d);
        if (!d)
            goto drop;
        d->h = (ts_ev_header){.ts = ts__ticks(), .type = TS_EV_dropped, .size = sizeof *d};
        d->count = r->dropped_pending;
        r->dropped_pending = 0;
        r->pos += sizeof *d;
    }
    ts_ev_header *h = reserve_raw(r, size);
    if (!h)
        goto drop;
    h->ts = r->last_ts = ts ? ts : ts__ticks();
    h->type = type;
    h->size = (uint16_t)size;
    h->spare = 0;
    return h;
drop:
    r->dropped_pending++;
    r->dropped_total++;
    /* A drop counts towards the next publish like an event: publishing is
     * where the producer notices that its reader has gone (detached, or
     * its heartbeat went stale); without it a full ring whose reader
     * left would drop everything forever.  The shared drop counter is
     * stored there too, not per drop: a store per drop into the header
     * the reader polls cost a cache-line transfer each. */
    if (++r->unpublished >= TS_PUBLISH_EVERY)
        ts__ring_publish(r);
    return NULL;
}

/* ---- the attach handshake ----------------------------------------------------------- */

/* attach_done becomes the newest request every loop has answered.  Of
 * two loops answering at once, each stores its slot's dump_gen and then
 * reads the others' after a full fence, so at least one of them sees
 * both answers; the watchdog calls this too, for what a race or a closing
 * loop leaves behind.  A loop stores dump_gen after publishing its dump,
 * so a reader that sees attach_done sees every loop's dump below head. */
void ts__seg_settle_dump(void) {
    ts_seg_header *h = ts__seg();
    if (!h)
        return;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint64_t done = __atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
        ts_loop_slot *s = ts__loop_slot_at(i);
        if (!__atomic_load_n(&s->loop, __ATOMIC_ACQUIRE))
            continue;
        uint64_t g = __atomic_load_n(&s->dump_gen, __ATOMIC_ACQUIRE);
        if (g < done)
            done = g;
    }
    /* Only the reader's view depends on attach_done: a few tries are
     * enough against honest racers, and a reader that keeps rewriting it
     * cannot keep us here. */
    uint64_t cur = __atomic_load_n(&h->attach_done, __ATOMIC_ACQUIRE);
    for (int tries = 0; tries < 8 && cur < done; tries++)
        if (__atomic_compare_exchange_n(&h->attach_done, &cur, done, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            break;
}

/* ---- the calibration ------------------------------------------------------------- */

void ts__seg_calibrate(uint64_t ticks, uint64_t ns) {
    ts_seg_header *h = ts__seg();
    if (!h)
        return;
    pthread_mutex_lock(&calib_lock);
    __atomic_add_fetch(&h->calib_seq, 1, __ATOMIC_ACQ_REL);
    h->ticks1 = ticks;
    h->mono1_ns = ns;
    __atomic_add_fetch(&h->calib_seq, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&calib_lock);
}

/* ---- holding room for a state dump ------------------------------------------------ */

void ts__ring_hold(ts__ring *r, uint64_t bytes) {
    uint64_t size = (uint64_t)r->mask + 1;
    if (bytes < TS_RING_END_RESERVE)
        bytes = TS_RING_END_RESERVE;
    r->limit = size - (bytes < size ? bytes : size);
}

void ts__ring_open_reserve(ts__ring *r) {
    r->limit = (uint64_t)r->mask + 1;
    r->full_skip = 0; /* a drop streak's cached verdict was for the old limit */
}

bool ts__ring_fits(ts__ring *r, uint64_t bytes) {
    learn_reader(r);
    if (!r->reader_live)
        return true;
    r->tail_cache = read_tail(r);
    r->full_skip = 0;
    return r->pos + bytes - r->tail_cache <= (uint64_t)r->mask + 1;
}

int ts__ring_scratch_open(ts__ring *s, ts_ring_header *hdr) {
    if (seg_state != 1)
        return -ENOTSUP;
    char *data = malloc(geom.ring_size);
    if (!data)
        return -ENOMEM;
    ts__ring_scratch_init(s, hdr, data, geom.ring_size);
    return 0;
}

void ts__ring_scratch_init(ts__ring *s, ts_ring_header *hdr, void *buf, uint32_t size) {
    memset(hdr, 0, sizeof *hdr);
    /* "A live reader that never reads": what does not fit is dropped,
     * nothing wraps over what was assembled. */
    *s = (ts__ring){.hdr = hdr, .data = buf, .mask = size - 1, .limit = size,
                    .reader_live = true, .scratch = true};
}

void ts__ring_scratch_close(ts__ring *s) {
    free(s->data);
    s->data = NULL;
}

/* Where a record of `size` bytes written at p ends, padding included. */
static uint64_t packed_end(uint64_t p, uint32_t size) {
    uint32_t room = TS_PAGE_SIZE - (uint32_t)(p & (TS_PAGE_SIZE - 1));
    return (room < size ? p + room : p) + size;
}

/* The records of s in order, PADs and page tails skipped (the reader's
 * rule: a page tail shorter than a header holds nothing). */
static const ts_ev_header *scratch_next(const ts__ring *s, uint64_t *p) {
    while (*p < s->pos) {
        uint32_t room = TS_PAGE_SIZE - (uint32_t)(*p & (TS_PAGE_SIZE - 1));
        if (room < sizeof(ts_ev_header)) {
            *p += room;
            continue;
        }
        const ts_ev_header *h = (const ts_ev_header *)(s->data + *p);
        if (h->size < sizeof *h) /* cannot happen: only we wrote it */
            return NULL;
        *p += h->size;
        if (h->type != TS_EV_PAD)
            return h;
    }
    return NULL;
}

int ts__ring_copy_in(ts__ring *r, const ts__ring *s, uint64_t *need) {
    *need = 0;
    if (s->dropped_total)
        return -E2BIG;
    uint64_t end = r->pos, p = 0;
    if (r->dropped_pending) /* the count goes first */
        end = packed_end(end, sizeof(ts_ev_dropped));
    for (const ts_ev_header *h; (h = scratch_next(s, &p));)
        end = packed_end(end, h->size);
    *need = end - r->pos;
    if (!ts__ring_fits(r, *need))
        return -ENOSPC;
    ts__ring_open_reserve(r);
    p = 0;
    for (const ts_ev_header *h; (h = scratch_next(s, &p));) {
        ts_ev_header *d = ts__ring_reserve_at(r, h->type, h->size, h->ts);
        if (!d) /* cannot happen: the room was there and only we write */
            return -ENOSPC;
        memcpy(d + 1, h + 1, h->size - sizeof *h);
        ts__ring_commit(r, h->size);
    }
    return 0;
}
