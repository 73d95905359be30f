/*
 * emit.c - turning what the runtime does into ring records, and the
 * state dump a newly attached reader asks for.
 *
 * Each function interns the strings and sites it needs first (which may
 * write records of their own), then reserves, fills and commits its
 * record.  Nothing here blocks or allocates on the hot path; a record
 * that does not fit is dropped and counted by the ring.
 *
 * A state dump is never the part that is dropped: it is assembled off the
 * ring and copied in whole once the reader has left room for it; until
 * then the loop holds that room back from its ordinary events (which drop
 * and are counted: the dump, written after them, says where things
 * stand).  attach_done is set once every loop has answered.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"
#include "../tracepoints.h" /* resource kinds */

/* BEGIN(r, name); ...fill e...; END(r); writes one record.  They open and
 * close a block: a record the ring drops skips to the END, never out of
 * the function, so a state dump, a loop close or a job's end goes on to
 * its publish and its handshake even when the ring is full. */
#define BEGIN(r, name)                                                      \
    {                                                                       \
        ts_ev_##name *e = ts__ring_reserve((r), TS_EV_##name, sizeof *e);  \
        if (e) {
#define END(r)                                                              \
            ts__ring_commit((r), sizeof *e);                                \
        }                                                                   \
    }

static double ticks_per_ns = 1.0;
/* The slow-step threshold in ticks, recomputed when it changes: the step end
 * compares ticks, with no division on the hot path.  Per thread, so that
 * loops on several threads never race on it. */
static TS_TLS uint64_t slow_ns_seen = UINT64_MAX, slow_ticks;

/* Loops by slot, for the watchdog to wake.  loops_lock is held while the
 * watchdog posts to a loop and while ts__tr_loop_close forgets it, which
 * happens before the loop is freed: the watchdog never posts to a loop
 * that is gone. */
static pthread_mutex_t loops_lock = PTHREAD_MUTEX_INITIALIZER;
static ts_loop *loops_by_slot[TS_MAX_LOOPS];

/* Block-detection slots, shared by the loops and the watchdog thread.
 * They live here, in private memory, not in the segment: a reader could
 * otherwise make the watchdog signal any thread, or see every step as
 * blocked.  The segment's loops[] get a copy of what a tracer may show
 * (loop id, tid, dump_gen, blocked_step; the watchdog adds the step it
 * watches), written and never read back. */
static ts_loop_slot slots[TS_MAX_LOOPS];

ts_loop_slot *ts__loop_slot_at(uint32_t i) { return &slots[i % TS_MAX_LOOPS]; }

static ts_loop_slot *shared_copy(const ts_loop_slot *s) {
    ts_seg_header *h = ts__seg();
    return h ? &h->loops[s - slots] : NULL;
}

uint64_t ts__tr_object_id(int kind, const void *obj) {
    if (!obj)
        return 0;
    if (kind == TS_WAIT_TASK)
        return ts_task_id(obj);
    return (uint64_t)(uintptr_t)obj;
}

static inline uint64_t current_task_id(void) {
    ts_task *c = ts__current();
    return c ? c->id : 0;
}

void ts__tr_thread_start(ts__ring *r, uint32_t role, const char *name) {
    uint32_t nid = ts__intern_dynamic(r, name ? name : "");
    BEGIN(r, thread_start);
    e->tid = (uint32_t)syscall(SYS_gettid);
    e->role = role;
    e->name = nid;
    END(r);
}

static void res_forget(void);

void ts__tr_thread_exit(ts__ring *r) {
    res_forget(); /* the thread's resource table dies with it */
    BEGIN(r, thread_exit);
    e->tid = (uint32_t)syscall(SYS_gettid);
    END(r);
}

/* ---- loops and block-detection slots --------------------------------------- */

static int calibrated;

