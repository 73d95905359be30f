/*
 * export.c - bench_export: `taskscope export` throughput and memory on a
 * large recording (issue 18).  It writes a synthetic recording of N events
 * (10 million; 1 million with --quick) through the real store
 * (synth_rec.h: 1,000 tasks alive at a time on one loop, each running 10
 * steps separated by sleeps, then done and freed).  Then each export runs in a child process of
 * its own, writing to /dev/null, and reports events per second and the
 * child's peak resident memory (ru_maxrss: the export must stream, so it
 * stays flat however long the recording is).
 *
 * Figures: export_perfetto and export_otlp (events/s), each beside the
 * Chrome JSON export of the same file (source "chrome-json", the anchor:
 * the exporter every format had before); export_perfetto_rss,
 * export_otlp_rss (KiB, no anchor); export_perfetto_size, export_otlp_size
 * (bytes of output per recorded event, beside the Chrome JSON's).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "export.h"
#include "store.h"
#include "synth_rec.h"

static uint64_t events;

/* The events in the recording (the maker's count stayed in its child). */
static uint64_t count_events(const char *path) {
    char buf[64] = "";
    ts_store_read_meta(path, "events", buf, sizeof buf);
    return strtoull(buf, NULL, 10);
}

enum fmt { CHROME, PERFETTO, OTLP };

/* The output goes nowhere, but its size is counted: a FILE whose writes
 * only add up their lengths, reported to the parent through a pipe. */
static ssize_t count_write(void *cookie, const char *buf, size_t n) {
    (void)buf;
    *(uint64_t *)cookie += n;
    return (ssize_t)n;
}

static uint64_t out_bytes;

static int export_to_null(const char *path, enum fmt f) {
    char err[512];
    cookie_io_functions_t io = {.write = count_write};
    FILE *out = fopencookie(&out_bytes, "w", io);
    if (!out)
        return -errno;
    int rc;
    if (f == CHROME) {
        rc = ts_export_chrome(path, out, err, sizeof err);
    } else if (f == PERFETTO) {
        rc = ts_export_perfetto(path, out, err, sizeof err);
    } else {
        ts_otlp_opts o = {.await_threshold_ns = 1000000};
        rc = ts_export_otlp(path, &o, ts_otlp_sink_protobuf, out, NULL, err, sizeof err);
    }
    if (rc)
        fprintf(stderr, "bench_export: %s\n", err);
    fclose(out);
    return rc;
}

/* One export in a child: seconds taken, its peak RSS in KiB and the
 * size of its output. */
static double timed_export(const char *path, enum fmt f, long *maxrss_kib, uint64_t *bytes) {
    int fds[2];
    if (pipe(fds))
        return -errno;
    int64_t t0 = bench_now_ns();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        close(fds[0]);
        int rc = export_to_null(path, f);
        ssize_t w = write(fds[1], &out_bytes, sizeof out_bytes);
        _exit(rc || w != sizeof out_bytes ? 1 : 0);
    }
    close(fds[1]);
    int status;
    struct rusage ru;
    ssize_t r = read(fds[0], bytes, sizeof *bytes);
    close(fds[0]);
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) ||
        r != sizeof *bytes)
        return -EIO;
    *maxrss_kib = ru.ru_maxrss;
    return (double)(bench_now_ns() - t0) / 1e9;
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    uint64_t target = (uint64_t)bench_pick(&o, 1000000, 10000000);
    char path[PATH_MAX];
    if (synth_temp_path(path, sizeof path, "bench_export"))
        return 1;
    int64_t t0 = bench_now_ns();
    /* Written by a child: this process stays small, so each export's
     * child starts from a small heap and its peak RSS is its own. */
    pid_t maker = fork();
    if (maker == 0)
        _exit(synth_recording(path, target, 0, "bench_export", NULL, NULL) ? 1 : 0);
    int status = 0;
    if (maker < 0 || waitpid(maker, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status)) {
        unlink(path);
        bench_emit_error("export_perfetto", "taskscope", "events/s", 1, "recording failed");
        return 1;
    }
    events = count_events(path);
    fprintf(stderr, "export: a recording of %llu events written in %.1f s; RSS here %ld KiB\n",
            (unsigned long long)events, (double)(bench_now_ns() - t0) / 1e9,
            bench_rss_bytes() / 1024);
    static const struct {
        enum fmt f;
        const char *figure, *source;
    } runs[] = {{CHROME, "export_perfetto", "chrome-json"},
                {PERFETTO, "export_perfetto", "taskscope"},
                {OTLP, "export_otlp", "taskscope"}};
    int reps = o.mode == BENCH_QUICK ? 1 : o.reps < 2 ? o.reps : 2; /* 10M events: minutes each */
    double best[3] = {0};
    long rss[3] = {0};
    uint64_t size[3] = {0};
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < 3; i++) {
            long kib = 0;
            double s = timed_export(path, runs[i].f, &kib, &size[i]);
            if (s <= 0)
                continue;
            fprintf(stderr, "export: %s %.2f s (%.0f events/s), peak RSS %ld KiB, %.1f MB "
                            "(%.1f bytes/event)\n",
                    runs[i].f == CHROME ? "chrome" : runs[i].f == PERFETTO ? "perfetto" : "otlp",
                    s, (double)events / s, kib, (double)size[i] / 1e6,
                    (double)size[i] / (double)events);
            if ((double)events / s > best[i])
                best[i] = (double)events / s;
            if (kib > rss[i])
                rss[i] = kib;
        }
    unlink(path);
    char stat[64];
    snprintf(stat, sizeof stat, "best of %d, %llu events", reps, (unsigned long long)events);
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        if (best[i] > 0)
            bench_emit(runs[i].figure, runs[i].source, best[i], "events/s", 1, stat);
        else {
            bench_emit_error(runs[i].figure, runs[i].source, "events/s", 1, "the export failed");
            rc = 1;
        }
    }
    /* the anchor of export_otlp too: the same Chrome JSON run */
    if (best[0] > 0)
        bench_emit("export_otlp", "chrome-json", best[0], "events/s", 1, stat);
    bench_emit("export_perfetto_rss", "taskscope", (double)rss[1], "KiB", 0, "peak, child");
    bench_emit("export_otlp_rss", "taskscope", (double)rss[2], "KiB", 0, "peak, child");
    bench_emit("export_chrome_rss", "taskscope", (double)rss[0], "KiB", 0, "peak, child");
    /* Output size per recorded event, beside the Chrome JSON's. */
    const char *const size_fig[3] = {NULL, "export_perfetto_size", "export_otlp_size"};
    for (int i = 1; i < 3; i++)
        if (size[i] && size[0]) {
            bench_emit(size_fig[i], "taskscope", (double)size[i] / (double)events, "bytes/event",
                       0, "output size");
            bench_emit(size_fig[i], "chrome-json", (double)size[0] / (double)events,
                       "bytes/event", 0, "output size");
        }
    return rc;
}
