/*
 * test_trace_stale.c - segments and process lifetimes, with child
 * processes: a process that exits leaves no segment; one that is killed
 * leaves a segment the reader calls stale; a segment planted for a live
 * pid that does not match the process (start time, mode, owner, version,
 * header) is refused with the right error; a new process with a stale
 * segment under its pid replaces it; and the plain errors (no process, no
 * segment).
 *
 * Children are forked from this (threaded) test process; they only run
 * the runtime and talk to the parent through pipes, never cmocka.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "segimage.h"
#include "trace_harness.h"

/* ---- children ------------------------------------------------------------------------ */

typedef struct child {
    pid_t pid;
    int cmd;    /* parent writes commands */
    int reply;  /* child writes replies */
} child;

static int child_cmd_fd, child_reply_fd;

static void *ticking_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("fresh", noop_main, NULL);
    ts_await(t, NULL);
    ts_debug_flush(); /* the parent reads as soon as we reply */
    char c = 'r';
    if (write(child_reply_fd, &c, 1) != 1)
        _exit(3);
    /* keep the loop alive until told otherwise (or forever: 'k' tests) */
    int flags = fcntl(child_cmd_fd, F_GETFL);
    fcntl(child_cmd_fd, F_SETFL, flags | O_NONBLOCK);
    for (;;) {
        if (read(child_cmd_fd, &c, 1) == 1)
            break;
        ts_sleep(0.005);
    }
    fcntl(child_cmd_fd, F_SETFL, flags);
    return NULL;
}

/* The child: waits for a command; 'l' runs a loop (replying 'r' once it
 * is up, then waiting for any byte), 'x' exits normally. */
static void child_body(void) {
    char c;
    while (read(child_cmd_fd, &c, 1) == 1) {
        if (c == 'l')
            ts_run(ticking_main, NULL);
        else if (c == 'x')
            exit(0); /* atexit handlers run: the segment goes */
    }
    _exit(0);
}

static child spawn_child(void) {
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test must not leave us behind */
        close(a[1]);
        close(b[0]);
        child_cmd_fd = a[0];
        child_reply_fd = b[1];
        child_body();
    }
    close(a[0]);
    close(b[1]);
    return (child){pid, a[1], b[0]};
}

static void tell(child *c, char what) { assert_int_equal(write(c->cmd, &what, 1), 1); }

static void await_reply(child *c) {
    char r = 0;
    assert_int_equal(read(c->reply, &r, 1), 1);
    assert_int_equal(r, 'r');
}

static int reap(child *c) {
    int status = 0;
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    close(c->cmd);
    close(c->reply);
    return status;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int open_err(pid_t pid, char *err, size_t len) {
    ts_reader *rd = NULL;
    int rc = ts_reader_open_pid(&rd, pid, err, len);
    ts_reader_close(rd);
    return rc;
}

static uint64_t start_time_of(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    unsigned long long v = 0;
    char *p = strrchr(buf, ')');
    assert_int_equal(sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
                                   "%*d %*d %*d %*d %*d %llu", &v), 1);
    return v;
}

static void shm_path(pid_t pid, char *buf, size_t len) {
    snprintf(buf, len, "/dev/shm" TS_SEG_NAME_FMT, (int)pid);
}

/* Plant a segment file for pid: a valid image, then `tweak` applied. */
enum { F_GOOD, F_STALE, F_MODE, F_OWNER, F_VERSION, F_MAGIC, F_TRUNCATED, F_OTHER_PID };

static void plant(pid_t pid, int tweak) {
    segimage s;
    seg_init(&s, 2, 4 * TS_PAGE_SIZE);
    seg_story(&s, 0, 5, 1);
    ts_seg_header *h = seg_hdr(&s);
    h->pid = (uint32_t)pid;
    h->start_time = start_time_of(pid) + (tweak == F_STALE);
    if (tweak == F_VERSION)
        h->version = 2;
    if (tweak == F_MAGIC)
        memcpy(h->magic, "NOTOURS!", 8);
    if (tweak == F_OTHER_PID)
        h->pid = 1;
    char path[64];
    shm_path(pid, path, sizeof path);
    unlink(path);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t len = tweak == F_TRUNCATED ? 100 : s.len;
    assert_int_equal(write(fd, s.buf, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, tweak == F_MODE ? 0644 : 0600), 0);
    if (tweak == F_OWNER)
        assert_int_equal(fchown(fd, 65534, 65534), 0);
    close(fd);
    seg_free(&s);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_exit_leaves_nothing(void **state) {
    (void)state;
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    char err[256];
    assert_int_equal(open_err(c.pid, err, sizeof err), 0);
    tell(&c, 'q'); /* ends the loop */
    tell(&c, 'x'); /* exits */
    int status = reap(&c);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[64];
    shm_path(c.pid, path, sizeof path);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESRCH);
    assert_non_null(strstr(err, "no such process"));
}

