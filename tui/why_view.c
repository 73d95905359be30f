/*
 * why_view.c - the why view: key w in a task's detail shows where that
 * task's wall time went (tracer/why.h, as `taskscope why` prints it), as
 * a scrollable text view.
 *
 * A replay (or a live session whose process has ended) answers from its
 * recording; a live process from its flight-recorder window (the ring's
 * retained events, copied to a temporary recording by why_live_record).
 * The tree is computed once when the key is pressed, not on each
 * refresh: it is a snapshot, and the view's title says when it was made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "why.h"

/* Levels of cause tasks the view follows (the CLI's default is 1; a
 * screen has room for a little more). */
enum { TUI_WHY_DEPTH = 2 };

static char *why_text(tui_src *src, uint64_t task, char *err, size_t n) {
    char live[4096] = "";
    const char *file = src->path;
    if (src->mode == TUI_LIVE && !src->finished) {
        if (why_live_record(src->pid, live, sizeof live, err, n))
            return NULL;
        file = live;
    }
    char *buf = NULL;
    size_t len = 0;
    why_ctx *c = why_open(file, err, n);
    if (c) {
        uint64_t t0 = 0, t1 = 0;
        why_node *top = NULL;
        if (why_pick_pid(c, task) || !(top = why_task(c, task, TUI_WHY_DEPTH, &t0, &t1))) {
            snprintf(err, n, "task #%llu is not in the %s", (unsigned long long)task,
                     *live ? "flight-recorder window" : "recording");
        } else {
            FILE *out = open_memstream(&buf, &len);
            if (out) {
                fprintf(out, "why task #%llu: wall %.3f ms%s\n", (unsigned long long)task,
                        (double)(t1 - t0) / 1e6, *live ? " (live: the flight-recorder window)" : "");
                if (why_task_before_window(c, task))
                    fputs("  spawned before the window: its life before it is not shown\n", out);
                why_print_text(out, c, top, t1 - t0, 0);
                fclose(out);
            } else {
                snprintf(err, n, "out of memory");
            }
        }
        why_node_free(top);
        why_close(c);
    }
    if (*live)
        why_live_remove(live);
    return buf;
}

int tui_why_show(tui_app *a, uint64_t task) {
    char err[512] = "";
    char *text = why_text(a->src, task, err, sizeof err);
    if (!text) {
        tui_app_message(a, "why: %s", err);
        return -1;
    }
    free(a->why_text);
    a->why_text = text;
    return 0;
}

void tui_build_why(tui_app *a) {
    const char *p = a->why_text ? a->why_text : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (tui_emit_wanted(a))
            tui_emit(a, ST_NORMAL, LINK_NONE, 0, "%.*s", (int)len, p);
        else
            tui_emit_skip(a, LINK_NONE);
        p += len + (nl != NULL);
    }
}
