/*
 * app.c - the TUI's state machine: which view is shown, the cursor, the
 * way back, the filter prompt, and the line sink the line views build
 * into (see app.h).
 *
 * Invariants: a->cur < number of rows of the current view whenever that
 * number is > 0 (clamped on every draw, since the model moves under the
 * cursor); a->back holds at most 64 places, the oldest dropped first.
 */
#include <curses.h>
#include <errno.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

int tui_content_height(void) { return LINES - 4 > 1 ? LINES - 4 : 1; }

int tui_app_init(tui_app *a, tui_src *src, int color) {
    memset(a, 0, sizeof *a);
    a->src = src;
    a->color = color;
    const char *cs = nl_langinfo(CODESET);
    a->utf8 = cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
    tui_rows_init(&a->rows);
    /* a replay usually ends with everything finished: show it */
    a->rows.show_finished = src->mode == TUI_REPLAY;
    a->rows_dirty = 1;
    a->lines_cap = 256;
    a->lines = calloc(a->lines_cap, sizeof *a->lines);
    return a->lines ? 0 : -ENOMEM;
}

void tui_app_free(tui_app *a) {
    tui_rows_free(&a->rows);
    free(a->win);
    free(a->lines);
    free(a->symcache);
    free(a->why_text);
    ts_symbolizer_free(a->sym);
    memset(a, 0, sizeof *a);
}

void tui_app_message(tui_app *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->msg, sizeof a->msg, fmt, ap);
    va_end(ap);
    a->msg_until = tui_wall_ns() + 3000000000ull;
}

/* ---- the line sink ----------------------------------------------------------- */

int tui_emit_wanted(const tui_app *a) {
    return a->lines_total >= a->lines_first && a->lines_total - a->lines_first < a->lines_cap;
}

void tui_emit_skip(tui_app *a, tui_link link) {
    (void)link;
    a->lines_total++;
}

tui_line *tui_emit(tui_app *a, tui_style st, tui_link link, uint64_t id, const char *fmt, ...) {
    if (!tui_emit_wanted(a)) {
        a->lines_total++;
        return NULL;
    }
    tui_line *l = &a->lines[a->lines_total - a->lines_first];
    a->lines_total++;
    a->lines_n++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    l->style = (uint8_t)st;
    l->link = (uint8_t)link;
    l->id = id;
    return l;
}

const char *tui_strip_prefix(const char *text) {
    return strncmp(text, "taskscope: ", 11) ? text : text + 11;
}

/* Columns a UTF-8 string takes, counting one per character (what the
 * views print is escaped text: no wide or control characters matter). */