static void test_killed_leaves_stale(void **state) {
    (void)state;
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    kill(c.pid, SIGKILL);
    int status = reap(&c);
    assert_true(WIFSIGNALED(status));
    char err[256];
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESTALE);
    assert_non_null(strstr(err, "no longer exists"));
    char path[64];
    shm_path(c.pid, path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESRCH);
}

static void test_planted_segments(void **state) {
    (void)state;
    child c = spawn_child(); /* alive, not tracing: no segment of its own */
    char err[256];
    assert_int_equal(open_err(c.pid, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "debug runtime"));
    static const struct {
        int tweak, err;
        const char *says;
    } cases[] = {
        {F_STALE, -ESTALE, "earlier process"},
        {F_MODE, -EACCES, "mode 0644"},
        {F_OWNER, -EACCES, "owned by uid 65534"},
        {F_VERSION, -EPROTONOSUPPORT, "version 2"},
        {F_MAGIC, -EBADMSG, "magic"},
        {F_TRUNCATED, -EBADMSG, "truncated"},
        {F_OTHER_PID, -EBADMSG, "belongs to pid 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].tweak == F_OWNER && geteuid() != 0) {
            fprintf(stderr, "(not root: the foreign-owner case is not tried)\n");
            continue;
        }
        plant(c.pid, cases[i].tweak);
        int rc = open_err(c.pid, err, sizeof err);
        if (rc != cases[i].err || !strstr(err, cases[i].says))
            fprintf(stderr, "case %zu: %d \"%s\"\n", i, rc, err);
        assert_int_equal(rc, cases[i].err);
        assert_non_null(strstr(err, cases[i].says));
    }
    /* a correct one is read like any other */
    plant(c.pid, F_GOOD);
    ts_reader *rd = NULL;
    assert_int_equal(ts_reader_open_pid(&rd, c.pid, err, sizeof err), 0);
    evlog log = {0};
    assert_int_equal(poll_into(rd, &log), 11);
    evlog_free(&log);
    ts_reader_close(rd);
    /* a stale one under the pid of a process that starts tracing now is
     * replaced by the runtime, not trusted or kept */
    plant(c.pid, F_STALE);
    tell(&c, 'l');
    await_reply(&c);
    assert_int_equal(ts_reader_open_pid(&rd, c.pid, err, sizeof err), 0);
    poll_into(rd, &log);
    assert_true(task_named(rd, &log, "fresh") != 0);
    assert_int_equal(task_named(rd, &log, "worker"), 0); /* nothing from the plant */
    evlog_free(&log);
    ts_reader_close(rd);
    tell(&c, 'q');
    tell(&c, 'x');
    reap(&c);
}

/* A child forked after the parent interned the same names and sites: its
 * own segment must still define them (the parent's STRING records are in
 * the parent's segment, not the child's). */
static void *intern_in_parent(void *arg) {
    ts_task *t = ts_spawn_named("fresh", noop_main, NULL);
    ts_await(t, NULL);
    return arg;
}

static void test_fork_child_defines_its_names(void **state) {
    (void)state;
    assert_int_equal(ts_run(intern_in_parent, NULL), 0);
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, c.pid, err, sizeof err), 0);
    evlog log = {0};
    poll_into(rd, &log); /* passively: no state dump to replay the names */
    uint64_t t = task_named(rd, &log, "fresh");
    assert_true(t != 0);
    long k = find_task_event(&log, TS_EV_task_create, t, 0);
    const char *func = NULL;
    assert_int_equal(ts_reader_site(rd, EV(&log.v[k], task_create)->site, NULL, &func, NULL), 0);
    assert_string_equal(func, "ticking_main");
    evlog_free(&log);
    ts_reader_close(rd);
    tell(&c, 'q');
    tell(&c, 'x');
    reap(&c);
}

static void test_bad_pids(void **state) {
    (void)state;
    char err[256];
    assert_int_equal(open_err(-1, err, sizeof err), -EINVAL);
    assert_int_equal(open_err(0, err, sizeof err), -EINVAL);
    child c = spawn_child();
    tell(&c, 'x');
    reap(&c);
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESRCH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_leaves_nothing),
        cmocka_unit_test(test_killed_leaves_stale),
        cmocka_unit_test(test_planted_segments),
        cmocka_unit_test(test_fork_child_defines_its_names),
        cmocka_unit_test(test_bad_pids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
