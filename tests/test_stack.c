/*
 * test_stack.c - black-box tests of task stacks (ts_spawn_opts.stack_size,
 * $TASKSCOPE_STACK_SIZE, stack overflow detection).
 *
 * A task must be able to use the stack it asked for, all of it; a request
 * that cannot be met makes ts_spawn return NULL (ENOMEM) instead of
 * handing out a smaller stack; and running off the end of a stack must
 * kill the process with a message naming the task, never corrupt memory
 * silently.
 *
 * The crashing cases run in a fresh copy of this program (fork + exec of
 * this program with a mode argument), so neither cmocka's signal
 * handlers nor earlier tests' state can change what the runtime does; the
 * child's stderr is captured through a pipe.  They are skipped under ASan
 * and valgrind, which take over SIGSEGV and the stack themselves.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND() 0
#endif

#define MIB (1024u * 1024u)

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

/* Fill n bytes of local arrays (one frame up to 1 MiB, then frames of
 * 256 KiB, as valgrind takes a larger single step of the stack pointer
 * for a stack switch) and check they read back: all of it must be mapped,
 * writable stack. */
__attribute__((noinline)) static int fill_stack(size_t n) {
    size_t here = n <= MIB ? n : 256 * 1024;
    volatile unsigned char buf[here];
    for (size_t i = 0; i < here; i++)
        buf[i] = (unsigned char)(i * 7 + n);
    int ok = here == n ? 1 : fill_stack(n - here);
    for (size_t i = 0; i < here; i += 512)
        ok &= buf[i] == (unsigned char)(i * 7 + n);
    return ok;
}

static void *use_stack(void *arg) {
    return IPTR(fill_stack((size_t)PTRI(arg)) ? 1 : -1);
}

static void *spawn_with_stack(size_t stack, size_t use) {
    ts_spawn_opts o = {.name = "stack_user", .stack_size = stack};
    void *res = NULL;
    int r = ts_await(ts_spawn_with(&o, use_stack, IPTR(use)), &res);
    return IPTR(r == 0 ? PTRI(res) : r);
}

static void *body_big_stacks(void *arg) {
    (void)arg;
    assert_int_equal(PTRI(spawn_with_stack(2 * MIB, MIB)), 1);
    assert_int_equal(PTRI(spawn_with_stack(8 * MIB, 6 * MIB)), 1);
    /* An odd size is rounded up, never down. */
    assert_int_equal(PTRI(spawn_with_stack(100000, 90000)), 1);
    /* The default is 256 KiB: most of it is usable. */
    assert_int_equal(PTRI(spawn_with_stack(0, 160 * 1024)), 1);
    /* A tiny request still gives a working task. */
    assert_int_equal(PTRI(spawn_with_stack(1, 64)), 1);
    /* Several big-stack tasks alive at once do not share memory. */
    ts_spawn_opts o = {.stack_size = 2 * MIB};
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn_with(&o, use_stack, IPTR(MIB + 4096 * i));
    for (int i = 0; i < 4; i++) {
        void *res = NULL;
        assert_int_equal(ts_await(t[i], &res), 0);
        assert_int_equal(PTRI(res), 1);
    }
    return NULL;
}

static void test_big_stacks(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_big_stacks, NULL), 0);
    assert_no_diag();
}

static void *body_impossible_stacks(void *arg) {
    (void)arg;
    const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 4096, SIZE_MAX / 2};
    for (int i = 0; i < 3; i++) {
        ts_spawn_opts o = {.stack_size = sizes[i]};
        errno = 0;
        ts_task *t = ts_spawn_with(&o, use_stack, IPTR(64));
        if (t) {
            void *res = NULL;
            int r = ts_await(t, &res);
            fail_msg("stack_size %zu: ts_spawn returned a task, which then "
                     "ended with %d (result %ld)", sizes[i], r, (long)PTRI(res));
        }
        assert_int_equal(errno, ENOMEM);
    }
    return NULL;
}

static void test_impossible_stack_sizes(void **s) {
    (void)s;
    diag_reset();
    assert_int_equal(run_main(body_impossible_stacks, NULL), 0);
    assert_no_diag();
}

/* ---- child processes ------------------------------------------------------ */

static volatile int recursion_limit = -1;   /* never reached */

__attribute__((noinline)) static int recurse(int depth) {
    volatile char pad[256];
    pad[0] = (char)depth;
    if (depth == recursion_limit)
        return pad[0];
    int r = recurse(depth + 1);
    __asm__ volatile("" ::: "memory");
    return r + pad[0];
}

