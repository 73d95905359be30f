/*
 * tasks_view.c - the Tasks view (asyncio's all_tasks): one row per task,
 * sortable by any column, filtered, flat or as a tree.
 *
 * Cost per refresh: one pass over the model's tasks when it changed
 * (rows.c), then O(rows on screen) to select, format and draw them.
 * Columns that do not fit the terminal are dropped, least useful first,
 * and the ones the user hid (the column chooser, c) are never shown; the
 * text columns share what is left, each growing towards the widest text
 * it has on screen, so nothing is cut that a wider column would show.
 * When AWAITS or NAME would still be cut, the least useful numbers make
 * way for them: an 80-column screen shows what a task waits for whole.
 */
#include <curses.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "report.h"
#include "textsafe.h"

typedef struct col_spec {
    tui_col col;
    int want, max;  /* width it needs to be worth showing; most it takes */
    int prio;       /* 0 always shown; larger numbers are dropped first */
    int flex;       /* text column that takes spare width */
    int right;      /* right-aligned */
} col_spec;

static const col_spec SPECS[] = {
    {COL_WARN, 1, 1, 0, 0, 0},     {COL_ID, 6, 8, 0, 0, 1},       {COL_NAME, 16, 28, 0, 1, 0},
    {COL_STATE, 9, 9, 0, 0, 0},    {COL_TOTAL, 8, 8, 3, 0, 1},    {COL_BUSY, 8, 8, 1, 0, 1},
    {COL_SCHED, 8, 8, 5, 0, 1},    {COL_IDLE, 8, 8, 4, 0, 1},     {COL_POLLS, 6, 8, 2, 0, 1},
    {COL_AWAITS, 16, 30, 1, 1, 0}, {COL_ASITE, 22, 40, 2, 1, 0},  {COL_SSITE, 22, 40, 6, 1, 0},
};
#define NSPECS (sizeof SPECS / sizeof SPECS[0])

/* Which columns fit, most useful first, and how wide each is.  need[c]
 * is the widest text column c has among the rows on screen: text columns
 * grow towards it before any spare goes elsewhere, and when the text
 * that matters most (name, awaits) would be cut, the numbers that matter
 * least make way for it. */
static void layout(tui_app *a, const int *need) {
    int used = 0;
    memset(a->colw, 0, sizeof a->colw);
    for (int prio = 0; prio <= 6; prio++)
        for (size_t i = 0; i < NSPECS; i++)
            if (SPECS[i].prio == prio && !(a->col_off >> SPECS[i].col & 1) &&
                used + SPECS[i].want + 1 <= COLS) {
                a->colw[SPECS[i].col] = SPECS[i].want;
                used += SPECS[i].want + 1;
            }
    if (!a->colw[COL_NAME]) { /* narrower than any sane terminal: squeeze */
        a->colw[COL_NAME] = COLS - used - 1 > 4 ? COLS - used - 1 : 4;
        used += a->colw[COL_NAME] + 1;
    }
    int spare = COLS - used;
    for (;;) { /* cut numbers (largest prio first) while awaits or name is short */
        int short_by = 0;
        for (size_t i = 0; i < NSPECS; i++)
            if (SPECS[i].flex && SPECS[i].prio <= 1 && a->colw[SPECS[i].col])
                short_by += need[SPECS[i].col] > a->colw[SPECS[i].col]
                                ? need[SPECS[i].col] - a->colw[SPECS[i].col] : 0;
        if (short_by <= spare)
            break;
        int victim = -1;
        for (size_t i = 0; i < NSPECS; i++)
            if (!SPECS[i].flex && SPECS[i].prio >= 2 && a->colw[SPECS[i].col] &&
                (victim < 0 || SPECS[i].prio > SPECS[victim].prio))
                victim = (int)i;
        if (victim < 0)
            break;
        spare += a->colw[SPECS[victim].col] + 1;
        a->colw[SPECS[victim].col] = 0;
    }
    int grew = 1;
    while (spare > 0 && grew) { /* text columns towards what their rows need */
        grew = 0;
        for (size_t i = 0; i < NSPECS && spare > 0; i++)
            if (SPECS[i].flex && a->colw[SPECS[i].col] &&
                a->colw[SPECS[i].col] < need[SPECS[i].col]) {
                a->colw[SPECS[i].col]++;
                spare--;
                grew = 1;
            }
    }
    grew = 1;
    while (spare > 0 && grew) { /* then towards their usual width */
        grew = 0;
        for (size_t i = 0; i < NSPECS && spare > 0; i++)
            if (SPECS[i].flex && a->colw[SPECS[i].col] &&
                a->colw[SPECS[i].col] < SPECS[i].max) {
                a->colw[SPECS[i].col]++;
                spare--;
                grew = 1;
            }
    }
    if (spare > 0) /* a very wide terminal: the last text column takes it */
        for (size_t i = NSPECS; i-- > 0;)
            if (SPECS[i].flex && a->colw[SPECS[i].col]) {
                a->colw[SPECS[i].col] += spare;
                break;
            }
}

