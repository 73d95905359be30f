/*
 * report_stats.c - `taskscope stats`: per spawn site (or, with
 * --by-prefix, per task name prefix) how many tasks, how many steps, and
 * percentiles of each task's busy time and of every step's duration;
 * per loop its steps, scheduling lag and blocked episodes.
 *
 * Percentiles come from the model's HDR histograms (hdr.h: 2 significant
 * digits, HdrHistogram's value-at-percentile), so "p50 4.0us" means the
 * median step took 4.0us give or take 1%, not that it fell in some
 * power-of-two bucket.  A group's busy histogram holds its finished
 * tasks (kept by the model even after evicting them); tasks still live
 * are added to a copy here, with the time they have run so far.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

static const double PCTS[4] = {50, 90, 99, 100};

/* The busy-time histogram of group gi with its live tasks added. */
static void busy_with_live(const tm_model *m, const tm_group *g, size_t gi, int by_prefix,
                           ts_hdr *h) {
    ts_hdr_init(h, TS_HDR_HIGHEST, TS_HDR_SIGFIGS);
    ts_hdr_merge(h, &g->busy_ns);
    if (g->finished >= g->tasks)
        return;
    for (size_t i = 0; i < tm_model_task_count(m); i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t || t->state >= TM_DONE || (by_prefix ? t->gprefix : t->gsite) != gi + 1)
            continue;
        uint64_t b, s, id;
        tm_task_times(m, t, &b, &s, &id);
        ts_hdr_record(h, b);
    }
}

static void group_key(const tm_model *m, const tm_group *g, char *buf, size_t len) {
    if (g->kind == TM_GROUP_PREFIX) {
        snprintf(buf, len, "%s", g->prefix);
        return;
    }
    tm_model_site_text(m, g->site, buf, len);
}

static void print_group(FILE *out, const tm_model *m, const tm_group *g, size_t gi,
                        const tr_opts *o, int first) {
    ts_hdr busy;
    busy_with_live(m, g, gi, o->by_prefix, &busy);
    uint64_t b[4], p[4];
    for (int k = 0; k < 4; k++) {
        b[k] = ts_hdr_value_at(&busy, PCTS[k]);
        p[k] = ts_hdr_value_at(&g->poll_ns, PCTS[k]);
    }
    char key[256];
    group_key(m, g, key, sizeof key);
    const char *name = tm_model_string(m, g->first_name);
    if (o->json) {
        fprintf(out, "%s{\"key\":", first ? "" : ",");
        tr_json_str(out, key);
        tr__json_str_or_null(out, "spawn_site", key, g->kind == TM_GROUP_SITE && g->site);
        tr__json_str_or_null(out, "name_prefix", key, g->kind == TM_GROUP_PREFIX);
        fputs(",\"example_name\":", out);
        tr_json_str(out, name);
        fprintf(out, ",\"count\":%" PRIu64 ",\"finished\":%" PRIu64 ",\"polls\":%" PRIu64, g->tasks,
                g->finished, g->polls);
        static const char *const pn[4] = {"p50", "p90", "p99", "max"};
        for (int k = 0; k < 4; k++) {
            char f[32];
            snprintf(f, sizeof f, "busy_%s_ns", pn[k]);
            tr__json_u64_or_null(out, f, b[k], busy.total != 0);
        }
        for (int k = 0; k < 4; k++) {
            char f[32];
            snprintf(f, sizeof f, "poll_%s_ns", pn[k]);
            tr__json_u64_or_null(out, f, p[k], g->poll_ns.total != 0);
        }
        fputc('}', out);
    } else {
        char d[8][16];
        for (int k = 0; k < 4; k++) {
            if (busy.total)
                tr_fmt_dur(d[k], sizeof d[k], b[k]);
            else
                snprintf(d[k], sizeof d[k], "-");
            if (g->poll_ns.total)
                tr_fmt_dur(d[4 + k], sizeof d[4 + k], p[k]);
            else
                snprintf(d[4 + k], sizeof d[4 + k], "-");
        }
        ts_text_put(out, key, 30);
        fputc(' ', out);
        ts_text_put(out, g->kind == TM_GROUP_SITE ? name : "", 12);
        fprintf(out, " %7" PRIu64 " %8" PRIu64, g->tasks, g->polls);
        for (int k = 0; k < 8; k++)
            fprintf(out, " %8s", d[k]);
        fputc('\n', out);
    }
    ts_hdr_free(&busy);
}

static void print_loops(FILE *out, const tm_model *m, const tr_opts *o) {
    if (o->json)
        fprintf(out, ",\"loops\":[");
    else
        fprintf(out, "\n%-8s %8s %10s %10s %10s %8s\n", "loop", "tid", "steps", "lag avg",
                "lag max", "blocked");
    for (size_t i = 0; i < tm_model_loop_count(m); i++) {
        const tm_loop *l = tm_model_loop_at(m, i);
        size_t blocked = 0;
        for (size_t b = 0; b < tm_model_blocked_count(m); b++)
            blocked += tm_model_blocked_at(m, b)->loop == l->id;
        uint64_t avg = l->lag_count ? l->lag_sum_ns / l->lag_count : 0;
        if (o->json) {
            fprintf(out, "%s{\"loop\":%" PRIu64 ",\"tid\":%u,\"steps\":%" PRIu64
                         ",\"lag_avg_ns\":%" PRIu64 ",\"lag_max_ns\":%" PRIu64 ",\"blocked\":%zu}",
                    i ? "," : "", l->id, l->tid, l->steps, avg, l->max_lag_ns, blocked);
        } else {
            char a[16], mx[16];
            tr_fmt_dur(a, sizeof a, avg);
            tr_fmt_dur(mx, sizeof mx, l->max_lag_ns);
            fprintf(out, "%-8" PRIu64 " %8u %10" PRIu64 " %10s %10s %8zu\n", l->id, l->tid,
                    l->steps, a, mx, blocked);
        }
    }
    if (o->json)
        fputc(']', out);
}

void tr_stats(FILE *out, const tm_model *m, const tr_opts *o) {
    tm_group_kind want = o->by_prefix ? TM_GROUP_PREFIX : TM_GROUP_SITE;
    if (o->json) {
        tr__json_head(out, m, o);
        fprintf(out, "\"group_by\":\"%s\",\"precision_digits\":%d,\"groups\":[",
                o->by_prefix ? "name_prefix" : "spawn_site", TS_HDR_SIGFIGS);
    } else {
        tr__text_header(out, m, o);
        fprintf(out, "percentiles from HDR histograms, %d significant digits; busy: per task, "
                     "poll: per step\n", TS_HDR_SIGFIGS);
        fprintf(out, "%-30s %-12s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n",
                o->by_prefix ? "name prefix" : "spawn site", o->by_prefix ? "" : "first task",
                "tasks", "polls", "busy p50", "p90", "p99", "max", "poll p50", "p90", "p99",
                "max");
    }
    int first = 1;
    for (size_t i = 0; i < tm_model_group_count(m); i++) {
        const tm_group *g = tm_model_group_at(m, i);
        if (g->kind != want || !g->tasks)
            continue;
        print_group(out, m, g, i, o, first);
        first = 0;
    }
    if (o->json)
        fputc(']', out);
    print_loops(out, m, o);
    if (o->json)
        tr__json_tail(out, m);
    else
        tr_warnings(out, m, o);
}
