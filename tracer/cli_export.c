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
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"
#include "safe_io.h"

enum { OPT_FORMAT = 256, OPT_FORCE };

static const char EXPORT_HELP[] =
    "usage: taskscope export --format perfetto|chrome [--force] -o OUT FILE\n\n"
    "Write a timeline of the recording FILE: a track per task (run slices and\n"
    "await spans), wake and spawn flows, and blocked episodes on each loop's\n"
    "thread.  --format perfetto writes the Perfetto protobuf trace format\n"
    "(TracePacket/TrackEvent, streamed: any size of recording; ui.perfetto.dev\n"
    "opens it), with counter tracks for each loop's lag and ready tasks and\n"
    "blocked episodes' stacks as annotations; --format chrome the Chrome\n"
    "trace-event JSON, which ui.perfetto.dev and chrome://tracing both open.\n"
    "(A taskscope built without protobuf-c writes Chrome JSON for both.)\n\n"
    "OUT is written whole or not at all (a temporary file renamed into place).\n"
    "It is never the recording itself nor any recording, never a device, FIFO or\n"
    "directory; an existing file that is not an earlier export is replaced only\n"
    "with --force.  See `man taskscope`.\n";

/* An earlier export starts like this: ts_export_chrome's first bytes, or
 * (with protobuf) the first packet every Perfetto export starts with. */
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
#else
    (void)want;
#endif
    return 0;
}

int cmd_export(int argc, char **argv) {
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *format = NULL, *out = NULL;
    int opt, force = 0;
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
        case 'h':
            fputs(EXPORT_HELP, stdout);
            return 0;
        default:
            return cli_bad_option("export", opt, argv);
        }
    }
    if (!format || (strcmp(format, "perfetto") && strcmp(format, "chrome")))
        return cli_usage("export", "--format must be perfetto or chrome");
    if (optind >= argc || !out || !*out)
        return cli_usage("export", "need a recording and -o OUT");
    if (argc - optind > 1)
        return cli_usage("export", "unexpected argument '%s'", argv[optind + 1]);
    const char *file = argv[optind];
    char what[PATH_MAX + 128], err[PATH_MAX + 256];
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
#ifdef TS_HAVE_PROTOBUF
    if (!strcmp(format, "perfetto"))
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