/* The direction mark the header uses: down for largest (or Z) first. */
static const char *sort_mark(const tui_app *a, int desc) {
    return a->utf8 ? (desc ? "▼" : "▲") : (desc ? "v" : "^");
}

static void draw_head(tui_app *a, int y) {
    int x = 0;
    tui_put(y, 0, COLS, tui_attr(a, ST_HEAD), "");
    for (size_t i = 0; i < NSPECS; i++) {
        int w = a->colw[SPECS[i].col];
        if (!w)
            continue;
        char name[48], cell[64];
        int sorted = a->rows.sort == SPECS[i].col;
        int desc = tui_col_descending(SPECS[i].col) ^ a->rows.reverse;
        snprintf(name, sizeof name, "%s%s", tui_col_name(SPECS[i].col),
                 !sorted ? "" : sort_mark(a, desc));
        int len = (int)strlen(name) - (sorted && a->utf8 ? 2 : 0);
        snprintf(cell, sizeof cell, "%*s%s", SPECS[i].right && len < w ? w - len : 0, "", name);
        tui_put(y, x, w, tui_attr(a, ST_HEAD) | (sorted ? A_BOLD : 0), cell);
        x += w + 1;
    }
}

static tui_style state_style(tm_state s) {
    switch (s) {
    case TM_RUNNING: return ST_GOOD;
    case TM_READY: return ST_ACCENT;
    case TM_FAILED: return ST_BAD;
    case TM_CANCELLED: return ST_WARN;
    case TM_DONE: return ST_DIM;
    default: return ST_NORMAL;
    }
}

static void tree_prefix(const tui_app *a, const tui_row *r, char *buf, size_t len) {
    size_t n = 0;
    buf[0] = 0;
    int depth = r->depth > 24 ? 24 : r->depth;
    for (int d = 1; d <= depth && n + 8 < len; d++) {
        int last = d < 64 && (r->last_mask >> d & 1);
        const char *s;
        if (d < depth)
            s = last ? "  " : a->utf8 ? "│ " : "| ";
        else
            s = a->utf8 ? (last ? "└─" : "├─") : (last ? "`-" : "|-");
        n += (size_t)snprintf(buf + n, len - n, "%s", s);
    }
    if (r->depth > 24 && n + 2 < len)
        snprintf(buf + n, len - n, "+");
}

