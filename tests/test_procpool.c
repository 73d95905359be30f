/*
 * test_procpool.c - tests of procpool.h.
 *
 * Covered: results and errors come back from worker processes (not this
 * one); jobs given at once go to different workers; large arguments and
 * results cross the channel intact; a job that aborts, or exits, fails
 * with -ECHILD and a message saying how the worker died, the worker is
 * reaped and replaced and the pool goes on; a worker killed while idle is
 * replaced before use; cancelling a task whose job runs kills that job's
 * worker and replaces it, cancelling one that waits for a worker means its
 * job never runs; oversized arguments are refused; freeing the pool leaves
 * no descriptor and no child behind.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static void run_ok(ts_task_fn body) {
    diag_reset();
    int err = run_main(body, NULL);
    if (err)
        fail_msg("body failed: %s", ts_strerror(err));
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic: %s", diag_last);
}

/* ---- jobs (they run in the workers) ------------------------------------------------- */

static long fib(long n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static int put_long(long v, void **res, size_t *len) {
    long *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = v;
    *res = r;
    *len = sizeof *r;
    return 0;
}

static int fib_job(const void *arg, size_t len, void **res, size_t *res_len) {
    if (len != sizeof(long))
        return -EINVAL;
    return put_long(fib(*(const long *)arg), res, res_len);
}

static int pid_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)arg;
    (void)len;
    return put_long(getpid(), res, res_len);
}

/* Returns its pid once the file named by its argument exists. */
static int gated_pid_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)len;
    struct stat st;
    for (int i = 0; i < 20000 && stat(arg, &st) != 0; i++)
        usleep(1000);
    return put_long(getpid(), res, res_len);
}

static int failing_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)arg, (void)len, (void)res, (void)res_len;
    return -EDOM;
}

static int reverse_job(const void *arg, size_t len, void **res, size_t *res_len) {
    unsigned char *r = malloc(len);
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        r[i] = ((const unsigned char *)arg)[len - 1 - i];
    *res = r;
    *res_len = len;
    return 0;
}

static int abort_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)arg, (void)len, (void)res, (void)res_len;
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    abort();
}

static int exit_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)arg, (void)len, (void)res, (void)res_len;
    _exit(3);
}

