/*
 * shm_reader.c - finding, checking and attaching to a process's trace
 * segment (the reading itself is in ring_drain.c).
 *
 * The segment is a memfd the process holds open; it is found among
 * /proc/PID/fd by its link name ("/memfd:taskscope.PID"), which takes the
 * right to read the process (its user, or root).  Before anything in it
 * is used:
 *   - it must be a regular file owned by the process's effective uid with
 *     mode 0600, sealed against shrinking and growing (then its size is
 *     fixed and no access to the mapping can ever SIGBUS);
 *   - the header's magic, version, sizes and offsets must describe a
 *     layout that fits in the file as it is;
 *   - the header's pid and start time must be the running process's.
 * The validated geometry is kept in the reader and never re-read.
 *
 * The reader's descriptor is a reference of its own: when the process
 * dies (even by SIGKILL) the segment stays until the reader closes it, so
 * the last window can still be drained.
 *
 * Ring bytes are copied with pread(), not read in place, so that what is
 * decoded cannot change under the decoder; the mapping is used only for
 * the control words (heads, tails, handshake), which need atomic loads
 * and stores shared with the producers.
 *
 * Invariant kept for the producers: a reader stores tail before it
 * announces itself (reader_pid), so a producer that sees a live reader
 * never sees a tail from an earlier session.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reader_impl.h"

/* ---- errors and small helpers ------------------------------------------------ */

int rd_fail(ts_reader *rd, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rd->err, sizeof rd->err, fmt, ap);
    va_end(ap);
    return err;
}

uint64_t rd_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *ts_reader_error(const ts_reader *rd) { return rd ? rd->err : ""; }

/* Control words.  Offsets come from the validated geometry and are
 * naturally aligned; a buffer may be unaligned, so it is read bytewise. */
uint64_t rd_load64(const ts_reader *rd, uint64_t off) {
    if (off + 8 > rd->size)
        return 0;
    if (rd->fd >= 0)
        return __atomic_load_n((const uint64_t *)(rd->base + off), __ATOMIC_ACQUIRE);
    uint64_t v;
    memcpy(&v, rd->base + off, 8);
    return v;
}

uint32_t rd_load32(const ts_reader *rd, uint64_t off) {
    if (off + 4 > rd->size)
        return 0;
    if (rd->fd >= 0)
        return __atomic_load_n((const uint32_t *)(rd->base + off), __ATOMIC_ACQUIRE);
    uint32_t v;
    memcpy(&v, rd->base + off, 4);
    return v;
}

/* Release: pairs with the producers' acquire loads of tail and reader_pid. */
void rd_store64(ts_reader *rd, uint64_t off, uint64_t v) {
    if (rd->wbase && off + 8 <= rd->size)
        __atomic_store_n((uint64_t *)(rd->wbase + off), v, __ATOMIC_RELEASE);
}

/* Copy len bytes at off; -EBADMSG if the file no longer holds them. */
int rd_copy(const ts_reader *rd, uint64_t off, void *dst, size_t len) {
    if (off > rd->size || len > rd->size - off)
        return -EBADMSG;
    if (rd->fd < 0) {
        memcpy(dst, rd->base + off, len);
        return 0;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(rd->fd, (char *)dst + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EBADMSG;
        done += (size_t)n;
    }
    return 0;
}

uint64_t rd_ring_hdr(const ts_reader *rd, uint32_t ring) {
    return rd->rings_offset + (uint64_t)ring * sizeof(ts_ring_header);
}

/* ---- /proc --------------------------------------------------------------------- */

static int read_small_file(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, len - 1);
    int err = errno;
    close(fd);
    if (n < 0)
        return -err;
    buf[n] = 0;
    return (int)n;
}

/* Field 22 of /proc/PID/stat: the start time the runtime stored. */
static int proc_start_time(int pid, uint64_t *out) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int n = read_small_file(path, buf, sizeof buf);
    if (n < 0)
        return n;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces or ')' */
    unsigned long long v;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                            "%*d %*d %*d %llu", &v) != 1)
        return -EINVAL;
    *out = v;
    return 0;
}

/* The effective uid of pid (second number of the Uid: line). */
static int proc_euid(int pid, uint32_t *out) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (read_small_file(path, buf, sizeof buf) < 0)
        return -ESRCH;
    const char *p = strstr(buf, "\nUid:");
    unsigned long real, eff;
    if (!p || sscanf(p + 5, "%lu %lu", &real, &eff) != 2)
        return -EINVAL;
    *out = (uint32_t)eff;
    return 0;
}

/* ---- validation ------------------------------------------------------------------ */