static void *recurse_forever(void *arg) {
    (void)arg;
    return IPTR(recurse(0));
}

static void *idle_task(void *arg) {
    (void)arg;
    ts_sleep(100);
    return NULL;
}

static void *overflow_default(void *arg) {
    (void)arg;
    ts_task *bystander = ts_spawn_named("bystander", idle_task, NULL);
    ts_task *t = ts_spawn_named("deep_recursion", recurse_forever, NULL);
    ts_await(t, NULL);
    ts_task_cancel(bystander, NULL);
    ts_await(bystander, NULL);
    return NULL;
}

static void *overflow_small(void *arg) {
    (void)arg;
    ts_spawn_opts o = {.name = "small_stack_rec", .stack_size = 64 * 1024};
    ts_await(ts_spawn_with(&o, recurse_forever, NULL), NULL);
    return NULL;
}

static void *env_default_stack(void *arg) {
    (void)arg;
    void *res = NULL;
    int r = ts_await(ts_spawn(use_stack, IPTR(MIB)), &res);
    return r == 0 && PTRI(res) == 1 ? NULL : ts_fail(-EIO, "1 MiB did not fit");
}

/* A task near the end of its 64 KiB stack calls a function with a 32 KiB
 * local buffer (an ordinary I/O buffer).  The frame's first write lands
 * ~29 KiB below the stack, beyond a one-page guard, and (the neighbour's
 * stack having been mapped right after) inside another task's stack.  It
 * must fault and be reported, not scribble over another task's memory.
 * (The kernel keeps a 1 MiB gap below the main thread's stack for this.) */
static uintptr_t entry_sp;

__attribute__((noinline)) static int big_frame(void) {
    volatile char big[32 * 1024];
    big[0] = 1;   /* the lowest address first */
    return big[0];
}

__attribute__((noinline)) static int descend(void) {
    volatile char pad[256];
    pad[0] = 1;
    int r = (uintptr_t)&pad[0] > entry_sp - (64 - 3) * 1024 ? descend() : big_frame();
    __asm__ volatile("" ::: "memory");
    return r + pad[0];
}

static void *overflow_by_one_frame(void *arg) {
    (void)arg;
    volatile char here;
    entry_sp = (uintptr_t)&here;
    if (ts_sleep(0.01) != 0)   /* let the neighbour's stack be mapped */
        return NULL;
    return IPTR(descend());
}

static void *neighbour(void *arg) {
    (void)arg;
    ts_sleep(1.0);
    return NULL;
}

static void *overflow_big_frame(void *arg) {
    (void)arg;
    ts_spawn_opts o = {.name = "big_frame_task", .stack_size = 64 * 1024};
    ts_task *t = ts_spawn_with(&o, overflow_by_one_frame, NULL);
    ts_task *n = ts_spawn_named("neighbour", neighbour, NULL);
    ts_await(t, NULL);
    ts_task_cancel(n, NULL);
    ts_await(n, NULL);
    return NULL;
}

/* An overflow on a loop that runs on a second thread (its own signal
 * stack) is reported the same way. */
static void *overflow_thread(void *arg) {
    (void)arg;
    return IPTR(ts_run(overflow_default, NULL));
}

static int overflow_in_thread(void) {
    pthread_t th;
    void *rc;
    if (pthread_create(&th, NULL, overflow_thread, NULL) != 0)
        return 4;
    pthread_join(th, &rc);
    return 3;
}

/* The child side: one scenario, no cmocka; the exit status says it all. */
static int child_main(const char *mode) {
    if (!strcmp(mode, "--overflow-default"))
        return ts_run(overflow_default, NULL) == 0 ? 0 : 3;
    if (!strcmp(mode, "--overflow-small"))
        return ts_run(overflow_small, NULL) == 0 ? 0 : 3;
    if (!strcmp(mode, "--overflow-big-frame"))
        return ts_run(overflow_big_frame, NULL) == 0 ? 0 : 3;
    if (!strcmp(mode, "--overflow-thread"))
        return overflow_in_thread();
    if (!strcmp(mode, "--env-stack"))
        return ts_run(env_default_stack, NULL) == 0 ? 0 : 3;
    return 2;
}

