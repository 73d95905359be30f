/*
 * draw.c - screen helpers: styles with and without colour, clipped UTF-8
 * text, the header and footer lines, and the generic line view.
 *
 * Without colour (has_colors() false, NO_COLOR set or --no-color) every
 * style maps to a plain attribute (bold, reverse, dim), so nothing that
 * matters is said by colour alone: states are words, warnings carry "!".
 */
#include <curses.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "textsafe.h"

#include "app.h"

static int attrs[ST_COUNT];

void tui_styles_init(int color) {
    attrs[ST_NORMAL] = (int)A_NORMAL;
    attrs[ST_TITLE] = A_REVERSE | A_BOLD;
    attrs[ST_HEAD] = A_REVERSE;
    attrs[ST_SECTION] = A_BOLD;
    attrs[ST_DIM] = A_DIM;
    attrs[ST_GOOD] = A_BOLD;
    attrs[ST_WARN] = A_BOLD;
    attrs[ST_BAD] = A_BOLD;
    attrs[ST_ACCENT] = A_NORMAL;
    if (!color)
        return;
    start_color();
    use_default_colors();
    init_pair(1, COLOR_WHITE, COLOR_BLUE);
    init_pair(2, COLOR_GREEN, -1);
    init_pair(3, COLOR_YELLOW, -1);
    init_pair(4, COLOR_RED, -1);
    init_pair(5, COLOR_CYAN, -1);
    init_pair(6, COLOR_BLACK, COLOR_CYAN);
    attrs[ST_TITLE] = COLOR_PAIR(1) | A_BOLD;
    attrs[ST_HEAD] = COLOR_PAIR(6);
    attrs[ST_SECTION] = COLOR_PAIR(5) | A_BOLD;
    attrs[ST_GOOD] = COLOR_PAIR(2);
    attrs[ST_WARN] = COLOR_PAIR(3) | A_BOLD;
    attrs[ST_BAD] = COLOR_PAIR(4) | A_BOLD;
    attrs[ST_ACCENT] = COLOR_PAIR(5);
}

int tui_attr(const tui_app *a, tui_style st) {
    (void)a;
    return st < ST_COUNT ? attrs[st] : (int)A_NORMAL;
}

int tui_put(int y, int x, int width, int attr, const char *text) {
    if (width <= 0 || y < 0 || y >= LINES || x >= COLS)
        return 0;
    if (x + width > COLS)
        width = COLS - x;
    wchar_t buf[512];
    int cols = 0, n = 0;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    /* Names, messages and paths come from the traced program: escape
     * them visibly (textsafe.h), as the text reports do; what is left
     * below is printable UTF-8, and anything the locale cannot show is
     * drawn as '?'. */
    char safe[2048];
    ts_text_safe(safe, sizeof safe, text, (size_t)width);
    const char *p = safe;
    size_t left = strlen(p);
    while (left && n < (int)(sizeof buf / sizeof buf[0]) - 1) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, p, left, &st);
        if (k == (size_t)-1 || k == (size_t)-2) {
            wc = L'?';
            k = 1;
            memset(&st, 0, sizeof st);
        } else if (k == 0) {
            break;
        }
        int w = wc < 0x20 ? -1 : wcwidth(wc);
        if (w < 0) {
            wc = L'?';
            w = 1;
        }
        if (cols + w > width)
            break;
        buf[n++] = wc;
        cols += w;
        p += k;
        left -= k;
    }
    while (cols < width && n < (int)(sizeof buf / sizeof buf[0]) - 1) {
        buf[n++] = L' ';
        cols++;
    }
    buf[n] = 0;
    attrset(attr);
    mvaddnwstr(y, x, buf, n);
    attrset(A_NORMAL);
    return cols;
}

void tui_fmt_count(char *buf, size_t len, double v) {
    if (v < 1000)
        snprintf(buf, len, "%.0f", v);
    else if (v < 1e6)
        snprintf(buf, len, "%.1fk", v / 1e3);
    else
        snprintf(buf, len, "%.1fM", v / 1e6);
}

void tui_fmt_at(const tui_app *a, char *buf, size_t len, uint64_t ns) {
    uint64_t t0 = a->src->t0;
    if (!ns)
        snprintf(buf, len, "-");
    else if (ns >= t0)
        snprintf(buf, len, "+%.3fs", (double)(ns - t0) / 1e9);
    else
        snprintf(buf, len, "-%.3fs", (double)(t0 - ns) / 1e9);
}

static const char *mode_text(const tui_app *a, char *buf, size_t len) {
    const tui_src *s = a->src;
    if (s->mode == TUI_REPLAY)
        snprintf(buf, len, "REPLAY %s (%s)", s->path, s->status);
    else if (s->mode == TUI_LIVE)
        snprintf(buf, len, "LIVE %s%s%s", s->status,
                 s->path[0] ? s->finished ? ", recorded to " : ", recording to " : "",
                 s->path);
    else
        snprintf(buf, len, "%s", s->status);
    return buf;
}

static const char *const TABS[] = {"1 Tasks", "2 Loops", "3 Resources", "4 Warnings"};

/* Columns the tabs take at the right of line 1, 0 if they do not fit. */
static int tabs_width(void) {
    int width = 1;
    for (int i = 0; i < 4; i++)
        width += (int)strlen(TABS[i]) + 1;
    return width < COLS ? width : 0;
}

