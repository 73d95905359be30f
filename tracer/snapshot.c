/*
 * snapshot.c - see snapshot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash_snapshot.h"
#include "reader.h"
#include "snapshot.h"
#include "symbolize.h"

/* A snapshot holds the rings of the slots a program used; 2 GiB is far
 * beyond any real one and bounds what a hostile file makes us allocate. */
#define SNAP_MAX_BYTES (UINT64_C(2) << 30)

struct snap {
    unsigned char *buf;
    size_t size;
    ts_snap_header h;
};

/* Open without blocking (a FIFO named like a snapshot cannot hang us) and
 * only a regular file. */
static int open_regular(const char *path, struct stat *st) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

int ts_snapshot_detect(const char *path) {
    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0)
        return 0;
    char magic[8];
    int is = pread(fd, magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
             !memcmp(magic, TS_SNAP_MAGIC, sizeof magic);
    close(fd);
    return is;
}

static int fail(char *err, size_t len, int code, const char *path, const char *what) {
    if (err && len)
        snprintf(err, len, "%s: %s", path, what);
    return code;
}

static int load(const char *path, struct snap *s, char *err, size_t len) {
    memset(s, 0, sizeof *s);
    struct stat st;
    int fd = open_regular(path, &st);
    if (fd < 0)
        return fail(err, len, fd, path, fd == -EINVAL ? "not a regular file"
                                                       : "cannot open the crash snapshot");
    if ((uint64_t)st.st_size < TS_SNAP_HEADER_ROOM || (uint64_t)st.st_size > SNAP_MAX_BYTES) {
        close(fd);
        return fail(err, len, -EBADMSG, path, "not a crash snapshot (bad size)");
    }
    s->size = (size_t)st.st_size;
    s->buf = malloc(s->size);
    if (!s->buf) {
        close(fd);
        return fail(err, len, -ENOMEM, path, "out of memory");
    }
    size_t done = 0;
    while (done < s->size) {
        ssize_t n = pread(fd, s->buf + done, s->size - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    close(fd);
    if (done < s->size) {
        free(s->buf);
        s->buf = NULL;
        return fail(err, len, -EBADMSG, path, "the crash snapshot changed while read");
    }
    memcpy(&s->h, s->buf, sizeof s->h);
    const ts_snap_header *h = &s->h;
    const char *why = NULL;
    if (memcmp(h->magic, TS_SNAP_MAGIC, 8))
        why = "not a crash snapshot (bad magic)";
    else if (h->version != TS_SNAP_VERSION)
        why = "crash snapshot of another version";
    else if (h->header_size != sizeof *h || h->depth > TS_SNAP_MAX_FRAMES)
        why = "corrupt crash snapshot header";
    else if (h->seg_offset < TS_SNAP_HEADER_ROOM || h->seg_offset > s->size ||
             h->seg_size > s->size - h->seg_offset || h->seg_offset % 8)
        why = "corrupt crash snapshot: the segment copy does not fit in the file";
    else if (h->maps_offset > s->size || h->maps_size > s->size - h->maps_offset)
        why = "corrupt crash snapshot: the module map does not fit in the file";
    else if (h->dump_offset > s->size || h->dump_size > s->size - h->dump_offset)
        why = "corrupt crash snapshot: the state dump does not fit in the file";
    if (why) {
        free(s->buf);
        s->buf = NULL;
        return fail(err, len, -EBADMSG, path, why);
    }
    return 0;
}

struct replay {
    ts_replay_fn fn;
    void *arg;
};

static void on_event(const ts_reader_event *ev, void *arg) {
    struct replay *r = arg;
    if (r->fn)
        r->fn(ev->rec, ev->ns, ev->tid, r->arg);
}

/* The segment copy with the state dump added as one more ring (in a
 * buffer of our own): the reader then merges it with the rest in time
 * order, like any dump.  NULL (and the copy read alone) when the dump
 * does not fit that shape: the segment reader validates the result. */
static unsigned char *with_dump(const struct snap *s, size_t *len) {
    ts_seg_header h;
    if (!s->h.dump_size || s->h.seg_size < sizeof h)
        return NULL;
    memcpy(&h, s->buf + s->h.seg_offset, sizeof h);
    uint32_t rs = h.ring_size;
    if (h.max_rings >= TS_MAX_RINGS || rs < TS_PAGE_SIZE || rs > TS_RING_SIZE_MAX ||
        (rs & (rs - 1)) || s->h.dump_size > rs || h.total_size != s->h.seg_size ||
        h.data_offset + (uint64_t)h.max_rings * rs != s->h.seg_size ||
        h.rings_offset + (uint64_t)(h.max_rings + 1) * sizeof(ts_ring_header) > h.data_offset)
        return NULL;
    *len = (size_t)s->h.seg_size + rs;
    unsigned char *img = calloc(1, *len);
    if (!img)
        return NULL;
    memcpy(img, s->buf + s->h.seg_offset, s->h.seg_size);
    memcpy(img + s->h.seg_size, s->buf + s->h.dump_offset, s->h.dump_size);
    ts_ring_header r = {.head = s->h.dump_size, .generation = 1, .tid = s->h.tid,
                        .role = TS_ROLE_LOOP};
    snprintf(r.name, sizeof r.name, "crash-dump");
    memcpy(img + h.rings_offset + (uint64_t)h.max_rings * sizeof r, &r, sizeof r);
    h.max_rings++;
    h.total_size = *len;
    memcpy(img, &h, sizeof h);
    return img;
}

static int replay_loaded(const char *path, const struct snap *s, ts_replay_fn fn, void *arg,
                         uint64_t *dropped, char *err, size_t len) {
    ts_reader *rd = NULL;
    char why[256];
    size_t img_len = 0;
    unsigned char *img = with_dump(s, &img_len);
    int rc = img ? ts_reader_open_buffer(&rd, img, img_len, why, sizeof why) : -1;
    if (rc) /* without the dump, then */
        rc = ts_reader_open_buffer(&rd, s->buf + s->h.seg_offset, s->h.seg_size, why,
                                   sizeof why);
    if (rc) {
        free(img);
        if (err && len)
            snprintf(err, len, "%s: crash snapshot: %s", path, why);
        return rc;
    }
    struct replay r = {fn, arg};
    /* Each poll reads a bounded amount per ring: go on until all is read. */
    for (int i = 0; i < 100000 && ts_reader_poll(rd, on_event, &r) > 0; i++)
        ;
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    if (dropped)
        *dropped = st.dropped_total > st.dropped_events ? st.dropped_total : st.dropped_events;
    ts_reader_close(rd);
    free(img);
    return 0;
}

int ts_snapshot_replay(const char *path, ts_replay_fn fn, void *arg, char *err, size_t errlen) {
    struct snap s;
    int rc = load(path, &s, err, errlen);
    if (rc)
        return rc;
    rc = replay_loaded(path, &s, fn, arg, NULL, err, errlen);
    free(s.buf);
    return rc;
}

/* ---- session keys -------------------------------------------------------------------- */

/* The executable mappings of the maps text, for the symbolizer. */
static void add_modules(ts_symbolizer *sym, const struct snap *s) {
    const char *p = (const char *)s->buf + s->h.maps_offset;
    const char *end = p + s->h.maps_size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[512];
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = 0;
            unsigned long long lo, hi, off;
            char perms[8], file[256] = "";
            if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255[^\n]", &lo, &hi, perms, &off,
                       file) == 5 &&
                perms[2] == 'x' && file[0] == '/')
                ts_symbolizer_add_module(sym, lo, hi, off, file);
        }
        p += n + 1;
    }
}

