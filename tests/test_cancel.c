/*
 * test_cancel.c - black-box tests of cancellation (task.h).
 *
 * The contract under test: ts_task_cancel counts a request and delivers
 * -ECANCELED once, at the task's current suspension if it is parked, or at
 * its next one if it is running or ready (a task woken with success keeps
 * what it was given); a task cancelled before it first ran never runs; a
 * task is "cancelled" only if it ends with ts_fail(-ECANCELED); an awaiter
 * that is cancelled passes the cancellation to the task it awaits and
 * returns -ECANCELED only once that task has finished.
 *
 * Each test checks the suspension primitive's own return code inside the
 * victim, not only the task's final state, so a cancellation delivered at
 * the wrong point is caught.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* Let t run until it parks (bounded; fails if it never does). */
static void wait_until_suspended(ts_task *t) {
    for (int i = 0; i < 1000 && ts_task_state_of(t) != TS_TASK_SUSPENDED; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_SUSPENDED);
}

/* What a victim saw: the return code of its suspension and of the next
 * one, and whether it got past them. */
typedef struct probe {
    int first, second;
    int ran, finished;
    int cancelling_seen;
    ts_future *fut;
    int fd;
    ts_task *inner;
} probe;

static void *end_with(int r) { return r ? ts_fail(r, "ended %d", r) : NULL; }

static void *victim_sleep(void *arg) {
    probe *p = arg;
    p->ran = 1;
    p->first = ts_sleep(100);
    p->cancelling_seen = ts_task_cancelling(ts_current_task());
    p->finished = 1;
    return end_with(p->first);
}

static void *victim_future(void *arg) {
    probe *p = arg;
    p->first = ts_future_await(p->fut, NULL);
    p->finished = 1;
    return end_with(p->first);
}

static void *victim_fd(void *arg) {
    probe *p = arg;
    p->first = ts_wait_fd(p->fd, TS_READABLE, TS_FOREVER);
    p->finished = 1;
    return end_with(p->first);
}

static void *victim_await(void *arg) {
    probe *p = arg;
    p->first = ts_await(p->inner, NULL);
    p->finished = 1;
    return end_with(p->first);
}

/* Cancel a victim parked in some primitive; check what it saw, the
 * outcome, the state and the message (copied, not borrowed). */
static void cancel_parked(ts_task_fn fn, probe *p) {
    ts_task *t = ts_spawn(fn, p);
    ts_task *ref = ts_task_ref(t);
    wait_until_suspended(t);
    char msg[32] = "stop please";
    assert_int_equal(ts_task_cancel(t, msg), 1);
    memcpy(msg, "overwritten", 12);
    assert_int_equal(ts_task_cancelling(t), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p->first, -ECANCELED);
    assert_int_equal(p->finished, 1);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_CANCELLED);
    assert_int_equal(ts_task_cancelled(ref), 1);
    assert_string_equal(ts_task_cancel_message(ref), "stop please");
    assert_int_equal(ts_task_cancel(ref, NULL), 0);   /* already done */
    ts_task_unref(ref);
}

static void *body_cancel_sleep(void *arg) {
    (void)arg;
    probe p = {0};
    cancel_parked(victim_sleep, &p);
    assert_int_equal(p.cancelling_seen, 1);
    return NULL;
}
static void test_cancel_sleep(void **s) { (void)s; run_ok(body_cancel_sleep); }

static void *body_cancel_future(void *arg) {
    (void)arg;
    probe p = {.fut = ts_future_new()};
    cancel_parked(victim_future, &p);
    assert_int_equal(ts_future_cancelled(p.fut), 1);
    ts_future_free(p.fut);
    return NULL;
}
static void test_cancel_future_await(void **s) { (void)s; run_ok(body_cancel_future); }

static void *body_cancel_fd(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    probe p = {.fd = fds[0]};
    cancel_parked(victim_fd, &p);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}
static void test_cancel_wait_fd(void **s) { (void)s; run_ok(body_cancel_fd); }

