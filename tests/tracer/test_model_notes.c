/*
 * test_model_notes.c - the model's per-task notes (tracer/model_notes.c)
 * fed records directly: fields set, replaced and removed; hostile
 * lengths ignored; stacks kept per task; the table swept as it grows
 * (finished tasks lose their stacks, keep their fields); log lines kept
 * in order, the live model keeping the latest 10,000.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model.h"

static uint64_t now = 1000;

static void apply(tm_model *m, void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    tm_model_apply(m, h, now++, 1);
}

static void create(tm_model *m, uint64_t id) {
    ts_ev_task_create e = {.task = id, .loop = 1};
    apply(m, &e, TS_EV_task_create, sizeof e);
}

static void done(tm_model *m, uint64_t id) {
    ts_ev_task_done e = {.task = id, .state = 3};
    apply(m, &e, TS_EV_task_done, sizeof e);
}

static void field(tm_model *m, uint64_t id, const char *k, const char *v, uint32_t key_len) {
    union {
        ts_ev_task_field e;
        char buf[512];
    } u = {0};
    size_t kl = strlen(k), vl = strlen(v);
    u.e.task = id;
    u.e.key_len = key_len;
    u.e.len = (uint32_t)(kl + vl);
    memcpy(u.buf + sizeof u.e, k, kl);
    memcpy(u.buf + sizeof u.e + kl, v, vl);
    apply(m, &u, TS_EV_task_field, sizeof u.e + kl + vl);
}

static void stack(tm_model *m, uint64_t id, uint32_t depth) {
    union {
        ts_ev_task_stack e;
        uint64_t buf[64];
    } u = {0};
    u.e.task = id;
    u.e.depth = depth;
    for (uint32_t k = 0; k < depth; k++)
        ((uint64_t *)(&u.e + 1))[k] = 0x1000 + k;
    apply(m, &u, TS_EV_task_stack, sizeof u.e + depth * 8);
}

static const char *value_of(const tm_model *m, uint64_t id, const char *key) {
    const tm_field *f;
    size_t n = tm_model_task_fields(m, id, &f);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].key, key))
            return f[i].value;
    return NULL;
}

static void test_fields(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    create(m, 5);
    field(m, 5, "user", "alice", 4);
    field(m, 5, "step", "1", 4);
    field(m, 5, "step", "2", 4);
    field(m, 5, "gone", "x", 4);
    field(m, 5, "gone", "", 4);   /* removal */
    field(m, 5, "bad", "y", 40);  /* key_len beyond the text: ignored */
    field(m, 5, "bad", "y", 0);   /* no key: ignored */
    assert_string_equal(value_of(m, 5, "user"), "alice");
    assert_string_equal(value_of(m, 5, "step"), "2");
    assert_null(value_of(m, 5, "gone"));
    const tm_field *f;
    assert_int_equal(tm_model_task_fields(m, 5, &f), 2);
    assert_int_equal(tm_model_task_fields(m, 6, &f), 0);
    tm_model_free(m);
}

static void test_stacks_and_sweep(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    tm_task_stack st;
    for (uint64_t id = 1; id <= 3000; id++) {
        create(m, id);
        stack(m, id, 5);
        field(m, id, "n", "v", 1);
        if (id <= 2000)
            done(m, id);
    }
    assert_int_equal(tm_model_task_stack(m, 2500, &st), 0);
    assert_int_equal(st.depth, 5);
    assert_int_equal(st.pcs[4], 0x1004);
    /* the sweeps (at 1024 and 2048 entries) dropped finished tasks' stacks
     * seen by then, and kept every field */
    assert_int_equal(tm_model_task_stack(m, 10, &st), -ENOENT);
    for (uint64_t id = 1; id <= 3000; id++)
        assert_string_equal(value_of(m, id, "n"), "v");
    assert_int_equal(tm_model_task_stack(m, 99999, &st), -ENOENT);
    tm_model_free(m);
}

static void test_logs(void **state) {
    (void)state;
    tm_model *m = tm_model_new();
    for (int i = 0; i < 10005; i++) {
        union {
            ts_ev_log e;
            char buf[64];
        } u = {0};
        int n = snprintf(u.buf + sizeof u.e, sizeof u.buf - sizeof u.e, "line %d", i);
        u.e.task = (uint64_t)i % 3;
        u.e.len = (uint32_t)n;
        apply(m, &u, TS_EV_log, sizeof u.e + (size_t)n);
    }
    assert_int_equal(tm_model_log_count(m), 10000);
    assert_string_equal(tm_model_log_at(m, 0)->text, "line 5");
    assert_string_equal(tm_model_log_at(m, 9999)->text, "line 10004");
    tm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_stacks_and_sweep),
        cmocka_unit_test(test_logs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