static void calibrate(ts_seg_header *h) {
    int done = calibrated;
    calibrated = 1;
    if (done)
        return;
    /* The baseline starts when the segment was made (both clocks were
     * read then), usually long enough ago.  If not, wait out the rest of
     * 2 ms reading the clocks, not in nanosleep: this is the loop's
     * thread, and a sleeping system call here is what a BPF observer
     * reports as a blocked loop. */
    const ts__seg_geom *g = ts__seg_geometry(); /* private: a reader may rewrite h */
    uint64_t t0, m0, t1, m1;
    if (g)
        t0 = g->ticks0, m0 = g->mono0_ns;
    else
        ts__clock_pair(&t0, &m0);
    do {
        ts__clock_pair(&t1, &m1);
    } while (m1 - m0 < 2000000 && m1 >= m0);
    if (m1 > m0 && t1 > t0)
        ticks_per_ns = (double)(t1 - t0) / (double)(m1 - m0);
    (void)h;
    ts__seg_calibrate(t1, m1); /* the watchdog may be refreshing it */
}

static void claim_loop_slot(ts_seg_header *h, ts_loop *l, uint64_t req) {
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
        uint64_t expect = 0;
        if (__atomic_compare_exchange_n(&slots[i].loop, &expect, l->id, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            ts_loop_slot *s = &slots[i];
            s->tid = (uint32_t)syscall(SYS_gettid);
            s->task = 0;
            /* The slot may have served a closed loop whose step counter
             * reached the same values: forget the step the watchdog
             * reported for it, or this loop's step with that number would
             * be taken as already reported (no loop_blocked) and its end
             * would emit a loop_unblocked for a block never reported. */
            __atomic_store_n(&s->blocked_step, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&s->step, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&s->dump_gen, req, __ATOMIC_RELEASE);
            ts_loop_slot *c = &h->loops[i];
            c->tid = s->tid;
            __atomic_store_n(&c->blocked_step, 0, __ATOMIC_RELAXED);
            __atomic_store_n(&c->dump_gen, req, __ATOMIC_RELAXED);
            __atomic_store_n(&c->loop, l->id, __ATOMIC_RELEASE);
            l->trace_slot = s;
            pthread_mutex_lock(&loops_lock);
            loops_by_slot[i] = l;
            pthread_mutex_unlock(&loops_lock);
            break;
        }
    }
}

void ts__tr_loop_create(ts_loop *l) {
    ts__ring *r = ts__ring_thread_start(TS_ROLE_LOOP, "loop");
    ts_seg_header *h = ts__seg();
    if (!r || !h)
        return;
    calibrate(h);
    ts__fork_watch();
    uint64_t req = __atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE);
    claim_loop_slot(h, l, req);
    l->trace_dump_gen = req;
    BEGIN(r, loop_create);
    e->loop = l->id;
    e->tid = (uint32_t)syscall(SYS_gettid);
    END(r);
}

static TS_TLS uint64_t dump_need; /* bytes this thread's owed dump takes, 0: unknown */

/* In a forked child (fork.c): every loop slot we know of is in the
 * parent's segment, still mapped here; writing a step into it would
 * feed the parent's watchdog.  Forget them all (the other loops' threads
 * do not exist in the child).  Another thread may have held the lock. */
void ts__tr_loops_after_fork(void) {
    pthread_mutex_init(&loops_lock, NULL);
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
        if (loops_by_slot[i])
            loops_by_slot[i]->trace_slot = NULL;
        loops_by_slot[i] = NULL;
    }
    /* The private slots mirrored the parent's segment: the child's own
     * segment starts with none claimed. */
    memset(slots, 0, sizeof slots);
    calibrated = 0;
    dump_need = 0;
}

/* In a forked child, on the forking thread: loop l goes on here, in the
 * child's own segment.  Register it (a step is running if a task is:
 * the fork happened inside it, so the watchdog times the rest of that
 * step from now) and owe the segment a state dump, which names every
 * task the child inherited, at the loop's next iteration. */
static bool write_dump(ts_loop *l, ts__ring *r, uint64_t gen);

