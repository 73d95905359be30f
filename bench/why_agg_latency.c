/*
 * why_agg_latency.c - bench_why_agg_latency: how long the many-task
 * answers of issue 19 take on a large recording: `taskscope why --site`
 * (all the tasks spawned at one site: their wall-time distribution, then
 * the slowest percentile decomposed, at most 1,000 of them) and `export
 * --format folded --task` for one task.  The synthetic recording is
 * bench_why_latency's (synth_rec.h, 10 million events, every worker
 * spawned at bench/synth_rec.c:42 and taking one lock; 1 million with
 * --quick).  Reports each command's wall time in ms, best of --reps (no
 * anchor; the target is seconds, not minutes, for the site).
 */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_util.h"
#include "synth_rec.h"

static double best_of(const char *exe, char *const *args, int reps) {
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double ms = synth_time_cmd(exe, args, NULL);
        if (ms < 0)
            return -1;
        if (best < 0 || ms < best)
            best = ms;
    }
    return best;
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    char exe[PATH_MAX + 32], path[PATH_MAX];
    uint64_t target = (uint64_t)bench_pick(&o, 1000000, 10000000);
    if (synth_taskscope(exe, sizeof exe) || synth_temp_path(path, sizeof path, "bench_why_agg"))
        return 1;
    char out[sizeof path + 16];
    snprintf(out, sizeof out, "%s.folded", path);
    uint64_t events = 0, tasks = 0;
    if (synth_recording(path, target, SYNTH_LOCK, "bench_why_agg_latency", &events, &tasks)) {
        unlink(path);
        bench_emit_error("why_site_latency", "taskscope", "ms", 0, "recording failed");
        return 1;
    }
    int reps = o.reps < 1 ? 1 : o.reps;
    char *site[] = {"why", "--site", "synth_rec.c:42", path, NULL};
    double site_ms = best_of(exe, site, reps);
    char task[32];
    snprintf(task, sizeof task, "%llu", (unsigned long long)(tasks / 2));
    char *folded[] = {"export", "--format", "folded", "--force", "--task", task, "-o", out,
                      path, NULL};
    double folded_ms = best_of(exe, folded, reps);
    unlink(path);
    unlink(out);
    char stat[128];
    snprintf(stat, sizeof stat, "%llu tasks at one site, best of %d, %llu events",
             (unsigned long long)tasks, reps, (unsigned long long)events);
    if (site_ms < 0)
        bench_emit_error("why_site_latency", "taskscope", "ms", 0, "taskscope why --site failed");
    else
        bench_emit("why_site_latency", "taskscope", site_ms, "ms", 0, stat);
    snprintf(stat, sizeof stat, "one task, best of %d, %llu events", reps,
             (unsigned long long)events);
    if (folded_ms < 0)
        bench_emit_error("why_folded_latency", "taskscope", "ms", 0, "export --format folded failed");
    else
        bench_emit("why_folded_latency", "taskscope", folded_ms, "ms", 0, stat);
    return site_ms < 0 || folded_ms < 0;
}
