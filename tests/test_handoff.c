/*
 * test_handoff.c - black-box tests of the direct hand-off between tasks
 * and of switch-free yields (task.c): they change no order and starve
 * nothing.
 *
 * Covered: two tasks that hand the thread to each other forever through
 * queues (every switch a hand-off), or one task that yields forever with
 * nothing else ready, still let a timer fire, a descriptor wait end (a
 * pipe written from another thread), a cross-thread call run and
 * ts_loop_stop take effect; a task woken while another entry of the same
 * iteration is still waiting its turn runs after that entry, not before;
 * a task a yield hands the thread to runs before the yielder resumes; a
 * timer already due fires before the yielder resumes (an expired timeout
 * cancels the yield); a yield with I/O armed polls (a pipe written
 * before two sleep(0)s has woken its reader by then).  No timing is
 * asserted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Under UBSan, a finding fails the run instead of scrolling past. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) { return "halt_on_error=1:print_stacktrace=1"; }

static void run_ok(ts_task_fn body) {
    diag_reset();
    assert_int_equal(run_main(body, NULL), 0);
    for (int k = 0; k < 16; k++)
        if (diag_seen[k])
            fail_msg("unexpected diagnostic kind %d: %s", k, diag_last);
}

/* ---- two tasks handing off to each other forever ------------------------- */

typedef struct pair {
    ts_queue *q1, *q2;
    volatile int stop;
    long rounds;
} pair;

static void *ping(void *arg) {
    pair *p = arg;
    while (!p->stop) {
        void *item;
        int err = ts_queue_put(p->q1, IPTR(1));
        if (!err)
            err = ts_queue_get(p->q2, &item);
        if (err)
            return ts_fail(err, "ping");
        p->rounds++;
    }
    return ts_queue_put(p->q1, NULL) ? ts_fail(-EIO, "ping end") : NULL;
}

static void *pong(void *arg) {
    pair *p = arg;
    for (;;) {
        void *item;
        int err = ts_queue_get(p->q1, &item);
        if (err)
            return ts_fail(err, "pong get");
        if (!item)
            return NULL;
        if ((err = ts_queue_put(p->q2, item)))
            return ts_fail(err, "pong put");
    }
}

static void start_pair(pair *p, ts_task **a, ts_task **b) {
    p->q1 = ts_queue_new(0);
    p->q2 = ts_queue_new(0);
    p->stop = 0;
    p->rounds = 0;
    assert_non_null(p->q1);
    assert_non_null(p->q2);
    *a = ts_spawn(ping, p);
    *b = ts_spawn(pong, p);
    assert_non_null(*a);
    assert_non_null(*b);
}

