/*
 * test_executor.c - ts_run_in_executor / ts_to_thread and the thread pool:
 * jobs run beside the loop, results come back, FIFO beyond the thread
 * count, cancellation of queued and running jobs, shutdown, the default
 * pool's cleanup at loop close, pools shared by several loops.
 *
 * Jobs never assert (cmocka is not thread-safe); they report through
 * atomics, and the tests assert on the loop thread.  Nothing asserts on
 * timings: where a job must be running or blocked, it waits on a gate the
 * test opens.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"

/* ---- helpers ------------------------------------------------------------------*/

/* A gate a job waits at (polling, so it never needs the loop) and the
 * counts it leaves behind. */
typedef struct gate {
    atomic_int open;
    atomic_int started;
    atomic_int finished;
} gate;

static void *gated_job(void *arg) {
    gate *g = arg;
    atomic_fetch_add(&g->started, 1);
    /* Bounded, so a broken runtime fails the test instead of hanging it. */
    for (int i = 0; i < 30000 && !atomic_load(&g->open); i++)
        usleep(1000);
    atomic_fetch_add(&g->finished, 1);
    return IPTR(7);
}

/* Suspend (letting the loop run) until *counter reaches n. */
static void wait_count(atomic_int *counter, int n) {
    for (int i = 0; i < 30000 && atomic_load(counter) < n; i++)
        assert_int_equal(ts_sleep(0.001), 0);
    assert_true(atomic_load(counter) >= n);
}

typedef struct call {
    ts_executor *ex;   /* NULL: the default pool */
    ts_job_fn fn;
    void *arg;
    void *result;
    int rc;
} call;

static void *call_task(void *arg) {
    call *c = arg;
    c->rc = ts_run_in_executor(c->ex, c->fn, c->arg, &c->result);
    return NULL;
}

static void *square_job(void *arg) { return IPTR(PTRI(arg) * PTRI(arg)); }

/* ---- the loop goes on while a job blocks ------------------------------------------*/

typedef struct ticking {
    atomic_int ticks;
    atomic_int seen;   /* ticks the job saw before it let go */
} ticking;

/* Blocks its worker (in usleep) until the loop has ticked five times: if
 * the loop waited for the job, this would never end. */
static void *wait_for_ticks_job(void *arg) {
    ticking *t = arg;
    for (int i = 0; i < 30000 && atomic_load(&t->ticks) < 5; i++)
        usleep(1000);
    atomic_store(&t->seen, atomic_load(&t->ticks));
    return IPTR(42);
}

static void *ticker(void *arg) {
    ticking *t = arg;
    for (;;) {
        if (ts_sleep(0.001))
            return NULL;
        atomic_fetch_add(&t->ticks, 1);
    }
}

static void *t_concurrent(void *arg) {
    (void)arg;
    ticking t = {0};
    ts_task *tick = ts_spawn(ticker, &t);
    void *res = NULL;
    assert_int_equal(ts_to_thread(wait_for_ticks_job, &t, &res), 0);
    assert_int_equal(PTRI(res), 42);
    assert_true(atomic_load(&t.seen) >= 5);
    ts_task_cancel(tick, NULL);
    assert_int_equal(ts_await(tick, NULL), 0);
    return NULL;
}

static void test_concurrent_with_loop(void **state) {
    (void)state;
    assert_int_equal(run_main(t_concurrent, NULL), 0);
}

/* ---- results, many jobs ---------------------------------------------------------*/

static void *t_results(void *arg) {
    (void)arg;
    enum { N = 40 };
    call c[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call){.fn = square_job, .arg = IPTR(i)};
        t[i] = ts_spawn(call_task, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(PTRI(c[i].result), i * i);
    }
    /* The default pool was made on first use and belongs to the loop. */
    ts_executor *ex = ts__loop_default_executor(ts_loop_current());
    assert_non_null(ex);
    assert_true(ts_executor_max_threads(ex) >= 5);
    assert_true(ts_executor_max_threads(ex) <= 32);
    /* A NULL result pointer is allowed. */
    assert_int_equal(ts_to_thread(square_job, IPTR(3), NULL), 0);
    return NULL;
}

static void test_results(void **state) {
    (void)state;
    assert_int_equal(run_main(t_results, NULL), 0);
}

/* One worker: jobs start strictly in submission order. */
static atomic_int fifo_seq;
static int fifo_order[16];

static void *record_order_job(void *arg) {
    fifo_order[atomic_fetch_add(&fifo_seq, 1)] = (int)PTRI(arg);
    usleep(1000);
    return arg;
}