/* The awaiter is cancelled: the inner task gets the request, the awaiter
 * keeps waiting until the inner task has finished, then gets -ECANCELED. */
static void *body_cancel_await(void *arg) {
    (void)arg;
    probe in = {0};
    probe out = {.inner = ts_spawn(victim_sleep, &in)};
    ts_task *inner_ref = ts_task_ref(out.inner);
    cancel_parked(victim_await, &out);
    assert_int_equal(in.first, -ECANCELED);
    assert_int_equal(in.finished, 1);
    assert_int_equal(in.cancelling_seen, 1);
    assert_int_equal(ts_task_state_of(inner_ref), TS_TASK_CANCELLED);
    ts_task_unref(inner_ref);
    return NULL;
}
static void test_cancel_task_await(void **s) { (void)s; run_ok(body_cancel_await); }

/* The inner task swallows the request, cleans up (suspending) and returns
 * a value.  The awaiter still ends with -ECANCELED, and only after the
 * inner task finished.  (asyncio would hand the awaiter the inner result
 * here; the header promises -ECANCELED.) */
static int swallow_cleanup_rc;
static void *inner_swallows(void *arg) {
    probe *p = arg;
    p->first = ts_sleep(100);
    swallow_cleanup_rc = ts_sleep(0.01);
    p->finished = 1;
    return IPTR(77);
}

static void *body_cancel_await_swallowed(void *arg) {
    (void)arg;
    probe in = {0};
    probe out = {.inner = ts_spawn(inner_swallows, &in)};
    ts_task *inner_ref = ts_task_ref(out.inner);
    cancel_parked(victim_await, &out);
    assert_int_equal(in.first, -ECANCELED);
    assert_int_equal(swallow_cleanup_rc, 0);
    assert_int_equal(in.finished, 1);
    void *res = NULL;
    assert_int_equal(ts_task_state_of(inner_ref), TS_TASK_DONE);
    assert_int_equal(ts_task_result(inner_ref, &res), 0);
    assert_int_equal(PTRI(res), 77);
    ts_task_unref(inner_ref);
    return NULL;
}
static void test_cancel_await_inner_swallows(void **s) {
    (void)s;
    run_ok(body_cancel_await_swallowed);
}

/* ---- yield (sleep(0)) ---------------------------------------------------- */

static int yields_done;
static void *yield_forever(void *arg) {
    (void)arg;
    for (;;) {
        int r = ts_sleep(0);
        if (r)
            return end_with(r);
        yields_done++;
    }
}

/* A task that only yields gets the request at the yield it is in or at the
 * next one: at most one more successful yield after the request. */
static void *body_cancel_yield(void *arg) {
    (void)arg;
    yields_done = 0;
    ts_task *t = ts_spawn(yield_forever, NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_true(yields_done >= 3);
    int at_cancel = yields_done;
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_true(yields_done - at_cancel <= 1);
    return NULL;
}
static void test_cancel_yield(void **s) { (void)s; run_ok(body_cancel_yield); }

/* ---- requests on running / ready tasks ----------------------------------- */

/* Running: a self-cancel is delivered by the next suspension, at once and
 * only once; a task that goes on and returns normally is not cancelled. */
static void *self_cancel(void *arg) {
    int *rc = arg;
    ts_task *me = ts_current_task();
    rc[0] = ts_task_cancel(me, "self");
    rc[1] = ts_task_state_of(me);
    rc[2] = ts_sleep(0);
    rc[3] = ts_sleep(0);
    rc[4] = ts_task_cancelling(me);
    return IPTR(5);
}

static void *body_self_cancel(void *arg) {
    (void)arg;
    int rc[5] = {9, 9, 9, 9, 9};
    ts_task *t = ts_spawn(self_cancel, rc);
    ts_task *ref = ts_task_ref(t);
    void *res = NULL;
    assert_int_equal(ts_await(t, &res), 0);
    assert_int_equal(PTRI(res), 5);
    assert_int_equal(rc[0], 1);
    assert_int_equal(rc[1], TS_TASK_RUNNING);
    assert_int_equal(rc[2], -ECANCELED);
    assert_int_equal(rc[3], 0);
    assert_int_equal(rc[4], 1);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_DONE);
    assert_int_equal(ts_task_cancelled(ref), 0);
    ts_task_unref(ref);
    return NULL;
}
static void test_self_cancel(void **s) { (void)s; run_ok(body_self_cancel); }

