/*
 * test_fdwait.c - black-box tests of ts_wait_fd (loop.h).
 *
 * Covered: a reader parked on a pipe wakes when another task writes;
 * already-ready descriptors return at once; timeouts; hang-up and error
 * conditions wake the waiter (so it can read EOF / get EPIPE); and above
 * all that a wait that ended by timeout or cancellation leaves nothing
 * registered: the same fd can be waited on again, by another task, and
 * even after the fd number was closed and reused for a new pipe.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

static void run_ok(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
    assert_no_diag();
}

static void make_pipe(int p[2]) {
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

typedef struct reader {
    int fd, events;
    double timeout;
    int rc;
    char got[16];
    int finished;
} reader;

static void *wait_and_read(void *arg) {
    reader *r = arg;
    r->rc = ts_wait_fd(r->fd, r->events, r->timeout);
    if (r->rc > 0 && (r->rc & TS_READABLE)) {
        ssize_t n = read(r->fd, r->got, sizeof r->got - 1);
        r->got[n > 0 ? n : 0] = 0;
    }
    r->finished = 1;
    return r->rc < 0 ? ts_fail(r->rc, NULL) : NULL;
}

static void *write_later(void *arg) {
    int fd = (int)PTRI(arg);
    if (ts_sleep(0.01) != 0)
        return ts_fail(-EIO, "sleep");
    return IPTR(write(fd, "ping", 4));
}

static void *body_readable_after_write(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    reader r = {.fd = p[0], .events = TS_READABLE, .timeout = TS_FOREVER};
    ts_task *rt = ts_spawn(wait_and_read, &r);
    ts_task *wt = ts_spawn(write_later, IPTR(p[1]));
    assert_int_equal(ts_sleep(0), 0);
    const void *obj;
    const ts_site *site = NULL;
    assert_int_equal(ts_task_state_of(rt), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_awaiting(rt, &obj, &site), TS_WAIT_FD);
    assert_non_null(site);
    assert_string_equal(site->func, "wait_and_read");
    assert_int_equal(r.finished, 0);
    void *written;
    assert_int_equal(ts_await(wt, &written), 0);
    assert_int_equal(PTRI(written), 4);
    assert_int_equal(ts_await(rt, NULL), 0);
    assert_true(r.rc & TS_READABLE);
    assert_string_equal(r.got, "ping");
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_readable_after_write(void **s) { (void)s; run_ok(body_readable_after_write); }

static void *body_ready_at_once(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    int r = ts_wait_fd(p[1], TS_WRITABLE, TS_FOREVER);
    assert_true(r > 0 && (r & TS_WRITABLE));
    assert_int_equal(write(p[1], "x", 1), 1);
    r = ts_wait_fd(p[0], TS_READABLE, 0);
    assert_true(r > 0 && (r & TS_READABLE));
    /* Both asked, both ready, on a socket with data waiting. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(write(sv[0], "y", 1), 1);
    r = ts_wait_fd(sv[1], TS_READABLE | TS_WRITABLE, 1.0);
    assert_int_equal(r, TS_READABLE | TS_WRITABLE);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_ready_at_once(void **s) { (void)s; run_ok(body_ready_at_once); }

static void *body_timeout(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    double t0 = ts_now();
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0.02), -ETIMEDOUT);
    assert_true(ts_now() - t0 >= 0.02 - 1e-6);
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0), -ETIMEDOUT);
    /* A read end never becomes writable. */
    assert_int_equal(ts_wait_fd(p[0], TS_WRITABLE, 0.005), -ETIMEDOUT);
    /* No registration left behind: data now arrives and is seen. */
    assert_int_equal(write(p[1], "z", 1), 1);
    int r = ts_wait_fd(p[0], TS_READABLE, 1.0);
    assert_true(r > 0 && (r & TS_READABLE));
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_timeout(void **s) { (void)s; run_ok(body_timeout); }

static void *body_hangup(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    reader r = {.fd = p[0], .events = TS_READABLE, .timeout = 5.0};
    ts_task *rt = ts_spawn(wait_and_read, &r);
    assert_int_equal(ts_sleep(0), 0);
    close(p[1]);   /* EOF: the reader must wake to read it */
    assert_int_equal(ts_await(rt, NULL), 0);
    assert_true(r.rc & TS_READABLE);
    assert_string_equal(r.got, "");
    close(p[0]);

    make_pipe(p);
    close(p[0]);   /* writer's peer gone: EPOLLERR must wake a writer */
    int rc = ts_wait_fd(p[1], TS_WRITABLE, 5.0);
    assert_true(rc > 0 && (rc & TS_WRITABLE));
    close(p[1]);
    return NULL;
}
static void test_hangup_and_error_wake(void **s) { (void)s; run_ok(body_hangup); }

/* Cancelled while waiting: then the fd works for a new waiter, and data
 * arriving after the cancelled task is gone touches nothing of it. */
