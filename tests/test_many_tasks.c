/*
 * test_many_tasks.c - 100,000 tasks alive at once.
 *
 * Every task sleeps, then parks on a gate the main task holds closed, so
 * all of them are provably alive (started, suspended, holding a stack)
 * at the moment the process's memory map is counted.  The count must stay
 * below 60,000 lines: the default vm.max_map_count is 65,530, so a runtime
 * that gives each stack its own mapping (or its own guard-page split)
 * cannot run this many tasks.  Then the gate opens and every result is
 * checked.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "loop_impl.h" /* the task record cache */

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND() 0
#endif

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

enum { NTASKS = 100000, MAX_MAPS = 60000 };

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

/* Lines in /proc/self/maps, i.e. the number of mappings. */
static long count_maps(void) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    long lines = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

typedef struct shared {
    ts_future *gate;
    int started, slept;
} shared;

static shared S;

static void *worker(void *arg) {
    intptr_t i = PTRI(arg);
    S.started++;
    int r = ts_sleep(0.001 * (double)(i % 10));
    if (r)
        return ts_fail(r, "sleep %ld", (long)i);
    S.slept++;
    r = ts_future_await(S.gate, NULL);
    if (r)
        return ts_fail(r, "gate %ld", (long)i);
    return IPTR(i * 2 + 1);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void *body_many(void *arg) {
    (void)arg;
    ts_task **t = calloc(NTASKS, sizeof *t);
    uint64_t *ids = calloc(NTASKS, sizeof *ids);
    assert_non_null(t);
    assert_non_null(ids);
    S = (shared){.gate = ts_future_new()};
    for (int i = 0; i < NTASKS; i++) {
        t[i] = ts_spawn(worker, IPTR(i));
        if (!t[i])
            fail_msg("spawn %d failed: errno %d, %ld mappings", i, errno,
                     count_maps());
        ids[i] = ts_task_id(t[i]);
    }
    for (int i = 0; i < 100000 && S.slept < NTASKS; i++)
        assert_int_equal(ts_sleep(0.001), 0);
    assert_int_equal(S.started, NTASKS);
    assert_int_equal(S.slept, NTASKS);

    long maps = count_maps();
    fprintf(stderr, "%d tasks alive, %ld mappings\n", NTASKS, maps);
    assert_true(maps > 0);
    if (maps >= MAX_MAPS)
        fail_msg("%ld mappings with %d tasks alive (limit %d)", maps, NTASKS,
                 MAX_MAPS);
    assert_int_equal(ts_all_tasks(NULL, NULL, 0), NTASKS + 1);
    for (int i = 0; i < NTASKS; i += 997)
        assert_int_equal(ts_task_state_of(t[i]), TS_TASK_SUSPENDED);

    assert_int_equal(ts_future_set_result(S.gate, NULL), 0);
    int bad = 0;
    for (int i = 0; i < NTASKS; i++) {
        void *res = NULL;
        if (ts_await(t[i], &res) != 0 || PTRI(res) != (intptr_t)i * 2 + 1)
            bad++;
    }
    assert_int_equal(bad, 0);
    assert_int_equal(ts_all_tasks(NULL, NULL, 0), 1);

    qsort(ids, NTASKS, sizeof *ids, cmp_u64);
    for (int i = 1; i < NTASKS; i++)
        assert_true(ids[i] != ids[i - 1]);
    ts_future_free(S.gate);
    free(ids);
    free(t);
    return NULL;
}

static void test_many_tasks_alive(void **s) {
    (void)s;
    if (UNDER_VALGRIND()) {
        /* Valgrind stops with "VG_N_SEGMENTS is too low": its own table of
         * mappings cannot hold one per stack for 100k stacks. */
        fprintf(stderr, "skipped: valgrind cannot track %d stack mappings "
                        "(VG_N_SEGMENTS); the waves test covers valgrind\n",
                NTASKS);
        skip();
    }
    diag_reset();
    assert_int_equal(run_main(body_many, NULL), 0);
    assert_no_diag();
}

static int finished;
static void *finish_fast(void *arg) {
    (void)arg;
    int r = ts_sleep(0);
    finished++;
    return r ? ts_fail(r, NULL) : NULL;
}

/* Waves of short-lived tasks: stacks are given back and reused, so the
 * map stays small however many tasks have lived. */
static void *body_waves(void *arg) {
    (void)arg;
    enum { WAVE = 20000, WAVES = 5 };
    ts_task **t = calloc(WAVE, sizeof *t);
    assert_non_null(t);
    finished = 0;
    for (int w = 0; w < WAVES; w++) {
        for (int i = 0; i < WAVE; i++) {
            t[i] = ts_spawn(finish_fast, NULL);
            assert_non_null(t[i]);
        }
        for (int i = 0; i < WAVE; i++)
            assert_int_equal(ts_await(t[i], NULL), 0);
        assert_true(count_maps() < MAX_MAPS);
    }
    assert_int_equal(finished, WAVE * WAVES);
    free(t);
    return NULL;
}

static void test_waves_reuse_memory(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_waves, NULL), 0);
    assert_no_diag();
}

/* A burst of records is cached while bursts follow each other, and
 * given back once the loop waits: the cache must not keep a past peak. */
static void *body_burst_then_wait(void *arg) {
    (void)arg;
    enum { BURST = 20000 };
    ts_task **t = calloc(BURST, sizeof *t);
    assert_non_null(t);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < BURST; i++)
            assert_non_null(t[i] = ts_spawn(finish_fast, NULL));
        for (int i = 0; i < BURST; i++)
            assert_int_equal(ts_await(t[i], NULL), 0);
        /* back to back: the second burst found the first one's records */
        assert_true(ts_loop_current()->nfree_tasks >= BURST / 2);
    }
    free(t);
    ts_sleep(0.001); /* the loop waits */
    assert_true(ts_loop_current()->nfree_tasks <= TS_TASK_RECORDS_KEPT_IDLE);
    return NULL;
}

static void test_burst_records_released_when_idle(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_burst_then_wait, NULL), 0);
    assert_no_diag();
}

/* After a failed assertion outside a task, close the loop the test left
 * open so the next test starts clean.  (A failure inside a task leaves its
 * loop running; later tests in the file then fail with -EBUSY: run one
 * test alone with TS_TEST_FILTER=name.) */
static int close_leftover_loop(void **state) {
    (void)state;
    ts_loop *l = ts_loop_current();
    if (l && !ts_loop_is_running(l))
        ts_loop_close(l);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_many_tasks_alive, close_leftover_loop),
        cmocka_unit_test_teardown(test_waves_reuse_memory, close_leftover_loop),
        cmocka_unit_test_teardown(test_burst_records_released_when_idle, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
