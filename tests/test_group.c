/*
 * test_group.c - task groups (asyncio.TaskGroup): all succeed; the first
 * failure cancels the siblings and the body, and the group takes its own
 * cancellation back; several failures give TS_EGROUP with every error
 * collected in order; an aborting or finished group refuses new children;
 * children spawning siblings; an outside cancellation of the body (it
 * waits for the children, then -ECANCELED; with child errors, those win
 * and the cancellation is re-delivered); a body error cancels the
 * children; a group cancel that was never delivered is taken back without
 * a trace; a timeout scope around a group; misuse; RSS flat over 1M
 * short-lived children.
 *
 * Orderings come from counted yields and the loop's FIFO ready queue;
 * children that must be cancelled sleep far longer than any test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

static void settle(int rounds) {
    for (int i = 0; i < rounds; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* A child: yields, then sleeps `delay` s, then returns value or fails with
 * `fail`.  Cancelled, it runs a cleanup that suspends, and ends cancelled
 * unless `fail_on_cancel` makes it fail instead.  `spawn_into` makes it
 * spawn a sibling into that group first (recording what that gave). */
typedef struct job {
    int yields;
    double delay;
    intptr_t value;
    int fail;
    int fail_on_cancel;
    int cancels_seen;
    int cleaned;
    int finished;
    ts_group *spawn_into;
    struct job *sibling;
    ts_task *spawned;
    int spawn_errno;
} job;

static void *job_fn(void *arg);

static void try_spawn(job *j) {
    errno = 0;
    j->spawned = ts_group_spawn(j->spawn_into, job_fn, j->sibling);
    j->spawn_errno = errno;
}

static void *job_cancelled(job *j) {
    j->cancels_seen++;
    if (j->spawn_into)
        try_spawn(j);
    ts_sleep(0);
    j->cleaned = 1;
    j->finished = 1;
    return ts_fail(j->fail_on_cancel ? j->fail_on_cancel : -ECANCELED, "cancelled");
}

static void *job_fn(void *arg) {
    job *j = arg;
    int rc = 0;
    if (j->spawn_into && !j->fail_on_cancel)
        try_spawn(j);
    for (int i = 0; i < j->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && j->delay > 0)
        rc = ts_sleep(j->delay);
    if (rc == -ECANCELED)
        return job_cancelled(j);
    j->finished = 1;
    return j->fail ? ts_fail(j->fail, "job failed") : IPTR(j->value);
}

/* ---- success ------------------------------------------------------------ */

static void *t_all_succeed(void *arg) {
    (void)arg;
    job j[3] = {{.yields = 3, .value = 1}, {.yields = 1, .value = 2},
                {.value = 3}};
    ts_group *g = ts_group_new();
    assert_non_null(g);
    ts_task *c[3];
    /* The group gives a child up when it finishes: hold a handle of our
     * own to read its result afterwards. */
    for (int i = 0; i < 3; i++)
        assert_non_null(c[i] = ts_task_ref(ts_group_spawn(g, job_fn, &j[i])));
    assert_int_equal(ts_group_wait(g, 0), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        assert_true(j[i].finished);
        assert_int_equal(ts_task_result(c[i], &r), 0);
        assert_int_equal(PTRI(r), i + 1);
        ts_task_unref(c[i]);
    }
    assert_int_equal(ts_group_error_count(g), 0);
    ts_task *et = c[0];
    assert_int_equal(ts_group_error(g, 0, &et), 0);
    assert_null(et);
    /* Finished: no more children. */
    errno = 0;
    assert_null(ts_group_spawn(g, job_fn, &j[0]));
    assert_int_equal(errno, EBUSY);
    ts_group_free(g);
    /* An empty group. */
    g = ts_group_new();
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    return NULL;
}

