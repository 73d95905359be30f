/*
 * source.c - what the three sources share: the clock, ticking, periodic
 * analysis and closing (see source.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "source.h"

uint64_t tui_wall_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void tui_src_static(tui_src *s, tm_model *m) {
    memset(s, 0, sizeof *s);
    s->mode = TUI_STATIC;
    s->model = m;
    s->recent = tui_recent_new();
    snprintf(s->status, sizeof s->status, "static");
}

void tui_src_note(tui_src *s, const ts_ev_header *rec, uint64_t ns) {
    tui_recent_note(s->recent, rec, ns);
    if (!s->res_recent)
        s->res_recent = tui_recent_new();
    if (s->res_recent)
        tui_recent_note_resource(s->res_recent, rec, ns);
    tui_watch_note(&s->watch, rec, ns);
}

void tui_src_watch(tui_src *s, uint64_t task) {
    if (s->mode == TUI_REPLAY) {
        if (s->watch.task != task || !s->watch.valid) {
            tui_watch_reset(&s->watch, task, 0);
            tui_replay_rewatch(s);
        }
        return;
    }
    if (s->watch.task != task)
        tui_watch_reset(&s->watch, task, s->mode == TUI_LIVE ? tui_wall_ns() : tm_model_now(s->model));
}

uint64_t tui_src_now(const tui_src *s) {
    if (s->mode == TUI_REPLAY)
        return s->cursor;
    if (s->mode == TUI_LIVE && !s->finished)
        return tui_wall_ns();
    return tm_model_now(s->model);
}

int tui_src_tick(tui_src *s) {
    int changed = 0;
    if (s->mode == TUI_LIVE) {
        changed = tui_live_tick(s);
        /* deadlock and stuck-loop analysis: once a second is plenty, and
         * keeps the per-refresh cost flat */
        uint64_t now = tui_wall_ns();
        if (s->model && now - s->analyzed_ns >= 1000000000ull) {
            s->analyzed_ns = now;
            if (tm_model_analyze(s->model))
                changed = 1, s->gen++;
            tui_recent_prune(s->recent, s->model);
            if (s->model && s->res_recent && tui_recent_tasks(s->res_recent) > 100000)
                tui_recent_clear(s->res_recent); /* bounded: history of a churn of objects */
        }
    } else if (s->mode == TUI_REPLAY) {
        changed = tui_replay_tick(s);
    }
    return changed;
}

void tui_src_close(tui_src *s) {
    if (s->mode == TUI_LIVE)
        tui_live_close(s);
    else if (s->mode == TUI_REPLAY)
        tui_replay_close(s);
    else {
        tui_recent_free(s->recent);
        s->recent = NULL;
    }
    tui_recent_free(s->res_recent);
    s->res_recent = NULL;
    tui_watch_free(&s->watch);
    memset(&s->watch, 0, sizeof s->watch);
}