int ts_snapshot_add_modules(const char *path, ts_symbolizer *sym) {
    struct snap s;
    int rc = load(path, &s, NULL, 0);
    if (rc)
        return rc;
    add_modules(sym, &s);
    free(s.buf);
    return 0;
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    default: return "?";
    }
}

static void frame_text(const ts_frame *f, char *buf, size_t len) {
    if (f->file[0]) {
        const char *base = strrchr(f->file, '/');
        snprintf(buf, len, "%s (%s:%d)", f->function, base ? base + 1 : f->file, f->line);
    } else if (f->module[0])
        snprintf(buf, len, "%s (%s)", f->function, f->module);
    else
        snprintf(buf, len, "%s (0x%" PRIx64 ")", f->function, f->pc);
}

/* The crashing thread's stack, one frame a line; and the first few
 * frames, joined, for the status line. */
static void crash_stack(const struct snap *s, char *lines, size_t llen, char *brief,
                        size_t blen) {
    lines[0] = brief[0] = 0;
    ts_symbolizer *sym = ts_symbolizer_new();
    if (sym)
        add_modules(sym, s);
    size_t lo = 0, bo = 0;
    for (uint32_t i = 0; i < s->h.depth; i++) {
        ts_frame f;
        ts_symbolize(sym, s->h.pcs[i], i > 0, &f);
        char t[400];
        frame_text(&f, t, sizeof t);
        int n = snprintf(lines + lo, llen - lo, "#%u 0x%" PRIx64 " %s\n", i, f.pc, t);
        if (n > 0 && (size_t)n < llen - lo)
            lo += (size_t)n;
        if (i < 3) {
            n = snprintf(brief + bo, blen - bo, "%s%s", i ? " <- " : "", t);
            if (n > 0 && (size_t)n < blen - bo)
                bo += (size_t)n;
        }
    }
    ts_symbolizer_free(sym);
}

