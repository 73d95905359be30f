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
#include "store.h"
#include "why.h"

static const char USAGE[] =
    "usage: taskscope why [--json] [--depth N] FILE TASK\n\n"
    "Where the wall time of task TASK (its number, as ps shows it) went, in the\n"
    "recording FILE: running on the CPU, runnable but waiting for the loop, and each\n"
    "wait by what it awaited (kind, object, await site).  A lock wait names the task\n"
    "that held the lock, a wait on tasks the one that finished last (a gather's\n"
    "critical child), any other wait the task that woke it; --depth N (default 1,\n"
    "0 for none) breaks those tasks' time inside the wait down the same way, N\n"
    "levels deep.  Waits ended by a cancellation or a timeout are counted.  The\n"
    "parts add up to the wall time\n"
    "(spawn to end, or to the end of the recording): what no event explains is shown\n"
    "as other/unattributed.\n\n"
    "  --json      the tree as JSON (times in ns)\n"
    "  --depth N   levels of cause tasks to follow (0-256, default 1)\n"
    /* why_agg.c answers these (cli.c sends them there) */
    "\n       taskscope why --site FILE:LINE | --name NAME [--json] [--depth N] FILE\n"
    "every task spawned at a site (or so named): wall-time p50/p90/p99/max, and\n"
    "where the slowest percentile's time went, in a sentence and a table.\n";

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
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > WHY_DEPTH_MAX)
                return cli_usage("why", "--depth takes a number from 0 to %d, not '%s'",
                                 WHY_DEPTH_MAX, optarg);
            depth = (int)v;
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
    if (!ts_store_is_recording(file)) {
        /* A pid (live) is not answered yet: the model would have to keep
         * every interval; record with run/attach and ask the file. */
        fprintf(stderr, "taskscope why: %s is not a recording (why reads recordings only; "
                        "record a live process with `taskscope attach`)\n", file);
        return 1;
    }
    char err[512];
    why_ctx *c = why_open(file, err, sizeof err);
    if (!c) {
        fprintf(stderr, "taskscope why: %s\n", err);
        return 1;
    }
    int rc = 0;
    uint64_t t0 = 0, t1 = 0;
    why_node *top = NULL;
    if (why_pick_pid(c, task)) {
        fprintf(stderr, "taskscope why: no task #%llu in %s\n", task, file);
        rc = 1;
    } else if (!(top = why_task(c, task, depth, &t0, &t1))) {
        if (errno == ENOENT)
            fprintf(stderr, "taskscope why: no task #%llu in %s\n", task, file);
        else
            fprintf(stderr, "taskscope why: out of memory\n");
        rc = 1;
    } else if (json) {
        fprintf(stdout, "{\"task\":%llu,\"pid\":%" PRId64 ",\"wall_ns\":%" PRIu64
                        ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"tree\":",
                task, why_pid(c), t1 - t0, t0, t1);
        why_print_json(stdout, c, top, t1 - t0);
        fputs("}\n", stdout);
    } else {
        printf("why task #%llu: wall %.3f ms\n", task, (t1 - t0) / 1e6);
        why_print_text(stdout, c, top, t1 - t0, 0);
    }
    why_node_free(top);
    why_close(c);
    return rc;
}
