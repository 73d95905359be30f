/*
 * bpf_session.c - see bpf_session.h.
 *
 * Invariants:
 *   - The model and the store see each stream's records in the order its
 *     source delivers them; a ring record reaches them only after its
 *     string, site and stack ids were doubled, and a collector record
 *     beside a ring carries odd ids, so one id never names two things.
 *   - Nothing here calls ts_session_poll on a session beside BPF: that
 *     would hand the model the ring's ids unrewritten.  The ring is
 *     drained here, with the same keepalive, drop accounting and dump
 *     re-request ts_session_poll does.
 *   - A child started here is never left behind gated (a failed attach
 *     closes the gate, and the child exits 127 without running anything)
 *     or unreaped when spawning fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpf_session.h"
#include "launch.h"

#include <taskscope/taskscope.h> /* ts_err_name, ts_strerror */

#define COPY_MAX 65536 /* a record's size is 16 bits */

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static void to_model(ts_bpf_session *bs, const ts_ev_header *rec, uint64_t ns, uint32_t tid) {
    ts_session *s = &bs->s;
    tm_model_apply(s->model, rec, ns, tid);
    if (s->store)
        ts_store_event(s->store, rec, ns, tid);
    if (s->tap) {
        ts_reader_event ev = {.rec = rec, .ns = ns, .tid = tid, .type = rec->type,
                              .size = rec->size};
        s->tap(&ev, s->tap_arg);
    }
    s->events++;
}

/* What the runtime's diagnostic said, in its own words ("Task exception
 * was never retrieved: task 'x' #3 spawned at f.c:12: -5 EIO (...):
 * boom"), as the debug runtime's ring records it.  The probe gives the
 * kind, task, error, site and the task's message; the rest is in the
 * model: the task's name, the site's strings. */
static const char *diag_what(uint32_t kind) {
    static const char *const what[] = {
        NULL, "Task exception was never retrieved",
        "Task was never awaited (its handle was never released)",
        "Task was destroyed but it is pending", "Future was destroyed but it is pending",
        "loop called from a thread that does not run it", "task stack overflow",
        "timeout scope used after its exit"};
    return kind < sizeof what / sizeof what[0] ? what[kind] : NULL;
}

static void diag_full_text(ts_bpf_session *bs, const ts_ev_diagnostic *e, uint64_t ns,
                           uint32_t tid) {
    const tm_model *m = bs->s.model;
    const tm_task *t = tm_model_task(m, e->task);
    const tm_site *ms = tm_model_site(m, e->site);
    ts_site site = {0};
    if (ms) {
        site.file = tm_model_string(m, ms->file);
        site.func = tm_model_string(m, ms->func);
        site.line = (int)ms->line;
    }
    const char *msg = tm_model_string(m, e->message);
    _Alignas(8) unsigned char buf[sizeof(ts_ev_string) + 512 + 8];
    ts_ev_string *s = (ts_ev_string *)buf;
    /* the layout of ts_diag_format (runtime/src/diag.c) */
    char *out = (char *)(s + 1);
    size_t cap = 512, n = 0;
#define ADD(...)                                                                   \
    do {                                                                           \
        if (n < cap) {                                                             \
            int k = snprintf(out + n, cap - n, __VA_ARGS__);                       \
            n += k > 0 ? (size_t)k : 0;                                            \
        }                                                                          \
    } while (0)
    ADD("taskscope: %s", diag_what(e->kind));
    if (t && e->task)
        ADD(": task '%s' #%llu", tm_task_name(m, t), (unsigned long long)e->task);
    else if (e->task)
        ADD(": task #%llu", (unsigned long long)e->task);
    if (site.file && *site.file)
        ADD(" %s %s:%d in %s()", e->task ? "spawned at" : "at", site.file, site.line,
            site.func && *site.func ? site.func : "?");
    if (e->err)
        ADD(": %d %s (%s)", e->err, ts_err_name(e->err), ts_strerror(e->err));
    if (msg && *msg)
        ADD(": %s", msg);
#undef ADD
    if (n > cap - 1)
        n = cap - 1;
    if (!bs->next_text)
        bs->next_text = 1u << 24; /* the model takes ids up to 2^24 */
    memset(s, 0, sizeof *s);
    s->h.type = TS_EV_string;
    s->h.size = (uint16_t)((sizeof *s + (size_t)n + 7) & ~(size_t)7);
    s->id = bs->next_text--;
    s->len = (uint32_t)n;
    memset((char *)(s + 1) + n, 0, s->h.size - sizeof *s - n);
    to_model(bs, &s->h, ns, tid);
    ts_ev_diagnostic c = *e;
    c.message = s->id;
    to_model(bs, &c.h, ns, tid);
}

/* A blocked call of a thread the collector could not tie to a loop (it
 * attached after the loop was made) belongs to its task's loop. */
