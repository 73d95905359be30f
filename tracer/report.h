/*
 * report.h - the text and JSON reports the CLI prints, all from a model:
 * ps (asyncio's all_tasks table), pstree (the task tree with what each
 * task awaits), blocked (every blocked-loop episode and slow step, with
 * symbolized stacks), stats (per task name and per loop).
 */
#ifndef TS_TRACER_REPORT_H
#define TS_TRACER_REPORT_H

#include <stdio.h>

#include "model.h"
#include "symbolize.h"

typedef struct tr_opts {
    int json;          /* one JSON document instead of a table */
    int all;           /* include finished tasks in ps/pstree */
    const char *source;/* "pid 1234" or the recording's path, for headers */
} tr_opts;

void tr_ps(FILE *out, const tm_model *m, const tr_opts *o);
void tr_pstree(FILE *out, const tm_model *m, const tr_opts *o);
void tr_blocked(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o);
void tr_stats(FILE *out, const tm_model *m, const tr_opts *o);
/* Warnings (deadlocks, stuck tasks, diagnostics), appended to text
 * reports; returns how many there are.  (Every JSON report ends with
 * them as "warnings":[{"kind","task","text"}].) */
size_t tr_warnings(FILE *out, const tm_model *m, const tr_opts *o);

/* JSON string escaping, shared by the reports and the exports. */
void tr_json_str(FILE *out, const char *s);

/* Text helpers shared with the TUI (tui/), so both say things the same
 * way: a duration ("12.3ms"), a system call by name ("nanosleep", or
 * "syscall N"), and what a task awaits ("task #12 fetch", "sleep",
 * "lock 0x55..", "-" when it awaits nothing). */
void tr_fmt_dur(char *buf, size_t len, uint64_t ns);
void tr_syscall_text(char *buf, size_t len, int nr);
void tr_awaits_text(const tm_model *m, const tm_task *t, char *buf, size_t len);

#endif
