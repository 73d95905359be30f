/*
 * test_task.c - black-box tests of tasks (task.h): spawn and await,
 * ts_fail, identity (name, id, parent, spawn site), current_task,
 * all_tasks, done callbacks, states, handles (ref/unref/detach).
 *
 * Each test body runs as the main task of a fresh loop (run_main) and ends
 * by checking that no diagnostic was raised: a correct program that gives
 * up every handle must not be reported by the runtime.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void assert_no_diag(void) {
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

static void run_ok(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
    assert_no_diag();
}

static void *triple(void *arg) { return IPTR(PTRI(arg) * 3); }

static void *sleep_then_triple(void *arg) {
    if (ts_sleep(0.002) != 0)
        return ts_fail(-EIO, "sleep failed");
    return IPTR(PTRI(arg) * 3);
}

static void *fail_with_message(void *arg) {
    return ts_fail(-EIO, "bad %d", (int)PTRI(arg));
}

static void *fail_without_message(void *arg) {
    (void)arg;
    return ts_fail(-ENOENT, NULL);
}

static void *end_cancelled(void *arg) {
    (void)arg;
    return ts_fail(-ECANCELED, "gave up");
}

/* ---- spawn / await / fail --------------------------------------------- */

static void *body_spawn_await(void *arg) {
    (void)arg;
    void *res = NULL;
    assert_int_equal(ts_await(ts_spawn(triple, IPTR(14)), &res), 0);
    assert_int_equal(PTRI(res), 42);
    assert_int_equal(ts_await(ts_spawn(sleep_then_triple, IPTR(5)), &res), 0);
    assert_int_equal(PTRI(res), 15);
    assert_int_equal(ts_await(ts_spawn(triple, IPTR(1)), NULL), 0);
    return NULL;
}
static void test_spawn_await(void **s) { (void)s; run_ok(body_spawn_await); }

static void *body_fail(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(fail_with_message, IPTR(42));
    ts_task *ref = ts_task_ref(t);
    assert_ptr_equal(ref, t);
    assert_int_equal(ts_await(t, NULL), -EIO);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_FAILED);
    assert_int_equal(ts_task_done(ref), 1);
    assert_int_equal(ts_task_cancelled(ref), 0);
    assert_int_equal(ts_task_error(ref), -EIO);
    assert_int_equal(ts_task_result(ref, NULL), -EIO);
    assert_string_equal(ts_task_error_message(ref), "bad 42");
    ts_task_unref(ref);

    t = ts_spawn(fail_without_message, NULL);
    ref = ts_task_ref(t);
    assert_int_equal(ts_await(t, NULL), -ENOENT);
    assert_null(ts_task_error_message(ref));
    ts_task_unref(ref);

    /* ts_fail(-ECANCELED) makes the task cancelled, not failed. */
    t = ts_spawn(end_cancelled, NULL);
    ref = ts_task_ref(t);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_CANCELLED);
    assert_int_equal(ts_task_cancelled(ref), 1);
    assert_int_equal(ts_task_result(ref, NULL), -ECANCELED);
    ts_task_unref(ref);
    return NULL;
}
static void test_fail(void **s) { (void)s; run_ok(body_fail); }

static void test_fail_outside_task(void **s) {
    (void)s;
    assert_null(ts_fail(-EIO, "no task %d", 1));
    assert_null(ts_current_task());
}

static void *body_run_result(void *arg) { return IPTR(PTRI(arg) + 1); }

static void test_run_outcome(void **s) {
    (void)s;
    diag_reset();
    void *res = NULL;
    assert_int_equal(ts_run_result(body_run_result, IPTR(41), &res), 0);
    assert_int_equal(PTRI(res), 42);
    assert_int_equal(ts_run(fail_with_message, IPTR(1)), -EIO);
    assert_int_equal(ts_run(end_cancelled, NULL), -ECANCELED);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
}

