/*
 * test_trace_tsdump.c - the ts-dump CLI (path in $TS_DUMP, set by meson)
 * on a live child process: the flight recorder's window by default, the
 * state dump with -f, and its errors.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "trace_harness.h"

static int ready_fd, stop_fd;

static void *parked(void *arg) {
    ts_sleep(100);
    return arg;
}

static void *child_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("dumpme", parked, NULL);
    ts_sleep(0.01);
    ts_debug_flush();
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    char c;
    while (read(stop_fd, &c, 1) != 1)
        ts_sleep(0.005);
    ts_task_detach(t);
    return NULL;
}

/* Run a command, return its output (stdout and stderr) and exit status. */
static char *run(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = 0;
    *status = pclose(p);
    return out;
}

static void test_tsdump(void **state) {
    (void)state;
    const char *tool = getenv("TS_DUMP");
    if (!tool) {
        fprintf(stderr, "TS_DUMP not set (run through meson test)\n");
        skip();
    }
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test must not leave us behind */
        ready_fd = ready[1];
        stop_fd = stop[0];
        fcntl(stop_fd, F_SETFL, O_NONBLOCK);
        exit(ts_run(child_main, NULL) == 0 ? 0 : 1); /* atexit removes the segment */
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    char cmd[512];
    int status;

    snprintf(cmd, sizeof cmd, "%s %d 2>&1", tool, (int)pid);
    char *out = run(cmd, &status);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "loop_create"));
    assert_non_null(strstr(out, "task_create"));
    assert_non_null(strstr(out, "name=\"dumpme\""));
    assert_non_null(strstr(out, "task_suspend"));
    free(out);

    snprintf(cmd, sizeof cmd, "%s -f -t 0.5 -s %d 2>&1", tool, (int)pid);
    out = run(cmd, &status);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(out, "dump_begin"));
    char *st = strstr(out, "task_state");
    assert_non_null(st);
    assert_non_null(strstr(out, "dump_end"));
    assert_non_null(strstr(out, "state dump received"));
    free(out);

    assert_int_equal(write(stop[1], "q", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    snprintf(cmd, sizeof cmd, "%s %d 2>&1", tool, (int)pid);
    out = run(cmd, &status);
    if (!strstr(out, "no such process"))
        fprintf(stderr, "ts-dump said: %s\n", out);
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(out, "no such process"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s 2>&1", tool);
    out = run(cmd, &status);
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_non_null(strstr(out, "usage"));
    free(out);
    close(ready[0]);
    close(ready[1]);
    close(stop[0]);
    close(stop[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsdump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
