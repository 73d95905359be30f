/*
 * test_trace_untrusted.c - what the tracer reads from files it did not
 * write (issue 13, points 3 and 6):
 *   - module paths (from a segment, a recording or a snapshot) naming a
 *     FIFO, a device or an empty /proc-like file are not opened in a way
 *     that can block: the symbolizer returns at once;
 *   - a crash snapshot written by a real crashing child is read back
 *     (its tasks, the signal, the crash site); 200 damaged copies of it
 *     (random bytes anywhere, truncated at every size class, hostile
 *     offsets) are refused or read without a crash or a hang (run under
 *     ASan/UBSan for out-of-bounds reads);
 *   - a SIGSEGV handler the program installed first still runs, after the
 *     snapshot;
 *   - a FIFO named like a snapshot is not taken for one, without hanging.
 * An alarm turns any hang into a failure within a minute.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crash_snapshot.h"
#include "snapshot.h"
#include "symbolize.h"
#include "trace_harness.h"

static char dir[256]; /* $TMPDIR/ts-untrusted-XXXXXX, made by main */

static void path_in(char *buf, size_t len, const char *name) {
    assert_true((size_t)snprintf(buf, len, "%s/%s", dir, name) < len);
}

/* ---- module paths ------------------------------------------------------------------ */

static void test_module_paths_never_block(void **state) {
    (void)state;
    char fifo[256];
    path_in(fifo, sizeof fifo, "module.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    ts_symbolizer *s = ts_symbolizer_new();
    assert_non_null(s);
    alarm(60);
    ts_symbolizer_add_module(s, 0x1000, 0x2000, 0, fifo);       /* would block in open() */
    ts_symbolizer_add_module(s, 0x3000, 0x4000, 0, "/dev/zero"); /* a device */
    ts_symbolizer_add_module(s, 0x5000, 0x6000, 0, "/proc/self/status"); /* empty size */
    ts_symbolizer_add_module(s, 0x7000, 0x8000, 0, "/nonexistent/lib.so");
    ts_frame f;
    ts_symbolize(s, 0x1500, 0, &f);
    assert_string_equal(f.function, "?");
    assert_string_equal(f.module, "module.fifo"); /* named, never opened */
    alarm(0);
    ts_symbolizer_free(s);
    unlink(fifo);
}

/* ---- crash snapshots ------------------------------------------------------------- */

static void *victim(void *arg) {
    ts_sleep(60);
    return arg;
}

/* An address nothing maps, out of the compiler's sight (not NULL: UBSan
 * would stop at a null store before the fault). */
static volatile int *volatile nowhere = (volatile int *)(uintptr_t)64;

__attribute__((noinline)) static void crash_now(void) {
    *nowhere = 1;
    __asm__ volatile("" ::: "memory");
}

static void *crasher(void *arg) {
    ts_sleep(0.05);
    crash_now();
    return arg;
}

static void *crash_main(void *arg) {
    ts_task *v = ts_spawn_named("victim", victim, NULL);
    ts_task *c = ts_spawn_named("crasher", crasher, NULL);
    ts_await(c, NULL);
    ts_await(v, NULL);
    return arg;
}

static void own_handler(int sig) {
    (void)sig;
    _exit(42); /* the program's own crash handling, e.g. a reporter */
}

/* A real snapshot: a child that crashes with TASKSCOPE_CRASH_DIR=dir
 * (with_own: the program had installed a SIGSEGV handler of its own
 * before the runtime started; it must still run, after the snapshot). */
static pid_t crash_child_with(int with_own, int *status);

static pid_t crash_child(void) {
    int status;
    pid_t pid = crash_child_with(0, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV); /* the exit status is unchanged */
    return pid;
}

static pid_t crash_child_with(int with_own, int *status) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* cmocka catches faults in tests: not in this child */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGABRT, SIG_DFL);
        if (with_own)
            signal(SIGSEGV, own_handler);
        setenv("TASKSCOPE_CRASH_DIR", dir, 1);
        setenv("TASKSCOPE_RING_SIZE", "65536", 1); /* a small snapshot to damage */
        unsetenv("TASKSCOPE_CRASH");
        ts_run(crash_main, NULL);
        _exit(0); /* not reached */
    }
    assert_int_equal(waitpid(pid, status, 0), pid);
    return pid;
}

struct names {
    int victim, crasher, events;
    const char *want;
};

