/*
 * test_cpython_taskgroups.c - CPython's Lib/test/test_asyncio/
 * test_taskgroups.py (3.13), ported to the C API: every test whose
 * behaviour C can express, named after the Python test.
 *
 * How the port reads:
 *   - Python's exception classes become error codes: ZeroDivisionError
 *     -EDOM, ValueError -EINVAL, MyExc -EPROTO, RuntimeError -EIO.
 *   - "raises ExceptionGroup with error types {X}" becomes: the verdict
 *     (one error: that error; several: TS_EGROUP) and the entries of
 *     ts_group_errors(), nested lists included.
 *   - asyncio.sleep(0.1)-style orderings become counted yields on the
 *     loop's FIFO ready queue; "sleep(10)" is a 60 s sleep that every test
 *     cancels long before it ends.  No test depends on timing.
 *   - Not ported: 20, 20a, 21a (KeyboardInterrupt / BaseException: C has
 *     no non-Exception errors), task_context (contextvars), the
 *     exception_refcycles tests (garbage collector; the reference counts
 *     of error lists are checked by ASan/valgrind instead), and
 *     without_parent_task's "not entered" half (a C group is entered when
 *     it is made).
 */
#include "harness.h"

enum { ZDE = -EDOM, VALERR = -EINVAL, MYEXC = -EPROTO, RTERR = -EIO };

static void settle(int rounds) {
    for (int i = 0; i < rounds; i++)
        ts_sleep(0);
}

/* A child: yields `yields` times, then sleeps `sleep` s (if > 0), then
 * fails with `fail` (if set) or returns `value`.  Cancelled, it counts it
 * and ends cancelled, or fails with `fail_on_cancel` ("finally: 1/0"). */
typedef struct kid {
    int yields;
    double sleep;
    int fail;
    int fail_on_cancel;
    intptr_t value;
    int *cancel_counter;
    int cancelled;
} kid;

static void *kid_fn(void *arg) {
    kid *k = arg;
    int rc = 0;
    for (int i = 0; i < k->yields && rc == 0; i++)
        rc = ts_sleep(0);
    if (rc == 0 && k->sleep > 0)
        rc = ts_sleep(k->sleep);
    if (rc == -ECANCELED) {
        k->cancelled = 1;
        if (k->cancel_counter)
            (*k->cancel_counter)++;
        return ts_fail(k->fail_on_cancel ? k->fail_on_cancel : -ECANCELED, "cancelled");
    }
    return k->fail ? ts_fail(k->fail, "kid failed after %d yields", k->yields)
                   : IPTR(k->value);
}

/* Every leaf of the tree has code err, and there are n of them. */
static void assert_all_leaves(const ts_error_group *eg, int err, size_t n) {
    assert_non_null(eg);
    assert_int_equal(ts_error_group_count_code(eg, err), n);
}

/* Run fn as its own task after `before` yields cancel it (msg), and
 * return its outcome.  before < 0: do not cancel. */
static int run_cancelled(ts_task_fn fn, void *arg, int before, const char *msg,
                         char *msg_out) {
    ts_task *r = ts_task_ref(ts_spawn(fn, arg));
    if (before >= 0) {
        settle(before);
        assert_false(ts_task_done(r));
        ts_task_cancel(r, msg);
    }
    int err = ts_await(r, NULL);
    if (msg_out) {
        const char *m = ts_task_cancel_message(r);
        strcpy(msg_out, m ? m : "");
    }
    ts_task_unref(r);
    return err;
}

#define PORT(name)                                                  \
    static void *t_##name(void *arg);                               \
    static void test_##name(void **state) {                         \
        (void)state;                                                \
        diag_reset();                                               \
        assert_int_equal(run_main(t_##name, NULL), 0);              \
        assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0); \
        assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);      \
    }                                                               \
    static void *t_##name(void *arg)

/* ---- success -------------------------------------------------------------- */

PORT(taskgroup_01) {
    (void)arg;
    kid k1 = {.yields = 1, .value = 42}, k2 = {.yields = 2, .value = 11};
    ts_group *g = ts_group_new();
    ts_task *t1 = ts_task_ref(ts_group_spawn(g, kid_fn, &k1));
    ts_task *t2 = ts_task_ref(ts_group_spawn(g, kid_fn, &k2));
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    void *r;
    assert_int_equal(ts_task_result(t1, &r), 0);
    assert_int_equal(PTRI(r), 42);
    assert_int_equal(ts_task_result(t2, &r), 0);
    assert_int_equal(PTRI(r), 11);
    ts_task_unref(t1);
    ts_task_unref(t2);
    return NULL;
}