/* Check a header copy against the size of what holds it, and keep the
 * geometry.  Order matters for the message: first "is it ours at all",
 * then "which version", then "does the layout fit". */
static int validate_header(ts_reader *rd, const ts_seg_header *h, uint64_t size) {
    if (memcmp(h->magic, TS_SEG_MAGIC, 8) != 0)
        return rd_fail(rd, -EBADMSG, "not a taskscope segment (bad magic; a segment being "
                                     "created has none yet)");
    if (h->version != TS_SCHEMA_VERSION)
        return rd_fail(rd, -EPROTONOSUPPORT,
                       "segment has schema version %u, this reader reads version %u",
                       h->version, TS_SCHEMA_VERSION);
    if (h->header_size != sizeof(ts_seg_header))
        return rd_fail(rd, -EBADMSG, "corrupt header: header_size %u, expected %zu",
                       h->header_size, sizeof(ts_seg_header));
    if (h->total_size != size)
        return rd_fail(rd, -EBADMSG, "corrupt or truncated segment: header says %llu bytes, "
                       "there are %llu", (unsigned long long)h->total_size,
                       (unsigned long long)size);
    uint32_t rs = h->ring_size;
    if (h->max_rings < 1 || h->max_rings > TS_MAX_RINGS)
        return rd_fail(rd, -EBADMSG, "corrupt header: %u rings", h->max_rings);
    if (rs < TS_PAGE_SIZE || rs > TS_RING_SIZE_MAX || (rs & (rs - 1)))
        return rd_fail(rd, -EBADMSG, "corrupt header: ring size %u", rs);
    uint64_t rings_end = h->rings_offset + (uint64_t)h->max_rings * sizeof(ts_ring_header);
    if (h->rings_offset < sizeof(ts_seg_header) || h->rings_offset % 64 ||
        h->rings_offset > size || rings_end > h->data_offset || h->data_offset % 8 ||
        h->data_offset > size || size - h->data_offset < (uint64_t)h->max_rings * rs)
        return rd_fail(rd, -EBADMSG, "corrupt header: rings at %llu, data at %llu do not fit "
                       "in %llu bytes", (unsigned long long)h->rings_offset,
                       (unsigned long long)h->data_offset, (unsigned long long)size);
    rd->max_rings = h->max_rings;
    rd->ring_size = rs;
    rd->rings_offset = h->rings_offset;
    rd->data_offset = h->data_offset;
    ts_reader_info *in = &rd->info;
    in->pid = h->pid;
    in->uid = h->uid;
    in->max_rings = h->max_rings;
    in->ring_size = rs;
    in->start_time = h->start_time;
    in->block_threshold_ns = h->block_threshold_ns;
    in->slow_step_ns = h->slow_step_ns;
    memcpy(in->runtime_version, h->runtime_version, sizeof in->runtime_version);
    in->runtime_version[sizeof in->runtime_version - 1] = 0;
    memcpy(in->exe, h->exe, sizeof in->exe);
    in->exe[sizeof in->exe - 1] = 0;
    return 0;
}

static ts_reader *reader_new(void) {
    ts_reader *rd = calloc(1, sizeof *rd);
    if (rd) {
        rd->fd = -1;
        rd->ns_per_tick = 1.0;
    }
    return rd;
}

static int give_up(ts_reader *rd, int err, char *errbuf, size_t errlen) {
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", rd->err);
    ts_reader_close(rd);
    return err;
}

int ts_reader_open_buffer(ts_reader **out, const void *buf, size_t len, char *errbuf,
                          size_t errlen) {
    *out = NULL;
    ts_reader *rd = reader_new();
    if (!rd) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    rd->base = buf;
    rd->size = len;
    int err = 0;
    if (!buf || len < sizeof(ts_seg_header))
        err = rd_fail(rd, -EBADMSG, "truncated segment: %zu bytes, a header alone is %zu",
                      len, sizeof(ts_seg_header));
    else {
        ts_seg_header h;
        memcpy(&h, buf, sizeof h);
        err = validate_header(rd, &h, len);
    }
    if (err)
        return give_up(rd, err, errbuf, errlen);
    rd->err[0] = 0;
    *out = rd;
    return 0;
}

/* ---- finding and opening a process's segment ---------------------------------------- */

/* Is the link of a descriptor one of our segments ("/memfd:taskscope.N
 * (deleted)")?  Which pid it names is not trusted: the header says, and
 * is checked. */
static bool is_segment_link(const char *link) {
    static const char prefix[] = "/memfd:" TS_SEG_NAME_PREFIX;
    return !strncmp(link, prefix, sizeof prefix - 1);
}

