/*
 * test_file.c - tests of file.h, run once per backend.
 *
 * Every test body runs under TASKSCOPE_FILE_BACKEND=threads and again
 * under =uring (skipped where the kernel refuses io_uring).  Covered:
 * write then read back, positional I/O, read_all, stat/fstat, fsync, a
 * large file, many tasks reading one file at once (the ring's leader and
 * followers, also with reads that wait on FIFOs), error paths (ENOENT, EISDIR, EBADF), cancelling a pending
 * read (on a FIFO, where a read really waits) and an open that blocks, a
 * task that forks and both processes go on reading, and that no
 * descriptor is leaked on any of these paths.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char dir[256]; /* $TMPDIR/ts_test_file-XXXXXX, made by main */
static const char *want_backend;

static void path_of(char *buf, size_t cap, const char *name) {
    assert_true((size_t)snprintf(buf, cap, "%s/%s", dir, name) < cap);
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Run body as main under the backend being tested. */
static void run_body(ts_task_fn body) {
    diag_reset();
    int err = run_main(body, NULL);
    if (err)
        fail_msg("body failed: %s", ts_strerror(err));
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic: %s", diag_last);
}

static void *check_backend(void) {
    assert_string_equal(ts_file_backend(), want_backend);
    return NULL;
}

/* ---- bodies ------------------------------------------------------------------ */

/* A task forks after file I/O gave the loop its ring: the child goes on
 * with the loop and reads the file again, on a ring of its own (the one
 * it inherited maps its parent's queues: see uring.c), and so does the
 * parent, on its ring still.  (Not on the thread backend: its workers
 * wake the loop through the loop's eventfd and epoll set, which a forked
 * child shares with its parent, and either may take the other's wake-up;
 * a loop's waits do not survive fork() in general, as in asyncio.) */
static int read_back(const char *p) {
    ts_file *f;
    char buf[16] = {0};
    if (ts_file_open(p, O_RDONLY, 0, &f) != 0)
        return 0;
    int ok = ts_file_read(f, buf, sizeof buf) == 6 && memcmp(buf, "forked", 6) == 0;
    return ts_file_close(f) == 0 && ok;
}

static void *body_fork(void *arg) {
    (void)arg;
    check_backend();
    if (strcmp(want_backend, "uring") != 0)
        return NULL;
    char p[256];
    path_of(p, sizeof p, "fork.txt");
    ts_file *f;
    assert_int_equal(ts_file_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f), 0);
    assert_int_equal(ts_file_write(f, "forked", 6), 6);
    assert_int_equal(ts_file_close(f), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    int ok = read_back(p) && read_back(p);
    if (pid == 0)
        _exit(ok ? 0 : 1);
    assert_true(ok);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    unlink(p);
    return NULL;
}

static void *body_write_read(void *arg) {
    (void)arg;
    check_backend();
    char p[256];
    path_of(p, sizeof p, "hello.txt");
    ts_file *f;
    assert_int_equal(ts_file_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644, &f), 0);
    assert_true(ts_file_fd(f) >= 0);
    assert_int_equal(ts_file_write(f, "Hello, ", 7), 7);
    assert_int_equal(ts_file_write(f, "asyncio world!", 14), 14);
    assert_int_equal(ts_file_sync(f), 0);
    assert_int_equal(ts_file_close(f), 0);

    struct stat st;
    assert_int_equal(ts_stat(p, &st), 0);
    assert_int_equal(st.st_size, 21);
    assert_true(S_ISREG(st.st_mode));

    assert_int_equal(ts_file_open(p, O_RDWR, 0, &f), 0);
    assert_int_equal(ts_file_stat(f, &st), 0);
    assert_int_equal(st.st_size, 21);
    char buf[64] = {0};
    assert_int_equal(ts_file_read(f, buf, 5), 5);
    assert_memory_equal(buf, "Hello", 5);
    assert_int_equal(ts_file_read(f, buf, sizeof buf), 16);
    assert_memory_equal(buf, ", asyncio world!", 16);
    assert_int_equal(ts_file_read(f, buf, sizeof buf), 0); /* end of file */
    /* Positional calls leave the position alone. */
    assert_int_equal(ts_file_pwrite(f, "ASYNCIO", 7, 7), 7);
    assert_int_equal(ts_file_pread(f, buf, 7, 7), 7);
    assert_memory_equal(buf, "ASYNCIO", 7);
    assert_int_equal(ts_file_read(f, buf, sizeof buf), 0);
    assert_int_equal(ts_file_close(f), 0);

    assert_int_equal(ts_file_open(p, O_RDONLY, 0, &f), 0);
    char *all;
    size_t len;
    assert_int_equal(ts_file_read_all(f, &all, &len), 0);
    assert_int_equal(len, 21);
    assert_string_equal(all, "Hello, ASYNCIO world!");
    free(all);
    assert_int_equal(ts_file_close(f), 0);
    assert_int_equal(ts_file_close(NULL), 0);
    unlink(p);
    return NULL;
}