void ts__tr_loop_rejoin(ts_loop *l, ts_task *running) {
    ts__ring *r = ts__ring_thread_start(TS_ROLE_LOOP, "loop");
    ts_seg_header *h = ts__seg();
    if (!r || !h)
        return;
    calibrate(h);
    claim_loop_slot(h, l, __atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE));
    ts_loop_slot *s = l->trace_slot;
    l->trace_step_chain = false;
    if (s && running) {
        s->task = running->id;
        s->step_start = ts__ticks();
        __atomic_store_n(&s->step, 1, __ATOMIC_RELEASE);
    }
    {
        BEGIN(r, loop_create);
        e->loop = l->id;
        e->tid = (uint32_t)syscall(SYS_gettid);
        END(r);
    }
    /* The birth dump, at once: the tasks the child inherited were
     * created in the parent's segment, and one that ends before the
     * loop's next iteration (the very task that forked, often) would
     * never be named here.  It answers request 1 of this segment, or a
     * reader's that came first (a reader that attaches later asks
     * again); if it cannot go in now, the loop's iteration retries. */
    uint64_t req = 1, none = 0;
    if (!__atomic_compare_exchange_n(&h->attach_request, &none, 1, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        req = none;
    l->trace_dump_gen = write_dump(l, r, req) ? req : 0;
    ts__ring_publish(r);
}

void ts__tr_loop_close(ts_loop *l) {
    ts__ring *r = ts__ring_self();
    ts_loop_slot *s = l->trace_slot;
    pthread_mutex_lock(&loops_lock);
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++)
        if (loops_by_slot[i] == l)
            loops_by_slot[i] = NULL;
    pthread_mutex_unlock(&loops_lock);
    if (s) {
        ts_loop_slot *c = shared_copy(s);
        if (c)
            __atomic_store_n(&c->loop, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&s->loop, 0, __ATOMIC_RELEASE);
    }
    l->trace_slot = NULL;
    ts__seg_settle_dump(); /* the others may have been waiting only for us */
    dump_need = 0;
    if (!r)
        return;
    ts__ring_open_reserve(r);
    {
        BEGIN(r, loop_close);
        e->loop = l->id;
        END(r);
    }
    ts__ring_hold(r, 0);
    ts__ring_publish(r);
}

void ts__tr_step_begin(ts_loop *l, ts_task *t) {
    ts_loop_slot *s = l->trace_slot;
    if (!s)
        return;
    s->task = t ? t->id : 0;
    /* Back to back with the previous step of this batch (nothing written
     * since it ended; only the loop's dequeue in between): start where it
     * ended.  A clock read is ~10 ns here, a good part of an event. */
    ts__ring *r = ts__ring_self();
    s->step_start = l->trace_step_chain && r && r->pos == l->trace_step_end_pos
                        ? l->trace_step_end_ts
                        : ts__ticks();
    /* odd: a step is running; release orders step_start and task first */
    __atomic_store_n(&s->step, s->step + 1, __ATOMIC_RELEASE);
}

/* A blocked or slow step's length in ns.  ticks_per_ns was measured at
 * start-up over as little as 2 ms, which on a loaded machine leaves it
 * off by tenths of a percent (a 110 ms step read shorter than the
 * program's own measure of it).  This path is rare (steps past the slow
 * threshold): it measures the rate afresh over the segment's whole life,
 * which includes the step itself. */
static uint64_t step_ns(uint64_t elapsed) {
    const ts__seg_geom *g = ts__seg_geometry();
    double k = ticks_per_ns;
    uint64_t t, m;
    ts__clock_pair(&t, &m);
    if (g && t > g->ticks0 && m > g->mono0_ns)
        k = (double)(t - g->ticks0) / (double)(m - g->mono0_ns);
    return (uint64_t)((double)elapsed / k);
}

