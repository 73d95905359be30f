/*
 * export_folded.h - wait flame graphs: a task's critical path (why.h), or
 * the merged paths of every task spawned at a site, as folded stacks
 * (`frame;frame;frame weight` lines: flamegraph.pl, inferno, speedscope).
 * export_folded.c says what the frames are and how they are escaped.
 */
#ifndef TS_TRACER_EXPORT_FOLDED_H
#define TS_TRACER_EXPORT_FOLDED_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ts_folded_opts {
    uint64_t task;    /* the task to draw, or 0 for ... */
    const char *site; /* ... every task spawned at "file:line" */
    int depth;        /* levels of cause tasks to follow (why --depth) */
} ts_folded_opts;

/* Write the folded stacks of the recording at file to out; weights are
 * ns and add up to the task's wall time (the sum of the site's tasks'
 * wall times; past 10,000 tasks, of the 10,000 slowest, as the root
 * frame says).  0, or a negative code with a sentence in err: -ENOENT no
 * such task or no task spawned at the site, -EINVAL a malformed site or
 * an unreadable recording, -ENOMEM, -EIO. */
int ts_export_folded(const char *file, FILE *out, const ts_folded_opts *o, char *err,
                     size_t errlen);

#endif