/* A self-cancel taken back before the next suspension is never delivered. */
static void *self_cancel_uncancel(void *arg) {
    int *rc = arg;
    ts_task *me = ts_current_task();
    ts_task_cancel(me, NULL);
    rc[0] = ts_task_uncancel(me);
    rc[1] = ts_sleep(0);
    rc[2] = ts_sleep(0.001);
    return NULL;
}

static void *body_uncancel_before_delivery(void *arg) {
    (void)arg;
    int rc[3] = {9, 9, 9};
    assert_int_equal(ts_await(ts_spawn(self_cancel_uncancel, rc), NULL), 0);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 0);
    assert_int_equal(rc[2], 0);
    return NULL;
}
static void test_uncancel_before_delivery(void **s) {
    (void)s;
    run_ok(body_uncancel_before_delivery);
}

/* Ready: woken with success, then cancelled before it ran.  The wake
 * stands (the value is delivered); the request hits the next suspension.
 * (asyncio would throw into the pending await and lose the value; the
 * header promises the next suspension instead.) */
typedef struct ready_probe {
    ts_future *fut;
    ts_task *inner;
    int first, second;
    void *value;
} ready_probe;

static void *ready_on_future(void *arg) {
    ready_probe *p = arg;
    p->first = ts_future_await(p->fut, &p->value);
    p->second = ts_sleep(100);
    return end_with(p->second);
}

static void *ready_on_task(void *arg) {
    ready_probe *p = arg;
    p->first = ts_await(p->inner, &p->value);
    p->second = ts_sleep(100);
    return end_with(p->second);
}

static void *quick_value(void *arg) {
    ts_future *gate = arg;
    int r = ts_future_await(gate, NULL);
    return r ? ts_fail(r, NULL) : IPTR(31);
}

static void *body_cancel_ready(void *arg) {
    (void)arg;
    ready_probe p = {.fut = ts_future_new()};
    ts_task *t = ts_spawn(ready_on_future, &p);
    wait_until_suspended(t);
    assert_int_equal(ts_future_set_result(p.fut, IPTR(12)), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_READY);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p.first, 0);
    assert_int_equal(PTRI(p.value), 12);
    assert_int_equal(p.second, -ECANCELED);
    assert_int_equal(ts_future_cancelled(p.fut), 0);
    ts_future_free(p.fut);

    /* The same through ts_await: the awaited task finished, the awaiter
     * is ready, then cancelled: it gets the result, then -ECANCELED. */
    ts_future *gate = ts_future_new();
    ready_probe q = {.inner = ts_spawn(quick_value, gate)};
    t = ts_spawn(ready_on_task, &q);
    wait_until_suspended(t);
    assert_int_equal(ts_future_set_result(gate, NULL), 0);
    for (int i = 0; i < 100 && ts_task_state_of(t) == TS_TASK_SUSPENDED; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_state_of(t), TS_TASK_READY);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(q.first, 0);
    assert_int_equal(PTRI(q.value), 31);
    assert_int_equal(q.second, -ECANCELED);
    ts_future_free(gate);
    return NULL;
}
static void test_cancel_ready_task(void **s) { (void)s; run_ok(body_cancel_ready); }

/* ---- before the first run ------------------------------------------------ */