typedef struct child_out {
    int status, timed_out;
    char err[16384];
    size_t len;
} child_out;

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void drain_stderr(int fd, pid_t pid, child_out *out) {
    double give_up = mono_now() + 120;   /* a hang guard, not a timing test */
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left_ms = (int)((give_up - mono_now()) * 1000);
        if (left_ms <= 0 || poll(&pfd, 1, left_ms) == 0) {
            out->timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0)
            break;
        size_t room = sizeof out->err - 1 - out->len;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(out->err + out->len, tmp, k);
        out->len += k;
    }
    out->err[out->len] = 0;
}

/* This program's own path, read before any test runs (valgrind answers
 * readlink for its client, while exec of /proc/self/exe would start the
 * valgrind tool binary). */
static char self_path[4096];

static void run_child(const char *mode, child_out *out) {
    memset(out, 0, sizeof *out);
    assert_true(self_path[0] != 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});
        char *argv[] = {"test_stack", (char *)mode, NULL};
        execv(self_path, argv);
        _exit(127);
    }
    close(p[1]);
    drain_stderr(p[0], pid, out);
    close(p[0]);
    assert_int_equal(waitpid(pid, &out->status, 0), pid);
}

static int skip_crash_tests(void) {
    if (UNDER_ASAN) {
        fprintf(stderr, "skipped: under ASan, which handles SIGSEGV and task "
                        "stacks itself, so the runtime's overflow report "
                        "cannot be observed\n");
        return 1;
    }
    if (UNDER_VALGRIND()) {
        fprintf(stderr, "skipped: under valgrind, which reports the stack "
                        "overflow itself before the runtime can\n");
        return 1;
    }
    return 0;
}

static void expect_overflow_report(const char *mode, const char *task) {
    child_out out;
    run_child(mode, &out);
    assert_int_equal(out.timed_out, 0);
    if (!WIFSIGNALED(out.status))
        fail_msg("%s: child exited with %d instead of dying; stderr:\n%s", mode,
                 WIFEXITED(out.status) ? WEXITSTATUS(out.status) : -1, out.err);
    int sig = WTERMSIG(out.status);
    if (sig != SIGSEGV && sig != SIGABRT)
        fail_msg("%s: child died by signal %d; stderr:\n%s", mode, sig, out.err);
    if (!strcasestr(out.err, "stack overflow") || !strstr(out.err, task))
        fail_msg("%s: stderr does not name the overflow and task '%s':\n%s",
                 mode, task, out.err);
    assert_null(strstr(out.err, "bystander"));
}

static void test_overflow_default_stack(void **s) {
    (void)s;
    if (skip_crash_tests())
        skip();
    expect_overflow_report("--overflow-default", "deep_recursion");
}

static void test_overflow_small_stack(void **s) {
    (void)s;
    if (skip_crash_tests())
        skip();
    expect_overflow_report("--overflow-small", "small_stack_rec");
}

static void test_overflow_big_frame(void **s) {
    (void)s;
    if (skip_crash_tests())
        skip();
    expect_overflow_report("--overflow-big-frame", "big_frame_task");
}

static void test_overflow_in_thread(void **s) {
    (void)s;
    if (skip_crash_tests())
        skip();
    expect_overflow_report("--overflow-thread", "deep_recursion");
}

/* $TASKSCOPE_STACK_SIZE sets the default; run in a child because a
 * runtime that ignores it overflows. */
static void test_env_default_stack(void **s) {
    (void)s;
    setenv("TASKSCOPE_STACK_SIZE", "2097152", 1);
    child_out out;
    run_child("--env-stack", &out);
    unsetenv("TASKSCOPE_STACK_SIZE");
    assert_int_equal(out.timed_out, 0);
    if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != 0)
        fail_msg("child status %#x; stderr:\n%s", out.status, out.err);
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

int main(int argc, char **argv) {
    if (argc > 1)
        return child_main(argv[1]);
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    self_path[n > 0 ? n : 0] = 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_big_stacks, close_leftover_loop),
        cmocka_unit_test_teardown(test_impossible_stack_sizes, close_leftover_loop),
        cmocka_unit_test_teardown(test_overflow_default_stack, close_leftover_loop),
        cmocka_unit_test_teardown(test_overflow_small_stack, close_leftover_loop),
        cmocka_unit_test_teardown(test_overflow_big_frame, close_leftover_loop),
        cmocka_unit_test_teardown(test_overflow_in_thread, close_leftover_loop),
        cmocka_unit_test_teardown(test_env_default_stack, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
