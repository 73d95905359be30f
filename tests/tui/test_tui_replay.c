/*
 * test_tui_replay.c - the replay source tells the truth at its cursor
 * (issue 16): whatever path the cursor took (forward, back, jumps over
 * model checkpoints), the model equals a fresh model fed every event up
 * to the cursor, its clock reads the cursor, so ages count to the cursor;
 * a model clone behaves as the original; the watch's HDR percentiles and
 * a resource's history come from the right events; recent events come
 * back newest first even when they arrived out of order.
 *
 * Recordings are made in memory (tui_replay_begin/add/finish), long
 * enough (300k events) that several checkpoints are taken.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"
#include "recent.h"
#include "source.h"
#include "watch.h"

#define NTASKS 200
#define NEVENTS 300000

/* One recording: kept as a flat list too, to feed reference models. */
typedef struct rec {
    _Alignas(8) char data[64];
    uint64_t ns;
} rec;

static rec *events;
static size_t nevents;

static void add(void *r, uint16_t type, size_t size, uint64_t ns) {
    ts_ev_header *h = r;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    memcpy(events[nevents].data, r, h->size);
    events[nevents].ns = ns;
    nevents++;
}

#define EVENT(ns, T, ...)                                                    \
    do {                                                                     \
        ts_ev_##T e_ = {.h = {0}, __VA_ARGS__};                              \
        add(&e_, TS_EV_##T, sizeof e_, (ns));                                \
    } while (0)

/* NTASKS tasks that step forever (sleep / lock / queue), a task finishing
 * and a new one spawned now and then; 1 us between events. */
static void make_recording(void) {
    events = calloc(NEVENTS + 16, sizeof *events);
    assert_non_null(events);
    nevents = 0;
    uint64_t ns = 1000000000ull, next = 1, rng = 12345;
    uint64_t ids[NTASKS];
    EVENT(ns, loop_create, .loop = 1, .tid = 1);
    EVENT(ns, resource_create, .resource = 0x1000, .kind = 1, .capacity = 0, .site = 0);
    for (int i = 0; i < NTASKS; i++) {
        ids[i] = next++;
        EVENT(ns += 1000, task_create, .task = ids[i], .parent = 0, .loop = 1, .name = 0, .site = 0);
    }
    while (nevents < NEVENTS) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int i = (int)(rng % NTASKS);
        uint64_t t = ids[i];
        EVENT(ns += 1000, task_resume, .task = t);
        if (rng % 97 == 0) {
            EVENT(ns += 1000 + rng % 5000, task_done, .task = t, .state = 3, .err = 0);
            ids[i] = next++;
            EVENT(ns += 1000, task_create, .task = ids[i], .parent = 0, .loop = 1, .name = 0,
                  .site = 0);
            continue;
        }
        if (rng % 3 == 0) {
            EVENT(ns += 500, resource_acquired, .resource = 0x1000, .task = t);
            EVENT(ns += 500, resource_release, .resource = 0x1000, .task = t);
        }
        EVENT(ns += 1000 + rng % 20000, task_suspend, .task = t, .object = 0, .kind = 3,
              .site = 0);
        EVENT(ns += 1000, task_wake, .task = t, .by_task = 0, .status = 0);
    }
}

/* The recording in a replay source; budget and min_every (if not 0)
 * replace the checkpoints' defaults. */
static tui_src *open_replay_limits(size_t budget, uint64_t min_every) {
    tui_src *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(tui_replay_begin(s, "test"), 0);
    if (budget)
        tui_replay_checkpoint_limits(s, budget, min_every);
    for (size_t i = 0; i < nevents; i++)
        assert_int_equal(tui_replay_add(s, (const ts_ev_header *)events[i].data, events[i].ns, 1), 0);
    tui_replay_finish(s);
    return s;
}

static tui_src *open_replay(void) { return open_replay_limits(0, 0); }

static tm_model *reference_at(uint64_t t) {
    tm_model *m = tm_model_new();
    for (size_t i = 0; i < nevents && events[i].ns <= t; i++)
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    tm_model_advance(m, t);
    tm_model_analyze(m);
    return m;
}