/* ---- identity ------------------------------------------------------------ */

static void *body_identity(void *arg) {
    (void)arg;
    ts_task *me = ts_current_task();
    assert_non_null(me);
    assert_string_equal(ts_task_name(me), "main");
    assert_int_equal(ts_task_parent_id(me), 0);
    assert_true(ts_task_id(me) >= 1);
    assert_ptr_equal(ts_task_loop(me), ts_loop_current());

    ts_task *a = ts_spawn(triple, IPTR(1)); const int line_a = __LINE__;
    const ts_site *site = ts_task_spawn_site(a);
    assert_non_null(site);
    assert_string_equal(site->file, __FILE__);
    assert_int_equal(site->line, line_a);
    assert_string_equal(site->func, __func__);
    assert_string_equal(ts_task_name(a), "triple");
    assert_int_equal(ts_task_parent_id(a), ts_task_id(me));
    assert_ptr_equal(ts_task_loop(a), ts_loop_current());

    char buf[16] = "worker-7";
    ts_task *b = ts_spawn_named(buf, triple, IPTR(2)); const int line_b = __LINE__;
    memcpy(buf, "clobbered", 10);   /* the name must have been copied */
    assert_string_equal(ts_task_name(b), "worker-7");
    assert_int_equal(ts_task_spawn_site(b)->line, line_b);

    ts_spawn_opts o = {.name = "opt-name", .stack_size = 128 * 1024,
                       .loop = ts_loop_current()};
    ts_task *c = ts_spawn_with(&o, triple, IPTR(3));
    assert_string_equal(ts_task_name(c), "opt-name");
    ts_spawn_opts unnamed = {0};
    ts_task *d = ts_spawn_with(&unnamed, triple, IPTR(4));
    assert_string_equal(ts_task_name(d), "triple");

    strcpy(buf, "renamed");
    assert_int_equal(ts_task_set_name(a, buf), 0);
    buf[0] = 'X';
    assert_string_equal(ts_task_name(a), "renamed");

    uint64_t ids[] = {ts_task_id(me), ts_task_id(a), ts_task_id(b),
                      ts_task_id(c), ts_task_id(d)};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            assert_true(ids[i] != ids[j]);
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_int_equal(ts_await(c, NULL), 0);
    assert_int_equal(ts_await(d, NULL), 0);
    return NULL;
}
static void test_identity(void **s) { (void)s; run_ok(body_identity); }

/* The grandchild's parent is the child, not the task that awaits. */
static void *spawn_grandchild(void *arg) {
    (void)arg;
    ts_task *g = ts_spawn(triple, IPTR(1));
    uint64_t parent = ts_task_parent_id(g);
    uint64_t mine = ts_task_id(ts_current_task());
    if (ts_await(g, NULL) != 0 || parent != mine)
        return ts_fail(-EPROTO, "grandchild parent %llu, want %llu",
                       (unsigned long long)parent, (unsigned long long)mine);
    return NULL;
}

static void *body_parents(void *arg) {
    (void)arg;
    ts_task *c = ts_spawn(spawn_grandchild, NULL);
    ts_task *ref = ts_task_ref(c);
    assert_int_equal(ts_await(c, NULL), 0);
    assert_int_equal(ts_task_parent_id(ref), ts_task_id(ts_current_task()));
    ts_task_unref(ref);
    return NULL;
}
static void test_parents(void **s) { (void)s; run_ok(body_parents); }

static void *no_loop_spawn(void *arg) {
    (void)arg;
    errno = 0;
    ts_task *t = ts_spawn(triple, NULL);
    return IPTR(t == NULL && errno == ESRCH);
}

static void test_spawn_without_loop(void **s) {
    (void)s;
    assert_int_equal(PTRI(no_loop_spawn(NULL)), 1);
}

/* ---- current_task, scheduling ------------------------------------------ */

static ts_task *seen_current;
static void *record_current(void *arg) {
    (void)arg;
    seen_current = ts_current_task();
    return NULL;
}