static void test_all_succeed(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_all_succeed, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* A child spawns a sibling while the body already waits: the group waits
 * for that one too. */
static void *t_child_spawns(void *arg) {
    (void)arg;
    ts_group *g = ts_group_new();
    job sib = {.yields = 4, .value = 9};
    job parent = {.yields = 1, .spawn_into = g, .sibling = &sib};
    ts_group_spawn(g, job_fn, &parent);
    assert_int_equal(ts_group_wait(g, 0), 0);
    assert_non_null(parent.spawned);
    assert_true(sib.finished);
    ts_group_free(g);
    return NULL;
}

static void test_child_spawns(void **state) {
    (void)state;
    assert_int_equal(run_main(t_child_spawns, NULL), 0);
}

/* ---- failures ------------------------------------------------------------ */

static void *t_failure_cancels_all(void *arg) {
    (void)arg;
    ts_task *self = ts_current_task();
    job sib[2] = {{.delay = 60.0}, {.delay = 60.0}};
    job bad = {.yields = 2, .fail = -EIO};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, job_fn, &sib[0]);
    ts_task *bt = ts_group_spawn(g, job_fn, &bad);
    ts_group_spawn(g, job_fn, &sib[1]);
    /* The body is busy elsewhere; the failure interrupts it. */
    int body_rc = ts_sleep(60.0);
    assert_int_equal(body_rc, -ECANCELED);
    assert_int_equal(ts_task_cancelling(self), 1);
    /* Shutting down: no new children. */
    errno = 0;
    assert_null(ts_group_spawn(g, job_fn, &sib[0]));
    assert_int_equal(errno, EBUSY);
    assert_int_equal(ts_group_wait(g, body_rc), -EIO);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sib[i].cancels_seen, 1);
        assert_true(sib[i].cleaned);
    }
    assert_int_equal(ts_group_error_count(g), 1);
    ts_task *et = NULL;
    assert_int_equal(ts_group_error(g, 0, &et), -EIO);
    assert_ptr_equal(et, bt);
    /* The group's own cancellation was taken back. */
    assert_int_equal(ts_task_cancelling(self), 0);
    assert_int_equal(ts_sleep(0), 0);
    ts_group_free(g);
    return NULL;
}

static void test_failure_cancels_all(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_failure_cancels_all, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
}

/* The failure happens while the body already waits in ts_group_wait. */
static void *t_failure_while_waiting(void *arg) {
    (void)arg;
    job sib = {.delay = 60.0};
    job bad = {.yields = 3, .fail = -EPIPE};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, job_fn, &sib);
    ts_group_spawn(g, job_fn, &bad);
    assert_int_equal(ts_group_wait(g, 0), -EPIPE);
    assert_true(sib.cleaned);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_sleep(0), 0);
    ts_group_free(g);
    return NULL;
}

static void test_failure_while_waiting(void **state) {
    (void)state;
    assert_int_equal(run_main(t_failure_while_waiting, NULL), 0);
}

/* Several children fail: TS_EGROUP, every error kept in order; a child
 * trying to spawn while the group shuts down is refused. */
static void *t_several_failures(void *arg) {
    (void)arg;
    ts_group *g = ts_group_new();
    job late = {.yields = 1};
    job a = {.yields = 1, .fail = -EIO};
    job b = {.delay = 60.0, .fail_on_cancel = -EPIPE, .spawn_into = g,
             .sibling = &late};
    job c = {.delay = 60.0};
    ts_task *at = ts_group_spawn(g, job_fn, &a);
    ts_task *bt = ts_group_spawn(g, job_fn, &b);
    ts_group_spawn(g, job_fn, &c);
    assert_int_equal(ts_group_wait(g, 0), TS_EGROUP);
    assert_int_equal(ts_group_error_count(g), 2);
    ts_task *et;
    assert_int_equal(ts_group_error(g, 0, &et), -EIO);
    assert_ptr_equal(et, at);
    assert_int_equal(ts_group_error(g, 1, &et), -EPIPE);
    assert_ptr_equal(et, bt);
    assert_int_equal(ts_group_error(g, 2, &et), 0);
    assert_null(et);
    assert_true(c.cleaned);
    assert_null(b.spawned);
    assert_int_equal(b.spawn_errno, EBUSY);
    assert_false(late.finished);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    ts_group_free(g);
    return NULL;
}

