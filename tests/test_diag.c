/*
 * test_diag.c - black-box tests of diagnostics (diag.h) and error names
 * (error.h).
 *
 * Each asyncio-style mistake is provoked on purpose and must be reported
 * exactly once, naming the task (name, id) and where it was spawned;
 * correct programs next to them must not be reported.  The handler here
 * records the fields of each report and then hands it to the harness's
 * capture, so diag_seen/diag_last keep their usual meaning.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

typedef struct seen_diag {
    ts_diag_kind kind;
    char what[128], name[64], message[128], file[256], formatted[512];
    uint64_t task_id;
    int line, err, has_site;
} seen_diag;

static seen_diag last[8];
static int nlast;

static void record_diag(const ts_diag *d, void *arg) {
    seen_diag *s = &last[nlast < 8 ? nlast : 7];
    memset(s, 0, sizeof *s);
    s->kind = d->kind;
    snprintf(s->what, sizeof s->what, "%s", d->what ? d->what : "");
    snprintf(s->name, sizeof s->name, "%s", d->task_name ? d->task_name : "");
    snprintf(s->message, sizeof s->message, "%s", d->message ? d->message : "");
    s->task_id = d->task_id;
    s->err = d->err;
    if (d->site) {
        s->has_site = 1;
        snprintf(s->file, sizeof s->file, "%s", d->site->file);
        s->line = d->site->line;
    }
    ts_diag_format(d, s->formatted, sizeof s->formatted);
    nlast++;
    diag_capture(d, arg);
}

static void start(void) {
    diag_reset();
    nlast = 0;
    ts_set_diag_handler(record_diag, NULL);
}

static const seen_diag *only(ts_diag_kind kind) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k] != (k == (int)kind))
            fail_msg("diagnostic kind %d seen %d times (want only one of "
                     "kind %d): %s", k, diag_seen[k], kind, diag_last);
    assert_int_equal(nlast, 1);
    return &last[0];
}

static void *quick(void *arg) { return arg; }

static void *fail_io(void *arg) {
    (void)arg;
    return ts_fail(-EIO, "timeout reading %s", "sensor");
}

static void *end_cancelled(void *arg) {
    (void)arg;
    return ts_fail(-ECANCELED, NULL);
}

/* ---- error never retrieved ---------------------------------------------- */

static int fail_line;
static uint64_t fail_id;

static void *body_never_retrieved(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("fetch", fail_io, NULL); fail_line = __LINE__;
    fail_id = ts_task_id(t);
    ts_task_detach(t);
    for (int i = 0; i < 10; i++)
        ts_sleep(0);
    /* Detached tasks that succeed or end cancelled are not reported. */
    ts_task_detach(ts_spawn(quick, NULL));
    ts_task_detach(ts_spawn(end_cancelled, NULL));
    for (int i = 0; i < 10; i++)
        ts_sleep(0);
    return NULL;
}

static void test_never_retrieved(void **s) {
    (void)s;
    start();
    assert_int_equal(run_main(body_never_retrieved, NULL), 0);
    const seen_diag *d = only(TS_DIAG_ERROR_NEVER_RETRIEVED);
    assert_string_equal(d->name, "fetch");
    assert_int_equal(d->task_id, fail_id);
    assert_int_equal(d->err, -EIO);
    assert_string_equal(d->message, "timeout reading sensor");
    assert_true(d->has_site);
    assert_string_equal(d->file, __FILE__);
    assert_int_equal(d->line, fail_line);
    /* The printed line carries the same facts. */
    char where[64], id[32];
    snprintf(where, sizeof where, "test_diag.c:%d", fail_line);
    snprintf(id, sizeof id, "#%llu", (unsigned long long)fail_id);
    assert_non_null(strstr(d->formatted, "fetch"));
    assert_non_null(strstr(d->formatted, where));
    assert_non_null(strstr(d->formatted, id));
    assert_non_null(strstr(d->formatted, "timeout reading sensor"));
    assert_non_null(strstr(d->formatted, ts_strerror(-EIO)));
}