/* The recent events s shows for a few tasks are those a fresh table fed
 * every event up to t holds. */
static void assert_same_recent(const tui_src *s, uint64_t t) {
    tui_recent *r = tui_recent_new();
    for (size_t i = 0; i < nevents && events[i].ns <= t; i++)
        tui_recent_note(r, (const ts_ev_header *)events[i].data, events[i].ns);
    for (size_t i = 0, n = 0; i < tm_model_task_count(s->model) && n < 20; i++) {
        const tm_task *x = tm_model_task_at(s->model, i);
        if (!x)
            continue;
        tui_event a[TUI_RECENT_PER_TASK], b[TUI_RECENT_PER_TASK];
        size_t na = tui_recent_get(s->recent, x->id, a, TUI_RECENT_PER_TASK);
        size_t nb = tui_recent_get(r, x->id, b, TUI_RECENT_PER_TASK);
        assert_int_equal(na, nb);
        for (size_t k = 0; k < na; k++) {
            assert_int_equal(a[k].ns, b[k].ns);
            assert_int_equal(a[k].type, b[k].type);
        }
        n++;
    }
    tui_recent_free(r);
}

/* Every task of a (with its times counted to now) is in b alike. */
static void assert_same(const tm_model *a, const tm_model *b) {
    assert_int_equal(tm_model_now(a), tm_model_now(b));
    assert_int_equal(tm_model_task_count(a), tm_model_task_count(b));
    assert_int_equal(tm_model_events(a), tm_model_events(b));
    for (size_t i = 0; i < tm_model_task_count(a); i++) {
        const tm_task *x = tm_model_task_at(a, i);
        if (!x)
            continue;
        const tm_task *y = tm_model_task(b, x->id);
        assert_non_null(y);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->polls, y->polls);
        uint64_t b1, s1, i1, b2, s2, i2;
        tm_task_times(a, x, &b1, &s1, &i1);
        tm_task_times(b, y, &b2, &s2, &i2);
        assert_int_equal(b1, b2);
        assert_int_equal(s1, s2);
        assert_int_equal(i1, i2);
    }
    const tm_resource *r1 = tm_model_resource(a, 0x1000), *r2 = tm_model_resource(b, 0x1000);
    assert_non_null(r1);
    assert_non_null(r2);
    assert_int_equal(r1->holder, r2->holder);
    assert_int_equal(r1->held, r2->held);
}

/* The cursor's path through s; at each stop the model equals a fresh
 * one, and so do the recent events of a few tasks. */
static void check_seeks(tui_src *s) {
    uint64_t span = s->t_end - s->t0;
    /* end, back, forward over checkpoints, back a little, a time between
     * two events (the clock must still read the cursor) */
    uint64_t at[] = {s->t0 + span / 2, s->t0 + span / 10, s->t0 + span * 9 / 10,
                     s->t0 + span * 9 / 10 - 1000000, s->t0 + span / 3 + 333,
                     s->t0 + span / 3 + 100, s->t_end, s->t0};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        tui_replay_seek(s, at[k]);
        assert_int_equal(s->cursor, at[k]);
        assert_int_equal(tui_src_now(s), at[k]);
        assert_int_equal(tm_model_now(s->model), at[k] > s->t0 ? at[k] : s->t0);
        tm_model *ref = reference_at(at[k]);
        assert_same(ref, s->model);
        assert_same(s->model, ref);
        tm_model_free(ref);
        assert_same_recent(s, at[k]);
    }
}

static void test_seek_matches_fresh_model(void **state) {
    (void)state;
    tui_src *s = open_replay();
    check_seeks(s);
    tui_src_close(s);
    free(s);
}

/* Checkpoints within a small budget: snapshots share what did not change,
 * and over budget every other one goes and the spacing doubles; seeks
 * still tell the truth. */