PORT(taskgroup_02) {
    (void)arg;
    kid k1 = {.yields = 1, .value = 42}, k2 = {.yields = 2, .value = 11};
    ts_group *g = ts_group_new();
    ts_task *t1 = ts_task_ref(ts_group_spawn(g, kid_fn, &k1));
    settle(3);   /* t1 has finished */
    assert_true(ts_task_done(t1));
    ts_task *t2 = ts_task_ref(ts_group_spawn(g, kid_fn, &k2));
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    void *r;
    assert_int_equal(ts_task_result(t1, &r), 0);
    assert_int_equal(PTRI(r), 42);
    assert_int_equal(ts_task_result(t2, &r), 0);
    assert_int_equal(PTRI(r), 11);
    ts_task_unref(t1);
    ts_task_unref(t2);
    return NULL;
}

/* Cancelling one child explicitly: the rest goes on, no error. */
PORT(taskgroup_03) {
    (void)arg;
    kid k1 = {.sleep = 60.0}, k2 = {.yields = 2, .value = 11};
    ts_group *g = ts_group_new();
    ts_task *t1 = ts_task_ref(ts_group_spawn(g, kid_fn, &k1));
    settle(1);
    ts_task_cancel(t1, NULL);
    ts_task *t2 = ts_task_ref(ts_group_spawn(g, kid_fn, &k2));
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    assert_true(ts_task_cancelled(t1));
    void *r;
    assert_int_equal(ts_task_result(t2, &r), 0);
    assert_int_equal(PTRI(r), 11);
    ts_task_unref(t1);
    ts_task_unref(t2);
    return NULL;
}

/* ---- child failures --------------------------------------------------------- */

typedef struct runner04 {
    int num;
    kid k1, k2;
    ts_task *t2;
} runner04;

static void *runner_04(void *arg) {
    runner04 *r = arg;
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &r->k1);
    r->t2 = ts_task_ref(ts_group_spawn(g, kid_fn, &r->k2));
    int err = ts_group_wait(g, 0);
    ts_group_free(g);
    if (err)
        return ts_fail(err, "group");
    r->num += 10;
    return NULL;
}

PORT(taskgroup_04) {
    (void)arg;
    runner04 r = {.k1 = {.yields = 2, .fail = ZDE}, .k2 = {.sleep = 60.0}};
    assert_int_equal(run_cancelled(runner_04, &r, -1, NULL, NULL), ZDE);
    assert_int_equal(r.num, 0);
    assert_true(r.k2.cancelled);
    assert_true(ts_task_cancelled(r.t2));
    ts_task_unref(r.t2);
    return NULL;
}

typedef struct runner_cc {
    kid foo1[3], foo2;
    int runner_cancel;
    int num;
    int errors_all_zde;
    size_t nerrors;
} runner_cc;

static void *runner_cancel_children(void *arg) {
    runner_cc *r = arg;
    ts_group *g = ts_group_new();
    for (int i = 0; i < 3; i++)
        ts_group_spawn(g, kid_fn, &r->foo1[i]);
    ts_group_spawn(g, kid_fn, &r->foo2);
    int body = ts_sleep(60.0);
    r->runner_cancel = body == -ECANCELED;
    int err = ts_group_wait(g, body);
    const ts_error_group *eg = ts_group_errors(g);
    r->nerrors = ts_error_group_count(eg);
    r->errors_all_zde = ts_error_group_count_code(eg, ZDE) == r->nerrors;
    ts_group_free(g);
    if (err)
        return ts_fail(err, "group");
    r->num += 10;
    return NULL;
}

PORT(cancel_children_on_child_error) {
    (void)arg;
    runner_cc r = {.foo1 = {{.yields = 1, .fail = ZDE}, {.yields = 1, .fail = ZDE},
                            {.yields = 1, .fail = ZDE}},
                   .foo2 = {.sleep = 60.0}};
    int err = run_cancelled(runner_cancel_children, &r, -1, NULL, NULL);
    /* The first failure cancels the other two while they are ready: as in
     * asyncio, "partial sub errors" are fine; every one is a ZDE. */
    assert_true(err == ZDE || err == TS_EGROUP);
    assert_true(r.nerrors >= 1);
    assert_true(r.errors_all_zde);
    assert_int_equal(r.num, 0);
    assert_true(r.foo2.cancelled);
    assert_true(r.runner_cancel);
    return NULL;
}

/* ---- cancellation from outside ------------------------------------------------ */

typedef struct runner5 {
    kid kids[5];
    int nkids;
    int body_sleeps;        /* the body sleeps (and catches the cancel) */
    int body_catch_add;     /* added to *num when the body is cancelled */
    int body_after_cancel;  /* error the body turns the cancel into */
    int num;
    int cancelling_after;
    int next_rc;
    size_t nerrors;
    size_t leaves;
    int leaf_code;
} runner5;

