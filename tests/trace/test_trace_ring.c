/*
 * test_trace_ring.c - ring wrap and drop accounting, with a 64 KiB ring
 * (TASKSCOPE_RING_SIZE, set before the first loop).
 *
 * Events are numbered by putting items on an unbounded queue: each put
 * emits queue_depth with depth = 1, 2, 3, ..., so a test can tell exactly
 * which events reached the reader, and whether any were torn or
 * overwritten (a number out of order) or silently lost (a gap that no
 * counter accounts for).
 *
 *   - no reader: the producer overwrites; a late reader gets the most
 *     recent window, contiguous up to the last event;
 *   - a live reader that keeps up follows the ring over many laps and
 *     gets every event;
 *   - a live reader that does not poll for a while: the producer drops
 *     and counts, never overwrites; the count arrives as `dropped` events;
 *   - a reader that goes away while the ring is full: the producer goes
 *     back to overwriting rather than dropping forever;
 *   - a ring slot reused by a new thread decodes without damage;
 *   - a passive reader racing a producer that laps it never delivers a
 *     torn or stale event.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "trace_harness.h"

#define RING (64u * 1024)

/* ---- numbered events --------------------------------------------------------------- */

typedef struct fill {
    ts_reader *rd;       /* live reader to attach from inside the loop, or NULL */
    evlog *log;          /* where that reader's polls go */
    int n;               /* puts */
    int poll_every;      /* live reader polls after this many puts (0: never) */
    int beat_every;      /* ... or only keeps its heartbeat (0: never) */
    uint64_t q;          /* the queue's id, for depths_of */
    int close_after;     /* close rd after the fill and put n more on q2 */
    uint64_t q2;
} fill;

/* The depths of queue q's queue_depth events, in delivery order. */
static size_t depths_of(const evlog *l, uint64_t q, uint32_t **out) {
    size_t n = 0;
    *out = calloc(l->n + 1, sizeof **out);
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].ev.type == TS_EV_queue_depth && EV(&l->v[i], queue_depth)->resource == q)
            (*out)[n++] = EV(&l->v[i], queue_depth)->depth;
    return n;
}

/* Attach rd from inside the loop and poll until the state dump is in. */
static void attach_and_wait_dump(ts_reader *rd, evlog *log) {
    assert_int_equal(ts_reader_attach(rd), 0);
    for (int i = 0; i < 20000 && !ts_reader_dump_done(rd); i++) {
        poll_into(rd, log);
        ts_sleep(0.001);
    }
    assert_true(ts_reader_dump_done(rd));
}

static uint64_t put_numbered(ts_queue *q, fill *f, int n) {
    for (int i = 1; i <= n; i++) {
        assert_int_equal(ts_queue_put_nowait(q, IPTR(i)), 0);
        if (f->poll_every && i % f->poll_every == 0) {
            ts_debug_flush();
            poll_into(f->rd, f->log);
        }
        if (f->beat_every && i % f->beat_every == 0)
            ts_reader_keepalive(f->rd);
    }
    return (uint64_t)(uintptr_t)q;
}

static void *fill_main(void *arg) {
    fill *f = arg;
    if (f->rd)
        attach_and_wait_dump(f->rd, f->log);
    ts_queue *q = ts_queue_new(0);
    f->q = put_numbered(q, f, f->n);
    if (f->close_after) {
        ts_reader_close(f->rd);
        f->rd = NULL;
        f->poll_every = f->beat_every = 0;
        ts_queue *q2 = ts_queue_new(0);
        f->q2 = put_numbered(q2, f, f->n);
        ts_queue_free(q2);
    }
    ts_queue_free(q);
    return NULL;
}

/* ---- no reader: overwrite, late reader gets the newest window ------------------------ */

