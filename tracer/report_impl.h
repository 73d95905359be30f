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

#endif
