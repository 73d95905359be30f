/*
 * cli_export.c - `taskscope export --format perfetto|chrome|otlp -o OUT FILE`
 * (and `--format otlp --endpoint URL FILE`, which sends instead of writing).
 *
 * The output is written whole or not at all: into a temporary file next
 * to OUT, renamed over it only when the export succeeded (safe_io.h).
 * It is never the input (compared by inode, not by name), never any
 * recording, never a device, FIFO or directory; an existing file that is
 * not an earlier export is replaced only with --force.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"
#include "export_folded.h"
#include "why_flows.h"
#include "safe_io.h"
#ifdef TS_HAVE_PROTOBUF
#include "otlp_http.h"
#endif

enum { OPT_FORMAT = 256, OPT_FORCE, OPT_JSON, OPT_SERVICE, OPT_ENDPOINT, OPT_AWAIT, OPT_TASK,
       OPT_SITE, OPT_DEPTH };

static const char EXPORT_HELP[] =
    "usage: taskscope export --format perfetto|chrome [--force] -o OUT FILE\n"
    "       taskscope export --format perfetto --task N [--depth N] [--force] -o OUT FILE\n"
    "       taskscope export --format folded --task N|--site FILE:LINE [--depth N]\n"
    "                        [--force] -o OUT FILE\n"
    "       taskscope export --format otlp [--json] [--service NAME] [--await-threshold MS]\n"
    "                        [--force] -o OUT FILE\n"
    "       taskscope export --format otlp [--service NAME] --endpoint URL FILE\n\n"
    "Write a timeline of the recording FILE: a track per task (run slices and\n"
    "await spans), wake and spawn flows, and blocked episodes on each loop's\n"
    "thread.  --format perfetto writes the Perfetto protobuf trace format\n"
    "(TracePacket/TrackEvent, streamed: any size of recording; ui.perfetto.dev\n"
    "opens it), with counter tracks for each loop's lag and ready tasks and\n"
    "blocked episodes' stacks as annotations; --format chrome the Chrome\n"
    "trace-event JSON, which ui.perfetto.dev and chrome://tracing both open.\n"
    "(A taskscope built without protobuf-c writes Chrome JSON for both.)\n\n"
    "--format otlp writes OpenTelemetry traces: one span per task (its parent\n"
    "the spawning task; spawn site and fields as attributes; status from its\n"
    "outcome; span events for awaits of at least --await-threshold MS (default\n"
    "1), cancels, warnings and blocked steps), as an OTLP protobuf\n"
    "ExportTraceServiceRequest, or with --json as OTLP/JSON, one request per\n"
    "line (the Collector's otlpjsonfile receiver reads it).  --service NAME\n"
    "sets service.name (default: the program's name).  --endpoint URL sends\n"
    "it instead, as OTLP/HTTP protobuf POSTs of 512 spans each to a collector\n"
    "(http:// only, no TLS; port 4318 and /v1/traces when left out), retrying\n"
    "what the collector cannot take now; exit status 1, saying what was sent,\n"
    "when it refuses.\n\n"
    "--format folded writes a wait flame graph as folded stacks (`frame;frame\n"
    "weight` lines, for flamegraph.pl, inferno or speedscope): the frames are\n"
    "the task, its waits (kind, object, await site) and the tasks that caused\n"
    "them, down the critical path `taskscope why` shows, weighted by ns, for\n"
    "one task (--task N) or every task spawned at a site (--site FILE:LINE);\n"
    "--depth N (default 1) as for why.  The weights add up to the wall time.\n"
    "--format perfetto --task N marks that task's critical path with flows:\n"
    "from the end of each wait's cause (the lock holder's release, the awaited\n"
    "task's end, the waker's wake) to the waiter's next run slice, --depth N\n"
    "levels of causes deep.\n\n"
    "OUT is written whole or not at all (a temporary file renamed into place).\n"
    "It is never the recording itself nor any recording, never a device, FIFO or\n"
    "directory; an existing file that is not an earlier export is replaced only\n"
    "with --force.  See `man taskscope`.\n";

/* An earlier export starts like this: ts_export_chrome's first bytes, or
 * (with protobuf) the first packet every Perfetto export starts with, or
 * an OTLP export's resource (JSON or protobuf: a first field 1, then the
 * SDK name taskscope writes in every resource). */
