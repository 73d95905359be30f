/*
 * test_queue.c - ts_queue (FIFO, LIFO, priority): order, maxsize blocking,
 * hand-over to waiting getters and putters in arrival order, cancellation
 * of put/get/join without losing or inventing items, task_done/join, both
 * kinds of shutdown, freeing with blocked tasks.
 */
#include <stdlib.h>

#include "harness.h"

static void settle(void) {
    for (int i = 0; i < 8; i++)
        assert_int_equal(ts_sleep(0), 0);
}

/* ---- helper tasks ---------------------------------------------------------*/

typedef struct getter {
    ts_queue *q;
    int rc;
    void *item;
    int next_rc;   /* the suspension after the get */
} getter;

static void *get_task(void *arg) {
    getter *g = arg;
    g->item = IPTR(-1);
    g->rc = ts_queue_get(g->q, &g->item);
    if (g->rc)
        return ts_fail(g->rc, "get");
    g->next_rc = ts_sleep(0);
    return NULL;
}

typedef struct putter {
    ts_queue *q;
    int from, count;
    int rc;
} putter;

static void *put_task(void *arg) {
    putter *p = arg;
    for (int i = p->from; i < p->from + p->count; i++) {
        p->rc = ts_queue_put(p->q, IPTR(i));
        if (p->rc)
            return ts_fail(p->rc, "put %d", i);
    }
    return NULL;
}

static void *join_task(void *arg) {
    int err = ts_queue_join((ts_queue *)arg);
    return err ? ts_fail(err, "join") : NULL;
}

/* ---- order -------------------------------------------------------------*/