/* Sleeps, or until the marker path (the argument) exists. */
static int slow_job(const void *arg, size_t len, void **res, size_t *res_len) {
    (void)len, (void)res, (void)res_len;
    const char *marker = arg;
    FILE *f = fopen(marker, "w"); /* says the job started */
    if (f)
        fclose(f);
    sleep(60);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static ts_procpool *pool;

static long run_long(ts_procpool_fn fn, long arg, int *err) {
    void *res = NULL;
    size_t len = 0;
    *err = ts_procpool_run(pool, fn, &arg, sizeof arg, &res, &len);
    long v = *err == 0 && len == sizeof v ? *(long *)res : -1;
    free(res);
    return v;
}

static void *fib_task(void *arg) {
    int err;
    long v = run_long(fib_job, (long)PTRI(arg), &err);
    return err ? ts_fail(err, "fib") : IPTR(v);
}

static void *gated_pid_task(void *gate) {
    void *res = NULL;
    size_t len = 0;
    int err = ts_procpool_run(pool, gated_pid_job, gate, strlen(gate) + 1, &res, &len);
    long v = err == 0 && len == sizeof v ? *(long *)res : -1;
    free(res);
    return err ? ts_fail(err, "pid") : IPTR(v);
}

static int setup_pool(void **state) {
    (void)state;
    return ts_procpool_new(2, &pool);
}

static int teardown_pool(void **state) {
    (void)state;
    ts_procpool_free(pool);
    pool = NULL;
    return 0;
}

/* ---- bodies ----------------------------------------------------------------------------- */

static void *body_results(void *arg) {
    (void)arg;
    assert_int_equal(ts_procpool_size(pool), 2);
    ts_task *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = ts_spawn(fib_task, IPTR(20 + i));
    void *res[6];
    int errs[6];
    assert_int_equal(ts_gather(t, 6, res, errs), 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(errs[i], 0);
        assert_int_equal(PTRI(res[i]), fib(20 + i));
    }
    /* Two jobs that run at once run in two different workers, not here.
     * Neither ends before the gate opens, so each holds its worker. */
    char gate[256];
    assert_int_equal(test_tmp_path(gate, sizeof gate, "ts_procpool_gate_%d", (int)getpid()), 0);
    unlink(gate);
    t[0] = ts_spawn(gated_pid_task, gate);
    t[1] = ts_spawn(gated_pid_task, gate);
    while (ts_task_state_of(t[0]) != TS_TASK_SUSPENDED ||
           ts_task_state_of(t[1]) != TS_TASK_SUSPENDED)
        assert_int_equal(ts_sleep(0), 0);
    fclose(fopen(gate, "w"));
    assert_int_equal(ts_gather(t, 2, res, NULL), 0);
    unlink(gate);
    assert_true(PTRI(res[0]) > 0 && PTRI(res[1]) > 0);
    assert_int_not_equal(PTRI(res[0]), getpid());
    assert_int_not_equal(PTRI(res[0]), PTRI(res[1]));
    int err;
    assert_int_equal(run_long(failing_job, 0, &err), -1);
    assert_int_equal(err, -EDOM);
    /* A discarded result. */
    long n = 10;
    assert_int_equal(ts_procpool_run(pool, fib_job, &n, sizeof n, NULL, NULL), 0);
    assert_int_equal(ts_procpool_run(pool, fib_job, &n, (size_t)1 << 31, NULL, NULL), -EMSGSIZE);
    assert_string_equal(ts_procpool_last_error(pool), "");
    return NULL;
}

static void *body_large(void *arg) {
    (void)arg;
    size_t len = 8u << 20;
    unsigned char *in = malloc(len);
    for (size_t i = 0; i < len; i++)
        in[i] = (unsigned char)(i * 7 + i / 251);
    void *out;
    size_t out_len;
    assert_int_equal(ts_procpool_run(pool, reverse_job, in, len, &out, &out_len), 0);
    assert_int_equal(out_len, len);
    for (size_t i = 0; i < len; i++)
        if (((unsigned char *)out)[i] != in[len - 1 - i])
            fail_msg("byte %zu differs", i);
    free(out);
    free(in);
    return NULL;
}

static void *body_crash(void *arg) {
    (void)arg;
    int err;
    assert_int_equal(run_long(abort_job, 0, &err), -1);
    assert_int_equal(err, -ECHILD);
    char want[64];
    snprintf(want, sizeof want, "killed by signal %d (", SIGABRT);
    if (!strstr(ts_procpool_last_error(pool), want))
        fail_msg("last error: %s", ts_procpool_last_error(pool));
    assert_int_equal(run_long(exit_job, 0, &err), -1);
    assert_int_equal(err, -ECHILD);
    assert_non_null(strstr(ts_procpool_last_error(pool), "exited with status 3"));
    /* The pool goes on with all its workers. */
    ts_task *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = ts_spawn(fib_task, IPTR(15));
    void *res[4];
    assert_int_equal(ts_gather(t, 4, res, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(PTRI(res[i]), fib(15));
    /* No zombie is left behind. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), 0); /* only live workers */
    return NULL;
}

static void *body_killed_while_idle(void *arg) {
    (void)arg;
    int err;
    pid_t a = (pid_t)run_long(pid_job, 0, &err);
    assert_int_equal(err, 0);
    assert_int_equal(kill(a, SIGKILL), 0);
    /* Wait until it is really dead (without reaping it: that is the
     * pool's job), so that no job can be sent to it while it dies. */
    siginfo_t si = {0};
    for (int i = 0; i < 2000 && si.si_pid != a; i++) {
        waitid(P_PID, (id_t)a, &si, WEXITED | WNOWAIT | WNOHANG);
        ts_sleep(0.002);
    }
    assert_int_equal(si.si_pid, a);
    for (int i = 0; i < 4; i++) { /* whichever worker we get, it works */
        assert_int_equal(run_long(fib_job, 12, &err), fib(12));
        assert_int_equal(err, 0);
    }
    assert_string_equal(ts_procpool_last_error(pool), "");
    return NULL;
}

typedef struct slow {
    char marker[256];
    int rc;
} slow;

static void *slow_task(void *arg) {
    slow *s = arg;
    s->rc = ts_procpool_run(pool, slow_job, s->marker, strlen(s->marker) + 1, NULL, NULL);
    return NULL;
}

static void *body_cancel(void *arg) {
    (void)arg;
    slow s[3] = {0};
    ts_task *t[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(test_tmp_path(s[i].marker, sizeof s[i].marker, "ts_procpool_%d_%d",
                                       (int)getpid(), i),
                         0);
        unlink(s[i].marker);
        s[i].rc = 1;
        t[i] = ts_spawn(slow_task, &s[i]);
    }
    /* Two jobs run (both workers busy); the third waits for a worker. */
    struct stat st;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 2000 && stat(s[i].marker, &st) != 0; k++)
            ts_sleep(0.005);
    assert_int_equal(stat(s[0].marker, &st), 0);
    assert_int_equal(stat(s[1].marker, &st), 0);
    assert_false(ts_task_done(t[2]));
    ts_task_cancel(t[2], NULL);
    assert_int_equal(ts_await(t[2], NULL), 0);
    assert_int_equal(s[2].rc, -ECANCELED);
    /* Running jobs are stopped with their workers. */
    ts_task_cancel(t[0], NULL);
    ts_task_cancel(t[1], NULL);
    assert_int_equal(ts_await(t[0], NULL), 0);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(s[0].rc, -ECANCELED);
    assert_int_equal(s[1].rc, -ECANCELED);
    assert_int_not_equal(stat(s[2].marker, &st), 0); /* never ran */
    for (int i = 0; i < 3; i++)
        unlink(s[i].marker);
    int err;
    assert_int_equal(run_long(fib_job, 20, &err), fib(20));
    assert_int_equal(err, 0);
    return NULL;
}

static void test_lifecycle(void **state) {
    (void)state;
    int fds = count_fds();
    ts_procpool *p;
    assert_int_equal(ts_procpool_new(3, &p), 0);
    assert_int_equal(ts_procpool_size(p), 3);
    assert_int_equal(count_fds(), fds + 6); /* a socket and a pidfd each */
    ts_procpool_free(p);
    assert_int_equal(count_fds(), fds);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    assert_int_equal(ts_procpool_new(0, &p), 0);
    assert_true(ts_procpool_size(p) >= 1);
    ts_procpool_free(p);
    ts_procpool_free(NULL);
}

#define BODY(name)                          \
    static void test_##name(void **state) { \
        (void)state;                        \
        run_ok(body_##name);                \
    }
BODY(results)
BODY(large)
BODY(crash)
BODY(killed_while_idle)
BODY(cancel)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_results, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_large, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_crash, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_killed_while_idle, setup_pool, teardown_pool),
        cmocka_unit_test_setup_teardown(test_cancel, setup_pool, teardown_pool),
        cmocka_unit_test(test_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