static void test_flight_recorder_window(void **state) {
    (void)state;
    fill f = {.n = 5000}; /* 64 bytes a put: about five laps */
    ts_reader *probe = open_self();
    ts_reader_close(probe);
    assert_int_equal(ts_run(fill_main, &f), 0);
    ts_reader *rd = open_self();
    evlog log = {0};
    poll_into(rd, &log);
    uint32_t *d;
    size_t n = depths_of(&log, f.q, &d);
    /* the most recent window: contiguous, ending at the last put, and
     * nearly a ring's worth (a page may be given up at the old end) */
    assert_true(n > 0);
    assert_int_equal(d[n - 1], 5000);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(d[i], d[i - 1] + 1);
    assert_true(d[0] > 1);
    assert_true(n * 64 >= RING - 3 * TS_PAGE_SIZE - 2048);
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.dropped_total, 0);
    free(d);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- a live reader that keeps up gets everything, over many laps ----------------------- */

static void test_live_reader_follows_laps(void **state) {
    (void)state;
    evlog log = {0};
    fill f = {.rd = open_self(), .log = &log, .n = 20000, .poll_every = 200};
    poll_discard(f.rd);
    assert_int_equal(ts_run(fill_main, &f), 0);
    poll_into(f.rd, &log);
    uint32_t *d;
    size_t n = depths_of(&log, f.q, &d);
    assert_int_equal(n, 20000); /* 1.28 MB through a 64 KiB ring */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i], i + 1);
    ts_reader_stats st;
    ts_reader_get_stats(f.rd, &st);
    assert_int_equal(st.dropped_total, 0);
    assert_int_equal(st.lost_bytes, 0);
    assert_int_equal(st.corrupt, 0);
    free(d);
    evlog_free(&log);
    ts_reader_close(f.rd);
}

/* ---- a live reader that stops polling: drops, counted, nothing overwritten ------------ */

static void test_live_reader_drops(void **state) {
    (void)state;
    evlog log = {0};
    /* alive (heartbeat) but not reading while 320 KB go by */
    fill f = {.rd = open_self(), .log = &log, .n = 5000, .beat_every = 100};
    poll_discard(f.rd);
    assert_int_equal(ts_run(fill_main, &f), 0);
    poll_into(f.rd, &log);
    uint32_t *d;
    size_t n = depths_of(&log, f.q, &d);
    /* what arrived is the beginning, whole: the rest was dropped, not
     * written over what the reader had not read */
    assert_true(n > 0 && n < 5000);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(d[i], i + 1);
    ts_reader_stats st;
    ts_reader_get_stats(f.rd, &st);
    assert_int_equal(st.lost_bytes, 0);
    assert_int_equal(st.corrupt, 0);
    assert_true(st.dropped_total >= 5000 - n);
    /* the count reaches the trace as soon as there is room again */
    assert_int_equal(ts_run(noop_main, NULL), 0);
    evlog more = {0};
    poll_into(f.rd, &more);
    ts_reader_get_stats(f.rd, &st);
    assert_true(count_type(&more, TS_EV_dropped) >= 1);
    assert_int_equal(st.dropped_events, st.dropped_total);
    free(d);
    evlog_free(&log);
    evlog_free(&more);
    ts_reader_close(f.rd);
}

/* ---- the reader goes away while the ring is full ------------------------------------------ */

static void test_reader_gone_while_full(void **state) {
    (void)state;
    evlog log = {0};
    fill f = {.rd = open_self(), .log = &log, .n = 3000, .beat_every = 100, .close_after = 1};
    poll_discard(f.rd);
    assert_int_equal(ts_run(fill_main, &f), 0); /* closes the reader itself */
    ts_reader *rd = open_self();
    evlog late = {0};
    poll_into(rd, &late);
    uint32_t *d;
    size_t n = depths_of(&late, f.q2, &d);
    /* flight recorder again: the newest events are there */
    assert_true(n > 0);
    assert_int_equal(d[n - 1], 3000);
    free(d);
    evlog_free(&log);
    evlog_free(&late);
    ts_reader_close(rd);
}

/* ---- a ring slot handed from one thread to the next ------------------------------------------ */

static void *thread_with_loop(void *arg) {
    assert_int_equal(ts_run(noop_main, arg), 0);
    return NULL;
}

static uint32_t run_thread_and_poll(ts_reader *rd, evlog *log) {
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_with_loop, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    size_t from = log->n;
    poll_into(rd, log);
    for (size_t i = from; i < log->n; i++)
        if (log->v[i].ev.type == TS_EV_thread_start &&
            EV(&log->v[i], thread_start)->role == TS_ROLE_LOOP)
            return log->v[i].ev.ring; /* (the watchdog's may come late: batching) */
    fail_msg("no thread_start from the new thread");
    return 0;
}