static void cell_text(tui_app *a, const tm_task *t, const tui_row *r, tui_col c, char *buf,
                      size_t len) {
    const tm_model *m = a->src->model;
    uint64_t busy, sched, idle;
    switch (c) {
    case COL_WARN: snprintf(buf, len, "%s", t->warnings ? "!" : " "); break;
    case COL_ID: snprintf(buf, len, "%" PRIu64, t->id); break;
    case COL_NAME: {
        char prefix[128];
        tree_prefix(a, r, prefix, sizeof prefix);
        const char *name = tm_model_string(m, t->name);
        snprintf(buf, len, "%s%s", prefix, *name ? name : "?");
        break;
    }
    case COL_STATE: snprintf(buf, len, "%s", tm_state_name(t->state)); break;
    case COL_TOTAL: {
        uint64_t end = t->state >= TM_DONE ? t->done_ns : tm_model_now(m);
        tr_fmt_dur(buf, len, end > t->created_ns ? end - t->created_ns : 0);
        break;
    }
    case COL_BUSY: tm_task_times(m, t, &busy, &sched, &idle); tr_fmt_dur(buf, len, busy); break;
    case COL_SCHED: tm_task_times(m, t, &busy, &sched, &idle); tr_fmt_dur(buf, len, sched); break;
    case COL_IDLE: tm_task_times(m, t, &busy, &sched, &idle); tr_fmt_dur(buf, len, idle); break;
    case COL_POLLS: snprintf(buf, len, "%" PRIu64, t->polls); break;
    case COL_AWAITS: tr_awaits_text(m, t, buf, len); break;
    case COL_ASITE:
        if (t->state == TM_SUSPENDED)
            tm_model_site_text(m, t->await_site, buf, len);
        else
            snprintf(buf, len, "-");
        break;
    case COL_SSITE: tm_model_site_text(m, t->site, buf, len); break;
    default: buf[0] = 0; break;
    }
}

static void draw_row(tui_app *a, int y, const tui_row *r, int selected) {
    const tm_task *t = tm_model_task(a->src->model, r->id);
    if (!t) {
        tui_put(y, 0, COLS, A_NORMAL, "");
        return;
    }
    int base = selected ? A_REVERSE : r->context ? A_DIM : A_NORMAL;
    tui_put(y, 0, COLS, base, "");
    int x = 0;
    for (size_t i = 0; i < NSPECS; i++) {
        tui_col c = SPECS[i].col;
        int w = a->colw[c];
        if (!w)
            continue;
        char text[512], cell[520];
        cell_text(a, t, r, c, text, sizeof text);
        int len = (int)strlen(text);
        snprintf(cell, sizeof cell, "%*s%s", SPECS[i].right && len < w ? w - len : 0, "", text);
        int attr = base;
        if (!selected && c == COL_STATE)
            attr = tui_attr(a, state_style(t->state)) | (r->context ? A_DIM : 0);
        if (!selected && c == COL_WARN)
            attr = tui_attr(a, ST_BAD);
        tui_put(y, x, w, attr, cell);
        x += w + 1;
    }
}

static void clamp_cursor(tui_app *a, int height) {
    size_t n = a->rows.count;
    if (!n) {
        a->cur = a->top = 0;
        return;
    }
    if (a->cur >= n)
        a->cur = n - 1;
    if (a->cur < a->top)
        a->top = a->cur;
    if (height > 0 && a->cur >= a->top + (size_t)height)
        a->top = a->cur - (size_t)height + 1;
    if (height > 0 && a->top + (size_t)height > n)
        a->top = n > (size_t)height ? n - (size_t)height : 0;
}

/* The widest text of each text column among the rows on screen. */
static void measure(tui_app *a, int *need) {
    memset(need, 0, COL_COUNT * sizeof *need);
    for (size_t r = 0; r < a->win_n; r++) {
        const tm_task *t = tm_model_task(a->src->model, a->win[r].id);
        if (!t)
            continue;
        for (size_t i = 0; i < NSPECS; i++) {
            if (!SPECS[i].flex)
                continue;
            char text[512], safe[1024];
            cell_text(a, t, &a->win[r], SPECS[i].col, text, sizeof text);
            int n = (int)ts_text_safe(safe, sizeof safe, text, 0);
            if (n > need[SPECS[i].col])
                need[SPECS[i].col] = n;
        }
    }
}

