/*
 * test_barrier.c - ts_barrier: release with arrival indexes, reuse, reset,
 * abort, cancellation of a waiter breaking the barrier, freeing with
 * waiters.
 */
#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

typedef struct party {
    ts_barrier *b;
    int rounds;
    int rc;
    unsigned index[4];
} party;

static void *party_task(void *arg) {
    party *p = arg;
    for (int r = 0; r < p->rounds; r++) {
        p->index[r] = 99;
        p->rc = ts_barrier_wait(p->b, &p->index[r]);
        if (p->rc)
            return ts_fail(p->rc, "round %d", r);
    }
    return NULL;
}

static void *t_basic(void *arg) {
    (void)arg;
    enum { N = 3 };
    ts_barrier *b = ts_barrier_new(N);
    assert_non_null(b);
    assert_int_equal(ts_barrier_parties(b), N);
    assert_int_equal(ts_barrier_n_waiting(b), 0);
    assert_false(ts_barrier_broken(b));
    party p[N];
    ts_task *t[N];
    for (int i = 0; i < N - 1; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
        settle();
        assert_int_equal(ts_barrier_n_waiting(b), (unsigned)i + 1);
    }
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t[0], &obj, NULL), TS_WAIT_BARRIER);
    assert_ptr_equal(obj, b);
    /* The last party does not wait. */
    unsigned idx = 99;
    assert_int_equal(ts_barrier_wait(b, &idx), 0);
    assert_int_equal(idx, N - 1);
    assert_int_equal(ts_barrier_n_waiting(b), 0);
    for (int i = 0; i < N - 1; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(p[i].index[0], (unsigned)i);
    }
    ts_barrier_free(b);

    b = ts_barrier_new(1);
    assert_int_equal(ts_barrier_wait(b, &idx), 0);
    assert_int_equal(idx, 0);
    assert_int_equal(ts_barrier_wait(b, NULL), 0);
    ts_barrier_free(b);
    ts_barrier_free(NULL);
    errno = 0;
    assert_null(ts_barrier_new(0));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(ts_barrier_wait(NULL, NULL), -EINVAL);
    return NULL;
}

static void test_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_basic, NULL), 0);
}

/* Several rounds: each round releases exactly `parties` tasks, each round's
 * indexes are 0..parties-1 once each. */
static void *t_rounds(void *arg) {
    (void)arg;
    enum { N = 4, ROUNDS = 4 };
    ts_barrier *b = ts_barrier_new(N);
    party p[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        p[i] = (party){.b = b, .rounds = ROUNDS};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    assert_int_equal(ts_gather(t, N, NULL, NULL), 0);
    for (int r = 0; r < ROUNDS; r++) {
        unsigned seen = 0;
        for (int i = 0; i < N; i++) {
            assert_true(p[i].index[r] < N);
            seen |= 1u << p[i].index[r];
        }
        assert_int_equal(seen, (1u << N) - 1);
    }
    assert_false(ts_barrier_broken(b));
    ts_barrier_free(b);
    return NULL;
}

static void test_rounds(void **state) {
    (void)state;
    assert_int_equal(run_main(t_rounds, NULL), 0);
}

/* reset: the waiters get TS_EBROKEN, the barrier is usable again. */
static void *t_reset(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(3);
    party p[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    settle();
    assert_int_equal(ts_barrier_n_waiting(b), 2);
    ts_barrier_reset(b);
    assert_false(ts_barrier_broken(b));
    assert_int_equal(ts_barrier_n_waiting(b), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ts_await(t[i], NULL), TS_EBROKEN);

    for (int i = 0; i < 2; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    settle();
    unsigned idx;
    assert_int_equal(ts_barrier_wait(b, &idx), 0);
    assert_int_equal(idx, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    ts_barrier_free(b);
    return NULL;
}

static void test_reset(void **state) {
    (void)state;
    assert_int_equal(run_main(t_reset, NULL), 0);
}

/* abort: waiters get TS_EBROKEN, and so does every wait until reset. */
static void *t_abort(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(2);
    party p = {.b = b, .rounds = 1};
    ts_task *t = ts_spawn(party_task, &p);
    settle();
    ts_barrier_abort(b);
    assert_true(ts_barrier_broken(b));
    assert_int_equal(ts_barrier_n_waiting(b), 0);
    assert_int_equal(ts_await(t, NULL), TS_EBROKEN);
    assert_int_equal(ts_barrier_wait(b, NULL), TS_EBROKEN);
    ts_barrier_reset(b);
    assert_false(ts_barrier_broken(b));
    p = (party){.b = b, .rounds = 1};
    t = ts_spawn(party_task, &p);
    settle();
    assert_int_equal(ts_barrier_wait(b, NULL), 0);
    assert_int_equal(ts_await(t, NULL), 0);
    ts_barrier_free(b);
    return NULL;
}

static void test_abort(void **state) {
    (void)state;
    assert_int_equal(run_main(t_abort, NULL), 0);
}

/* A cancelled waiter returns -ECANCELED and breaks the barrier: the other
 * waiters get TS_EBROKEN. */
static void *t_cancel_breaks(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(4);
    party p[3];
    ts_task *t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    settle();
    ts_task_cancel(t[1], NULL);
    assert_int_equal(ts_await(t[1], NULL), -ECANCELED);
    assert_true(ts_barrier_broken(b));
    assert_int_equal(ts_await(t[0], NULL), TS_EBROKEN);
    assert_int_equal(ts_await(t[2], NULL), TS_EBROKEN);
    assert_int_equal(ts_barrier_wait(b, NULL), TS_EBROKEN);
    ts_barrier_free(b);
    return NULL;
}

static void test_cancel_breaks(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_breaks, NULL), 0);
}

/* The last party arrives after a waiter was cancelled but before that
 * waiter ran: the cycle cannot complete, so the barrier breaks then. */
static void *t_cancel_then_last_arrives(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(3);
    party p[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    settle();
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_barrier_wait(b, NULL), TS_EBROKEN);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_int_equal(ts_await(t[1], NULL), TS_EBROKEN);
    assert_true(ts_barrier_broken(b));
    ts_barrier_free(b);
    return NULL;
}

static void test_cancel_then_last_arrives(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_then_last_arrives, NULL), 0);
}

/* A waiter cancelled just before a reset does not break the new cycle. */
static void *t_stale_cancel(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(2);
    party p = {.b = b, .rounds = 1};
    ts_task *t = ts_spawn(party_task, &p);
    settle();
    ts_task_cancel(t, NULL);
    ts_barrier_reset(b);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_false(ts_barrier_broken(b));
    p = (party){.b = b, .rounds = 1};
    t = ts_spawn(party_task, &p);
    settle();
    assert_int_equal(ts_barrier_wait(b, NULL), 0);
    assert_int_equal(ts_await(t, NULL), 0);
    ts_barrier_free(b);
    return NULL;
}

static void test_stale_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_stale_cancel, NULL), 0);
}

/* Freeing a barrier with waiters wakes them with TS_EBROKEN. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_barrier *b = ts_barrier_new(3);
    party p[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        p[i] = (party){.b = b, .rounds = 1};
        t[i] = ts_spawn(party_task, &p[i]);
    }
    settle();
    ts_barrier_free(b);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ts_await(t[i], NULL), TS_EBROKEN);
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_rounds),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_cancel_breaks),
        cmocka_unit_test(test_cancel_then_last_arrives),
        cmocka_unit_test(test_stale_cancel),
        cmocka_unit_test(test_free_with_waiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
