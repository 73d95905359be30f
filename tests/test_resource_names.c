/*
 * test_resource_names.c - names of resources and futures (issue 15):
 * ts_*_new_named, ts_*_set_name, ts_*_get_name for every kind, on both
 * runtimes (built twice).  A name is a copy, cut at 127 bytes, cleared by
 * NULL; naming a freed object is TS_EFREED (and reported), from another
 * thread TS_EWRONGLOOP; a name never changes how the object behaves.
 */
#include <pthread.h>
#include <string.h>

#include "harness.h"

static void *t_named_constructors(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new_named("cache");
    ts_event *e = ts_event_new_named("ready");
    ts_condition *c = ts_condition_new_named(NULL, "changed");
    ts_semaphore *s = ts_semaphore_new_named(2, "slots");
    ts_semaphore *bs = ts_bounded_semaphore_new_named(1, "one");
    ts_barrier *b = ts_barrier_new_named(2, "round");
    ts_queue *q = ts_queue_new_named(4, "jobs");
    ts_future *f = ts_future_new_named("reply");
    assert_string_equal(ts_lock_get_name(l), "cache");
    assert_string_equal(ts_event_get_name(e), "ready");
    assert_string_equal(ts_condition_get_name(c), "changed");
    assert_string_equal(ts_semaphore_get_name(s), "slots");
    assert_string_equal(ts_semaphore_get_name(bs), "one");
    assert_string_equal(ts_barrier_get_name(b), "round");
    assert_string_equal(ts_queue_get_name(q), "jobs");
    assert_string_equal(ts_future_get_name(f), "reply");
    /* named objects behave as any other */
    assert_int_equal(ts_lock_acquire(l), 0);
    assert_int_equal(ts_lock_release(l), 0);
    assert_int_equal(ts_semaphore_value(s), 2);
    assert_int_equal(ts_queue_put(q, "x"), 0);
    assert_int_equal(ts_future_set_result(f, "v"), 0);
    ts_lock_free(l);
    ts_event_free(e);
    ts_condition_free(c);
    ts_semaphore_free(s);
    ts_semaphore_free(bs);
    ts_barrier_free(b);
    ts_queue_free(q);
    ts_future_free(f);
    return NULL;
}

static void test_named_constructors(void **state) {
    (void)state;
    assert_int_equal(run_main(t_named_constructors, NULL), 0);
}

static void *t_set_name(void *arg) {
    (void)arg;
    ts_lock *l = ts_lock_new();
    assert_null(ts_lock_get_name(l));
    char buf[16];
    strcpy(buf, "first");
    assert_int_equal(ts_lock_set_name(l, buf), 0);
    strcpy(buf, "changed");      /* the lock kept a copy */
    assert_string_equal(ts_lock_get_name(l), "first");
    assert_int_equal(ts_lock_set_name(l, "second"), 0);
    assert_string_equal(ts_lock_get_name(l), "second");
    assert_int_equal(ts_lock_set_name(l, NULL), 0);
    assert_null(ts_lock_get_name(l));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(ts_lock_set_name(l, longname), 0);
    assert_int_equal(strlen(ts_lock_get_name(l)), 127);
    assert_int_equal(ts_lock_set_name(NULL, "x"), -EINVAL);
    assert_null(ts_lock_get_name(NULL));
    ts_lock_free(l);
    /* every kind has set_name */
    ts_event *e = ts_event_new();
    ts_queue *q = ts_lifo_queue_new(0);
    ts_future *f = ts_future_new();
    ts_barrier *b = ts_barrier_new(1);
    ts_semaphore *s = ts_semaphore_new(0);
    ts_condition *c = ts_condition_new(NULL);
    assert_int_equal(ts_event_set_name(e, "e"), 0);
    assert_int_equal(ts_queue_set_name(q, "q"), 0);
    assert_int_equal(ts_future_set_name(f, "f"), 0);
    assert_int_equal(ts_barrier_set_name(b, "b"), 0);
    assert_int_equal(ts_semaphore_set_name(s, "s"), 0);
    assert_int_equal(ts_condition_set_name(c, "c"), 0);
    assert_string_equal(ts_queue_get_name(q), "q");
    ts_event_free(e);
    ts_queue_free(q);
    ts_future_free(f);
    ts_barrier_free(b);
    ts_semaphore_free(s);
    ts_condition_free(c);
    return NULL;
}

static void test_set_name(void **state) {
    (void)state;
    assert_int_equal(run_main(t_set_name, NULL), 0);
}

/* Another thread may not name a loop's object. */
static void *name_from_thread(void *arg) {
    return (void *)(intptr_t)ts_lock_set_name(arg, "x");
}

static void *t_wrong_thread(void *arg) {
    (void)arg;
    diag_reset();
    ts_lock *l = ts_lock_new_named("mine");
    pthread_t th;
    void *rc;
    assert_int_equal(pthread_create(&th, NULL, name_from_thread, l), 0);
    assert_int_equal(pthread_join(th, &rc), 0);
    assert_int_equal((int)(intptr_t)rc, TS_EWRONGLOOP);
    assert_string_equal(ts_lock_get_name(l), "mine");
    ts_lock_free(l);
    return NULL;
}

static void test_wrong_thread(void **state) {
    (void)state;
    assert_int_equal(run_main(t_wrong_thread, NULL), 0);
}

/* Outside any loop: nothing can be made, named or not. */
static void test_no_loop(void **state) {
    (void)state;
    errno = 0;
    assert_null(ts_lock_new_named("x"));
    assert_int_equal(errno, ESRCH);
    assert_null(ts_queue_new_named(0, "x"));
    assert_null(ts_future_new_named("x"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_named_constructors),
        cmocka_unit_test(test_set_name),
        cmocka_unit_test(test_wrong_thread),
        cmocka_unit_test(test_no_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
