/*
 * test_why_steps_synth.c - `why` answers the same from the step summary
 * (task_steps, tracer/why_steps.c) as from the steps themselves, on the
 * benchmarks' synthetic recording (bench/synth_rec.c, 300,000 events):
 * task 1 is runnable from its spawn to the end while thousands of tasks
 * live their whole lives inside that span (the summary's rows taken as
 * they are), and every worker's short spans cut through a thousand
 * others' lives (their steps read through the task indexes).  Each answer
 * (why_task, depth 2, printed as JSON) with the summary used for every
 * span (TASKSCOPE_WHY_STEPS_MIN=0) must equal the one with it never used,
 * byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "synth_rec.h"
#include "why.h"

static char path[4096];
static uint64_t ntasks;

/* Task t's answer as JSON, malloc'd; the summary used from spans of
 * steps_min events. */
static char *answer(uint64_t t, const char *steps_min) {
    setenv("TASKSCOPE_WHY_STEPS_MIN", steps_min, 1);
    char err[256];
    why_ctx *c = why_open(path, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(why_pick_pid(c, t), 0);
    uint64_t t0, t1;
    why_node *n = why_task(c, t, 2, &t0, &t1);
    assert_non_null(n);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    why_print_json(f, c, n, t1 - t0);
    fclose(f);
    why_node_free(n);
    why_close(c);
    return buf;
}

static void same_answers(void **state) {
    (void)state;
    uint64_t picks[] = {1, 2, 3, 500, ntasks / 2, ntasks - 2};
    for (size_t i = 0; i < sizeof picks / sizeof *picks; i++) {
        char *with = answer(picks[i], "0");
        char *without = answer(picks[i], "9223372036854775807");
        if (strcmp(with, without) != 0)
            fail_msg("task %llu: with the summary\n%s\nwithout\n%s",
                     (unsigned long long)picks[i], with, without);
        if (picks[i] == 1) /* thousands ran meanwhile: the folded node */
            assert_non_null(strstr(with, "\"task\":0"));
        free(with);
        free(without);
    }
}

int main(void) {
    if (synth_temp_path(path, sizeof path, "test_why_steps"))
        return 1;
    uint64_t events = 0;
    if (synth_recording(path, 300000, SYNTH_LOCK, "test_why_steps_synth", &events, &ntasks)) {
        unlink(path);
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(same_answers)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return rc;
}
