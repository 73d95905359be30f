/*
 * why_latency.c - bench_why_latency: how long `taskscope why FILE TASK`
 * takes for one task of a large recording (issue 19: under a second on
 * 10M events).  It writes a synthetic recording through the real store,
 * as bench_export does (synth_rec.h, 10 million events; 1 million with
 * --quick), with a lock every task takes and gives back once and later
 * waits for.  Then it runs the real command (DIR/taskscope, beside this
 * program's DIR/bench/) on tasks spread over the recording, output to
 * /dev/null, and reports the slowest answer's wall time in ms (no anchor;
 * the target is 1,000 ms).
 */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_util.h"
#include "synth_rec.h"

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    char exe[PATH_MAX + 32], path[PATH_MAX];
    uint64_t target = (uint64_t)bench_pick(&o, 1000000, 10000000);
    if (synth_taskscope(exe, sizeof exe) || synth_temp_path(path, sizeof path, "bench_why"))
        return 1;
    int64_t t0 = bench_now_ns();
    uint64_t events = 0, tasks = 0;
    if (synth_recording(path, target, SYNTH_LOCK, "bench_why_latency", &events, &tasks)) {
        unlink(path);
        bench_emit_error("why_latency", "taskscope", "ms", 0, "recording failed");
        return 1;
    }
    fprintf(stderr, "why_latency: a recording of %llu events, %llu tasks, written in %.1f s\n",
            (unsigned long long)events, (unsigned long long)tasks,
            (double)(bench_now_ns() - t0) / 1e9);
    /* Tasks early, in the middle and late in the recording: the answer
     * must not depend on where the task is.  Task 1 is runnable from its
     * spawn to the end: every other task's steps ran meanwhile. */
    uint64_t picks[] = {1, 2, tasks / 4, tasks / 2, tasks - 2};
    double worst = 0;
    int reps = o.reps < 1 ? 1 : o.reps, rc = 0;
    for (int i = 0; i < 5 && !rc; i++) {
        double best = -1, cpu_best = -1;
        for (int r = 0; r < reps; r++) {
            char task[32];
            snprintf(task, sizeof task, "%llu", (unsigned long long)picks[i]);
            char *why[] = {"why", path, task, NULL};
            double cpu = 0, ms = synth_time_cmd(exe, why, &cpu);
            if (ms < 0) {
                rc = 1;
                break;
            }
            if (best < 0 || ms < best)
                best = ms;
            if (cpu_best < 0 || cpu < cpu_best)
                cpu_best = cpu;
        }
        fprintf(stderr, "why_latency: task %llu: %.1f ms (CPU %.1f ms)\n",
                (unsigned long long)picks[i], best, cpu_best);
        if (best > worst)
            worst = best;
    }
    unlink(path);
    if (rc) {
        bench_emit_error("why_latency", "taskscope", "ms", 0, "taskscope why failed");
        return 1;
    }
    char stat[96];
    snprintf(stat, sizeof stat, "slowest of 5 tasks, best of %d, %llu events", reps,
             (unsigned long long)events);
    bench_emit("why_latency", "taskscope", worst, "ms", 0, stat);
    return 0;
}