static void *t_fifo(void *arg) {
    (void)arg;
    enum { N = 16 };
    ts_executor *ex = ts_executor_new(1);
    assert_non_null(ex);
    assert_int_equal(ts_executor_max_threads(ex), 1);
    atomic_store(&fifo_seq, 0);
    call c[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call){.ex = ex, .fn = record_order_job, .arg = IPTR(i)};
        t[i] = ts_spawn(call_task, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(PTRI(c[i].result), i);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(fifo_order[i], i);
    ts_executor_free(ex);
    return NULL;
}

static void test_fifo_one_thread(void **state) {
    (void)state;
    assert_int_equal(run_main(t_fifo, NULL), 0);
}

/* Three workers, thirty jobs: the first three run at the same time (each
 * waits for the other two), never more than three do. */
typedef struct pool_stats {
    atomic_int seq;
    atomic_int in_flight;
    atomic_int max_in_flight;
    atomic_int first_three_met;
} pool_stats;

static pool_stats stats;

static void *counted_job(void *arg) {
    int seq = atomic_fetch_add(&stats.seq, 1);
    int now = atomic_fetch_add(&stats.in_flight, 1) + 1;
    int max = atomic_load(&stats.max_in_flight);
    while (now > max && !atomic_compare_exchange_weak(&stats.max_in_flight, &max, now))
        ;
    if (seq < 3) {
        int i;
        for (i = 0; i < 30000 && atomic_load(&stats.seq) < 3; i++)
            usleep(1000);
        if (i < 30000)
            atomic_fetch_add(&stats.first_three_met, 1);
    }
    usleep(500);
    atomic_fetch_sub(&stats.in_flight, 1);
    return arg;
}

static void *t_bounded(void *arg) {
    (void)arg;
    enum { N = 30 };
    memset(&stats, 0, sizeof stats);
    ts_executor *ex = ts_executor_new(3);
    assert_non_null(ex);
    call c[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call){.ex = ex, .fn = counted_job, .arg = IPTR(i + 1)};
        t[i] = ts_spawn(call_task, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(PTRI(c[i].result), i + 1);
    }
    assert_int_equal(atomic_load(&stats.seq), N);
    assert_int_equal(atomic_load(&stats.first_three_met), 3);
    assert_int_equal(atomic_load(&stats.max_in_flight), 3);
    ts_executor_free(ex);
    return NULL;
}

static void test_more_jobs_than_threads(void **state) {
    (void)state;
    assert_int_equal(run_main(t_bounded, NULL), 0);
}

/* ---- cancellation ----------------------------------------------------------------*/

/* A job still in the queue is dropped and never runs. */
static void *t_cancel_queued(void *arg) {
    (void)arg;
    ts_executor *ex = ts_executor_new(1);
    gate busy = {0}, queued = {0};
    call a = {.ex = ex, .fn = gated_job, .arg = &busy};
    call b = {.ex = ex, .fn = gated_job, .arg = &queued};
    ts_task *ta = ts_spawn(call_task, &a);
    wait_count(&busy.started, 1); /* the only worker is taken */
    ts_task *tb = ts_spawn(call_task, &b);
    assert_int_equal(ts_sleep(0), 0);
    const void *obj = NULL;
    assert_int_equal(ts_task_awaiting(tb, &obj, NULL), TS_WAIT_EXECUTOR);
    assert_non_null(obj);
    assert_int_equal(ts_task_cancel(tb, NULL), 1);
    assert_int_equal(ts_await(tb, NULL), 0);
    assert_int_equal(b.rc, -ECANCELED);
    atomic_store(&queued.open, 1);
    atomic_store(&busy.open, 1);
    assert_int_equal(ts_await(ta, NULL), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(PTRI(a.result), 7);
    ts_executor_free(ex); /* every job has been taken or dropped by now */
    assert_int_equal(atomic_load(&queued.started), 0);
    assert_int_equal(atomic_load(&busy.finished), 1);
    return NULL;
}

static void test_cancel_queued_job(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_queued, NULL), 0);
}

/* A running job cannot be stopped: its awaiter gets -ECANCELED while the
 * job is still blocked, and the job finishes later, its result dropped. */
static void *t_cancel_running(void *arg) {
    (void)arg;
    ts_executor *ex = ts_executor_new(2);
    gate g = {0};
    call c = {.ex = ex, .fn = gated_job, .arg = &g, .result = IPTR(-1)};
    ts_task *t = ts_spawn(call_task, &c);
    wait_count(&g.started, 1);
    assert_int_equal(ts_task_cancel(t, NULL), 1);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(c.rc, -ECANCELED);
    assert_int_equal(PTRI(c.result), -1);
    assert_int_equal(atomic_load(&g.finished), 0); /* still blocked: prompt */
    atomic_store(&g.open, 1);
    ts_executor_free(ex); /* waits for the abandoned job */
    assert_int_equal(atomic_load(&g.finished), 1);
    return NULL;
}