void ts__tr_step_end(ts_loop *l, ts_task *t) {
    ts_loop_slot *s = l->trace_slot;
    if (!s)
        return;
    uint64_t step = s->step;
    ts__ring *r = ts__ring_self();
    /* The step's last record (its suspend or done) was written just
     * before the switch back: its timestamp is the step's end. */
    uint64_t end = r && r->last_ts > s->step_start ? r->last_ts : ts__ticks();
    uint64_t elapsed = end - s->step_start;
    __atomic_store_n(&s->step, step + 1, __ATOMIC_RELEASE);
    ts_seg_header *h = ts__seg();
    if (!h || !r)
        return;
    /* (a loop_unblocked or slow_step written below moves r->pos: the
     * next step then reads the clock) */
    l->trace_step_end_ts = end;
    l->trace_step_end_pos = r->pos;
    l->trace_step_chain = true;
    uint64_t slow_ns = ts__trace_slow_step_ns(); /* not the segment's copy */
    if (slow_ns != slow_ns_seen) {
        slow_ticks = (uint64_t)((double)slow_ns * ticks_per_ns);
        slow_ns_seen = slow_ns;
    }
    int blocked = __atomic_load_n(&s->blocked_step, __ATOMIC_ACQUIRE) == step;
    if (!blocked && elapsed < slow_ticks)
        return;
    uint64_t dur = step_ns(elapsed);
    if (blocked) {
        BEGIN(r, loop_unblocked);
        e->loop = l->id;
        e->task = t ? t->id : 0;
        e->duration_ns = dur;
        e->step = step;
        END(r);
        ts__ring_publish(r);
    }
    if (elapsed >= slow_ticks) {
        BEGIN(r, slow_step);
        e->loop = l->id;
        e->task = t ? t->id : 0;
        e->duration_ns = dur;
        END(r);
    }
}

static bool write_dump(ts_loop *l, ts__ring *r, uint64_t gen);

/* When this thread's loop may write its next state dump.  A dump costs
 * time in proportion to the live tasks; an honest reader asks for one on
 * attach and after drops (every 2 s at most), but attach_request is
 * written by the reader, and one that kept changing it would otherwise
 * have the loop do nothing else.  So a loop spends at most about 1/20 of
 * its time on dumps (the dump's CPU time, not the wall time a loaded
 * machine may stretch), never dumps twice within 10 ms, and an honest
 * reader never waits more than a second for its dump. */
static TS_TLS uint64_t next_dump_ns;

static uint64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void ts__tr_iteration(ts_loop *l) {
    l->trace_step_chain = false; /* a poll may come: a new batch starts */
    ts_seg_header *h = ts__seg();
    if (!h)
        return;
    ts__tr_command_check(l, h); /* command.c: taskscope cancel */
    uint64_t req = __atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE);
    if (__builtin_expect(req == l->trace_dump_gen, 1))
        return;
    uint64_t now = ts__mono_ns();
    if (now < next_dump_ns)
        return;
    ts__ring *r = ts__ring_self();
    /* (no clock while a dump waits for room: that check is cheap) */
    uint64_t cpu0 = dump_need ? 0 : thread_cpu_ns();
    if (!r || write_dump(l, r, req)) {
        l->trace_dump_gen = req;
        uint64_t pause = cpu0 ? (thread_cpu_ns() - cpu0) * 20 : 0;
        pause = pause < 10000000u ? 10000000u : pause > 1000000000u ? 1000000000u : pause;
        next_dump_ns = now + pause;
    }
}

static void wake_for_dump(void *arg) { (void)arg; /* the iteration does the work */ }

void ts__tr_wake_loops_for_dump(void) {
    ts_seg_header *h = ts__seg();
    if (!h)
        return;
    uint64_t req = __atomic_load_n(&h->attach_request, __ATOMIC_ACQUIRE);
    pthread_mutex_lock(&loops_lock);
    for (uint32_t i = 0; i < TS_MAX_LOOPS; i++) {
        ts_loop *l = loops_by_slot[i];
        if (l && __atomic_load_n(&slots[i].dump_gen, __ATOMIC_ACQUIRE) != req)
            ts_call_soon_threadsafe(l, wake_for_dump, NULL);
    }
    pthread_mutex_unlock(&loops_lock);
}

bool ts__tr_running_task_ids(uint32_t slot, uint64_t task, uint32_t *name, uint32_t *site) {
    bool found = false;
    pthread_mutex_lock(&loops_lock); /* the loop is not freed meanwhile */
    ts_loop *l = loops_by_slot[slot % TS_MAX_LOOPS];
    /* The running task cannot end while its step runs; if the step ended
     * since, the debug runtime's quarantine keeps a freed task's memory
     * readable, and the id check then fails. */
    ts_task *t = l ? __atomic_load_n(&l->current, __ATOMIC_RELAXED) : NULL;
    if (t && t->id == task) {
        *name = t->trace_name;
        *site = t->trace_site;
        found = true;
    }
    pthread_mutex_unlock(&loops_lock);
    return found;
}

