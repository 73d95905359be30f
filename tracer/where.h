/*
 * where.h - the stacks of parked tasks and the user's annotations, as
 * reports: `taskscope where`, the stack section of `ps --stacks` /
 * `pstree --stacks`, and the fields and log section of `ps --fields`.
 * tw_task_frames gives one task's symbolized frames (the TUI symbolizes
 * through its own cache instead, tui_symbolize).
 *
 * The stacks come from the model (tm_model_task_stack): the debug
 * runtime walks each parked task's frame-pointer chain during a state
 * dump, inside the task's own stack, and sends the return addresses with
 * the module map; they are symbolized here with libdw (symbolize.h).
 */
#ifndef TS_TRACER_WHERE_H
#define TS_TRACER_WHERE_H

#include <stdio.h>

#include "model.h"
#include "report.h"
#include "symbolize.h"

/* Give sym the model's module map (call once per symbolizer and model,
 * before tw_task_frames). */
void tw_add_modules(ts_symbolizer *sym, const tm_model *m);

/* The symbolized frames of task's latest recorded stack, innermost
 * first, into out (at most max); *info (may be NULL) gets the stack's
 * time and flags.  Returns the number of frames, or -ENOENT when no
 * stack of that task is known. */
int tw_task_frames(const tm_model *m, ts_symbolizer *sym, uint64_t task, ts_frame *out,
                   int max, tm_task_stack *info);

/* `where`: every live task's stack (or only task's, if not 0), text or
 * JSON.  Returns 0, or -ENOENT when task is given and unknown. */
int tr_where(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o,
             uint64_t task);
/* The stack section appended to ps/pstree --stacks (text only). */
void tr_stacks_section(FILE *out, const tm_model *m, ts_symbolizer *sym);
/* The fields and log section appended to ps --fields (text only). */
void tr_fields_section(FILE *out, const tm_model *m);

#endif