static void fill_pattern(unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)(seed >> 16);
    }
}

#define BIG (24u << 20)

static void *body_large(void *arg) {
    (void)arg;
    char p[256];
    path_of(p, sizeof p, "large.bin");
    unsigned char *src = malloc(BIG);
    assert_non_null(src);
    fill_pattern(src, BIG, 7);
    ts_file *f;
    assert_int_equal(ts_file_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600, &f), 0);
    assert_int_equal(ts_file_write(f, src, BIG), BIG);
    assert_int_equal(ts_file_close(f), 0);

    assert_int_equal(ts_file_open(p, O_RDONLY, 0, &f), 0);
    char *got;
    size_t len;
    assert_int_equal(ts_file_read_all(f, &got, &len), 0);
    assert_int_equal(len, BIG);
    assert_memory_equal(got, src, BIG);
    free(got);
    assert_int_equal(ts_file_close(f), 0);
    free(src);
    unlink(p);
    return NULL;
}

/* ---- many readers at once ------------------------------------------------------ */

#define NREADERS 40
#define CHUNK 65536

typedef struct reader {
    ts_file *f;
    int index;
    const unsigned char *expect;
} reader;

static void *read_chunk(void *arg) {
    reader *r = arg;
    unsigned char *buf = malloc(CHUNK);
    ssize_t n = ts_file_pread(r->f, buf, CHUNK, (int64_t)r->index * CHUNK);
    int ok = n == CHUNK && memcmp(buf, r->expect + (size_t)r->index * CHUNK, CHUNK) == 0;
    free(buf);
    return ok ? NULL : ts_fail(n < 0 ? (int)n : -EIO, "chunk %d: %zd", r->index, n);
}

static void *body_concurrent(void *arg) {
    (void)arg;
    char p[256];
    path_of(p, sizeof p, "chunks.bin");
    size_t size = (size_t)NREADERS * CHUNK;
    unsigned char *src = malloc(size);
    fill_pattern(src, size, 3);
    ts_file *f;
    assert_int_equal(ts_file_open(p, O_RDWR | O_CREAT | O_TRUNC, 0600, &f), 0);
    assert_int_equal(ts_file_write(f, src, size), (ssize_t)size);
    reader rs[NREADERS];
    ts_task *ts[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        rs[i] = (reader){f, i, src};
        ts[i] = ts_spawn(read_chunk, &rs[i]);
    }
    int errs[NREADERS];
    assert_int_equal(ts_gather(ts, NREADERS, NULL, errs), 0);
    for (int i = 0; i < NREADERS; i++)
        assert_int_equal(errs[i], 0);
    assert_int_equal(ts_file_close(f), 0);
    free(src);
    unlink(p);
    return NULL;
}

/* ---- errors ------------------------------------------------------------------------ */

