/*
 * test_generator.c - async generators: values in order with suspensions
 * in between, exhaustion, early close running the body's cleanup, body
 * errors, cancellation of the consumer and of the body, close before
 * start, nested generators, misuse.
 */
#include <string.h>

#include "harness.h"

/* What a body saw, for the tests to check. */
typedef struct body_log {
    intptr_t n;          /* how many values to yield */
    double pause;        /* sleep before each yield */
    int fail_at;         /* > 0: return -EIO instead of yielding this value */
    int slow_from;       /* > 0: from this value on, sleep 30 s before each */
    int yield_rc;        /* the ts_yield (or sleep) result that ended the body */
    int cleaned;         /* the cleanup ran (to its end) */
    int cleanup_sleep_rc;
    int started;
    const char *task_name;
} body_log;

/* for i in range(n): sleep(pause); yield i -- with a cleanup that itself
 * suspends, as asyncio code in a finally: block may. */
static int async_range(ts_gen *g, void *arg) {
    body_log *b = arg;
    b->started = 1;
    b->task_name = ts_task_name(ts_current_task());
    int err = 0;
    for (intptr_t i = 0; i < b->n; i++) {
        double pause = b->slow_from > 0 && i >= b->slow_from ? 30 : b->pause;
        if (pause > 0 && (err = ts_sleep(pause)))
            break;
        if (b->fail_at > 0 && i == b->fail_at) {
            err = -EIO;
            break;
        }
        if ((err = ts_yield(g, IPTR(i))))
            break;
    }
    b->yield_rc = err;
    b->cleanup_sleep_rc = ts_sleep(0.001);
    b->cleaned = 1;
    return err;
}

/* ---- values, order, exhaustion -----------------------------------------------*/