static void *body_cancel_before_run(void *arg) {
    (void)arg;
    probe p = {0};
    ts_task *t = ts_spawn(victim_sleep, &p);
    ts_task *ref = ts_task_ref(t);
    assert_int_equal(ts_task_cancel(t, "too early"), 1);
    assert_int_equal(ts_task_cancelling(t), 1);
    assert_int_equal(ts_task_state_of(t), TS_TASK_READY);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p.ran, 0);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_CANCELLED);
    assert_int_equal(ts_task_cancelled(ref), 1);
    assert_string_equal(ts_task_cancel_message(ref), "too early");
    ts_task_unref(ref);

    /* Also when nobody awaits it: it is gone after one iteration. */
    p.ran = 0;
    t = ts_spawn(victim_sleep, &p);
    ref = ts_task_ref(t);
    ts_task_detach(t);
    assert_int_equal(ts_task_cancel(ref, NULL), 1);
    assert_null(ts_task_cancel_message(ref));
    for (int i = 0; i < 10 && !ts_task_done(ref); i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_cancelled(ref), 1);
    assert_int_equal(p.ran, 0);
    ts_task_unref(ref);
    return NULL;
}
static void test_cancel_before_first_run(void **s) { (void)s; run_ok(body_cancel_before_run); }

/* ---- counting, swallowing, cleanup ----------------------------------------- */

typedef struct counter_probe {
    int first, cancelling_after, uncancel1, uncancel2, uncancel3, later;
} counter_probe;

static void *swallow_and_uncancel(void *arg) {
    counter_probe *p = arg;
    ts_task *me = ts_current_task();
    p->first = ts_sleep(100);
    p->cancelling_after = ts_task_cancelling(me);
    p->uncancel1 = ts_task_uncancel(me);
    p->uncancel2 = ts_task_uncancel(me);
    p->uncancel3 = ts_task_uncancel(me);   /* nothing left to take back */
    p->later = ts_sleep(0.001);            /* delivered once, not again */
    return IPTR(8);
}

static void *body_counting(void *arg) {
    (void)arg;
    counter_probe p = {9, 9, 9, 9, 9, 9};
    ts_task *t = ts_spawn(swallow_and_uncancel, &p);
    ts_task *ref = ts_task_ref(t);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancelling(t), 0);
    assert_int_equal(ts_task_cancel(t, "one"), 1);
    assert_int_equal(ts_task_cancel(t, "two"), 1);
    assert_int_equal(ts_task_cancelling(t), 2);
    void *res = NULL;
    assert_int_equal(ts_await(t, &res), 0);
    assert_int_equal(PTRI(res), 8);
    assert_int_equal(p.first, -ECANCELED);
    assert_int_equal(p.cancelling_after, 2);
    assert_int_equal(p.uncancel1, 1);
    assert_int_equal(p.uncancel2, 0);
    assert_int_equal(p.uncancel3, 0);
    assert_int_equal(p.later, 0);
    assert_int_equal(ts_task_cancelling(ref), 0);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_DONE);
    assert_int_equal(ts_task_cancelled(ref), 0);
    ts_task_unref(ref);
    return NULL;
}
static void test_cancelling_counts(void **s) { (void)s; run_ok(body_counting); }

/* A task that swallows the request and returns normally, without ever
 * calling uncancel, is not cancelled. */
static void *swallow_plain(void *arg) {
    int *rc = arg;
    rc[0] = ts_sleep(100);
    return IPTR(7);
}

static void *body_swallow(void *arg) {
    (void)arg;
    int rc[1] = {9};
    ts_task *t = ts_spawn(swallow_plain, rc);
    ts_task *ref = ts_task_ref(t);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    void *res = NULL;
    assert_int_equal(ts_await(t, &res), 0);
    assert_int_equal(PTRI(res), 7);
    assert_int_equal(rc[0], -ECANCELED);
    assert_int_equal(ts_task_cancelled(ref), 0);
    assert_int_equal(ts_task_state_of(ref), TS_TASK_DONE);
    assert_int_equal(ts_task_error(ref), 0);
    ts_task_unref(ref);
    return NULL;
}
static void test_swallow_is_not_cancelled(void **s) { (void)s; run_ok(body_swallow); }