/* Errors that were looked at, by await, result or error, are retrieved. */
static void *body_retrieved(void *arg) {
    (void)arg;
    assert_int_equal(ts_await(ts_spawn(fail_io, NULL), NULL), -EIO);
    ts_task *t = ts_spawn(fail_io, NULL);
    ts_task *r = ts_task_ref(t);
    ts_task_detach(t);
    while (!ts_task_done(r))
        ts_sleep(0);
    assert_int_equal(ts_task_result(r, NULL), -EIO);
    ts_task_unref(r);
    t = ts_spawn(fail_io, NULL);
    r = ts_task_ref(t);
    ts_task_detach(t);
    while (!ts_task_done(r))
        ts_sleep(0);
    assert_int_equal(ts_task_error(r), -EIO);
    ts_task_unref(r);
    return NULL;
}

static void test_retrieved_not_reported(void **s) {
    (void)s;
    start();
    assert_int_equal(run_main(body_retrieved, NULL), 0);
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

/* ---- never awaited ---------------------------------------------------------- */

static int forgot_line;

static void *body_never_awaited(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("forgotten", quick, NULL); forgot_line = __LINE__;
    ts_sleep(0);
    ts_sleep(0);
    assert_int_equal(ts_task_done(t), 1);
    return NULL;   /* the handle is still held when the loop closes */
}

static void test_never_awaited(void **s) {
    (void)s;
    start();
    assert_int_equal(run_main(body_never_awaited, NULL), 0);
    const seen_diag *d = only(TS_DIAG_NEVER_AWAITED);
    assert_string_equal(d->name, "forgotten");
    assert_true(d->has_site);
    assert_int_equal(d->line, forgot_line);
    assert_string_equal(d->file, __FILE__);
    assert_non_null(strstr(d->formatted, "forgotten"));
}

/* ---- destroyed pending ------------------------------------------------------- */

static int sleeper_woke;
static void *sleep_long(void *arg) {
    (void)arg;
    ts_sleep(100);
    sleeper_woke = 1;   /* must never run: the loop frees it instead */
    return NULL;
}

static int never_started_ran;
static void *never_started(void *arg) {
    (void)arg;
    never_started_ran = 1;
    return NULL;
}

static void *kick(void *arg) {
    (void)arg;
    ts_sleep(0.001);
    return NULL;
}

static void test_destroyed_pending(void **s) {
    (void)s;
    start();
    sleeper_woke = never_started_ran = 0;
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    ts_task *p = ts_spawn_named("pending_one", sleep_long, NULL);
    int pending_line = __LINE__ - 1;
    ts_task_detach(p);
    assert_int_equal(ts_loop_run_until_complete(l, ts_spawn(kick, NULL), NULL), 0);
    assert_int_equal(nlast, 0);
    assert_int_equal(ts_loop_close(l), 0);
    assert_int_equal(sleeper_woke, 0);
    const seen_diag *d = only(TS_DIAG_TASK_DESTROYED_PENDING);
    assert_string_equal(d->name, "pending_one");
    assert_int_equal(d->line, pending_line);

    /* Never started, handle still held: pending and never awaited. */
    start();
    assert_int_equal(ts_loop_new(&l), 0);
    ts_spawn_named("held", never_started, NULL);
    assert_int_equal(ts_loop_close(l), 0);
    assert_int_equal(never_started_ran, 0);
    assert_int_equal(diag_seen[TS_DIAG_TASK_DESTROYED_PENDING], 1);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 1);
    assert_int_equal(nlast, 2);
    assert_string_equal(last[0].name, "held");
    assert_string_equal(last[1].name, "held");
}

/* ---- futures, counts, handler routing ------------------------------------------ */

static void test_future_destroyed_pending(void **s) {
    (void)s;
    start();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    uint64_t before = ts_diag_count(TS_DIAG_FUTURE_DESTROYED_PENDING);
    ts_future_free(ts_future_new());
    assert_int_equal(ts_diag_count(TS_DIAG_FUTURE_DESTROYED_PENDING), before + 1);
    only(TS_DIAG_FUTURE_DESTROYED_PENDING);
    assert_int_equal(ts_loop_close(l), 0);
}

/* With no handler the report goes to stderr, as one line. */
static void test_default_handler_prints(void **s) {
    (void)s;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    ts_set_diag_handler(NULL, NULL);
    ts_loop *l;
    int rc = ts_loop_new(&l);
    if (rc == 0) {
        ts_future_free(ts_future_new());
        rc = ts_loop_close(l);
    }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    char buf[1024] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    start();
    assert_int_equal(rc, 0);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "taskscope"));
    assert_non_null(strcasestr(buf, "destroyed"));
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', (size_t)n - 1));
}

