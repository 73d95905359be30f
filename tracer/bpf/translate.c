/*
 * translate.c - see translate.h.
 *
 * Invariants:
 *   - A STRING record precedes the first record naming its id, and a
 *     SITE record (and its strings) the first naming the site; ids are
 *     never reused.  Strings are interned by content (task names may be
 *     freed and their memory reused), sites by address (TS_HERE sites are
 *     static).
 *   - A blocked system call becomes: the module records not yet sent for
 *     its stack, one stack record, then loop_blocked and loop_unblocked
 *     sharing a step number from a space of their own (top bit set), so
 *     they never pair with the debug runtime's watchdog episodes.
 *   - Tables are bounded: past TSB_MAX_STRINGS strings a new one gets id
 *     0 (shown as empty), never a crash or unbounded memory.
 */
#include <errno.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "reader.h"
#include "translate.h"
#include "tsb_abi.h"
#include "procinfo.h"
#include "unwind.h"

#define TSB_MAX_STRINGS (1u << 20)
#define TSB_MAX_SITES (1u << 18)
#define TSB_BLOCK_STEP (1ull << 63)

/* Open-addressing table: key (a hash, or an address) -> id. */
typedef struct slot {
    uint64_t key;
    uint32_t id;
    uint32_t used;
    char *text;              /* strings only: the interned bytes */
} slot;

typedef struct table {
    slot *v;
    size_t cap, n;
} table;

struct tsb_translator {
    int pid;
    table strings, sites;
    uint32_t next_string, next_site, next_stack;
    uint64_t next_step;
    tsb_maps maps;
    int beside_ring;         /* odd ids, no thread_start: see translate.h */
    uint32_t loop_tids[64];  /* tids already announced by thread_start */
    size_t nloop_tids;
    tsb_translate_stats st;
    /* The last blocked calls (task, end), so that the slow step holding
     * one is not a second episode of the same block. */
    struct { uint64_t task, end_ns; } blocks[16];
    unsigned nblocks;
    _Alignas(8) unsigned char buf[8192 + 64];
};

/* A slow step (loop, task, duration, ending at ns) that contains a
 * blocked call already reported: the step is that episode, reported
 * once, with its system call and stack. */
static int step_was_blocked(const tsb_translator *t, uint64_t task, uint64_t dur, uint64_t ns) {
    for (unsigned i = 0; i < sizeof t->blocks / sizeof t->blocks[0]; i++)
        if (t->blocks[i].task == task && t->blocks[i].end_ns <= ns &&
            t->blocks[i].end_ns + dur >= ns)
            return 1;
    return 0;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The slot for key in t (matching text, for strings), growing t first. */
static slot *table_find(table *t, uint64_t key, const char *text, size_t len) {
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        slot *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].used) {
                size_t j = t->v[i].key & (cap - 1);
                while (v[j].used)
                    j = (j + 1) & (cap - 1);
                v[j] = t->v[i];
            }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    size_t j = key & (t->cap - 1);
    while (t->v[j].used) {
        slot *s = &t->v[j];
        if (s->key == key && (!text || (strlen(s->text) == len && !memcmp(s->text, text, len))))
            return s;
        j = (j + 1) & (t->cap - 1);
    }
    return &t->v[j];
}

/* The next id from counter: 1, 2, 3... alone; 3, 5, 7... beside a ring,
 * whose own ids are made even. */
static uint32_t next_id(const tsb_translator *t, uint32_t *counter) {
    uint32_t n = ++*counter;
    return t->beside_ring ? 2 * n + 1 : n;
}

static void deliver(tsb_translator *t, void *rec, uint64_t ns, uint32_t tid, tsb_emit_fn fn,
                    void *arg) {
    ts_ev_header *h = rec;
    h->ts = ns;
    h->spare = 0;
    t->st.emitted++;
    fn(h, ns, tid, arg);
}

