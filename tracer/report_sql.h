/*
 * report_sql.h - ps and pstree on a whole recording, in bounded memory.
 *
 * The recording is replayed through a model that keeps at most 50,000
 * finished tasks, as the live one does.  Each task the model evicts is
 * first written, as ps and pstree print it (tr_row), into a table of a
 * private temporary SQLite database (on disk, a few MiB of page cache);
 * at the end of the replay the tasks still in the model join it.  The
 * reports then step through that table with SQL: ps in creation order,
 * pstree by walking each task's children through an index on
 * (parent, creation order).  Rows are printed as they are stepped, so
 * memory does not grow with the number of tasks (1M tasks: see README).
 *
 * The figures are the model's own (the same busy, scheduled and idle
 * accounting, names, sites and states as a report from a live process),
 * so output is what tr_ps and tr_pstree print from a model that kept
 * every task: an evicted task is finished and freed, and nothing the
 * model does afterwards changes its row, except a warning the recording
 * stored about it, which tr_table_finish adds.
 */
#ifndef TS_TRACER_REPORT_SQL_H
#define TS_TRACER_REPORT_SQL_H

#include <stddef.h>
#include <stdio.h>

#include "model.h"
#include "report.h"

typedef struct tr_table tr_table;

/* A fresh table, hooked to m (tm_model_on_evict) before any event is
 * applied to it.  NULL on error, with err set. */
tr_table *tr_table_new(tm_model *m, char *err, size_t len);
/* After the replay (and the model's last analysis): adds the tasks the
 * model still holds and the stored warnings' flags of evicted tasks, and
 * indexes the table.  0, or a negative errno code with err set. */
int tr_table_finish(tr_table *tb, tm_model *m, char *err, size_t len);
/* Unhooks nothing: free the model first or together. */
void tr_table_free(tr_table *tb);

/* ps and pstree from the table; the header, counts and warnings come
 * from the model, which saw every event. */
void tr_ps_table(FILE *out, const tm_model *m, tr_table *tb, const tr_opts *o);
void tr_pstree_table(FILE *out, const tm_model *m, tr_table *tb, const tr_opts *o);

#endif