static void end_pair(pair *p, ts_task *a, ts_task *b) {
    p->stop = 1;
    assert_int_equal(ts_await(a, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    assert_true(p->rounds > 0);
    ts_queue_free(p->q1);
    ts_queue_free(p->q2);
}

static void *body_handoff_lets_timer_run(void *arg) {
    (void)arg;
    pair p;
    ts_task *a, *b;
    start_pair(&p, &a, &b);
    /* Only a timer can wake us while the pair runs. */
    assert_int_equal(ts_sleep(0.01), 0);
    end_pair(&p, a, b);
    return NULL;
}
static void test_handoff_lets_timer_run(void **s) { (void)s; run_ok(body_handoff_lets_timer_run); }

/* A thread writes to a pipe once the loop is busy, then calls into the
 * loop: only the poll sees either. */
typedef struct poker {
    int fd;
    ts_loop *loop;
    atomic_int called;
} poker;

static void mark_called(void *arg) { atomic_store(&((poker *)arg)->called, 1); }

static void *poke(void *arg) {
    poker *k = arg;
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    assert_int_equal(write(k->fd, "x", 1), 1);
    assert_int_equal(ts_call_soon_threadsafe(k->loop, mark_called, k), 0);
    return NULL;
}

static void *body_handoff_lets_io_run(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pair p;
    ts_task *a, *b;
    start_pair(&p, &a, &b);
    poker k = {.fd = fds[1], .loop = ts_loop_current()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poke, &k), 0);
    assert_int_equal(ts_wait_fd(fds[0], TS_READABLE, TS_FOREVER), TS_READABLE);
    /* The call was posted after the write; it may need another turn. */
    while (!atomic_load(&k.called))
        assert_int_equal(ts_sleep(0.001), 0);
    pthread_join(th, NULL);
    end_pair(&p, a, b);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}
static void test_handoff_lets_io_run(void **s) { (void)s; run_ok(body_handoff_lets_io_run); }

/* ts_loop_stop from outside the pair ends the run even though the pair
 * never goes back to the loop by itself. */
static void stop_loop(void *arg) { ts_loop_stop(arg); }

static void test_handoff_lets_stop_through(void **s) {
    (void)s;
    diag_reset();
    ts_loop *l;
    assert_int_equal(ts_loop_new(&l), 0);
    pair p = {ts_queue_new(0), ts_queue_new(0), 0, 0};
    ts_spawn_opts o = {.loop = l};
    ts_task *a = ts_spawn_with(&o, ping, &p);
    ts_task *b = ts_spawn_with(&o, pong, &p);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(ts_call_later(l, 0.01, stop_loop, l, NULL), 0);
    assert_int_equal(ts_loop_run_forever(l), 0);
    assert_true(p.rounds > 0);
    assert_false(ts_task_done(a));
    ts_task_cancel(a, NULL);
    ts_task_cancel(b, NULL);
    assert_int_equal(ts_loop_run_until_complete(l, a, NULL), -ECANCELED);
    assert_int_equal(ts_loop_run_until_complete(l, b, NULL), -ECANCELED);
    ts_queue_free(p.q1);
    ts_queue_free(p.q2);
    assert_int_equal(ts_loop_close(l), 0);
}

/* ---- one task yielding forever -------------------------------------------- */

static void *spin(void *arg) {
    volatile int *stop = arg;
    long n = 0;
    while (!*stop) {
        int err = ts_sleep(0);
        if (err)
            return ts_fail(err, "spin");
        n++;
    }
    return n > 0 ? NULL : ts_fail(-EIO, "never yielded");
}

static void *body_yield_lets_timer_and_io_run(void *arg) {
    (void)arg;
    volatile int stop = 0;
    ts_task *t = ts_spawn(spin, (void *)&stop);
    assert_non_null(t);
    assert_int_equal(ts_sleep(0.01), 0);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    poker k = {.fd = fds[1], .loop = ts_loop_current()};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poke, &k), 0);
    assert_int_equal(ts_wait_fd(fds[0], TS_READABLE, TS_FOREVER), TS_READABLE);
    while (!atomic_load(&k.called))
        assert_int_equal(ts_sleep(0.001), 0);
    pthread_join(th, NULL);
    stop = 1;
    assert_int_equal(ts_await(t, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}
static void test_yield_lets_timer_and_io_run(void **s) { (void)s; run_ok(body_yield_lets_timer_and_io_run); }

/* ---- order ------------------------------------------------------------------ */

static char trace[32];
static int ntrace;

static void *wait_then_mark(void *arg) {
    ts_event *e = arg;
    if (ts_event_wait(e))
        return ts_fail(-EIO, "wait");
    trace[ntrace++] = 'B';
    return NULL;
}

typedef struct setter {
    ts_event *e, *never;
} setter;

static void *set_then_park(void *arg) {
    setter *st = arg;
    trace[ntrace++] = 'A';
    ts_event_set(st->e);
    /* Parks with B woken and C still in this iteration's batch: C is
     * next, not B. */
    return ts_event_wait(st->never) == -ECANCELED ? NULL : ts_fail(-EIO, "not cancelled");
}

static void *mark_c(void *arg) {
    (void)arg;
    trace[ntrace++] = 'C';
    return NULL;
}

static void *body_woken_task_waits_for_batch(void *arg) {
    (void)arg;
    ntrace = 0;
    ts_event *e = ts_event_new(), *never = ts_event_new();
    ts_task *b = ts_spawn(wait_then_mark, e);
    assert_int_equal(ts_sleep(0), 0); /* b parks on e */
    setter st = {e, never};
    ts_task *a = ts_spawn(set_then_park, &st);
    ts_task *c = ts_spawn(mark_c, NULL);
    assert_int_equal(ts_await(c, NULL), 0);
    assert_int_equal(ts_await(b, NULL), 0);
    ts_task_cancel(a, NULL);
    assert_int_equal(ts_await(a, NULL), 0);
    trace[ntrace] = 0;
    assert_string_equal(trace, "ACB");
    ts_event_free(e);
    ts_event_free(never);
    return NULL;
}
static void test_woken_task_waits_for_batch(void **s) { (void)s; run_ok(body_woken_task_waits_for_batch); }

static void *body_yield_hands_off_in_order(void *arg) {
    (void)arg;
    ntrace = 0;
    ts_event *e = ts_event_new();
    ts_task *b = ts_spawn(wait_then_mark, e);
    assert_int_equal(ts_sleep(0), 0); /* b parks on e */
    ts_event_set(e);                  /* b is the only one ready */
    trace[ntrace++] = 'M';
    assert_int_equal(ts_sleep(0), 0); /* b runs, then we do */
    trace[ntrace++] = 'M';
    trace[ntrace] = 0;
    assert_string_equal(trace, "MBM");
    assert_int_equal(ts_await(b, NULL), 0);
    ts_event_free(e);
    return NULL;
}
static void test_yield_hands_off_in_order(void **s) { (void)s; run_ok(body_yield_hands_off_in_order); }

static void mark_t(void *arg) {
    (void)arg;
    trace[ntrace++] = 'T';
}

static void *body_due_timer_runs_before_yielder(void *arg) {
    (void)arg;
    ntrace = 0;
    assert_int_equal(ts_call_later(NULL, 0, mark_t, NULL, NULL), 0);
    /* The loop fires it before our next step and queues its callback
     * behind us: it has run by our second resume. */
    assert_int_equal(ts_sleep(0), 0);
    trace[ntrace++] = 'M';
    assert_int_equal(ts_sleep(0), 0);
    trace[ntrace++] = 'M';
    trace[ntrace] = 0;
    assert_string_equal(trace, "MTM");
    /* A timeout already expired cancels the yield itself. */
    ts_timeout *cm = ts_timeout_enter(0);
    int err = ts_sleep(0);
    assert_true(ts_timeout_expired(cm));
    assert_int_equal(ts_timeout_exit(cm, err), -ETIMEDOUT);
    return NULL;
}
static void test_due_timer_runs_before_yielder(void **s) { (void)s; run_ok(body_due_timer_runs_before_yielder); }

/* A yield with I/O armed lets the loop poll, as asyncio's sleep(0) does:
 * a reader parked on a pipe that we then write has run by our second
 * sleep(0) (the first polls and wakes it, the second lets it have its
 * turn), though nothing else was ready and a switch-free yield would
 * have skipped the loop up to TS_HANDOFF_BUDGET times. */
static void *read_then_mark(void *arg) {
    int fd = *(int *)arg;
    assert_int_equal(ts_wait_fd(fd, TS_READABLE, TS_FOREVER), TS_READABLE);
    trace[ntrace++] = 'R';
    return NULL;
}

static void *body_yield_polls_when_io_armed(void *arg) {
    (void)arg;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    ntrace = 0;
    ts_task *r = ts_spawn(read_then_mark, &fds[0]);
    assert_int_equal(ts_sleep(0), 0); /* r parks on the pipe */
    assert_int_equal(write(fds[1], "x", 1), 1);
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_sleep(0), 0);
    trace[ntrace++] = 'M';
    trace[ntrace] = 0;
    assert_string_equal(trace, "RM");
    assert_int_equal(ts_await(r, NULL), 0);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}
static void test_yield_polls_when_io_armed(void **s) { (void)s; run_ok(body_yield_polls_when_io_armed); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handoff_lets_timer_run),
        cmocka_unit_test(test_handoff_lets_io_run),
        cmocka_unit_test(test_handoff_lets_stop_through),
        cmocka_unit_test(test_yield_lets_timer_and_io_run),
        cmocka_unit_test(test_woken_task_waits_for_batch),
        cmocka_unit_test(test_yield_hands_off_in_order),
        cmocka_unit_test(test_due_timer_runs_before_yielder),
        cmocka_unit_test(test_yield_polls_when_io_armed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
