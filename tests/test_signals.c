/*
 * test_signals.c - tests of signals.h.
 *
 * Covered: a signal raised to ourselves runs the handler as a task of its
 * own (which may suspend) with its signo and argument; several handlers of
 * one signal all run; a process-directed SIGTERM drives a graceful
 * shutdown; invalid signals are refused; a signal handled by one loop is
 * refused to another (-EBUSY); removing the last handler, or the loop
 * shutting down, unblocks the signal and closes the signalfd (nothing
 * leaks), also when the dispatcher never got to run; removing and adding
 * again at once keeps the handler working; a failing handler is reported.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static int blocked(int signo) {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, signo);
}

static void run_ok(ts_task_fn body) {
    diag_reset();
    int err = run_main(body, NULL);
    if (err)
        fail_msg("body failed: %s", ts_strerror(err));
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic: %s", diag_last);
}

/* Let the loop run until *flag reaches want (generously). */
static int wait_for_count(const int *flag, int want) {
    for (int i = 0; i < 1000 && *flag < want; i++)
        ts_sleep(0.002);
    return *flag >= want;
}

typedef struct seen {
    int count;
    int signo;
    void *arg_seen;
    ts_task *task;
    char name[32];
} seen;

static void *on_signal(int signo, void *arg) {
    seen *s = arg;
    s->task = ts_current_task();
    snprintf(s->name, sizeof s->name, "%s", ts_task_name(s->task));
    s->signo = signo;
    s->arg_seen = arg;
    if (ts_sleep(0.001) != 0) /* handlers are tasks: they may suspend */
        return ts_fail(-EIO, "sleep");
    s->count++;
    return NULL;
}

static void *body_raise(void *arg) {
    (void)arg;
    int fds = count_fds();
    seen a = {0}, b = {0};
    ts_signal_handler *ha, *hb;
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &a, &ha), 0);
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &b, &hb), 0);
    assert_true(blocked(SIGUSR1));
    assert_int_equal(raise(SIGUSR1), 0);
    assert_true(wait_for_count(&a.count, 1));
    assert_true(wait_for_count(&b.count, 1));
    assert_int_equal(a.signo, SIGUSR1);
    assert_ptr_equal(a.arg_seen, &a);
    assert_ptr_not_equal(a.task, ts_current_task());
    assert_string_equal(a.name, "signal SIGUSR1");
    /* A second delivery is a second task. */
    assert_int_equal(ts_signal_handler_remove(hb), 0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_true(wait_for_count(&a.count, 2));
    assert_int_equal(b.count, 1);
    assert_int_equal(ts_signal_handler_remove(ha), 0);
    for (int i = 0; i < 3; i++)
        ts_sleep(0);
    assert_false(blocked(SIGUSR1));
    assert_int_equal(count_fds(), fds);
    return NULL;
}

/* ---- graceful shutdown ------------------------------------------------------------ */

static void *serve_forever(void *arg) {
    int *stopped = arg;
    int err = ts_sleep(3600);
    *stopped = err == -ECANCELED;
    return err ? ts_fail(err, "server stopped") : NULL;
}

static void *on_sigterm(int signo, void *server) {
    (void)signo;
    ts_task_cancel(server, "SIGTERM");
    return NULL;
}

static void *body_graceful_shutdown(void *arg) {
    (void)arg;
    int stopped = 0;
    ts_task *server = ts_spawn(serve_forever, &stopped);
    ts_signal_handler *h;
    assert_int_equal(ts_signal_handler_add(SIGTERM, on_sigterm, server, &h), 0);
    assert_int_equal(kill(getpid(), SIGTERM), 0); /* process-directed */
    assert_int_equal(ts_await(server, NULL), -ECANCELED);
    assert_true(stopped);
    assert_int_equal(ts_signal_handler_remove(h), 0);
    return NULL;
}

/* ---- refusals ------------------------------------------------------------------------ */

static void *body_invalid(void *arg) {
    (void)arg;
    seen s = {0};
    ts_signal_handler *h = (ts_signal_handler *)1;
    assert_int_equal(ts_signal_handler_add(SIGKILL, on_signal, &s, &h), -EINVAL);
    assert_null(h);
    assert_int_equal(ts_signal_handler_add(SIGSTOP, on_signal, &s, &h), -EINVAL);
    assert_int_equal(ts_signal_handler_add(SIGSEGV, on_signal, &s, &h), -EINVAL);
    assert_int_equal(ts_signal_handler_add(0, on_signal, &s, &h), -EINVAL);
    assert_int_equal(ts_signal_handler_add(NSIG, on_signal, &s, &h), -EINVAL);
    assert_int_equal(ts_signal_handler_add(SIGUSR1, NULL, &s, &h), -EINVAL);
    assert_int_equal(ts_signal_handler_remove(NULL), -EINVAL);
    return NULL;
}

