/*
 * ring.c - the trace segment and the per-thread rings (producer side).
 *
 * Invariants (see ring.h and schemas/trace_format.h for the layout):
 *   - Only the owning thread writes its ring's data and head; only the
 *     reader writes tail.  head is published with a release store after
 *     the bytes it covers, and pairs with the reader's acquire load.
 *   - A record never crosses a page; every page starts on a record.
 *   - With a live reader, pos - tail never exceeds ring_size: what does not
 *     fit is dropped and counted, never written over unread bytes.
 *   - The header's magic is written last (release), so a reader that sees
 *     it sees a complete header.
 *   - After fork() the child owns nothing of the parent's segment: an
 *     atfork handler forgets it, and the child makes its own on first use.
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
static ts_seg_header *seg;
static size_t seg_size;
static char seg_name[64];
static int seg_state;          /* 0 not tried, 1 up, -1 off/failed */
static uint32_t ring_size_wanted;
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

/* At exit: publish what the exiting thread wrote, then remove the name.
 * A reader that has the segment mapped keeps reading it after the unlink,
 * so the end of the trace is not lost with the process. */
static void unlink_segment(void) {
    if (seg_state == 1 && seg && seg->pid == (uint32_t)getpid()) {
        ts__watchdog_stop();
        if (ts__tls_ring.state == 1)
            ts__ring_publish(&ts__tls_ring.ring);
        shm_unlink(seg_name);
    }
}

/* `taskscope run` starts a program with TASKSCOPE_WAIT_READER_MS so that
 * nothing happens before the tracer is attached: a short program would
 * otherwise be over before the tracer has found its segment. */
static void wait_for_reader(void) {
    const char *s = getenv("TASKSCOPE_WAIT_READER_MS");
    long ms = s ? strtol(s, NULL, 10) : 0;
    for (long i = 0; i < ms && !__atomic_load_n(&seg->reader_pid, __ATOMIC_ACQUIRE); i++) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
}