static ts_task *cb_current = IPTR(1);
static void cb_record_current(void *arg) {
    (void)arg;
    cb_current = ts_current_task();
}

static int order[8], norder;
static void *append_order(void *arg) {
    order[norder++] = (int)PTRI(arg);
    return NULL;
}

static void *body_current(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(record_current, NULL);
    ts_task *ref = ts_task_ref(t);
    assert_null(seen_current);   /* scheduled, not started */
    assert_int_equal(ts_task_state_of(t), TS_TASK_READY);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_ptr_equal(seen_current, ref);
    ts_task_unref(ref);

    /* Callbacks run by the loop run outside any task. */
    assert_int_equal(ts_call_soon(NULL, cb_record_current, NULL, NULL), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_null(cb_current);

    /* Spawned tasks first run in spawn order, after the spawner yields. */
    norder = 0;
    ts_task *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = ts_spawn(append_order, IPTR(i));
    assert_int_equal(norder, 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(norder, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(order[i], i);
        assert_int_equal(ts_await(s[i], NULL), 0);
    }
    return NULL;
}

static void test_current_task(void **s) {
    (void)s;
    assert_null(ts_current_task());
    run_ok(body_current);
    assert_null(ts_current_task());
}

static int side_effect;
static void *set_side_effect(void *arg) {
    side_effect = (int)PTRI(arg);
    return NULL;
}

/* Awaiting a task that is already done does not suspend: a task that
 * became ready meanwhile has not run when ts_await returns. */
static void *body_await_done_no_yield(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(triple, IPTR(2));
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_done(t), 1);
    side_effect = 0;
    ts_task *other = ts_spawn(set_side_effect, IPTR(9));
    void *res;
    assert_int_equal(ts_await(t, &res), 0);
    assert_int_equal(PTRI(res), 6);
    assert_int_equal(side_effect, 0);
    assert_int_equal(ts_await(other, NULL), 0);
    assert_int_equal(side_effect, 9);
    return NULL;
}
static void test_await_done_no_yield(void **s) { (void)s; run_ok(body_await_done_no_yield); }

/* ---- all_tasks ------------------------------------------------------------- */

static int contains(ts_task **v, size_t n, const ts_task *t) {
    for (size_t i = 0; i < n; i++)
        if (v[i] == t)
            return 1;
    return 0;
}

static void *body_all_tasks(void *arg) {
    (void)arg;
    ts_task *me = ts_current_task(), *out[8], *c[3];
    assert_int_equal(ts_all_tasks(NULL, NULL, 0), 1);
    for (int i = 0; i < 3; i++)
        c[i] = ts_spawn(sleep_then_triple, IPTR(i));
    size_t n = ts_all_tasks(NULL, out, 8);
    assert_int_equal(n, 4);
    assert_true(contains(out, n, me));
    for (int i = 0; i < 3; i++)
        assert_true(contains(out, n, c[i]));
    assert_int_equal(ts_all_tasks(ts_loop_current(), out, 2), 4);
    assert_int_equal(ts_sleep(0), 0);   /* now they are suspended */
    assert_int_equal(ts_all_tasks(NULL, out, 8), 4);
    /* A finished task is no longer listed, even while its handle is held. */
    ts_task *ref = ts_task_ref(c[0]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_await(c[i], NULL), 0);
    assert_int_equal(ts_all_tasks(NULL, out, 8), 1);
    assert_ptr_equal(out[0], me);
    ts_task_unref(ref);
    return NULL;
}
static void test_all_tasks(void **s) { (void)s; run_ok(body_all_tasks); }

/* ---- done callbacks ---------------------------------------------------- */

static int dcb_log[16], dcb_n, dcb_not_done, dcb_in_task;

static void done_cb(ts_task *t, void *arg) {
    if (dcb_n < 16)
        dcb_log[dcb_n] = (int)PTRI(arg);
    dcb_n++;
    dcb_not_done += !ts_task_done(t);
    dcb_in_task += ts_current_task() != NULL;
}

static void *body_done_callbacks(void *arg) {
    (void)arg;
    dcb_n = dcb_not_done = dcb_in_task = 0;
    ts_task *t = ts_spawn(sleep_then_triple, IPTR(1));
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(1)), 0);
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(3)), 0);
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(2)), 0);
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(3)), 0);
    assert_int_equal(ts_task_remove_done_callback(t, done_cb, IPTR(3)), 2);
    assert_int_equal(ts_task_remove_done_callback(t, done_cb, IPTR(3)), 0);
    ts_task *ref = ts_task_ref(t);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(dcb_n, 2);
    assert_int_equal(dcb_log[0], 1);
    assert_int_equal(dcb_log[1], 2);
    /* Added after completion: scheduled at once, never run inside the call. */
    assert_int_equal(ts_task_add_done_callback(ref, done_cb, IPTR(4)), 0);
    assert_int_equal(dcb_n, 2);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(dcb_n, 3);
    assert_int_equal(dcb_log[2], 4);
    ts_task_unref(ref);

    /* Failed and cancelled tasks call them too. */
    t = ts_spawn(fail_with_message, IPTR(0));
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(5)), 0);
    assert_int_equal(ts_await(t, NULL), -EIO);
    t = ts_spawn(triple, IPTR(0));
    assert_int_equal(ts_task_add_done_callback(t, done_cb, IPTR(6)), 0);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(dcb_n, 5);
    assert_int_equal(dcb_log[3], 5);
    assert_int_equal(dcb_log[4], 6);
    assert_int_equal(dcb_not_done, 0);
    assert_int_equal(dcb_in_task, 0);
    return NULL;
}
static void test_done_callbacks(void **s) { (void)s; run_ok(body_done_callbacks); }

