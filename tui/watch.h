/*
 * watch.h - poll-time and scheduled-time histograms of the one task a
 * detail view shows, from its events.
 *
 * The model keeps a coarse log2 histogram per task (it cannot afford an
 * HDR histogram for each of 100k tasks); the view wants percentiles as
 * `taskscope stats` computes them.  So the source layer hands every
 * event to the watch, which records the watched task's steps in the same
 * HDR histograms (tracer/hdr.h, TS_HDR_SIGFIGS / TS_HDR_HIGHEST) the CLI
 * uses:
 *   poll time       task_resume .. the next task_suspend or task_done
 *   scheduled time  task_create or task_wake .. the next task_resume
 * A replay rebuilds the watch from the recording's first event (so the
 * figures cover the task's whole life up to the cursor); a live session
 * counts from the moment the view opened, and says so (since_ns).
 */
#ifndef TS_TUI_WATCH_H
#define TS_TUI_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "hdr.h"
#include "model.h"

#define TUI_WATCH_BINS 40     /* log2 bins of nanoseconds: the sparkline */

typedef struct tui_watch {
    uint64_t task;            /* 0: none */
    uint64_t since_ns;        /* first event time counted (0: from the start) */
    uint64_t upto;            /* replay: events applied when last brought up to date */
    int valid;                /* replay: 0 after the cursor moved back */
    uint64_t ready_since, run_since;
    ts_hdr poll, sched;
    uint32_t poll_bins[TUI_WATCH_BINS], sched_bins[TUI_WATCH_BINS];
} tui_watch;

/* Start watching task afresh (histograms emptied). */
void tui_watch_reset(tui_watch *w, uint64_t task, uint64_t since_ns);
void tui_watch_free(tui_watch *w);
/* Count rec if it is a step edge of the watched task. */
void tui_watch_note(tui_watch *w, const ts_ev_header *rec, uint64_t ns);
/* A one-line sparkline of bins (UTF-8 blocks, or ASCII), from the first
 * to the last non-empty bin, into buf; lo/hi receive that range's bounds
 * in ns.  Returns the characters written (0: nothing recorded). */
size_t tui_watch_sparkline(const uint32_t *bins, int utf8, char *buf, size_t len, uint64_t *lo,
                           uint64_t *hi);

#endif