static void *t_fifo_basic(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(3);
    assert_non_null(q);
    assert_int_equal(ts_queue_maxsize(q), 3);
    assert_true(ts_queue_empty(q));
    assert_false(ts_queue_full(q));
    void *item = NULL;
    assert_int_equal(ts_queue_get_nowait(q, &item), -EAGAIN);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(ts_queue_put_nowait(q, IPTR(i)), 0);
    assert_true(ts_queue_full(q));
    assert_int_equal(ts_queue_size(q), 3);
    assert_int_equal(ts_queue_put_nowait(q, IPTR(4)), -EAGAIN);
    assert_int_equal(ts_queue_get(q, &item), 0);
    assert_int_equal(PTRI(item), 1);
    assert_int_equal(ts_queue_put(q, IPTR(4)), 0);
    for (int i = 2; i <= 4; i++) {
        assert_int_equal(ts_queue_get_nowait(q, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    assert_true(ts_queue_empty(q));
    ts_queue_free(q);
    ts_queue_free(NULL);
    assert_int_equal(ts_queue_put_nowait(NULL, NULL), -EINVAL);
    assert_int_equal(ts_queue_get(NULL, &item), -EINVAL);
    errno = 0;
    assert_null(ts_priority_queue_new(0, NULL));
    assert_int_equal(errno, EINVAL);
    return NULL;
}

static void test_fifo_basic(void **state) {
    (void)state;
    assert_int_equal(run_main(t_fifo_basic, NULL), 0);
}

/* An unbounded FIFO keeps order across ring wrap-around and growth. */
static void *t_fifo_growth(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    int next_put = 0, next_get = 0;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < round % 37 + 3; i++)
            assert_int_equal(ts_queue_put_nowait(q, IPTR(next_put++)), 0);
        for (int i = 0; i < round % 23; i++) {
            void *item;
            if (ts_queue_get_nowait(q, &item) == -EAGAIN)
                break;
            assert_int_equal(PTRI(item), next_get++);
        }
    }
    assert_int_equal(ts_queue_size(q), (size_t)(next_put - next_get));
    void *item;
    while (ts_queue_get_nowait(q, &item) == 0)
        assert_int_equal(PTRI(item), next_get++);
    assert_int_equal(next_get, next_put);
    ts_queue_free(q);
    return NULL;
}

static void test_fifo_growth(void **state) {
    (void)state;
    assert_int_equal(run_main(t_fifo_growth, NULL), 0);
}

static void *t_lifo(void *arg) {
    (void)arg;
    ts_queue *q = ts_lifo_queue_new(0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(ts_queue_put(q, IPTR(i)), 0);
    void *item;
    for (int i = 19; i >= 10; i--) {
        assert_int_equal(ts_queue_get(q, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    assert_int_equal(ts_queue_put(q, IPTR(100)), 0);
    assert_int_equal(ts_queue_get_nowait(q, &item), 0);
    assert_int_equal(PTRI(item), 100);
    for (int i = 9; i >= 0; i--) {
        assert_int_equal(ts_queue_get_nowait(q, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    ts_queue_free(q);
    return NULL;
}

static void test_lifo(void **state) {
    (void)state;
    assert_int_equal(run_main(t_lifo, NULL), 0);
}

typedef struct job {
    int prio;
    int seq;
} job;

static int job_cmp(const void *a, const void *b) {
    const job *x = a, *y = b;
    return (x->prio > y->prio) - (x->prio < y->prio);
}

/* Smallest first; equal priorities in the order they were (last) put. */
static void *t_priority(void *arg) {
    (void)arg;
    enum { N = 500 };
    ts_queue *q = ts_priority_queue_new(0, job_cmp);
    job *jobs = calloc(N, sizeof *jobs);
    int stamp = 0;
    srand(12345);
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){.prio = rand() % 7, .seq = stamp++};
        assert_int_equal(ts_queue_put(q, &jobs[i]), 0);
        if (i % 50 == 49) {   /* interleave gets: re-queued items go last */
            for (int k = 0; k < 2; k++) {
                void *item;
                assert_int_equal(ts_queue_get(q, &item), 0);
                ((job *)item)->seq = stamp++;
                assert_int_equal(ts_queue_put(q, item), 0);
            }
        }
    }
    job *prev = NULL;
    for (int i = 0; i < N; i++) {
        void *item;
        assert_int_equal(ts_queue_get(q, &item), 0);
        job *j = item;
        if (prev)
            assert_true(prev->prio < j->prio ||
                        (prev->prio == j->prio && prev->seq < j->seq));
        prev = j;
    }
    assert_true(ts_queue_empty(q));

    /* The tie-break, spelled out. */
    job js[] = {{2, 0}, {1, 1}, {2, 2}, {1, 3}, {3, 4}, {1, 5}};
    int want[] = {1, 3, 5, 0, 2, 4};
    for (int i = 0; i < 6; i++)
        assert_int_equal(ts_queue_put_nowait(q, &js[i]), 0);
    for (int i = 0; i < 6; i++) {
        void *item;
        assert_int_equal(ts_queue_get_nowait(q, &item), 0);
        assert_int_equal(((job *)item)->seq, want[i]);
    }
    free(jobs);
    ts_queue_free(q);
    return NULL;
}

static void test_priority(void **state) {
    (void)state;
    assert_int_equal(run_main(t_priority, NULL), 0);
}

/* Equal priorities only: the heap must behave exactly like a FIFO. */
static int all_equal(const void *a, const void *b) {
    (void)a;
    (void)b;
    return 0;
}

static void *t_priority_ties(void *arg) {
    (void)arg;
    ts_queue *q = ts_priority_queue_new(0, all_equal);
    for (int i = 0; i < 300; i++)
        assert_int_equal(ts_queue_put_nowait(q, IPTR(i)), 0);
    for (int i = 0; i < 300; i++) {
        void *item;
        assert_int_equal(ts_queue_get_nowait(q, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    ts_queue_free(q);
    return NULL;
}

static void test_priority_ties(void **state) {
    (void)state;
    assert_int_equal(run_main(t_priority_ties, NULL), 0);
}

/* ---- blocking ----------------------------------------------------------*/

/* A full queue blocks putters; gets let them in, in order. */
static void *t_maxsize_blocks(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(2);
    putter p = {.q = q, .from = 0, .count = 5};
    ts_task *t = ts_spawn(put_task, &p);
    settle();
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t, &obj, NULL), TS_WAIT_QUEUE_PUT);
    assert_ptr_equal(obj, q);
    assert_int_equal(ts_queue_size(q), 2);
    for (int i = 0; i < 5; i++) {
        void *item;
        assert_int_equal(ts_queue_get(q, &item), 0);
        assert_int_equal(PTRI(item), i);
        assert_true(ts_queue_size(q) <= 2);
    }
    assert_int_equal(ts_await(t, NULL), 0);
    assert_true(ts_queue_empty(q));
    ts_queue_free(q);
    return NULL;
}

static void test_maxsize_blocks(void **state) {
    (void)state;
    assert_int_equal(run_main(t_maxsize_blocks, NULL), 0);
}

/* Several blocked putters are let in in the order they blocked. */
static void *t_putters_fifo(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(1);
    assert_int_equal(ts_queue_put(q, IPTR(0)), 0);
    putter p[3];
    ts_task *t[3];
    for (int i = 0; i < 3; i++) {
        p[i] = (putter){.q = q, .from = i + 1, .count = 1};
        t[i] = ts_spawn(put_task, &p[i]);
        settle();
    }
    for (int i = 0; i < 4; i++) {
        void *item;
        assert_int_equal(ts_queue_get(q, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_await(t[i], NULL), 0);
    ts_queue_free(q);
    return NULL;
}

static void test_putters_fifo(void **state) {
    (void)state;
    assert_int_equal(run_main(t_putters_fifo, NULL), 0);
}

/* Blocked getters are served in the order they blocked. */
static void *t_getters_fifo(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    getter g[3];
    ts_task *t[3];
    for (int i = 0; i < 3; i++) {
        g[i] = (getter){.q = q};
        t[i] = ts_spawn(get_task, &g[i]);
        settle();
    }
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(t[0], &obj, NULL), TS_WAIT_QUEUE_GET);
    assert_ptr_equal(obj, q);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_queue_put_nowait(q, IPTR(10 + i)), 0);
    assert_true(ts_queue_empty(q));   /* handed straight over */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(PTRI(g[i].item), 10 + i);
    }
    ts_queue_free(q);
    return NULL;
}

static void test_getters_fifo(void **state) {
    (void)state;
    assert_int_equal(run_main(t_getters_fifo, NULL), 0);
}

/* ---- cancellation --------------------------------------------------------*/

/* A cancelled getter takes nothing: the item goes to the next getter. */
static void *t_cancel_getter(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    getter g[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        g[i] = (getter){.q = q};
        t[i] = ts_spawn(get_task, &g[i]);
    }
    settle();
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_int_equal(ts_queue_put(q, IPTR(7)), 0);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(PTRI(g[1].item), 7);
    assert_int_equal(PTRI(g[0].item), -1);
    assert_true(ts_queue_empty(q));

    /* Cancelled, and an item put before the getter even ran again: the
     * getter was already off the list, so the item stays queued. */
    g[0] = (getter){.q = q};
    t[0] = ts_spawn(get_task, &g[0]);
    settle();
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_queue_put(q, IPTR(8)), 0);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    assert_int_equal(ts_queue_size(q), 1);
    ts_queue_free(q);
    return NULL;
}

static void test_cancel_getter(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_getter, NULL), 0);
}

/* An item handed to a getter that is cancelled before it runs is still
 * that getter's: get returns 0 with it; the cancellation comes next. */
static void *t_cancel_getter_after_handover(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    getter g = {.q = q};
    ts_task *t = ts_spawn(get_task, &g);
    settle();
    assert_int_equal(ts_queue_put(q, IPTR(5)), 0);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(g.rc, 0);
    assert_int_equal(PTRI(g.item), 5);
    assert_int_equal(g.next_rc, -ECANCELED);
    assert_true(ts_queue_empty(q));
    ts_queue_free(q);
    return NULL;
}

static void test_cancel_getter_after_handover(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_getter_after_handover, NULL), 0);
}

/* A cancelled putter puts nothing, and its place goes to the next one;
 * task_done accounting sees only what was put. */
static void *t_cancel_putter(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(1);
    assert_int_equal(ts_queue_put(q, IPTR(0)), 0);
    putter p[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        p[i] = (putter){.q = q, .from = i + 1, .count = 1};
        t[i] = ts_spawn(put_task, &p[i]);
        settle();
    }
    ts_task_cancel(t[0], NULL);
    assert_int_equal(ts_await(t[0], NULL), -ECANCELED);
    void *item;
    assert_int_equal(ts_queue_get(q, &item), 0);
    assert_int_equal(PTRI(item), 0);
    assert_int_equal(ts_await(t[1], NULL), 0);
    assert_int_equal(ts_queue_get(q, &item), 0);
    assert_int_equal(PTRI(item), 2);
    assert_int_equal(ts_queue_get_nowait(q, &item), -EAGAIN);
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_queue_task_done(q), -EINVAL);
    ts_queue_free(q);
    return NULL;
}

