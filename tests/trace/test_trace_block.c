/*
 * test_trace_block.c - block detection, read back from this process's
 * own segment: a task that blocks its loop in a 300 ms sleep is seen
 * *while* blocked (loop_blocked: the task, thread state 'S', the sleep's
 * system call, a stack), then loop_unblocked gives the whole duration; a
 * 300 ms CPU spin is seen as busy ('R', no system call) with a stack; a
 * 150 ms step is reported as slow, a quick one is not.
 *
 * Thresholds are the defaults (block 100 ms, slow step = block).  The
 * only durations asserted are lower bounds the scenario guarantees (a
 * 300 ms sleep lasts at least 300 ms), never upper bounds.  A step's
 * duration is measured with the cycle counter and converted with a rate
 * calibrated against CLOCK_MONOTONIC over a short window, which is good
 * to some tens of ppm, not exactly: a 300 ms spin has been reported as
 * 299.99 ms on a loaded machine.  So "at least" allows 0.1%.
 */
#include <sys/syscall.h>
#include <time.h>

#include "trace_harness.h"

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *blocking_sleeper(void *arg) {
    usleep(300000); /* blocks the whole loop: the bug block detection finds */
    return arg;
}

static void *spinner(void *arg) {
    uint64_t end = mono_ns() + (uint64_t)PTRI(arg) * 1000000ull;
    volatile uint64_t x = 0;
    while (mono_ns() < end)
        x++;
    return arg;
}

static void *quick(void *arg) { return arg; }

/* ns is at least ms milliseconds, as far as the tick conversion can tell. */
static int at_least_ms(uint64_t ns, uint64_t ms) { return ns >= ms * 1000000ull - ms * 1000ull; }

static void *run_named(void *arg) {
    const char **spec = arg; /* name, then "sleep" | "spin300" | "spin150" */
    ts_task_fn fn = !strcmp(spec[1], "sleep") ? blocking_sleeper : spinner;
    void *a = !strcmp(spec[1], "spin150") ? IPTR(150) : IPTR(300);
    ts_task *q = ts_spawn_named("quick", quick, NULL);
    ts_task *t = ts_spawn_named(spec[0], fn, a);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(ts_await(q, NULL), 0);
    return NULL;
}

static long find_blocked(const evlog *l, uint64_t task) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].ev.type == TS_EV_loop_blocked && EV(&l->v[i], loop_blocked)->task == task)
            return (long)i;
    return -1;
}

/* Run the scenario and collect what it recorded. */
static ts_reader *run_and_read(const char *name, const char *how, evlog *log) {
    ts_reader *rd = open_self();
    poll_discard(rd);
    const char *spec[2] = {name, how};
    assert_int_equal(ts_run(run_named, spec), 0);
    poll_into(rd, log);
    maybe_dump(rd, log);
    return rd;
}

/* The stack event the loop_blocked at index b refers to, written after
 * it: non-empty, with
 * at least one address inside an executable mapping the trace names. */
static void check_stack(const ts_reader *rd, const evlog *l, long b) {
    uint32_t id = EV(&l->v[b], loop_blocked)->stack;
    assert_int_not_equal(id, 0);
    long s = -1;
    for (size_t i = 0; i < l->n && s < 0; i++)
        if (l->v[i].ev.type == TS_EV_stack && EV(&l->v[i], stack)->id == id)
            s = (long)i;
    /* (after it: the watchdog reports first, then captures the stack) */
    assert_true(s > b);
    const ts_ev_stack *st = EV(&l->v[s], stack);
    assert_true(st->depth >= 1);
    const uint64_t *pcs = (const uint64_t *)(const void *)(st + 1);
    int mapped = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].ev.type != TS_EV_module)
            continue;
        const ts_ev_module *m = EV(&l->v[i], module);
        assert_non_null(ts_reader_string(rd, m->path));
        for (uint32_t k = 0; k < st->depth; k++)
            mapped += pcs[k] >= m->start && pcs[k] < m->end;
    }
    assert_true(mapped >= 1);
}