static void *t_range(void *arg) {
    (void)arg;
    body_log b = {.n = 5, .pause = 0.002};
    ts_gen *g = ts_gen_new(async_range, &b);
    assert_non_null(g);
    assert_int_equal(ts_gen_last_error(g), 0);
    /* Lazy: nothing runs before the first next. */
    assert_int_equal(ts_sleep(0.005), 0);
    assert_int_equal(b.started, 0);
    void *v = NULL;
    for (intptr_t i = 0; i < 5; i++) {
        assert_int_equal(ts_gen_next(g, &v), 0);
        assert_int_equal(PTRI(v), i);
    }
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(ts_gen_last_error(g), TS_EOF);
    assert_true(b.cleaned);
    assert_int_equal(b.yield_rc, 0);
    assert_string_equal(b.task_name, "async_range");
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_range_in_order(void **state) {
    (void)state;
    assert_int_equal(run_main(t_range, NULL), 0);
}

static void *t_foreach(void *arg) {
    (void)arg;
    body_log b = {.n = 4};
    ts_gen *g = ts_gen_new(async_range, &b);
    intptr_t sum = 0, count = 0;
    ts_foreach(v, g) {
        assert_int_equal(PTRI(v), count);
        sum += PTRI(v);
        count++;
    }
    assert_int_equal(count, 4);
    assert_int_equal(sum, 6);
    assert_int_equal(ts_gen_last_error(g), TS_EOF);
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_foreach(void **state) {
    (void)state;
    assert_int_equal(run_main(t_foreach, NULL), 0);
}

/* An empty generator: the first next is TS_EOF. */
static int empty_gen(ts_gen *g, void *arg) {
    (void)g;
    (void)arg;
    return 0;
}

static void *t_empty(void *arg) {
    (void)arg;
    ts_gen *g = ts_gen_new(empty_gen, NULL);
    void *v = IPTR(99);
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(PTRI(v), 99);
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_empty(void **state) {
    (void)state;
    assert_int_equal(run_main(t_empty, NULL), 0);
}

/* ---- close ----------------------------------------------------------------------*/

/* Closing early makes the pending ts_yield return TS_ECLOSED; close
 * suspends until the body's cleanup (which sleeps) has finished. */
static void *t_early_close(void *arg) {
    (void)arg;
    body_log b = {.n = 100, .pause = 0.001};
    ts_gen *g = ts_gen_new(async_range, &b);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(PTRI(v), 1);
    assert_false(b.cleaned);
    assert_int_equal(ts_gen_close(g), 0);
    assert_true(b.cleaned);
    assert_int_equal(b.yield_rc, TS_ECLOSED);
    assert_int_equal(b.cleanup_sleep_rc, 0);
    return NULL;
}

static void test_early_close_runs_cleanup(void **state) {
    (void)state;
    assert_int_equal(run_main(t_early_close, NULL), 0);
}

static void *t_close_before_start(void *arg) {
    (void)arg;
    body_log b = {.n = 3};
    ts_gen *g = ts_gen_new(async_range, &b);
    assert_int_equal(ts_gen_close(g), 0);
    assert_int_equal(ts_sleep(0.002), 0);
    assert_int_equal(b.started, 0);
    assert_int_equal(ts_gen_close(NULL), 0);
    return NULL;
}

static void test_close_before_start(void **state) {
    (void)state;
    assert_int_equal(run_main(t_close_before_start, NULL), 0);
}

/* A body that fails in its cleanup: close returns that error. */
static int failing_cleanup(ts_gen *g, void *arg) {
    (void)arg;
    int err = ts_yield(g, IPTR(1));
    return err == TS_ECLOSED ? -EPIPE : 0;
}

static void *t_close_error(void *arg) {
    (void)arg;
    ts_gen *g = ts_gen_new(failing_cleanup, NULL);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(ts_gen_close(g), -EPIPE);
    return NULL;
}

static void test_close_returns_cleanup_error(void **state) {
    (void)state;
    assert_int_equal(run_main(t_close_error, NULL), 0);
}

/* ---- errors -----------------------------------------------------------------------*/

static void *t_body_error(void *arg) {
    (void)arg;
    body_log b = {.n = 5, .fail_at = 2};
    ts_gen *g = ts_gen_new(async_range, &b);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(ts_gen_next(g, &v), -EIO);
    assert_int_equal(ts_gen_last_error(g), -EIO);
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(ts_gen_last_error(g), TS_EOF);
    assert_int_equal(ts_gen_close(g), 0);

    /* ts_foreach stops at the error, which last_error keeps. */
    body_log b2 = {.n = 5, .fail_at = 3};
    g = ts_gen_new(async_range, &b2);
    int count = 0;
    ts_foreach(x, g) {
        (void)x;
        count++;
    }
    assert_int_equal(count, 3);
    assert_int_equal(ts_gen_last_error(g), -EIO);
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_body_error_once(void **state) {
    (void)state;
    assert_int_equal(run_main(t_body_error, NULL), 0);
}

/* ---- cancellation ---------------------------------------------------------------------*/

typedef struct consumer {
    ts_gen *g;
    int count;
    int rc;
    int close_rc;
} consumer;

static void *consume_all(void *arg) {
    consumer *c = arg;
    void *v;
    while ((c->rc = ts_gen_next(c->g, &v)) == 0)
        c->count++;
    c->close_rc = ts_gen_close(c->g);
    return NULL;
}

/* The consumer is cancelled while the body sleeps between values: the body
 * is cancelled too, and its cleanup has run by the time next returns. */
static void *t_consumer_cancelled(void *arg) {
    (void)arg;
    body_log b = {.n = 10, .pause = 0.001, .slow_from = 3};
    consumer c = {.g = ts_gen_new(async_range, &b)};
    ts_task *t = ts_spawn(consume_all, &c);
    while (c.count < 3)
        assert_int_equal(ts_sleep(0.001), 0);
    /* Let the consumer get back into next and the body into its long sleep. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(ts_sleep(0), 0);
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t, &obj, NULL), TS_WAIT_GENERATOR);
    assert_ptr_equal(obj, c.g);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(c.rc, -ECANCELED);
    assert_int_equal(c.count, 3);
    assert_true(b.cleaned);
    assert_int_equal(b.yield_rc, -ECANCELED);
    assert_int_equal(b.cleanup_sleep_rc, 0); /* one request, delivered once */
    assert_int_equal(c.close_rc, 0);
    return NULL;
}

static void test_consumer_cancel_cancels_generator(void **state) {
    (void)state;
    assert_int_equal(run_main(t_consumer_cancelled, NULL), 0);
}

/* The body task itself is cancelled while it waits in ts_yield: the next
 * ts_gen_next reports the cancellation once, then TS_EOF. */
static ts_task *body_task;

static int remember_task(ts_gen *g, void *arg) {
    (void)arg;
    body_task = ts_current_task();
    for (intptr_t i = 0;; i++) {
        int err = ts_yield(g, IPTR(i));
        if (err)
            return err;
    }
}

static void *t_body_cancelled(void *arg) {
    (void)arg;
    ts_gen *g = ts_gen_new(remember_task, NULL);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), 0);
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(body_task, &obj, NULL), TS_WAIT_GENERATOR);
    assert_ptr_equal(obj, g);
    assert_int_equal(ts_task_cancel(body_task, NULL), 1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_gen_next(g, &v), -ECANCELED);
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_body_cancelled(void **state) {
    (void)state;
    assert_int_equal(run_main(t_body_cancelled, NULL), 0);
}

/* A consumer with a cancel request pending calls next on a fresh
 * generator: the body is cancelled before it ever runs. */
static void *t_pending_cancel(void *arg) {
    (void)arg;
    body_log b = {.n = 3};
    ts_gen *g = ts_gen_new(async_range, &b);
    ts_task_cancel(ts_current_task(), NULL);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), -ECANCELED);
    ts_task_uncancel(ts_current_task());
    assert_int_equal(b.started, 0);
    assert_int_equal(ts_gen_next(g, &v), TS_EOF);
    assert_int_equal(ts_gen_close(g), 0);
    return NULL;
}

static void test_pending_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_pending_cancel, NULL), 0);
}

