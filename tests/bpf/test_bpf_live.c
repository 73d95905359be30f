/*
 * test_bpf_live.c - the live views over BPF, through the real command:
 *   - `ps --bpf PID` of a release-runtime program whose tasks were all
 *     created before the attach lists them with names, states and what
 *     each awaits (the state dump), both when its loop is idle and
 *     deadlocked (woken through its eventfd) and when it is busy; asked
 *     twice in a row, the second attach gets its dump too;
 *   - `pstree --bpf PID`, and the session API's model after the dump,
 *     also with two idle loops (both woken, both dump);
 *   - `attach --bpf PID` records the tasks that existed before it;
 *   - the debug runtime with --bpf: one recording where the ring's tasks
 *     and BPF's blocking read() (task, syscall, duration, stack) meet,
 *     with every task event once; `blocked --bpf PID` live likewise;
 *   - errors: no such process, not a taskscope process, not a pid.
 * No timing is asserted: every wait is for an outcome, with a generous
 * limit.  Needs root and BPF: skipped (77), saying why, otherwise.
 */
#include <fcntl.h>

#include "bpf_harness.h"
#include "bpf_session.h"

static const char *taskscope(void) {
    const char *p = getenv("TSB_TASKSCOPE");
    return p && *p ? p : "taskscope";
}

static const char *debug_target(void) {
    const char *p = getenv("TSB_TARGET_DEBUG");
    return p && *p ? p : "./bpf_target_debug";
}

/* Run a shell command; its output (stdout and stderr) in a malloc'd
 * string, its exit status in *status. */