int ts_snapshot_read_meta(const char *path, const char *key, char *buf, size_t len) {
    buf[0] = 0;
    struct snap s;
    char err[256];
    int rc = load(path, &s, err, sizeof err);
    if (rc)
        return rc;
    const ts_snap_header *h = &s.h;
    ts_seg_header seg;
    int have_seg = h->seg_size >= sizeof seg;
    if (have_seg)
        memcpy(&seg, s.buf + h->seg_offset, sizeof seg);
    if (!strcmp(key, "status") || !strcmp(key, "crash_stack")) {
        char *lines = malloc(16384), brief[1024];
        if (!lines) {
            free(s.buf);
            return -ENOMEM;
        }
        crash_stack(&s, lines, 16384, brief, sizeof brief);
        if (!strcmp(key, "crash_stack"))
            snprintf(buf, len, "%s", lines);
        else
            snprintf(buf, len, "crash snapshot: pid %u killed by signal %d (%s) in thread %u%s%s",
                     h->pid, h->signo, signal_name(h->signo), h->tid, brief[0] ? " at " : "",
                     brief);
        free(lines);
    } else if (!strcmp(key, "pid"))
        snprintf(buf, len, "%u", h->pid);
    else if (!strcmp(key, "tid"))
        snprintf(buf, len, "%u", h->tid);
    else if (!strcmp(key, "signal"))
        snprintf(buf, len, "%d", h->signo);
    else if (!strcmp(key, "exe") && have_seg)
        snprintf(buf, len, "%.*s", (int)strnlen(seg.exe, sizeof seg.exe), seg.exe);
    else if (!strcmp(key, "runtime_version") && have_seg)
        snprintf(buf, len, "%.*s", (int)strnlen(seg.runtime_version, sizeof seg.runtime_version),
                 seg.runtime_version);
    else if (!strcmp(key, "dropped")) {
        uint64_t d = 0;
        if (replay_loaded(path, &s, NULL, NULL, &d, err, sizeof err) == 0)
            snprintf(buf, len, "%" PRIu64, d);
    }
    free(s.buf);
    return 0;
}