static void test_several_failures(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_several_failures, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* ---- the body ----------------------------------------------------------- */

/* A body error (an exception leaving "async with") cancels the children
 * and is what the group returns. */
static void *t_body_error(void *arg) {
    (void)arg;
    job j[2] = {{.delay = 60.0}, {.delay = 60.0}};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, job_fn, &j[0]);
    ts_group_spawn(g, job_fn, &j[1]);
    settle(1);
    assert_int_equal(ts_group_wait(g, -EINVAL), -EINVAL);
    assert_true(j[0].cleaned && j[1].cleaned);
    /* The body's error is listed too (asyncio appends it to the group's
     * errors), as the body's. */
    assert_int_equal(ts_group_error_count(g), 1);
    const ts_group_failure *f = ts_error_group_get(ts_group_errors(g), 0);
    assert_non_null(f);
    assert_int_equal(f->err, -EINVAL);
    assert_true(f->from_body);
    assert_int_equal(f->task_id, ts_task_id(ts_current_task()));
    ts_task *et = NULL;
    assert_int_equal(ts_group_error(g, 0, &et), -EINVAL);
    assert_ptr_equal(et, ts_current_task());
    ts_group_free(g);
    return NULL;
}

static void test_body_error(void **state) {
    (void)state;
    assert_int_equal(run_main(t_body_error, NULL), 0);
}

/* The body as its own task, so the main task can cancel it. */
typedef struct body {
    job *jobs;
    int njobs;
    int sleep_first;        /* sleep in the body before ts_group_wait */
    int body_rc;
    int rc;
    int all_done_at_return;
    int cancelling_after;
    int next_rc;            /* the suspension after ts_group_wait */
} body;

static void *body_fn(void *arg) {
    body *b = arg;
    ts_group *g = ts_group_new();
    for (int i = 0; i < b->njobs; i++)
        ts_group_spawn(g, job_fn, &b->jobs[i]);
    b->body_rc = b->sleep_first ? ts_sleep(60.0) : 0;
    b->rc = ts_group_wait(g, b->body_rc);
    b->all_done_at_return = 1;
    for (int i = 0; i < b->njobs; i++)
        b->all_done_at_return &= b->jobs[i].finished;
    b->cancelling_after = ts_task_cancelling(ts_current_task());
    ts_group_free(g);
    b->next_rc = ts_sleep(0);
    return b->rc ? ts_fail(b->rc, "group") : NULL;
}

/* Cancelled from outside while in ts_group_wait. */
static void *t_outside_cancel_waiting(void *arg) {
    (void)arg;
    job j[2] = {{.delay = 60.0}, {.yields = 2, .value = 1}};
    body b = {.jobs = j, .njobs = 2, .rc = 1};
    ts_task *bt = ts_spawn(body_fn, &b);
    settle(2);
    ts_task_cancel(bt, "from outside");
    assert_int_equal(ts_await(bt, NULL), -ECANCELED);
    assert_int_equal(b.rc, -ECANCELED);
    assert_true(b.all_done_at_return);
    assert_true(j[0].cleaned);
    assert_int_equal(b.cancelling_after, 1);   /* not taken back */
    return NULL;
}

static void test_outside_cancel_waiting(void **state) {
    (void)state;
    assert_int_equal(run_main(t_outside_cancel_waiting, NULL), 0);
}

/* Cancelled from outside while the body is elsewhere: it passes
 * -ECANCELED on, the group cancels the children and waits for them. */
static void *t_outside_cancel_body(void *arg) {
    (void)arg;
    job j[2] = {{.delay = 60.0}, {.delay = 60.0}};
    body b = {.jobs = j, .njobs = 2, .sleep_first = 1, .rc = 1};
    ts_task *bt = ts_spawn(body_fn, &b);
    settle(2);
    ts_task_cancel(bt, NULL);
    assert_int_equal(ts_await(bt, NULL), -ECANCELED);
    assert_int_equal(b.body_rc, -ECANCELED);
    assert_int_equal(b.rc, -ECANCELED);
    assert_true(b.all_done_at_return);
    assert_true(j[0].cleaned && j[1].cleaned);
    return NULL;
}