static void *runner_5(void *arg) {
    runner5 *r = arg;
    ts_group *g = ts_group_new();
    for (int i = 0; i < r->nkids; i++) {
        r->kids[i].cancel_counter = &r->num;
        ts_group_spawn(g, kid_fn, &r->kids[i]);
    }
    int body = 0;
    if (r->body_sleeps) {
        body = ts_sleep(60.0);
        if (body == -ECANCELED) {
            r->num += r->body_catch_add;
            if (r->body_after_cancel)
                body = r->body_after_cancel;
        }
    }
    int err = ts_group_wait(g, body);
    r->nerrors = ts_group_error_count(g);
    r->leaves = ts_error_group_count_code(ts_group_errors(g), r->leaf_code);
    r->cancelling_after = ts_task_cancelling(ts_current_task());
    ts_group_free(g);
    r->next_rc = ts_sleep(0);
    return err ? ts_fail(err, "group") : NULL;
}

PORT(cancellation) {
    (void)arg;
    runner5 r = {.nkids = 5};
    for (int i = 0; i < 5; i++)
        r.kids[i] = (kid){.sleep = 60.0};
    char msg[64];
    assert_int_equal(run_cancelled(runner_5, &r, 2, "test", msg), -ECANCELED);
    assert_string_equal(msg, "test");
    assert_int_equal(r.num, 5);
    return NULL;
}

PORT(taskgroup_07) {
    (void)arg;
    runner5 r = {.nkids = 5, .body_sleeps = 1, .body_catch_add = 10};
    for (int i = 0; i < 5; i++)
        r.kids[i] = (kid){.sleep = 60.0};
    assert_int_equal(run_cancelled(runner_5, &r, 2, NULL, NULL), -ECANCELED);
    assert_int_equal(r.num, 15);
    return NULL;
}

/* Children that fail when cancelled ("finally: 1/0"): their five errors
 * win over the outside cancellation, which is delivered again after. */
PORT(taskgroup_08) {
    (void)arg;
    runner5 r = {.nkids = 5, .body_sleeps = 1, .leaf_code = ZDE};
    for (int i = 0; i < 5; i++)
        r.kids[i] = (kid){.sleep = 60.0, .fail_on_cancel = ZDE};
    assert_int_equal(run_cancelled(runner_5, &r, 2, NULL, NULL), TS_EGROUP);
    assert_int_equal(r.nerrors, 5);
    assert_int_equal(r.leaves, 5);
    assert_int_equal(r.cancelling_after, 1);
    assert_int_equal(r.next_rc, -ECANCELED);
    return NULL;
}

PORT(cancellation_in_body) {
    (void)arg;
    runner5 r = {.nkids = 5, .body_sleeps = 1};
    for (int i = 0; i < 5; i++)
        r.kids[i] = (kid){.yields = 10, .fail = ZDE};
    char msg[64];
    assert_int_equal(run_cancelled(runner_5, &r, 2, "test", msg), -ECANCELED);
    assert_string_equal(msg, "test");
    assert_int_equal(r.nerrors, 0);
    return NULL;
}

PORT(taskgroup_17) {
    (void)arg;
    runner5 r = {.body_sleeps = 1, .body_catch_add = 10};
    assert_int_equal(run_cancelled(runner_5, &r, 2, NULL, NULL), -ECANCELED);
    assert_int_equal(r.num, 10);
    return NULL;
}

/* The body turns the cancellation into an error of its own: that error
 * is reported (one entry, the body's), not the cancellation. */
PORT(taskgroup_18) {
    (void)arg;
    runner5 r = {.body_sleeps = 1, .body_catch_add = 10, .body_after_cancel = MYEXC,
                 .leaf_code = MYEXC};
    assert_int_equal(run_cancelled(runner_5, &r, 2, NULL, NULL), MYEXC);
    assert_int_equal(r.num, 10);
    assert_int_equal(r.nerrors, 1);
    assert_int_equal(r.leaves, 1);
    assert_int_equal(r.cancelling_after, 1);   /* re-delivered */
    assert_int_equal(r.next_rc, -ECANCELED);
    return NULL;
}

PORT(taskgroup_22) {
    (void)arg;
    runner5 r = {.nkids = 2};
    r.kids[0] = (kid){.sleep = 60.0, .value = 42};
    r.kids[1] = (kid){.sleep = 60.0, .value = 11};
    assert_int_equal(run_cancelled(runner_5, &r, 1, NULL, NULL), -ECANCELED);
    return NULL;
}

/* ---- body errors -------------------------------------------------------------- */