void tui_tasks_draw(tui_app *a, int y0, int height) {
    int need[COL_COUNT];
    height--;
    a->win_n = 0;
    if (height > 0) {
        clamp_cursor(a, height);
        if ((size_t)height > a->win_cap) {
            tui_row *p = realloc(a->win, (size_t)height * sizeof *p);
            if (!p)
                return;
            a->win = p;
            a->win_cap = (size_t)height;
        }
        a->win_n = tui_rows_window(&a->rows, a->top, (size_t)height, a->win);
    }
    measure(a, need);
    layout(a, need);
    draw_head(a, y0);
    y0++;
    if (height <= 0)
        return;
    for (int i = 0; i < height; i++) {
        if ((size_t)i < a->win_n)
            draw_row(a, y0 + i, &a->win[i], a->top + (size_t)i == a->cur);
        else
            tui_put(y0 + i, 0, COLS, A_NORMAL, "");
    }
    if (!a->rows.count) {
        char msg[160];
        if (a->rows.filter[0])
            snprintf(msg, sizeof msg, "  no task matches \"%s\" (Esc clears the filter)",
                     a->rows.filter);
        else if (!a->rows.show_finished && a->rows.total)
            snprintf(msg, sizeof msg, "  no live task; press f to show the %zu finished",
                     a->rows.total);
        else
            snprintf(msg, sizeof msg, "  no task yet");
        tui_put(y0 + 1, 0, COLS, tui_attr(a, ST_DIM), msg);
    }
}

uint64_t tui_tasks_selected(tui_app *a) {
    if (a->cur < a->top || a->cur - a->top >= a->win_n)
        return 0;
    return a->win[a->cur - a->top].id;
}

/* Next (dir 1) or previous (-1) shown column to sort by. */
static void cycle_sort(tui_app *a, int dir) {
    size_t at = 0;
    for (size_t i = 0; i < NSPECS; i++)
        if (SPECS[i].col == a->rows.sort)
            at = i;
    for (size_t k = 1; k <= NSPECS; k++) {
        size_t i = (at + NSPECS + (size_t)dir * k) % NSPECS;
        if (SPECS[i].col != COL_WARN && a->colw[SPECS[i].col]) {
            a->rows.sort = SPECS[i].col;
            break;
        }
    }
    a->rows.reverse = 0;
}

int tui_tasks_key(tui_app *a, int key) {
    switch (key) {
    case 's': cycle_sort(a, 1); break;
    case 'S': cycle_sort(a, -1); break;
    case 'r': a->rows.reverse = !a->rows.reverse; break;
    case 't':
        a->rows.tree = !a->rows.tree;
        tui_app_message(a, "%s", a->rows.tree ? "tree: tasks under their parents"
                                               : "flat table");
        break;
    case 'f':
        a->rows.show_finished = !a->rows.show_finished;
        tui_app_message(a, "%s", a->rows.show_finished ? "showing finished tasks"
                                                        : "hiding finished tasks");
        break;
    case 27: /* Esc clears the filter */
        if (!a->rows.filter[0])
            return 0;
        a->rows.filter[0] = 0;
        break;
    default: return 0;
    }
    a->rows_dirty = 1;
    return 1;
}

/* ---- the column chooser (c, F2): line 0 is a heading, line i + 1 the
 * i-th column of SPECS after the warning mark ---------------------------- */

static const char *col_about(tui_col c) {
    switch (c) {
    case COL_ID: return "task id (always shown)";
    case COL_NAME: return "task name; the tree in tree mode (always)";
    case COL_STATE: return "ready, running, suspended, done, failed...";
    case COL_TOTAL: return "age: since it was spawned";
    case COL_BUSY: return "time running its steps";
    case COL_SCHED: return "time ready but waiting for the loop";
    case COL_IDLE: return "time suspended";
    case COL_POLLS: return "steps run";
    case COL_AWAITS: return "what it waits for";
    case COL_ASITE: return "where it waits";
    case COL_SSITE: return "where it was spawned";
    default: return "";
    }
}