/* The id of text (len bytes), delivering its STRING record if new. */
static uint32_t intern(tsb_translator *t, const char *text, size_t len, uint64_t ns, uint32_t tid,
                       tsb_emit_fn fn, void *arg) {
    if (len > 4096)
        len = 4096;
    slot *s = table_find(&t->strings, hash_bytes(text, len), text, len);
    if (!s)
        return 0;
    if (s->used)
        return s->id;
    if (t->next_string >= TSB_MAX_STRINGS)
        return 0;
    char *copy = malloc(len + 1);
    if (!copy)
        return 0;
    memcpy(copy, text, len);
    copy[len] = 0;
    *s = (slot){hash_bytes(text, len), next_id(t, &t->next_string), 1, copy};
    t->strings.n++;
    ts_ev_string *e = (ts_ev_string *)t->buf;
    e->h.type = TS_EV_string;
    e->h.size = (uint16_t)((sizeof *e + len + 7) & ~7u);
    e->id = s->id;
    e->len = (uint32_t)len;
    memcpy(e + 1, text, len);
    memset((char *)(e + 1) + len, 0, e->h.size - sizeof *e - len);
    deliver(t, e, ns, tid, fn, arg);
    return s->id;
}

static uint32_t intern_cstr(tsb_translator *t, const char *s, size_t max, uint64_t ns,
                            uint32_t tid, tsb_emit_fn fn, void *arg) {
    return intern(t, s, strnlen(s, max), ns, tid, fn, arg);
}

/* ---- sites --------------------------------------------------------------------- */

static uint32_t define_site(tsb_translator *t, uint64_t addr, const char *file, const char *func,
                            uint32_t line, uint64_t ns, uint32_t tid, tsb_emit_fn fn, void *arg) {
    slot *s = table_find(&t->sites, addr, NULL, 0);
    if (!s)
        return 0;
    if (s->used)
        return s->id;
    if (t->next_site >= TSB_MAX_SITES)
        return 0;
    uint32_t fid = intern_cstr(t, file, TSB_FILE_MAX, ns, tid, fn, arg);
    uint32_t gid = intern_cstr(t, func, TSB_FUNC_MAX, ns, tid, fn, arg);
    s = table_find(&t->sites, addr, NULL, 0); /* interning may have grown nothing, but be sure */
    if (!s)
        return 0;
    *s = (slot){addr, next_id(t, &t->next_site), 1, NULL};
    t->sites.n++;
    ts_ev_site *e = (ts_ev_site *)t->buf;
    e->h.type = TS_EV_site;
    e->h.size = sizeof *e;
    e->id = s->id;
    e->file = fid;
    e->func = gid;
    e->line = line;
    deliver(t, e, ns, tid, fn, arg);
    return s->id;
}

/* Read a string of the live process (a site whose record was dropped). */
static int read_remote_str(int pid, uint64_t addr, char *out, size_t len) {
    struct iovec l = {out, len - 1}, r = {(void *)(uintptr_t)addr, len - 1};
    ssize_t n = addr ? process_vm_readv(pid, &l, 1, &r, 1, 0) : -1;
    if (n <= 0) { /* maybe it ends near a page end: read to the page's end */
        size_t room = 4096 - (addr & 4095);
        l.iov_len = r.iov_len = room < len - 1 ? room : len - 1;
        n = addr ? process_vm_readv(pid, &l, 1, &r, 1, 0) : -1;
    }
    out[n > 0 ? n : 0] = 0;
    return n > 0 ? 0 : -1;
}

