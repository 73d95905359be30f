/*
 * test_fpenv.c - every task keeps its own floating-point control state.
 *
 * The x86-64 ABI makes MXCSR's control bits and the x87 control word
 * callee-saved, so a context switch must carry them, as it carries the
 * callee-saved registers: a task that changes its rounding mode must not
 * change its neighbours', nor the loop's.  A new task starts with the
 * loop thread's state, as a new thread starts with its creator's.
 * fesetround() sets both the x87 and the SSE rounding mode on x86-64.
 * AAPCS64 keeps FPCR out of the callee-saved state, and so does the
 * AArch64 switch: there the tests are skipped.
 */
#include <fenv.h>
#include <stdio.h>

#include "harness.h"

/* Rounding a value that needs it, in the current SSE mode: 1/3 rounds
 * down under FE_DOWNWARD and up under FE_UPWARD. */
static int sse_rounding_seen(void) {
    /* volatile: the compiler, assuming round-to-nearest, would fold these */
    volatile double one = 1.0, minus_one = -1.0, three = 3.0;
    double lo = one / three;
    double hi = -(minus_one / three);
    return lo == hi ? 0 : lo < hi ? -1 : 1;
}

struct mode_task {
    int mode;         /* the rounding mode this task sets */
    int seen_first;   /* what it found when it started */
    int kept;         /* 1 if its mode survived every switch */
};

static void *set_and_yield(void *arg) {
    struct mode_task *m = arg;
    m->seen_first = fegetround();
    fesetround(m->mode);
    m->kept = 1;
    for (int i = 0; i < 20; i++) {
        ts_sleep(i % 4 == 0 ? 0.001 : 0);
        if (fegetround() != m->mode)
            m->kept = 0;
    }
    return NULL;
}

static void *two_modes(void *arg) {
    (void)arg;
    struct mode_task up = {.mode = FE_UPWARD}, down = {.mode = FE_DOWNWARD};
    ts_task *a = ts_spawn(set_and_yield, &up);
    ts_task *b = ts_spawn(set_and_yield, &down);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_int_equal(up.seen_first, FE_TONEAREST);
    assert_int_equal(down.seen_first, FE_TONEAREST);
    assert_int_equal(up.kept, 1);
    assert_int_equal(down.kept, 1);
    /* the main task's own mode was never touched */
    assert_int_equal(fegetround(), FE_TONEAREST);
    return NULL;
}

static void test_each_task_keeps_its_rounding_mode(void **state) {
    (void)state;
    assert_int_equal(fegetround(), FE_TONEAREST);
    assert_int_equal(run_main(two_modes, NULL), 0);
    assert_int_equal(fegetround(), FE_TONEAREST);
}

static void *check_inherited(void *arg) {
    *(int *)arg = fegetround();
    return NULL;
}

/* The loop thread runs with FE_TOWARDZERO: tasks start with it. */
static void test_new_task_starts_with_loop_threads_mode(void **state) {
    (void)state;
    fesetround(FE_TOWARDZERO);
    int seen = -1;
    int err = run_main(check_inherited, &seen);
    int after = fegetround();
    fesetround(FE_TONEAREST);
    assert_int_equal(err, 0);
    assert_int_equal(seen, FE_TOWARDZERO);
    assert_int_equal(after, FE_TOWARDZERO);
}

static void *round_in_task(void *arg) {
    struct mode_task *m = arg;
    fesetround(m->mode);
    ts_sleep(0);
    m->kept = sse_rounding_seen();
    return NULL;
}

/* The SSE unit itself (MXCSR), not only what fegetround() reports. */
static void *sse_modes(void *arg) {
    (void)arg;
    struct mode_task up = {.mode = FE_UPWARD}, down = {.mode = FE_DOWNWARD};
    ts_task *a = ts_spawn(round_in_task, &up);
    ts_task *b = ts_spawn(round_in_task, &down);
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_int_equal(up.kept, 1);
    assert_int_equal(down.kept, -1);
    return NULL;
}

static void test_sse_rounding_follows_the_task(void **state) {
    (void)state;
    assert_int_equal(run_main(sse_modes, NULL), 0);
}

int main(void) {
#if !defined(__x86_64__)
    printf("test_fpenv: skipped: the switch keeps FP control state on x86-64 only\n");
    return 77;
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_task_keeps_its_rounding_mode),
        cmocka_unit_test(test_new_task_starts_with_loop_threads_mode),
        cmocka_unit_test(test_sse_rounding_follows_the_task),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