static char inspected[64];
static void done_cb_inspect(ts_task *t, void *arg) {
    (void)arg;
    void *res = NULL;
    int rc = ts_task_result(t, &res);
    snprintf(inspected, sizeof inspected, "%s:%d:%d", ts_task_name(t), rc,
             (int)PTRI(res));
}

/* A detached task must stay valid for its done callbacks. */
static void *body_detached_callback(void *arg) {
    (void)arg;
    inspected[0] = 0;
    ts_task *t = ts_spawn_named("detached-x", triple, IPTR(5));
    assert_int_equal(ts_task_add_done_callback(t, done_cb_inspect, NULL), 0);
    ts_task_detach(t);
    for (int i = 0; i < 100 && !inspected[0]; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_string_equal(inspected, "detached-x:0:15");
    return NULL;
}
static void test_detached_callback(void **s) { (void)s; run_ok(body_detached_callback); }

/* ---- states ------------------------------------------------------------------ */

static void *report_own_state(void *arg) {
    (void)arg;
    return IPTR(ts_task_state_of(ts_current_task()));
}

static int sleeper_line;
static void *long_sleeper(void *arg) {
    (void)arg;
    int r; sleeper_line = __LINE__; r = ts_sleep(100);
    return r ? ts_fail(r, NULL) : NULL;
}

static void *await_arg(void *arg) {
    int r = ts_await((ts_task *)arg, NULL);
    return r ? ts_fail(r, NULL) : NULL;
}

static void *body_states(void *arg) {
    (void)arg;
    const void *obj = IPTR(1);
    const ts_site *site = NULL;
    ts_task *t = ts_spawn(report_own_state, NULL);
    assert_int_equal(ts_task_state_of(t), TS_TASK_READY);
    assert_int_equal(ts_task_done(t), 0);
    assert_int_equal(ts_task_result(t, NULL), TS_EINVALSTATE);
    assert_int_equal(ts_task_error(t), 0);
    assert_int_equal(ts_task_awaiting(t, &obj, &site), TS_WAIT_NONE);
    assert_int_equal(ts_task_state_of(ts_current_task()), TS_TASK_RUNNING);
    ts_task *ref = ts_task_ref(t);
    void *res;
    assert_int_equal(ts_await(t, &res), 0);
    assert_int_equal(PTRI(res), TS_TASK_RUNNING);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_DONE);
    ts_task_unref(ref);

    ts_task *inner = ts_spawn(long_sleeper, NULL);
    ts_task *inner_ref = ts_task_ref(inner);
    ts_task *outer = ts_spawn(await_arg, inner);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(inner_ref), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_awaiting(inner_ref, &obj, &site), TS_WAIT_SLEEP);
    assert_non_null(site);
    assert_string_equal(site->file, __FILE__);
    assert_int_equal(site->line, sleeper_line);
    assert_string_equal(site->func, "long_sleeper");
    assert_int_equal(ts_task_state_of(outer), TS_TASK_SUSPENDED);
    assert_int_equal(ts_task_awaiting(outer, &obj, &site), TS_WAIT_TASK);
    assert_ptr_equal(obj, inner_ref);
    assert_string_equal(site->func, "await_arg");
    /* Cancelling the awaiter reaches the sleeper through the await. */
    assert_int_equal(ts_task_cancel(outer, NULL), 1);
    assert_int_equal(ts_await(outer, NULL), -ECANCELED);
    assert_int_equal(ts_task_state_of(inner_ref), TS_TASK_CANCELLED);
    assert_int_equal(ts_task_awaiting(inner_ref, &obj, &site), TS_WAIT_NONE);
    ts_task_unref(inner_ref);
    return NULL;
}
static void test_states(void **s) { (void)s; run_ok(body_states); }