static void draw_tabs(tui_app *a, int y) {
    const char *const *names = TABS;
    int width = tabs_width();
    if (!width)
        return; /* too narrow: the footer names the keys */
    int x = COLS - width;
    tui_put(y, x, width, A_NORMAL, "");
    x++; /* a blank column after the counts */
    tui_view cur = a->view == VIEW_TASK ? VIEW_TASKS : a->view == VIEW_RESOURCE ? VIEW_RESOURCES
                                                                                 : a->view;
    for (int i = 0; i < 4; i++) {
        int w = (int)strlen(names[i]);
        tui_put(y, x, w, (int)cur == i ? tui_attr(a, ST_TITLE) : tui_attr(a, ST_HEAD), names[i]);
        x += w + 1;
    }
}

void tui_draw_header(tui_app *a) {
    const tui_src *s = a->src;
    const tm_model *m = s->model;
    char line[2048], mode[1024], ev[32], t[64];
    const char *exe = strrchr(s->exe, '/');
    exe = exe ? exe + 1 : s->exe;
    snprintf(line, sizeof line, " taskscope top | pid %d %s | runtime %s | %s", s->pid,
             exe[0] ? exe : "?", s->version[0] ? s->version : "?",
             mode_text(a, mode, sizeof mode));
    tui_put(0, 0, COLS, tui_attr(a, ST_TITLE), line);

    size_t warnings = tm_model_warning_count(m);
    tui_fmt_count(ev, sizeof ev, s->events_per_s);
    size_t n = 0;
    if (s->mode == TUI_REPLAY) {
        snprintf(t, sizeof t, "%s", s->playing ? "playing" : "paused");
        n = (size_t)snprintf(line, sizeof line, " +%.3fs / %.3fs %s %gx |",
                             (double)(s->cursor - s->t0) / 1e9, (double)(s->t_end - s->t0) / 1e9,
                             t, s->speed);
    }
    /* what narrows the Tasks view comes first: a filtered table must
     * never pass for the whole process */
    if (a->rows.filter[0] && !a->prompting)
        n += (size_t)snprintf(line + n, sizeof line - n, " filter: %s (%zu of %zu)%s |",
                              a->rows.filter, a->rows.count, a->rows.total,
                              COLS >= 100 ? " Esc clears" : "");
    if (a->rows.tree && n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, " tree |");
    /* the column line marks the sort column; when that column has no
     * room on screen, the header says what the order is */
    if (a->view == VIEW_TASKS && !a->colw[a->rows.sort] && n < sizeof line) {
        int desc = tui_col_descending(a->rows.sort) ^ a->rows.reverse;
        n += (size_t)snprintf(line + n, sizeof line - n, " sort %s%s |",
                              tui_col_name(a->rows.sort),
                              a->utf8 ? (desc ? "▼" : "▲") : (desc ? "v" : "^"));
    }
    /* then the counts, dropping the rate and a zero drop count before
     * the warnings when the line is too long for the terminal */
    char drops[48] = "", rate[48] = "";
    if (tm_model_dropped(m))
        snprintf(drops, sizeof drops, " | drops %" PRIu64, tm_model_dropped(m));
    snprintf(rate, sizeof rate, " | %s ev/s", ev);
    if (n < sizeof line) {
        int full = snprintf(line + n, sizeof line - n, " tasks %zu live / %zu%s | drops %" PRIu64
                            " | warnings %zu", a->rows.live, a->rows.total, rate,
                            tm_model_dropped(m), warnings);
        if ((int)n + full > COLS)
            full = snprintf(line + n, sizeof line - n, " tasks %zu live / %zu | warnings %zu%s",
                            a->rows.live, a->rows.total, warnings, drops);
        if ((int)n + full > COLS) /* still too long: the shortest words */
            snprintf(line + n, sizeof line - n, " %zu live / %zu | ! %zu%s", a->rows.live,
                     a->rows.total, warnings, drops);
    }
    int attr = tm_model_dropped(m) || warnings ? tui_attr(a, ST_WARN) : (int)A_NORMAL;
    int tw = tabs_width();
    if ((int)strlen(line) + tw > COLS)
        tw = 0; /* the counts matter more than the tabs */
    tui_put(1, 0, COLS - tw, attr, line);
    if (tw)
        draw_tabs(a, 1);
}

void tui_draw_footer(tui_app *a, const char *hints) {
    int y = LINES - 1;
    if (a->prompting) {
        char line[128];
        snprintf(line, sizeof line, "filter: %s", a->rows.filter);
        tui_put(y, 0, COLS, tui_attr(a, ST_TITLE), line);
        int x = 8 + (int)strlen(a->rows.filter);
        if (x < COLS)
            move(y, x);
        return;
    }
    if (a->msg[0] && tui_wall_ns() < a->msg_until) {
        tui_put(y, 0, COLS, tui_attr(a, ST_WARN), a->msg);
        return;
    }
    tui_put(y, 0, COLS, tui_attr(a, ST_HEAD), hints);
}

void tui_draw_lines(tui_app *a, int y0, int height) {
    for (int i = 0; i < height; i++) {
        size_t idx = a->top + (size_t)i;
        if (idx >= a->lines_total || idx < a->lines_first ||
            idx - a->lines_first >= a->lines_n) {
            tui_put(y0 + i, 0, COLS, A_NORMAL, "");
            continue;
        }
        const tui_line *l = &a->lines[idx - a->lines_first];
        int attr = tui_attr(a, (tui_style)l->style);
        if (idx == a->cur)
            attr = (attr & ~A_DIM) | A_REVERSE;
        tui_put(y0 + i, 0, COLS, attr, l->text);
    }
}