/* Cancelled again while cleaning up after the first request. */
typedef struct cleanup_probe {
    int first, cleanup, parked_in_cleanup;
} cleanup_probe;

static void *cleanup_victim(void *arg) {
    cleanup_probe *p = arg;
    p->first = ts_sleep(100);
    p->parked_in_cleanup = 1;
    p->cleanup = ts_sleep(100);
    return ts_fail(-ECANCELED, "cleanup interrupted");
}

static void *body_cancel_during_cleanup(void *arg) {
    (void)arg;
    cleanup_probe p = {9, 9, 0};
    ts_task *t = ts_spawn(cleanup_victim, &p);
    ts_task *ref = ts_task_ref(t);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    for (int i = 0; i < 100 && !p.parked_in_cleanup; i++)
        assert_int_equal(ts_sleep(0), 0);
    wait_until_suspended(t);
    assert_int_equal(p.first, -ECANCELED);
    assert_int_equal(p.cleanup, 9);   /* still parked in its cleanup */
    assert_int_equal(ts_task_cancel(t, "again"), 1);
    assert_int_equal(ts_task_cancelling(t), 2);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p.cleanup, -ECANCELED);
    assert_int_equal(ts_task_cancelled(ref), 1);
    ts_task_unref(ref);
    return NULL;
}
static void test_cancel_during_cleanup(void **s) { (void)s; run_ok(body_cancel_during_cleanup); }

/* After a cancelled short sleep, a second sleep must last its own full
 * time: the first sleep's timer must not fire into it. */
typedef struct timer_probe {
    int first, second;
    double slept;
} timer_probe;

static void *sleep_twice(void *arg) {
    timer_probe *p = arg;
    p->first = ts_sleep(0.01);
    double t0 = ts_now();
    p->second = ts_sleep(0.05);
    p->slept = ts_now() - t0;
    return NULL;
}

static void *body_cancelled_timer_stopped(void *arg) {
    (void)arg;
    timer_probe p = {9, 9, 0};
    ts_task *t = ts_spawn(sleep_twice, &p);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(p.first, -ECANCELED);
    assert_int_equal(p.second, 0);
    assert_true(p.slept >= 0.05 - 1e-6);
    return NULL;
}
static void test_cancelled_sleep_timer_is_stopped(void **s) {
    (void)s;
    run_ok(body_cancelled_timer_stopped);
}

static void *body_cancel_done(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn(swallow_plain, (int[1]){0});
    ts_task *ref = ts_task_ref(t);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(ts_task_cancel(ref, "late"), 0);
    assert_null(ts_task_cancel_message(ref));
    ts_task_unref(ref);
    return NULL;
}
static void test_cancel_finished_task(void **s) { (void)s; run_ok(body_cancel_done); }

/* Two requests before the victim resumes are delivered as one -ECANCELED
 * (asyncio: the second cancel() finds the waiter already cancelled, sets
 * _must_cancel, and the step that throws the first CancelledError clears
 * it), so cleanup that suspends afterwards is not interrupted. */