static void on_bpf_event(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    ts_bpf_session *bs = arg;
    if (rec->type == TS_EV_dump_end)
        bs->dumps++;
    if (rec->type == TS_EV_diagnostic && rec->size >= sizeof(ts_ev_diagnostic) &&
        diag_what(((const ts_ev_diagnostic *)rec)->kind)) {
        diag_full_text(bs, (const ts_ev_diagnostic *)rec, ns, tid);
        return;
    }
    if ((rec->type == TS_EV_loop_blocked || rec->type == TS_EV_loop_unblocked) &&
        rec->size <= 128) {
        _Alignas(8) unsigned char buf[128];
        memcpy(buf, rec, rec->size);
        ts_ev_loop_unblocked *u = (void *)buf; /* loop and task lead both */
        const tm_task *t = u->loop ? NULL : tm_model_task(bs->s.model, u->task);
        if (t && t->loop) {
            u->loop = t->loop;
            to_model(bs, (const ts_ev_header *)buf, ns, tid);
            return;
        }
    }
    to_model(bs, rec, ns, tid);
}

static void on_ring_event(const ts_reader_event *ev, void *arg) {
    ts_bpf_session *bs = arg;
    memcpy(bs->copy, ev->rec, ev->rec->size);
    ts_ev_header *h = (ts_ev_header *)bs->copy;
    ts_bpf_even_ids(h);
    to_model(bs, h, ev->ns, ev->tid);
}

int ts_bpf_session_poll(ts_bpf_session *bs, int timeout_ms) {
    if (!bs->s.reader) {
        int n = ts_bpf_poll(bs->bpf, timeout_ms, on_bpf_event, bs);
        /* The BPF records' clock (bpf_ktime_get_ns) is CLOCK_MONOTONIC: a
         * quiet process sends nothing after its dump, and the model's
         * time would stop there (a 3 s deadlock aged 7.5 us). */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (bs->dumps || n > 0)
            tm_model_advance(bs->s.model, (uint64_t)t.tv_sec * 1000000000ull +
                                              (uint64_t)t.tv_nsec);
        return n;
    }
    int n = ts_session_poll_with(&bs->s, on_ring_event, bs); /* ids rewritten */
    if (n > 0) /* the ring's events come from the program itself */
        ts_bpf_note_running(bs->bpf);
    int m = ts_bpf_poll(bs->bpf, n > 0 ? 0 : (timeout_ms < 10 ? timeout_ms : 10), on_bpf_event,
                        bs);
    if (n < 0)
        return n;
    return n + (m > 0 ? m : 0);
}

int ts_bpf_session_beside_ring(const ts_bpf_session *bs) { return bs->s.reader != NULL; }

/* ---- opening --------------------------------------------------------------------- */

static int start(ts_bpf_session *bs, int pid, int child) {
    memset(bs, 0, sizeof *bs);
    bs->s.pid = pid;
    bs->s.child = child;
    bs->s.attached = 1;
    bs->s.model = tm_model_new();
    if (bs->s.model) /* tasks the model retires as lost are recorded so */
        tm_model_on_retire(bs->s.model, ts_session_record_lost, &bs->s);
    return bs->s.model ? 0 : -ENOMEM;
}

/* The ring gives tasks, futures and sync; the collector the blocking
 * system calls, which the ring cannot see. */
static ts_bpf_opts beside_ring_opts(const ts_bpf_opts *o) {
    ts_bpf_opts b = o ? *o : (ts_bpf_opts){0};
    b.events = TS_BPF_SYSCALLS;
    b.dump = 0;
    b.beside_ring = 1;
    return b;
}

/* Open pid's debug-runtime ring into bs->s (model included); -ENOENT if
 * it has none (the release runtime). */