/* ---- nesting ---------------------------------------------------------------------------*/

/* Doubles every value of an inner async_range; closes the inner one on
 * its way out, whichever way that is. */
typedef struct outer_arg {
    body_log inner;
    int closed_inner_rc;
    int ended_with;
} outer_arg;

static int doubler(ts_gen *g, void *arg) {
    outer_arg *o = arg;
    ts_gen *in = ts_gen_new(async_range, &o->inner);
    int err;
    void *v;
    while ((err = ts_gen_next(in, &v)) == 0)
        if ((err = ts_yield(g, IPTR(PTRI(v) * 2))))
            break;
    o->ended_with = err;
    o->closed_inner_rc = ts_gen_close(in);
    return err == TS_EOF ? 0 : err;
}

static void *t_nested(void *arg) {
    (void)arg;
    outer_arg o = {.inner = {.n = 4, .pause = 0.001}};
    ts_gen *g = ts_gen_new(doubler, &o);
    intptr_t expect = 0;
    ts_foreach(v, g) {
        assert_int_equal(PTRI(v), expect);
        expect += 2;
    }
    assert_int_equal(expect, 8);
    assert_int_equal(ts_gen_last_error(g), TS_EOF);
    assert_int_equal(o.ended_with, TS_EOF);
    assert_true(o.inner.cleaned);
    assert_int_equal(ts_gen_close(g), 0);

    /* Closing the outer one early closes the inner one from its cleanup. */
    outer_arg o2 = {.inner = {.n = 100}};
    g = ts_gen_new(doubler, &o2);
    void *v;
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(ts_gen_next(g, &v), 0);
    assert_int_equal(PTRI(v), 2);
    assert_int_equal(ts_gen_close(g), 0);
    assert_int_equal(o2.ended_with, TS_ECLOSED);
    assert_int_equal(o2.closed_inner_rc, 0);
    assert_true(o2.inner.cleaned);
    assert_int_equal(o2.inner.yield_rc, TS_ECLOSED);
    return NULL;
}

static void test_nested(void **state) {
    (void)state;
    assert_int_equal(run_main(t_nested, NULL), 0);
}

/* ---- misuse ---------------------------------------------------------------------------*/

static ts_gen *self_gen;

static int misuse_body(ts_gen *g, void *arg) {
    (void)arg;
    void *v;
    int *rc = arg;
    rc[0] = ts_gen_next(g, &v);   /* from its own body */
    rc[1] = ts_gen_close(g);
    return ts_yield(g, NULL);
}

static void *t_misuse(void *arg) {
    (void)arg;
    assert_int_equal(ts_gen_next(NULL, NULL), -EINVAL);
    assert_int_equal(ts_yield(NULL, NULL), -EINVAL);
    assert_int_equal(ts_gen_last_error(NULL), -EINVAL);
    errno = 0;
    assert_null(ts_gen_new_at(NULL, NULL, "x", NULL));
    assert_int_equal(errno, EINVAL);

    int rc[2] = {0, 0};
    self_gen = ts_gen_new(misuse_body, rc);
    /* Only the body may yield. */
    assert_int_equal(ts_yield(self_gen, NULL), -EPERM);
    void *v = NULL;
    assert_int_equal(ts_gen_next(self_gen, &v), 0);
    assert_int_equal(rc[0], -EDEADLK);
    assert_int_equal(rc[1], -EDEADLK);
    assert_int_equal(ts_gen_close(self_gen), 0);
    return NULL;
}

static void test_misuse(void **state) {
    (void)state;
    assert_int_equal(run_main(t_misuse, NULL), 0);
    errno = 0;
    assert_null(ts_gen_new(empty_gen, NULL)); /* no loop on this thread */
    assert_int_equal(errno, ESRCH);
}

/* Two consumers: the second one's next is refused while the first waits. */
static void *t_busy(void *arg) {
    (void)arg;
    body_log b = {.n = 3, .pause = 0.01};
    consumer c = {.g = ts_gen_new(async_range, &b)};
    ts_task *t = ts_spawn(consume_all, &c);
    assert_int_equal(ts_sleep(0), 0); /* t is now inside next */
    void *v;
    assert_int_equal(ts_gen_next(c.g, &v), -EBUSY);
    assert_int_equal(ts_gen_close(c.g), -EBUSY);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(c.count, 3);
    assert_int_equal(c.rc, TS_EOF);
    assert_int_equal(c.close_rc, 0);
    return NULL;
}

static void test_busy(void **state) {
    (void)state;
    assert_int_equal(run_main(t_busy, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_in_order),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_early_close_runs_cleanup),
        cmocka_unit_test(test_close_before_start),
        cmocka_unit_test(test_close_returns_cleanup_error),
        cmocka_unit_test(test_body_error_once),
        cmocka_unit_test(test_consumer_cancel_cancels_generator),
        cmocka_unit_test(test_body_cancelled),
        cmocka_unit_test(test_pending_cancel),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