static size_t text_cols(const char *s, size_t bytes) {
    size_t n = 0;
    for (size_t i = 0; i < bytes && s[i]; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* Bytes of s that fit in cols columns, cut after the last space that
 * fits (a word is split only when it alone is longer than a line), so
 * the pieces joined with single spaces give the text back. */
static size_t fit_bytes(const char *s, size_t cols) {
    size_t i = 0, c = 0, space = 0;
    while (s[i] && c < cols) {
        if (s[i] == ' ')
            space = i + 1;
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        c++;
    }
    if (!s[i])
        return i;
    if (s[i] == ' ')
        return i + 1;
    return space ? space : i;
}

void tui_emit_wrapped(tui_app *a, tui_style st, tui_link link, uint64_t id, const char *head,
                      int indent, const char *text) {
    size_t width = COLS > 20 ? (size_t)COLS : 20;
    size_t hcols = text_cols(head, strlen(head));
    size_t room = hcols < width ? width - hcols : 1;
    size_t n = fit_bytes(text, room);
    tui_emit(a, st, link, id, "%s%.*s", head, (int)n, text);
    text += n;
    if (indent < 0 || (size_t)indent + 10 > width)
        indent = 2;
    while (*text) {
        n = fit_bytes(text, width - (size_t)indent);
        tui_emit(a, st, link, id, "%*s%.*s", indent, "", (int)n, text);
        text += n;
    }
}

static void build_lines(tui_app *a, size_t first, size_t n) {
    if (n > a->lines_cap) {
        tui_line *p = realloc(a->lines, n * sizeof *p);
        if (p) {
            a->lines = p;
            a->lines_cap = n;
        }
    }
    size_t cap = a->lines_cap;
    a->lines_cap = n < cap ? n : cap; /* keep only the window */
    a->lines_first = first;
    a->lines_n = a->lines_total = 0;
    switch (a->view) {
    case VIEW_TASK: tui_build_task(a); break;
    case VIEW_RESOURCE: tui_build_resource(a); break;
    case VIEW_LOOPS: tui_build_loops(a); break;
    case VIEW_RESOURCES: tui_build_resources(a); break;
    case VIEW_WARNINGS: tui_build_warnings(a); break;
    case VIEW_HELP: tui_build_help(a); break;
    case VIEW_COLUMNS: tui_build_columns(a); break;
    case VIEW_WHY: tui_build_why(a); break;
    default: break;
    }
    a->lines_cap = cap;
}

/* Build the current line view so that a->cur is on screen. */
static void build_visible(tui_app *a, int height) {
    build_lines(a, a->top, (size_t)height);
    size_t n = a->lines_total, top = a->top;
    if (!n) {
        a->cur = a->top = 0;
        return;
    }
    if (a->cur >= n)
        a->cur = n - 1;
    if (a->cur < a->top)
        a->top = a->cur;
    if (a->cur >= a->top + (size_t)height)
        a->top = a->cur - (size_t)height + 1;
    if (a->top + (size_t)height > n)
        a->top = n > (size_t)height ? n - (size_t)height : 0;
    if (a->top != top)
        build_lines(a, a->top, (size_t)height);
}

/* The line under the cursor, if the sink holds it. */
static const tui_line *cursor_line(tui_app *a) {
    build_visible(a, tui_content_height());
    if (a->cur < a->lines_first || a->cur - a->lines_first >= a->lines_n)
        return NULL;
    return &a->lines[a->cur - a->lines_first];
}

/* ---- drawing --------------------------------------------------------------- */

static const char *view_title(const tui_app *a) {
    switch (a->view) {
    case VIEW_TASKS: return "";
    case VIEW_TASK: return " Task detail  (Enter follows a link, Esc goes back)";
    case VIEW_RESOURCE: return " Resource  (Enter opens a task, Esc goes back)";
    case VIEW_LOOPS: return " Loops: lag, steps, what is running, what blocked them";
    case VIEW_RESOURCES: return " Resources: locks, semaphores, events, conditions, barriers, queues";
    case VIEW_WARNINGS: return " Warnings  (Enter opens the task)";
    case VIEW_HELP: return " Help  (Up/Down PgUp/PgDn scroll, Esc returns)";
    case VIEW_COLUMNS: return " Columns of the Tasks view  (Space or Enter shows/hides, Esc returns)";
    case VIEW_WHY: return " Why: where the task's wall time went  (Up/Down PgUp/PgDn scroll, Esc returns)";
    }
    return "";
}

static const char *hints(const tui_app *a) {
    if (a->confirm_task)
        return a->confirm;
    if (a->view == VIEW_TASKS)
        return a->src->mode == TUI_REPLAY
                   ? " q quit ? help Enter open / filter s sort r rev t tree f done c cols"
                     " Space play <- -> time n next-warning"
                   : " q quit ? help Enter open / filter s/S sort r reverse t tree f finished"
                     " c columns 1-4 views";
    if (a->view == VIEW_HELP || a->view == VIEW_WHY)
        return " Up Down PgUp PgDn Home End scroll  Esc ? q returns";
    if (a->view == VIEW_COLUMNS)
        return " Up Down move  Space Enter show/hide  Esc returns";
    if (a->view == VIEW_TASK && a->src->mode == TUI_LIVE)
        return " q quit ? help Enter follow link Esc back K cancel w why 1-4 views Tab next view";
    return a->src->mode == TUI_REPLAY
               ? " q quit ? help Enter follow Esc back Space play <- -> time n next-warning 1-4 views"
               : " q quit ? help Up/Down move Enter follow link Esc back 1-4 views Tab next view";
}

void tui_app_draw(tui_app *a) {
    tui_cancel_poll(a);
    if (a->rows_dirty || a->rows_gen != a->src->gen) {
        tui_rows_build(&a->rows, a->src->model);
        a->rows_gen = a->src->gen;
        a->rows_dirty = 0;
    }
    int height = tui_content_height();
    if (a->view == VIEW_TASKS) {
        tui_tasks_draw(a, 2, height + 1);
    } else {
        tui_put(2, 0, COLS, tui_attr(a, ST_TITLE), view_title(a));
        build_visible(a, height);
        tui_draw_lines(a, 3, height);
    }
    tui_draw_header(a); /* after the view: it says what the layout hid */
    tui_draw_footer(a, hints(a));
    if (!a->prompting)
        move(LINES - 1, COLS - 1);
    refresh();
}

/* ---- keys ------------------------------------------------------------------ */

static void go(tui_app *a, tui_view view, uint64_t subject) {
    if (a->nback == (int)(sizeof a->back / sizeof a->back[0])) {
        memmove(a->back, a->back + 1, sizeof a->back - sizeof a->back[0]);
        a->nback--;
    }
    a->back[a->nback++] = (tui_place){(uint8_t)a->view, a->subject, a->cur, a->top};
    a->view = view;
    a->subject = subject;
    a->cur = a->top = 0;
}

static void go_back(tui_app *a) {
    if (!a->nback) {
        if (a->view != VIEW_TASKS) {
            a->view = VIEW_TASKS;
            a->cur = a->top = 0;
        }
        return;
    }
    tui_place p = a->back[--a->nback];
    a->view = (tui_view)p.view;
    a->subject = p.subject;
    a->cur = p.cur;
    a->top = p.top;
}

/* The tab a view belongs to (a detail view to the list it opens from). */
static int current_tab(const tui_app *a) {
    return a->view == VIEW_TASK ? VIEW_TASKS : a->view == VIEW_RESOURCE ? VIEW_RESOURCES : (int)a->view;
}

static void tab(tui_app *a, int view) {
    a->nback = 0;
    if (a->view == (tui_view)view)
        return;
    a->view = (tui_view)view;
    a->subject = 0;
    a->top = 0;
    /* tables start on their first row, not on the column line */
    a->cur = view == VIEW_RESOURCES || view == VIEW_WARNINGS ? 1 : 0;
}

static void enter(tui_app *a) {
    if (a->view == VIEW_TASKS) {
        uint64_t id = tui_tasks_selected(a);
        if (id)
            go(a, VIEW_TASK, id);
        return;
    }
    const tui_line *l = cursor_line(a);
    if (!l || !l->link) {
        tui_app_message(a, "nothing to open on this line");
        return;
    }
    go(a, l->link == LINK_TASK ? VIEW_TASK : VIEW_RESOURCE, l->id);
}

static void move_cursor(tui_app *a, long delta, int to_end) {
    size_t n = a->view == VIEW_TASKS ? a->rows.count : a->lines_total;
    if (to_end < 0)
        a->cur = 0;
    else if (to_end > 0)
        a->cur = n ? n - 1 : 0;
    else if (delta < 0)
        a->cur = (size_t)-delta > a->cur ? 0 : a->cur - (size_t)-delta;
    else
        a->cur += (size_t)delta;
    if (n && a->cur >= n)
        a->cur = n - 1;
}

static void prompt_key(tui_app *a, int key) {
    size_t len = strlen(a->rows.filter);
    if (key == 27) { /* Esc: back to the filter before the prompt */
        memcpy(a->rows.filter, a->saved_filter, sizeof a->rows.filter);
        a->prompting = 0;
    } else if (key == '\n' || key == '\r' || key == KEY_ENTER) {
        a->prompting = 0;
    } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (len)
            a->rows.filter[len - 1] = 0;
    } else if (key == 21) { /* Ctrl-U */
        a->rows.filter[0] = 0;
    } else if (key >= 32 && key < 127 && len + 1 < sizeof a->rows.filter) {
        a->rows.filter[len] = (char)key;
        a->rows.filter[len + 1] = 0;
    } else {
        return;
    }
    a->cur = a->top = 0;
    a->rows_dirty = 1;
}

static int replay_key(tui_app *a, int key) {
    tui_src *s = a->src;
    if (s->mode != TUI_REPLAY)
        return 0;
    int64_t step = 0;
    switch (key) {
    case ' ': case 'p':
        tui_replay_play(s, !s->playing);
        return 1;
    case KEY_LEFT: step = -1000000000ll; break;
    case KEY_RIGHT: step = 1000000000ll; break;
    case '[': step = -10000000000ll; break;
    case ']': step = 10000000000ll; break;
    case '<': step = -100000000ll; break;
    case '>': step = 100000000ll; break;
    case 'b': tui_replay_seek(s, s->t0); return 1;
    case 'e': tui_replay_seek(s, s->t_end); return 1;
    case '+': if (s->speed < 64) s->speed *= 2; return 1;
    case '-': if (s->speed > 1.0 / 64) s->speed /= 2; return 1;
    case 'n':
        if (tui_replay_next_warning(s) != 0) {
            tui_app_message(a, "no warning after the cursor");
        } else {
            const tm_warning *w = tm_model_warning_at(s->model, tm_model_warning_count(s->model) - 1);
            tui_app_message(a, "! %s", tui_strip_prefix(w->text));
        }
        return 1;
    default: return 0;
    }
    uint64_t t = s->cursor;
    t = step < 0 ? (t - s->t0 > (uint64_t)-step ? t + (uint64_t)step : s->t0) : t + (uint64_t)step;
    tui_replay_seek(s, t);
    return 1;
}

void tui_app_key(tui_app *a, int key) {
    if (key == KEY_RESIZE || key == ERR)
        return;
    if (a->prompting) {
        prompt_key(a, key);
        return;
    }
    if (a->confirm_task && tui_task_key(a, key))
        return;
    if (key == 'q' || key == 3) {
        a->quit = 1;
        return;
    }
    int page = tui_content_height() - 1;
    if (a->view == VIEW_HELP || a->view == VIEW_COLUMNS || a->view == VIEW_WHY) {
        /* a long view scrolls; only a leaving key leaves */
        switch (key) {
        case KEY_UP: case 'k': move_cursor(a, -1, 0); return;
        case KEY_DOWN: case 'j': move_cursor(a, 1, 0); return;
        case KEY_PPAGE: move_cursor(a, -page, 0); return;
        case KEY_NPAGE: move_cursor(a, page, 0); return;
        case KEY_HOME: case 'g': move_cursor(a, 0, -1); return;
        case KEY_END: case 'G': move_cursor(a, 0, 1); return;
        case 27: case '?': case 'h': case KEY_F(1): case KEY_BACKSPACE: case 127: case 8:
            go_back(a);
            return;
        default: break;
        }
        if (a->view == VIEW_COLUMNS && tui_columns_key(a, key))
            return;
        if (key == '1' || key == '2' || key == '3' || key == '4')
            tab(a, key - '1');
        return;
    }
    switch (key) {
    case '?': case 'h': case KEY_F(1): go(a, VIEW_HELP, 0); return;
    case '1': case '2': case '3': case '4': tab(a, key - '1'); return;
    case '\t': tab(a, (current_tab(a) + 1) % 4); return;
    case KEY_BTAB: tab(a, (current_tab(a) + 3) % 4); return;
    case KEY_UP: case 'k': move_cursor(a, -1, 0); return;
    case KEY_DOWN: case 'j': move_cursor(a, 1, 0); return;
    case KEY_PPAGE: move_cursor(a, -page, 0); return;
    case KEY_NPAGE: move_cursor(a, page, 0); return;
    case KEY_HOME: case 'g': move_cursor(a, 0, -1); return;
    case KEY_END: case 'G': move_cursor(a, 0, 1); return;
    case '\n': case '\r': case KEY_ENTER: enter(a); return;
    default: break;
    }
    if (replay_key(a, key))
        return;
    if (a->view == VIEW_TASK && key == 'w') { /* why_view.c */
        if (tui_why_show(a, a->subject) == 0)
            go(a, VIEW_WHY, a->subject);
        return;
    }
    if (a->view == VIEW_TASK && tui_task_key(a, key))
        return;
    if (key == 'P') { /* top -- PROGRAM: the next process followed (source.h) */
        if (tui_src_next_process(a->src)) {
            tab(a, current_tab(a));
            a->cur = a->top = 0;
            a->rows_dirty = 1;
        } else {
            tui_app_message(a, "no forked child being followed");
        }
        return;
    }
    if (a->view == VIEW_TASKS) {
        if (key == '/') {
            memcpy(a->saved_filter, a->rows.filter, sizeof a->saved_filter);
            a->prompting = 1;
            return;
        }
        if (key == 'c' || key == KEY_F(2)) {
            go(a, VIEW_COLUMNS, 0);
            a->cur = 1;
            return;
        }
        if (tui_tasks_key(a, key))
            return;
    } else if (key == 'f') { /* freed resources in the Resources view */
        a->rows.show_finished = !a->rows.show_finished;
        a->rows_dirty = 1;
        return;
    }
    if (key == 27 || key == KEY_BACKSPACE || key == 127 || key == 8) {
        go_back(a);
        return;
    }
    if (key == ' ')
        tui_app_message(a, "Space plays and pauses a replay; a live view follows the process");
}