static void test_format_truncates(void **s) {
    (void)s;
    ts_site site = {"some/file.c", "fn", 42};
    ts_diag d = {.kind = TS_DIAG_ERROR_NEVER_RETRIEVED,
                 .what = "Task exception was never retrieved", .task_id = 7,
                 .task_name = "fetch", .site = &site, .err = -EIO,
                 .message = "timeout reading"};
    char big[512];
    ts_diag_format(&d, big, sizeof big);
    assert_non_null(strstr(big, "fetch"));
    assert_non_null(strstr(big, "file.c:42"));
    assert_non_null(strstr(big, "#7"));
    assert_non_null(strstr(big, "timeout reading"));
    char small[12];
    memset(small, 'x', sizeof small);
    ts_diag_format(&d, small, 10);
    assert_true(memchr(small, 0, 10) != NULL);
    assert_int_equal(small[10], 'x');
    ts_diag_format(&d, small, 1);
    assert_int_equal(small[0], 0);
    /* Optional fields absent. */
    ts_diag bare = {.kind = TS_DIAG_WRONG_THREAD, .what = "wrong thread"};
    ts_diag_format(&bare, big, sizeof big);
    assert_non_null(strstr(big, "wrong thread"));
}

/* A misuse report names three places: the object's creation, the bad
 * call (a site, or just the function when it takes none) and where the
 * object was released; each is optional. */
static void test_format_misuse_sites(void **s) {
    (void)s;
    ts_site made = {"app/conn.c", "open_conn", 10};
    ts_site used = {"app/conn.c", "handle", 20};
    ts_site gone = {"app/conn.c", "close_conn", 30};
    ts_diag d = {.kind = TS_DIAG_USE_AFTER_FREE, .what = "object used after free/close",
                 .site = &made, .err = TS_EFREED, .message = "ts_lock used after it was freed",
                 .call_site = &used, .released_site = &gone};
    char buf[512];
    ts_diag_format(&d, buf, sizeof buf);
    assert_string_equal(buf, "taskscope: object used after free/close created at "
                             "app/conn.c:10 in open_conn(); used at app/conn.c:20 in "
                             "handle(); released at app/conn.c:30 in close_conn(): "
                             "-4080 TS_EFREED (object used after free/close (or task "
                             "handle after release)): ts_lock used after it was freed");
    ts_site call_only = {NULL, "ts_task_detach", 0};
    ts_diag h = {.kind = TS_DIAG_USE_AFTER_FREE, .what = "task handle used after it was released",
                 .task_id = 3, .task_name = "w", .site = &made, .call_site = &call_only};
    ts_diag_format(&h, buf, sizeof buf);
    assert_string_equal(buf, "taskscope: task handle used after it was released: task 'w' #3 "
                             "spawned at app/conn.c:10 in open_conn(); used at ts_task_detach()");
    assert_int_equal(ts_diag_count(TS_DIAG_KIND_END), 0);
}

/* ---- error names ----------------------------------------------------------------- */

static void test_error_names(void **s) {
    (void)s;
    static const struct {
        int code;
        const char *name;
    } ts_codes[] = {
        {TS_EOF, "TS_EOF"}, {TS_EWRONGLOOP, "TS_EWRONGLOOP"},
        {TS_ENOTASK, "TS_ENOTASK"}, {TS_EINVALSTATE, "TS_EINVALSTATE"},
        {TS_EGROUPCLOSED, "TS_EGROUPCLOSED"}, {TS_EBROKEN, "TS_EBROKEN"},
        {TS_ECLOSED, "TS_ECLOSED"}, {TS_ESHUTDOWN, "TS_ESHUTDOWN"},
        {TS_EGROUP, "TS_EGROUP"},
        {-ECANCELED, "ECANCELED"}, {-ETIMEDOUT, "ETIMEDOUT"},
        {-ENOMEM, "ENOMEM"}, {-EINVAL, "EINVAL"}, {-EBUSY, "EBUSY"},
        {-EDEADLK, "EDEADLK"}, {-EBADF, "EBADF"}, {-EPERM, "EPERM"},
        {-EIO, "EIO"}, {-ESRCH, "ESRCH"}, {-EMFILE, "EMFILE"},
        {-EAGAIN, "EAGAIN"}, {-EPIPE, "EPIPE"}, {-ECONNRESET, "ECONNRESET"},
    };
    const char *unknown = ts_strerror(-99999);
    assert_non_null(unknown);
    assert_non_null(strcasestr(unknown, "unknown"));
    enum { N = sizeof ts_codes / sizeof ts_codes[0] };
    for (int i = 0; i < N; i++) {
        const char *name = ts_err_name(ts_codes[i].code);
        const char *text = ts_strerror(ts_codes[i].code);
        assert_non_null(name);
        assert_string_equal(name, ts_codes[i].name);
        assert_non_null(text);
        assert_true(text[0] != 0);
        if (strcasestr(text, "unknown"))
            fail_msg("%s described as '%s'", ts_codes[i].name, text);
        for (int j = 0; j < i; j++)
            if (!strcmp(text, ts_strerror(ts_codes[j].code)))
                fail_msg("%s and %s share the text '%s'", ts_codes[i].name,
                         ts_codes[j].name, text);
    }
    /* Bad input: never NULL, never a crash (INT_MIN cannot be negated). */
    const int odd[] = {0, 5, -99999, INT_MIN, INT_MAX, -4096, -4086};
    for (int i = 0; i < 7; i++) {
        assert_non_null(ts_strerror(odd[i]));
        assert_non_null(ts_err_name(odd[i]));
    }
}