static void count_event(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    (void)ns, (void)tid;
    struct names *n = arg;
    n->events++;
    if (rec->type == TS_EV_string && rec->size >= sizeof(ts_ev_string)) {
        const ts_ev_string *s = (const ts_ev_string *)(const void *)rec;
        const char *text = (const char *)(s + 1);
        size_t room = rec->size - sizeof *s;
        if (s->len <= room && s->len == 6 && !memcmp(text, "victim", 6))
            n->victim = 1;
        if (s->len <= room && s->len == 7 && !memcmp(text, "crasher", 7))
            n->crasher = 1;
    }
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* Read a (maybe damaged) snapshot every way the tracer does. */
static int read_all_ways(const char *path) {
    struct names n = {0};
    char err[256], buf[4096];
    int rc = ts_snapshot_replay(path, count_event, &n, err, sizeof err);
    static const char *const keys[] = {"status", "crash_stack", "pid", "exe", "dropped"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ts_snapshot_read_meta(path, keys[i], buf, sizeof buf);
    return rc;
}

static void test_crash_snapshot(void **state) {
    (void)state;
    pid_t pid = crash_child();
    char path[256], name[64];
    snprintf(name, sizeof name, TS_SNAP_NAME_FMT, (int)pid);
    path_in(path, sizeof path, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ts_snapshot_detect(path), 1);

    struct names n = {0};
    char err[256];
    assert_int_equal(ts_snapshot_replay(path, count_event, &n, err, sizeof err), 0);
    assert_true(n.victim && n.crasher);
    char status[1024], stack[8192], spid[32];
    assert_int_equal(ts_snapshot_read_meta(path, "status", status, sizeof status), 0);
    assert_int_equal(ts_snapshot_read_meta(path, "crash_stack", stack, sizeof stack), 0);
    assert_int_equal(ts_snapshot_read_meta(path, "pid", spid, sizeof spid), 0);
    fprintf(stderr, "status: %s\nstack:\n%s", status, stack);
    assert_non_null(strstr(status, "killed by signal 11 (SIGSEGV)"));
    assert_int_equal(atoi(spid), pid);
    assert_non_null(strstr(stack, "#0 0x")); /* the faulting pc at least */

    /* damaged copies: refused or read, never a crash or a hang */
    size_t len;
    unsigned char *good = slurp(path, &len);
    unsigned char *bad = malloc(len);
    assert_non_null(bad);
    char copy[256];
    path_in(copy, sizeof copy, "damaged.tsnap");
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 200; round++) {
        alarm(60); /* per round: a hang fails, a slow (sanitized, loaded) run does not */
        memcpy(bad, good, len);
        size_t blen = len;
        for (int k = 0; k < 1 + round % 16; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            /* half the hits in the snapshot header and the segment header */
            size_t span = (rng & 1) ? TS_SNAP_HEADER_ROOM + sizeof(ts_seg_header) : len;
            size_t off = (size_t)(rng >> 8) % (span < len ? span : len);
            bad[off] = (unsigned char)(rng >> 40);
            if (k == 0 && round % 5 == 0) /* a hostile 64-bit field */
                memset(bad + (off & ~(size_t)7), 0xff, off + 8 <= len ? 8 : 1);
        }
        if (round % 7 == 0) /* cut short */
            blen = (size_t)(rng >> 20) % len;
        spit(copy, bad, blen);
        read_all_ways(copy);
    }
    alarm(0);
    /* every declared size larger than the file: refused */
    memcpy(bad, good, len);
    ts_snap_header *h = (ts_snap_header *)(void *)bad;
    h->seg_size = len;
    spit(copy, bad, len);
    assert_int_equal(ts_snapshot_replay(copy, count_event, &n, err, sizeof err), -EBADMSG);
    free(bad);
    free(good);
    unlink(copy);
    unlink(path);
}

/* A handler the program installed before the runtime still runs (after
 * the snapshot is written). */
static void test_program_handler_chained(void **state) {
    (void)state;
    int status;
    pid_t pid = crash_child_with(1, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
    char path[256], name[64];
    snprintf(name, sizeof name, TS_SNAP_NAME_FMT, (int)pid);
    path_in(path, sizeof path, name);
    assert_int_equal(ts_snapshot_detect(path), 1);
    unlink(path);
}

static void test_fifo_is_not_a_snapshot(void **state) {
    (void)state;
    char fifo[256];
    path_in(fifo, sizeof fifo, "taskscope-crash.1.tsnap");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(60);
    assert_int_equal(ts_snapshot_detect(fifo), 0);
    char err[256];
    struct names n = {0};
    assert_true(ts_snapshot_replay(fifo, count_event, &n, err, sizeof err) < 0);
    assert_non_null(strstr(err, "not a regular file"));
    alarm(0);
    unlink(fifo);
}

int main(void) {
    assert_int_equal(test_tmp_dir(dir, sizeof dir, "ts-untrusted"), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_paths_never_block),
        cmocka_unit_test(test_crash_snapshot),
        cmocka_unit_test(test_program_handler_chained),
        cmocka_unit_test(test_fifo_is_not_a_snapshot),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