static int is_export(const char *path) {
    static const char head[] = "{\"displayTimeUnit\"";
    unsigned char buf[4096], want[4096];
    char err[256];
    int fd = ts_open_regular(path, NULL, err, sizeof err);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n >= (ssize_t)sizeof head - 1 && !memcmp(buf, head, sizeof head - 1))
        return 1;
#ifdef TS_HAVE_PROTOBUF
    size_t k = ts_export_perfetto_header(want, sizeof want);
    if (k < sizeof want && n >= (ssize_t)k && !memcmp(buf, want, k))
        return 1;
    static const char json[] = "{\"resourceSpans\":[";
    static const char sdk[] = "telemetry.sdk.name";
    if (n > 0 && (buf[0] == 0x0a || !memcmp(buf, json, n < 18 ? (size_t)n : 18)) &&
        memmem(buf, (size_t)n, sdk, sizeof sdk - 1) && memmem(buf, (size_t)n, "taskscope", 9))
        return 1;
#else
    (void)want;
#endif
    return 0;
}

#ifdef TS_HAVE_PROTOBUF
/* --endpoint: every span to the collector, or a message saying how many
 * went before it refused. */
static int send_otlp(const char *file, const ts_otlp_opts *oo, const char *url) {
    char err[PATH_MAX + 512];
    ts_otlp_http *h;
    if (ts_otlp_http_new(url, &h, err, sizeof err)) {
        fprintf(stderr, "taskscope export: %s\n", err);
        return 2;
    }
    uint64_t spans = 0;
    int rc = ts_export_otlp(file, oo, ts_otlp_http_sink, h, &spans, err, sizeof err);
    if (rc)
        fprintf(stderr, "taskscope export: %s\ntaskscope export: %" PRIu64 " spans in %" PRIu64
                        " requests were accepted before that; the rest of the recording was "
                        "not sent\n", err, spans, ts_otlp_http_requests(h));
    else
        fprintf(stderr, "taskscope: %" PRIu64 " spans sent to %s in %" PRIu64
                        " requests (%" PRIu64 " retries)\n", spans, url,
                ts_otlp_http_requests(h), ts_otlp_http_retries(h));
    ts_otlp_http_free(h);
    return rc ? 1 : 0;
}
#endif

#ifdef TS_HAVE_PROTOBUF
/* --format perfetto --task N: the export with N's critical path as flows. */
static int perfetto_critical(const char *file, const ts_folded_opts *fo, FILE *out, char *err,
                             size_t errlen) {
    why_ctx *c = why_open(file, err, errlen);
    if (!c)
        return -EINVAL;
    ts_pf_edge *edges = NULL;
    size_t n = 0;
    int rc = why_pick_pid(c, fo->task);
    if (!rc)
        rc = why_critical_edges(c, fo->task, fo->depth, &edges, &n);
    if (rc == -ENOENT)
        snprintf(err, errlen, "no task #%" PRIu64 " in %s", fo->task, file);
    else if (rc)
        snprintf(err, errlen, "task #%" PRIu64 "'s critical path: %s", fo->task, strerror(-rc));
    why_close(c);
    if (!rc)
        rc = ts_export_perfetto_critical(file, out, edges, n, err, errlen);
    free(edges);
    return rc;
}
#endif