static char *run(int *status, const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    memcpy(cmd, "unset LD_LIBRARY_PATH; ", 23); /* see start_hold */
    vsnprintf(cmd + 23, sizeof cmd - 23, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

static void expect_has(const char *out, const char *what) {
    if (!out || !strstr(out, what))
        fail_msg("'%s' missing from:\n%s", what, out ? out : "(no output)");
}

/* The line of out that mentions word, copied into line. */
static int line_of(const char *out, const char *word, char *line, size_t len) {
    const char *p = strstr(out, word);
    if (!p)
        return 0;
    const char *a = p, *b = strchr(p, '\n');
    while (a > out && a[-1] != '\n')
        a--;
    size_t n = b ? (size_t)(b - a) : strlen(a);
    snprintf(line, len, "%.*s", (int)(n < len - 1 ? n : len - 1), a);
    return 1;
}

/* The ps row of the task called name (its second column). */
static int row_of(const char *out, const char *name, char *line, size_t len) {
    for (const char *a = out; *a;) {
        const char *b = strchr(a, '\n');
        size_t n = b ? (size_t)(b - a) : strlen(a);
        char id[32], col[128];
        snprintf(line, len, "%.*s", (int)(n < len - 1 ? n : len - 1), a);
        if (sscanf(line, "%31s %127s", id, col) == 2 && !strcmp(col, name))
            return 1;
        a += n + (b != NULL);
    }
    return 0;
}

static void expect_task_line(const char *out, const char *name, const char *awaits) {
    char line[512];
    if (!row_of(out, name, line, sizeof line))
        fail_msg("task %s missing from:\n%s", name, out);
    if (!strstr(line, "suspended") || !strstr(line, awaits))
        fail_msg("task %s should be suspended awaiting %s:\n%s", name, awaits, line);
}

/* Targets still running when a check fails (cmocka leaves the test
 * there): killed at exit, so none outlives the test holding its output. */
static int started[16];
static size_t nstarted;

static void kill_started(void) {
    for (size_t i = 0; i < nstarted; i++)
        if (started[i] > 0)
            kill(started[i], SIGKILL);
}

/* Start `target hold ARGS` and wait until its tasks are parked. */
static int start_hold(const char *target, const char *args) {
    int from[2];
    assert_int_equal(pipe(from), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(from[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        close(from[0]);
        char cmd[1024];
        /* meson's LD_LIBRARY_PATH may name the debug library's directory
         * first (same soname): each target has its own run path */
        snprintf(cmd, sizeof cmd, "unset LD_LIBRARY_PATH; exec %s hold %s", target, args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(from[1]);
    if (nstarted < sizeof started / sizeof started[0])
        started[nstarted++] = pid;
    FILE *out = fdopen(from[0], "r");
    char line[32] = "";
    assert_non_null(fgets(line, sizeof line, out));
    assert_string_equal(line, "held\n");
    fclose(out);
    return pid;
}

static void stop(int pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void check_hold_ps(const char *out) {
    expect_has(out, "through BPF");
    if (strstr(out, "no state dump"))
        fail_msg("the loops did not answer the dump:\n%s", out);
    expect_task_line(out, "napper", "sleep");
    expect_task_line(out, "waiter", "event");
    expect_task_line(out, "deadlock-a", "lock");
    expect_task_line(out, "deadlock-b", "lock");
    expect_task_line(out, "main", "task #2 napper");
}

/* The loop is idle in epoll_wait for good (a deadlock and long sleeps):
 * only the eventfd wakeup makes it answer. */
static void test_ps_idle_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    int st;
    char *out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    check_hold_ps(out);
    free(out);
    /* again: the first collector's semaphore went down and back up while
     * the loop slept; the loop must still see a new request */
    out = run(&st, "%s pstree --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    if (strstr(out, "no state dump"))
        fail_msg("second attach got no dump:\n%s", out);
    expect_has(out, "#1 main [suspended] awaits task #2 napper");
    expect_has(out, "#4 deadlock-a [suspended] awaits lock");
    expect_has(out, "#3 waiter [suspended] awaits event");
    free(out);
    stop(pid);
}

static void test_ps_busy_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "busy");
    int st;
    char *out = run(&st, "%s ps --bpf --bpf-events=tasks %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    check_hold_ps(out);
    expect_has(out, "ticker");
    free(out);
    stop(pid);
}

/* Two loops, both idle: both are woken, both dump. */
static void test_ps_two_loops(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "threads");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_TASKS};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    assert_int_equal(ts_bpf_loops_woken(bs.bpf), 2);
    tm_task *a = task_named(bs.s.model, "napper"), *b = task_named(bs.s.model, "napper-2");
    if (!a || !b)
        fail_msg("a loop's tasks are missing after the dump");
    assert_int_equal(b->state, TM_SUSPENDED);
    assert_true(a->loop != b->loop);
    ts_bpf_session_close(&bs);
    stop(pid);
}

/* The session API: the model after the dump knows every task by name,
 * with its spawn site, and which loop it is on. */
static void test_session_dump_model(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {0};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_false(ts_bpf_session_beside_ring(&bs));
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    const char *names[] = {"main", "napper", "waiter", "deadlock-a", "deadlock-b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tm_task *t = task_named(bs.s.model, names[i]);
        if (!t)
            fail_msg("task %s not in the model after the dump", names[i]);
        assert_int_equal(t->state, TM_SUSPENDED);
        assert_true(t->loop != 0);
        assert_true(t->site != 0);
    }
    ts_bpf_session_close(&bs);
    stop(pid);
}

static void test_attach_records_earlier_tasks(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    char db[] = "/tmp/ts-bpf-live-XXXXXX";
    int fd = mkstemp(db);
    assert_true(fd >= 0);
    close(fd);
    int st;
    char *out = run(&st, "%s attach --bpf %d --duration 0.2 -o %s 2>&1", taskscope(), pid, db);
    assert_int_equal(st, 0);
    free(out);
    out = run(&st, "%s ps %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    expect_task_line(out, "deadlock-b", "lock");
    expect_task_line(out, "napper", "sleep");
    free(out);
    unlink(db);
    stop(pid);
}

/* Debug runtime + --bpf: the ring's task events, BPF's blocking read(). */
static void test_merged_recording(void **state) {
    (void)state;
    char db[] = "/tmp/ts-bpf-merged-XXXXXX";
    int fd = mkstemp(db);
    assert_true(fd >= 0);
    close(fd);
    int st;
    char *out = run(&st, "%s run --bpf -o %s -- %s scenario 2>&1", taskscope(), db,
                    debug_target());
    if (st != 0)
        fail_msg("run --bpf exited %d:\n%s", st, out);
    expect_has(out, "tasks from the debug runtime's ring");
    free(out);
    out = run(&st, "%s blocked %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    char line[512];
    if (!line_of(out, "reader (spawned at", line, sizeof line))
        fail_msg("the blocking read is not charged to the reader task:\n%s", out);
    if (strncmp(line, "blocked ", 8) != 0 || !strstr(line, "ms"))
        fail_msg("no duration on the episode line: %s", line);
    expect_has(out, "blocked in syscall: read");
    expect_has(out, "blocking_reader at bpf_target.c");
    free(out);
    /* every task event once: the ring's, none from USDT */
    out = run(&st, "%s query %s 'select count(*) as n, count(distinct task) as d "
                   "from ev_task_create' --csv 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    expect_has(out, "\n9,9");
    free(out);
    out = run(&st, "%s ps --all %s 2>&1", taskscope(), db);
    expect_has(out, "worker-3");
    expect_has(out, "locker-b");
    free(out);
    unlink(db);
}

static void test_merged_live_blocked(void **state) {
    (void)state;
    int pid = start_hold(debug_target(), "read");
    int st;
    char *out = NULL;
    /* the reader blocks every 200 ms: a few seconds' watch catches one,
     * however loaded the machine; try a few times before failing */
    for (int i = 0; i < 5; i++) {
        free(out);
        out = run(&st, "%s blocked --bpf --duration 2 %d 2>&1", taskscope(), pid);
        assert_int_equal(st, 0);
        if (strstr(out, "blocked in syscall: read"))
            break;
    }
    expect_has(out, "and the debug runtime's ring");
    expect_has(out, "blocked in syscall: read");
    expect_has(out, "reader (spawned at");
    expect_has(out, "blocking_reader");
    free(out);
    out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_task_line(out, "deadlock-a", "lock");
    expect_has(out, "deadlock: ");
    free(out);
    stop(pid);
}

static void test_errors(void **state) {
    (void)state;
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    int st;
    char *out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), (int)dead);
    assert_int_equal(st, 1);
    expect_has(out, "no process");
    free(out);
    pid_t other = fork();
    assert_true(other >= 0);
    if (other == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    char exe[256] = "";
    for (int i = 0; i < 500 && !strstr(exe, "sleep"); i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/exe", (int)other);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        sleep_ms(2);
    }
    out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), (int)other);
    assert_int_equal(st, 1);
    expect_has(out, "does not use taskscope");
    free(out);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    out = run(&st, "%s ps --bpf trace.db 2>&1", taskscope());
    assert_int_equal(st, 2);
    expect_has(out, "needs the pid");
    free(out);
    out = run(&st, "%s top --bpf trace.db 2>&1", taskscope());
    assert_int_equal(st, 2);
    free(out);
}

int main(void) {
    skip_unless_bpf();
    atexit(kill_started);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ps_idle_release),
        cmocka_unit_test(test_ps_busy_release),
        cmocka_unit_test(test_session_dump_model),
        cmocka_unit_test(test_ps_two_loops),
        cmocka_unit_test(test_attach_records_earlier_tasks),
        cmocka_unit_test(test_merged_recording),
        cmocka_unit_test(test_merged_live_blocked),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