static void *body_error_fn(void *arg) {
    kid *k = arg;   /* k[0], k[1]: children; k[2].yields: body yields */
    ts_group *g = ts_group_new();
    ts_task *t1 = ts_task_ref(ts_group_spawn(g, kid_fn, &k[0]));
    ts_task *t2 = ts_task_ref(ts_group_spawn(g, kid_fn, &k[1]));
    settle(k[2].yields);
    int err = ts_group_wait(g, ZDE);   /* 1 / 0 in the body */
    assert_int_equal(err, ZDE);
    const ts_group_failure *f = ts_error_group_get(ts_group_errors(g), 0);
    assert_non_null(f);
    assert_true(f->from_body);
    assert_int_equal(f->err, ZDE);
    assert_int_equal(ts_group_error_count(g), 1);
    ts_group_free(g);
    assert_true(ts_task_cancelled(t1));
    assert_true(ts_task_cancelled(t2));
    ts_task_unref(t1);
    ts_task_unref(t2);
    return NULL;
}

PORT(taskgroup_09) {
    (void)arg;
    kid k[3] = {{.sleep = 60.0}, {.sleep = 60.0}, {.yields = 2}};
    return body_error_fn(k);
}

PORT(taskgroup_10) {
    (void)arg;
    kid k[3] = {{.sleep = 60.0}, {.sleep = 60.0}, {.yields = 0}};
    return body_error_fn(k);
}

/* A child fails while the body is in a nested call whose cleanup raises
 * MyExc: both errors, the child's first, the body's last. */
static void *runner_19(void *arg) {
    (void)arg;
    kid crash = {.yields = 1, .fail = ZDE};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &crash);
    int body = ts_sleep(60.0);
    assert_int_equal(body, -ECANCELED);
    body = MYEXC;   /* nested(): finally: raise MyExc */
    int err = ts_group_wait(g, body);
    const ts_error_group *eg = ts_group_errors(g);
    assert_int_equal(ts_error_group_count(eg), 2);
    assert_int_equal(ts_error_group_get(eg, 0)->err, ZDE);
    assert_false(ts_error_group_get(eg, 0)->from_body);
    assert_int_equal(ts_error_group_get(eg, 1)->err, MYEXC);
    assert_true(ts_error_group_get(eg, 1)->from_body);
    ts_group_free(g);
    return ts_fail(err, "group");
}

PORT(taskgroup_19) {
    (void)arg;
    assert_int_equal(run_cancelled(runner_19, NULL, -1, NULL, NULL), TS_EGROUP);
    return NULL;
}

/* ---- nested groups -------------------------------------------------------------- */

typedef struct nested {
    kid inner[5];
    int ninner;
    kid outer[1];
    int nouter;
    int inner_body_sleeps;
    int inner_rc;
    size_t outer_n;
    size_t leaves;
    int leaf_code;
    int first_from_body;
    int first_err;
    size_t first_nested_n;
    char text[2048];
} nested;

static void *runner_nested(void *arg) {
    nested *n = arg;
    ts_group *g1 = ts_group_new();
    for (int i = 0; i < n->nouter; i++)
        ts_group_spawn(g1, kid_fn, &n->outer[i]);
    ts_group *g2 = ts_group_new();
    for (int i = 0; i < n->ninner; i++)
        ts_group_spawn(g2, kid_fn, &n->inner[i]);
    int body = n->inner_body_sleeps ? ts_sleep(60.0) : 0;
    n->inner_rc = ts_group_wait(g2, body);
    ts_group_free(g2);
    int err = ts_group_wait(g1, n->inner_rc);
    const ts_error_group *eg = ts_group_errors(g1);
    n->outer_n = ts_error_group_count(eg);
    n->leaves = ts_error_group_count_code(eg, n->leaf_code);
    if (n->outer_n) {
        const ts_group_failure *f = ts_error_group_get(eg, 0);
        n->first_from_body = f->from_body;
        n->first_err = f->err;
        n->first_nested_n = ts_error_group_count(f->nested);
    }
    ts_error_group_format(eg, n->text, sizeof n->text);
    ts_group_free(g1);
    return err ? ts_fail(err, "outer group") : NULL;
}

/* The case issue 14 names: the outer of two nested groups, cancelled from
 * outside, keeps the inner group's five errors, nested. */
PORT(taskgroup_11) {
    (void)arg;
    nested n = {.ninner = 5, .inner_body_sleeps = 1, .leaf_code = ZDE};
    for (int i = 0; i < 5; i++)
        n.inner[i] = (kid){.sleep = 60.0, .fail_on_cancel = ZDE};
    assert_int_equal(run_cancelled(runner_nested, &n, 2, NULL, NULL), TS_EGROUP);
    assert_int_equal(n.inner_rc, TS_EGROUP);
    assert_int_equal(n.outer_n, 1);           /* {ExceptionGroup} */
    assert_true(n.first_from_body);
    assert_int_equal(n.first_err, TS_EGROUP);
    assert_int_equal(n.first_nested_n, 5);    /* {ZeroDivisionError} x5 */
    assert_int_equal(n.leaves, 5);
    /* The text shows the tree, the messages included. */
    assert_non_null(strstr(n.text, "[1] body '"));
    assert_non_null(strstr(n.text, "\n  [5] task 'kid_fn'"));
    assert_non_null(strstr(n.text, "EDOM"));
    assert_non_null(strstr(n.text, ": cancelled\n"));
    return NULL;
}

