/*
 * watch.c - see watch.h.
 *
 * Invariant: run_since != 0 exactly while the watched task is in a step
 * the watch saw begin; ready_since != 0 while it is ready and the watch
 * saw it become so.  An edge whose start was not seen is not counted (a
 * live view opened mid-step), so no sample is ever a guess.
 */
#include <string.h>

#include "watch.h"

void tui_watch_free(tui_watch *w) {
    ts_hdr_free(&w->poll);
    ts_hdr_free(&w->sched);
}

void tui_watch_reset(tui_watch *w, uint64_t task, uint64_t since_ns) {
    tui_watch_free(w);
    memset(w, 0, sizeof *w);
    w->task = task;
    w->since_ns = since_ns;
    w->valid = 1;
    ts_hdr_init(&w->poll, TS_HDR_HIGHEST, TS_HDR_SIGFIGS);
    ts_hdr_init(&w->sched, TS_HDR_HIGHEST, TS_HDR_SIGFIGS);
}

static int bin_of(uint64_t ns) {
    int b = 0;
    while (ns > 1 && b < TUI_WATCH_BINS - 1) {
        ns >>= 1;
        b++;
    }
    return b;
}

static void sample(ts_hdr *h, uint32_t *bins, uint64_t d) {
    ts_hdr_record(h, d ? d : 1);
    bins[bin_of(d)]++;
}

void tui_watch_note(tui_watch *w, const ts_ev_header *rec, uint64_t ns) {
    if (!w->task)
        return;
    /* every task event starts with its task id (schemas/events.def) */
    uint16_t t = rec->type;
    if (t != TS_EV_task_create && t != TS_EV_task_wake && t != TS_EV_task_resume &&
        t != TS_EV_task_suspend && t != TS_EV_task_done)
        return;
    const ts_ev_task_resume *e = (const ts_ev_task_resume *)rec;
    if (e->task != w->task)
        return;
    switch (t) {
    case TS_EV_task_create:
    case TS_EV_task_wake:
        if (!w->ready_since)
            w->ready_since = ns;
        break;
    case TS_EV_task_resume:
        if (w->ready_since && ns >= w->ready_since)
            sample(&w->sched, w->sched_bins, ns - w->ready_since);
        w->ready_since = 0;
        w->run_since = ns;
        break;
    default: /* suspend, done: the step ends */
        if (w->run_since && ns >= w->run_since)
            sample(&w->poll, w->poll_bins, ns - w->run_since);
        w->run_since = 0;
        /* a task that yields is ready again at once: its wake follows */
        break;
    }
}

size_t tui_watch_sparkline(const uint32_t *bins, int utf8, char *buf, size_t len, uint64_t *lo,
                           uint64_t *hi) {
    static const char *const blocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    static const char ascii[] = "_.-:=+*#";
    int first = -1, last = -1;
    uint32_t max = 0;
    for (int i = 0; i < TUI_WATCH_BINS; i++)
        if (bins[i]) {
            if (first < 0)
                first = i;
            last = i;
            if (bins[i] > max)
                max = bins[i];
        }
    if (len)
        buf[0] = 0;
    if (first < 0)
        return 0;
    *lo = first ? 1ull << first : 0;
    *hi = (1ull << (last + 1)) - 1;
    size_t n = 0, chars = 0;
    for (int i = first; i <= last; i++) {
        /* an empty bin is a space, so a gap shows as one */
        int level = bins[i] ? (int)((uint64_t)(bins[i] - 1) * 8 / max) : -1;
        const char *s = level < 0 ? " " : utf8 ? blocks[level] : (char[2]){ascii[level], 0};
        size_t k = strlen(s);
        if (n + k + 1 > len)
            break;
        memcpy(buf + n, s, k);
        n += k;
        chars++;
    }
    buf[n] = 0;
    return chars;
}