bool ts__tr_wake_loop_id(uint64_t loop) {
    bool found = false;
    pthread_mutex_lock(&loops_lock);
    for (uint32_t i = 0; i < TS_MAX_LOOPS && !found; i++) {
        ts_loop *l = loops_by_slot[i];
        if (l && l->id == loop && loop) {
            ts_call_soon_threadsafe(l, wake_for_dump, NULL);
            found = true;
        }
    }
    pthread_mutex_unlock(&loops_lock);
    return found;
}

void ts__tr_before_poll(ts_loop *l) {
    (void)l;
    ts__ring *r = ts__ring_self();
    if (r && r->unpublished)
        ts__ring_publish(r);
}

/* ---- tasks -------------------------------------------------------------------- */

static uint32_t task_name_id(ts__ring *r, const ts_task *t) {
    return t->name_owned ? ts__intern_dynamic(r, t->name) : ts__intern_static(r, t->name);
}

void ts__tr_task_create(ts_task *t) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t name = task_name_id(r, t), site = ts__intern_site(r, t->spawn_site);
    t->trace_name = name;
    t->trace_site = site;
    BEGIN(r, task_create);
    e->task = t->id;
    e->parent = t->parent_id;
    e->loop = t->loop->id;
    e->name = name;
    e->site = site;
    END(r);
}

void ts__tr_task_resume(ts_task *t) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    /* Called right after ts__tr_step_begin: the step's start is the
     * resume's timestamp (one clock read for both). */
    ts_loop_slot *s = t->loop->trace_slot;
    ts_ev_task_resume *e = ts__ring_reserve_at(r, TS_EV_task_resume, sizeof *e,
                                               s ? s->step_start : 0);
    if (!e)
        return;
    e->task = t->id;
    ts__ring_commit(r, sizeof *e);
}

void ts__tr_task_suspend(ts_task *t, int kind, const void *obj, const ts_site *site) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t sid = ts__intern_site(r, site);
    BEGIN(r, task_suspend);
    e->task = t->id;
    e->object = ts__tr_object_id(kind, obj);
    e->kind = (uint32_t)kind;
    e->site = sid;
    END(r);
}

void ts__tr_task_wake(ts_task *t, int status) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    BEGIN(r, task_wake);
    e->task = t->id;
    e->by_task = current_task_id();
    e->status = status;
    END(r);
}

void ts__tr_task_cancel(ts_task *t, const char *msg, uint64_t by) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t mid = msg ? ts__intern_dynamic(r, msg) : 0;
    BEGIN(r, task_cancel);
    e->task = t->id;
    e->by_task = by;
    e->requests = (uint32_t)t->cancel_requests;
    e->message = mid;
    END(r);
}

void ts__tr_task_done(ts_task *t) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t mid = t->err_msg ? ts__intern_dynamic(r, t->err_msg) : 0;
    BEGIN(r, task_done);
    e->task = t->id;
    e->state = t->state;
    e->err = t->err;
    e->message = mid;
    END(r);
}

void ts__tr_task_free(ts_task *t) {
    if (t->rare && t->rare->notes)
        ts__tr_notes_task_free(t);
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    /* Nothing reads when a record was freed, only that it was: reuse the
     * thread's last timestamp (order is kept) and save a clock read,
     * about a tenth of a spawn's cost on the debug runtime. */
    ts_ev_task_free *e = ts__ring_reserve_at(r, TS_EV_task_free, sizeof *e, r->last_ts);
    if (!e)
        return;
    e->task = t->id;
    ts__ring_commit(r, sizeof *e);
}

/* ---- live resources, for the state dump ---------------------------------------------
 *
 * The runtime keeps no list of its locks and queues, so the trace layer
 * does: a per-thread open-addressed table (resources belong to the loop
 * thread that made them), updated by the same hooks that emit events.
 * Deleted slots become tombstones; the table is rebuilt when they pile up.
 */
struct res_entry {
    const void *obj;       /* NULL: empty; TOMB: deleted */
    uint32_t kind, capacity, site, depth;
    uint64_t holder;
    uint32_t name;         /* string id of its name, 0 none */
};
#define TOMB ((const void *)1)
static TS_TLS struct res_entry *res_tab;
static TS_TLS size_t res_cap, res_used; /* used counts tombstones too */