static void test_cancel_running_job(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_running, NULL), 0);
}

/* The same on the default pool, with the job still running when main
 * returns: the loop's close waits for it. */
static gate close_gate;
static pthread_t opener_thread;

static void *opener(void *arg) {
    (void)arg;
    usleep(20000);
    atomic_store(&close_gate.open, 1);
    return NULL;
}

static void *t_cancel_running_default(void *arg) {
    (void)arg;
    memset(&close_gate, 0, sizeof close_gate);
    call c = {.fn = gated_job, .arg = &close_gate};
    ts_task *t = ts_spawn(call_task, &c);
    wait_count(&close_gate.started, 1);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(c.rc, -ECANCELED);
    /* A plain thread opens the gate after main has gone. */
    assert_int_equal(pthread_create(&opener_thread, NULL, opener, NULL), 0);
    return NULL;
}

static void test_cancel_running_at_close(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_running_default, NULL), 0);
    assert_int_equal(atomic_load(&close_gate.finished), 1);
    pthread_join(opener_thread, NULL);
}

/* Cancelled after the job finished but before its completion ran on the
 * loop: the awaiter still gets -ECANCELED, and nothing leaks. */
static atomic_int quick_done;

static void *quick_job(void *arg) {
    atomic_store(&quick_done, 1);
    return arg;
}

static void *t_cancel_after_finish(void *arg) {
    (void)arg;
    atomic_store(&quick_done, 0);
    call c = {.fn = quick_job, .arg = IPTR(1)};
    ts_task *t = ts_spawn(call_task, &c);
    assert_int_equal(ts_sleep(0), 0); /* t submits and parks */
    /* Hold the loop (deliberately) until the job is over and posted. */
    for (int i = 0; i < 30000 && !atomic_load(&quick_done); i++)
        usleep(1000);
    usleep(10000);
    ts_task_cancel(t, NULL);
    assert_int_equal(ts_await(t, NULL), 0);
    assert_int_equal(c.rc, -ECANCELED);
    return NULL;
}

static void test_cancel_after_finish(void **state) {
    (void)state;
    assert_int_equal(run_main(t_cancel_after_finish, NULL), 0);
}

/* A cancel request pending at submission: -ECANCELED without suspending. */
static void *t_pending_cancel(void *arg) {
    (void)arg;
    ts_task_cancel(ts_current_task(), NULL);
    assert_int_equal(ts_to_thread(square_job, IPTR(2), NULL), -ECANCELED);
    ts_task_uncancel(ts_current_task());
    void *res = NULL;
    assert_int_equal(ts_to_thread(square_job, IPTR(2), &res), 0);
    assert_int_equal(PTRI(res), 4);
    return NULL;
}

static void test_pending_cancel(void **state) {
    (void)state;
    assert_int_equal(run_main(t_pending_cancel, NULL), 0);
}

/* ---- shutdown ---------------------------------------------------------------------*/

/* shutdown(wait) blocks until running and queued jobs are done; later
 * submissions get -ESHUTDOWN; the awaiters still get their results. */
static void *t_shutdown_wait(void *arg) {
    (void)arg;
    enum { N = 6 };
    ts_executor *ex = ts_executor_new(2);
    gate g = {0};
    call c[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call){.ex = ex, .fn = gated_job, .arg = &g};
        t[i] = ts_spawn(call_task, &c[i]);
    }
    wait_count(&g.started, 2);
    atomic_store(&g.open, 1);
    assert_int_equal(ts_executor_shutdown(ex, 1, 0), 0);
    assert_int_equal(atomic_load(&g.finished), N);
    assert_int_equal(ts_run_in_executor(ex, square_job, IPTR(1), NULL), -ESHUTDOWN);
    for (int i = 0; i < N; i++) {
        assert_int_equal(ts_await(t[i], NULL), 0);
        assert_int_equal(c[i].rc, 0);
        assert_int_equal(PTRI(c[i].result), 7);
    }
    assert_int_equal(ts_executor_shutdown(ex, 1, 0), 0); /* again: no-op */
    ts_executor_free(ex);
    return NULL;
}

static void test_shutdown_waits(void **state) {
    (void)state;
    assert_int_equal(run_main(t_shutdown_wait, NULL), 0);
}

/* shutdown(cancel_pending) drops the queue: those awaiters get -ECANCELED
 * and their jobs never run; the running one completes normally. */