static void test_outside_cancel_body(void **state) {
    (void)state;
    assert_int_equal(run_main(t_outside_cancel_body, NULL), 0);
}

/* An outside cancellation while the children fail: their errors win, and
 * the cancellation is delivered again at the body's next suspension. */
static void *t_outside_cancel_with_errors(void *arg) {
    (void)arg;
    job j[1] = {{.delay = 60.0, .fail_on_cancel = -EIO}};
    body b = {.jobs = j, .njobs = 1, .rc = 1};
    ts_task *bt = ts_spawn(body_fn, &b);
    settle(2);
    ts_task_cancel(bt, NULL);
    assert_int_equal(ts_await(bt, NULL), -EIO);
    assert_int_equal(b.rc, -EIO);
    assert_int_equal(b.cancelling_after, 1);
    assert_int_equal(b.next_rc, -ECANCELED);
    return NULL;
}

static void test_outside_cancel_with_errors(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_outside_cancel_with_errors, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* The group cancels the body while it is ready to run, after something
 * else already woke it: the request is never delivered before
 * ts_group_wait, which takes it back without a trace. */
typedef struct setter {
    ts_future *f;
} setter;

static void *set_fn(void *arg) {
    ts_future_set_result(((setter *)arg)->f, IPTR(5));
    return NULL;
}

static void *t_undelivered_cancel(void *arg) {
    (void)arg;
    ts_future *f = ts_future_new();
    setter s = {.f = f};
    job bad = {.fail = -EIO};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, set_fn, &s);
    ts_group_spawn(g, job_fn, &bad);   /* fails just after the set */
    void *r = NULL;
    assert_int_equal(ts_future_await(f, &r), 0);
    assert_int_equal(PTRI(r), 5);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 1);
    assert_int_equal(ts_group_wait(g, 0), -EIO);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_sleep(0), 0);   /* nothing left pending */
    ts_group_free(g);
    ts_future_free(f);
    return NULL;
}

static void test_undelivered_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_undelivered_cancel, NULL), 0);
}

/* asyncio's "async with timeout(): async with TaskGroup()": the scope's
 * cancellation reaches the body in ts_group_wait, the group cancels the
 * children, reports -ECANCELED (not its own doing), and the scope turns
 * that into -ETIMEDOUT with the count back where it was. */
static void *t_timeout_scope(void *arg) {
    (void)arg;
    job j[2] = {{.delay = 60.0}, {.yields = 1, .value = 1}};
    ts_timeout *to = ts_timeout_enter(0.02);
    assert_non_null(to);
    ts_group *g = ts_group_new();
    ts_group_spawn(g, job_fn, &j[0]);
    ts_group_spawn(g, job_fn, &j[1]);
    int err = ts_group_wait(g, 0);
    assert_int_equal(err, -ECANCELED);
    assert_true(j[0].cleaned);
    assert_true(j[1].finished);
    ts_group_free(g);
    assert_int_equal(ts_timeout_exit(to, err), -ETIMEDOUT);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}

static void test_timeout_scope(void **state) {
    (void)state;
    assert_int_equal(run_main(t_timeout_scope, NULL), 0);
}

/* A child failing inside a scope that does not expire: the group's own
 * cancellation must not look like the scope's. */
static void *t_failure_inside_scope(void *arg) {
    (void)arg;
    job sib = {.delay = 60.0};
    job bad = {.yields = 1, .fail = -EIO};
    ts_timeout *to = ts_timeout_enter(30.0);
    ts_group *g = ts_group_new();
    ts_group_spawn(g, job_fn, &sib);
    ts_group_spawn(g, job_fn, &bad);
    int err = ts_group_wait(g, ts_sleep(60.0));
    ts_group_free(g);
    assert_int_equal(ts_timeout_exit(to, err), -EIO);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    return NULL;
}

static void test_failure_inside_scope(void **state) {
    (void)state;
    assert_int_equal(run_main(t_failure_inside_scope, NULL), 0);
}