static size_t res_slot(const void *obj, size_t cap) {
    uintptr_t v = (uintptr_t)obj;
    return (size_t)((v >> 4) ^ (v >> 17)) & (cap - 1);
}

static struct res_entry *res_find(const void *obj) {
    if (!res_cap)
        return NULL;
    for (size_t i = res_slot(obj, res_cap);; i = (i + 1) & (res_cap - 1)) {
        if (res_tab[i].obj == obj)
            return &res_tab[i];
        if (!res_tab[i].obj)
            return NULL;
    }
}

static void res_rehash(size_t cap) {
    struct res_entry *old = res_tab;
    size_t oldcap = res_cap;
    struct res_entry *n = calloc(cap, sizeof *n);
    if (!n)
        return;
    res_tab = n;
    res_cap = cap;
    res_used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].obj || old[i].obj == TOMB)
            continue;
        size_t j = res_slot(old[i].obj, cap);
        while (res_tab[j].obj)
            j = (j + 1) & (cap - 1);
        res_tab[j] = old[i];
        res_used++;
    }
    free(old);
}

static void res_forget(void) {
    free(res_tab);
    res_tab = NULL;
    res_cap = res_used = 0;
}

static struct res_entry *res_add(const void *obj) {
    if ((res_used + 1) * 2 > res_cap)
        res_rehash(res_cap ? res_cap * 2 : 64);
    if ((res_used + 1) * 2 > res_cap)
        return NULL;
    size_t i = res_slot(obj, res_cap);
    while (res_tab[i].obj && res_tab[i].obj != TOMB && res_tab[i].obj != obj)
        i = (i + 1) & (res_cap - 1);
    if (!res_tab[i].obj)
        res_used++;
    memset(&res_tab[i], 0, sizeof res_tab[i]);
    res_tab[i].obj = obj;
    return &res_tab[i];
}

static void dump_resources(ts__ring *r) {
    for (size_t i = 0; i < res_cap; i++) {
        struct res_entry *x = &res_tab[i];
        if (!x->obj || x->obj == TOMB)
            continue;
        {
            BEGIN(r, resource_create);
            e->resource = (uintptr_t)x->obj;
            e->kind = x->kind;
            e->capacity = x->capacity;
            e->site = x->site;
            END(r);
        }
        if (x->name) {
            BEGIN(r, resource_name);
            e->resource = (uintptr_t)x->obj;
            e->name = x->name;
            END(r);
        }
        if (x->holder) {
            BEGIN(r, resource_acquired);
            e->resource = (uintptr_t)x->obj;
            e->task = x->holder;
            END(r);
        }
        if (x->kind == TS_RES_QUEUE) {
            BEGIN(r, queue_depth);
            e->resource = (uintptr_t)x->obj;
            e->depth = x->depth;
            END(r);
        }
    }
}

void ts__tr_dump_resources(ts__ring *r) { dump_resources(r); }

/* ---- futures, resources, jobs --------------------------------------------------- */

void ts__tr_future_create(const void *f, const ts_site *site) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t sid = ts__intern_site(r, site);
    BEGIN(r, future_create);
    e->future = (uintptr_t)f;
    e->site = sid;
    END(r);
}

void ts__tr_future_done(const void *f, int err) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    BEGIN(r, future_done);
    e->future = (uintptr_t)f;
    e->err = err;
    END(r);
}

void ts__tr_resource_create(const void *obj, int kind, unsigned capacity, const ts_site *site) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t sid = ts__intern_site(r, site);
    struct res_entry *x = res_add(obj);
    if (x) {
        x->kind = (uint32_t)kind;
        x->capacity = capacity;
        x->site = sid;
    }
    BEGIN(r, resource_create);
    e->resource = (uintptr_t)obj;
    e->kind = (uint32_t)kind;
    e->capacity = capacity;
    e->site = sid;
    END(r);
}

void ts__tr_resource_free(const void *obj) {
    struct res_entry *x = res_find(obj);
    if (x)
        x->obj = TOMB;
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    BEGIN(r, resource_free);
    e->resource = (uintptr_t)obj;
    END(r);
}