PORT(taskgroup_12) {
    (void)arg;
    nested n = {.ninner = 5, .nouter = 1, .inner_body_sleeps = 1, .leaf_code = ZDE};
    n.outer[0] = (kid){.sleep = 60.0};
    for (int i = 0; i < 5; i++)
        n.inner[i] = (kid){.sleep = 60.0, .fail_on_cancel = ZDE};
    assert_int_equal(run_cancelled(runner_nested, &n, 2, NULL, NULL), TS_EGROUP);
    assert_int_equal(n.outer_n, 1);
    assert_int_equal(n.first_err, TS_EGROUP);
    assert_int_equal(n.first_nested_n, 5);
    assert_int_equal(n.leaves, 5);
    assert_true(n.outer[0].cancelled);
    return NULL;
}

/* The outer group's child crashes first: the inner group is cancelled
 * (from its point of view, from outside) and the outer reports the one
 * ValueError. */
PORT(taskgroup_13) {
    (void)arg;
    nested n = {.ninner = 1, .nouter = 1, .leaf_code = VALERR};
    n.outer[0] = (kid){.yields = 1, .fail = VALERR};
    n.inner[0] = (kid){.sleep = 60.0, .fail = VALERR};
    assert_int_equal(run_cancelled(runner_nested, &n, -1, NULL, NULL), VALERR);
    assert_int_equal(n.inner_rc, -ECANCELED);
    assert_int_equal(n.outer_n, 1);
    assert_false(n.first_from_body);
    assert_int_equal(n.first_nested_n, 0);
    return NULL;
}

/* The inner group's child crashes first: {ExceptionGroup{ValueError}}. */
PORT(taskgroup_14) {
    (void)arg;
    nested n = {.ninner = 1, .nouter = 1, .leaf_code = VALERR};
    n.outer[0] = (kid){.sleep = 60.0, .fail = VALERR};
    n.inner[0] = (kid){.yields = 1, .fail = VALERR};
    assert_int_equal(run_cancelled(runner_nested, &n, -1, NULL, NULL), VALERR);
    assert_int_equal(n.inner_rc, VALERR);
    assert_int_equal(n.outer_n, 1);
    assert_true(n.first_from_body);
    assert_int_equal(n.first_err, VALERR);
    assert_int_equal(n.first_nested_n, 1);
    assert_int_equal(n.leaves, 1);
    assert_true(n.outer[0].cancelled);
    return NULL;
}

/* A child of a group is itself the body of a failing group: the outer
 * group nests the child's list under the child's entry. */
static void *inner_runner(void *arg) {
    kid *k = arg;
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &k[0]);
    ts_group_spawn(g, kid_fn, &k[1]);
    int err = ts_group_wait(g, 0);
    ts_group_free(g);
    return ts_fail(err, "inner group failed");
}

PORT(nested_in_child) {
    (void)arg;
    kid k[2] = {{.yields = 1, .fail = ZDE}, {.sleep = 60.0, .fail_on_cancel = VALERR}};
    ts_group *g = ts_group_new();
    ts_task *c = ts_task_ref(ts_group_spawn(g, inner_runner, k));
    assert_int_equal(ts_group_wait(g, 0), TS_EGROUP);
    const ts_error_group *eg = ts_group_errors(g);
    assert_int_equal(ts_error_group_count(eg), 1);
    const ts_group_failure *f = ts_error_group_get(eg, 0);
    assert_int_equal(f->err, TS_EGROUP);
    assert_int_equal(f->task_id, ts_task_id(c));
    assert_string_equal(f->message, "inner group failed");
    assert_int_equal(ts_error_group_count(f->nested), 2);
    assert_int_equal(ts_error_group_get(f->nested, 0)->err, ZDE);
    assert_string_equal(ts_error_group_get(f->nested, 0)->message, "kid failed after 1 yields");
    assert_int_equal(ts_error_group_get(f->nested, 1)->err, VALERR);
    ts_task *et = NULL;
    assert_int_equal(ts_group_error(g, 0, &et), TS_EGROUP);
    assert_ptr_equal(et, c);
    ts_group_free(g);
    /* The child, body of the inner group, keeps that group's list while
     * its handle is held. */
    assert_ptr_equal(ts_task_error_group(c), f->nested);
    ts_task_unref(c);
    return NULL;
}

/* The body catches the outside cancel and sleeps again; a child fails
 * meanwhile: the failure is reported (3.13), the cancel re-delivered. */