static uint32_t site_id(tsb_translator *t, uint64_t addr, uint64_t ns, uint32_t tid,
                        tsb_emit_fn fn, void *arg) {
    if (!addr)
        return 0;
    slot *s = table_find(&t->sites, addr, NULL, 0);
    if (s && s->used)
        return s->id;
    struct { uint64_t file, func; int32_t line, pad; } raw;
    struct iovec l = {&raw, sizeof raw}, r = {(void *)(uintptr_t)addr, sizeof raw};
    if (process_vm_readv(t->pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof raw)
        return 0;
    char file[TSB_FILE_MAX], func[TSB_FUNC_MAX];
    read_remote_str(t->pid, raw.file, file, sizeof file);
    read_remote_str(t->pid, raw.func, func, sizeof func);
    t->st.site_fallback++;
    return define_site(t, addr, file, func, raw.line > 0 ? (uint32_t)raw.line : 0, ns, tid, fn,
                       arg);
}

/* ---- events ---------------------------------------------------------------------- */

static const char *diag_text(uint64_t kind) {
    static const char *const text[] = {
        "diagnostic", "Task exception was never retrieved", "Task was never awaited",
        "Task was destroyed but it is pending", "Future was destroyed but it is pending",
        "Loop called from a foreign thread", "Stack overflow"};
    return kind < sizeof text / sizeof text[0] ? text[kind] : text[0];
}

static void store_field(unsigned char *rec, const ts_field_desc *f, uint64_t v) {
    switch (f->type) {
    case TS_FT_U64:
    case TS_FT_I64: memcpy(rec + f->offset, &v, 8); break;
    default: {
        uint32_t w = (uint32_t)v;
        memcpy(rec + f->offset, &w, 4);
    }
    }
}

/* The debug runtime starts a loop's ring with thread_start (role loop);
 * say the same once per loop thread. */
static void announce_loop_thread(tsb_translator *t, uint32_t ltid, uint64_t ns, uint32_t tid,
                                 tsb_emit_fn fn, void *arg) {
    for (size_t i = 0; i < t->nloop_tids; i++)
        if (t->loop_tids[i] == ltid)
            return;
    if (t->nloop_tids == sizeof t->loop_tids / sizeof t->loop_tids[0])
        return;
    t->loop_tids[t->nloop_tids++] = ltid;
    uint32_t nid = intern(t, "loop", 4, ns, tid, fn, arg);
    ts_ev_thread_start *e = (ts_ev_thread_start *)t->buf;
    memset(e, 0, sizeof *e);
    e->h.type = TS_EV_thread_start;
    e->h.size = sizeof *e;
    e->tid = ltid;
    e->role = TS_ROLE_LOOP;
    e->name = nid;
    deliver(t, e, ns, tid, fn, arg);
}

/* The id of string field i: the text BPF read, else (a page it could not
 * fault in) the text read from the live process, else "" for a task's
 * name, a generic text for a diagnostic, none for a message. */
static uint32_t string_field(tsb_translator *t, const struct tsb_event *r, uint16_t i, uint64_t ns,
                             uint32_t tid, tsb_emit_fn fn, void *arg) {
    char text[TSB_STR_MAX];
    if (r->has_str)
        return intern_cstr(t, r->str, sizeof r->str, ns, tid, fn, arg);
    if (r->a[i] && read_remote_str(t->pid, r->a[i], text, sizeof text) == 0)
        return intern_cstr(t, text, sizeof text, ns, tid, fn, arg);
    if (r->h.type == TS_EV_diagnostic)
        return intern_cstr(t, diag_text(r->a[1]), 64, ns, tid, fn, arg);
    return r->h.type == TS_EV_task_create ? intern(t, "", 0, ns, tid, fn, arg) : 0;
}

/* Fill the event's fields from a[] in schema order; string and site
 * fields are turned into ids (see tsb_abi.h). */
static void on_event(tsb_translator *t, const struct tsb_event *r, tsb_emit_fn fn, void *arg) {
    const ts_event_desc *d = ts_event_desc_of(r->h.type);
    if (!d || d->tail || d->nfields > TSB_EVENT_FIELDS || d->size > 128) {
        t->st.bad++;
        return;
    }
    uint64_t ns = r->h.ns;
    uint32_t tid = r->h.tid;
    uint64_t v[TSB_EVENT_FIELDS];
    for (uint16_t i = 0; i < d->nfields; i++) {
        const char *name = d->fields[i].name;
        v[i] = r->a[i];
        if (!strcmp(name, "site") || !strcmp(name, "await_site"))
            v[i] = site_id(t, r->a[i], ns, tid, fn, arg);
        else if (!strcmp(name, "name") || !strcmp(name, "message"))
            v[i] = string_field(t, r, i, ns, tid, fn, arg);
    }
    if (r->h.type == TS_EV_slow_step && d->nfields >= 3 && v[1] &&
        step_was_blocked(t, v[1], v[2], ns))
        return;
    if (r->h.type == TS_EV_loop_create && !t->beside_ring)
        announce_loop_thread(t, (uint32_t)r->a[1], ns, tid, fn, arg);
    unsigned char *rec = t->buf;
    memset(rec, 0, d->size);
    ts_ev_header *h = (ts_ev_header *)rec;
    h->type = r->h.type;
    h->size = d->size;
    for (uint16_t i = 0; i < d->nfields; i++)
        store_field(rec, &d->fields[i], v[i]);
    deliver(t, rec, ns, tid, fn, arg);
}

/* ---- blocked system calls ------------------------------------------------------- */

/* Module records for the mappings holding pcs, each sent once.  The map
 * is re-read when an address falls outside every known mapping (a
 * library loaded since), at most once per call. */
static void send_modules(tsb_translator *t, const uint64_t *pcs, size_t n, uint64_t ns,
                         uint32_t tid, tsb_emit_fn fn, void *arg) {
    int stale = t->maps.n == 0;
    for (size_t i = 0; i < n && !stale; i++)
        stale = !tsb_maps_find(&t->maps, pcs[i]);
    if (stale)
        tsb_maps_read(t->pid, &t->maps); /* gone: keep what we had */
    for (size_t i = 0; i < n; i++) {
        tsb_module *m = (tsb_module *)tsb_maps_find(&t->maps, pcs[i]);
        if (!m || m->emitted)
            continue;
        uint32_t pid = intern_cstr(t, m->path, sizeof m->path, ns, tid, fn, arg);
        ts_ev_module *e = (ts_ev_module *)t->buf;
        memset(e, 0, sizeof *e);
        e->h.type = TS_EV_module;
        e->h.size = sizeof *e;
        e->start = m->start;
        e->end = m->end;
        e->offset = m->offset;
        e->path = pid;
        deliver(t, e, ns, tid, fn, arg);
        m->emitted = 1;
    }
}

/* The frame-pointer walk misses the caller of a frameless leaf (the
 * syscall wrapper): its return address is the first word at the stack
 * pointer that points just after a call instruction in a mapped module. */
static uint64_t leaf_caller(tsb_translator *t, const struct tsb_block *b) {
    uint32_t n = (b->copy_bytes < TSB_STACK_COPY ? b->copy_bytes : TSB_STACK_COPY) / 8;
    for (uint32_t i = 0; i < n && i < 32; i++) {
        uint64_t w;
        memcpy(&w, b->copy + i * 8, 8);
        const tsb_module *m = tsb_maps_find(&t->maps, w);
        if (m && tsb_after_call(m, w, t->pid))
            return w;
    }
    return 0;
}

/* The kernel's frame-pointer walk, mended at its first frame. */
static size_t fp_stack(tsb_translator *t, const struct tsb_block *b, uint64_t *pcs) {
    size_t depth = 0;
    if (b->stack_bytes > 0)
        for (size_t i = 0; i < (size_t)b->stack_bytes / 8 && i < TSB_STACK_MAX; i++)
            if (b->stack[i])
                pcs[depth++] = b->stack[i];
    uint64_t caller = leaf_caller(t, b);
    if (caller && (depth < 2 || pcs[1] != caller)) {
        size_t at = depth ? 1 : 0;
        memmove(pcs + at + 1, pcs + at, (depth - at) * sizeof *pcs);
        pcs[at] = caller;
        depth++;
    }
    return depth;
}

/* The DWARF unwind of the copied stack, which goes through code without
 * frame pointers but ends where the copy ends; past that, the
 * frame-pointer walk goes on from the frame both found. */
static size_t best_stack(tsb_translator *t, const struct tsb_block *b, uint64_t *pcs) {
    uint64_t fp[TSB_STACK_MAX + 1];
    size_t nfp = fp_stack(t, b, fp);
    if (!t->maps.n)
        tsb_maps_read(t->pid, &t->maps);
    size_t n = tsb_unwind(&t->maps, t->pid, b, pcs, TSB_STACK_MAX);
    if (n < 2) {
        memcpy(pcs, fp, nfp * sizeof *fp);
        return nfp;
    }
    for (size_t k = 1; k < nfp; k++)
        if (fp[k] == pcs[n - 1]) {
            for (size_t j = k + 1; j < nfp && n < TSB_STACK_MAX; j++)
                pcs[n++] = fp[j];
            break;
        }
    return n;
}

static uint32_t send_stack(tsb_translator *t, const struct tsb_block *b, uint64_t ns,
                           uint32_t tid, tsb_emit_fn fn, void *arg) {
    uint64_t pcs[TSB_STACK_MAX + 1];
    size_t depth = best_stack(t, b, pcs);
    if (!depth)
        return 0;
    send_modules(t, pcs, depth, ns, tid, fn, arg);
    ts_ev_stack *e = (ts_ev_stack *)t->buf;
    e->h.type = TS_EV_stack;
    e->h.size = (uint16_t)(sizeof *e + depth * 8);
    e->id = next_id(t, &t->next_stack);
    e->depth = (uint32_t)depth;
    memcpy(e + 1, pcs, depth * 8);
    deliver(t, e, ns, tid, fn, arg);
    return e->id;
}

static void on_block(tsb_translator *t, const struct tsb_block *b, tsb_emit_fn fn, void *arg) {
    uint64_t ns = b->h.ns;
    uint32_t tid = b->h.tid;
    uint32_t stack = send_stack(t, b, ns, tid, fn, arg);
    uint64_t step = TSB_BLOCK_STEP | ++t->next_step;
    ts_ev_loop_blocked *e = (ts_ev_loop_blocked *)t->buf;
    memset(e, 0, sizeof *e);
    e->h.type = TS_EV_loop_blocked;
    e->h.size = sizeof *e;
    e->loop = b->loop;
    e->task = b->task;
    e->elapsed_ns = b->duration_ns;
    e->step = step;
    e->tid = tid;
    e->thread_state = b->state == 'S' || b->state == 'D' ? b->state : 'R';
    e->syscall = (int32_t)b->nr;
    e->stack = stack;
    deliver(t, e, ns, tid, fn, arg);
    ts_ev_loop_unblocked *u = (ts_ev_loop_unblocked *)t->buf;
    memset(u, 0, sizeof *u);
    u->h.type = TS_EV_loop_unblocked;
    u->h.size = sizeof *u;
    u->loop = b->loop;
    u->task = b->task;
    u->duration_ns = b->duration_ns;
    u->step = step;
    deliver(t, u, ns, tid, fn, arg);
    t->st.blocked++;
    unsigned k = t->nblocks++ % (sizeof t->blocks / sizeof t->blocks[0]);
    t->blocks[k].task = b->task;
    t->blocks[k].end_ns = ns;
}

/* ---- parked tasks' stacks (state dump) ----------------------------------------- */

/* The runtime walked the stack itself (statedump.c), inside the task's
 * own stack; here only the depth is checked again (the record is the
 * program's, but its size is all that bounds the copy) and the modules
 * holding the addresses are sent, so a reader can symbolize them. */
static void on_task_stack(tsb_translator *t, const struct tsb_task_stack *s, tsb_emit_fn fn,
                          void *arg) {
    uint32_t depth = s->depth < TSB_TASK_DEPTH ? s->depth : TSB_TASK_DEPTH;
    if (!s->task) {
        t->st.bad++;
        return;
    }
    uint64_t pcs[TSB_TASK_DEPTH];
    memcpy(pcs, s->pcs, depth * 8);
    send_modules(t, pcs, depth, s->h.ns, s->h.tid, fn, arg);
    ts_ev_task_stack *e = (ts_ev_task_stack *)t->buf;
    e->h.type = TS_EV_task_stack;
    e->h.size = (uint16_t)(sizeof *e + depth * 8);
    e->task = s->task;
    e->flags = s->flags & 7u;
    e->depth = depth;
    memcpy(e + 1, pcs, depth * 8);
    deliver(t, e, s->h.ns, s->h.tid, fn, arg);
}

/* ---- the public face ---------------------------------------------------------------- */

tsb_translator *tsb_translator_new(int pid) {
    tsb_translator *t = calloc(1, sizeof *t);
    if (t)
        t->pid = pid;
    return t;
}

void tsb_translator_beside_ring(tsb_translator *t) { t->beside_ring = 1; }

void tsb_translator_free(tsb_translator *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->strings.cap; i++)
        free(t->strings.v[i].text);
    free(t->strings.v);
    free(t->sites.v);
    tsb_maps_free(&t->maps);
    free(t);
}

