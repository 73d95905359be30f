/*
 * tui_refresh.c - what one refresh of `taskscope top` costs with 100k
 * tasks, in milliseconds (target: <= 50 ms).
 *
 * A model is built through tm_model_apply from hand-made records: 100k
 * tasks in a three-level tree, each with a step behind it and suspended on
 * a sleep, a task, a lock or a queue; a fifth of them finished.  Before
 * every timed refresh, 1000 more events (steps of random tasks) are
 * applied, so each refresh rebuilds the rows from a changed model, as a
 * live session does; the refresh itself is timed: filter, sort keys, the
 * visible window, formatting and ncurses writing the frame to a virtual
 * 200x50 terminal (newterm on /dev/null).
 *
 * Figures (ms per refresh, lower is better, no anchor):
 *   tui_refresh         Tasks view, sorted by busy time (largest first)
 *   tui_refresh_scroll  the same with the cursor 50k rows down
 *   tui_refresh_tree    tree mode (a full sort of the rows per refresh)
 *   tui_refresh_filter  a text filter matching about a tenth of the tasks
 *   tui_refresh_detail  one task's detail view (scans for children and
 *                       awaiters)
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "bench_util.h"

#define NTASKS 100000
#define CHURN 1000

typedef struct bench {
    tm_model *m;
    tui_src src;
    tui_app app;
    uint64_t ns;
    uint64_t rng;
    int refreshes;
} bench;

static uint64_t next_rand(bench *b) {
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    return b->rng;
}

static void apply(bench *b, void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    b->ns += 100;
    tm_model_apply(b->m, h, b->ns, 1);
}

static void string(bench *b, uint32_t id, const char *text) {
    _Alignas(8) char buf[sizeof(ts_ev_string) + 64] = {0};
    ts_ev_string *e = (ts_ev_string *)buf;
    size_t len = strlen(text) < 64 ? strlen(text) : 64;
    e->id = id;
    e->len = (uint32_t)len;
    memcpy(buf + sizeof *e, text, len);
    apply(b, e, TS_EV_string, sizeof *e + len);
}

#define EVENT(T, ...)                                                        \
    do {                                                                     \
        ts_ev_##T e_ = {.h = {0}, __VA_ARGS__};                              \
        apply(b, &e_, TS_EV_##T, sizeof e_);                                 \
    } while (0)

enum { FILE_STR = 1, FUNC_STR = 2, NAME_STR = 100, SITES = 20, LOCK = 0x1000, QUEUE = 0x2000 };

static void step(bench *b, uint64_t task, uint64_t parent, uint64_t i) {
    static const uint32_t kinds[] = {3, 1, 5, 10};
    uint32_t kind = kinds[i % 4];
    uint64_t obj = kind == 1 ? parent : kind == 5 ? LOCK : kind == 10 ? QUEUE : 0;
    EVENT(task_resume, .task = task);
    b->ns += 1000 + next_rand(b) % 100000;
    EVENT(task_suspend, .task = task, .object = obj, .kind = kind,
          .site = (uint32_t)(1 + i % SITES));
    EVENT(task_wake, .task = task, .by_task = 0, .status = 0);
}

static void build(bench *b) {
    b->m = tm_model_new();
    b->ns = 1000000000ull;
    b->rng = 0x9e3779b97f4a7c15ull;
    string(b, FILE_STR, "/src/service/handlers.c");
    for (uint32_t f = 0; f < SITES; f++) {
        char name[32];
        snprintf(name, sizeof name, "handler_%u", f);
        string(b, FUNC_STR + f, name);
        EVENT(site, .id = 1 + f, .file = FILE_STR, .func = FUNC_STR + f, .line = 100 + f * 7);
    }
    EVENT(loop_create, .loop = 1, .tid = 1);
    EVENT(resource_create, .resource = LOCK, .kind = 1, .capacity = 0, .site = 1);
    EVENT(resource_create, .resource = QUEUE, .kind = 6, .capacity = 64, .site = 2);
    for (uint64_t i = 1; i <= NTASKS; i++) {
        char name[32];
        snprintf(name, sizeof name, i == 1 ? "main" : i <= 101 ? "acceptor-%llu" : "client-%llu",
                 (unsigned long long)i);
        string(b, (uint32_t)(NAME_STR + i), name);
        uint64_t parent = i == 1 ? 0 : i <= 101 ? 1 : 2 + i % 100;
        EVENT(task_create, .task = i, .parent = parent, .loop = 1,
              .name = (uint32_t)(NAME_STR + i), .site = (uint32_t)(1 + i % SITES));
        step(b, i, parent, i);
        if (i > 101 && i % 5 == 0) {
            EVENT(task_resume, .task = i);
            EVENT(task_done, .task = i, .state = 3 + (uint32_t)(i % 3),
                  .err = i % 3 ? -125 : 0);
        } else {
            EVENT(task_resume, .task = i);
            EVENT(task_suspend, .task = i, .object = 0, .kind = 3, .site = 3);
        }
    }
}

/* A live program goes on: some tasks take a step. */
static void churn(bench *b) {
    for (int k = 0; k < CHURN / 3; k++) {
        uint64_t i = 1 + next_rand(b) % NTASKS;
        step(b, i, i == 1 ? 0 : i <= 101 ? 1 : 2 + i % 100, i + (uint64_t)k);
    }
    b->src.gen++;
}

