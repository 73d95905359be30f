/*
 * test_trace_stale.c - segments and process lifetimes, with child
 * processes.  The segment is a sealed memfd (no name in /dev/shm), so:
 * nothing is left behind by a process that exits or is killed; a reader
 * that holds the segment keeps reading it after a SIGKILL; nobody can
 * truncate or grow it; a segment that does not match the process (start
 * time, mode, owner, seals, version, header) is refused with the right
 * error; and the plain errors (no process, no segment).
 *
 * Children are forked from this (threaded) test process; they only run
 * the runtime and talk to the parent through pipes, never cmocka.
 */
#include <dirent.h>
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

/* The names in /dev/shm, as one sorted-free string (order as readdir
 * gives it is stable enough for an equality check within one test). */
static size_t dev_shm_taskscope_entries(void) {
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "taskscope", 9))
            n++;
    closedir(d);
    return n;
}

/* The descriptor number of pid's segment, as a path under /proc, or "". */
static void segment_fd_path(pid_t pid, char *buf, size_t len) {
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    buf[0] = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[256];
        ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = 0;
        if (!strncmp(link, "/memfd:" TS_SEG_NAME_PREFIX, 7 + strlen(TS_SEG_NAME_PREFIX))) {
            snprintf(buf, len, "%s/%s", dir, e->d_name);
            break;
        }
    }
    closedir(d);
}

/* A segment made here for pid: a valid image, then `tweak` applied. */
enum { F_GOOD, F_STALE, F_MODE, F_OWNER, F_VERSION, F_MAGIC, F_TRUNCATED, F_OTHER_PID,
       F_UNSEALED };

static int plant(pid_t pid, int tweak) {
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
    int fd = memfd_create("taskscope.test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_true(fd >= 0);
    size_t len = tweak == F_TRUNCATED ? 100 : s.len;
    assert_int_equal(write(fd, s.buf, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, tweak == F_MODE ? 0644 : 0600), 0);
    if (tweak == F_OWNER)
        assert_int_equal(fchown(fd, 65534, 65534), 0);
    if (tweak != F_UNSEALED)
        assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
    seg_free(&s);
    return fd;
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_exit_leaves_nothing(void **state) {
    (void)state;
    size_t before = dev_shm_taskscope_entries();
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    char err[256];
    assert_int_equal(open_err(c.pid, err, sizeof err), 0);
    assert_int_equal(dev_shm_taskscope_entries(), before); /* no name anywhere */
    tell(&c, 'q'); /* ends the loop */
    tell(&c, 'x'); /* exits */
    int status = reap(&c);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(dev_shm_taskscope_entries(), before);
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESRCH);
    assert_non_null(strstr(err, "no such process"));
}

/* SIGKILL: nothing left behind, and a reader that held the segment still
 * reads the program's last events after it is gone. */
static void test_killed_leaves_nothing_but_reader_keeps_it(void **state) {
    (void)state;
    size_t before = dev_shm_taskscope_entries();
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, c.pid, err, sizeof err), 0);
    kill(c.pid, SIGKILL);
    int status = reap(&c);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(ts_reader_alive(rd), 0);
    evlog log = {0};
    poll_into(rd, &log);
    assert_true(task_named(rd, &log, "fresh") != 0);
    evlog_free(&log);
    ts_reader_close(rd);
    assert_int_equal(dev_shm_taskscope_entries(), before);
    assert_int_equal(open_err(c.pid, err, sizeof err), -ESRCH);
}

/* Anyone with the segment open for writing (a reader opens it O_RDWR)
 * still cannot change its size: no SIGBUS for the program or a reader. */
static void test_truncation_refused(void **state) {
    (void)state;
    child c = spawn_child();
    tell(&c, 'l');
    await_reply(&c);
    char path[320];
    segment_fd_path(c.pid, path, sizeof path);
    assert_true(path[0] != 0);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(ftruncate(fd, 100), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(ftruncate(fd, 0), -1);
    assert_int_equal(ftruncate(fd, st.st_size * 2), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(fallocate(fd, 0, st.st_size, 4096), -1);
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1); /* sealed seals */
    close(fd);
    /* the program and a reader go on as if nothing happened */
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, c.pid, err, sizeof err), 0);
    evlog log = {0};
    poll_into(rd, &log);
    assert_true(task_named(rd, &log, "fresh") != 0);
    evlog_free(&log);
    ts_reader_close(rd);
    tell(&c, 'q');
    tell(&c, 'x');
    int status = reap(&c);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
        {F_UNSEALED, -EACCES, "not sealed"},
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
        int fd = plant(c.pid, cases[i].tweak);
        ts_reader *rd = NULL;
        int rc = ts_reader_open_fd(&rd, fd, c.pid, err, sizeof err);
        ts_reader_close(rd);
        close(fd);
        if (rc != cases[i].err || !strstr(err, cases[i].says))
            fprintf(stderr, "case %zu: %d \"%s\"\n", i, rc, err);
        assert_int_equal(rc, cases[i].err);
        assert_non_null(strstr(err, cases[i].says));
    }
    /* a correct one is read like any other */
    int fd = plant(c.pid, F_GOOD);
    ts_reader *rd = NULL;
    assert_int_equal(ts_reader_open_fd(&rd, fd, c.pid, err, sizeof err), 0);
    close(fd);
    evlog log = {0};
    assert_int_equal(poll_into(rd, &log), 11);
    evlog_free(&log);
    ts_reader_close(rd);
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
        cmocka_unit_test(test_killed_leaves_nothing_but_reader_keeps_it),
        cmocka_unit_test(test_truncation_refused),
        cmocka_unit_test(test_planted_segments),
        cmocka_unit_test(test_fork_child_defines_its_names),
        cmocka_unit_test(test_bad_pids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