static void *runner_15(void *arg) {
    int *num = arg;
    kid crash = {.yields = 4, .fail = ZDE};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &crash);
    int body = ts_sleep(60.0);
    assert_int_equal(body, -ECANCELED);
    body = ts_sleep(60.0);   /* "await asyncio.sleep(0.5)" in the handler */
    assert_int_equal(body, -ECANCELED);
    int err = ts_group_wait(g, body);
    *num = ts_task_cancelling(ts_current_task());
    ts_group_free(g);
    return ts_fail(err, "group");
}

PORT(taskgroup_15) {
    (void)arg;
    int cancelling = -1;
    assert_int_equal(run_cancelled(runner_15, &cancelling, 1, NULL, NULL), ZDE);
    assert_int_equal(cancelling, 1);
    return NULL;
}

/* 16: the same one task further down.  Deliberate difference: in C the
 * runner's ts_await, cancelled while it waits, returns -ECANCELED (task.h)
 * where Python's await re-raises the awaited task's ExceptionGroup; the
 * awaited task's own outcome is the same as in Python. */
typedef struct runner16 {
    int cancelling;
    ts_task *nested;
} runner16;

static void *runner_16(void *arg) {
    runner16 *r = arg;
    r->nested = ts_task_ref(ts_spawn(runner_15, &r->cancelling));
    return ts_fail(ts_await(ts_task_ref(r->nested), NULL), "await");
}

PORT(taskgroup_16) {
    (void)arg;
    runner16 r = {0};
    /* Three rounds: the runner awaits, the nested runner reaches its
     * sleep (CPython's 0.1 s); the cancel, passed on at once, then finds
     * it inside its body, not before its first step. */
    assert_int_equal(run_cancelled(runner_16, &r, 3, NULL, NULL), -ECANCELED);
    assert_int_equal(ts_task_result(r.nested, NULL), ZDE);
    ts_task_unref(r.nested);
    return NULL;
}

/* ---- children of children --------------------------------------------------------- */

typedef struct rooted {
    ts_group *g;
    kid kids[2];
} rooted;

static void *root_fn(void *arg) {
    rooted *r = arg;
    settle(2);
    ts_group_spawn(r->g, kid_fn, &r->kids[0]);
    ts_group_spawn(r->g, kid_fn, &r->kids[1]);
    return NULL;
}

PORT(taskgroup_24) {
    (void)arg;
    rooted r = {.kids = {{.yields = 1}, {.yields = 2}}};
    r.g = ts_group_new();
    ts_group_spawn(r.g, root_fn, &r);
    assert_int_equal(ts_group_wait(r.g, 0), 0);
    ts_group_free(r.g);
    return NULL;
}

typedef struct hydra_ctx {
    ts_group *g;
    int nhydras;
} hydra_ctx;

static void *hydra(void *arg) {
    hydra_ctx *h = arg;
    h->nhydras++;
    if (ts_sleep(0) == -ECANCELED)
        return ts_fail(-ECANCELED, NULL);
    ts_group_spawn(h->g, hydra, h);
    ts_group_spawn(h->g, hydra, h);
    return NULL;
}

static void *hercules(void *arg) {
    hydra_ctx *h = arg;
    while (h->nhydras < 10)
        if (ts_sleep(0) == -ECANCELED)
            return ts_fail(-ECANCELED, NULL);
    return ts_fail(ZDE, "1 / 0");
}

PORT(taskgroup_25) {
    (void)arg;
    hydra_ctx h = {0};
    h.g = ts_group_new();
    ts_group_spawn(h.g, hydra, &h);
    ts_group_spawn(h.g, hercules, &h);
    assert_int_equal(ts_group_wait(h.g, 0), ZDE);
    assert_all_leaves(ts_group_errors(h.g), ZDE, 1);
    assert_true(h.nhydras >= 10);
    ts_group_free(h.g);
    return NULL;
}

/* 23: the group lets finished children go (len(g._tasks)). */
PORT(taskgroup_23) {
    (void)arg;
    kid k[10];
    ts_group *g = ts_group_new();
    for (int count = 0; count < 10; count++) {
        settle(1);
        k[count] = (kid){.yields = 3};
        ts_group_spawn(g, kid_fn, &k[count]);
        if (count == 5)
            assert_true(ts_group_running(g) < 5);
    }
    settle(10);
    assert_int_equal(ts_group_running(g), 0);
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    return NULL;
}

/* ---- names, misuse, cancel counts ---------------------------------------------------- */

static void *name_fn(void *arg) {
    char *out = arg;
    strcpy(out, ts_task_name(ts_current_task()));
    return NULL;
}

PORT(taskgroup_task_name) {
    (void)arg;
    char seen[64] = "";
    ts_group *g = ts_group_new();
    ts_task *t = ts_group_spawn_with(g, &(ts_spawn_opts){.name = "yolo"}, name_fn, seen);
    assert_string_equal(ts_task_name(t), "yolo");
    assert_int_equal(ts_group_wait(g, 0), 0);
    ts_group_free(g);
    assert_string_equal(seen, "yolo");   /* test_name */
    return NULL;
}

