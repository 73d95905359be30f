/*
 * test_bpf_errors.c - the BPF collector's refusals, each with its code
 * and a sentence a person can act on: a pid that names no process, a
 * process that does not use taskscope, a file without the probes, a
 * program that loads no taskscope library, bad options; and the gated
 * start's promise that a child never released runs nothing.
 */
#include "bpf_harness.h"

static void expect_open_error(int pid, const ts_bpf_opts *o, int code, const char *words) {
    ts_bpf *b = (ts_bpf *)1;
    char err[512] = "";
    assert_int_equal(ts_bpf_open(&b, pid, o, err, sizeof err), code);
    assert_null(b);
    if (!strstr(err, words))
        fail_msg("error '%s' does not say '%s'", err, words);
}

/* A pid no process has: one just reaped. */
static int dead_pid(void) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void test_bad_pid(void **state) {
    (void)state;
    expect_open_error(dead_pid(), NULL, -ESRCH, "no process");
    expect_open_error(0, NULL, -EINVAL, "bad pid");
    expect_open_error(-5, NULL, -EINVAL, "bad pid");
}

static void test_not_taskscope(void **state) {
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    /* until exec has replaced our image, the child still maps what we map */
    char exe[256] = "";
    for (int i = 0; i < 500 && !strstr(exe, "sleep"); i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        sleep_ms(2);
    }
    expect_open_error(pid, NULL, -ENOENT, "does not use taskscope");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_file_without_probes(void **state) {
    (void)state;
    ts_bpf_opts o = {.library = "/bin/true"};
    expect_open_error(getpid(), &o, -ENODATA, "no taskscope USDT probes");
    o.library = "/nonexistent/libtaskscope.so.0";
    expect_open_error(getpid(), &o, -ENOENT, "cannot read");
}

static void test_bad_options(void **state) {
    (void)state;
    FILE *in;
    int pid = start_waiting("scenario", NULL, &in);
    ts_bpf_opts o = {.ring_bytes = 5000};
    expect_open_error(pid, &o, -EINVAL, "power of two");
    kill(pid, SIGKILL);
    fclose(in);
    waitpid(pid, NULL, 0);
}

static void test_parse_events(void **state) {
    (void)state;
    unsigned m = 0;
    char err[256];
    assert_int_equal(ts_bpf_parse_events("tasks,sync,syscalls", &m, err, sizeof err), 0);
    assert_int_equal(m, TS_BPF_TASKS | TS_BPF_SYNC | TS_BPF_SYSCALLS);
    assert_int_equal(ts_bpf_parse_events("all", &m, err, sizeof err), 0);
    assert_int_equal(m, TS_BPF_ALL);
    assert_int_equal(ts_bpf_parse_events("futures,jobs", &m, err, sizeof err), 0);
    assert_int_equal(m, TS_BPF_FUTURES | TS_BPF_JOBS);
    assert_int_equal(ts_bpf_parse_events("tasks,bogus", &m, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "'bogus'"));
    assert_int_equal(ts_bpf_parse_events("", &m, err, sizeof err), -EINVAL);
    assert_int_equal(ts_bpf_parse_events(",,", &m, err, sizeof err), -EINVAL);
}

static void test_resolve_library(void **state) {
    (void)state;
    char lib[4096], err[256];
    assert_int_equal(ts_bpf_resolve_library(target_path(), lib, sizeof lib, err, sizeof err), 0);
    assert_non_null(strstr(lib, "libtaskscope.so"));
    assert_int_equal(ts_bpf_resolve_library("true", lib, sizeof lib, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "does not load a taskscope library"));
    assert_int_equal(ts_bpf_resolve_library("/nonexistent/prog", lib, sizeof lib, err, sizeof err),
                     -ENOENT);
}

static void test_gate_closed_runs_nothing(void **state) {
    (void)state;
    char gate_file[4096];
    assert_int_equal(
        test_tmp_path(gate_file, sizeof gate_file, "tsb-gate-must-not-exist.%d", (int)getpid()), 0);
    char *argv[] = {"touch", gate_file, NULL};
    unlink(argv[1]);
    int pid, gate, status;
    char err[256];
    assert_int_equal(ts_bpf_spawn_gated(argv, &pid, &gate, err, sizeof err), 0);
    close(gate);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 127);
    assert_int_not_equal(access(argv[1], F_OK), 0);
}

int main(void) {
    skip_unless_bpf();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_pid),
        cmocka_unit_test(test_not_taskscope),
        cmocka_unit_test(test_file_without_probes),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_parse_events),
        cmocka_unit_test(test_resolve_library),
        cmocka_unit_test(test_gate_closed_runs_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