/* ---- memory ---------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
enum { UNDER_ASAN = 1 };
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
enum { UNDER_ASAN = 1 };
#else
enum { UNDER_ASAN = 0 };
#endif
#else
enum { UNDER_ASAN = 0 };
#endif

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *short_lived(void *arg) {
    (*(long *)arg)++;
    return NULL;
}

/* A group around an "accept loop": 1M children, each finished soon after
 * it is spawned.  The group lets each go when it finishes, so RSS stays
 * flat (issue 14: 200k children used to cost 72 MB until ts_group_free).
 * The bound is generous: what is measured is growth, not speed. */
static void *t_memory_flat(void *arg) {
    (void)arg;
    enum { TOTAL = 1000000, BATCH = 1000, WARM = 100000 };
    long done = 0, before = 0;
    ts_group *g = ts_group_new();
    for (long i = 0; i < TOTAL; i++) {
        assert_non_null(ts_group_spawn(g, short_lived, &done));
        if (i % BATCH == BATCH - 1) {
            ts_sleep(0);
            assert_true(ts_group_running(g) <= BATCH);
        }
        if (i == WARM)
            before = rss_kib();
    }
    assert_int_equal(ts_group_wait(g, 0), 0);
    long after = rss_kib();
    if (getenv("TS_TEST_VERBOSE"))
        printf("rss: %ld KiB after 100k children, %ld KiB after 1M\n", before, after);
    ts_group_free(g);
    assert_int_equal(done, TOTAL);
    assert_true(before > 0);
    /* 900k more children kept would be ~300 MB; allow 8 MB of noise.
     * Under ASan freed memory sits in its quarantine (256 MB by default),
     * so only ts_group_running's bound above is checked there. */
    if (!UNDER_ASAN && after - before > 8 * 1024)
        fail_msg("RSS grew from %ld KiB to %ld KiB over 900k children", before, after);
    return NULL;
}

static void test_memory_flat(void **state) {
    (void)state;
    assert_int_equal(run_main(t_memory_flat, NULL), 0);
}

/* ---- misuse ---------------------------------------------------------------- */

typedef struct stranger {
    ts_group *g;
    int rc;
} stranger;

static void *stranger_fn(void *arg) {
    stranger *s = arg;
    s->rc = ts_group_wait(s->g, 0);
    return NULL;
}

static void *t_misuse(void *arg) {
    (void)arg;
    ts_group *g = ts_group_new();
    errno = 0;
    assert_null(ts_group_spawn(g, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(ts_group_spawn(NULL, job_fn, NULL));
    stranger s = {.g = g, .rc = 1};
    ts_await(ts_spawn(stranger_fn, &s), NULL);
    assert_int_equal(s.rc, -EPERM);
    assert_int_equal(ts_group_wait(g, 0), 0);
    assert_int_equal(ts_group_wait(g, 0), TS_EINVALSTATE);
    assert_int_equal(ts_group_wait(NULL, 0), -EINVAL);
    assert_int_equal(ts_group_error_count(NULL), 0);
    ts_group_free(g);
    ts_group_free(NULL);
    /* Freed without waiting: the children are cancelled, nothing leaks. */
    job j = {.delay = 60.0};
    g = ts_group_new();
    ts_group_spawn(g, job_fn, &j);
    settle(1);
    ts_group_free(g);
    settle(2);
    assert_true(j.cleaned);
    return NULL;
}

static void test_misuse(void **state) {
    (void)state;
    diag_reset();
    assert_int_equal(run_main(t_misuse, NULL), 0);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
    errno = 0;
    assert_null(ts_group_new());
    assert_int_equal(errno, ESRCH);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_succeed),
        cmocka_unit_test(test_child_spawns),
        cmocka_unit_test(test_failure_cancels_all),
        cmocka_unit_test(test_failure_while_waiting),
        cmocka_unit_test(test_several_failures),
        cmocka_unit_test(test_body_error),
        cmocka_unit_test(test_outside_cancel_waiting),
        cmocka_unit_test(test_outside_cancel_body),
        cmocka_unit_test(test_outside_cancel_with_errors),
        cmocka_unit_test(test_undelivered_cancel),
        cmocka_unit_test(test_timeout_scope),
        cmocka_unit_test(test_failure_inside_scope),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_memory_flat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