typedef struct other_loop {
    int add_rc;
} other_loop;

static void *other_body(void *arg) {
    other_loop *o = arg;
    seen s = {0};
    ts_signal_handler *h = NULL;
    o->add_rc = ts_signal_handler_add(SIGUSR2, on_signal, &s, &h);
    if (h)
        ts_signal_handler_remove(h);
    return NULL;
}

static void *other_thread(void *arg) {
    ts_run(other_body, arg);
    return NULL;
}

static void *body_busy(void *arg) {
    (void)arg;
    seen s = {0};
    ts_signal_handler *h;
    assert_int_equal(ts_signal_handler_add(SIGUSR2, on_signal, &s, &h), 0);
    other_loop o = {1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, &o), 0);
    pthread_join(th, NULL); /* quick: the other loop only tries to add */
    assert_int_equal(o.add_rc, -EBUSY);
    assert_int_equal(ts_signal_handler_remove(h), 0);
    /* Once given up, another loop may have it. */
    for (int i = 0; i < 3; i++)
        ts_sleep(0);
    assert_int_equal(pthread_create(&th, NULL, other_thread, &o), 0);
    pthread_join(th, NULL);
    assert_int_equal(o.add_rc, 0);
    return NULL;
}

/* ---- lifetimes --------------------------------------------------------------------------- */

static void *body_add_remove_at_once(void *arg) {
    (void)arg;
    int fds = count_fds();
    seen s = {0};
    ts_signal_handler *h;
    /* The dispatcher never runs before it is stopped. */
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &s, &h), 0);
    assert_int_equal(ts_signal_handler_remove(h), 0);
    for (int i = 0; i < 3; i++)
        ts_sleep(0);
    assert_false(blocked(SIGUSR1));
    assert_int_equal(count_fds(), fds);
    /* Stopped, then a handler added again before the dispatcher noticed. */
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &s, &h), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_signal_handler_remove(h), 0);
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &s, &h), 0);
    for (int i = 0; i < 3; i++)
        ts_sleep(0);
    assert_int_equal(raise(SIGUSR1), 0);
    assert_true(wait_for_count(&s.count, 1));
    assert_int_equal(ts_signal_handler_remove(h), 0);
    return NULL;
}

static ts_signal_handler *left_over;
static seen left_seen;

static void *body_left_registered(void *arg) {
    (void)arg;
    assert_int_equal(ts_signal_handler_add(SIGUSR1, on_signal, &left_seen, &left_over), 0);
    assert_int_equal(ts_sleep(0), 0);
    return NULL; /* ts_run cancels the dispatcher on the way out */
}

static void test_left_registered(void **state) {
    (void)state;
    int fds = count_fds();
    run_ok(body_left_registered);
    assert_false(blocked(SIGUSR1));
    assert_int_equal(count_fds(), fds);
    assert_int_equal(ts_signal_handler_remove(left_over), 0); /* after the loop */
}

static void *on_signal_fails(int signo, void *arg) {
    (void)arg;
    return ts_fail(-EIO, "handler for %d failed", signo);
}

static void *body_failing_handler(void *arg) {
    (void)arg;
    ts_signal_handler *h;
    assert_int_equal(ts_signal_handler_add(SIGUSR2, on_signal_fails, NULL, &h), 0);
    raise(SIGUSR2);
    for (int i = 0; i < 1000 && !diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED]; i++)
        ts_sleep(0.002);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 1);
    assert_non_null(strstr(diag_last, "signal SIGUSR2"));
    assert_int_equal(ts_signal_handler_remove(h), 0);
    return NULL;
}

static void test_failing_handler(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(body_failing_handler, NULL), 0);
}

#define BODY(name)                          \
    static void test_##name(void **state) { \
        (void)state;                        \
        run_ok(body_##name);                \
    }
BODY(raise)
BODY(graceful_shutdown)
BODY(invalid)
BODY(busy)
BODY(add_remove_at_once)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raise),          cmocka_unit_test(test_graceful_shutdown),
        cmocka_unit_test(test_invalid),        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_add_remove_at_once), cmocka_unit_test(test_left_registered),
        cmocka_unit_test(test_failing_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
