/*
 * test_trace_events.c - the event stream of each kind of scenario, read
 * back from this process's own segment: spawn/await, cancel chains,
 * timeouts, gather, lock contention, queues, executor jobs.
 *
 * Each test opens a passive reader, discards what earlier tests left,
 * runs its scenario with ts_run (closing the loop publishes everything),
 * polls once and checks every task's life as a sequence of words, then
 * the cross-task facts (who woke whom, who cancelled whom), and the
 * interned names and sites.  Nothing depends on timing except that a
 * 10 s sleep does not end by itself during a test.
 */
#include "trace_harness.h"

static int line_spawn, line_await, line_sleep;

/* ---- spawn / await -------------------------------------------------------------------- */

static void *sleeper(void *arg) {
    line_sleep = __LINE__; ts_sleep(0.01);
    return arg;
}

static void *sleeper_long(void *arg) {
    return ts_fail(ts_sleep(10), NULL);
    (void)arg;
}

static void *sleeper_ms(void *arg) {
    ts_sleep((double)PTRI(arg) / 1000);
    return arg;
}

static void *spawn_await_main(void *arg) {
    (void)arg;
    line_spawn = __LINE__; ts_task *c = ts_spawn_named("child", sleeper, IPTR(7));
    void *r = NULL;
    line_await = __LINE__; assert_int_equal(ts_await(c, &r), 0);
    assert_int_equal(PTRI(r), 7);
    return NULL;
}