typedef struct late_spawner {
    ts_group *g;
    ts_task *got;
    int err;
} late_spawner;

static void *late_spawn_fn(void *arg) {
    late_spawner *s = arg;
    if (ts_sleep(60.0) == -ECANCELED) {
        kid k = {.fail = ZDE};
        errno = 0;
        s->got = ts_group_spawn(s->g, kid_fn, &k);
        s->err = errno;
    }
    return NULL;
}

PORT(taskgroup_no_create_task_after_failure) {
    (void)arg;
    kid crash = {.yields = 1, .fail = ZDE};
    late_spawner s = {0};
    s.g = ts_group_new();
    ts_group_spawn(s.g, kid_fn, &crash);
    ts_group_spawn(s.g, late_spawn_fn, &s);
    assert_int_equal(ts_group_wait(s.g, 0), ZDE);
    assert_null(s.got);
    assert_int_equal(s.err, EBUSY);
    ts_group_free(s.g);
    return NULL;
}

/* A child fails; the body's cleanup fails too: two errors, and the cancel
 * count is back to 0 (gh-95289). */
static void *exit_raises_main(void *arg) {
    (void)arg;
    kid raise_exc = {.fail = MYEXC};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &raise_exc);
    int body = ts_sleep(60.0);
    assert_int_equal(body, -ECANCELED);
    body = MYEXC;   /* database(): finally: raise CustomException */
    assert_int_equal(ts_group_wait(g, body), TS_EGROUP);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    assert_int_equal(ts_error_group_count_code(ts_group_errors(g), MYEXC), 2);
    ts_group_free(g);
    return NULL;
}

PORT(taskgroup_context_manager_exit_raises) {
    (void)arg;
    assert_int_equal(run_cancelled(exit_raises_main, NULL, -1, NULL, NULL), 0);
    return NULL;
}

PORT(taskgroup_double_enter) {
    (void)arg;
    ts_group *g = ts_group_new();
    assert_int_equal(ts_group_wait(g, 0), 0);
    assert_int_equal(ts_group_wait(g, 0), TS_EINVALSTATE);   /* already entered */
    ts_group_free(g);
    return NULL;
}

PORT(taskgroup_finished) {
    (void)arg;
    ts_group *g = ts_group_new();
    assert_int_equal(ts_group_wait(g, 0), 0);
    kid k = {0};
    errno = 0;
    assert_null(ts_group_spawn(g, kid_fn, &k));   /* "is finished" */
    assert_int_equal(errno, EBUSY);
    ts_group_free(g);
    return NULL;
}

static void test_taskgroup_without_parent_task(void **state) {
    (void)state;
    errno = 0;
    assert_null(ts_group_new());
    assert_int_equal(errno, ESRCH);
}

PORT(cancelling_level_preserved) {
    (void)arg;
    kid k = {.fail = RTERR};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &k);
    assert_int_equal(ts_group_wait(g, 0), RTERR);
    ts_group_free(g);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    return NULL;
}

PORT(nested_groups_both_cancelled) {
    (void)arg;
    kid rt = {.fail = RTERR}, ve = {.fail = VALERR};
    ts_task *self = ts_current_task();
    ts_group *outer = ts_group_new();
    ts_group *inner = ts_group_new();
    ts_group_spawn(inner, kid_fn, &rt);
    ts_group_spawn(outer, kid_fn, &ve);
    assert_int_equal(ts_group_wait(inner, 0), RTERR);   /* except* RuntimeError */
    ts_group_free(inner);
    assert_int_equal(ts_task_cancelling(self), 1);
    assert_int_equal(ts_group_wait(outer, 0), VALERR);  /* except* ValueError */
    ts_group_free(outer);
    assert_int_equal(ts_task_cancelling(self), 0);
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}

typedef struct err_cancel {
    ts_event *event;
    int cancelling_in_handler;
    int after_rc;
} err_cancel;

static void *raise_error_fn(void *arg) {
    err_cancel *e = arg;
    ts_event_set(e->event);
    ts_sleep(0);
    return ts_fail(RTERR, "RuntimeError");
}

static void *error_and_cancel_inner(void *arg) {
    err_cancel *e = arg;
    ts_group *g = ts_group_new();
    ts_group_spawn(g, raise_error_fn, e);
    int body = ts_sleep(60.0);
    assert_int_equal(body, -ECANCELED);
    assert_int_equal(ts_group_wait(g, body), RTERR);
    ts_group_free(g);
    e->cancelling_in_handler = ts_task_cancelling(ts_current_task());
    e->after_rc = ts_sleep(60.0);
    return ts_fail(e->after_rc, NULL);
}

