/*
 * collector.c - see collector.h.  Loading the BPF programs, attaching
 * them to one process, draining the ring buffer through the translator.
 *
 * Invariants:
 *   - Only the programs the chosen classes need are loaded and attached,
 *     so an untraced class costs the program nothing (a probe that is not
 *     attached stays a nop).
 *   - Every failure names its cause in the caller's buffer; libbpf's own
 *     chatter is kept quiet (TASKSCOPE_BPF_VERBOSE=1 shows it) and its
 *     last line is appended to the error that it explains.
 *   - Drops counted by the BPF side reach the stream as `dropped`
 *     records, each drop once.
 *   - With opts.dump, dump_request is attached last (its semaphore makes
 *     the loops dump, so every probe the dump fires must listen first),
 *     each further request is one more link (a semaphore value no loop
 *     has seen), and on close the loops are woken once the semaphore went
 *     down, so an idle loop sees the next collector's request as new.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/types.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "collector.h"
#include "layout.h"
#include "procinfo.h"
#include "reader.h"
#include "translate.h"
#include "tsb_abi.h"
#include "tsb.skel.h"

struct ts_bpf {
    struct tsb *skel;
    struct ring_buffer *rb;
    struct bpf_link **links;
    size_t nlinks;
    tsb_translator *tr;
    int pid;
    unsigned long long start_time;
    char library[PATH_MAX];
    uint64_t drops_reported;
    uint64_t records;
    uint64_t maps_read_ns;   /* when the process's mappings were last read */
    int running;             /* past any gate: its exec has happened */
    /* the poll in progress */
    ts_bpf_fn fn;
    void *arg;
    int delivered;
    int maps_polled;
    /* the state dump: dump_request links (each raises the semaphore by
     * one, so every request is a new, higher value), loops last woken */
    struct bpf_program *dump_prog;
    struct bpf_link *dump_links[16];
    int ndump_links;
    int loops_woken;
};

/* ---- libbpf's messages ------------------------------------------------------- */

static __thread char last_libbpf[256];

static int on_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG && !getenv("TASKSCOPE_BPF_VERBOSE"))
        return 0;
    va_list copy;
    va_copy(copy, ap);
    vsnprintf(last_libbpf, sizeof last_libbpf, fmt, copy);
    va_end(copy);
    last_libbpf[strcspn(last_libbpf, "\n")] = 0;
    if (getenv("TASKSCOPE_BPF_VERBOSE"))
        vfprintf(stderr, fmt, ap);
    return 0;
}

/* ---- options and environment --------------------------------------------------- */

static const char *const class_names[] = {"tasks", "futures", "sync", "jobs", "syscalls"};

int ts_bpf_parse_events(const char *spec, unsigned *mask, char *err, size_t len) {
    unsigned m = 0;
    const char *p = spec ? spec : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = n == 3 && !strncmp(p, "all", 3);
        if (found)
            m |= TS_BPF_ALL;
        for (unsigned i = 0; i < TSB_C_COUNT && !found; i++)
            if (strlen(class_names[i]) == n && !strncmp(p, class_names[i], n)) {
                m |= 1u << i;
                found = 1;
            }
        if (!found && n) {
            snprintf(err, len, "unknown event class '%.*s' (classes: tasks, futures, sync, "
                               "jobs, syscalls, all)", (int)n, p);
            return -EINVAL;
        }
        p += n + (p[n] == ',');
    }
    if (!m) {
        snprintf(err, len, "no event class given (classes: tasks, futures, sync, jobs, "
                           "syscalls, all)");
        return -EINVAL;
    }
    *mask = m;
    return 0;
}

static int has_caps(void) {
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long eff = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "CapEff: %llx", &eff) == 1)
            break;
    fclose(f);
    int bpf = (eff >> 39) & 1, perfmon = (eff >> 38) & 1, admin = (eff >> 21) & 1;
    return admin || (bpf && perfmon);
}

/* "[integrity]" etc.: the bracketed word of the lockdown file, or "". */
static void lockdown_mode(char *out, size_t len) {
    out[0] = 0;
    FILE *f = fopen("/sys/kernel/security/lockdown", "re");
    if (!f)
        return;
    char line[128];
    if (fgets(line, sizeof line, f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b)
            snprintf(out, len, "%.*s", (int)(b - a - 1), a + 1);
    }
    fclose(f);
}