void tsb_translate(tsb_translator *t, const void *raw, size_t len, tsb_emit_fn fn, void *arg) {
    const struct tsb_hdr *h = raw;
    t->st.raw++;
    if (len < sizeof *h) {
        t->st.bad++;
        return;
    }
    switch (h->kind) {
    case TSB_EVENT:
        if (len >= sizeof(struct tsb_event)) {
            on_event(t, raw, fn, arg);
            return;
        }
        break;
    case TSB_SITE:
        if (len >= sizeof(struct tsb_site)) {
            const struct tsb_site *s = raw;
            char file[TSB_FILE_MAX + 1], func[TSB_FUNC_MAX + 1];
            snprintf(file, sizeof file, "%.*s", (int)strnlen(s->file, TSB_FILE_MAX), s->file);
            snprintf(func, sizeof func, "%.*s", (int)strnlen(s->func, TSB_FUNC_MAX), s->func);
            /* pages BPF could not fault in: read them from the process */
            if (!file[0] && s->file_addr)
                read_remote_str(t->pid, s->file_addr, file, sizeof file);
            if (!func[0] && s->func_addr)
                read_remote_str(t->pid, s->func_addr, func, sizeof func);
            define_site(t, s->addr, file, func, s->line, h->ns, h->tid, fn, arg);
            return;
        }
        break;
    case TSB_TASK_STACK:
        if (len >= sizeof(struct tsb_task_stack)) {
            on_task_stack(t, raw, fn, arg);
            return;
        }
        break;
    case TSB_BLOCK:
        if (len >= sizeof(struct tsb_block)) {
            on_block(t, raw, fn, arg);
            return;
        }
        break;
    }
    t->st.bad++;
}

void tsb_translate_dropped(tsb_translator *t, uint64_t n, uint64_t ns, tsb_emit_fn fn, void *arg) {
    ts_ev_dropped *e = (ts_ev_dropped *)t->buf;
    memset(e, 0, sizeof *e);
    e->h.type = TS_EV_dropped;
    e->h.size = sizeof *e;
    e->count = n;
    deliver(t, e, ns, 0, fn, arg);
}

void tsb_translate_refresh_maps(tsb_translator *t) { tsb_maps_read(t->pid, &t->maps); }

void tsb_translate_get_stats(const tsb_translator *t, tsb_translate_stats *out) { *out = t->st; }
