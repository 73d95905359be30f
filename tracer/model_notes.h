/*
 * model_notes.h - model_notes.c as model.c sees it: the events it takes.
 */
#ifndef TS_TRACER_MODEL_NOTES_H
#define TS_TRACER_MODEL_NOTES_H

#include "model.h"

void tm__on_task_stack(tm_model *m, const ts_ev_task_stack *e, uint64_t ns);
void tm__on_task_field(tm_model *m, const ts_ev_task_field *e);
void tm__on_cancel_request(tm_model *m, const ts_ev_cancel_request *e);
void tm__on_log(tm_model *m, const ts_ev_log *e, uint64_t ns);
void tm__notes_free(tm_model *m);
/* Give dst (a tm_model_clone of src) a deep copy of src's notes: the
 * clone must share no memory with the original.  0, or -ENOMEM (dst then
 * has none). */
int tm__notes_clone(tm_model *dst, const tm_model *src);

#endif