/* loop_unblocked pairs with loop_blocked by step and comes after it. */
static uint64_t unblocked_after(const evlog *l, long b) {
    const ts_ev_loop_blocked *e = EV(&l->v[b], loop_blocked);
    for (size_t i = (size_t)b + 1; i < l->n; i++)
        if (l->v[i].ev.type == TS_EV_loop_unblocked && EV(&l->v[i], loop_unblocked)->step == e->step) {
            assert_int_equal(EV(&l->v[i], loop_unblocked)->task, e->task);
            assert_int_equal(EV(&l->v[i], loop_unblocked)->loop, e->loop);
            return EV(&l->v[i], loop_unblocked)->duration_ns;
        }
    fail_msg("no loop_unblocked after loop_blocked");
    return 0;
}

static uint64_t slow_step_of(const evlog *l, uint64_t task) {
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].ev.type == TS_EV_slow_step && EV(&l->v[i], slow_step)->task == task)
            return EV(&l->v[i], slow_step)->duration_ns;
    return 0;
}

/* The watchdog is a thread like any other: on a machine loaded enough to
 * keep it off the CPU for the whole 300 ms it cannot see the block while
 * it lasts.  Try a few times before calling that a failure. */
static ts_reader *run_until_blocked(const char *name, const char *how, evlog *log, uint64_t *task,
                                    long *blocked) {
    for (int attempt = 1;; attempt++) {
        ts_reader *rd = run_and_read(name, how, log);
        *task = task_named(rd, log, name);
        *blocked = find_blocked(log, *task);
        if (*blocked >= 0 || attempt == 3)
            return rd;
        fprintf(stderr, "(attempt %d: the watchdog did not see the block; the machine may be "
                        "busy: trying again)\n", attempt);
        evlog_free(log);
        ts_reader_close(rd);
    }
}

static void test_blocking_sleep(void **state) {
    (void)state;
    evlog log = {0};
    uint64_t t;
    long b;
    ts_reader *rd = run_until_blocked("napper", "sleep", &log, &t, &b);
    assert_true(b >= 0);
    const ts_ev_loop_blocked *e = EV(&log.v[b], loop_blocked);
    assert_int_equal(e->thread_state, 'S');
    assert_true(e->syscall == SYS_nanosleep || e->syscall == SYS_clock_nanosleep);
    assert_true(e->elapsed_ns >= 100000000ull);
    assert_int_equal(e->tid, (uint32_t)syscall(SYS_gettid)); /* ts_run runs here */
    assert_int_equal(log.v[b].ev.role, TS_ROLE_WATCHDOG);
    check_stack(rd, &log, b);
    assert_true(at_least_ms(unblocked_after(&log, b), 300));
    assert_true(at_least_ms(slow_step_of(&log, t), 300));
    assert_int_equal(slow_step_of(&log, task_named(rd, &log, "quick")), 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

static void test_busy_spin(void **state) {
    (void)state;
    evlog log = {0};
    uint64_t t;
    long b;
    ts_reader *rd = run_until_blocked("spinner", "spin300", &log, &t, &b);
    assert_true(b >= 0);
    const ts_ev_loop_blocked *e = EV(&log.v[b], loop_blocked);
    assert_int_equal(e->thread_state, 'R');
    assert_int_equal(e->syscall, -1);
    assert_true(e->elapsed_ns >= 100000000ull);
    check_stack(rd, &log, b);
    assert_true(at_least_ms(unblocked_after(&log, b), 300));
    evlog_free(&log);
    ts_reader_close(rd);
}

static void test_slow_step(void **state) {
    (void)state;
    evlog log = {0};
    ts_reader *rd = run_and_read("plodder", "spin150", &log);
    uint64_t t = task_named(rd, &log, "plodder");
    assert_true(at_least_ms(slow_step_of(&log, t), 150));
    assert_int_equal(slow_step_of(&log, task_named(rd, &log, "quick")), 0);
    /* asyncio's "Executing <Task ...> took 0.150 seconds": the step's task
     * and loop are named */
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_slow_step && EV(&log.v[i], slow_step)->task == t)
            assert_int_not_equal(EV(&log.v[i], slow_step)->loop, 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_sleep),
        cmocka_unit_test(test_busy_spin),
        cmocka_unit_test(test_slow_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