int ts_bpf_available(char *err, size_t len) {
    if (geteuid() != 0 && !has_caps()) {
        snprintf(err, len, "BPF tracing needs root (or the CAP_BPF and CAP_PERFMON "
                           "capabilities): run taskscope with sudo");
        return -EPERM;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        snprintf(err, len, "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): the "
                           "BPF collector needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
        return -ENOTSUP;
    }
    char mode[32];
    lockdown_mode(mode, sizeof mode);
    if (!strcmp(mode, "confidentiality")) {
        snprintf(err, len, "the kernel is locked down (confidentiality mode): it refuses the "
                           "perf events and BPF reads the collector needs; boot with "
                           "lockdown=integrity or none, or use the debug runtime instead");
        return -EPERM;
    }
    return 0;
}

/* /proc/PID/stat field 22, or 0 if the process is gone; *zombie set. */
static unsigned long long proc_start(int pid, int *zombie) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    char state = 0;
    if (!p || sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                            "%*d %*d %*d %llu", &state, &start) != 2)
        return 0;
    if (zombie)
        *zombie = state == 'Z' || state == 'X';
    return start;
}

/* ---- programs -------------------------------------------------------------------- */

/* Which classes need each program; a program runs only if one is chosen.
 * Bookkeeping probes (the running task, loop threads) are needed by the
 * syscall class even when their events are not wanted. */
#define T TS_BPF_TASKS
#define S TS_BPF_SYSCALLS
static const struct program {
    const char *name;
    unsigned need;
    int usdt;
    int dump;           /* 1: a dump probe; 2: dump_request, attached last */
} programs[] = {
    {"task_create", T | S, 1, 0}, {"task_resume", T | S, 1, 0}, {"task_suspend", T | S, 1, 0},
    {"task_wake", T, 1, 0}, {"task_cancel", T, 1, 0}, {"task_done", T | S, 1, 0},
    {"task_free", T | S, 1, 0}, {"loop_create", T | S, 1, 0}, {"loop_close", T | S, 1, 0},
    {"diagnostic", T, 1, 0},
    {"future_create", TS_BPF_FUTURES, 1, 0}, {"future_done", TS_BPF_FUTURES, 1, 0},
    {"resource_create", TS_BPF_SYNC, 1, 0}, {"resource_free", TS_BPF_SYNC, 1, 0},
    {"resource_name", TS_BPF_SYNC, 1, 0},
    {"resource_acquired", TS_BPF_SYNC, 1, 0}, {"resource_release", TS_BPF_SYNC, 1, 0},
    {"queue_depth", TS_BPF_SYNC, 1, 0},
    {"job_submit", TS_BPF_JOBS, 1, 0}, {"job_start", TS_BPF_JOBS, 1, 0},
    {"job_done", TS_BPF_JOBS, 1, 0},
    {"sys_enter", S, 0, 0}, {"sys_exit", S, 0, 0}, {"sched_switch", S, 0, 0},
    {"thread_exit", S, 0, 0},
    {"dump_begin", T | S, 1, 1}, {"task_state", T | S, 1, 1}, {"dump_end", T | S, 1, 1},
    {"dump_resource", T, 1, 1},
    {"task_stack", T, 1, 1}, /* parked tasks' stacks; older runtimes lack it */
    {"dump_request", T | S, 1, 2},
};
#undef T
#undef S

static const struct program *program_of(const struct bpf_program *p) {
    const char *name = bpf_program__name(p);
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++)
        if (!strcmp(programs[i].name, name))
            return &programs[i];
    return NULL;
}

static void configure(struct tsb *skel, int pid, unsigned mask, const ts_bpf_opts *o) {
    skel->rodata->target_tgid = (__u32)pid;
    skel->rodata->task_id_off = (__u32)tsb_task_id_offset();
    skel->rodata->emit_mask = mask;
    skel->rodata->block_ns = (__u64)((o && o->block_ms > 0 ? o->block_ms : 1.0) * 1e6);
    skel->rodata->slow_ns = (__u64)((o && o->slow_ms > 0 ? o->slow_ms : 100.0) * 1e6);
    __s64 polls[4] = {SYS_epoll_wait, SYS_epoll_pwait, -1, SYS_io_uring_enter};
#ifdef SYS_epoll_pwait2
    polls[2] = SYS_epoll_pwait2;
#endif
    memcpy((void *)skel->rodata->poll_nr, polls, sizeof polls);
    struct bpf_program *p;
    bpf_object__for_each_program(p, skel->obj) {
        const struct program *d = program_of(p);
        bpf_program__set_autoload(p, d && (d->need & mask) && (!d->dump || (o && o->dump)) &&
                                         (d->dump || !(o && o->dump && o->dump_only)));
    }
}