static void test_state_and_kind_names(void **s) {
    (void)s;
    const char *names[TS_TASK_CANCELLED + 1];
    for (int i = 0; i <= TS_TASK_CANCELLED; i++) {
        names[i] = ts_task_state_name((ts_task_state)i);
        assert_non_null(names[i]);
        assert_true(names[i][0] != 0);
        for (int j = 0; j < i; j++)
            assert_true(strcmp(names[i], names[j]) != 0);
    }
    const char *kinds[TS_WAIT_KIND_COUNT];
    for (int i = 0; i < TS_WAIT_KIND_COUNT; i++) {
        kinds[i] = ts_wait_kind_name((ts_wait_kind)i);
        assert_non_null(kinds[i]);
        for (int j = 0; j < i; j++)
            assert_true(strcmp(kinds[i], kinds[j]) != 0);
    }
    /* Bad input never crashes. */
    assert_non_null(ts_task_state_name((ts_task_state)99));
    assert_non_null(ts_task_state_name((ts_task_state)-1));
    assert_non_null(ts_wait_kind_name(TS_WAIT_KIND_COUNT));
    assert_non_null(ts_wait_kind_name((ts_wait_kind)-1));
}

/* ---- handles --------------------------------------------------------------- */

/* A refused await (-EDEADLK, like TS_EWRONGLOOP) leaves the handle with
 * the caller, who gives it up. */
static void *body_self_await(void *arg) {
    (void)arg;
    ts_task *me = ts_task_ref(ts_current_task());
    assert_int_equal(ts_await(me, NULL), -EDEADLK);
    assert_int_equal(ts_task_state_of(ts_current_task()), TS_TASK_RUNNING);
    assert_int_equal(ts_task_cancelling(ts_current_task()), 0);
    ts_task_unref(me);
    return NULL;
}
static void test_self_await(void **s) { (void)s; run_ok(body_self_await); }

