/*
 * report_impl.h - what the report files (report.c: ps and pstree;
 * report_blocked.c; report_stats.c) share: the opening and closing of
 * every report, so each says where it comes from, its status and the
 * warnings the same way.
 */
#ifndef TS_TRACER_REPORT_IMPL_H
#define TS_TRACER_REPORT_IMPL_H

#include "report.h"
#include "textsafe.h"

/* Opens a JSON report: {"format_version":N,"source":..,"status":..,
 * "dropped":N,"tasks_known":N,"tasks_live":N, -- the caller goes on
 * with its own lists. */
void tr__json_head(FILE *out, const tm_model *m, const tr_opts *o);
/* Closes a JSON report: ,"warnings":[...]}\n (after the caller's last
 * list is closed). */
void tr__json_tail(FILE *out, const tm_model *m);
/* The text header line: source (status): counts, drops. */
void tr__text_header(FILE *out, const tm_model *m, const tr_opts *o);
/* "key":value pairs for an absent-able value: null when absent. */
void tr__json_u64_or_null(FILE *out, const char *key, uint64_t v, int present);
void tr__json_str_or_null(FILE *out, const char *key, const char *s, int present);
/* "err":"ECANCELED","err_code":-125 (both null for 0). */
void tr__json_err(FILE *out, int32_t err);
/* The task's name, or "" when unknown. */
const char *tr__task_name(const tm_model *m, uint64_t id);

/* One task as ps and pstree print it: everything already in words, so a
 * row made from the model now (tr__row_from_task) and one made earlier
 * and read back from a table (report_sql.c) print alike.  Strings point
 * into the row's buffers or into whatever made the row. */
typedef struct tr_row {
    uint64_t seq, id, parent, loop;  /* parent 0: none */
    const char *name, *state;
    uint64_t age_ns, busy_ns, scheduled_ns, idle_ns, polls;
    const char *awaits;              /* the wait kind's name; NULL: awaits nothing */
    const char *awaits_text;         /* "task #12 fetch", "sleep"; "-" for nothing */
    int has_object;                  /* awaits_object is one (fd 0 is) */
    uint64_t awaits_object;
    const char *await_site, *spawn_site; /* "-" for none */
    int32_t err;
    const char *err_message;         /* NULL: none */
    uint32_t cancel_requests, warnings;
    int lost, finished;
    char aw_buf[160], asite_buf[256], ssite_buf[256];
} tr_row;

void tr__row_from_task(const tm_model *m, const tm_task *t, tr_row *r);
/* A ps line or JSON object (first: no comma before it). */
void tr__ps_row(FILE *out, const tr_row *r, const tr_opts *o, int first);
void tr__ps_head(FILE *out, const tm_model *m, const tr_opts *o);
/* Closes ps: tasks_hidden (JSON) or the hidden-tasks line, then the
 * warnings. */
void tr__ps_tail(FILE *out, const tm_model *m, const tr_opts *o, size_t hidden);
/* A pstree node: prefix is the indent drawn so far; printed counts the
 * nodes printed (0: no comma before this JSON object). */
void tr__tree_row(FILE *out, const tr_row *r, const tr_opts *o, const char *prefix, int last,
                  int depth, size_t printed);
/* A node's children's indent: appends to prefix (of length plen, in a
 * buffer of 520) what the children's lines start with and sets *nlen to
 * the new length; 0 when the tree is drawn no deeper (too deep). */
int tr__tree_indent(char *prefix, size_t plen, int last, int depth, size_t *nlen);
/* "(N finished tasks not shown: --all lists them)", when N > 0. */
void tr__hidden_note(FILE *out, size_t hidden);

/* Parent cycles in a damaged recording (report.c): tasks given as
 * (id, parent, order); on each cycle the task first in order has its
 * parent edge cut (cut[i] = 1), and the report names the cycle's
 * tasks. */
typedef struct tr_node {
    uint64_t id, parent;
} tr_node;
typedef struct tr_cycles {
    unsigned char *cut;     /* by node index */
    uint64_t *ids;          /* every cycle's task ids, one cycle after another */
    size_t *len;            /* each cycle's length */
    size_t nids, ncycles;
} tr_cycles;
/* nodes are the listed tasks in report order; 0 or -ENOMEM. */
int tr__cycles_find(tr_cycles *pc, const tr_node *nodes, size_t n);
void tr__cycles_free(tr_cycles *pc);
/* Text: one line per cycle.  JSON: ,"parent_cycles":[[id,...],...]. */
void tr__cycles_put(FILE *out, const tr_cycles *pc, int json);
/* Closes pstree: JSON tasks_hidden, tasks_too_deep, parent_cycles; text
 * the too-deep and hidden lines; then the warnings. */
void tr__tree_tail(FILE *out, const tm_model *m, const tr_opts *o, size_t hidden,
                   size_t too_deep, const tr_cycles *pc);

#endif
