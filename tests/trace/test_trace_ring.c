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
 *   - a state dump asked for while the ring is full waits for room and
 *     arrives whole; one larger than the ring still ends;
 *   - a ring slot reused by a new thread decodes without damage;
 *   - a passive reader racing a producer that laps it never delivers a
 *     torn or stale event.
 */
#include <pthread.h>
#include <stdatomic.h>

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
    /* the loop's end is never dropped (the ring's end reserve), and the
     * count of what was goes in just before it */
    assert_int_equal(count_type(&log, TS_EV_loop_close), 1);
    assert_true(count_type(&log, TS_EV_dropped) >= 1);
    /* a later run, the reader caught up: nothing more dropped, every count reported */
    assert_int_equal(ts_run(noop_main, NULL), 0);
    evlog more = {0};
    poll_into(f.rd, &more);
    ts_reader_get_stats(f.rd, &st);
    assert_int_equal(count_type(&more, TS_EV_loop_close), 1);
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

/* ---- a state dump that does not fit ------------------------------------------------------ */

/* Attach while the ring is full from the producer's point of view (the
 * reader protects the window it has not read yet) and let the loop
 * iterate, and write past a page, before the first poll -- what a reader
 * preempted right after attaching sees.  The loop's ordinary events are
 * dropped (counted) until the reader has read; the state dump is not: it
 * waits for room and arrives whole, every name in it.  And the window
 * arrives, contiguous up to the attach. */
typedef struct full_dump {
    ts_reader *rd;
    evlog log;
    uint64_t q;
    uint64_t lost_before; /* as a passive reader, before attaching */
} full_dump;

static void *full_dump_main(void *arg) {
    full_dump *fd = arg;
    for (int i = 0; i < 300; i++) { /* many names: the dump replays them all */
        char name[32];
        snprintf(name, sizeof name, "a-rather-long-task-name-%d", i);
        ts_await(ts_spawn_named(name, noop_main, NULL), NULL);
    }
    ts_queue *q = ts_queue_new(0);
    fd->q = put_numbered(q, &(fill){0}, 3000); /* and a full window */
    assert_int_equal(ts_reader_attach(fd->rd), 0);
    ts_reader_stats st;
    ts_reader_get_stats(fd->rd, &st);
    fd->lost_before = st.lost_bytes;
    ts_queue *q2 = ts_queue_new(0);
    put_numbered(q2, &(fill){0}, 200); /* more than a page: no room for it */
    for (int i = 0; i < 3; i++)
        ts_sleep(0.001); /* iterations: the loop owes the dump, the ring is full */
    for (int i = 0; i < 20000 && !ts_reader_dump_done(fd->rd); i++) {
        poll_into(fd->rd, &fd->log);
        ts_sleep(0.001);
    }
    assert_true(ts_reader_dump_done(fd->rd));
    ts_queue_free(q2);
    ts_queue_free(q);
    return NULL;
}

static void test_dump_into_full_ring(void **state) {
    (void)state;
    full_dump fd = {.rd = open_self()};
    poll_discard(fd.rd);
    assert_int_equal(ts_run(full_dump_main, &fd), 0);
    ts_reader_stats st;
    ts_reader_get_stats(fd.rd, &st);
    assert_true(st.dropped_total > 0); /* the ordinary events did not fit */
    /* the first poll after attaching gives up the window's oldest page if
     * the producer reached a new page before it (it cannot tell whether
     * the producer knew of it by then), and nothing else */
    assert_true(st.lost_bytes - fd.lost_before <= TS_PAGE_SIZE);
    assert_int_equal(st.corrupt, 0);
    /* the dump: one, whole (nothing dropped inside it), every name there */
    long b = -1, e = -1;
    size_t names = 0, drops_inside = 0;
    for (size_t i = 0; i < fd.log.n; i++) {
        const logged *x = &fd.log.v[i];
        if (x->ev.type == TS_EV_dump_begin && b < 0)
            b = (long)i;
        else if (x->ev.type == TS_EV_dump_end && b >= 0 && e < 0)
            e = (long)i;
        else if (b >= 0 && e < 0 && x->ev.type == TS_EV_dropped)
            drops_inside++;
        else if (b >= 0 && e < 0 && x->ev.type == TS_EV_string)
            names += !strncmp((const char *)(EV(x, string) + 1), "a-rather-long-task-name-", 24);
    }
    assert_true(b >= 0 && e > b);
    assert_int_equal(count_type(&fd.log, TS_EV_dump_begin), 1);
    /* the window: contiguous up to the last put before the attach */
    uint32_t *d;
    evlog before = {.v = fd.log.v, .n = (size_t)b}; /* the dump lists q's depth again */
    size_t n = depths_of(&before, fd.q, &d);
    assert_true(n * 64 >= RING - 3 * TS_PAGE_SIZE);
    assert_int_equal(d[n - 1], 3000);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(d[i], d[i - 1] + 1);
    free(d);
    assert_int_equal(drops_inside, 0);
    assert_int_equal(names, 300);
    evlog_free(&fd.log);
    ts_reader_close(fd.rd);
}

/* A dump larger than the whole ring (2000 long names to replay, 64 KiB
 * ring) cannot go in whole: the loop waits until the reader has read
 * everything, then writes it as it comes.  It must still end: the reader
 * gets dump_done and the part that fitted, the rest counted as drops. */
static void *huge_dump_main(void *arg) {
    ts_reader *rd = arg;
    for (int i = 0; i < 2000; i++) {
        char name[96];
        snprintf(name, sizeof name, "a-name-long-enough-that-two-thousand-overflow-the-ring-%d", i);
        ts_await(ts_spawn_named(name, noop_main, NULL), NULL);
    }
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 20000 && !ts_reader_dump_done(rd); i++) {
        poll_into(rd, &log);
        ts_sleep(0.001);
    }
    assert_true(ts_reader_dump_done(rd));
    poll_into(rd, &log);
    assert_int_equal(count_type(&log, TS_EV_dump_begin), 1);
    evlog_free(&log);
    return NULL;
}

static void test_dump_larger_than_ring(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(huge_dump_main, rd), 0);
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    assert_true(st.dropped_total > 0);
    assert_int_equal(st.corrupt, 0);
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

int main(void) {
    setenv("TASKSCOPE_RING_SIZE", "65536", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flight_recorder_window),
        cmocka_unit_test(test_live_reader_follows_laps),
        cmocka_unit_test(test_live_reader_drops),
        cmocka_unit_test(test_reader_gone_while_full),
        cmocka_unit_test(test_dump_into_full_ring),
        cmocka_unit_test(test_dump_larger_than_ring),
        cmocka_unit_test(test_slot_reuse),
        cmocka_unit_test(test_passive_reader_lapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
