/*
 * test_tui_rows.c - the TUI's data side, without a terminal: the Tasks
 * view's rows (filter, sort, the partial sort behind virtual scrolling,
 * tree order and its drawing bits, dimmed ancestors, parent cycles) and
 * the per-task ring of recent events.
 *
 * Models are fed hand-made records through tm_model_apply, as the tracer
 * would feed them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "recent.h"
#include "rows.h"

static uint64_t clock_ns = 1000000000ull;

static void apply(tm_model *m, void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    clock_ns += 1000;
    tm_model_apply(m, h, clock_ns, 1);
}

#define EVENT(m, T, ...)                                                     \
    do {                                                                     \
        ts_ev_##T e_ = {.h = {0}, __VA_ARGS__};                              \
        apply((m), &e_, TS_EV_##T, sizeof e_);                               \
    } while (0)

static void string(tm_model *m, uint32_t id, const char *text) {
    _Alignas(8) char buf[sizeof(ts_ev_string) + 64] = {0};
    ts_ev_string *e = (ts_ev_string *)buf;
    e->id = id;
    e->len = (uint32_t)strlen(text);
    memcpy(buf + sizeof *e, text, e->len);
    apply(m, e, TS_EV_string, sizeof *e + e->len);
}

/* A task named name (string id 100 + id), suspended in a sleep after one
 * step of busy_ns. */
static void task(tm_model *m, uint64_t id, uint64_t parent, const char *name, uint64_t busy_ns) {
    string(m, (uint32_t)(100 + id), name);
    EVENT(m, task_create, .task = id, .parent = parent, .loop = 1, .name = (uint32_t)(100 + id),
          .site = 1);
    EVENT(m, task_resume, .task = id);
    clock_ns += busy_ns;
    EVENT(m, task_suspend, .task = id, .object = 0, .kind = 3, .site = 1);
}

/*   1 main
 *   ├─ 2 alpha
 *   │  └─ 4 gamma
 *   └─ 3 beta
 *      └─ 5 delta (done) */
static tm_model *family(void) {
    tm_model *m = tm_model_new();
    string(m, 1, "svc.c");
    string(m, 2, "handler");
    EVENT(m, site, .id = 1, .file = 1, .func = 2, .line = 10);
    task(m, 1, 0, "main", 5000);
    task(m, 2, 1, "alpha", 1000);
    task(m, 3, 1, "beta", 3000);
    task(m, 4, 2, "gamma", 2000);
    task(m, 5, 3, "delta", 4000);
    EVENT(m, task_resume, .task = 5);
    EVENT(m, task_done, .task = 5, .state = 3);
    return m;
}

static size_t ids(tui_rows *r, uint64_t *out, size_t cap) {
    tui_row rows[64];
    size_t n = tui_rows_window(r, 0, cap < 64 ? cap : 64, rows);
    for (size_t i = 0; i < n; i++)
        out[i] = rows[i].id;
    return n;
}

static void expect(tui_rows *r, const tm_model *m, size_t n, ...) {
    assert_int_equal(tui_rows_build(r, m), 0);
    assert_int_equal(r->count, n);
    uint64_t got[64];
    assert_int_equal(ids(r, got, 64), n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], va_arg(ap, int));
    va_end(ap);
}

static void test_flat_sort_and_finished(void **state) {
    (void)state;
    tm_model *m = family();
    tui_rows r;
    tui_rows_init(&r);
    expect(&r, m, 4, 1, 2, 3, 4);            /* live only, by id */
    assert_int_equal(r.total, 5);
    assert_int_equal(r.live, 4);
    r.show_finished = 1;
    expect(&r, m, 5, 1, 2, 3, 4, 5);
    r.sort = COL_NAME;
    expect(&r, m, 5, 2, 3, 5, 4, 1);         /* alpha beta delta gamma main */
    r.reverse = 1;
    expect(&r, m, 5, 1, 4, 5, 3, 2);
    r.reverse = 0;
    r.sort = COL_BUSY;                       /* largest first */
    expect(&r, m, 5, 1, 5, 3, 4, 2);
    r.sort = COL_STATE;                      /* suspended before done */
    expect(&r, m, 5, 1, 2, 3, 4, 5);
    tui_rows_free(&r);
    tm_model_free(m);
}

