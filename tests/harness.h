/*
 * harness.h - helpers shared by the cmocka tests.
 *
 * run_main(fn, arg) runs fn as the main task of a fresh loop (ts_run) and
 * returns its outcome, so each test body is an ordinary task function.
 * Diagnostics are captured instead of printed, so tests can assert on them.
 * Temporary files go in $TMPDIR, through tmpdir.h.
 */
#ifndef TS_TEST_HARNESS_H
#define TS_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <taskscope/taskscope.h>

#include "tmpdir.h"

#define IPTR(x) ((void *)(intptr_t)(x))
#define PTRI(p) ((intptr_t)(p))

/* Diagnostics seen since the last diag_reset(). */
static int diag_seen[16];
static char diag_last[512];

static void diag_capture(const ts_diag *d, void *arg) {
    (void)arg;
    if ((unsigned)d->kind < 16)
        diag_seen[d->kind]++;
    ts_diag_format(d, diag_last, sizeof diag_last);
}

static inline void diag_reset(void) {
    memset(diag_seen, 0, sizeof diag_seen);
    diag_last[0] = 0;
    ts_set_diag_handler(diag_capture, NULL);
}

static inline int run_main(ts_task_fn fn, void *arg) {
    return ts_run(fn, arg);
}

/* The ported CPython tests (test_cpython_*.c): body runs as the main task
 * with diagnostics captured, and must succeed. */
static inline void run_port(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
}

/* One turn of the loop (asyncio.sleep(0)), which must not be cancelled. */
static inline void yield(void) { assert_int_equal(ts_sleep(0), 0); }

#endif
