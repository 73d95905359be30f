/*
 * app.h - the TUI's state and its two entry points: draw the current
 * view, handle a key.  Shared by the views (tasks_view.c, detail.c,
 * views.c), the screen helpers (draw.c) and the main loop (main.c); the
 * benchmark drives it directly on a virtual terminal.
 *
 * Screen layout: two header lines (process, mode, counts), the view's
 * title or column line, the view's rows, and one footer line (key hints,
 * the filter prompt or a message).  Every view draws only the rows that
 * fit; none keeps pointers into the model from one refresh to the next.
 */
#ifndef TS_TUI_APP_H
#define TS_TUI_APP_H

#include <stddef.h>
#include <stdint.h>

#include "rows.h"
#include "source.h"
#include "symbolize.h"

typedef enum tui_view {
    VIEW_TASKS, VIEW_LOOPS, VIEW_RESOURCES, VIEW_WARNINGS, /* the tabs, in order */
    VIEW_TASK, VIEW_RESOURCE, VIEW_HELP, VIEW_COLUMNS, VIEW_WHY
} tui_view;

typedef enum tui_style {
    ST_NORMAL, ST_TITLE, ST_HEAD, ST_SECTION, ST_DIM, ST_GOOD, ST_WARN, ST_BAD, ST_ACCENT,
    ST_COUNT
} tui_style;

typedef enum tui_link { LINK_NONE, LINK_TASK, LINK_RESOURCE } tui_link;

/* One line of a line view (everything but the Tasks table). */
typedef struct tui_line {
    char text[480];
    uint8_t style;
    uint8_t link;
    uint64_t id;
} tui_line;

typedef struct tui_place {       /* where to come back to */
    uint8_t view;
    uint64_t subject;
    size_t cur, top;
} tui_place;

struct tui_symcache;

typedef struct tui_loop_rate {
    uint64_t loop, steps, at_ns;
    double rate;
} tui_loop_rate;

typedef struct tui_app {
    tui_src *src;
    int color, utf8;
    int quit;

    tui_view view;
    uint64_t subject;            /* task or resource of a detail view */
    size_t cur, top;             /* cursor and first row shown, any view */
    tui_place back[64];
    int nback;

    /* Tasks table */
    tui_rows rows;
    uint64_t rows_gen;
    int rows_dirty;
    tui_row *win;
    size_t win_cap, win_n;
    int colw[COL_COUNT];         /* last layout: 0 = column hidden */
    uint32_t col_off;            /* columns the user hid (bit per tui_col, `c`) */

    /* line views: the sink keeps lines [first, first + cap) of what a
     * builder emits, and counts them all */
    tui_line *lines;
    size_t lines_cap, lines_first, lines_n, lines_total;

    /* the filter prompt */
    int prompting;
    char saved_filter[64];

    char msg[200];
    uint64_t msg_until;

    /* the cancel key in a task's detail (detail.c): y/n asked in the
     * footer, then the request in flight until the loop answers */
    uint64_t confirm_task;       /* task asked about, 0 when not asking */
    char confirm[200];           /* the footer's question */
    ts_cancel_req cancel;
    int cancel_pending;
    uint64_t cancel_until;       /* wall ns: stop waiting for the answer */

    ts_symbolizer *sym;
    size_t sym_modules;
    struct tui_symcache *symcache;
    tui_loop_rate rates[32];
    size_t nrates;

    char *why_text;              /* the why view's text (why_view.c) */
} tui_app;

int tui_app_init(tui_app *a, tui_src *src, int color);
void tui_app_free(tui_app *a);
/* Draw the whole screen (stdscr) and refresh the terminal. */
void tui_app_draw(tui_app *a);
/* Handle one key from getch(). */
void tui_app_key(tui_app *a, int key);
/* Show a message in the footer for a few seconds. */
void tui_app_message(tui_app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- draw.c: screen helpers -------------------------------------------- */
void tui_styles_init(int color);
int tui_attr(const tui_app *a, tui_style st);
/* Write UTF-8 text at (y, x), clipped to width columns and padded with
 * spaces to exactly width; returns the columns the text used. */
int tui_put(int y, int x, int width, int attr, const char *text);
void tui_draw_header(tui_app *a);
void tui_draw_footer(tui_app *a, const char *hints);
/* Draw the line view the sink holds, with the cursor on a->cur. */
void tui_draw_lines(tui_app *a, int y0, int height);
/* One blocked episode with its symbolized stack (views.c), as lines. */
void tui_emit_episode(tui_app *a, const tm_blocked *b);
/* Human numbers: "12.3k" */
void tui_fmt_count(char *buf, size_t len, double v);
/* Time relative to the start of the trace: "+12.345s" */
void tui_fmt_at(const tui_app *a, char *buf, size_t len, uint64_t ns);

/* ---- line sink (app.c) --------------------------------------------------- */
/* Emit one line; returns it for the builder to fill if it is kept,
 * NULL otherwise (the line still counts). */
tui_line *tui_emit(tui_app *a, tui_style st, tui_link link, uint64_t id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Would the next emitted line be kept?  Builders may skip formatting. */
int tui_emit_wanted(const tui_app *a);
/* Count a line without formatting it (only when not wanted). */
void tui_emit_skip(tui_app *a, tui_link link);
/* Rows of content below the header and view title, above the footer. */
int tui_content_height(void);
/* Emit text wrapped at word boundaries to the terminal's width: the first
 * line starts with head (already formatted), continuation lines are
 * indented by indent columns.  Every piece carries the same link. */
void tui_emit_wrapped(tui_app *a, tui_style st, tui_link link, uint64_t id, const char *head,
                      int indent, const char *text);
/* text without a leading "taskscope: " (the runtime's diagnostics carry
 * it; a view that already says where a line comes from does not). */
const char *tui_strip_prefix(const char *text);

/* ---- the views --------------------------------------------------------- */
void tui_tasks_draw(tui_app *a, int y0, int height);
int tui_tasks_key(tui_app *a, int key);       /* 1 if handled */
uint64_t tui_tasks_selected(tui_app *a);
void tui_build_task(tui_app *a);              /* detail.c */
void tui_build_resource(tui_app *a);
/* The task detail's keys: K or F9 asks to cancel the task (live only),
 * then y sends the request; 1 if handled (any key answers the question). */
int tui_task_key(tui_app *a, int key);
/* Report the answer to a cancel in flight in the footer (each draw). */
void tui_cancel_poll(tui_app *a);
/* The why view (why_view.c): compute task's tree (0, or -1 with a
 * footer message), then build its lines. */
int tui_why_show(tui_app *a, uint64_t task);
void tui_build_why(tui_app *a);
void tui_build_loops(tui_app *a);             /* views.c */
void tui_build_resources(tui_app *a);
void tui_build_warnings(tui_app *a);
void tui_build_help(tui_app *a);
void tui_build_columns(tui_app *a);           /* tasks_view.c: the column chooser */
int tui_columns_key(tui_app *a, int key);     /* 1 if handled */
/* Symbolize pc (cached); is_return as in ts_symbolize. */
const ts_frame *tui_symbolize(tui_app *a, uint64_t pc, int is_return);

#endif