static int attach_all(ts_bpf *b, unsigned mask, char *err, size_t len) {
    size_t max = sizeof programs / sizeof programs[0];
    b->links = calloc(max, sizeof *b->links);
    if (!b->links)
        return -ENOMEM;
    int usdt_ok = 0, usdt_tried = 0;
    struct bpf_program *p;
    bpf_object__for_each_program(p, b->skel->obj) {
        const struct program *d = program_of(p);
        if (!d || !bpf_program__autoload(p) || !(d->need & mask) || b->nlinks == max)
            continue;
        if (d->dump == 2) { /* raises the semaphore: only once the rest listens */
            b->dump_prog = p;
            continue;
        }
        struct bpf_link *l;
        if (d->usdt) {
            usdt_tried++;
            l = bpf_program__attach_usdt(p, b->pid, b->library, "taskscope", d->name, NULL);
        } else {
            l = bpf_program__attach(p);
        }
        int e = libbpf_get_error(l);
        if (e) {
            /* A library built without some part (no executor) lacks
             * its probes: fine.  A tracepoint that fails is not. */
            if (d->usdt)
                continue;
            snprintf(err, len, "cannot attach %s: %s (%s)", d->name, strerror(-e), last_libbpf);
            return e == -EPERM || e == -EACCES ? -EPERM : -ENOTSUP;
        }
        b->links[b->nlinks++] = l;
        usdt_ok += d->usdt;
    }
    if (b->dump_prog) {
        struct bpf_link *l = bpf_program__attach_usdt(b->dump_prog, b->pid, b->library,
                                                      "taskscope", "dump_request", NULL);
        if (libbpf_get_error(l))
            b->dump_prog = NULL; /* an older runtime without the dump: no dump */
        else
            b->dump_links[b->ndump_links++] = l;
    }
    if (usdt_tried && !usdt_ok) {
        snprintf(err, len, "could not attach to any taskscope probe in %s (%s)", b->library,
                 last_libbpf[0] ? last_libbpf : "no probe matched");
        return -ENODATA;
    }
    return 0;
}

static int on_raw(void *ctx, void *data, size_t size);

static int find_library(ts_bpf *b, const ts_bpf_opts *o, char *err, size_t len) {
    if (o && o->library) {
        snprintf(b->library, sizeof b->library, "%s", o->library);
    } else {
        int rc = tsb_find_runtime(b->pid, b->library, sizeof b->library);
        if (rc == -ESRCH) {
            snprintf(err, len, "no process %d", b->pid);
            return rc;
        }
        if (rc) {
            snprintf(err, len, "process %d does not use taskscope: no libtaskscope in its "
                               "memory map and no taskscope probes in its executable", b->pid);
            return -ENOENT;
        }
    }
    int n = tsb_count_probes(b->library);
    if (n < 0) {
        snprintf(err, len, "cannot read %s: %s", b->library, strerror(-n));
        return n == -ENOENT ? -ENOENT : -EACCES;
    }
    if (n == 0) {
        snprintf(err, len, "%s has no taskscope USDT probes: the runtime was built without "
                           "sys/sdt.h (install systemtap-sdt-dev and rebuild it)", b->library);
        return -ENODATA;
    }
    return 0;
}

static int load(ts_bpf *b, unsigned mask, const ts_bpf_opts *o, char *err, size_t len) {
    libbpf_set_print(on_libbpf_print);
    last_libbpf[0] = 0;
    b->skel = tsb__open();
    if (!b->skel) {
        snprintf(err, len, "cannot open the BPF programs: %s", last_libbpf);
        return -ENOTSUP;
    }
    configure(b->skel, b->pid, mask, o);
    size_t ring = o && o->ring_bytes ? o->ring_bytes : (size_t)4 << 20;
    if (ring < 4096 || (ring & (ring - 1)) || ring > (1u << 30)) {
        snprintf(err, len, "ring buffer size %zu is not a power of two between 4 KiB and 1 GiB",
                 ring);
        return -EINVAL;
    }
    bpf_map__set_max_entries(b->skel->maps.events, (__u32)ring);
    int rc = tsb__load(b->skel);
    if (rc) {
        char mode[32];
        lockdown_mode(mode, sizeof mode);
        snprintf(err, len, "the kernel refused the BPF programs: %s%s%s%s (%s)", strerror(-rc),
                 mode[0] && strcmp(mode, "none") ? "; kernel lockdown is '" : "",
                 mode[0] && strcmp(mode, "none") ? mode : "",
                 mode[0] && strcmp(mode, "none") ? "'" : "", last_libbpf);
        return rc == -EPERM || rc == -EACCES ? -EPERM : -ENOTSUP;
    }
    return 0;
}

