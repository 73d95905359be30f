/*
 * test_with.c - TS_WITH: exit runs once on every way out of the block
 * (end, break, continue, return, goto, a block that got -ECANCELED), not
 * at all when enter fails; exit's verdict lands in *errp; the lock and
 * semaphore context managers.
 */
#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* A context manager that counts its calls and can fail or rewrite. */
typedef struct counter {
    int enters, exits;
    int enter_err;       /* what enter returns */
    int exit_seen;       /* err exit was given */
    int exit_map_from, exit_map_to;   /* exit turns one code into another */
} counter;

static int counter_enter(void *self) {
    counter *c = self;
    c->enters++;
    return c->enter_err;
}

static int counter_exit(void *self, int err) {
    counter *c = self;
    c->exits++;
    c->exit_seen = err;
    return err == c->exit_map_from ? c->exit_map_to : err;
}

static const ts_async_cm counter_cm = {counter_enter, counter_exit};

static void *t_custom(void *arg) {
    (void)arg;
    counter c = {0};
    int err = 123;   /* a stale value: enter resets it */
    int ran = 0;
    TS_WITH(&counter_cm, &c, &err) {
        ran++;
        assert_int_equal(c.enters, 1);
        assert_int_equal(c.exits, 0);
        assert_int_equal(err, 0);
    }
    assert_int_equal(ran, 1);
    assert_int_equal(c.exits, 1);
    assert_int_equal(err, 0);

    /* exit sees the block's error and its verdict is the outcome. */
    c = (counter){.exit_map_from = -EIO, .exit_map_to = 0};
    TS_WITH(&counter_cm, &c, &err) {
        err = -EIO;
    }
    assert_int_equal(c.exit_seen, -EIO);
    assert_int_equal(err, 0);

    /* enter fails: no block, no exit, the error in err. */
    c = (counter){.enter_err = -EAGAIN};
    ran = 0;
    TS_WITH(&counter_cm, &c, &err) {
        ran++;
    }
    assert_int_equal(ran, 0);
    assert_int_equal(c.enters, 1);
    assert_int_equal(c.exits, 0);
    assert_int_equal(err, -EAGAIN);

    /* errp may be NULL; a NULL cm skips the block. */
    c = (counter){0};
    TS_WITH(&counter_cm, &c, NULL) {
        ran++;
    }
    assert_int_equal(ran, 1);
    assert_int_equal(c.exits, 1);
    TS_WITH(NULL, &c, &err) {
        ran++;
    }
    assert_int_equal(ran, 1);
    assert_int_equal(err, -EINVAL);
    return NULL;
}

static void test_custom(void **state) {
    (void)state;
    assert_int_equal(run_main(t_custom, NULL), 0);
}

/* break, continue and goto leave the block through exit, once. */
static void *t_break_continue_goto(void *arg) {
    (void)arg;
    counter c = {0};
    int err = 0;
    for (int i = 0; i < 3; i++) {
        TS_WITH(&counter_cm, &c, &err) {
            if (i == 1)
                continue;   /* ends the TS_WITH's own one-pass loop */
        }
    }
    assert_int_equal(c.enters, 3);
    assert_int_equal(c.exits, 3);

    c = (counter){0};
    TS_WITH(&counter_cm, &c, &err) {
        break;
    }
    assert_int_equal(c.exits, 1);

    c = (counter){0};
    {
        TS_WITH(&counter_cm, &c, &err) {
            goto out;
        }
    }
out:
    assert_int_equal(c.enters, 1);
    assert_int_equal(c.exits, 1);
    return NULL;
}

static void test_break_continue_goto(void **state) {
    (void)state;
    assert_int_equal(run_main(t_break_continue_goto, NULL), 0);
}

/* return from inside the block: the lock is released on the way out. */
static int locked_return(ts_lock *l, int *err) {
    TS_WITH(&ts_lock_cm, l, err) {
        assert_ptr_equal(ts_lock_owner(l), ts_current_task());
        return 42;
    }
    return -1;
}

