/*
 * cli_args.c - see cli.h: usage errors and strict option values for the
 * `taskscope` command.  A usage error is always one line on stderr that
 * names the problem and points at the command's --help; exit status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "taskscope%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see `taskscope%s%s --help`\n", cmd ? " " : "", cmd ? cmd : "");
    return 2;
}

int cli_bad_option(const char *cmd, int opt, char **argv) {
    /* getopt_long leaves optind past the argument it complained about;
     * optopt is the short option, or a long option's value (0 for an
     * unknown long option). */
    const char *arg = argv[optind - 1];
    int is_long = !strncmp(arg, "--", 2);
    if (opt == ':')
        return is_long ? cli_usage(cmd, "option '%s' needs a value", arg)
                       : cli_usage(cmd, "option '-%c' needs a value", optopt);
    if (is_long && optopt && strchr(arg, '='))
        return cli_usage(cmd, "option '%.*s' takes no value", (int)strcspn(arg, "="), arg);
    if (is_long)
        return cli_usage(cmd, "unknown option '%.*s'", (int)strcspn(arg, "="), arg);
    return cli_usage(cmd, "unknown option '-%c'", optopt);
}

int cli_parse_seconds(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return -EINVAL;
    *out = v;
    return 0;
}