static void test_slot_reuse(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    evlog log = {0};
    uint32_t ra = run_thread_and_poll(rd, &log);
    size_t first = log.n;
    uint32_t rb = run_thread_and_poll(rd, &log);
    assert_int_equal(ra, rb); /* the second thread took the slot the first left */
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    assert_int_equal(st.corrupt, 0);
    /* and its events carry its own tid, from its thread_start on */
    uint32_t tid_b = 0;
    for (size_t i = first; i < log.n; i++) {
        if (log.v[i].ev.ring != rb)
            continue;
        if (log.v[i].ev.type == TS_EV_thread_start)
            tid_b = EV(&log.v[i], thread_start)->tid;
        if (tid_b)
            assert_int_equal(log.v[i].ev.tid, tid_b);
    }
    assert_true(tid_b != 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- a passive reader racing a producer that laps it ------------------------------------------- */

static atomic_int spam_stop;
static _Atomic uint64_t spam_q;

static void *spam_main(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    atomic_store(&spam_q, (uint64_t)(uintptr_t)q);
    for (int i = 0; i < 1000000 && !atomic_load(&spam_stop); i++)
        ts_queue_put_nowait(q, IPTR(i));
    ts_queue_free(q);
    return NULL;
}

static void *spam_thread(void *arg) {
    assert_int_equal(ts_run(spam_main, arg), 0);
    return NULL;
}

typedef struct seen {
    uint64_t q;
    uint32_t last;
    uint64_t count, backwards;
} seen;

static void check_order(const ts_reader_event *ev, void *arg) {
    seen *s = arg;
    if (ev->type != TS_EV_queue_depth)
        return;
    const ts_ev_queue_depth *e = (const ts_ev_queue_depth *)ev->rec;
    if (e->resource != atomic_load(&spam_q))
        return;
    s->count++;
    if (e->depth <= s->last)
        s->backwards++;
    s->last = e->depth;
}

static void test_passive_reader_lapped(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    atomic_store(&spam_stop, 0);
    atomic_store(&spam_q, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spam_thread, NULL), 0);
    seen s = {0};
    for (int i = 0; i < 300; i++) {
        assert_true(ts_reader_poll(rd, check_order, &s) >= 0);
        usleep(1000);
    }
    atomic_store(&spam_stop, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(ts_reader_poll(rd, check_order, &s) >= 0);
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    if (getenv("TS_TRACE_VERBOSE"))
        fprintf(stderr, "lapped: %llu numbered events seen, last %u, %llu bytes lost\n",
                (unsigned long long)s.count, s.last, (unsigned long long)st.lost_bytes);
    /* whatever we were lapped on is counted, never delivered torn */
    assert_true(s.count > 0);
    assert_int_equal(s.backwards, 0);
    assert_int_equal(st.corrupt, 0);
    ts_reader_close(rd);
}

/* ---- a late reader: the recent window, then the state dump ------------------------------- */

/* In the child: many short tasks (the ring wraps), then long-lived ones
 * parked on different things, then tick until the parent says stop. */
static int late_ready, late_stop;
static ts_lock *late_lock;
static ts_queue *late_queue;
static ts_event *late_event;
static ts_task *late_sleeper;
struct late_lines {
    int lock, get, await, event;
};
static struct late_lines late_lines;

static void *d_sleep(void *a) { return ts_fail(ts_sleep(100), NULL), a; }
static void *d_hold(void *a) {
    ts_lock_acquire(late_lock);
    ts_sleep(100);
    ts_lock_release(late_lock);
    return a;
}
static void *d_lockwait(void *a) {
    late_lines.lock = __LINE__; ts_lock_acquire(late_lock);
    return a;
}
static void *d_get(void *a) {
    void *it;
    late_lines.get = __LINE__; ts_queue_get(late_queue, &it);
    return a;
}
static void *d_await(void *a) {
    late_lines.await = __LINE__; ts_await(late_sleeper, NULL);
    return a;
}
static void *d_event(void *a) {
    late_lines.event = __LINE__; ts_event_wait(late_event);
    return a;
}

static void *late_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 3000; i++)
        ts_await(ts_spawn_named("short", noop_main, NULL), NULL);
    late_lock = ts_lock_new();
    late_queue = ts_queue_new(0);
    late_event = ts_event_new();
    ts_task *sleeper = ts_spawn_named("d_sleep", d_sleep, NULL);
    late_sleeper = ts_task_ref(sleeper); /* d_await's handle */
    ts_task *t[5] = {ts_spawn_named("d_hold", d_hold, NULL),
                     ts_spawn_named("d_lockwait", d_lockwait, NULL),
                     ts_spawn_named("d_get", d_get, NULL),
                     ts_spawn_named("d_await", d_await, NULL),
                     ts_spawn_named("d_event", d_event, NULL)};
    ts_sleep(0.01); /* everyone parks */
    ts_debug_flush();
    if (write(late_ready, &late_lines, sizeof late_lines) != sizeof late_lines)
        _exit(3);
    char c;
    while (read(late_stop, &c, 1) != 1)
        ts_sleep(0.005);
    for (int i = 0; i < 5; i++)
        ts_task_detach(t[i]);
    ts_task_detach(sleeper);
    return NULL;
}