static void *t_lock_cm(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    int err = 0;
    TS_WITH(&ts_lock_cm, l, &err) {
        assert_true(ts_lock_locked(l));
    }
    assert_int_equal(err, 0);
    assert_false(ts_lock_locked(l));

    TS_WITH(&ts_lock_cm, l, &err) {
        break;
    }
    assert_false(ts_lock_locked(l));

    assert_int_equal(locked_return(l, &err), 42);
    assert_false(ts_lock_locked(l));
    assert_int_equal(err, 0);

    /* The block's error is kept; the lock is still released. */
    TS_WITH(&ts_lock_cm, l, &err) {
        err = -EIO;
    }
    assert_int_equal(err, -EIO);
    assert_false(ts_lock_locked(l));
    ts_lock_free(l);
    return NULL;
}

static void test_lock_cm(void **state) {
    (void)state;
    assert_int_equal(run_main(t_lock_cm, NULL), 0);
}

/* A task cancelled inside the block: the block's -ECANCELED passes through
 * exit, the lock is released and handed to the next waiter. */
typedef struct guarded {
    ts_lock *lock;
    int err;
    int entered;
} guarded;

static void *sleep_under_lock(void *arg) {
    guarded *g = arg;
    g->err = 0;
    TS_WITH(&ts_lock_cm, g->lock, &g->err) {
        g->entered = 1;
        g->err = ts_sleep(3600);
        if (g->err)
            break;
    }
    return g->err ? ts_fail(g->err, "with") : NULL;
}

static void *t_cancel_in_block(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    guarded g = {.lock = l};
    ts_task *t = ts_spawn(sleep_under_lock, &g);
    settle();
    assert_true(g.entered);
    assert_ptr_equal(ts_lock_owner(l), t);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(g.err, -ECANCELED);
    assert_false(ts_lock_locked(l));

    /* Cancelled while enter waits for the lock: no block, no release. */
    assert_int_equal(ts_lock_acquire(l), 0);
    g = (guarded){.lock = l};
    t = ts_spawn(sleep_under_lock, &g);
    settle();
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_false(g.entered);
    assert_int_equal(g.err, -ECANCELED);
    assert_ptr_equal(ts_lock_owner(l), ts_current_task());
    assert_int_equal(ts_lock_release(l), 0);
    ts_lock_free(l);
    return NULL;
}

static void test_cancel_in_block(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_in_block, NULL), 0);
}

/* The semaphore as a context manager gives its permit back every way. */
static int sem_return(ts_semaphore *s, int *err) {
    TS_WITH(&ts_semaphore_cm, s, err) {
        assert_int_equal(ts_semaphore_value(s), 1);
        return 7;
    }
    return -1;
}

static void *t_semaphore_cm(void *arg) {
    (void)arg;
    ts_semaphore *s = ts_bounded_semaphore_new(2);
    int err = 0;
    TS_WITH(&ts_semaphore_cm, s, &err) {
        assert_int_equal(ts_semaphore_value(s), 1);
        TS_WITH(&ts_semaphore_cm, s, &err) {
            assert_int_equal(ts_semaphore_value(s), 0);
        }
        assert_int_equal(ts_semaphore_value(s), 1);
    }
    assert_int_equal(err, 0);
    assert_int_equal(ts_semaphore_value(s), 2);
    assert_int_equal(sem_return(s, &err), 7);
    assert_int_equal(ts_semaphore_value(s), 2);
    ts_semaphore_free(s);
    return NULL;
}

static void test_semaphore_cm(void **state) {
    (void)state;
    assert_int_equal(run_main(t_semaphore_cm, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_break_continue_goto),
        cmocka_unit_test(test_lock_cm),
        cmocka_unit_test(test_cancel_in_block),
        cmocka_unit_test(test_semaphore_cm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
