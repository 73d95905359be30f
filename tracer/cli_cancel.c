/*
 * cli_cancel.c - `taskscope cancel PID TASK [--msg TEXT]`: ask a program
 * on the debug runtime to cancel one of its tasks, through the runtime's
 * command channel (reader_command.c, runtime/src/trace/command.c).
 *
 * The task is looked up first in a fresh state dump (unknown or finished
 * tasks are refused here, with no request sent); the loop that owns it
 * then checks again and cancels it on its own thread, as ts_task_cancel
 * would, recording this process as the canceller.  Exit status: 0 the
 * cancellation was applied; 1 refused (unknown or finished task, not the
 * debug runtime, no such process), or not answered within --timeout (the
 * loop is blocked: it stays queued and applies when the step returns);
 * 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cancel.h"
#include "cli.h"
#include "launch.h"
#include "session.h"
#include "textsafe.h"

static const char *HELP =
    "usage: taskscope cancel [--msg TEXT] [--timeout S] PID TASK\n\n"
    "Cancel task TASK (its number, as ps shows it) of process PID, which must\n"
    "use the debug runtime and belong to you (or you are root).  The loop that\n"
    "owns the task applies it on its own thread at its next iteration, as if a\n"
    "task had called ts_task_cancel: the task sees -ECANCELED at its await.\n"
    "The recording names the canceller as \"taskscope cancel (pid N)\".\n\n"
    "  --msg TEXT      the cancel message (at most 120 bytes)\n"
    "  --timeout S     wait at most S seconds for the loop's answer (default 5);\n"
    "                  a blocked loop applies the request when its step returns\n\n"
    "Exit status: 0 applied, 1 refused or not answered in time, 2 usage.\n"
    "See `man taskscope`.\n";

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static int refused(int pid, uint64_t task, const char *name, const char *why) {
    fprintf(stderr, "taskscope cancel: pid %d: task #%" PRIu64 " ", pid, task);
    ts_text_put(stderr, name, 0);
    fprintf(stderr, "%s%s\n", *name ? " " : "", why);
    return 1;
}

int cmd_cancel(int argc, char **argv) {
    enum { OPT_MSG = 256, OPT_TIMEOUT };
    static const struct option longopts[] = {
        {"msg", required_argument, NULL, OPT_MSG},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *msg = NULL;
    double timeout = 5;
    int opt, pid;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_MSG:
            msg = optarg;
            if (strlen(msg) > TS_COMMAND_MSG_MAX)
                return cli_usage("cancel", "--msg is longer than %u bytes", TS_COMMAND_MSG_MAX);
            break;
        case OPT_TIMEOUT:
            if (cli_parse_seconds(optarg, &timeout) || timeout > 3600)
                return cli_usage("cancel", "--timeout needs seconds (0 to 3600), not '%s'",
                                 optarg);
            break;
        case 'h':
            fputs(HELP, stdout);
            return 0;
        default:
            return cli_bad_option("cancel", opt, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage("cancel", argc - optind < 2 ? "needs a pid and a task number"
                                                     : "unexpected argument '%s'",
                         argv[optind + 2 < argc ? optind + 2 : 0]);
    if (ts_parse_pid(argv[optind], &pid))
        return cli_usage("cancel", "'%s' is not a valid pid", argv[optind]);
    const char *a = argv[optind + 1] + (argv[optind + 1][0] == '#');
    char *end;
    errno = 0;
    unsigned long long v = strtoull(a, &end, 10);
    if (!*a || *end || errno || !v || a[0] == '-' || v >= (1ull << 48))
        return cli_usage("cancel", "'%s' is not a task number", argv[optind + 1]);
    uint64_t task = v;

    ts_session s;
    char err[512];
    if (ts_session_open(&s, pid, 0, 0, err, sizeof err)) {
        fprintf(stderr, "taskscope cancel: %s\n", err);
        return 1;
    }
    ts_session_wait_dump(&s, 2000);
    ts_cancel_req req;
    char why[512];
    int rc = ts_cancel_post(&s, task, msg, &req, why, sizeof why);
    if (rc) {
        ts_session_close(&s);
        if (rc == -ENOENT || rc == -EALREADY)
            return refused(pid, task, req.name, why);
        fprintf(stderr, "taskscope cancel: pid %d: %s\n", pid, why);
        return 1;
    }
    int result = 0, answered = 0;
    uint64_t deadline = now_ms() + (uint64_t)(timeout * 1000);
    for (;;) {
        ts_session_poll(&s); /* keep reading: the ring must not fill */
        if ((answered = ts_cancel_result(&s, &req, &result)) || now_ms() >= deadline)
            break;
        struct timespec d = {0, 5000000};
        nanosleep(&d, NULL);
    }
    ts_session_close(&s);
    if (!answered) {
        fprintf(stderr, "taskscope cancel: pid %d: no answer within %gs: its loop is blocked "
                        "or stopped; the request stays queued and the loop applies it when "
                        "its step returns\n", pid, timeout);
        return 1;
    }
    if (result == 0) {
        printf("cancelled task #%" PRIu64 " ", task);
        ts_text_put(stdout, req.name, 0);
        printf(" of pid %d: it sees -ECANCELED at its next await\n", pid);
        return 0;
    }
    ts_cancel_result_text(result, why, sizeof why);
    return refused(pid, task, req.name, why);
}
