/*
 * why_cmd.c - `taskscope why FILE TASK`: the command line over the why
 * library (why.h).  Parses options, opens the recording, prints the tree.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "launch.h"
#include "store.h"
#include "why.h"

static const char USAGE[] =
    "usage: taskscope why [--json] [--depth N] FILE|PID TASK\n\n"
    "Where the wall time of task TASK (its number, as ps shows it) went, in the\n"
    "recording FILE: running on the CPU, runnable but waiting for the loop, and each\n"
    "wait by what it awaited (kind, object, await site).  A lock wait names the task\n"
    "that held the lock, a wait on tasks the one that finished last (a gather's\n"
    "critical child), a queue get the producer, a semaphore wait its holders\n"
    "(inferred) and the releaser, a cancelled wait the canceller, any other wait\n"
    "the task that woke it; --depth N (default 1, 0 for none) breaks those tasks'\n"
    "time inside the wait down the same way, N levels deep, and the scheduling\n"
    "delay into the tasks that ran meanwhile.  Steps the watchdog saw blocking the\n"
    "loop are shown apart, with the system call.  Waits ended by a cancellation or\n"
    "a timeout are counted.  The parts add up to the wall time (spawn to end, or\n"
    "to the end of the recording): what no event explains is shown as\n"
    "other/unattributed.  With a PID, the live process is answered from what its\n"
    "flight recorder still holds; a task spawned before that window is answered\n"
    "for the window only, and the output says so (before the window).\n\n"
    "  --json      the tree as JSON (times in ns)\n"
    "  --depth N   levels of cause tasks to follow (0-256, default 1)\n"
    /* why_agg.c answers these (cli.c sends them there) */
    "\n       taskscope why --site FILE:LINE | --name NAME [--json] [--depth N] FILE\n"
    "every task spawned at a site (or so named): wall-time p50/p90/p99/max, and\n"
    "where the slowest percentile's time went, in a sentence and a table.\n";

int cli_why_depth(const char *cmd, const char *arg, int *out) {
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 0 || v > WHY_DEPTH_MAX)
        return cli_usage(cmd, "--depth takes a number from 0 to %d, not '%s'", WHY_DEPTH_MAX, arg);
    *out = (int)v;
    return 0;
}

int cmd_why(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"depth", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, depth = 1, opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (opt == 'j') {
            json = 1;
        } else if (opt == 'd') {
            int rc = cli_why_depth("why", optarg, &depth);
            if (rc)
                return rc;
        } else if (opt == 'h') {
            fputs(USAGE, stdout);
            return 0;
        } else {
            return cli_bad_option("why", opt, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage("why", "need a recording and a task number");
    const char *file = argv[optind], *ts = argv[optind + 1];
    char *end;
    unsigned long long task = strtoull(ts, &end, 10);
    if (!*ts || *end || ts[0] == '-' || !task)
        return cli_usage("why", "'%s' is not a task number", ts);
    char err[512], live[4096] = "";
    int pid = 0;
    if (!ts_store_is_recording(file)) {
        if (ts_parse_pid(file, &pid)) {
            fprintf(stderr, "taskscope why: %s is neither a recording nor a process id\n", file);
            return 1;
        }
        /* live: answered from what the process's ring still holds */
        if (why_live_record(pid, live, sizeof live, err, sizeof err)) {
            fprintf(stderr, "taskscope why: %s\n", err);
            return 1;
        }
        file = live;
    }
    why_ctx *c = why_open(file, err, sizeof err);
    if (!c) {
        fprintf(stderr, "taskscope why: %s\n", err);
        if (*live)
            why_live_remove(live);
        return 1;
    }
    int before = 0;
    int rc = 0;
    uint64_t t0 = 0, t1 = 0;
    why_node *top = NULL;
    if (why_pick_pid(c, task)) {
        fprintf(stderr, "taskscope why: no task #%llu in %s\n", task, *live ? argv[optind] : file);
        rc = 1;
    } else if ((before = why_task_before_window(c, task)), !(top = why_task(c, task, depth, &t0, &t1))) {
        if (errno == ENOENT)
            fprintf(stderr, "taskscope why: no task #%llu in %s\n", task,
                    *live ? argv[optind] : file);
        else
            fprintf(stderr, "taskscope why: out of memory\n");
        rc = 1;
    } else if (json) {
        fprintf(stdout, "{\"task\":%llu,\"pid\":%" PRId64 ",\"wall_ns\":%" PRIu64
                        ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64
                        ",\"live\":%s,\"before_window\":%s,\"tree\":",
                task, why_pid(c), t1 - t0, t0, t1, *live ? "true" : "false",
                before ? "true" : "false");
        why_print_json(stdout, c, top, t1 - t0);
        fputs("}\n", stdout);
    } else {
        printf("why task #%llu: wall %.3f ms%s\n", task, (t1 - t0) / 1e6,
               *live ? (before ? " (live, in the flight-recorder window)" : " (live)") : "");
        if (before)
            printf("  spawned before the %s began: its life before that is not shown "
                   "(before the window)\n", *live ? "flight-recorder window" : "recording");
        why_print_text(stdout, c, top, t1 - t0, 0);
    }
    why_node_free(top);
    why_close(c);
    if (*live)
        why_live_remove(live);
    return rc;
}