/* A pending task that another (also pending) task is awaiting was not
 * forgotten: closing the loop reports both as destroyed pending, and
 * neither as never awaited. */
static void *await_sleeper(void *arg) {
    (void)arg;
    ts_await(ts_spawn_named("inner", sleep_long, NULL), NULL);
    sleeper_woke = 1;
    return NULL;
}

static void test_destroyed_pending_awaited(void **s) {
    (void)s;
    start();
    sleeper_woke = 0;
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    ts_task_detach(ts_spawn_named("outer", await_sleeper, NULL));
    assert_int_equal(ts_loop_run_until_complete(l, ts_spawn(kick, NULL), NULL), 0);
    assert_int_equal(ts_loop_close(l), 0);
    assert_int_equal(sleeper_woke, 0);
    if (diag_seen[TS_DIAG_NEVER_AWAITED])
        fail_msg("a task being awaited reported as never awaited: %s", diag_last);
    assert_int_equal(diag_seen[TS_DIAG_TASK_DESTROYED_PENDING], 2);
    assert_int_equal(nlast, 2);
}

/* A task destroyed while inside a timeout scope (and parked on a future)
 * never gets to exit it: closing the loop must free what the runtime
 * allocated for it (ASan's leak check and valgrind see a leak otherwise). */
static void *scoped_pending(void *arg) {
    ts_timeout *to = ts_timeout_enter(10);
    int r = ts_future_await((ts_future *)arg, NULL);
    sleeper_woke = 1;
    return IPTR(ts_timeout_exit(to, r));
}

static void test_destroyed_pending_in_scope(void **s) {
    (void)s;
    start();
    sleeper_woke = 0;
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    ts_future *f = ts_future_new();
    ts_task_detach(ts_spawn_named("scoped", scoped_pending, f));
    assert_int_equal(ts_loop_run_until_complete(l, ts_spawn(kick, NULL), NULL), 0);
    assert_int_equal(ts_loop_close(l), 0);
    assert_int_equal(sleeper_woke, 0);
    assert_string_equal(only(TS_DIAG_TASK_DESTROYED_PENDING)->name, "scoped");
    start();
    ts_future_free(f);   /* still pending: reported, after its loop is gone */
    only(TS_DIAG_FUTURE_DESTROYED_PENDING);
}

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
        cmocka_unit_test_teardown(test_never_retrieved, close_leftover_loop),
        cmocka_unit_test_teardown(test_retrieved_not_reported, close_leftover_loop),
        cmocka_unit_test_teardown(test_never_awaited, close_leftover_loop),
        cmocka_unit_test_teardown(test_destroyed_pending, close_leftover_loop),
        cmocka_unit_test_teardown(test_destroyed_pending_in_scope, close_leftover_loop),
        cmocka_unit_test_teardown(test_destroyed_pending_awaited, close_leftover_loop),
        cmocka_unit_test_teardown(test_future_destroyed_pending, close_leftover_loop),
        cmocka_unit_test_teardown(test_default_handler_prints, close_leftover_loop),
        cmocka_unit_test_teardown(test_format_truncates, close_leftover_loop),
        cmocka_unit_test_teardown(test_format_misuse_sites, close_leftover_loop),
        cmocka_unit_test_teardown(test_error_names, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
