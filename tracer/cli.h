/*
 * cli.h - what the files of the `taskscope` command share: its usage
 * errors (exit 2, one line, pointing at --help) and strict parsing of
 * option values.
 */
#ifndef TS_TRACER_CLI_H
#define TS_TRACER_CLI_H

/* Print "taskscope CMD: <message>; see `taskscope CMD --help`" (or
 * `taskscope --help` when cmd is NULL) on stderr; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A --depth value for `why` and the exports that follow its causes (0 to
 * WHY_DEPTH_MAX) into *out: 0, or cli_usage's exit code for cmd. */
int cli_why_depth(const char *cmd, const char *arg, int *out);

/* The usage error for getopt_long's complaint opt ('?': unknown option
 * or a value given to a flag; ':' a missing value), naming the option it
 * stopped at.  Returns 2. */
int cli_bad_option(const char *cmd, int opt, char **argv);

/* Parse a non-negative, finite decimal number (seconds, milliseconds): the
 * whole string or an error.  0 or -EINVAL. */
int cli_parse_seconds(const char *s, double *out);

int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_cancel(int argc, char **argv); /* cli_cancel.c */
int cmd_why(int argc, char **argv);    /* why.c */
/* why --site/--name (why_agg.c): does argv ask for it, and the answer. */
int why_agg_wanted(int argc, char **argv);
int cmd_why_agg(int argc, char **argv);

#endif