int ts_bpf_open(ts_bpf **out, int pid, const ts_bpf_opts *o, char *err, size_t len) {
    *out = NULL;
    unsigned mask = o && o->events ? o->events & TS_BPF_ALL : TS_BPF_ALL;
    if (pid <= 0 || !mask) {
        snprintf(err, len, pid <= 0 ? "bad pid %d" : "no event class chosen", pid);
        return -EINVAL;
    }
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        snprintf(err, len, "no process %d", pid);
        return -ESRCH;
    }
    int rc = ts_bpf_available(err, len);
    if (rc)
        return rc;
    ts_bpf *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->pid = pid;
    b->start_time = proc_start(pid, NULL);
    if (!(rc = find_library(b, o, err, len)) && !(rc = load(b, mask, o, err, len)) &&
        !(rc = attach_all(b, mask, err, len))) {
        b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_raw, b, NULL);
        b->tr = tsb_translator_new(pid);
        if (!b->rb || !b->tr) {
            snprintf(err, len, "cannot set up the ring buffer reader");
            rc = -ENOMEM;
        } else {
            if (o && o->beside_ring)
                tsb_translator_beside_ring(b->tr);
            if (b->ndump_links) {
                int w = tsb_wake_loops(pid);
                b->loops_woken = w > 0 ? w : 0;
            }
        }
    }
    if (rc) {
        ts_bpf_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* ---- reading ----------------------------------------------------------------------- */

static void deliver(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    ts_bpf *b = arg;
    b->delivered++;
    b->fn(rec, ns, tid, b->arg);
}

static uint64_t now_ns(void);

/* The first record of a poll proves the program runs (its libraries are
 * mapped): a good moment to refresh the mappings that will symbolize
 * stacks, at most every 100 ms, before the process can be gone. */
static int on_raw(void *ctx, void *data, size_t size) {
    ts_bpf *b = ctx;
    if (!b->delivered && !b->maps_polled) {
        uint64_t now = now_ns();
        b->maps_polled = 1;
        if (now - b->maps_read_ns >= 100000000ull) {
            tsb_translate_refresh_maps(b->tr);
            b->maps_read_ns = now;
        }
    }
    b->records++;
    tsb_translate(b->tr, data, size, deliver, b);
    return 0;
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t drops_total(const ts_bpf *b) {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0 || ncpu > 4096)
        return 0;
    __u64 *v = calloc((size_t)ncpu, sizeof *v);
    uint64_t sum = 0;
    if (!v)
        return 0;
    int fd = bpf_map__fd(b->skel->maps.drops);
    for (__u32 k = 0; k < TSB_C_COUNT; k++)
        if (bpf_map_lookup_elem(fd, &k, v) == 0)
            for (int c = 0; c < ncpu; c++)
                sum += v[c];
    free(v);
    return sum;
}

int ts_bpf_poll(ts_bpf *b, int timeout_ms, ts_bpf_fn fn, void *arg) {
    b->fn = fn;
    b->arg = arg;
    b->delivered = 0;
    b->maps_polled = 0;
    /* Records may come in after the process has exited (a loaded
     * machine, a slow reader), when its mappings can no longer be read:
     * once it has sent one (it runs: a gated child has exec'd), keep
     * them fresh whether it sends more or not. */
    uint64_t now = now_ns();
    if ((b->records || b->running) && now - b->maps_read_ns >= 250000000ull) {
        tsb_translate_refresh_maps(b->tr);
        b->maps_read_ns = now;
    }
    int n = ring_buffer__poll(b->rb, timeout_ms);
    if (n < 0 && n != -EINTR)
        return n;
    uint64_t d = drops_total(b);
    if (d > b->drops_reported) {
        tsb_translate_dropped(b->tr, d - b->drops_reported, now_ns(), deliver, b);
        b->drops_reported = d;
    }
    return b->delivered;
}

int ts_bpf_request_dump(ts_bpf *b) {
    if (!b->dump_prog)
        return -ENOTSUP;
    if (b->ndump_links < (int)(sizeof b->dump_links / sizeof b->dump_links[0])) {
        struct bpf_link *l = bpf_program__attach_usdt(b->dump_prog, b->pid, b->library,
                                                      "taskscope", "dump_request", NULL);
        if (!libbpf_get_error(l))
            b->dump_links[b->ndump_links++] = l;
    }
    int w = tsb_wake_loops(b->pid);
    b->loops_woken = w > 0 ? w : 0;
    return w;
}

int ts_bpf_loops_woken(const ts_bpf *b) { return b->loops_woken; }

void ts_bpf_note_running(ts_bpf *b) {
    if (!b->running) {
        b->running = 1;
        tsb_translate_refresh_maps(b->tr); /* now: a short program may soon be gone */
        b->maps_read_ns = now_ns();
    }
}

/* Which u32 fields of each event type name a string, a site or a stack:
 * the schema's docs say so ("string id of ...", "site id ...", "stack
 * id", "id of the stack ..."), so a new field needs no edit here. */
#define MAX_TYPES 256
static uint8_t id_fields[MAX_TYPES][8]; /* offsets, 0-terminated (0 is the header) */
static int id_fields_ready;

static int names_an_id(const char *doc) {
    return !strncmp(doc, "string id", 9) || !strncmp(doc, "site id", 7) ||
           !strncmp(doc, "stack id", 8) || !strncmp(doc, "id of the stack", 15);
}

static void build_id_fields(void) {
    for (unsigned t = 0; t < MAX_TYPES; t++) {
        const ts_event_desc *d = ts_event_desc_of(t);
        int n = 0;
        for (uint16_t i = 0; d && i < d->nfields && n < 7; i++)
            if (d->fields[i].size == 4 && d->fields[i].doc && names_an_id(d->fields[i].doc) &&
                d->fields[i].offset < 256)
                id_fields[t][n++] = (uint8_t)d->fields[i].offset;
    }
    id_fields_ready = 1;
}

void ts_bpf_even_ids(ts_ev_header *rec) {
    if (!id_fields_ready)
        build_id_fields();
    if (rec->type >= MAX_TYPES)
        return;
    for (const uint8_t *o = id_fields[rec->type]; *o; o++) {
        if ((size_t)*o + 4 > rec->size)
            break;
        uint32_t v;
        memcpy(&v, (char *)rec + *o, 4);
        v = v > UINT32_MAX / 2 ? 0 : v * 2;
        memcpy((char *)rec + *o, &v, 4);
    }
}

int ts_bpf_alive(const ts_bpf *b) {
    int zombie = 0;
    unsigned long long st = proc_start(b->pid, &zombie);
    return st && st == b->start_time && !zombie;
}

int ts_bpf_pid(const ts_bpf *b) { return b->pid; }
const char *ts_bpf_library(const ts_bpf *b) { return b->library; }

void ts_bpf_get_stats(const ts_bpf *b, ts_bpf_stats *out) {
    memset(out, 0, sizeof *out);
    out->records = b->records;
    out->dropped = b->drops_reported;
    out->probes = (unsigned)b->nlinks;
    if (b->tr) {
        tsb_translate_stats t;
        tsb_translate_get_stats(b->tr, &t);
        out->events = t.emitted;
        out->blocked = t.blocked;
        out->bad = t.bad;
    }
}

/* Each uprobe's detach waits for an RCU grace period (~0.1 s here), so
 * the links are destroyed side by side: a collector with 30 probes
 * detaches in a fraction of a second instead of several.  Falls back to
 * one by one where a thread cannot be made. */
static void *destroy_link(void *l) {
    bpf_link__destroy(l);
    return NULL;
}

static void destroy_links(struct bpf_link **links, size_t n) {
    pthread_t th[64];
    size_t started = 0;
    for (size_t i = 0; i < n; i++) {
        if (started < sizeof th / sizeof th[0] &&
            pthread_create(&th[started], NULL, destroy_link, links[i]) == 0)
            started++;
        else
            bpf_link__destroy(links[i]);
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

void ts_bpf_close(ts_bpf *b) {
    if (!b)
        return;
    ring_buffer__free(b->rb);
    destroy_links(b->dump_links, (size_t)b->ndump_links);
    /* An idle loop must see the semaphore go down before the next
     * collector raises it again, or that one's request looks old. */
    if (b->ndump_links)
        tsb_wake_loops(b->pid);
    destroy_links(b->links, b->nlinks);
    free(b->links);
    tsb__destroy(b->skel);
    tsb_translator_free(b->tr);
    free(b);
}