/* Futures are not in the resource table (a dump does not list them), so
 * only a resource's name is re-sent by a state dump. */
void ts__tr_resource_name(const void *obj, const char *name) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t nid = name ? ts__intern_dynamic(r, name) : 0;
    struct res_entry *x = res_find(obj);
    if (x)
        x->name = nid;
    BEGIN(r, resource_name);
    e->resource = (uintptr_t)obj;
    e->name = nid;
    END(r);
}

/* next: the record follows one the same runtime call just wrote (the
 * _next forms, tracepoints.h): take its timestamp rather than read the
 * clock, unless that record was dropped (then last_ts is older). */
static void resource_acquired(const void *obj, const ts_task *t, bool next) {
    struct res_entry *x = res_find(obj);
    if (x && x->kind != TS_RES_QUEUE)
        x->holder = t ? t->id : 0;
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    ts_ev_resource_acquired *e = ts__ring_reserve_at(r, TS_EV_resource_acquired, sizeof *e,
                                                     next && !r->dropped_pending ? r->last_ts : 0);
    if (!e)
        return;
    e->resource = (uintptr_t)obj;
    e->task = t ? t->id : 0;
    ts__ring_commit(r, sizeof *e);
}

static void resource_release(const void *obj, const ts_task *t, bool next) {
    struct res_entry *x = res_find(obj);
    if (x && x->kind == TS_RES_LOCK)
        x->holder = 0;
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    ts_ev_resource_release *e = ts__ring_reserve_at(r, TS_EV_resource_release, sizeof *e,
                                                    next && !r->dropped_pending ? r->last_ts : 0);
    if (!e)
        return;
    e->resource = (uintptr_t)obj;
    e->task = t ? t->id : 0;
    ts__ring_commit(r, sizeof *e);
}

static void queue_depth(const void *q, size_t depth, bool next) {
    struct res_entry *x = res_find(q);
    if (x)
        x->depth = (uint32_t)depth;
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    ts_ev_queue_depth *e = ts__ring_reserve_at(r, TS_EV_queue_depth, sizeof *e,
                                               next && !r->dropped_pending ? r->last_ts : 0);
    if (!e)
        return;
    e->resource = (uintptr_t)q;
    e->depth = (uint32_t)depth;
    ts__ring_commit(r, sizeof *e);
}

void ts__tr_resource_acquired(const void *obj, const ts_task *t) { resource_acquired(obj, t, false); }
void ts__tr_resource_release(const void *obj, const ts_task *t) { resource_release(obj, t, false); }
void ts__tr_queue_depth(const void *q, size_t depth) { queue_depth(q, depth, false); }
void ts__tr_resource_acquired_next(const void *obj, const ts_task *t) { resource_acquired(obj, t, true); }
void ts__tr_resource_release_next(const void *obj, const ts_task *t) { resource_release(obj, t, true); }
void ts__tr_queue_depth_next(const void *q, size_t depth) { queue_depth(q, depth, true); }

void ts__tr_job_submit(const void *job, const ts_task *t) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    BEGIN(r, job_submit);
    e->job = (uintptr_t)job;
    e->task = t ? t->id : 0;
    END(r);
}

void ts__tr_job_start(const void *job) {
    ts__ring *r = ts__ring_thread_start(TS_ROLE_WORKER, "ts-worker");
    if (!r)
        return;
    BEGIN(r, job_start);
    e->job = (uintptr_t)job;
    e->tid = (uint32_t)syscall(SYS_gettid);
    END(r);
}

void ts__tr_job_done(const void *job) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    {
        BEGIN(r, job_done);
        e->job = (uintptr_t)job;
        e->tid = (uint32_t)syscall(SYS_gettid);
        END(r);
    }
    ts__ring_publish(r); /* the worker may now sleep for a long time */
}

void ts__tr_diag(const ts_diag *d) {
    ts__ring *r = ts__ring_self();
    if (!r)
        return;
    uint32_t sid = ts__intern_site(r, d->site);
    char text[512];
    ts_diag_format(d, text, sizeof text);
    uint32_t mid = ts__intern_dynamic(r, text);
    BEGIN(r, diagnostic);
    e->task = d->task_id;
    e->kind = d->kind;
    e->err = d->err;
    e->site = sid;
    e->message = mid;
    END(r);
}

