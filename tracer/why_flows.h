/*
 * why_flows.h - a task's critical path as edges for the Perfetto export
 * (why_flows.c).
 */
#ifndef TS_TRACER_WHY_FLOWS_H
#define TS_TRACER_WHY_FLOWS_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"
#include "why.h"

/* The edges of task's critical path (c's process must be task's:
 * why_pick_pid): one per wait of task that has a cause task, and, depth
 * levels deep (1: the task's own waits only), per wait of a cause inside
 * the wait it caused.  *out is malloc'd (free it; NULL when *n is 0).
 * 0, -ENOENT no such task, -ENOMEM, -EINVAL an unreadable recording. */
int why_critical_edges(why_ctx *c, uint64_t task, int depth, ts_pf_edge **out, size_t *n);

#endif