static double refresh_ms(void *arg) {
    bench *b = arg;
    int64_t total = 0;
    for (int r = 0; r < b->refreshes; r++) {
        churn(b);
        int64_t t0 = bench_now_ns();
        tui_app_draw(&b->app);
        total += bench_now_ns() - t0;
    }
    return (double)total / b->refreshes / 1e6;
}

typedef struct setup {
    const char *figure;
    tui_col sort;
    int tree;
    const char *filter;
    size_t cursor;
    int detail;
} setup;

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    static bench b;
    fprintf(stderr, "tui_refresh: building a model of %d tasks\n", NTASKS);
    build(&b);
    tui_src_static(&b.src, b.m);
    b.refreshes = (int)bench_pick(&o, 10, 40);

    setenv("LINES", "50", 1);
    setenv("COLUMNS", "200", 1);
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    SCREEN *scr = out && in ? newterm("xterm", out, in) : NULL;
    if (!scr) {
        bench_emit_error("tui_refresh", "taskscope", "ms", 0, "no virtual terminal (terminfo xterm)");
        return 1;
    }
    tui_styles_init(has_colors());
    if (tui_app_init(&b.app, &b.src, has_colors()) != 0)
        return 1;

    static const setup setups[] = {
        {"tui_refresh", COL_BUSY, 0, "", 0, 0},
        {"tui_refresh_scroll", COL_BUSY, 0, "", NTASKS / 2, 0},
        {"tui_refresh_tree", COL_ID, 1, "", 0, 0},
        {"tui_refresh_filter", COL_BUSY, 0, "client-9", 0, 0},
        {"tui_refresh_detail", COL_ID, 0, "", 0, 1},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof setups / sizeof setups[0]; i++) {
        const setup *s = &setups[i];
        b.app.rows.sort = s->sort;
        b.app.rows.tree = s->tree;
        b.app.rows.show_finished = 1;
        snprintf(b.app.rows.filter, sizeof b.app.rows.filter, "%s", s->filter);
        b.app.rows_dirty = 1;
        b.app.view = s->detail ? VIEW_TASK : VIEW_TASKS;
        b.app.subject = 2;
        b.app.cur = s->cursor;
        b.app.top = s->cursor;
        tui_app_draw(&b.app); /* warm up: caches, window */
        if (bench_repeat(&o, s->figure, "taskscope", "ms", 0, refresh_ms, &b) != 0)
            rc = 1;
    }
    fprintf(stderr, "tui_refresh: %zu tasks in the model, %zu rows shown last\n",
            tm_model_task_count(b.m), b.app.rows.count);
    tui_app_free(&b.app);
    endwin();
    delscreen(scr);
    fclose(out);
    fclose(in);
    tui_src_close(&b.src);
    tm_model_free(b.m);
    return rc;
}