static void *body_two_requests_one_delivery(void *arg) {
    (void)arg;
    cleanup_probe p = {9, 9, 0};
    ts_task *t = ts_spawn(cleanup_victim, &p);
    wait_until_suspended(t);
    assert_int_equal(ts_task_cancel(t, "a"), 1);
    assert_int_equal(ts_task_cancel(t, "b"), 1);
    assert_int_equal(ts_task_cancelling(t), 2);
    /* cleanup_victim's cleanup sleeps 100 s: cancel it once it is parked
     * there, but only if the first delivery let it get that far. */
    for (int i = 0; i < 100 && !p.parked_in_cleanup; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(p.first, -ECANCELED);
    if (ts_task_done(t))
        fail_msg("the second request interrupted the cleanup (%d): two "
                 "requests before resumption must be delivered once", p.cleanup);
    wait_until_suspended(t);
    assert_int_equal(p.cleanup, 9);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(p.cleanup, -ECANCELED);
    return NULL;
}
static void test_two_requests_one_delivery(void **s) {
    (void)s;
    run_ok(body_two_requests_one_delivery);
}

/* A chain of awaiters: cancelling the outermost reaches the innermost, with
 * its message, and every level returns -ECANCELED only after the level
 * below ended. */
enum { CHAIN = 64 };
static int chain_rc[CHAIN], chain_order[CHAIN], chain_n;
static char chain_msg[32];

static void *chain_link(void *arg) {
    int depth = (int)PTRI(arg);
    int r;
    if (depth == CHAIN - 1) {
        r = ts_sleep(100);
        const char *m = ts_task_cancel_message(ts_current_task());
        snprintf(chain_msg, sizeof chain_msg, "%s", m ? m : "(none)");
    } else
        r = ts_await(ts_spawn(chain_link, IPTR(depth + 1)), NULL);
    chain_rc[depth] = r;
    chain_order[chain_n++] = depth;
    return end_with(r);
}

static void *body_cancel_chain(void *arg) {
    (void)arg;
    chain_n = 0;
    ts_task *t = ts_spawn(chain_link, IPTR(0));
    for (int i = 0; i < 10 * CHAIN && ts_all_tasks(NULL, NULL, 0) < CHAIN + 1; i++)
        assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_all_tasks(NULL, NULL, 0), CHAIN + 1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_task_cancel(t, "chain-stop"), 1);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(chain_n, CHAIN);
    assert_string_equal(chain_msg, "chain-stop");   /* forwarded, as asyncio */
    for (int i = 0; i < CHAIN; i++) {
        assert_int_equal(chain_rc[i], -ECANCELED);
        assert_int_equal(chain_order[i], CHAIN - 1 - i);
    }
    assert_int_equal(ts_all_tasks(NULL, NULL, 0), 1);
    return NULL;
}
static void test_cancel_chain(void **s) { (void)s; run_ok(body_cancel_chain); }

/* A child cancels the main task: ts_run reports main's outcome. */
static void *cancel_arg(void *arg) {
    ts_task_cancel((ts_task *)arg, "from child");
    return NULL;
}

static int main_sleep_rc;
static void *body_main_cancelled(void *arg) {
    (void)arg;
    ts_task *c = ts_spawn(cancel_arg, ts_current_task());
    main_sleep_rc = ts_sleep(100);
    int r = ts_await(c, NULL);
    if (r)
        return ts_fail(r, "child failed");
    return ts_fail(main_sleep_rc, NULL);
}

static void test_main_cancelled_by_child(void **s) {
    (void)s;
    diag_reset();
    main_sleep_rc = 9;
    assert_int_equal(run_main(body_main_cancelled, NULL), -ECANCELED);
    assert_int_equal(main_sleep_rc, -ECANCELED);
    assert_no_diag();
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
        cmocka_unit_test_teardown(test_cancel_sleep, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_future_await, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_wait_fd, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_task_await, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_await_inner_swallows, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_yield, close_leftover_loop),
        cmocka_unit_test_teardown(test_self_cancel, close_leftover_loop),
        cmocka_unit_test_teardown(test_uncancel_before_delivery, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_ready_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_before_first_run, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancelling_counts, close_leftover_loop),
        cmocka_unit_test_teardown(test_swallow_is_not_cancelled, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_during_cleanup, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancelled_sleep_timer_is_stopped, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_finished_task, close_leftover_loop),
        cmocka_unit_test_teardown(test_two_requests_one_delivery, close_leftover_loop),
        cmocka_unit_test_teardown(test_cancel_chain, close_leftover_loop),
        cmocka_unit_test_teardown(test_main_cancelled_by_child, close_leftover_loop),
    };
    const char *filter = getenv("TS_TEST_FILTER");
    if (filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