static void test_filter(void **state) {
    (void)state;
    tm_model *m = family();
    tui_rows r;
    tui_rows_init(&r);
    r.show_finished = 1;
    strcpy(r.filter, "MM");                  /* case-insensitive, names */
    expect(&r, m, 1, 4);
    strcpy(r.filter, "#3");                  /* one task by id */
    expect(&r, m, 1, 3);
    strcpy(r.filter, "done");                /* states */
    expect(&r, m, 1, 5);
    strcpy(r.filter, "svc.c:10");            /* spawn (and await) sites */
    expect(&r, m, 5, 1, 2, 3, 4, 5);
    strcpy(r.filter, "sleep");               /* what a suspended task awaits */
    expect(&r, m, 4, 1, 2, 3, 4);
    strcpy(r.filter, "nothing like it");
    expect(&r, m, 0);
    tui_rows_free(&r);
    tm_model_free(m);
}

static void test_tree(void **state) {
    (void)state;
    tm_model *m = family();
    tui_rows r;
    tui_rows_init(&r);
    r.tree = 1;
    r.show_finished = 1;
    assert_int_equal(tui_rows_build(&r, m), 0);
    tui_row rows[8];
    assert_int_equal(tui_rows_window(&r, 0, 8, rows), 5);
    uint64_t want_id[] = {1, 2, 4, 3, 5};
    uint16_t want_depth[] = {0, 1, 2, 1, 2};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(rows[i].id, want_id[i]);
        assert_int_equal(rows[i].depth, want_depth[i]);
        assert_int_equal(rows[i].context, 0);
    }
    /* alpha is not main's last child, beta is; gamma and delta are last */
    assert_false(rows[1].last_mask >> 1 & 1);
    assert_true(rows[2].last_mask >> 2 & 1);
    assert_false(rows[2].last_mask >> 1 & 1);   /* under alpha: draw "│" */
    assert_true(rows[3].last_mask >> 1 & 1);
    assert_true(rows[4].last_mask >> 1 & 1);    /* under beta: blank */
    assert_true(rows[4].last_mask >> 2 & 1);

    /* siblings follow the sort: by name reversed, beta comes first */
    r.sort = COL_NAME;
    r.reverse = 1;
    assert_int_equal(tui_rows_build(&r, m), 0);
    assert_int_equal(tui_rows_window(&r, 0, 8, rows), 5);
    assert_int_equal(rows[1].id, 3);
    assert_int_equal(rows[2].id, 5);

    /* a filter keeps the matches' ancestors, marked as context */
    r.reverse = 0;
    strcpy(r.filter, "gamma");
    assert_int_equal(tui_rows_build(&r, m), 0);
    assert_int_equal(tui_rows_window(&r, 0, 8, rows), 3);
    assert_int_equal(rows[0].id, 1);
    assert_int_equal(rows[0].context, 1);
    assert_int_equal(rows[1].id, 2);
    assert_int_equal(rows[1].context, 1);
    assert_int_equal(rows[2].id, 4);
    assert_int_equal(rows[2].context, 0);
    assert_int_equal(rows[2].depth, 2);

    /* hiding finished tasks hides delta, not its parent */
    r.filter[0] = 0;
    r.show_finished = 0;
    assert_int_equal(tui_rows_build(&r, m), 0);
    assert_int_equal(r.count, 4);
    tui_rows_free(&r);
    tm_model_free(m);
}

static void test_parent_cycle(void **state) {
    (void)state;
    /* hostile data: 10 and 11 name each other as parent; both still show */
    tm_model *m = tm_model_new();
    task(m, 10, 11, "ping", 100);
    task(m, 11, 10, "pong", 100);
    task(m, 12, 12, "self", 100);
    tui_rows r;
    tui_rows_init(&r);
    r.tree = 1;
    assert_int_equal(tui_rows_build(&r, m), 0);
    assert_int_equal(r.count, 3);
    tui_rows_free(&r);
    tm_model_free(m);
}