static void test_checkpoint_budget(void **state) {
    (void)state;
    tui_src *wide = open_replay_limits((size_t)1 << 30, 5000);
    uint64_t wide_every = 0;
    size_t wide_n = tui_replay_checkpoints(wide, &wide_every);
    size_t wide_bytes = tui_replay_checkpoint_bytes(wide);
    assert_int_equal(wide_every, 5000);
    assert_true(wide_n >= 50);
    check_seeks(wide);
    tui_src_close(wide);
    free(wide);
    size_t budget = wide_bytes / 5;
    tui_src *s = open_replay_limits(budget, 5000);
    uint64_t every = 0;
    size_t n = tui_replay_checkpoints(s, &every);
    assert_true(every > 5000);      /* thinned */
    assert_true(n >= 2);
    assert_true(tui_replay_checkpoint_bytes(s) <= budget);
    check_seeks(s);
    tui_src_close(s);
    free(s);
}

/* Snapshots sharing task records free in any order; the survivor
 * restores to the model it was taken from, which then goes on alike. */
static void test_snapshot_sharing(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    size_t shared = 0, own1 = 0, own2 = 0;
    for (size_t i = 0; i < nevents / 3; i++)
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    tm_model *a = tm_model_snapshot(m, NULL, &own1, &shared);
    assert_non_null(a);
    size_t after_a = shared;
    assert_true(after_a > 0);
    for (size_t i = nevents / 3; i < nevents / 3 + 50; i++)
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    tm_model *b = tm_model_snapshot(m, a, &own2, &shared);
    assert_non_null(b);
    assert_true(shared - after_a < after_a / 4); /* 50 events change few tasks */
    tm_model_snapshot_free(a, &shared);
    tm_model *c = tm_model_restore(b);
    assert_non_null(c);
    assert_same(m, c);
    assert_same(c, m);
    tm_model_snapshot_free(b, &shared);
    assert_int_equal(shared, 0);
    for (size_t i = nevents / 3 + 50; i < nevents; i++) {
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
        tm_model_apply(c, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    }
    assert_same(m, c);
    tm_model_free(m);
    tm_model_free(c);
}

/* The age of a task at the cursor counts to the cursor, not to the
 * task's last event (the "main shows 50 ms at +1 s"). */
static void test_age_at_cursor(void **state) {
    (void)state;
    tui_src *s = open_replay();
    uint64_t t = s->t0 + (s->t_end - s->t0) / 2 + 777;
    tui_replay_seek(s, t);
    const tm_task *first = tm_model_task(s->model, 1);
    if (first && first->state < TM_DONE) {
        uint64_t busy, sched, idle;
        tm_task_times(s->model, first, &busy, &sched, &idle);
        assert_int_equal(busy + sched + idle, t - first->created_ns);
    }
    size_t checked = 0;
    for (size_t i = 0; i < tm_model_task_count(s->model); i++) {
        const tm_task *x = tm_model_task_at(s->model, i);
        if (!x || x->state >= TM_DONE)
            continue;
        uint64_t busy, sched, idle;
        tm_task_times(s->model, x, &busy, &sched, &idle);
        assert_int_equal(busy + sched + idle, t - x->created_ns);
        checked++;
    }
    assert_true(checked > 0);
    tui_src_close(s);
    free(s);
}

static void test_clone_is_independent(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    size_t half = nevents / 2;
    for (size_t i = 0; i < half; i++)
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    tm_model *c = tm_model_clone(m);
    assert_non_null(c);
    assert_same(m, c);
    /* feed the rest to the clone only, then to the original: equal again */
    for (size_t i = half; i < nevents; i++)
        tm_model_apply(c, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    assert_int_not_equal(tm_model_events(m), tm_model_events(c));
    for (size_t i = half; i < nevents; i++)
        tm_model_apply(m, (const ts_ev_header *)events[i].data, events[i].ns, 1);
    assert_same(m, c);
    tm_model_free(m);
    assert_int_equal(tm_model_task_count(c) > 0, 1); /* the clone outlives it */
    tm_model_free(c);
}

/* Steps of 1, 2, ... 100 us: the percentiles are those of HDR's. */
static void test_watch_percentiles(void **state) {
    (void)state;
    tui_watch w = {0};
    tui_watch_reset(&w, 7, 0);
    uint64_t ns = 1000;
    _Alignas(8) ts_ev_task_resume r = {.h = {.type = TS_EV_task_resume, .size = sizeof r}, .task = 7};
    _Alignas(8) ts_ev_task_suspend su = {.h = {.type = TS_EV_task_suspend, .size = sizeof su},
                                         .task = 7, .kind = 3};
    _Alignas(8) ts_ev_task_wake wk = {.h = {.type = TS_EV_task_wake, .size = sizeof wk}, .task = 7};
    _Alignas(8) ts_ev_task_resume other = {.h = {.type = TS_EV_task_resume, .size = sizeof other},
                                           .task = 8};
    tui_watch_note(&w, &su.h, ns); /* an end whose start was not seen: no sample */
    for (uint64_t k = 1; k <= 100; k++) {
        tui_watch_note(&w, &wk.h, ns);
        ns += 500; /* scheduled 500 ns each time */
        tui_watch_note(&w, &r.h, ns);
        tui_watch_note(&w, &other.h, ns + 1);
        ns += k * 1000;
        tui_watch_note(&w, &su.h, ns);
        ns += 10000;
    }
    assert_int_equal(w.poll.total, 100);
    assert_int_equal(w.sched.total, 100);
    assert_int_equal(w.poll.max, 100000);
    uint64_t p50 = ts_hdr_value_at(&w.poll, 50), p99 = ts_hdr_value_at(&w.poll, 99);
    assert_true(p50 >= 49500 && p50 <= 50500);
    assert_true(p99 >= 98000 && p99 <= 100000);
    assert_true(ts_hdr_value_at(&w.sched, 50) >= 495 && ts_hdr_value_at(&w.sched, 50) <= 505);
    char spark[256];
    uint64_t lo = 0, hi = 0;
    assert_true(tui_watch_sparkline(w.poll_bins, 0, spark, sizeof spark, &lo, &hi) > 0);
    assert_true(lo <= 1000 && hi >= 100000);
    tui_watch_free(&w);
}

/* The replay's watch covers the task's whole life up to the cursor, and
 * is rebuilt after the cursor moves back. */
static void test_replay_watch(void **state) {
    (void)state;
    tui_src *s = open_replay();
    uint64_t quarter = s->t0 + (s->t_end - s->t0) / 4, task = 0;
    for (size_t i = 0; i < tm_model_task_count(s->model) && !task; i++) {
        const tm_task *x = tm_model_task_at(s->model, i);
        if (x && x->state < TM_DONE && x->created_ns < quarter - 10000000)
            task = x->id; /* lives from before the quarter to the end */
    }
    assert_true(task != 0);
    tui_src_watch(s, task);
    uint64_t at_end = s->watch.poll.total;
    const tm_task *t = tm_model_task(s->model, task);
    if (t)
        assert_int_equal(at_end, t->polls);
    assert_true(at_end > 0);
    tui_replay_seek(s, quarter);
    tui_src_watch(s, task);
    t = tm_model_task(s->model, task);
    assert_non_null(t);
    assert_true(s->watch.poll.total < at_end);
    assert_int_equal(s->watch.poll.total, t->polls);
    tui_src_close(s);
    free(s);
}

/* Resource history and recent task events come back newest first, even
 * when noted out of order. */
static void test_recent_order_and_resources(void **state) {
    (void)state;
    tui_recent *r = tui_recent_new();
    _Alignas(8) ts_ev_task_resume a = {.h = {.type = TS_EV_task_resume, .size = sizeof a}, .task = 5};
    tui_recent_note(r, &a.h, 300);
    tui_recent_note(r, &a.h, 100); /* from another thread's batch, older */
    tui_recent_note(r, &a.h, 200);
    tui_event ev[TUI_RECENT_PER_TASK];
    assert_int_equal(tui_recent_get(r, 5, ev, TUI_RECENT_PER_TASK), 3);
    assert_int_equal(ev[0].ns, 300);
    assert_int_equal(ev[1].ns, 200);
    assert_int_equal(ev[2].ns, 100);
    tui_recent *c = tui_recent_clone(r);
    assert_non_null(c);
    tui_recent_free(r);
    assert_int_equal(tui_recent_get(c, 5, ev, TUI_RECENT_PER_TASK), 3);
    _Alignas(8) ts_ev_resource_acquired acq = {
        .h = {.type = TS_EV_resource_acquired, .size = sizeof acq}, .resource = 0x99, .task = 5};
    _Alignas(8) ts_ev_task_suspend wait = {.h = {.type = TS_EV_task_suspend, .size = sizeof wait},
                                           .task = 6, .object = 0x99, .kind = 5};
    tui_recent_note_resource(c, &acq.h, 400);
    tui_recent_note_resource(c, &wait.h, 500);
    assert_int_equal(tui_recent_get(c, 0x99, ev, TUI_RECENT_PER_TASK), 2);
    assert_int_equal(ev[0].type, TS_EV_task_suspend);
    assert_int_equal(ev[0].obj, 6);
    assert_int_equal(ev[1].type, TS_EV_resource_acquired);
    assert_int_equal(ev[1].obj, 5);
    tui_recent_free(c);
}

/* A cancel request is pending until the task moves on after it (the
 * runtime's count stays up: asyncio's cancelling()), and never once the
 * task finished. */
static void test_cancel_pending(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    _Alignas(8) ts_ev_task_create cr = {.h = {.type = TS_EV_task_create, .size = sizeof cr},
                                        .task = 9, .loop = 1};
    _Alignas(8) ts_ev_task_resume re = {.h = {.type = TS_EV_task_resume, .size = sizeof re},
                                        .task = 9};
    _Alignas(8) ts_ev_task_suspend su = {.h = {.type = TS_EV_task_suspend, .size = sizeof su},
                                         .task = 9, .kind = 3};
    _Alignas(8) ts_ev_task_cancel ca = {.h = {.type = TS_EV_task_cancel, .size = sizeof ca},
                                        .task = 9, .requests = 1};
    _Alignas(8) ts_ev_task_wake wk = {.h = {.type = TS_EV_task_wake, .size = sizeof wk},
                                      .task = 9, .status = -125};
    _Alignas(8) ts_ev_task_done dn = {.h = {.type = TS_EV_task_done, .size = sizeof dn},
                                      .task = 9, .state = 5, .err = -125};
    tm_model_apply(m, &cr.h, 1000, 1);
    tm_model_apply(m, &re.h, 2000, 1);
    tm_model_apply(m, &su.h, 3000, 1);
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 0);
    tm_model_apply(m, &ca.h, 4000, 1);
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 1);
    tm_model_apply(m, &wk.h, 5000, 1); /* woken with -ECANCELED: delivered */
    assert_int_equal(tm_model_task(m, 9)->cancel_requests, 1);
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 0);
    tm_model_apply(m, &re.h, 6000, 1);
    tm_model_apply(m, &su.h, 7000, 1); /* swallowed it, waits again */
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 0);
    ca.requests = 2;
    tm_model_apply(m, &ca.h, 8000, 1);
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 2);
    tm_model_apply(m, &wk.h, 9000, 1);
    tm_model_apply(m, &re.h, 9500, 1);
    tm_model_apply(m, &dn.h, 10000, 1);
    assert_int_equal(tui_cancels_pending(tm_model_task(m, 9)), 0);
    tm_model_free(m);
}

static int setup(void **state) {
    (void)state;
    make_recording();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(events);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seek_matches_fresh_model),
        cmocka_unit_test(test_age_at_cursor),
        cmocka_unit_test(test_clone_is_independent),
        cmocka_unit_test(test_checkpoint_budget),
        cmocka_unit_test(test_snapshot_sharing),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_watch_percentiles),
        cmocka_unit_test(test_replay_watch),
        cmocka_unit_test(test_recent_order_and_resources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