static int open_ring(ts_bpf_session *bs, int pid, int child, int wait_ms, char *err,
                     size_t len) {
    ts_session s;
    int rc = ts_session_open(&s, pid, child, wait_ms, err, len);
    if (rc)
        return rc;
    bs->copy = malloc(COPY_MAX);
    if (!bs->copy) {
        ts_session_close(&s);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    tm_model_free(bs->s.model);
    bs->s = s;
    return 0;
}

int ts_bpf_session_attach(ts_bpf_session *bs, int pid, const ts_bpf_opts *o, char *err,
                          size_t len) {
    int rc = start(bs, pid, 0);
    if (rc) {
        snprintf(err, len, "out of memory");
        return rc;
    }
    char ring_err[512];
    rc = open_ring(bs, pid, 0, 0, ring_err, sizeof ring_err);
    if (rc == 0) {
        ts_bpf_opts b = beside_ring_opts(o);
        rc = ts_bpf_open(&bs->bpf, pid, &b, err, len);
    } else if (rc == -ENOENT || rc == -EBADMSG) {
        ts_bpf_opts b = o ? *o : (ts_bpf_opts){0};
        b.dump = 1;
        rc = ts_bpf_open(&bs->bpf, pid, &b, err, len);
    } else {
        /* a ring we may not read (another user's): BPF alone, as root can */
        ts_bpf_opts b = o ? *o : (ts_bpf_opts){0};
        b.dump = 1;
        rc = ts_bpf_open(&bs->bpf, pid, &b, err, len);
    }
    if (rc)
        ts_bpf_session_close(bs);
    return rc;
}

/* Does the library hold the debug runtime's ring (its segment's name)? */
static int is_debug_runtime(const char *lib) {
    int fd = open(lib, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    int found = memmem(p, (size_t)st.st_size, TS_SEG_NAME_FMT, sizeof TS_SEG_NAME_FMT) != NULL;
    munmap(p, (size_t)st.st_size);
    return found;
}

int ts_bpf_session_spawn(ts_bpf_session *bs, char *const argv[], const ts_bpf_opts *o,
                         char *err, size_t len) {
    char lib[4096];
    int rc = ts_bpf_resolve_library(argv[0], lib, sizeof lib, err, len);
    if (rc)
        return rc;
    int debug = is_debug_runtime(lib);
    int pid, gate;
    rc = ts_bpf_spawn_gated(argv, &pid, &gate, err, len);
    if (rc)
        return rc;
    rc = start(bs, pid, pid);
    if (!rc) {
        ts_bpf_opts opts = debug ? beside_ring_opts(o) : o ? *o : (ts_bpf_opts){0};
        opts.library = lib;
        rc = ts_bpf_open(&bs->bpf, pid, &opts, err, len);
    } else {
        snprintf(err, len, "out of memory");
    }
    if (rc) {
        close(gate); /* the child exits 127 without running anything */
        waitpid(pid, NULL, 0);
        ts_bpf_session_close(bs);
        return rc;
    }
    rc = ts_bpf_release(gate);
    if (rc) {
        snprintf(err, len, "could not start %s: %s", argv[0], strerror(-rc));
        waitpid(pid, NULL, 0);
        ts_bpf_session_close(bs);
        return rc;
    }
    if (debug) {
        /* its ring appears when the runtime starts; the flight recorder
         * keeps what happened before we open it */
        char ring_err[512];
        rc = open_ring(bs, pid, pid, 10000, ring_err, sizeof ring_err);
        if (!rc) /* the runtime runs: its program and libraries are mapped */
            ts_bpf_note_running(bs->bpf);
        if (rc && rc != -ENOENT)
            fprintf(stderr, "taskscope: the debug runtime's ring: %s; BPF events only\n",
                    ring_err);
    }
    return 0;
}

/* ---- running ------------------------------------------------------------------------ */

int ts_bpf_session_gone(const ts_bpf_session *bs) {
    if (bs->s.child > 0) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)bs->s.child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return 1;
    }
    return !ts_bpf_alive(bs->bpf);
}

int ts_bpf_session_wait_dump(ts_bpf_session *bs, int timeout_ms) {
    uint64_t start_ms = now_ms(), deadline = start_ms + (uint64_t)timeout_ms;
    int asked_again = 0;
    for (;;) {
        ts_bpf_session_poll(bs, 5);
        if (bs->s.reader) {
            if (!bs->s.attached || ts_reader_dump_done(bs->s.reader))
                return 1;
        } else {
            int loops = ts_bpf_loops_woken(bs->bpf);
            if (bs->dumps && bs->dumps >= (uint64_t)(loops ? loops : 1))
                return 1;
            /* a loop that saw the collector's request as old (one left
             * just before, unseen): a further request is a new value */
            if (!asked_again && now_ms() - start_ms >= (uint64_t)timeout_ms / 2) {
                ts_bpf_request_dump(bs->bpf);
                asked_again = 1;
            }
        }
        if (ts_bpf_session_gone(bs) || now_ms() >= deadline)
            return bs->dumps > 0;
        if (!bs->s.reader)
            continue;
        sleep_ms(5);
    }
}

int ts_bpf_session_run(ts_bpf_session *bs, volatile sig_atomic_t *stop, int duration_ms) {
    uint64_t end = duration_ms >= 0 ? now_ms() + (uint64_t)duration_ms : UINT64_MAX;
    while (!(stop && *stop) && now_ms() < end) {
        int n = ts_bpf_session_poll(bs, 50);
        if (ts_bpf_session_gone(bs)) {
            while (ts_bpf_session_poll(bs, 0) > 0)
                ; /* what it did on the way out */
            return 1;
        }
        if (n == 0 && bs->s.reader)
            sleep_ms(10);
    }
    return 0;
}

void ts_bpf_session_close(ts_bpf_session *bs) {
    ts_bpf_close(bs->bpf);
    if (bs->s.reader)
        ts_session_close(&bs->s);
    else
        tm_model_free(bs->s.model);
    free(bs->copy);
    bs->copy = NULL;
    bs->bpf = NULL;
    bs->s.model = NULL;
    bs->s.reader = NULL;
}
