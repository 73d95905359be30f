/*
 * report.h - the text and JSON reports the CLI prints, all from a model:
 * ps (asyncio's all_tasks table), pstree (the task tree with what each
 * task awaits), blocked (every blocked-loop episode and slow step, with
 * symbolized stacks), stats (per spawn site, or per name prefix, and per
 * loop).  On a recording, ps and pstree print the same thing streamed
 * from a table of every task (report_sql.h), in bounded memory.
 *
 * Output contract:
 *   - Text: every string that comes from the traced program or a
 *     recording (names, messages, paths, symbols) goes through
 *     textsafe.h: no control byte, escape sequence or invalid UTF-8
 *     reaches the terminal.  Each report ends with the warnings.
 *   - JSON: one document, valid UTF-8, starting with
 *     {"format_version":N,"source":..,"status":..,"dropped":..; absent
 *     values are null (never "-" or 0 standing for "none"); an error is
 *     "err":"ECANCELED","err_code":-125; every report ends with
 *     "warnings":[{"kind","time_ns","task","resource","text"}].
 */
#ifndef TS_TRACER_REPORT_H
#define TS_TRACER_REPORT_H

#include <stdio.h>

#include "model.h"
#include "symbolize.h"

/* Bumped whenever a JSON report changes shape.  2: nulls for absent
 * values, named errors, warnings with time and resource, stats groups
 * with HDR percentiles. */
#define TR_FORMAT_VERSION 2

typedef struct tr_opts {
    int json;          /* one JSON document instead of a table */
    int all;           /* include finished tasks in ps/pstree (without
                        * it, one line / "tasks_hidden" says how many
                        * are left out) */
    int by_prefix;     /* stats: group by task name prefix, not spawn site */
    const char *source;/* "pid 1234" or the recording's path, for headers */
    const char *status;/* a recording's status (ts_store_status), or NULL */
} tr_opts;

void tr_ps(FILE *out, const tm_model *m, const tr_opts *o);
void tr_pstree(FILE *out, const tm_model *m, const tr_opts *o);
void tr_blocked(FILE *out, const tm_model *m, ts_symbolizer *sym, const tr_opts *o);
void tr_stats(FILE *out, const tm_model *m, const tr_opts *o);
/* Warnings (deadlocks, stuck tasks, blocked loops, diagnostics, drops),
 * appended to text reports; returns how many there are.  (Every JSON
 * report ends with them instead.) */
size_t tr_warnings(FILE *out, const tm_model *m, const tr_opts *o);

/* JSON string, valid UTF-8 whatever s holds (textsafe.h's ts_json_put). */
void tr_json_str(FILE *out, const char *s);

/* Text helpers shared with the TUI (tui/), so both say things the same
 * way: a duration ("12.3ms"), a system call by name ("nanosleep", or
 * "syscall N": the names come from the kernel's list at build time), and
 * what a task awaits ("task #12 fetch", "sleep", "lock 0x55..", "-" when
 * it awaits nothing).  These return raw text: names inside are as the
 * program gave them, so print them with ts_text_put or ts_text_safe. */
void tr_fmt_dur(char *buf, size_t len, uint64_t ns);
void tr_syscall_text(char *buf, size_t len, int nr);
void tr_awaits_text(const tm_model *m, const tm_task *t, char *buf, size_t len);

#endif