static int cmp_busy(const void *x, const void *y) {
    const tm_task *a = *(tm_task *const *)x, *b = *(tm_task *const *)y;
    if (a->busy_ns != b->busy_ns)
        return a->busy_ns > b->busy_ns ? -1 : 1;
    return a->id < b->id ? -1 : 1;
}

/* Virtual scrolling: any window of the partial sort equals the same rows
 * of a full sort, wherever it is and however often it moves. */
static void test_window_equals_full_sort(void **state) {
    (void)state;
    enum { N = 3000 };
    tm_model *m = tm_model_new();
    uint64_t seed = 12345;
    for (uint64_t id = 1; id <= N; id++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        char name[16];
        snprintf(name, sizeof name, "t%llu", (unsigned long long)id);
        task(m, id, 0, name, (seed >> 40) % 50 * 1000); /* many equal keys */
    }
    tm_task *all[N];
    for (size_t i = 0; i < N; i++)
        all[i] = tm_model_task_at(m, i);
    qsort(all, N, sizeof *all, cmp_busy);
    tui_rows r;
    tui_rows_init(&r);
    r.sort = COL_BUSY;
    assert_int_equal(tui_rows_build(&r, m), 0);
    size_t starts[] = {0, 1, 37, 1500, 2990, 2999, 40, 0, 2960};
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++) {
        tui_row rows[40];
        size_t n = tui_rows_window(&r, starts[k], 40, rows);
        assert_int_equal(n, starts[k] + 40 <= N ? 40 : N - starts[k]);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(rows[i].id, all[starts[k] + i]->id);
    }
    assert_int_equal(tui_rows_window(&r, N, 40, NULL), 0);
    tui_rows_free(&r);
    tm_model_free(m);
}

static void test_recent(void **state) {
    (void)state;
    tm_model *m = family();
    tui_recent *rc = tui_recent_new();
    assert_non_null(rc);
    for (uint32_t i = 0; i < 20; i++) {
        ts_ev_task_suspend e = {.h = {.type = TS_EV_task_suspend}, .task = 2, .object = i,
                                .kind = 5, .site = 1};
        tui_recent_note(rc, &e.h, 1000 + i);
    }
    ts_ev_string s = {.h = {.type = TS_EV_string}, .id = 1, .len = 0};
    tui_recent_note(rc, &s.h, 5000); /* concerns no task: ignored */
    tui_event ev[TUI_RECENT_PER_TASK + 4];
    size_t n = tui_recent_get(rc, 2, ev, TUI_RECENT_PER_TASK + 4);
    assert_int_equal(n, TUI_RECENT_PER_TASK);
    for (size_t i = 0; i < n; i++)               /* newest first */
        assert_int_equal(ev[i].obj, 19 - i);
    char line[256];
    tui_recent_format(m, &ev[0], 0, line, sizeof line);
    assert_non_null(strstr(line, "suspended: awaits lock 0x13 at svc.c:10 in handler()"));
    assert_int_equal(tui_recent_get(rc, 3, ev, 4), 0);
    /* many tasks: the table grows and keeps every ring */
    for (uint64_t t = 100; t < 5100; t++) {
        ts_ev_task_resume e = {.h = {.type = TS_EV_task_resume}, .task = t};
        tui_recent_note(rc, &e.h, t);
    }
    assert_int_equal(tui_recent_tasks(rc), 5001);
    assert_int_equal(tui_recent_get(rc, 4321, ev, 4), 1);
    /* prune keeps what the model knows (task 2), drops the rest */
    tui_recent_prune(rc, m);
    assert_int_equal(tui_recent_tasks(rc), 1);
    assert_int_equal(tui_recent_get(rc, 2, ev, 4), 4);
    assert_int_equal(tui_recent_get(rc, 4321, ev, 4), 0);
    tui_recent_clear(rc);
    assert_int_equal(tui_recent_get(rc, 2, ev, 4), 0);
    tui_recent_free(rc);
    tm_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flat_sort_and_finished),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_parent_cycle),
        cmocka_unit_test(test_window_equals_full_sort),
        cmocka_unit_test(test_recent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
