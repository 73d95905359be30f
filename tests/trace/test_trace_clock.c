/*
 * test_trace_clock.c - the calibration that turns the rings' ticks into
 * nanoseconds holds when the calibrating thread is preempted between its
 * two clock reads, as a loaded machine does at random.
 *
 * clock_gettime is interposed: while armed, every other CLOCK_MONOTONIC
 * read on the armed thread (the odd ones) returns 5 ms late, as if the
 * thread had been preempted just before it.  The process's first loop,
 * which makes the segment and calibrates, runs armed.  Read one after the
 * other, the ticks of the calibration's pair went with a time 5 ms later,
 * and its 2 ms baseline made ns per tick hundreds of times too large: the
 * loop's events were dated up to seconds after the program had ended.
 * Every event of the loop's thread must lie between the clock read before
 * ts_run and the one after it, and none may be dropped as damage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "trace_harness.h"

static atomic_int armed;
static pthread_t armed_thread;
static unsigned armed_calls;

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    if (atomic_load(&armed) && id == CLOCK_MONOTONIC &&
        pthread_equal(pthread_self(), armed_thread) && armed_calls++ % 2 == 1) {
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    return real(id, ts);
}

static uint64_t mono_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *short_task(void *arg) {
    ts_sleep(0.001);
    return arg;
}

static void *calibrated_main(void *arg) {
    (void)arg;
    atomic_store(&armed, 0); /* the loop is made and calibrated by now */
    for (int i = 0; i < 20; i++)
        ts_await(ts_spawn_named("short", short_task, NULL), NULL);
    return NULL;
}

static void test_preempted_calibration(void **state) {
    (void)state;
    uint64_t before = mono_ns();
    armed_thread = pthread_self();
    atomic_store(&armed, 1);
    assert_int_equal(ts_run(calibrated_main, NULL), 0);
    atomic_store(&armed, 0);
    uint64_t after = mono_ns();
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, getpid(), err, sizeof err), 0);
    evlog log = {0};
    while (poll_into(rd, &log) > 0)
        ;
    /* the loop's thread's events (the watchdog goes on after ts_run) */
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    size_t dones = 0;
    for (size_t i = 0; i < log.n; i++) {
        const ts_reader_event *e = &log.v[i].ev;
        if (e->tid != tid)
            continue;
        if (e->ns < before || e->ns > after) {
            fprintf(stderr, "event %zu (type %u) at %+.3f ms of a run of %.3f ms\n", i,
                    (unsigned)e->type, ((double)e->ns - (double)before) / 1e6,
                    (double)(after - before) / 1e6);
            fail();
        }
        dones += e->type == TS_EV_task_done;
    }
    assert_int_equal(dones, 21); /* none dropped as damage: main and its 20 */
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    assert_int_equal(st.corrupt, 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_preempted_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
