/*
 * test_trace_mutate.c - random bytes written into a live segment's ring
 * data while a real reader reads it (issue 13, point 4).  The reader's
 * side of it; the writer's (that the program is unharmed) is the shm
 * tests' business, though a workload finishing its count here says so
 * too.
 *
 * A loop thread spawns and awaits tasks for two seconds on 64 KiB rings;
 * a mutator thread writes random words over the ring data (half of them
 * just behind each ring's head, where the reader has yet to read); this
 * thread is the attached reader, polling every few milliseconds.  The
 * reader must never deliver a task the program did not create (every
 * task event names an id the workload handed out), must report the
 * corruption (counted, and a sentence naming ring and position), and
 * must keep delivering the undamaged events.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "trace_harness.h"
#include "taskscope/debug.h"
#include "trace_format.h"

/* The debug runtime's segment (runtime/src/trace/ring.h): this test
 * links the runtime statically and writes into its own segment. */
ts_seg_header *ts__seg(void);

static _Atomic uint64_t max_id;     /* the highest task id handed out */
static _Atomic int stop_mutating;
static _Atomic long spawned;

static void *noop(void *arg) { return arg; }

static void *workload(void *arg) {
    double end = ts_now() + *(double *)arg;
    while (ts_now() < end) {
        ts_task *t[16];
        for (int i = 0; i < 16; i++) {
            t[i] = ts_spawn_named("victim", noop, NULL);
            uint64_t id = ts_task_id(t[i]);
            if (id > atomic_load(&max_id))
                atomic_store(&max_id, id);
        }
        for (int i = 0; i < 16; i++)
            ts_await(t[i], NULL);
        atomic_fetch_add(&spawned, 16);
    }
    return NULL;
}

static void *loop_thread(void *arg) {
    ts_run(workload, arg);
    return NULL;
}

static uint64_t rnd(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *mutator(void *arg) {
    (void)arg;
    uint64_t x = 0x853c49e6748fea9bull;
    ts_seg_header *h = ts__seg();
    ts_ring_header *rh = (ts_ring_header *)(void *)((char *)h + h->rings_offset);
    unsigned char *data = (unsigned char *)h + h->data_offset;
    uint32_t rs = h->ring_size;
    while (!atomic_load(&stop_mutating)) {
        for (uint32_t i = 0; i < h->max_rings; i++) {
            uint64_t head = __atomic_load_n(&rh[i].head, __ATOMIC_ACQUIRE);
            if (!head)
                continue;
            uint64_t off = rnd(&x) & 1 ? head - 8 - (rnd(&x) % 2048) : rnd(&x);
            off &= (uint64_t)rs - 8;
            uint64_t v = rnd(&x);
            __atomic_store_n((uint64_t *)(void *)(data + (uint64_t)i * rs + off), v,
                             __ATOMIC_RELAXED);
        }
        struct timespec d = {0, 200000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

struct check {
    uint64_t phantoms, tasks, first_phantom;
};

static void on_event(const ts_reader_event *ev, void *arg) {
    struct check *c = arg;
    if (ev->type < TS_EV_task_create || ev->type > TS_EV_task_state)
        return;
    uint64_t id;
    memcpy(&id, (const unsigned char *)ev->rec + sizeof(ts_ev_header), 8);
    /* ids come in blocks of 256 per loop: a block's ids are all real */
    uint64_t max = atomic_load(&max_id) + 256;
    c->tasks++;
    if (id == 0 || id > max) {
        if (!c->phantoms++)
            c->first_phantom = id;
    }
}

static void test_mutated_live(void **state) {
    (void)state;
    assert_int_equal(ts_debug_set_ring_size(64 * 1024), 0);
    ts_reader *rd = open_self();
    assert_int_equal(ts_reader_attach(rd), 0);
    double seconds = 2.0;
    pthread_t lt, mt;
    assert_int_equal(pthread_create(&lt, NULL, loop_thread, &seconds), 0);
    assert_int_equal(pthread_create(&mt, NULL, mutator, NULL), 0);
    struct check c = {0};
    char msg[256] = "";
    int reports = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        assert_true(ts_reader_poll(rd, on_event, &c) >= 0);
        if (ts_reader_corruption(rd, msg, sizeof msg) > 0)
            reports++;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 3)
            break;
        struct timespec d = {0, 3000000};
        nanosleep(&d, NULL);
    }
    atomic_store(&stop_mutating, 1);
    pthread_join(mt, NULL);
    pthread_join(lt, NULL);
    ts_reader_poll(rd, on_event, &c);
    ts_reader_corruption(rd, msg, sizeof msg);
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    fprintf(stderr, "  spawned %ld, task events %llu, corrupt regions %llu (%llu bytes), "
                    "lost %llu bytes, phantoms %llu\n  last report: %s\n",
            atomic_load(&spawned), (unsigned long long)c.tasks,
            (unsigned long long)st.corrupt, (unsigned long long)st.corrupt_bytes,
            (unsigned long long)st.lost_bytes, (unsigned long long)c.phantoms, msg);
    if (c.phantoms)
        fail_msg("%llu task events name tasks never created (first: %llu)",
                 (unsigned long long)c.phantoms, (unsigned long long)c.first_phantom);
    assert_true(atomic_load(&spawned) > 0);
    assert_true(c.tasks > 0);          /* undamaged data still flows */
    assert_true(st.corrupt > 0);       /* the damage was seen ... */
    assert_true(reports > 0);          /* ... and said, with where */
    assert_non_null(strstr(msg, "ring "));
    ts_reader_close(rd);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mutated_live)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
