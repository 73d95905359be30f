/*
 * why_agg.h - where the time of many tasks went (issue 19 point 2): the
 * tasks spawned at one site, or with one name, their wall-time
 * distribution, and the why trees (why.h) of a set of them merged into
 * one, for `taskscope why --site/--name` and the folded-stack export.
 *
 * A merged tree has the shape of one task's tree and the same invariant:
 * every node's children that partition it (all but a WHY_SCHED node's
 * "ran meanwhile" tasks) add up to it.  Nodes are merged when they are
 * the same thing: the same part type, wait kind, object and await site,
 * or the same cause task in the same relation; their ns and counts add.
 */
#ifndef TS_TRACER_WHY_AGG_H
#define TS_TRACER_WHY_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "hdr.h"
#include "why.h"

/* The tasks of one process matching a site or a name, slowest first. */
typedef struct why_agg {
    int64_t pid;       /* the process they belong to (ids are per process) */
    size_t n;          /* tasks */
    uint64_t *task;    /* task numbers, by wall time descending */
    uint64_t *wall;    /* their wall times (ns): spawn to end, or to the recording's end */
    size_t live;       /* how many had not ended by the end of the recording */
    size_t other_pids; /* matching tasks left out: they belong to other processes */
    ts_hdr hist;       /* the wall times, TS_HDR_SIGFIGS digits */
} why_agg;

/* Find the tasks spawned at `site` ("file:line": the file's base name or
 * a path suffix at a '/') or, if site is NULL, named `name`, in the
 * traced process (or, if it has none, the first process that has some);
 * sets c's process to theirs.  0; -ENOENT when no task matches; -EINVAL
 * for a malformed site; -ENOMEM.  A sentence in err (errlen bytes) on
 * failure.  Free with why_agg_free. */
int why_agg_collect(why_ctx *c, const char *site, const char *name, why_agg *a, char *err,
                    size_t errlen);
void why_agg_free(why_agg *a);

/* How many of a's tasks (its first ones) are the slowest percentile:
 * those whose wall time is at or above the value at percentile p of the
 * histogram (at its precision), at least one. */
size_t why_agg_slowest(const why_agg *a, double p);

/* The why trees (depth levels of cause tasks) of tasks[0..n) merged into
 * one WHY_TASK node (task 0: no one task) whose ns is the sum of their
 * wall times and count the number of tasks merged: all n, or (max_nodes
 * > 0) the first ones until their trees have held max_nodes nodes (at
 * least one task).  A task during whose life more than 5,000 steps ran
 * is decomposed without cause tasks (depth 0: listing every task that
 * ran while it was runnable would take minutes); *shallow (may be NULL)
 * counts those.  NULL if memory ran out or a task is missing (errno).
 * Free with why_node_free. */
why_node *why_agg_tree(why_ctx *c, const uint64_t *tasks, size_t n, int depth,
                       size_t max_nodes, unsigned *shallow);

/* `taskscope why --site FILE:LINE | --name NAME [--json] [--depth N]
 * FILE`: the report.  Returns the command's exit code. */
int why_agg_command(const char *file, const char *site, const char *name, int json, int depth);

#endif
