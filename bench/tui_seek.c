/*
 * tui_seek.c - how long `taskscope top FILE` takes to move its time
 * cursor in a long recording, in milliseconds (target: <= 100 ms for a
 * 10-minute, 10M-event recording).
 *
 * The recording is made in memory (tui_replay_begin/add/finish, the same
 * path a file's events take once read): 10 minutes of a service with
 * 5,000 live tasks at any time, each spawned, stepping 20 times
 * (resume, suspend on a sleep, a lock or a queue, wake) and finishing,
 * replaced by a new one: 10M events (1M with --quick), about 160k tasks
 * in all.  Loading it applies every event once (and takes the model
 * checkpoints); then the cursor is moved as a user would:
 *
 *   tui_seek       to a random time anywhere in the recording
 *   tui_seek_back  one second back from a random time (the Left key)
 *
 * Each figure is the mean wall time over 20 seeks (no anchor); the p50,
 * p99 and worst seek over every rep, the mean CPU time per seek (what a
 * loaded machine does not inflate), the checkpoints' memory and the peak
 * RSS are printed to stderr.  Not timed: drawing (tui_refresh measures that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "bench_util.h"

#define LIVE 5000
#define STEPS 20
#define SEEKS 20
#define MAX_SAMPLES 4096
#define SPAN_NS 600000000000ull    /* ten minutes */

typedef struct gen {
    tui_src *s;
    uint64_t ns, step_ns, events, rng;
    int oom;
} gen;

static uint64_t next_rand(uint64_t *r) {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

static void add(gen *g, void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)((size + 7) & ~(size_t)7);
    g->ns += g->step_ns;
    g->events++;
    if (tui_replay_add(g->s, h, g->ns, 1) != 0)
        g->oom = 1;
}