static void forget_after_fork(void) {
    /* The child must not write into its parent's segment, and has no
     * watchdog thread (fork copies only the calling thread). */
    ts__watchdog_after_fork();
    seg = NULL;
    seg_state = 0;
    __atomic_add_fetch(&ts__fork_generation, 1, __ATOMIC_RELAXED);
    pthread_mutex_init(&seg_lock, NULL);
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
        ring_size = round_ring_size(v ? v : TS_RING_SIZE_DEFAULT);
    }
    size_t hdr = (sizeof(ts_seg_header) + TS_PAGE_SIZE - 1) & ~(size_t)(TS_PAGE_SIZE - 1);
    size_t rings = (TS_MAX_RINGS * sizeof(ts_ring_header) + TS_PAGE_SIZE - 1) &
                   ~(size_t)(TS_PAGE_SIZE - 1);
    size_t total = hdr + rings + (size_t)TS_MAX_RINGS * ring_size;
    pid_t pid = getpid();
    snprintf(seg_name, sizeof seg_name, TS_SEG_NAME_FMT, (int)pid);
    int fd = shm_open(seg_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        /* Left by a dead process that had our pid: we are alive, so it is
         * stale by definition. */
        shm_unlink(seg_name);
        fd = shm_open(seg_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (fd < 0) {
        fprintf(stderr, "taskscope: tracing off: cannot create shared memory %s: %s\n",
                seg_name, strerror(errno));
        seg_state = -1;
        return;
    }
    if (ftruncate(fd, (off_t)total) != 0) {
        fprintf(stderr, "taskscope: tracing off: cannot size %s: %s\n", seg_name,
                strerror(errno));
        close(fd);
        shm_unlink(seg_name);
        seg_state = -1;
        return;
    }
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        shm_unlink(seg_name);
        seg_state = -1;
        return;
    }
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
    h->ticks0 = h->ticks1 = ts__ticks();
    h->mono0_ns = h->mono1_ns = ts__mono_ns();
    h->block_threshold_ns = ts__trace_block_threshold_ns();
    h->slow_step_ns = ts__trace_slow_step_ns();
    snprintf(h->runtime_version, sizeof h->runtime_version, "%s", ts_version());
    ssize_t n = readlink("/proc/self/exe", h->exe, sizeof h->exe - 1);
    h->exe[n > 0 ? n : 0] = 0;
    seg_size = total;
    seg = h;
    atomic_thread_fence(memory_order_release);
    memcpy(h->magic, TS_SEG_MAGIC, 8);
    seg_state = 1;
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(unlink_segment);
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
    ts_ring_header *rh = (ts_ring_header *)((char *)h + h->rings_offset);
    for (uint32_t i = 0; i < h->max_rings; i++) {
        uint32_t expect = 0;
        if (!__atomic_compare_exchange_n(&rh[i].in_use, &expect, 1, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        ts__ring *r = &ts__tls_ring.ring;
        r->hdr = &rh[i];
        r->data = (char *)h + h->data_offset + (size_t)i * h->ring_size;
        r->mask = h->ring_size - 1;
        /* Positions carry on from the slot's previous owner, so a reader's
         * tail stays meaningful.  Carry on exactly at its head: skipping
         * to the next page would leave the bytes in between (stale data
         * from an earlier lap) below the new head, for a reader to decode
         * as records. */
        r->pos = __atomic_load_n(&rh[i].head, __ATOMIC_RELAXED);
        r->tail_cache = __atomic_load_n(&rh[i].tail, __ATOMIC_ACQUIRE);
        r->unpublished = 0;
        r->dropped_pending = 0;
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
    ts__tls_ring.state = 0;
}

static bool reader_live(void) {
    uint64_t pid = __atomic_load_n(&seg->reader_pid, __ATOMIC_ACQUIRE);
    if (!pid)
        return false;
    uint64_t hb = __atomic_load_n(&seg->reader_heartbeat_ns, __ATOMIC_ACQUIRE);
    return ts__mono_ns() - hb < 2000000000ull;
}

void ts__ring_publish(ts__ring *r) {
    __atomic_store_n(&r->hdr->head, r->pos, __ATOMIC_RELEASE);
    r->unpublished = 0;
    bool live = reader_live();
    if (live && !r->reader_live) /* a reader just arrived: learn its tail */
        r->tail_cache = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
    r->reader_live = live;
}

/* About to write the first byte of a new page: publish first, so the
 * published head is never more than a page behind what is being written.
 * A reader without a tail the producer honours (a flight-recorder reader)
 * relies on this to know which pages may be overwritten under it: those
 * older than ring_size before the end of head's page.  The fence orders
 * the head store before the writes into the page (pairs with the
 * reader's copy-then-reload of head).  Costs one publish per page. */
static void enter_page(ts__ring *r) {
    if (__atomic_load_n(&r->hdr->head, __ATOMIC_RELAXED) == r->pos)
        return;
    ts__ring_publish(r);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Room for `size` bytes at the cursor, padding to the next page if the
 * record would cross one.  Returns where to write, or NULL (dropped). */
static void *reserve_raw(ts__ring *r, uint32_t size) {
    uint32_t off = (uint32_t)(r->pos & (TS_PAGE_SIZE - 1));
    uint32_t pad = TS_PAGE_SIZE - off < size ? TS_PAGE_SIZE - off : 0;
    if (r->reader_live) {
        uint64_t need = r->pos + pad + size;
        if (need - r->tail_cache > (uint64_t)r->mask + 1) {
            r->tail_cache = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
            if (need - r->tail_cache > (uint64_t)r->mask + 1)
                return NULL;
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
    if (!(r->pos & (TS_PAGE_SIZE - 1)))
        enter_page(r);
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
    __atomic_store_n(&r->hdr->dropped, r->dropped_total, __ATOMIC_RELAXED);
    /* A drop counts towards the next publish like an event: publishing is
     * where the producer notices that its reader has gone (detached, or
     * its heartbeat went stale); without it a full ring whose reader
     * left would drop everything forever. */
    if (++r->unpublished >= TS_PUBLISH_EVERY)
        ts__ring_publish(r);
    return NULL;
}