PORT(error_and_cancel) {
    (void)arg;
    err_cancel e = {.event = ts_event_new()};
    ts_task *t = ts_task_ref(ts_spawn(error_and_cancel_inner, &e));
    ts_event_wait(e.event);
    assert_int_equal(ts_task_cancelling(t), 0);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_task_cancelling(t), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_true(ts_task_cancelled(t));
    assert_int_equal(e.cancelling_in_handler, 1);
    assert_int_equal(e.after_rc, -ECANCELED);
    ts_task_unref(t);
    ts_event_free(e.event);
    return NULL;
}

typedef struct creation {
    ts_group *g;
    int ran;
} creation;

static void *third_task(void *arg) {
    (void)arg;
    return ts_fail(MYEXC, "third task failed");
}

static void *second_task(void *arg) {
    creation *c = arg;
    ts_group_spawn(c->g, third_task, NULL);
    int rc = ts_sleep(0);
    if (rc == 0)
        rc = ts_sleep(0);
    assert_int_equal(rc, -ECANCELED);
    c->ran = 1;
    return ts_fail(rc, NULL);
}

PORT(cancels_task_if_created_during_creation) {
    (void)arg;
    creation c = {0};
    c.g = ts_group_new();
    ts_group_spawn(c.g, second_task, &c);
    assert_int_equal(ts_group_wait(c.g, 0), MYEXC);
    const ts_group_failure *f = ts_error_group_get(ts_group_errors(c.g), 0);
    assert_string_equal(f->message, "third task failed");
    assert_string_equal(f->task_name, "third_task");
    ts_group_free(c.g);
    assert_true(c.ran);
    return NULL;
}

PORT(cancellation_does_not_leak_out_of_tg) {
    (void)arg;
    kid k = {.fail = MYEXC};
    ts_group *g = ts_group_new();
    ts_group_spawn(g, kid_fn, &k);
    assert_int_equal(ts_group_wait(g, 0), MYEXC);
    ts_group_free(g);
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}

/* asyncio.timeout around a group (exception_refcycles_propagate_
 * cancellation_error's scenario): the scope's cancel ends the group with
 * -ECANCELED and the scope turns it into -ETIMEDOUT. */
PORT(timeout_around_group) {
    (void)arg;
    ts_timeout *to = ts_timeout_enter(0.0);
    ts_group *g = ts_group_new();
    int err = ts_group_wait(g, ts_sleep(0));
    ts_group_free(g);
    assert_int_equal(err, -ECANCELED);
    assert_int_equal(ts_timeout_exit(to, err), -ETIMEDOUT);
    return NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taskgroup_01),
        cmocka_unit_test(test_taskgroup_02),
        cmocka_unit_test(test_taskgroup_03),
        cmocka_unit_test(test_taskgroup_04),
        cmocka_unit_test(test_cancel_children_on_child_error),
        cmocka_unit_test(test_cancellation),
        cmocka_unit_test(test_taskgroup_07),
        cmocka_unit_test(test_taskgroup_08),
        cmocka_unit_test(test_cancellation_in_body),
        cmocka_unit_test(test_taskgroup_09),
        cmocka_unit_test(test_taskgroup_10),
        cmocka_unit_test(test_taskgroup_11),
        cmocka_unit_test(test_taskgroup_12),
        cmocka_unit_test(test_taskgroup_13),
        cmocka_unit_test(test_taskgroup_14),
        cmocka_unit_test(test_nested_in_child),
        cmocka_unit_test(test_taskgroup_15),
        cmocka_unit_test(test_taskgroup_16),
        cmocka_unit_test(test_taskgroup_17),
        cmocka_unit_test(test_taskgroup_18),
        cmocka_unit_test(test_taskgroup_19),
        cmocka_unit_test(test_taskgroup_22),
        cmocka_unit_test(test_taskgroup_23),
        cmocka_unit_test(test_taskgroup_24),
        cmocka_unit_test(test_taskgroup_25),
        cmocka_unit_test(test_taskgroup_task_name),
        cmocka_unit_test(test_taskgroup_no_create_task_after_failure),
        cmocka_unit_test(test_taskgroup_context_manager_exit_raises),
        cmocka_unit_test(test_taskgroup_double_enter),
        cmocka_unit_test(test_taskgroup_finished),
        cmocka_unit_test(test_taskgroup_without_parent_task),
        cmocka_unit_test(test_cancelling_level_preserved),
        cmocka_unit_test(test_nested_groups_both_cancelled),
        cmocka_unit_test(test_error_and_cancel),
        cmocka_unit_test(test_cancels_task_if_created_during_creation),
        cmocka_unit_test(test_cancellation_does_not_leak_out_of_tg),
        cmocka_unit_test(test_timeout_around_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
