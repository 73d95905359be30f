/*
 * test_model_blocked_order.c - blocked episodes (tracer/model.c) from
 * events in the order a reader may get them: the loop's ring and the
 * watchdog's are read one after the other, so a step's end (the loop's
 * loop_unblocked, slow_step, its next steps) can come before the
 * watchdog's loop_blocked of it.  The episode is then over, with the
 * loop's duration, listed once, and never shown BLOCKED NOW (a passive
 * `top` kept one up until the loop's next step, 300 ms later).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

#define MS 1000000ull

static void apply(tm_model *m, void *rec, uint16_t type, size_t size, uint64_t ns) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    tm_model_apply(m, h, ns, 1);
}

static tm_model *with_task(uint64_t task, uint64_t ns) {
    tm_model *m = tm_model_new();
    assert_non_null(m);
    ts_ev_loop_create l = {.loop = 1, .tid = 1};
    apply(m, &l, TS_EV_loop_create, sizeof l, ns);
    ts_ev_task_create c = {.task = task, .loop = 1};
    apply(m, &c, TS_EV_task_create, sizeof c, ns);
    ts_ev_task_resume r = {.task = task};
    apply(m, &r, TS_EV_task_resume, sizeof r, ns);
    return m;
}

static void blocked(tm_model *m, uint64_t task, uint64_t step, uint64_t ns) {
    ts_ev_loop_blocked e = {.loop = 1, .task = task, .elapsed_ns = 100 * MS, .step = step,
                            .tid = 1, .thread_state = 'R', .syscall = -1};
    apply(m, &e, TS_EV_loop_blocked, sizeof e, ns);
}

static void unblocked(tm_model *m, uint64_t task, uint64_t step, uint64_t dur, uint64_t ns) {
    ts_ev_loop_unblocked e = {.loop = 1, .task = task, .duration_ns = dur, .step = step};
    apply(m, &e, TS_EV_loop_unblocked, sizeof e, ns);
}

static void slow(tm_model *m, uint64_t task, uint64_t dur, uint64_t ns) {
    ts_ev_slow_step e = {.loop = 1, .task = task, .duration_ns = dur};
    apply(m, &e, TS_EV_slow_step, sizeof e, ns);
}

static size_t warnings_of(const tm_model *m, tm_warning_kind k) {
    size_t n = 0;
    for (size_t i = 0; i < tm_model_warning_count(m); i++)
        n += tm_model_warning_at(m, i)->kind == k;
    return n;
}

/* In order: ongoing at the report, ended by loop_unblocked. */
static void in_order(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    blocked(m, 2, 7, 1100 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    assert_int_equal(tm_model_blocked_at(m, 0)->duration_ns, 0);
    unblocked(m, 2, 7, 113 * MS, 1113 * MS);
    slow(m, 2, 113 * MS, 1113 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    assert_int_equal(tm_model_blocked_at(m, 0)->duration_ns, 113 * MS);
    tm_model_free(m);
}

/* The end (and the slow step) first: one episode, over, 113 ms, and
 * one warning, of a blocked loop. */
static void end_first(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    unblocked(m, 2, 7, 113 * MS, 1113 * MS);
    slow(m, 2, 113 * MS, 1113 * MS);
    blocked(m, 2, 7, 1100 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    const tm_blocked *b = tm_model_blocked_at(m, 0);
    assert_false(b->slow_only);
    assert_int_equal(b->duration_ns, 113 * MS);
    assert_false(b->end_unseen);
    assert_int_equal(warnings_of(m, TM_WARN_BLOCKED), 1);
    assert_int_equal(warnings_of(m, TM_WARN_SLOW_STEP), 0);
    tm_model_free(m);
}

/* The end first and the slow step after the report (the loop publishes
 * loop_unblocked at once, slow_step with its next batch). */
static void end_report_slow(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    unblocked(m, 2, 7, 113 * MS, 1113 * MS);
    blocked(m, 2, 7, 1100 * MS);
    slow(m, 2, 113 * MS, 1113 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    assert_int_equal(tm_model_blocked_at(m, 0)->duration_ns, 113 * MS);
    tm_model_free(m);
}

/* The end lost, but the loop's next step read before the report: over
 * (its length known only as far as the watchdog saw), not ongoing; the
 * task that has since suspended is not made running again. */
static void later_step_first(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    ts_ev_task_suspend s = {.task = 2, .kind = 3};
    apply(m, &s, TS_EV_task_suspend, sizeof s, 1113 * MS);
    ts_ev_task_create c = {.task = 3, .loop = 1};
    apply(m, &c, TS_EV_task_create, sizeof c, 1114 * MS);
    ts_ev_task_resume r = {.task = 3};
    apply(m, &r, TS_EV_task_resume, sizeof r, 1115 * MS);
    blocked(m, 2, 7, 1100 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    const tm_blocked *b = tm_model_blocked_at(m, 0);
    assert_int_equal(b->duration_ns, 100 * MS);
    assert_true(b->end_unseen);
    assert_int_not_equal(tm_model_task(m, 2)->state, TM_RUNNING);
    tm_model_free(m);
}

/* The step ended while the watchdog reported it (the loop then writes
 * no loop_unblocked, only its slow_step), and the slow step and the
 * loop's next step were read before the report: one episode, over, the
 * slow step's length. */
static void no_end_slow_first(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    slow(m, 2, 101 * MS, 1101 * MS);
    ts_ev_task_create c = {.task = 3, .loop = 1};
    apply(m, &c, TS_EV_task_create, sizeof c, 1102 * MS);
    ts_ev_task_resume r = {.task = 3};
    apply(m, &r, TS_EV_task_resume, sizeof r, 1102 * MS);
    blocked(m, 2, 7, 1100 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    const tm_blocked *b = tm_model_blocked_at(m, 0);
    assert_false(b->slow_only);
    assert_false(b->end_unseen);
    assert_int_equal(b->duration_ns, 101 * MS);
    assert_int_equal(warnings_of(m, TM_WARN_BLOCKED), 1);
    assert_int_equal(warnings_of(m, TM_WARN_SLOW_STEP), 0);
    tm_model_free(m);
}

/* An end whose report never comes (lost) hides nothing: its slow step
 * is listed. */
static void report_lost(void **state) {
    (void)state;
    tm_model *m = with_task(2, 1000 * MS);
    unblocked(m, 2, 7, 113 * MS, 1113 * MS);
    slow(m, 2, 113 * MS, 1113 * MS);
    assert_int_equal(tm_model_blocked_count(m), 1);
    assert_true(tm_model_blocked_at(m, 0)->slow_only);
    tm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order),        cmocka_unit_test(end_first),
        cmocka_unit_test(end_report_slow), cmocka_unit_test(later_step_first),
        cmocka_unit_test(no_end_slow_first), cmocka_unit_test(report_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
