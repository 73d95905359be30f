/*
 * test_stack_slab.c - black-box tests of slab stacks (runtime/src/stack.c).
 *
 * Covered: thousands of tasks alive at once, each writing its whole usable
 * stack, never see another task's writes (slots do not overlap); stacks of
 * several sizes alive together, and all of them freed again; where the
 * kernel has MADV_GUARD_INSTALL (Linux 6.13), guarded stacks add only a
 * few mappings, not one or two per task, so a million tasks fit under
 * vm.max_map_count.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "harness.h"

const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

enum { N = 2000, FILL = 8 * 1024 };

typedef struct gate {
    ts_event *go;
    int bad;
} gate;

/* Fill a buffer on our stack with our tag, wait until every task has,
 * then check nobody wrote over it. */
static void *fill_and_check(void *arg) {
    gate *g = arg;
    volatile unsigned char buf[FILL];
    unsigned char tag = (unsigned char)(uintptr_t)ts_task_id(ts_current_task());
    for (size_t i = 0; i < FILL; i++)
        buf[i] = tag;
    if (ts_event_wait(g->go))
        return ts_fail(-EIO, "wait");
    for (size_t i = 0; i < FILL; i++)
        if (buf[i] != tag) {
            g->bad++;
            break;
        }
    return NULL;
}

static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static bool kernel_at_least(int major, int minor) {
    struct utsname u;
    int a = 0, b = 0;
    if (uname(&u) || sscanf(u.release, "%d.%d", &a, &b) != 2)
        return false;
    return a > major || (a == major && b >= minor);
}

static void *body_many_stacks(void *arg) {
    (void)arg;
    static ts_task *t[N];
    gate g = {ts_event_new(), 0};
    int maps0 = count_maps();
    for (int i = 0; i < N; i++) {
        ts_spawn_opts o = {.stack_size = i % 3 == 0 ? 128 * 1024 : 0};
        assert_non_null(t[i] = ts_spawn_with(&o, fill_and_check, &g));
    }
    assert_int_equal(ts_sleep(0), 0); /* every task has filled its buffer */
    int maps1 = count_maps();
    ts_event_set(g.go);
    for (int i = 0; i < N; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    assert_int_equal(g.bad, 0);
    if (kernel_at_least(6, 13))
        assert_true(maps1 - maps0 < N / 16);
    ts_event_free(g.go);
    return NULL;
}

static void test_many_stacks(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_many_stacks, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_stacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