/* ---- state dump ---------------------------------------------------------------- */

static void dump_task(ts__ring *r, ts_task *t) {
    uint32_t name = task_name_id(r, t), site = ts__intern_site(r, t->spawn_site);
    const void *obj = NULL;
    const ts_site *await_site = NULL;
    ts_wait_kind kind = ts_task_awaiting(t, &obj, &await_site);
    uint32_t asite = ts__intern_site(r, await_site);
    BEGIN(r, task_state);
    e->task = t->id;
    e->parent = t->parent_id;
    e->loop = t->loop->id;
    e->object = ts__tr_object_id(kind, obj);
    e->name = name;
    e->site = site;
    e->state = t->state;
    e->kind = kind;
    e->await_site = asite;
    e->requests = (uint32_t)t->cancel_requests;
    END(r);
}

static void dump_records(ts_loop *l, ts__ring *r, uint64_t gen) {
    {
        BEGIN(r, dump_begin);
        e->generation = gen;
        END(r);
    }
    ts__intern_replay(r);
    {
        BEGIN(r, loop_create);
        e->loop = l->id;
        e->tid = (uint32_t)syscall(SYS_gettid);
        END(r);
    }
    unsigned stacks = ts__tr_dump_stack_budget(); /* taskstack.c */
    ts__list_foreach(it, &l->tasks) {
        ts_task *t = ts__container_of(it, ts_task, all);
        if (t->state < TS_TASK_DONE) {
            /* what the fd it waits on is, before the wait (a reader
             * names the fd from the latest fd_info) */
            const void *obj = NULL;
            if (ts_task_awaiting(t, &obj, NULL) == TS_WAIT_FD)
                ts__tr_dump_fd(r, (int)(intptr_t)obj);
            dump_task(r, t);
            ts__tr_dump_task_stack(r, t, &stacks);
            ts__tr_dump_task_fields(r, t); /* notes.c */
        }
    }
    if (stacks != ts__tr_dump_stack_budget())
        ts__tr_dump_modules(r); /* to symbolize them */
    dump_resources(r);
    {
        BEGIN(r, dump_end);
        e->generation = gen;
        END(r);
    }
}

/* Write loop l's dump for request gen into r if the reader has left room
 * for all of it; false (and the room held back) if not yet.  The loop
 * tries again at its next iteration, and the watchdog wakes an idle loop
 * that still owes a dump.  A dump larger than the whole ring waits for
 * the reader to have read everything and then goes straight in: it is
 * torn (drops counted) if the reader does not keep up with it. */
static bool write_dump(ts_loop *l, ts__ring *r, uint64_t gen) {
    if (dump_need && !ts__ring_fits(r, dump_need))
        return false; /* cheap while waiting: no rebuild */
    uint64_t ring_size = (uint64_t)r->mask + 1;
    ts_ring_header sh;
    ts__ring s;
    if (ts__ring_scratch_open(&s, &sh) != 0) {
        dump_records(l, r, gen); /* no memory to assemble it: as it comes */
    } else {
        dump_records(l, &s, gen);
        uint64_t need;
        int err = ts__ring_copy_in(r, &s, &need);
        ts__ring_scratch_close(&s);
        if (err == -ENOSPC && need > ring_size) /* padded to fit r's pages */
            err = -E2BIG;
        if (err == -E2BIG && !ts__ring_fits(r, ring_size))
            err = -ENOSPC, need = ring_size;
        if (err == -ENOSPC) {
            dump_need = need;
            ts__ring_hold(r, need);
            return false;
        }
        ts__ring_hold(r, 0);
        if (err == -E2BIG)
            dump_records(l, r, gen);
    }
    dump_need = 0;
    ts__ring_publish(r);
    ts_loop_slot *slot = l->trace_slot;
    if (slot) {
        __atomic_store_n(&slot->dump_gen, gen, __ATOMIC_RELEASE);
        ts_loop_slot *c = shared_copy(slot);
        if (c)
            __atomic_store_n(&c->dump_gen, gen, __ATOMIC_RELAXED);
    }
    ts__seg_settle_dump();
    return true;
}