static void test_cancel_putter(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_putter, NULL), 0);
}

/* ---- task_done and join ----------------------------------------------------*/

static void *t_join(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(0);
    assert_int_equal(ts_queue_task_done(q), -EINVAL);
    assert_int_equal(ts_queue_join(q), 0);   /* nothing unfinished */
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_queue_put(q, IPTR(i)), 0);
    ts_task *j[2] = {ts_spawn(join_task, q), ts_spawn(join_task, q)};
    void *item;
    for (int i = 0; i < 3; i++) {
        settle();
        const void *obj = NULL;
        assert_int_equal(ts_task_awaiting(j[0], &obj, NULL), TS_WAIT_QUEUE_JOIN);
        assert_ptr_equal(obj, q);
        assert_int_equal(ts_queue_get(q, &item), 0);
        assert_int_equal(ts_queue_task_done(q), 0);
    }
    assert_int_equal(ts_await(j[0], NULL), 0);
    assert_int_equal(ts_await(j[1], NULL), 0);
    assert_int_equal(ts_queue_task_done(q), -EINVAL);

    /* A cancelled joiner returns -ECANCELED; the count is unchanged. */
    assert_int_equal(ts_queue_put(q, IPTR(9)), 0);
    ts_task *t = ts_spawn(join_task, q);
    settle();
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), -ECANCELED);
    assert_int_equal(ts_queue_get(q, &item), 0);
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_queue_task_done(q), -EINVAL);
    ts_queue_free(q);
    return NULL;
}