static void test_spawn_await(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(spawn_await_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t main_id = task_named(rd, &log, "main"), child = task_named(rd, &log, "child");
    assert_true(main_id && child);
    assert_seq(&log, child, "create resume suspend:sleep wake resume done:done free");
    assert_seq(&log, main_id, "create resume suspend:task wake resume done:done free");

    long create = find_task_event(&log, TS_EV_task_create, child, 0);
    const ts_ev_task_create *c = EV(&log.v[create], task_create);
    assert_int_equal(c->parent, main_id);
    assert_true(site_is(rd, c->site, "spawn_await_main", (uint32_t)line_spawn));
    /* The parent awaits the child, at the await line; the child's done
     * wakes it (by the child, which is running when it finishes). */
    const ts_ev_task_suspend *s =
        EV(&log.v[find_task_event(&log, TS_EV_task_suspend, main_id, 0)], task_suspend);
    assert_int_equal(s->object, child);
    assert_true(site_is(rd, s->site, "spawn_await_main", (uint32_t)line_await));
    const ts_ev_task_suspend *cs =
        EV(&log.v[find_task_event(&log, TS_EV_task_suspend, child, 0)], task_suspend);
    assert_true(site_is(rd, cs->site, "sleeper", (uint32_t)line_sleep));
    long wake = find_task_event(&log, TS_EV_task_wake, main_id, 0);
    assert_int_equal(EV(&log.v[wake], task_wake)->by_task, child);
    assert_true(wake > find_task_event(&log, TS_EV_task_done, child, 0));
    /* Both on the loop thread's ring, in order, with one loop. */
    assert_int_equal(log.v[create].ev.role, TS_ROLE_LOOP);
    assert_int_equal(log.v[create].ev.tid, log.v[wake].ev.tid);
    for (size_t i = 1; i < log.n; i++)
        assert_true(log.v[i].ev.ns >= log.v[i - 1].ev.ns);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- cancel chain: main cancels A, A's await forwards it to B, B's to C --------- */

static void *level(void *arg) {
    intptr_t n = PTRI(arg);
    if (n == 0)
        return ts_fail(ts_sleep(10), "leaf");
    char name[4] = {'L', (char)('0' + n - 1), 0};
    ts_task *c = ts_spawn_named(name, level, IPTR(n - 1));
    int err = ts_await(c, NULL);
    return err ? ts_fail(err, NULL) : NULL;
}

static void *cancel_chain_main(void *arg) {
    (void)arg;
    ts_task *a = ts_spawn_named("L2", level, IPTR(2));
    ts_sleep(0.02);
    assert_int_equal(ts_task_cancel(a, "stop"), 1);
    assert_int_equal(ts_await(a, NULL), -ECANCELED);
    return NULL;
}

static void test_cancel_chain(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(cancel_chain_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t m = task_named(rd, &log, "main"), a = task_named(rd, &log, "L2"),
             b = task_named(rd, &log, "L1"), c = task_named(rd, &log, "L0");
    assert_true(m && a && b && c);
    assert_seq(&log, c, "create resume suspend:sleep cancel wake:cancel resume done:cancelled free");
    const char *middle = "create resume suspend:task cancel wake:cancel resume suspend:task wake "
                         "resume done:cancelled free";
    assert_seq(&log, b, middle);
    assert_seq(&log, a, middle);
    /* who cancelled whom, in that order, each with the message */
    uint64_t by[3][2] = {{a, m}, {b, a}, {c, b}};
    long prev = -1;
    for (int i = 0; i < 3; i++) {
        long k = find_task_event(&log, TS_EV_task_cancel, by[i][0], 0);
        assert_true(k > prev);
        const ts_ev_task_cancel *e = EV(&log.v[k], task_cancel);
        assert_int_equal(e->by_task, by[i][1]);
        assert_int_equal(e->requests, 1);
        assert_string_equal(ts_reader_string(rd, e->message), "stop");
        prev = k;
    }
    /* unwinding goes the other way: C ends first, each end wakes its awaiter */
    long dc = find_task_event(&log, TS_EV_task_done, c, 0);
    long db = find_task_event(&log, TS_EV_task_done, b, 0);
    long da = find_task_event(&log, TS_EV_task_done, a, 0);
    assert_true(prev < dc && dc < db && db < da);
    assert_int_equal(EV(&log.v[dc], task_done)->err, -ECANCELED);
    assert_string_equal(ts_reader_string(rd, EV(&log.v[dc], task_done)->message), "leaf");
    assert_int_equal(EV(&log.v[find_task_event(&log, TS_EV_task_wake, b, (size_t)dc)], task_wake)
                         ->by_task, c);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- timeouts: wait_for and a timeout scope --------------------------------------- */

static void *timeout_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("slow", sleeper_long, NULL);
    assert_int_equal(ts_wait_for(t, 0.02, NULL), -ETIMEDOUT);
    ts_timeout *to = ts_timeout_enter(0.02);
    int err = ts_sleep(10);
    assert_int_equal(ts_timeout_exit(to, err), -ETIMEDOUT);
    return NULL;
}

static void test_timeouts(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(timeout_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t m = task_named(rd, &log, "main"), t = task_named(rd, &log, "slow");
    assert_true(m && t);
    /* wait_for's timer wakes main, which cancels the task and waits for it */
    assert_seq(&log, t, "create resume suspend:sleep cancel wake:cancel resume done:cancelled free");
    long k = find_task_event(&log, TS_EV_task_cancel, t, 0);
    assert_int_equal(EV(&log.v[k], task_cancel)->by_task, m);
    long w = find_task_event(&log, TS_EV_task_wake, m, 0); /* the timer, from the loop */
    assert_true(w < k);
    assert_int_equal(EV(&log.v[w], task_wake)->by_task, 0);
    /* the scope's timer cancels main's sleep (from the loop: by no task);
     * main itself ends well */
    assert_seq(&log, m, "create resume suspend:task wake resume suspend:task wake resume "
                        "suspend:sleep cancel wake:cancel resume done:done free");
    long mc = find_task_event(&log, TS_EV_task_cancel, m, 0);
    assert_int_equal(EV(&log.v[mc], task_cancel)->by_task, 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- gather ----------------------------------------------------------------------------- */

static void *gather_main(void *arg) {
    (void)arg;
    ts_task *t[3];
    char name[3][4] = {"g0", "g1", "g2"};
    for (int i = 0; i < 3; i++)
        t[i] = ts_spawn_named(name[i], sleeper_ms, IPTR(10 * (3 - i)));
    void *res[3];
    assert_int_equal(ts_gather(t, 3, res, NULL), 0);
    return NULL;
}

static void test_gather(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(gather_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t m = task_named(rd, &log, "main"), g[3];
    for (int i = 0; i < 3; i++) {
        char name[4] = {'g', (char)('0' + i), 0};
        g[i] = task_named(rd, &log, name);
        assert_true(g[i]);
        assert_seq(&log, g[i], "create resume suspend:sleep wake resume done:done free");
        assert_int_equal(EV(&log.v[find_task_event(&log, TS_EV_task_create, g[i], 0)], task_create)
                             ->parent, m);
    }
    /* g2 sleeps least and g0 most: they end in that order, and the last
     * to end (g0) is the one that wakes main for good */
    long d0 = find_task_event(&log, TS_EV_task_done, g[0], 0);
    long d1 = find_task_event(&log, TS_EV_task_done, g[1], 0);
    long d2 = find_task_event(&log, TS_EV_task_done, g[2], 0);
    assert_true(d2 < d1 && d1 < d0);
    long last_wake = -1;
    for (long k = 0; (k = find_task_event(&log, TS_EV_task_wake, m, (size_t)k)) >= 0; k++)
        last_wake = k;
    assert_true(last_wake > d0);
    assert_int_equal(EV(&log.v[last_wake], task_wake)->by_task, g[0]);
    long s = find_task_event(&log, TS_EV_task_suspend, m, 0);
    assert_int_equal(EV(&log.v[s], task_suspend)->kind, TS_WAIT_TASK);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- lock contention ---------------------------------------------------------------- */

static ts_lock *the_lock;
static int line_lock;

static void *lock_holder(void *arg) {
    assert_int_equal(ts_lock_acquire(the_lock), 0);
    ts_sleep(0.02);
    assert_int_equal(ts_lock_release(the_lock), 0);
    return arg;
}

static void *lock_waiter(void *arg) {
    line_lock = __LINE__; assert_int_equal(ts_lock_acquire(the_lock), 0);
    assert_int_equal(ts_lock_release(the_lock), 0);
    return arg;
}

static void *lock_main(void *arg) {
    (void)arg;
    the_lock = ts_lock_new();
    ts_task *h = ts_spawn_named("holder", lock_holder, NULL);
    ts_task *w = ts_spawn_named("waiter", lock_waiter, NULL);
    assert_int_equal(ts_await(h, NULL), 0);
    assert_int_equal(ts_await(w, NULL), 0);
    ts_lock_free(the_lock);
    return NULL;
}

/* The index of the first resource event of `type` on res by task (task
 * is the second u64 of resource_acquired/release). */
static long find_res_event(const evlog *l, unsigned type, uint64_t res, uint64_t task) {
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].ev.type != type)
            continue;
        const ts_ev_resource_acquired *e = EV(&l->v[i], resource_acquired);
        if (e->resource == res && e->task == task)
            return (long)i;
    }
    return -1;
}

static void test_lock_contention(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(lock_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t h = task_named(rd, &log, "holder"), w = task_named(rd, &log, "waiter");
    assert_true(h && w);
    assert_seq(&log, h, "create resume suspend:sleep wake resume done:done free");
    assert_seq(&log, w, "create resume suspend:lock wake resume done:done free");
    long create = -1;
    for (size_t i = 0; i < log.n && create < 0; i++)
        if (log.v[i].ev.type == TS_EV_resource_create &&
            EV(&log.v[i], resource_create)->kind == 1)
            create = (long)i;
    assert_true(create >= 0);
    uint64_t lock = EV(&log.v[create], resource_create)->resource;
    long susp = find_task_event(&log, TS_EV_task_suspend, w, 0);
    assert_int_equal(EV(&log.v[susp], task_suspend)->object, lock);
    assert_true(site_is(rd, EV(&log.v[susp], task_suspend)->site, "lock_waiter",
                        (uint32_t)line_lock));
    /* held, contended, released, handed over, woken by the releaser, freed */
    long got_h = find_res_event(&log, TS_EV_resource_acquired, lock, h);
    long rel_h = find_res_event(&log, TS_EV_resource_release, lock, h);
    long got_w = find_res_event(&log, TS_EV_resource_acquired, lock, w);
    long wake_w = find_task_event(&log, TS_EV_task_wake, w, 0);
    long rel_w = find_res_event(&log, TS_EV_resource_release, lock, w);
    assert_true(create < got_h && got_h < susp && susp < rel_h && rel_h < got_w);
    assert_true(got_w < rel_w && wake_w < rel_w);
    assert_int_equal(EV(&log.v[wake_w], task_wake)->by_task, h);
    assert_true(find_task_event(&log, TS_EV_resource_free, lock, 0) > rel_w);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- queue: a consumer waiting on get, a producer blocked on a full queue --------- */

static ts_queue *the_queue;

static void *consumer(void *arg) {
    for (int i = 1; i <= 3; i++) {
        void *item;
        assert_int_equal(ts_queue_get(the_queue, &item), 0);
        assert_int_equal(PTRI(item), i);
    }
    return arg;
}

static void *producer(void *arg) {
    for (int i = 1; i <= 3; i++)
        assert_int_equal(ts_queue_put(the_queue, IPTR(i)), 0);
    return arg;
}

static void *queue_main(void *arg) {
    (void)arg;
    the_queue = ts_queue_new(1);
    ts_task *c = ts_spawn_named("consumer", consumer, NULL);
    ts_sleep(0.01); /* the consumer waits on the empty queue first */
    ts_task *p = ts_spawn_named("producer", producer, NULL);
    assert_int_equal(ts_await(p, NULL), 0);
    assert_int_equal(ts_await(c, NULL), 0);
    ts_queue_free(the_queue);
    return NULL;
}

static void test_queue(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(queue_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t c = task_named(rd, &log, "consumer"), p = task_named(rd, &log, "producer");
    assert_true(c && p);
    long create = -1;
    for (size_t i = 0; i < log.n && create < 0; i++)
        if (log.v[i].ev.type == TS_EV_resource_create &&
            EV(&log.v[i], resource_create)->kind == 6)
            create = (long)i;
    assert_true(create >= 0);
    const ts_ev_resource_create *rc = EV(&log.v[create], resource_create);
    assert_int_equal(rc->capacity, 1);
    uint64_t q = rc->resource;
    /* the consumer first waits on get; the first put hands the item over */
    long cs = find_task_event(&log, TS_EV_task_suspend, c, 0);
    assert_int_equal(EV(&log.v[cs], task_suspend)->kind, TS_WAIT_QUEUE_GET);
    assert_int_equal(EV(&log.v[cs], task_suspend)->object, q);
    long put1 = find_res_event(&log, TS_EV_resource_release, q, p);
    long got1 = find_res_event(&log, TS_EV_resource_acquired, q, c);
    assert_true(cs < put1 && put1 < got1);
    long cw = find_task_event(&log, TS_EV_task_wake, c, 0);
    assert_int_equal(EV(&log.v[cw], task_wake)->by_task, p);
    /* the third put finds the queue full: the producer waits on put */
    long ps = find_task_event(&log, TS_EV_task_suspend, p, 0);
    assert_true(ps > got1);
    assert_int_equal(EV(&log.v[ps], task_suspend)->kind, TS_WAIT_QUEUE_PUT);
    assert_int_equal(EV(&log.v[ps], task_suspend)->object, q);
    size_t full = 0;
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_queue_depth && EV(&log.v[i], queue_depth)->resource == q)
            full += EV(&log.v[i], queue_depth)->depth == 1;
    assert_true(full >= 1);
    assert_true(find_task_event(&log, TS_EV_resource_free, q, 0) > 0);
    evlog_free(&log);
    ts_reader_close(rd);
}

/* ---- executor job ---------------------------------------------------------------------- */

static void *square(void *arg) { return IPTR(PTRI(arg) * PTRI(arg)); }

static void *executor_main(void *arg) {
    (void)arg;
    void *r = NULL;
    assert_int_equal(ts_to_thread(square, IPTR(5), &r), 0);
    assert_int_equal(PTRI(r), 25);
    return NULL;
}

static void test_executor_job(void **state) {
    (void)state;
    ts_reader *rd = open_self();
    poll_discard(rd);
    assert_int_equal(ts_run(executor_main, NULL), 0);
    evlog log = {0};
    poll_into(rd, &log);
    maybe_dump(rd, &log);
    uint64_t m = task_named(rd, &log, "main");
    assert_true(m);
    /* the task waits on the job, the loop wakes it when the job's result
     * is posted back */
    assert_seq(&log, m, "create resume suspend:executor wake resume done:done free");
    long s = find_task_event(&log, TS_EV_task_suspend, m, 0);
    uint64_t job = EV(&log.v[s], task_suspend)->object;
    assert_true(job != 0);
    assert_int_equal(EV(&log.v[find_task_event(&log, TS_EV_task_wake, m, 0)], task_wake)->by_task,
                     0);
    long sub = find_task_event(&log, TS_EV_job_submit, job, 0);
    assert_true(sub >= 0);
    long start = find_task_event(&log, TS_EV_job_start, job, 0);
    long done = find_task_event(&log, TS_EV_job_done, job, 0);
    assert_int_equal(EV(&log.v[sub], job_submit)->task, m);
    assert_true(sub < start && start < done);
    assert_int_equal(log.v[start].ev.role, TS_ROLE_WORKER);
    assert_int_equal(log.v[start].ev.tid, EV(&log.v[start], job_start)->tid);
    assert_int_not_equal(log.v[start].ev.tid, log.v[s].ev.tid);
    evlog_free(&log);
    ts_reader_close(rd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spawn_await),
        cmocka_unit_test(test_cancel_chain),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_gather),
        cmocka_unit_test(test_lock_contention),
        cmocka_unit_test(test_queue),
        cmocka_unit_test(test_executor_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