/* Check an open descriptor of pid's segment and map it.  Owner and mode
 * say the process's user made it; the seals say nobody (us included) can
 * shrink or grow it, which is what makes the mapping safe: a sealed
 * memfd's size is fixed, so no access within it can ever SIGBUS.
 *
 * A segment being created is sized, sealed and chmod'ed before its
 * header is written, magic last: so a segment without its magic yet is
 * "not there yet" (-EBADMSG, which a caller waiting for it retries),
 * checked before mode and seals, which it may not have yet. */
static int adopt_fd(ts_reader *rd, int fd, int pid, bool writable, uint32_t euid,
                    uint64_t start, const char *what) {
    rd->fd = fd;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return rd_fail(rd, -errno, "cannot stat %s: %s", what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return rd_fail(rd, -EACCES, "%s is not a regular file", what);
    if (st.st_uid != euid)
        return rd_fail(rd, -EACCES, "%s is owned by uid %u, but process %d runs as uid %u: "
                       "not trusting it", what, (unsigned)st.st_uid, pid, euid);
    if (st.st_size < (off_t)sizeof(ts_seg_header) || (uint64_t)st.st_size > (UINT64_C(1) << 40))
        return rd_fail(rd, -EBADMSG, "truncated or corrupt segment %s: %lld bytes", what,
                       (long long)st.st_size);
    rd->size = (size_t)st.st_size;
    ts_seg_header h;
    rd->base = NULL;
    if (rd_copy(rd, 0, &h, sizeof h) != 0)
        return rd_fail(rd, -EBADMSG, "cannot read the header of %s", what);
    if (memcmp(h.magic, TS_SEG_MAGIC, 8) != 0)
        return validate_header(rd, &h, rd->size); /* says "bad magic" */
    if ((st.st_mode & 07777) != 0600)
        return rd_fail(rd, -EACCES, "%s has mode %04o, expected 0600: not trusting it", what,
                       (unsigned)(st.st_mode & 07777));
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        return rd_fail(rd, -EACCES, "%s is not sealed against resizing (it could be truncated "
                       "under us): not trusting it", what);
    int err = validate_header(rd, &h, rd->size);
    if (err)
        return err;
    if (h.pid != (uint32_t)pid)
        return rd_fail(rd, -EBADMSG, "corrupt header: %s says it belongs to pid %u", what,
                       h.pid);
    if (h.start_time != start)
        return rd_fail(rd, -ESTALE, "stale segment %s: made by an earlier process with pid %d "
                       "(start time %llu; the process running now started at %llu)", what,
                       pid, (unsigned long long)h.start_time, (unsigned long long)start);
    void *p = mmap(NULL, rd->size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return rd_fail(rd, -errno, "cannot map %s: %s", what, strerror(errno));
    rd->base = p;
    rd->wbase = writable ? p : NULL;
    return 0;
}

static int process_identity(ts_reader *rd, int pid, uint64_t *start, uint32_t *euid) {
    if (proc_start_time(pid, start) != 0 || proc_euid(pid, euid) != 0)
        return rd_fail(rd, -ESRCH, "no such process: %d", pid);
    rd->pid = pid;
    rd->start_time = *start;
    return 0;
}

/* Every "/memfd:taskscope." descriptor of pid, in order, until one
 * validates.  Opening /proc/PID/fd/N takes the right to read the process
 * (same user, or root), and gives us our own reference: the segment
 * outlives the process for as long as we hold it. */
static int open_segment(ts_reader *rd, int pid) {
    uint64_t start = 0;
    uint32_t euid = 0; /* both set, or an error: gcc -O2 cannot tell */
    int err = process_identity(rd, pid, &start, &euid);
    if (err)
        return err;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? rd_fail(rd, -ESRCH, "no such process: %d", pid)
                               : rd_fail(rd, -EACCES, "cannot look at process %d's descriptors "
                                         "(%s): trace it as its user, or as root", pid,
                                         strerror(errno));
    err = rd_fail(rd, -ENOENT, "process %d has no trace segment: it does not use the debug "
                  "runtime (libtaskscope-debug), tracing is off (TASKSCOPE_TRACE=0), or it has "
                  "not created a loop yet", pid);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char link[256];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        if (!is_segment_link(link))
            continue;
        char path[352];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        /* O_NONBLOCK: whatever it turns out to be, opening it cannot hang */
        int fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        bool writable = fd >= 0;
        if (fd < 0 && errno == EACCES)
            fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
            err = rd_fail(rd, -errno, "cannot open %s (%s): %s", path, link, strerror(errno));
            continue;
        }
        char what[320];
        snprintf(what, sizeof what, "segment %s of process %d", e->d_name, pid);
        err = adopt_fd(rd, fd, pid, writable, euid, start, what);
        if (!err)
            break;
        close(fd);
        rd->fd = -1;
    }
    closedir(d);
    return err;
}