#define EVENT(T, ...)                                                        \
    do {                                                                     \
        ts_ev_##T e_ = {.h = {0}, __VA_ARGS__};                              \
        add(g, &e_, TS_EV_##T, sizeof e_);                                   \
    } while (0)

static void string(gen *g, uint32_t id, const char *text) {
    _Alignas(8) char buf[sizeof(ts_ev_string) + 64] = {0};
    ts_ev_string *e = (ts_ev_string *)buf;
    size_t len = strlen(text) < 64 ? strlen(text) : 64;
    e->id = id;
    e->len = (uint32_t)len;
    memcpy(buf + sizeof *e, text, len);
    add(g, e, TS_EV_string, sizeof *e + len);
}

enum { FILE_STR = 1, FUNC_STR = 2, NAME_STR = 100, NAMES = 50, SITES = 10, LOCK = 0x1000,
       QUEUE = 0x2000 };

static void spawn(gen *g, uint64_t id) {
    EVENT(task_create, .task = id, .parent = 1, .loop = 1,
          .name = (uint32_t)(NAME_STR + id % NAMES), .site = (uint32_t)(1 + id % SITES));
}

static void step(gen *g, uint64_t id, uint32_t n) {
    static const uint32_t kinds[] = {3, 5, 10};
    uint32_t kind = kinds[n % 3];
    EVENT(task_resume, .task = id);
    EVENT(task_suspend, .task = id, .object = kind == 5 ? LOCK : kind == 10 ? QUEUE : 0,
          .kind = kind, .site = (uint32_t)(1 + n % SITES));
    EVENT(task_wake, .task = id, .by_task = 0, .status = 0);
}

/* The whole recording into s; 0 or -ENOMEM. */
static int record(tui_src *s, uint64_t nevents) {
    static uint64_t ids[LIVE];
    static uint32_t steps[LIVE];
    gen gs = {s, 1000000000ull, SPAN_NS / nevents, 0, 0x9e3779b97f4a7c15ull, 0}, *g = &gs;
    string(g, FILE_STR, "/src/service/handlers.c");
    for (uint32_t f = 0; f < SITES; f++) {
        char name[32];
        snprintf(name, sizeof name, "handler_%u", f);
        string(g, FUNC_STR + f, name);
        ts_ev_site e = {.h = {0}, .id = 1 + f, .file = FILE_STR, .func = FUNC_STR + f,
                        .line = 100 + f * 7};
        add(g, &e, TS_EV_site, sizeof e);
    }
    for (uint32_t i = 0; i < NAMES; i++) {
        char name[32];
        snprintf(name, sizeof name, "client-%u", i);
        string(g, NAME_STR + i, name);
    }
    ts_ev_loop_create lc = {.h = {0}, .loop = 1, .tid = 1};
    add(g, &lc, TS_EV_loop_create, sizeof lc);
    EVENT(resource_create, .resource = LOCK, .kind = 1, .capacity = 0, .site = 1);
    EVENT(resource_create, .resource = QUEUE, .kind = 6, .capacity = 64, .site = 2);
    uint64_t next_id = 1;
    spawn(g, next_id++); /* main, never finishes */
    for (size_t i = 0; i < LIVE; i++) {
        ids[i] = next_id++;
        steps[i] = (uint32_t)(next_rand(&g->rng) % STEPS); /* staggered ends */
        spawn(g, ids[i]);
    }
    while (g->events < nevents && !g->oom) {
        size_t i = next_rand(&g->rng) % LIVE;
        if (++steps[i] >= STEPS) {
            EVENT(task_resume, .task = ids[i]);
            EVENT(task_done, .task = ids[i], .state = 3, .err = 0);
            EVENT(task_free, .task = ids[i]);
            ids[i] = next_id++;
            steps[i] = 0;
            spawn(g, ids[i]);
        } else {
            step(g, ids[i], steps[i]);
        }
    }
    return g->oom ? -12 : 0;
}

typedef struct run {
    tui_src *s;
    uint64_t rng;
    int back;
    double worst_ms;
    double cpu_ms, samples;  /* this thread's CPU time: the machine's load aside */
    double ms[MAX_SAMPLES];  /* every seek's wall time, for the percentiles */
    size_t n;
} run;

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (nearest rank) of r's seeks. */
static double percentile(run *r, double p) {
    if (!r->n)
        return 0;
    qsort(r->ms, r->n, sizeof *r->ms, by_value);
    size_t k = (size_t)(p / 100.0 * (double)r->n + 0.999999);
    return r->ms[k ? k - 1 : 0];
}

static double cpu_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double seek_ms(void *arg) {
    run *r = arg;
    tui_src *s = r->s;
    uint64_t span = s->t_end - s->t0;
    double total = 0;
    for (int k = 0; k < SEEKS; k++) {
        uint64_t t = s->t0 + next_rand(&r->rng) % span;
        if (r->back) { /* the cursor is somewhere; Left moves it 1 s back */
            tui_replay_seek(s, t);
            t = t - s->t0 > 1000000000ull ? t - 1000000000ull : s->t0;
        }
        int64_t t0 = bench_now_ns();
        double c0 = cpu_now_ms();
        tui_replay_seek(s, t);
        double ms = (double)(bench_now_ns() - t0) / 1e6;
        r->cpu_ms += cpu_now_ms() - c0;
        r->samples++;
        if (r->n < MAX_SAMPLES)
            r->ms[r->n++] = ms;
        total += ms;
        if (ms > r->worst_ms)
            r->worst_ms = ms;
    }
    return total / SEEKS;
}

/* The process's peak resident set (the events, the model, the
 * checkpoints), from /proc; 0 if unknown. */
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtod(line + 6, NULL);
    if (f)
        fclose(f);
    return kb / 1024.0;
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    uint64_t nevents = (uint64_t)bench_pick(&o, 1000000, 10000000);
    static tui_src s;
    if (tui_replay_begin(&s, "(in memory)") != 0) {
        bench_emit_error("tui_seek", "taskscope", "ms", 0, "out of memory");
        return 1;
    }
    int64_t t0 = bench_now_ns();
    if (record(&s, nevents) != 0) {
        bench_emit_error("tui_seek", "taskscope", "ms", 0, "out of memory building the recording");
        tui_src_close(&s);
        return 1;
    }
    tui_replay_finish(&s);
    fprintf(stderr, "tui_seek: %llu events over %.0f s loaded and applied in %.1f s; "
            "%llu tasks seen\n", (unsigned long long)s.log_events,
            (double)(s.t_end - s.t0) / 1e9, (double)(bench_now_ns() - t0) / 1e9,
            (unsigned long long)tm_model_tasks_seen(s.model));
    uint64_t every = 0;
    size_t ncps = tui_replay_checkpoints(&s, &every);
    fprintf(stderr, "tui_seek: %zu checkpoints, %llu events apart, holding %.1f MB; "
            "peak RSS so far %.0f MB\n", ncps, (unsigned long long)every,
            (double)tui_replay_checkpoint_bytes(&s) / 1048576.0, peak_rss_mb());
    int rc = 0;
    static const char *const figures[] = {"tui_seek", "tui_seek_back"};
    for (int back = 0; back < 2; back++) {
        static run r;
        memset(&r, 0, sizeof r);
        r.s = &s;
        r.rng = 0x2545f4914f6cdd1dull;
        r.back = back;
        if (bench_repeat(&o, figures[back], "taskscope", "ms", 0, seek_ms, &r) != 0)
            rc = 1;
        fprintf(stderr, "%s: %zu seeks: p50 %.1f ms, p99 %.1f ms, worst %.1f ms; "
                "CPU time %.1f ms per seek\n", figures[back], r.n, percentile(&r, 50),
                percentile(&r, 99), r.worst_ms, r.samples ? r.cpu_ms / r.samples : 0);
    }
    fprintf(stderr, "tui_seek: peak RSS %.0f MB\n", peak_rss_mb());
    tui_src_close(&s);
    return rc;
}