static const ts_ev_task_state *state_of(const ts_reader *rd, const evlog *l, size_t from,
                                        size_t to, const char *name) {
    for (size_t i = from; i < to; i++) {
        if (l->v[i].ev.type != TS_EV_task_state)
            continue;
        const char *s = ts_reader_string(rd, EV(&l->v[i], task_state)->name);
        if (s && !strcmp(s, name))
            return EV(&l->v[i], task_state);
    }
    fail_msg("no task_state for %s in the dump", name);
    return NULL;
}

static void test_late_reader_gets_window_and_dump(void **state) {
    (void)state;
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test must not leave us behind */
        late_ready = ready[1];
        late_stop = stop[0];
        fcntl(late_stop, F_SETFL, O_NONBLOCK);
        exit(ts_run(late_main, NULL) == 0 ? 0 : 1); /* atexit removes the segment */
    }
    close(ready[1]);
    close(stop[0]);
    struct late_lines lines;
    assert_int_equal(read(ready[0], &lines, sizeof lines), (ssize_t)sizeof lines);

    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 4000 && !ts_reader_dump_done(rd); i++) { /* 20 s at most */
        poll_into(rd, &log);
        usleep(5000);
    }
    if (!ts_reader_dump_done(rd)) {
        char path[64];
        snprintf(path, sizeof path, "/dev/shm/taskscope.%d", (int)pid);
        FILE *f = fopen(path, "rb");
        ts_seg_header sh = {0};
        if (f && fread(&sh, sizeof sh, 1, f) == 1)
            fprintf(stderr, "no dump: request %llu done %llu reader %llu; child alive %d\n",
                    (unsigned long long)sh.attach_request, (unsigned long long)sh.attach_done,
                    (unsigned long long)sh.reader_pid, kill(pid, 0) == 0);
        if (f)
            fclose(f);
        dump_log(rd, &log);
    }
    assert_true(ts_reader_dump_done(rd));
    poll_into(rd, &log);

    /* the window: the newest of the short tasks, not the oldest */
    size_t shorts = 0;
    uint64_t first_short = UINT64_MAX;
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_task_create) {
            const char *s = ts_reader_string(rd, EV(&log.v[i], task_create)->name);
            if (s && !strcmp(s, "short")) {
                shorts++;
                if (EV(&log.v[i], task_create)->task < first_short)
                    first_short = EV(&log.v[i], task_create)->task;
            }
        }
    assert_true(shorts > 10 && shorts < 3000);
    assert_true(first_short > 1000);
    /* the dump, between dump_begin and dump_end */
    long b = -1, e = -1;
    for (size_t i = 0; i < log.n; i++) {
        if (log.v[i].ev.type == TS_EV_dump_begin && b < 0)
            b = (long)i;
        if (log.v[i].ev.type == TS_EV_dump_end && b >= 0 && e < 0)
            e = (long)i;
    }
    assert_true(b >= 0 && e > b);
    assert_int_equal(EV(&log.v[b], dump_begin)->generation, EV(&log.v[e], dump_end)->generation);
    size_t states = 0;
    for (long i = b; i < e; i++)
        states += log.v[i].ev.type == TS_EV_task_state;
    assert_int_equal(states, 7); /* main and the six parked tasks; no short one */
    const ts_ev_task_state *m = state_of(rd, &log, (size_t)b, (size_t)e, "main");
    const ts_ev_task_state *sl = state_of(rd, &log, (size_t)b, (size_t)e, "d_sleep");
    const ts_ev_task_state *h = state_of(rd, &log, (size_t)b, (size_t)e, "d_hold");
    const ts_ev_task_state *lw = state_of(rd, &log, (size_t)b, (size_t)e, "d_lockwait");
    const ts_ev_task_state *g = state_of(rd, &log, (size_t)b, (size_t)e, "d_get");
    const ts_ev_task_state *aw = state_of(rd, &log, (size_t)b, (size_t)e, "d_await");
    const ts_ev_task_state *ev = state_of(rd, &log, (size_t)b, (size_t)e, "d_event");
    const ts_ev_task_state *all[] = {m, sl, h, lw, g, aw, ev};
    for (int i = 0; i < 7; i++)
        assert_int_equal(all[i]->state, TS_TASK_SUSPENDED);
    assert_int_equal(m->kind, TS_WAIT_SLEEP);
    assert_int_equal(sl->kind, TS_WAIT_SLEEP);
    assert_int_equal(h->kind, TS_WAIT_SLEEP);
    assert_int_equal(lw->kind, TS_WAIT_LOCK);
    assert_int_equal(g->kind, TS_WAIT_QUEUE_GET);
    assert_int_equal(aw->kind, TS_WAIT_TASK);
    assert_int_equal(aw->object, sl->task);
    assert_int_equal(ev->kind, TS_WAIT_EVENT);
    assert_int_equal(sl->parent, m->task);
    assert_true(site_is(rd, lw->await_site, "d_lockwait", (uint32_t)lines.lock));
    assert_true(site_is(rd, g->await_site, "d_get", (uint32_t)lines.get));
    assert_true(site_is(rd, aw->await_site, "d_await", (uint32_t)lines.await));
    assert_true(site_is(rd, ev->await_site, "d_event", (uint32_t)lines.event));
    const char *spawn_func = NULL;
    assert_int_equal(ts_reader_site(rd, lw->site, NULL, &spawn_func, NULL), 0);
    assert_string_equal(spawn_func, "late_main");
    /* the lock the waiter awaits is the one the window saw created */
    int lock_seen = 0;
    for (size_t i = 0; i < log.n; i++)
        lock_seen += log.v[i].ev.type == TS_EV_resource_create &&
                     EV(&log.v[i], resource_create)->resource == lw->object;
    assert_true(lock_seen >= 1);
    /* the dump also names the live resources: the lock with its holder,
     * the queue with its depth */
    int lock_held = 0, queue_empty = 0;
    for (long i = b; i < e; i++) {
        if (log.v[i].ev.type == TS_EV_resource_acquired &&
            EV(&log.v[i], resource_acquired)->resource == lw->object)
            lock_held += EV(&log.v[i], resource_acquired)->task == h->task;
        if (log.v[i].ev.type == TS_EV_queue_depth &&
            EV(&log.v[i], queue_depth)->resource == g->object)
            queue_empty += EV(&log.v[i], queue_depth)->depth == 0;
    }
    assert_int_equal(lock_held, 1);
    assert_int_equal(queue_empty, 1);

    assert_int_equal(write(stop[1], "q", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(ts_reader_alive(rd), 0);
    evlog_free(&log);
    ts_reader_close(rd);
    close(ready[0]);
    close(stop[1]);
}

int main(void) {
    setenv("TASKSCOPE_RING_SIZE", "65536", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flight_recorder_window),
        cmocka_unit_test(test_live_reader_follows_laps),
        cmocka_unit_test(test_live_reader_drops),
        cmocka_unit_test(test_reader_gone_while_full),
        cmocka_unit_test(test_slot_reuse),
        cmocka_unit_test(test_passive_reader_lapped),
        cmocka_unit_test(test_late_reader_gets_window_and_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