static void *body_cancel_leaves_nothing(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    reader r1 = {.fd = p[0], .events = TS_READABLE, .timeout = TS_FOREVER};
    ts_task *t = ts_spawn(wait_and_read, &r1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(r1.rc, -ECANCELED);
    assert_int_equal(write(p[1], "a", 1), 1);
    assert_int_equal(ts_sleep(0.005), 0);   /* let the loop poll */
    assert_int_equal(r1.got[0], 0);

    reader r2 = {.fd = p[0], .events = TS_READABLE, .timeout = 1.0};
    t = ts_spawn(wait_and_read, &r2);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_true(r2.rc & TS_READABLE);
    assert_string_equal(r2.got, "a");

    /* And once more, by this task, after a timed-out wait. */
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0.001), -ETIMEDOUT);
    assert_int_equal(write(p[1], "b", 1), 1);
    int rc = ts_wait_fd(p[0], TS_READABLE, 1.0);
    assert_true(rc > 0 && (rc & TS_READABLE));
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_cancel_leaves_nothing(void **s) { (void)s; run_ok(body_cancel_leaves_nothing); }

/* Closing an fd drops it from epoll behind the runtime's back; the number
 * then comes back for a new pipe, which must be waitable. */
static void *body_fd_number_reused(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    int num = p[0];
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0.001), -ETIMEDOUT);
    close(p[0]);
    close(p[1]);
    make_pipe(p);
    assert_int_equal(p[0], num);
    reader r = {.fd = p[0], .events = TS_READABLE, .timeout = 5.0};
    ts_task *rt = ts_spawn(wait_and_read, &r);
    ts_task *wt = ts_spawn(write_later, IPTR(p[1]));
    assert_int_equal(ts_await(rt, NULL), 0);
    assert_int_equal(ts_await(wt, NULL), 0);
    assert_string_equal(r.got, "ping");
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_fd_number_reused(void **s) { (void)s; run_ok(body_fd_number_reused); }

static void *body_one_waiter_per_fd(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    reader r1 = {.fd = p[0], .events = TS_READABLE, .timeout = TS_FOREVER};
    ts_task *t1 = ts_spawn(wait_and_read, &r1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 1.0), -EBUSY);
    /* The refused wait did not disturb the first waiter. */
    assert_int_equal(write(p[1], "q", 1), 1);
    assert_int_equal(ts_await(t1, NULL), 0);
    assert_string_equal(r1.got, "q");
    close(p[0]);
    close(p[1]);
    return NULL;
}
static void test_one_waiter_per_fd(void **s) { (void)s; run_ok(body_one_waiter_per_fd); }

static void *body_bad_fds(void *arg) {
    (void)arg;
    assert_int_equal(ts_wait_fd(-1, TS_READABLE, 0.01), -EBADF);
    int p[2];
    make_pipe(p);
    close(p[1]);
    int closed = p[1];
    assert_int_equal(ts_wait_fd(closed, TS_READABLE, 0.01), -EBADF);
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);   /* a regular file */
    assert_true(fd >= 0);
    assert_int_equal(ts_wait_fd(fd, TS_READABLE, 0.01), -EPERM);
    close(fd);
    close(p[0]);
    return NULL;
}
static void test_bad_fds(void **s) { (void)s; run_ok(body_bad_fds); }

static void test_outside_task(void **s) {
    (void)s;
    int p[2];
    make_pipe(p);
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0), TS_ENOTASK);
    close(p[0]);
    close(p[1]);
}

/* A wait that timed out must not leave its registration armed: if the fd
 * is then closed while a dup keeps the old pipe open, and the number is
 * reused for a new pipe, activity on the old pipe must not wake a waiter
 * on the new one. */
static void *write_old_pipe(void *arg) {
    int fd = (int)PTRI(arg);
    if (ts_sleep(0.01) != 0)
        return ts_fail(-EIO, "sleep");
    return IPTR(write(fd, "old", 3));
}

static void *body_no_stale_registration(void *arg) {
    (void)arg;
    int p[2];
    make_pipe(p);
    int num = p[0];
    assert_int_equal(ts_wait_fd(p[0], TS_READABLE, 0.001), -ETIMEDOUT);
    int keep = fcntl(p[0], F_DUPFD_CLOEXEC, 100);   /* old pipe stays open */
    assert_true(keep >= 100);
    close(p[0]);
    int q[2];
    make_pipe(q);
    assert_int_equal(q[0], num);
    ts_task *w = ts_spawn(write_old_pipe, IPTR(p[1]));
    int r = ts_wait_fd(q[0], TS_READABLE, 0.1);
    char c;
    if (r != -ETIMEDOUT)
        fail_msg("woken with %d for an empty pipe (read gives %zd): the old "
                 "pipe's registration fired", r, read(q[0], &c, 1));
    void *written;
    assert_int_equal(ts_await(w, &written), 0);
    assert_int_equal(PTRI(written), 3);
    close(keep);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    return NULL;
}
static void test_no_stale_registration(void **s) { (void)s; run_ok(body_no_stale_registration); }

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
        cmocka_unit_test_teardown(test_readable_after_write, close_leftover_loop),
        cmocka_unit_test_teardown(test_ready_at_once, close_leftover_loop),
        cmocka_unit_test_teardown(test_timeout, close_leftover_loop),
        cmocka_unit_test_teardown(test_hangup_and_error_wake, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_leaves_nothing, close_leftover_loop),
        cmocka_unit_test_teardown(test_fd_number_reused, close_leftover_loop),
        cmocka_unit_test_teardown(test_one_waiter_per_fd, close_leftover_loop),
        cmocka_unit_test_teardown(test_bad_fds, close_leftover_loop),
        cmocka_unit_test_teardown(test_outside_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_no_stale_registration, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