int ts_reader_open_pid(ts_reader **out, int pid, char *errbuf, size_t errlen) {
    *out = NULL;
    ts_reader *rd = reader_new();
    if (!rd) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    int err = pid > 0 ? open_segment(rd, pid) : rd_fail(rd, -EINVAL, "bad pid %d", pid);
    if (err)
        return give_up(rd, err, errbuf, errlen);
    rd->err[0] = 0;
    *out = rd;
    return 0;
}

int ts_reader_open_fd(ts_reader **out, int fd, int pid, char *errbuf, size_t errlen) {
    *out = NULL;
    ts_reader *rd = reader_new();
    if (!rd) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    uint64_t start;
    uint32_t euid;
    int err = pid > 0 ? process_identity(rd, pid, &start, &euid)
                      : rd_fail(rd, -EINVAL, "bad pid %d", pid);
    if (!err) {
        int flags = fcntl(fd, F_GETFL);
        int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (flags < 0 || own < 0)
            err = rd_fail(rd, -EBADF, "bad descriptor %d", fd);
        else
            err = adopt_fd(rd, own, pid, (flags & O_ACCMODE) == O_RDWR, euid, start,
                           "the segment");
    }
    if (err)
        return give_up(rd, err, errbuf, errlen);
    rd->err[0] = 0;
    *out = rd;
    return 0;
}

/* ---- attach --------------------------------------------------------------------------- */