/* What column c sorts by (rows.c's key), without the direction. */
static const char *col_sort_key(tui_col c) {
    switch (c) {
    case COL_ID: return "id";
    case COL_NAME: return "name A-Z";
    case COL_STATE: return "state";
    case COL_TOTAL: return "age";
    case COL_BUSY: return "busy time";
    case COL_SCHED: return "sched. time";
    case COL_IDLE: return "idle time";
    case COL_POLLS: return "steps";
    case COL_AWAITS: return "wait kind";
    case COL_ASITE: case COL_SSITE: return "site A-Z";
    default: return "";
    }
}

void tui_build_columns(tui_app *a) {
    tui_emit(a, ST_HEAD, LINK_NONE, 0, "     %-8s %-15s %s", "COLUMN", "SORTS BY", "SHOWS");
    for (size_t i = 1; i < NSPECS; i++) {
        tui_col c = SPECS[i].col;
        int off = a->col_off >> c & 1, sorted = a->rows.sort == c;
        int desc = tui_col_descending(c) ^ (sorted && a->rows.reverse);
        /* the sort column is starred; the mark shows the order it sorts in
         * (its natural one, or the reversed one when it is the sort) */
        char key[48];
        snprintf(key, sizeof key, "%s %s%s", col_sort_key(c), sort_mark(a, desc),
                 sorted ? "*" : "");
        int pad = 15 - (int)strlen(key) + (a->utf8 ? 2 : 0); /* a 3-byte, 1-cell mark */
        tui_emit(a, off ? ST_DIM : sorted ? ST_ACCENT : ST_NORMAL, LINK_NONE, 0,
                 " [%c] %-8s %s%*s %s%s", off ? ' ' : 'x', tui_col_name(c), key,
                 pad > 0 ? pad : 0, "", col_about(c),
                 !off && !a->colw[c] ? " (no room here)" : "");
    }
    tui_emit(a, ST_DIM, LINK_NONE, 0, "%s", "");
    tui_emit(a, ST_DIM, LINK_NONE, 0, " s: sort by the column under the cursor (again: reverse)."
             "  * marks the sort;");
    tui_emit(a, ST_DIM, LINK_NONE, 0, " %s smallest (or A) first, %s largest (or Z) first; the"
             " Tasks header marks it too.", sort_mark(a, 0), sort_mark(a, 1));
}

int tui_columns_key(tui_app *a, int key) {
    if (key == 's' && a->cur >= 1 && a->cur < NSPECS) { /* sort by this column */
        tui_col c = SPECS[a->cur].col;
        if (a->col_off >> c & 1) {
            tui_app_message(a, "%s is hidden: show it to sort by it", tui_col_name(c));
            return 1;
        }
        a->rows.reverse = a->rows.sort == c ? !a->rows.reverse : 0;
        a->rows.sort = c;
        tui_app_message(a, "sorted by %s %s", tui_col_name(c),
                        sort_mark(a, tui_col_descending(c) ^ a->rows.reverse));
        a->rows_dirty = 1;
        return 1;
    }
    if (key != ' ' && key != '\n' && key != '\r' && key != KEY_ENTER)
        return 0;
    if (a->cur < 1 || a->cur >= NSPECS)
        return 1;
    tui_col c = SPECS[a->cur].col;
    if (c == COL_ID || c == COL_NAME) {
        tui_app_message(a, "%s is always shown", tui_col_name(c));
        return 1;
    }
    a->col_off ^= 1u << c;
    if (a->rows.sort == c && (a->col_off >> c & 1))
        a->rows.sort = COL_ID;
    a->rows_dirty = 1;
    return 1;
}
