/*
 * why_latency.c - bench_why_latency: how long `taskscope why FILE TASK`
 * takes for one task of a large recording (issue 19: under a second on
 * 10M events).  It writes a synthetic recording through the real store,
 * as bench_export does (10 million events; 1 million with --quick): 1,000
 * tasks alive at a time on one loop, each running 10 steps separated by
 * sleeps and one wait for a lock every task takes and gives back once,
 * then done.  Then it runs the real command (DIR/taskscope, beside this
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
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "store.h"

#define LIVE 1000
#define STEPS 10
#define LOCK 7

static ts_store *store;
static uint64_t now_ns = 1000000000ull, events, next_task;

static void put(void *rec, uint16_t type, size_t size) {
    ts_ev_header *h = rec;
    h->type = type;
    h->size = (uint16_t)size;
    now_ns += 997; /* ~1 us apart */
    ts_store_event(store, h, now_ns, 1);
    events++;
}

static void put_string(uint32_t id, const char *s) {
    _Alignas(8) char buf[sizeof(ts_ev_string) + 64] = {0};
    ts_ev_string *e = (ts_ev_string *)buf;
    e->id = id;
    e->len = (uint32_t)strlen(s);
    memcpy(buf + sizeof *e, s, e->len);
    put(e, TS_EV_string, sizeof *e + ((e->len + 7) & ~7u));
}

static int make_recording(const char *path, uint64_t target) {
    char err[512];
    if (ts_store_create_ex(path, TS_STORE_REPLACE, &store, err, sizeof err)) {
        fprintf(stderr, "bench_why_latency: %s\n", err);
        return -EIO;
    }
    put_string(1, "worker");
    put_string(2, "bench/export.c");
    put_string(3, "spawn_workers");
    ts_ev_site site = {.id = 1, .file = 2, .func = 3, .line = 42};
    put(&site, TS_EV_site, sizeof site);
    ts_ev_resource_create rc = {.resource = LOCK, .kind = 1, .site = 1};
    put(&rc, TS_EV_resource_create, sizeof rc);
    ts_ev_loop_create lc = {.loop = 1, .tid = 1};
    put(&lc, TS_EV_loop_create, sizeof lc);
    ts_ev_task_create root = {.task = 1, .loop = 1, .name = 1, .site = 1};
    put(&root, TS_EV_task_create, sizeof root);
    /* Tasks in waves of LIVE: each wave spawned by the root, then stepped
     * round-robin, then finished and freed (as the runtime does: the
     * tracer's model lets go of a task once it is freed). */
    uint64_t next = 2;
    while (events < target) {
        uint64_t first = next;
        for (int i = 0; i < LIVE; i++, next++) {
            ts_ev_task_create c = {.task = next, .parent = 1, .loop = 1, .name = 1, .site = 1};
            put(&c, TS_EV_task_create, sizeof c);
        }
        for (int step = 0; step < STEPS; step++)
            for (uint64_t t = first; t < next; t++) {
                ts_ev_task_resume r = {.task = t};
                put(&r, TS_EV_task_resume, sizeof r);
                if (step == STEPS - 1) {
                    ts_ev_task_done d = {.task = t, .state = 3};
                    put(&d, TS_EV_task_done, sizeof d);
                    ts_ev_task_free f = {.task = t}; /* the runtime frees it */
                    put(&f, TS_EV_task_free, sizeof f);
                    continue;
                }
                if (step == 0) { /* takes and gives back the lock */
                    ts_ev_resource_acquired a = {.resource = LOCK, .task = t};
                    put(&a, TS_EV_resource_acquired, sizeof a);
                    ts_ev_resource_release rl = {.resource = LOCK, .task = t};
                    put(&rl, TS_EV_resource_release, sizeof rl);
                }
                /* step 5 waits for the lock, the others sleep */
                ts_ev_task_suspend s = {.task = t, .kind = step == 5 ? 5 : 3,
                                        .object = step == 5 ? LOCK : 0, .site = 1};
                put(&s, TS_EV_task_suspend, sizeof s);
                ts_ev_task_wake w = {.task = t};
                put(&w, TS_EV_task_wake, sizeof w);
            }
    }
    next_task = next;
    ts_ev_task_done d = {.task = 1, .state = 3};
    put(&d, TS_EV_task_done, sizeof d);
    return ts_store_close(store, "complete", 0) ? -EIO : 0;
}

/* The events in the recording (the maker's count stayed in its child). */
/* Wall time of one `taskscope why path task`, in ms; -1 if it failed. */
static double timed_why(const char *exe, const char *path, uint64_t task) {
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
    if (p < 0 || waitpid(p, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return -1;
    return (double)(bench_now_ns() - t0) / 1e6;
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
    if (make_recording(path, target)) {
        unlink(path);
        bench_emit_error("why_latency", "taskscope", "ms", 0, "recording failed");
        return 1;
    }
    uint64_t tasks = next_task;
    fprintf(stderr, "why_latency: a recording of %llu events, %llu tasks, written in %.1f s\n",
            (unsigned long long)events, (unsigned long long)tasks,
            (double)(bench_now_ns() - t0) / 1e9);
    /* Tasks early, in the middle and late in the recording: the answer
     * must not depend on where the task is. */
    uint64_t picks[] = {2, tasks / 4, tasks / 2, tasks - 2};
    double worst = 0;
    int reps = o.reps < 1 ? 1 : o.reps, rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        double best = -1;
        for (int r = 0; r < reps; r++) {
            double ms = timed_why(exe, path, picks[i]);
            if (ms < 0) {
                rc = 1;
                break;
            }
            if (best < 0 || ms < best)
                best = ms;
        }
        fprintf(stderr, "why_latency: task %llu: %.1f ms\n", (unsigned long long)picks[i], best);
        if (best > worst)
            worst = best;
    }
    unlink(path);
    if (rc) {
        bench_emit_error("why_latency", "taskscope", "ms", 0, "taskscope why failed");
        return 1;
    }
    char stat[96];
    snprintf(stat, sizeof stat, "slowest of 4 tasks, best of %d, %llu events", reps,
             (unsigned long long)events);
    bench_emit("why_latency", "taskscope", worst, "ms", 0, stat);
    return 0;
}