static void test_join(void **state) {
    (void)state;
    assert_int_equal(run_main(t_join, NULL), 0);
}

/* ---- shutdown ------------------------------------------------------------*/

/* Not immediate: blocked putters and later puts fail, getters drain what
 * is left, then get TS_ESHUTDOWN. */
static void *t_shutdown(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(2);
    assert_int_equal(ts_queue_put(q, IPTR(1)), 0);
    assert_int_equal(ts_queue_put(q, IPTR(2)), 0);
    putter p = {.q = q, .from = 3, .count = 1};
    ts_task *pt = ts_spawn(put_task, &p);
    settle();
    ts_task *jt = ts_spawn(join_task, q);
    settle();
    ts_queue_shutdown(q, 0);
    assert_int_equal(ts_await(pt, NULL), TS_ESHUTDOWN);
    assert_int_equal(ts_queue_put(q, IPTR(4)), TS_ESHUTDOWN);
    assert_int_equal(ts_queue_put_nowait(q, IPTR(4)), TS_ESHUTDOWN);
    assert_int_equal(ts_queue_size(q), 2);
    void *item;
    assert_int_equal(ts_queue_get(q, &item), 0);
    assert_int_equal(PTRI(item), 1);
    assert_int_equal(ts_queue_get_nowait(q, &item), 0);
    assert_int_equal(PTRI(item), 2);
    assert_int_equal(ts_queue_get(q, &item), TS_ESHUTDOWN);
    assert_int_equal(ts_queue_get_nowait(q, &item), TS_ESHUTDOWN);
    assert_false(ts_task_done(jt));
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_await(jt, NULL), 0);
    ts_queue_free(q);

    /* Getters blocked on an empty queue wake with TS_ESHUTDOWN. */
    q = ts_queue_new(0);
    getter g[2];
    ts_task *t[2];
    for (int i = 0; i < 2; i++) {
        g[i] = (getter){.q = q};
        t[i] = ts_spawn(get_task, &g[i]);
    }
    settle();
    ts_queue_shutdown(q, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ts_await(t[i], NULL), TS_ESHUTDOWN);
    ts_queue_free(q);
    return NULL;
}

static void test_shutdown(void **state) {
    (void)state;
    assert_int_equal(run_main(t_shutdown, NULL), 0);
}

/* Immediate: the items are dropped and count as done; join wakes once the
 * items taken earlier are done too; blocked getters and putters wake with
 * TS_ESHUTDOWN. */