static void *body_ref_detach(void *arg) {
    (void)arg;
    side_effect = 0;
    ts_task_detach(ts_spawn(set_side_effect, IPTR(5)));
    for (int i = 0; i < 100 && side_effect != 5; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(side_effect, 5);

    ts_task *t = ts_spawn(sleep_then_triple, IPTR(7));
    ts_task *r = ts_task_ref(t);
    ts_task_detach(t);
    for (int i = 0; i < 100000 && !ts_task_done(r); i++)
        assert_int_equal(ts_sleep(0.001), 0);
    void *res = NULL;
    assert_int_equal(ts_task_result(r, &res), 0);
    assert_int_equal(PTRI(res), 21);
    ts_task_unref(r);

    t = ts_spawn(triple, IPTR(2));
    ts_task *r1 = ts_task_ref(t), *r2 = ts_task_ref(t);
    assert_int_equal(ts_await(t, NULL), 0);
    ts_task_unref(r1);
    assert_string_equal(ts_task_name(r2), "triple");
    assert_int_equal(ts_task_result(r2, &res), 0);
    assert_int_equal(PTRI(res), 6);
    ts_task_unref(r2);
    return NULL;
}
static void test_ref_detach(void **s) { (void)s; run_ok(body_ref_detach); }

/* ---- ts_run's shutdown ----------------------------------------------------- */

static int leftover_sleep_rc, leftover_cleanup_rc;
static void *leftover(void *arg) {
    (void)arg;
    leftover_sleep_rc = ts_sleep(1000);
    leftover_cleanup_rc = ts_sleep(0.001);   /* cleanup may suspend */
    return ts_fail(leftover_sleep_rc ? leftover_sleep_rc : -EIO, NULL);
}

static void *body_leave_detached(void *arg) {
    (void)arg;
    ts_task_detach(ts_spawn(leftover, NULL));
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}

/* ts_run cancels what is left and lets it finish; a detached task that
 * ends cancelled is not an error nobody retrieved. */
static void test_run_cancels_leftovers(void **s) {
    (void)s;
    leftover_sleep_rc = leftover_cleanup_rc = 1;
    run_ok(body_leave_detached);
    assert_int_equal(leftover_sleep_rc, -ECANCELED);
    assert_int_equal(leftover_cleanup_rc, 0);
}

static void *body_nested_run(void *arg) {
    (void)arg;
    assert_int_equal(ts_run(triple, NULL), -EBUSY);
    return NULL;
}
static void test_nested_run(void **s) { (void)s; run_ok(body_nested_run); }

/* Two tasks await one task through two handles: both get its result;
 * cancelling one awaiter cancels the shared task for both (asyncio). */
typedef struct shared_wait {
    ts_task *t;
    int rc;
    void *res;
} shared_wait;

static void *await_shared(void *arg) {
    shared_wait *w = arg;
    w->rc = ts_await(w->t, &w->res);
    return NULL;
}

static void *body_two_awaiters(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleep_then_triple, IPTR(4));
    shared_wait a = {.t = t}, b = {.t = ts_task_ref(t)};
    ts_task *ta = ts_spawn(await_shared, &a), *tb = ts_spawn(await_shared, &b);
    assert_int_equal(ts_await(ta, NULL), 0);
    assert_int_equal(ts_await(tb, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(PTRI(a.res), 12);
    assert_int_equal(PTRI(b.res), 12);

    t = ts_spawn(long_sleeper, NULL);
    a = (shared_wait){.t = t};
    b = (shared_wait){.t = ts_task_ref(t)};
    ta = ts_spawn(await_shared, &a);
    tb = ts_spawn(await_shared, &b);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_cancel(ta, NULL), 1);
    assert_int_equal(ts_await(ta, NULL), 0);   /* await_shared swallows */
    assert_int_equal(ts_await(tb, NULL), 0);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(b.rc, -ECANCELED);
    return NULL;
}
static void test_two_awaiters(void **s) { (void)s; run_ok(body_two_awaiters); }

/* One handle, two awaiters: the second is refused at once with TS_EFREED
 * (the handle is given up when the first wait starts); the handle awaited
 * again after the first await returned is refused too, with no result. */
static void *body_stale_handle(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(sleep_then_triple, IPTR(5));
    shared_wait a = {.t = t}, b = {.t = t};
    ts_task *ta = ts_spawn(await_shared, &a), *tb = ts_spawn(await_shared, &b);
    assert_int_equal(ts_await(ta, NULL), 0);
    assert_int_equal(ts_await(tb, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(PTRI(a.res), 15);
    assert_int_equal(b.rc, TS_EFREED);
    void *r = IPTR(1);
    assert_int_equal(ts_await(t, &r), TS_EFREED);
    assert_int_equal(PTRI(r), 1);   /* untouched */
    return NULL;
}
static void test_stale_handle(void **s) { (void)s; run_ok(body_stale_handle); }

/* A task spawned by cleanup code while ts_run shuts down must not keep
 * ts_run waiting for it: asyncio.run cancels the tasks it finds and then
 * closes the loop, so a late task is cancelled or destroyed pending, never
 * waited for to the end of its 5 s sleep. */
static int late_rc = 9;
static void *late_sleeper(void *arg) {
    (void)arg;
    late_rc = ts_sleep(5);
    return late_rc ? ts_fail(late_rc, NULL) : NULL;
}

static void *spawns_on_cancel(void *arg) {
    (void)arg;
    int r = ts_sleep(1000);
    ts_task_detach(ts_spawn(late_sleeper, NULL));
    return ts_fail(r ? r : -EIO, NULL);
}

static void *body_late_spawn(void *arg) {
    (void)arg;
    ts_task_detach(ts_spawn(spawns_on_cancel, NULL));
    assert_int_equal(ts_sleep(0), 0);
    return NULL;
}

static void test_run_shutdown_late_spawn(void **s) {
    (void)s;
    diag_reset();
    late_rc = 9;
    assert_int_equal(run_main(body_late_spawn, NULL), 0);
    if (late_rc == 0)
        fail_msg("ts_run waited for a task spawned during shutdown to finish");
    assert_true(late_rc == 9 || late_rc == -ECANCELED);
    assert_int_equal(diag_seen[TS_DIAG_NEVER_AWAITED], 0);
    assert_int_equal(diag_seen[TS_DIAG_ERROR_NEVER_RETRIEVED], 0);
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
        cmocka_unit_test_teardown(test_spawn_await, close_leftover_loop),
        cmocka_unit_test_teardown(test_fail, close_leftover_loop),
        cmocka_unit_test_teardown(test_fail_outside_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_run_outcome, close_leftover_loop),
        cmocka_unit_test_teardown(test_identity, close_leftover_loop),
        cmocka_unit_test_teardown(test_parents, close_leftover_loop),
        cmocka_unit_test_teardown(test_spawn_without_loop, close_leftover_loop),
        cmocka_unit_test_teardown(test_current_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_await_done_no_yield, close_leftover_loop),
        cmocka_unit_test_teardown(test_all_tasks, close_leftover_loop),
        cmocka_unit_test_teardown(test_done_callbacks, close_leftover_loop),
        cmocka_unit_test_teardown(test_detached_callback, close_leftover_loop),
        cmocka_unit_test_teardown(test_states, close_leftover_loop),
        cmocka_unit_test_teardown(test_state_and_kind_names, close_leftover_loop),
        cmocka_unit_test_teardown(test_self_await, close_leftover_loop),
        cmocka_unit_test_teardown(test_ref_detach, close_leftover_loop),
        cmocka_unit_test_teardown(test_run_cancels_leftovers, close_leftover_loop),
        cmocka_unit_test_teardown(test_nested_run, close_leftover_loop),
        cmocka_unit_test_teardown(test_two_awaiters, close_leftover_loop),
        cmocka_unit_test_teardown(test_stale_handle, close_leftover_loop),
        cmocka_unit_test_teardown(test_run_shutdown_late_spawn, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
