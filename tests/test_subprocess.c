/*
 * test_subprocess.c - tests of process.h, under both ways of waiting for
 * a child (pidfd, and SIGCHLD through signals.c).
 *
 * Covered: echo through stdin/stdout pipes; communicate with input, with
 * stderr separate and merged into stdout; env and cwd; exit codes and
 * death by signal; kill; a missing program is an error of the spawn
 * (-ENOENT) that leaves nothing behind; the child inherits no descriptor
 * but its three streams; the parent leaks none; writing to a child that
 * has exited gives -EPIPE instead of killing us; cancelling a wait or a
 * read leaves the child alone; freeing a running child kills and reaps it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* Descriptors open now, once the loop has run what was pending (a
 * signal dispatcher told to stop closes its signalfd when it runs). */
static int count_fds(void) {
    for (int i = 0; i < 3; i++)
        ts_sleep(0);
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void run_body(ts_task_fn body) {
    diag_reset();
    int err = run_main(body, NULL);
    if (err)
        fail_msg("body failed: %s", ts_strerror(err));
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic: %s", diag_last);
}

static const ts_process_opts piped = {
    .stdin_mode = TS_STDIO_PIPE, .stdout_mode = TS_STDIO_PIPE, .stderr_mode = TS_STDIO_PIPE};

/* Run a shell command to the end; returns its returncode. */
static int shell(const char *cmd, const ts_process_opts *o, const char *in, char **out,
                 char **err) {
    ts_process *p;
    assert_int_equal(ts_process_spawn_shell(cmd, o, &p), 0);
    size_t n;
    assert_int_equal(ts_process_communicate(p, in, in ? strlen(in) : 0, out, &n, err, NULL), 0);
    int rc = 12345;
    assert_int_equal(ts_process_returncode(p, &rc), 0);
    ts_process_free(p);
    return rc;
}

/* ---- bodies ------------------------------------------------------------------ */

static void *body_echo(void *arg) {
    (void)arg;
    int before = count_fds();
    char *argv[] = {"cat", NULL};
    ts_process *p;
    assert_int_equal(ts_process_spawn("cat", argv, &piped, &p), 0);
    assert_true(ts_process_pid(p) > 0);
    assert_int_equal(ts_process_returncode(p, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_process_write(p, "hello\n", 6), 6);
    char buf[64];
    ssize_t n = ts_process_read(p, 1, buf, sizeof buf);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(ts_process_close_stdin(p), 0);
    assert_int_equal(ts_process_close_stdin(p), -EBADF);
    assert_int_equal(ts_process_read(p, 1, buf, sizeof buf), 0); /* EOF */
    assert_int_equal(ts_process_read(p, 2, buf, sizeof buf), 0);
    int rc = -1;
    assert_int_equal(ts_process_wait(p, &rc), 0);
    assert_int_equal(rc, 0);
    assert_int_equal(ts_process_wait(p, &rc), 0); /* again: at once */
    assert_int_equal(ts_process_kill(p, SIGTERM), -ESRCH);
    ts_process_free(p);
    assert_int_equal(count_fds(), before);
    return NULL;
}

static void *body_communicate(void *arg) {
    (void)arg;
    char *out, *err;
    /* More than a pipe holds, both ways, so both must flow at once. */
    size_t big = 1 << 20;
    char *in = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        in[i] = (char)('a' + i % 26);
    in[big] = 0;
    assert_int_equal(shell("tr a-z A-Z", &piped, in, &out, &err), 0);
    assert_int_equal(strlen(out), big);
    for (size_t i = 0; i < big; i += 4099)
        assert_int_equal(out[i], 'A' + (int)(i % 26));
    assert_string_equal(err, "");
    free(in);
    free(out);
    free(err);

    assert_int_equal(shell("echo out; echo err >&2; exit 3", &piped, NULL, &out, &err), 3);
    assert_string_equal(out, "out\n");
    assert_string_equal(err, "err\n");
    free(out);
    free(err);

    ts_process_opts merged = piped;
    merged.stderr_mode = TS_STDIO_STDOUT;
    assert_int_equal(shell("echo out; echo err >&2", &merged, NULL, &out, NULL), 0);
    assert_string_equal(out, "out\nerr\n");
    free(out);

    char *env[] = {"GREETING=bonjour", NULL};
    ts_process_opts o = piped;
    o.env = env;
    o.cwd = "/";
    assert_int_equal(shell("echo $GREETING; pwd", &o, NULL, &out, NULL), 0);
    assert_string_equal(out, "bonjour\n/\n");
    free(out);

    o = (ts_process_opts){.stdout_mode = TS_STDIO_PIPE, .stderr_mode = TS_STDIO_DEVNULL,
                          .stdin_mode = TS_STDIO_DEVNULL};
    assert_int_equal(shell("cat; echo gone >&2; echo done", &o, NULL, &out, NULL), 0);
    assert_string_equal(out, "done\n");
    free(out);
    return NULL;
}

static void *body_exit_and_kill(void *arg) {
    (void)arg;
    assert_int_equal(shell("exit 0", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(shell("exit 42", NULL, NULL, NULL, NULL), 42);
    assert_int_equal(shell("kill -9 $$", NULL, NULL, NULL, NULL), -SIGKILL);

    char *argv[] = {"sleep", "30", NULL};
    ts_process *p;
    assert_int_equal(ts_process_spawn("sleep", argv, NULL, &p), 0);
    assert_int_equal(ts_process_kill(p, SIGTERM), 0);
    int rc = 0;
    assert_int_equal(ts_process_wait(p, &rc), 0);
    assert_int_equal(rc, -SIGTERM);
    assert_int_equal(ts_process_kill(p, SIGTERM), -ESRCH);
    assert_int_equal(ts_process_kill(p, NSIG + 5), -EINVAL);
    ts_process_free(p);
    return NULL;
}

static void *body_missing_program(void *arg) {
    (void)arg;
    int before = count_fds();
    char *argv[] = {"no-such-program-ts", NULL};
    ts_process *p = (ts_process *)1;
    assert_int_equal(ts_process_spawn("no-such-program-ts", argv, &piped, &p), -ENOENT);
    assert_null(p);
    assert_int_equal(ts_process_spawn("/nonexistent/dir/prog", argv, &piped, &p), -ENOENT);
    assert_string_equal(ts_strerror(-ENOENT), "No such file or directory");
    /* A directory is not executable. */
    assert_int_equal(ts_process_spawn("/tmp", argv, NULL, &p), -EACCES);
    assert_int_equal(count_fds(), before);
    /* No child was left running or unreaped. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    ts_process_opts bad = {.stdout_mode = TS_STDIO_STDOUT};
    assert_int_equal(ts_process_spawn("true", argv, &bad, &p), -EINVAL);
    assert_int_equal(count_fds(), before);
    return NULL;
}

/* The child sees only 0, 1 and 2, though we hold the loop's epoll and
 * eventfd, a file, and the pipes of another child. */
static void *body_no_fd_inherited(void *arg) {
    (void)arg;
    ts_file *f;
    assert_int_equal(ts_file_open("/proc/self/status", O_RDONLY, 0, &f), 0);
    char *argv[] = {"cat", NULL};
    ts_process *other;
    assert_int_equal(ts_process_spawn("cat", argv, &piped, &other), 0);
    char *out;
    int rc = shell("cd /proc/self/fd && echo *", &piped, NULL, &out, NULL);
    assert_int_equal(rc, 0);
    /* 3 is the directory the shell's glob reads. */
    assert_string_equal(out, "0 1 2 3\n");
    free(out);
    ts_process_free(other);
    assert_int_equal(ts_file_close(f), 0);
    return NULL;
}

static void *body_epipe(void *arg) {
    (void)arg;
    char *argv[] = {"true", NULL};
    ts_process *p;
    assert_int_equal(ts_process_spawn("true", argv, &piped, &p), 0);
    int rc = -1;
    assert_int_equal(ts_process_wait(p, &rc), 0);
    assert_int_equal(rc, 0);
    /* The reader is gone: EPIPE, and we are still alive. */
    assert_int_equal(ts_process_write(p, "x", 1), -EPIPE);
    sigset_t pending;
    sigpending(&pending);
    assert_false(sigismember(&pending, SIGPIPE));
    ts_process_free(p);
    return NULL;
}

typedef struct waiter {
    ts_process *p;
    int rc, status;
    ssize_t nread;
} waiter;

static void *wait_child(void *arg) {
    waiter *w = arg;
    w->status = ts_process_wait(w->p, &w->rc);
    return NULL;
}

static void *read_child(void *arg) {
    waiter *w = arg;
    char buf[16];
    w->nread = ts_process_read(w->p, 1, buf, sizeof buf);
    return NULL;
}

static void *body_cancel(void *arg) {
    (void)arg;
    char *argv[] = {"sleep", "30", NULL};
    ts_process_opts o = {.stdout_mode = TS_STDIO_PIPE};
    ts_process *p;
    assert_int_equal(ts_process_spawn("sleep", argv, &o, &p), 0);
    waiter w = {.p = p, .status = 1, .nread = 1};
    ts_task *wt = ts_spawn(wait_child, &w);
    ts_task *rt = ts_spawn(read_child, &w);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_sleep(0.01), 0);
    assert_false(ts_task_done(wt));
    ts_task_cancel(wt, NULL);
    ts_task_cancel(rt, NULL);
    assert_int_equal(ts_await(wt, NULL), 0);
    assert_int_equal(ts_await(rt, NULL), 0);
    assert_int_equal(w.status, -ECANCELED);
    assert_int_equal(w.nread, -ECANCELED);
    /* The child runs on, and can still be waited for. */
    assert_int_equal(kill(ts_process_pid(p), 0), 0);
    assert_int_equal(ts_process_returncode(p, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_process_kill(p, SIGKILL), 0);
    int rc = 0;
    assert_int_equal(ts_process_wait(p, &rc), 0);
    assert_int_equal(rc, -SIGKILL);
    ts_process_free(p);
    return NULL;
}

/* Two tasks cannot wait for one child. */
static void *body_busy(void *arg) {
    (void)arg;
    char *argv[] = {"sleep", "30", NULL};
    ts_process *p;
    assert_int_equal(ts_process_spawn("sleep", argv, NULL, &p), 0);
    waiter w = {.p = p, .status = 1};
    ts_task *wt = ts_spawn(wait_child, &w);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_process_wait(p, NULL), -EBUSY);
    ts_process_kill(p, SIGKILL);
    assert_int_equal(ts_await(wt, NULL), 0);
    assert_int_equal(w.status, 0);
    assert_int_equal(w.rc, -SIGKILL);
    ts_process_free(p);
    return NULL;
}

static void *body_free_running(void *arg) {
    (void)arg;
    int before = count_fds();
    char *argv[] = {"sleep", "30", NULL};
    ts_process *p;
    assert_int_equal(ts_process_spawn("sleep", argv, &piped, &p), 0);
    pid_t pid = ts_process_pid(p);
    ts_process_free(p); /* kills; reaps now or on a later spawn/free */
    for (int i = 0; i < 500 && kill(pid, 0) == 0; i++) {
        char *targv[] = {"true", NULL};
        ts_process *q;
        assert_int_equal(ts_process_spawn("true", targv, NULL, &q), 0);
        assert_int_equal(ts_process_wait(q, NULL), 0);
        ts_process_free(q);
        ts_sleep(0.01);
    }
    assert_int_equal(kill(pid, 0), -1); /* gone, zombie included */
    assert_int_equal(errno, ESRCH);
    assert_int_equal(count_fds(), before);
    return NULL;
}

/* Many children at once, each waited for by its own task. */
#define NCHILDREN 20

static void *run_one(void *arg) {
    int i = (int)PTRI(arg);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "echo %d; exit %d", i, i);
    char *out;
    int rc = shell(cmd, &piped, NULL, &out, NULL);
    int ok = rc == i && atoi(out) == i;
    free(out);
    return ok ? NULL : ts_fail(-EIO, "child %d", i);
}

static void *body_many(void *arg) {
    (void)arg;
    ts_task *t[NCHILDREN];
    for (int i = 0; i < NCHILDREN; i++)
        t[i] = ts_spawn(run_one, IPTR(i));
    int errs[NCHILDREN];
    assert_int_equal(ts_gather(t, NCHILDREN, NULL, errs), 0);
    for (int i = 0; i < NCHILDREN; i++)
        assert_int_equal(errs[i], 0);
    return NULL;
}

/* ---- drivers ------------------------------------------------------------------------ */

static int pidfd_mode(void **state) {
    (void)state;
    return setenv("TASKSCOPE_CHILD_WAIT", "pidfd", 1);
}

static int sigchld_mode(void **state) {
    (void)state;
    return setenv("TASKSCOPE_CHILD_WAIT", "sigchld", 1);
}

#define BODY(name)                          \
    static void test_##name(void **state) { \
        (void)state;                        \
        run_body(body_##name);              \
    }
BODY(echo)
BODY(communicate)
BODY(exit_and_kill)
BODY(missing_program)
BODY(no_fd_inherited)
BODY(epipe)
BODY(cancel)
BODY(busy)
BODY(free_running)
BODY(many)

#define TESTS                                                         \
    cmocka_unit_test(test_echo), cmocka_unit_test(test_communicate),  \
        cmocka_unit_test(test_exit_and_kill),                         \
        cmocka_unit_test(test_missing_program),                       \
        cmocka_unit_test(test_no_fd_inherited),                       \
        cmocka_unit_test(test_epipe), cmocka_unit_test(test_cancel),  \
        cmocka_unit_test(test_busy), cmocka_unit_test(test_free_running), \
        cmocka_unit_test(test_many)

int main(void) {
    const struct CMUnitTest tests[] = {TESTS};
    int failed = cmocka_run_group_tests_name("subprocess/pidfd", tests, pidfd_mode, NULL);
    failed += cmocka_run_group_tests_name("subprocess/sigchld", tests, sigchld_mode, NULL);
    return failed;
}