static void *body_errors(void *arg) {
    (void)arg;
    char p[256];
    path_of(p, sizeof p, "missing/nothing.txt");
    ts_file *f = (ts_file *)1;
    /* The loop's io_uring (closed with the loop) is made by its first
     * file call: count descriptors after one. */
    struct stat st0;
    assert_int_equal(ts_stat(dir, &st0), 0);
    int before = count_fds();
    assert_int_equal(ts_file_open(p, O_RDONLY, 0, &f), -ENOENT);
    assert_null(f);
    struct stat st;
    assert_int_equal(ts_stat(p, &st), -ENOENT);
    /* A directory cannot be opened for writing, nor read. */
    assert_int_equal(ts_file_open(dir, O_WRONLY, 0, &f), -EISDIR);
    assert_int_equal(ts_file_open(dir, O_RDONLY, 0, &f), 0);
    char buf[16];
    assert_int_equal(ts_file_read(f, buf, sizeof buf), -EISDIR);
    assert_int_equal(ts_file_stat(f, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(ts_file_close(f), 0);
    /* Reading a file opened for writing only. */
    path_of(p, sizeof p, "wronly.txt");
    assert_int_equal(ts_file_open(p, O_WRONLY | O_CREAT, 0600, &f), 0);
    assert_int_equal(ts_file_read(f, buf, sizeof buf), -EBADF);
    assert_int_equal(ts_file_close(f), 0);
    unlink(p);
    /* O_EXCL on an existing file. */
    assert_int_equal(ts_file_open(dir, O_RDONLY | O_CREAT | O_EXCL, 0600, &f), -EEXIST);
    assert_int_equal(count_fds(), before);
    return NULL;
}

/* ---- cancellation -------------------------------------------------------------------- */

static void make_fifo(char *p, size_t cap) {
    path_of(p, cap, "fifo");
    unlink(p);
    assert_int_equal(mkfifo(p, 0600), 0);
}

typedef struct pending {
    ts_file *f;
    char buf[16];
    ssize_t rc;
} pending;

static void *read_pending(void *arg) {
    pending *pd = arg;
    pd->rc = ts_file_read(pd->f, pd->buf, sizeof pd->buf);
    return NULL;
}

/* Wait (generously) until t is done. */
static int wait_done(ts_task *t) {
    for (int i = 0; i < 1000 && !ts_task_done(t); i++)
        ts_sleep(0.005);
    return ts_task_done(t);
}

static void *body_cancel_read(void *arg) {
    (void)arg;
    char p[256];
    make_fifo(p, sizeof p);
    ts_file *f;
    /* O_RDWR: opening does not wait for a writer; a read waits for data. */
    assert_int_equal(ts_file_open(p, O_RDWR, 0, &f), 0);
    pending pd = {.f = f, .rc = 1};
    ts_task *t = ts_spawn(read_pending, &pd);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ts_sleep(0.01), 0);
    assert_false(ts_task_done(t));
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    if (strcmp(want_backend, "uring") == 0) {
        /* The kernel drops the read: the task ends without any data. */
        assert_true(wait_done(t));
    } else {
        /* A running blocking read cannot be stopped: the cancelled call
         * waits for it, so the buffer is never written after it returns. */
        for (int i = 0; i < 5; i++)
            assert_int_equal(ts_sleep(0.01), 0);
        assert_false(ts_task_done(t));
        int w = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        assert_true(w >= 0);
        assert_int_equal(write(w, "x", 1), 1);
        close(w);
    }
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(pd.rc, -ECANCELED);
    assert_int_equal(ts_file_close(f), 0);
    unlink(p);
    return NULL;
}

/* Reads that really wait, several at once: each task waits for its own
 * FIFO; the first is cancelled (under io_uring it is the leader, so the
 * others must take over the ring), then data arrives in reverse order. */
#define NFIFOS 5

static void *body_fifo_readers(void *arg) {
    (void)arg;
    char p[NFIFOS][256];
    ts_file *f[NFIFOS];
    pending pd[NFIFOS];
    ts_task *t[NFIFOS];
    for (int i = 0; i < NFIFOS; i++) {
        char name[16];
        snprintf(name, sizeof name, "fifo%d", i);
        path_of(p[i], sizeof p[i], name);
        unlink(p[i]);
        assert_int_equal(mkfifo(p[i], 0600), 0);
        assert_int_equal(ts_file_open(p[i], O_RDWR, 0, &f[i]), 0);
        pd[i] = (pending){.f = f[i], .rc = 1};
        t[i] = ts_spawn(read_pending, &pd[i]);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_sleep(0.01), 0);
    assert_int_equal(ts_task_cancel(t[0], NULL), 1);
    for (int i = NFIFOS - 1; i >= 0; i--) {
        int w = open(p[i], O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        assert_true(w >= 0);
        char msg[8];
        int n = snprintf(msg, sizeof msg, "m%d", i);
        assert_int_equal(write(w, msg, (size_t)n), n);
        close(w);
        if (i > 0) {
            assert_true(wait_done(t[i]));
            assert_int_equal(pd[i].rc, n);
            assert_memory_equal(pd[i].buf, msg, (size_t)n);
        }
    }
    for (int i = 0; i < NFIFOS; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(ts_file_close(f[i]), 0);
        unlink(p[i]);
    }
    assert_int_equal(pd[0].rc, -ECANCELED);
    return NULL;
}

typedef struct opener {
    const char *path;
    int rc;
    ts_file *f;
} opener;

/* O_CREAT makes io_uring open in a worker that blocks like open(2) does
 * (without it, the kernel opens a FIFO without waiting for a writer). */
static void *open_pending(void *arg) {
    opener *o = arg;
    o->rc = ts_file_open(o->path, O_RDONLY | O_CREAT, 0600, &o->f);
    return NULL;
}

/* Opening a FIFO for reading waits for a writer; a cancelled open returns
 * at once and its descriptor, if it ever comes, is closed. */
static void *body_cancel_open(void *arg) {
    (void)arg;
    char p[256];
    make_fifo(p, sizeof p);
    struct stat st;
    assert_int_equal(ts_stat(dir, &st), 0); /* the backend is set up */
    int before = count_fds();
    opener o = {.path = p, .rc = 1};
    ts_task *t = ts_spawn(open_pending, &o);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ts_sleep(0.01), 0);
    assert_false(ts_task_done(t));
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_true(wait_done(t));
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(o.rc, -ECANCELED);
    assert_null(o.f);
    /* Let a still-waiting open complete (thread backend). */
    int w = open(p, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (w >= 0)
        close(w);
    for (int i = 0; i < 1000 && count_fds() != before; i++)
        ts_sleep(0.005);
    assert_int_equal(count_fds(), before);
    unlink(p);
    return NULL;
}

/* A task cancelled before its call starts gets -ECANCELED and nothing is
 * opened. */
static void *body_cancel_before(void *arg) {
    (void)arg;
    char p[256];
    path_of(p, sizeof p, "never.txt");
    int before = count_fds();
    opener o = {.path = p, .rc = 1};
    ts_task *t = ts_spawn(open_pending, &o);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED); /* never ran */
    assert_int_equal(o.rc, 1);
    assert_int_equal(count_fds(), before);
    return NULL;
}

/* ---- drivers -------------------------------------------------------------------------- */

static int use_backend(const char *name) {
    setenv("TASKSCOPE_FILE_BACKEND", name, 1);
    want_backend = name;
    return 0;
}

static int setup_threads(void **state) {
    (void)state;
    return use_backend("threads");
}

static int setup_uring(void **state) {
    (void)state;
    return use_backend("uring");
}

static void *probe_backend(void *arg) {
    *(const char **)arg = ts_file_backend();
    return NULL;
}

#define BODY(name)                                  \
    static void test_##name(void **state) {         \
        (void)state;                                \
        if (strcmp(want_backend, "uring") == 0) {   \
            const char *got = NULL;                 \
            ts_run(probe_backend, &got);            \
            if (strcmp(got, "uring") != 0)          \
                skip();                             \
        }                                           \
        run_body(body_##name);                      \
    }
BODY(write_read)
BODY(large)
BODY(concurrent)
BODY(errors)
BODY(cancel_read)
BODY(fifo_readers)
BODY(cancel_open)
BODY(cancel_before)
BODY(fork)

#define TESTS(setup)                                                \
    cmocka_unit_test_setup(test_write_read, setup),                 \
        cmocka_unit_test_setup(test_large, setup),                  \
        cmocka_unit_test_setup(test_concurrent, setup),             \
        cmocka_unit_test_setup(test_errors, setup),                 \
        cmocka_unit_test_setup(test_cancel_read, setup),            \
        cmocka_unit_test_setup(test_fifo_readers, setup),           \
        cmocka_unit_test_setup(test_cancel_open, setup),            \
        cmocka_unit_test_setup(test_cancel_before, setup),          \
        cmocka_unit_test_setup(test_fork, setup)

int main(void) {
    if (test_tmp_dir(dir, sizeof dir, "ts_test_file"))
        return 1;
    const struct CMUnitTest threads_tests[] = {TESTS(setup_threads)};
    const struct CMUnitTest uring_tests[] = {TESTS(setup_uring)};
    int failed = cmocka_run_group_tests_name("file/threads", threads_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("file/uring", uring_tests, NULL, NULL);
    rmdir(dir);
    return failed;
}