static void *t_shutdown_immediate(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ts_queue_put(q, IPTR(i)), 0);
    putter p = {.q = q, .from = 3, .count = 1};
    ts_task *pt = ts_spawn(put_task, &p);
    void *item;
    ts_task *jt = ts_spawn(join_task, q);
    settle();
    assert_int_equal(ts_queue_get(q, &item), 0);   /* admits the putter */
    assert_int_equal(ts_await(pt, NULL), 0);
    assert_int_equal(ts_queue_size(q), 3);
    pt = ts_spawn(put_task, &p);                   /* blocks again */
    settle();
    ts_queue_shutdown(q, 1);
    assert_true(ts_queue_empty(q));
    assert_int_equal(ts_await(pt, NULL), TS_ESHUTDOWN);
    settle();
    assert_false(ts_task_done(jt));   /* the item we took is not done */
    assert_int_equal(ts_queue_task_done(q), 0);
    assert_int_equal(ts_await(jt, NULL), 0);
    assert_int_equal(ts_queue_task_done(q), -EINVAL);
    assert_int_equal(ts_queue_get_nowait(q, &item), TS_ESHUTDOWN);
    ts_queue_free(q);

    q = ts_queue_new(0);
    getter g = {.q = q};
    ts_task *gt = ts_spawn(get_task, &g);
    jt = ts_spawn(join_task, q);
    settle();
    assert_true(ts_task_done(jt));   /* nothing was unfinished */
    assert_int_equal(ts_await(jt, NULL), 0);
    ts_queue_shutdown(q, 1);
    assert_int_equal(ts_await(gt, NULL), TS_ESHUTDOWN);
    ts_queue_free(q);
    return NULL;
}

static void test_shutdown_immediate(void **state) {
    (void)state;
    assert_int_equal(run_main(t_shutdown_immediate, NULL), 0);
}

/* Freeing a queue wakes every blocked task with TS_ESHUTDOWN. */
static void *t_free_with_waiters(void *arg) {
    (void)arg;
    ts_queue *q = ts_queue_new(1);
    assert_int_equal(ts_queue_put(q, IPTR(0)), 0);
    putter p = {.q = q, .from = 1, .count = 1};
    ts_task *pt = ts_spawn(put_task, &p);
    ts_task *jt = ts_spawn(join_task, q);
    settle();
    ts_queue_free(q);
    assert_int_equal(ts_await(pt, NULL), TS_ESHUTDOWN);
    assert_int_equal(ts_await(jt, NULL), TS_ESHUTDOWN);

    q = ts_queue_new(0);
    getter g = {.q = q};
    ts_task *gt = ts_spawn(get_task, &g);
    settle();
    ts_queue_free(q);
    assert_int_equal(ts_await(gt, NULL), TS_ESHUTDOWN);
    return NULL;
}

static void test_free_with_waiters(void **state) {
    (void)state;
    assert_int_equal(run_main(t_free_with_waiters, NULL), 0);
}

/* Producer/consumer with a small bound: everything arrives once, in order. */
static void *consume_task(void *arg) {
    ts_queue *q = arg;
    intptr_t sum = 0, expect = 0;
    for (;;) {
        void *item;
        int err = ts_queue_get(q, &item);
        if (err == TS_ESHUTDOWN)
            break;
        assert_int_equal(err, 0);
        assert_int_equal(PTRI(item), expect++);
        sum += PTRI(item);
        assert_int_equal(ts_queue_task_done(q), 0);
    }
    return IPTR(sum);
}

static void *t_pipeline(void *arg) {
    (void)arg;
    enum { N = 1000 };
    ts_queue *q = ts_queue_new(4);
    ts_task *c = ts_spawn(consume_task, q);
    for (int i = 0; i < N; i++)
        assert_int_equal(ts_queue_put(q, IPTR(i)), 0);
    assert_int_equal(ts_queue_join(q), 0);
    ts_queue_shutdown(q, 0);
    void *sum;
    assert_int_equal(ts_await(c, &sum), 0);
    assert_int_equal(PTRI(sum), (intptr_t)N * (N - 1) / 2);
    ts_queue_free(q);
    return NULL;
}

static void test_pipeline(void **state) {
    (void)state;
    assert_int_equal(run_main(t_pipeline, NULL), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_basic),
        cmocka_unit_test(test_fifo_growth),
        cmocka_unit_test(test_lifo),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_priority_ties),
        cmocka_unit_test(test_maxsize_blocks),
        cmocka_unit_test(test_putters_fifo),
        cmocka_unit_test(test_getters_fifo),
        cmocka_unit_test(test_cancel_getter),
        cmocka_unit_test(test_cancel_getter_after_handover),
        cmocka_unit_test(test_cancel_putter),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_shutdown_immediate),
        cmocka_unit_test(test_free_with_waiters),
        cmocka_unit_test(test_pipeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