static bool pid_alive(uint64_t pid) {
    return pid && pid < (1u << 30) && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int ts_reader_keepalive(ts_reader *rd) {
    if (!rd->attached)
        return -EINVAL;
    rd->last_beat_ns = rd_mono_ns();
    rd_store64(rd, SEG_OFF(reader_heartbeat_ns), rd->last_beat_ns);
    return 0;
}

int ts_reader_attach(ts_reader *rd) {
    if (rd->fd < 0)
        return rd_fail(rd, -EINVAL, "a segment image in memory cannot be attached to");
    if (!rd->wbase)
        return rd_fail(rd, -EACCES, "segment is read-only to us: cannot attach (read passively)");
    if (rd->attached)
        return 0;
    uint64_t self = (uint64_t)getpid();
    uint64_t other = rd_load64(rd, SEG_OFF(reader_pid));
    uint64_t beat = rd_load64(rd, SEG_OFF(reader_heartbeat_ns));
    if (other && other != self && rd_mono_ns() - beat < 2000000000ull && pid_alive(other))
        return rd_fail(rd, -EBUSY, "process %d already has a live reader (pid %llu)", rd->pid,
                       (unsigned long long)other);
    rd_protect_window(rd);
    rd->attached = true;
    ts_reader_keepalive(rd);
    uint64_t *pidw = (uint64_t *)(rd->wbase + SEG_OFF(reader_pid));
    if (!__atomic_compare_exchange_n(pidw, &other, self, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        rd->attached = false;
        return rd_fail(rd, -EBUSY, "another reader attached to process %d at the same time",
                       rd->pid);
    }
    uint64_t *req = (uint64_t *)(rd->wbase + SEG_OFF(attach_request));
    rd->dump_gen = __atomic_add_fetch(req, 1, __ATOMIC_ACQ_REL);
    rd->dump_done = false;
    rd->polls_since_attach = 0;
    return 0;
}

static void detach(ts_reader *rd) {
    if (!rd->attached)
        return;
    uint64_t self = (uint64_t)getpid();
    __atomic_compare_exchange_n((uint64_t *)(rd->wbase + SEG_OFF(reader_pid)), &self, 0, false,
                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    rd->attached = false;
}

int ts_reader_dump_done(const ts_reader *rd) { return rd->dump_done; }

int ts_reader_request_dump(ts_reader *rd) {
    if (!rd->attached || !rd->wbase)
        return rd_fail(rd, -EINVAL, "only an attached reader can ask for a state dump");
    uint64_t *req = (uint64_t *)(rd->wbase + SEG_OFF(attach_request));
    rd->dump_gen = __atomic_add_fetch(req, 1, __ATOMIC_ACQ_REL);
    rd->dump_done = false;
    return 0;
}

int ts_reader_alive(const ts_reader *rd) {
    if (rd->fd < 0)
        return 1;
    uint64_t start;
    return proc_start_time(rd->pid, &start) == 0 && start == rd->start_time;
}

/* A scan that began this long after a step's deadline (by the reader's
 * clock) saw it past the threshold by the watchdog's own measure too. */
#define DEADLINE_SLACK_NS 1000000ull

/* The segment's loop slots carry the last step the watchdog saw running
 * (the runtime publishes no steps itself).  The slots are the program's
 * to write: a garbage value makes at most a caller wait until its own
 * deadline. */
int ts_reader_step_pending(const ts_reader *rd, uint64_t since) {
    uint64_t threshold = rd->info.block_threshold_ns;
    if (!threshold || !rd->base)
        return 0;
    /* No scan finished since the caller came: the watchdog (late on a
     * loaded machine) may yet find a step running then. */
    uint64_t scan = rd_load64(rd, SEG_OFF(watch_scan_ns));
    if (scan < since)
        return 1;
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
        uint64_t slot = SEG_OFF(loops) + (uint64_t)i * sizeof(ts_loop_slot);
        if (!rd_load64(rd, slot + offsetof(ts_loop_slot, loop)))
            continue;
        uint64_t step = rd_load64(rd, slot + offsetof(ts_loop_slot, step));
        if (!(step & 1) || rd_load64(rd, slot + offsetof(ts_loop_slot, blocked_step)) == step)
            continue;
        /* Unreported yet: it will be by the first scan that begins past
         * its deadline, if it still runs then (a scan reports before it
         * finishes).  Not a wall-clock grace: a watchdog starved for
         * longer than one made this answer without the step's task. */
        uint64_t start = ts_reader_ns(rd, rd_load64(rd, slot + offsetof(ts_loop_slot, step_start)));
        if (start <= since && scan < start + threshold + DEADLINE_SLACK_NS)
            return 1;
    }
    return 0;
}

int ts_reader_fatal_signal(const ts_reader *rd) {
    for (uint32_t i = 0; i < rd->max_rings; i++) {
        uint32_t sig = rd_load32(rd, rd_ring_hdr(rd, i) + HDR_OFF(fatal_signal));
        if (sig > 0 && sig < 65) /* a signal number, or nothing we trust */
            return (int)sig;
    }
    return 0;
}

/* ---- queries and close ---------------------------------------------------------------- */

void ts_reader_get_stats(const ts_reader *rd, ts_reader_stats *out) {
    *out = rd->st;
    out->dropped_total = 0;
    for (uint32_t i = 0; i < rd->max_rings; i++)
        if (rd->rings[i].seen)
            out->dropped_total += rd->rings[i].dropped;
    out->attached = rd->attached;
    out->dump_done = rd->dump_done;
}

void ts_reader_get_info(const ts_reader *rd, ts_reader_info *out) { *out = rd->info; }

int ts_reader_get_ring(const ts_reader *rd, unsigned ring, ts_reader_ring *out) {
    if (ring >= rd->max_rings || !rd->rings[ring].seen)
        return -ENOENT;
    const struct rd_ring *r = &rd->rings[ring];
    uint64_t h = rd_ring_hdr(rd, ring);
    *out = (ts_reader_ring){
        .tid = r->tid,
        .role = r->role,
        .in_use = rd_load32(rd, h + offsetof(ts_ring_header, in_use)),
        .head = r->last_head,
        .pos = r->pos,
        .dropped = r->dropped,
        .generation = r->generation,
    };
    rd_copy(rd, h + offsetof(ts_ring_header, name), out->name, sizeof out->name);
    out->name[sizeof out->name - 1] = 0;
    return 0;
}

const char *ts_reader_string(const ts_reader *rd, uint32_t id) {
    const struct rd_string *s = rd_find_string(&rd->intern, id);
    return s ? s->text : NULL;
}

int ts_reader_site(const ts_reader *rd, uint32_t id, const char **file, const char **func,
                   uint32_t *line) {
    const struct rd_site *s = rd_find_site(&rd->intern, id);
    if (!s)
        return -ENOENT;
    if (file)
        *file = ts_reader_string(rd, s->file);
    if (func)
        *func = ts_reader_string(rd, s->func);
    if (line)
        *line = s->line;
    return 0;
}

void ts_reader_close(ts_reader *rd) {
    if (!rd)
        return;
    detach(rd);
    if (rd->fd >= 0) {
        if (rd->base)
            munmap((void *)rd->base, rd->size);
        close(rd->fd);
    }
    rd_intern_free(&rd->intern);
    free(rd->arena);
    free(rd->ev);
    free(rd);
}