int cmd_export(int argc, char **argv) {
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"json", no_argument, NULL, OPT_JSON},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"await-threshold", required_argument, NULL, OPT_AWAIT},
        {"task", required_argument, NULL, OPT_TASK},
        {"site", required_argument, NULL, OPT_SITE},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *format = NULL, *out = NULL, *endpoint = NULL;
    int opt, force = 0, json = 0;
    ts_otlp_opts oo = {.await_threshold_ns = 1000000};
    ts_folded_opts fo = {.depth = 1};
    int depth_set = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_FORMAT:
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_JSON:
            json = 1;
            break;
        case OPT_SERVICE:
            oo.service = optarg;
            break;
        case OPT_ENDPOINT:
            endpoint = optarg;
            break;
        case OPT_AWAIT: {
            char *end;
            double ms = strtod(optarg, &end);
            if (end == optarg || *end || !(ms >= 0 && ms < 1e9))
                return cli_usage("export", "--await-threshold wants milliseconds, not '%s'",
                                 optarg);
            oo.await_threshold_ns = (uint64_t)(ms * 1e6);
            break;
        }
        case OPT_TASK: {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-' || !v)
                return cli_usage("export", "--task takes a task number, not '%s'", optarg);
            fo.task = v;
            break;
        }
        case OPT_SITE:
            fo.site = optarg;
            break;
        case OPT_DEPTH: {
            int rc = cli_why_depth("export", optarg, &fo.depth);
            if (rc)
                return rc;
            depth_set = 1;
            break;
        }
        case 'h':
            fputs(EXPORT_HELP, stdout);
            return 0;
        default:
            return cli_bad_option("export", opt, argv);
        }
    }
    if (!format || (strcmp(format, "perfetto") && strcmp(format, "chrome") &&
                    strcmp(format, "otlp") && strcmp(format, "folded")))
        return cli_usage("export", "--format must be perfetto, chrome, otlp or folded");
    int otlp = !strcmp(format, "otlp"), folded = !strcmp(format, "folded");
    int flows = !strcmp(format, "perfetto") && fo.task;
    if (folded && !fo.task == !fo.site)
        return cli_usage("export", "--format folded needs --task N or --site FILE:LINE (one)");
    if (!folded && (fo.site || (fo.task && strcmp(format, "perfetto"))))
        return cli_usage("export", "--site goes with --format folded, --task with folded or "
                                   "perfetto");
#ifndef TS_HAVE_PROTOBUF
    if (flows)
        return cli_usage("export", "--task with --format perfetto needs a taskscope built with "
                                   "protobuf-c");
#endif
    if (depth_set && !folded && !flows)
        return cli_usage("export", "--depth goes with --task or --site");
    if (!otlp && (json || oo.service || endpoint))
        return cli_usage("export", "--json, --service and --endpoint go with --format otlp");
    if (endpoint && (out || json))
        return cli_usage("export", "--endpoint sends OTLP/HTTP protobuf: no -o, no --json");
    if (optind >= argc || (!endpoint && (!out || !*out)))
        return cli_usage("export", endpoint ? "need a recording" : "need a recording and -o OUT");
    if (argc - optind > 1)
        return cli_usage("export", "unexpected argument '%s'", argv[optind + 1]);
    const char *file = argv[optind];
    char what[PATH_MAX + 128], err[PATH_MAX + 256];
    if (otlp) {
#ifdef TS_HAVE_PROTOBUF
        if (endpoint)
            return send_otlp(file, &oo, endpoint);
#else
        (void)oo;
        fputs("taskscope export: --format otlp needs a taskscope built with protobuf-c "
              "(the protobuf option)\n", stderr);
        return 2;
#endif
    }
    if (ts_same_file(file, out)) {
        fprintf(stderr, "taskscope export: %s is the recording being exported: not "
                        "overwriting it\n", out);
        return 2;
    }
    switch (ts_output_state(out, what, sizeof what)) {
    case TS_OUT_FREE:
        break;
    case TS_OUT_NOT_FILE:
        fprintf(stderr, "taskscope export: %s: not writing there\n", what);
        return 2;
    case TS_OUT_RECORDING:
        fprintf(stderr, "taskscope export: %s: not overwriting it with an export\n", what);
        return 2;
    case TS_OUT_OTHER:
        if (force || is_export(out))
            break;
        fprintf(stderr, "taskscope export: %s: not overwriting it (--force replaces it)\n",
                what);
        return 2;
    }
    ts_output o;
    if (ts_output_begin(&o, out, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    int rc;
    if (folded)
        rc = ts_export_folded(file, o.f, &fo, err, sizeof err);
#ifdef TS_HAVE_PROTOBUF
    else if (otlp)
        rc = ts_export_otlp(file, &oo, json ? ts_otlp_sink_json : ts_otlp_sink_protobuf, o.f,
                            NULL, err, sizeof err);
    else if (flows)
        rc = perfetto_critical(file, &fo, o.f, err, sizeof err);
    else if (!strcmp(format, "perfetto"))
        rc = ts_export_perfetto(file, o.f, err, sizeof err);
    else
#endif
        rc = ts_export_chrome(file, o.f, err, sizeof err);
    if (rc) {
        ts_output_abort(&o); /* the target, if any, is untouched */
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    if (ts_output_commit(&o, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    return 0;
}
