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
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "synth_rec.h"

/* Wall time of one `taskscope why path task`, in ms; -1 if it failed.
 * *cpu_ms receives its CPU time (user + system): on a loaded machine the
 * wall time is mostly waiting for a core, and this says what the answer
 * itself cost. */
static double timed_why(const char *exe, const char *path, uint64_t task, double *cpu_ms) {
    char arg[32];
    snprintf(arg, sizeof arg, "%llu", (unsigned long long)task);
    int64_t t0 = bench_now_ns();
    pid_t p = fork();
    if (p == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execl(exe, exe, "why", path, arg, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (p < 0 || wait4(p, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    double wall = (double)(bench_now_ns() - t0) / 1e6;
    *cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
              (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    return wall;
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    char self[PATH_MAX], exe[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = 0;
    snprintf(exe, sizeof exe, "%s/../taskscope", dirname(self));
    uint64_t target = (uint64_t)bench_pick(&o, 1000000, 10000000);
    char path[] = "/tmp/bench_why_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
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
            double cpu = 0, ms = timed_why(exe, path, picks[i], &cpu);
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
