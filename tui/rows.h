/*
 * rows.h - the Tasks view's rows: which tasks pass the filter, in which
 * order, flat or as a tree under their parents.
 *
 * Built from the model on each refresh that follows a change, in one
 * pass over the tasks (filter and sort keys); a flat table is then never
 * sorted whole: tui_rows_window selects and orders just the rows on
 * screen (a partial quicksort), so scrolling to any depth costs O(n) and
 * drawing costs O(rows shown).  A tree needs the whole order and sorts
 * once per build (O(n log n)).  Rows hold task ids, never pointers, so a
 * window stays safe to read after the model changes.
 */
#ifndef TS_TUI_ROWS_H
#define TS_TUI_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef enum tui_col {
    COL_ID, COL_NAME, COL_STATE, COL_TOTAL, COL_BUSY, COL_SCHED, COL_IDLE, COL_POLLS,
    COL_AWAITS, COL_ASITE, COL_SSITE, COL_WARN, COL_COUNT
} tui_col;

typedef struct tui_row {
    uint64_t id;
    uint64_t last_mask;   /* tree: bit d set when the ancestor at depth d is a last child */
    uint16_t depth;       /* tree depth, 0 for roots and flat rows */
    uint8_t context;      /* tree + filter: shown only as an ancestor of a match */
} tui_row;

struct tui_key;
struct tui_slot {
    uint64_t id;
    uint32_t idx;
};

typedef struct tui_rows {
    /* settings, changed by the view */
    tui_col sort;
    int reverse;
    int show_finished;
    int tree;
    char filter[64];

    /* results of the last build */
    size_t count;         /* rows to show */
    size_t total, live;   /* tasks the model knows / unfinished */

    /* private */
    int desc;                            /* effective direction of the last build */
    uint8_t state_match[8], kind_match[32];
    struct tui_key *keys;
    size_t nkeys, keys_cap;
    tui_row *tree_rows;
    size_t tree_cap;
    char built_filter[64];
    uint8_t *str_match, *site_match;     /* by id: 0 unknown, 1 no, 2 yes */
    size_t str_cap, site_cap;
    char **site_text;                    /* by site id, for sorting */
    size_t site_text_cap;
    struct tui_slot *set;                /* tree: id -> index in keys */
    size_t set_cap;
} tui_rows;

void tui_rows_init(tui_rows *r);
void tui_rows_free(tui_rows *r);
/* Rebuild from the model with the current settings.  0 or -ENOMEM. */
int tui_rows_build(tui_rows *r, const tm_model *m);
/* Rows [start, start + n) in display order into out; returns how many. */
size_t tui_rows_window(tui_rows *r, size_t start, size_t n, tui_row *out);
/* The column's natural direction: 1 if it sorts largest first. */
int tui_col_descending(tui_col c);
const char *tui_col_name(tui_col c);

#endif