static void *t_shutdown_cancel_pending(void *arg) {
    (void)arg;
    ts_executor *ex = ts_executor_new(1);
    gate busy = {0}, queued = {0};
    call a = {.ex = ex, .fn = gated_job, .arg = &busy};
    call b[3];
    ts_task *ta = ts_spawn(call_task, &a), *tb[3];
    wait_count(&busy.started, 1);
    for (int i = 0; i < 3; i++) {
        b[i] = (call){.ex = ex, .fn = gated_job, .arg = &queued};
        tb[i] = ts_spawn(call_task, &b[i]);
    }
    assert_int_equal(ts_sleep(0), 0);
    assert_int_equal(ts_executor_shutdown(ex, 0, 1), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ts_await(tb[i], NULL), 0);
        assert_int_equal(b[i].rc, -ECANCELED);
    }
    assert_int_equal(ts_run_in_executor(ex, square_job, IPTR(1), NULL), -ESHUTDOWN);
    atomic_store(&busy.open, 1);
    assert_int_equal(ts_await(ta, NULL), 0);
    assert_int_equal(a.rc, 0);
    ts_executor_free(ex);
    assert_int_equal(atomic_load(&queued.started), 0);
    return NULL;
}

static void test_shutdown_cancel_pending(void **state) {
    (void)state;
    assert_int_equal(run_main(t_shutdown_cancel_pending, NULL), 0);
}

/* ---- the default pool at loop close, names, bad calls -------------------------------*/

static char worker_name[32];

static void *name_job(void *arg) {
    (void)arg;
    pthread_getname_np(pthread_self(), worker_name, sizeof worker_name);
    return NULL;
}

static void *t_default_pool(void *arg) {
    (void)arg;
    ts_loop *loop = ts_loop_current();
    assert_null(ts__loop_default_executor(loop));
    assert_int_equal(ts_to_thread(name_job, NULL, NULL), 0);
    assert_int_equal(strncmp(worker_name, "ts-worker-", 10), 0);
    ts_executor *ex = ts__loop_default_executor(loop);
    assert_non_null(ex);
    /* run_in_executor(NULL, ...) is the same pool. */
    assert_int_equal(ts_run_in_executor(NULL, square_job, IPTR(4), NULL), 0);
    assert_ptr_equal(ts__loop_default_executor(loop), ex);
    return NULL; /* the pool is left for the loop's close to free */
}

static void test_default_pool_freed_at_close(void **state) {
    (void)state;
    assert_int_equal(run_main(t_default_pool, NULL), 0);
}

static void *t_bad_calls(void *arg) {
    (void)arg;
    assert_int_equal(ts_to_thread(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(ts_executor_shutdown(NULL, 1, 1), -EINVAL);
    ts_executor_free(NULL);
    assert_int_equal(ts_executor_max_threads(NULL), 0);
    return NULL;
}

static void test_bad_calls(void **state) {
    (void)state;
    assert_int_equal(run_main(t_bad_calls, NULL), 0);
    assert_int_equal(ts_to_thread(square_job, NULL, NULL), TS_ENOTASK);
    /* A pool never used starts no thread and frees cleanly. */
    ts_executor *ex = ts_executor_new(4);
    assert_non_null(ex);
    ts_executor_free(ex);
}

/* ---- one pool, several loops ---------------------------------------------------------*/

typedef struct shared {
    ts_executor *ex;
    int rc;
    int sum;
} shared;

static void *t_shared_loop(void *arg) {
    shared *s = arg;
    enum { N = 12 };
    call c[N];
    ts_task *t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (call){.ex = s->ex, .fn = square_job, .arg = IPTR(i)};
        t[i] = ts_spawn(call_task, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        if (ts_await(t[i], NULL) || c[i].rc)
            s->rc = -1;
        s->sum += (int)PTRI(c[i].result);
    }
    return NULL;
}

static void *loop_thread(void *arg) {
    shared *s = arg;
    if (ts_run(t_shared_loop, s))
        s->rc = -1;
    return NULL;
}

static void test_shared_pool(void **state) {
    (void)state;
    ts_executor *ex = ts_executor_new(3);
    shared s[3] = {{.ex = ex}, {.ex = ex}, {.ex = ex}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, loop_thread, &s[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].rc, 0);
        assert_int_equal(s[i].sum, 506); /* sum of i*i for i < 12 */
    }
    ts_executor_free(ex);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_with_loop),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_fifo_one_thread),
        cmocka_unit_test(test_more_jobs_than_threads),
        cmocka_unit_test(test_cancel_queued_job),
        cmocka_unit_test(test_cancel_running_job),
        cmocka_unit_test(test_cancel_running_at_close),
        cmocka_unit_test(test_cancel_after_finish),
        cmocka_unit_test(test_pending_cancel),
        cmocka_unit_test(test_shutdown_waits),
        cmocka_unit_test(test_shutdown_cancel_pending),
        cmocka_unit_test(test_default_pool_freed_at_close),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_shared_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
