/*
 * layout.c - the one fact about the runtime's private layout the BPF
 * programs need: where a struct ts_task keeps its id.  Some probes pass a
 * ts_task pointer (resource_acquired/release, task_suspend on a task)
 * and the events carry the id, as the debug runtime's do.
 *
 * Compiled against runtime/src with the runtime's own flags (the context
 * before the id is sized by the coroutine backend), so the offset is that
 * of the libraries built from the same tree, release and debug alike: the
 * struct has no debug-only fields.
 */
#include <stddef.h>

#include "loop_impl.h"
#include "layout.h"

size_t tsb_task_id_offset(void) { return offsetof(struct ts_task, id); }
