/*
 * bench_idle_memory.c - resident memory per idle task, in bytes.
 *
 * N tasks are spawned and each parks in ts_sleep(1000); the figure is the
 * growth of the resident set (/proc/self/statm) divided by N: the task
 * record, the pages of its stack it has touched, its timer, and whatever
 * the allocator and the loop's heap add per task.  Same workload as
 * bench/anchors/idle_memory.py.
 *
 * Figures:
 *   idle_memory  N = 10k (--quick) or 100k tasks.
 *   spawn_concurrent  the same run's spawn rate, tasks/s: unlike the spawn
 *                figure, every task stays alive, so no stack is recycled and
 *                each costs a fresh mapping and its first page fault.
 *   first_touch  what one of those fresh pages costs on this machine, in ns:
 *                N pages of a new anonymous mapping written once each, the
 *                first-touch fault spawn_concurrent pays per task (its
 *                floor: no task runs without a page of stack).  Measured in
 *                the same run, as on a VM it varies tenfold with the host.
 *   idle_1m      (--full only) a million concurrent sleeping tasks, run in
 *                a child process forked before any loop exists, so neither
 *                measurement sees memory the other freed and kept.
 *
 * One sample each, not best-of: a second round in the same process would
 * reuse the first round's memory and measure nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"

typedef struct idle_run {
    const char *figure;
    const char *rate_figure;   /* NULL: do not report the spawn rate */
    long n;
} idle_run;

static void *sleeper(void *arg)
{
    (void)arg;
    int err = ts_sleep(1000);
    return err ? ts_fail(err, NULL) : NULL;
}

/* Cancel and collect the first n tasks; they end cancelled, as expected. */
static void reap(ts_task **tasks, long n)
{
    for (long i = 0; i < n; i++)
        ts_task_cancel(tasks[i], NULL);
    for (long i = 0; i < n; i++)
        ts_await(tasks[i], NULL);
}

static void *measure(void *arg)
{
    const idle_run *r = arg;
    /* The handle array is ours, not the runtime's: touch it before the
     * first reading so it is not counted. */
    ts_task **tasks = malloc((size_t)r->n * sizeof *tasks);
    if (!tasks) {
        bench_emit_error(r->figure, "taskscope", "B/task", 0, "out of memory");
        return NULL;
    }
    memset(tasks, 0, (size_t)r->n * sizeof *tasks);

    long rss0 = bench_rss_bytes();
    int64_t t0 = bench_now_ns();
    long spawned = 0;
    while (spawned < r->n && (tasks[spawned] = ts_spawn(sleeper, NULL)))
        spawned++;
    /* Two yields: the first lets every new task run up to its sleep. */
    ts_sleep(0);
    ts_sleep(0);
    int64_t t1 = bench_now_ns();
    long rss1 = bench_rss_bytes();

    if (spawned < r->n) {
        char why[96];
        snprintf(why, sizeof why, "spawned %ld of %ld tasks: out of memory",
                 spawned, r->n);
        bench_emit_error(r->figure, "taskscope", "B/task", 0, why);
    } else if (rss0 < 0 || rss1 < 0) {
        bench_emit_error(r->figure, "taskscope", "B/task", 0,
                         "cannot read /proc/self/statm");
    } else {
        double per_task = (double)(rss1 - rss0) / (double)r->n;
        fprintf(stderr, "%s: %ld concurrent sleeping tasks: ok, RSS +%.1f MiB "
                "(%.0f B/task), spawned and parked in %.2f s\n", r->figure,
                r->n, (double)(rss1 - rss0) / 1048576.0, per_task,
                (double)(t1 - t0) / 1e9);
        bench_emit(r->figure, "taskscope", per_task, "B/task", 0, "one run");
        if (r->rate_figure)
            bench_emit(r->rate_figure, "taskscope",
                       (double)r->n * 1e9 / (double)(t1 - t0), "tasks/s", 1,
                       "one run");
    }
    reap(tasks, spawned);
    free(tasks);
    return NULL;
}

/* ns per first touch of a fresh anonymous page: n pages, one write each. */
static void first_touch(long n)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)n * (size_t)page;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        bench_emit_error("first_touch", "taskscope", "ns/page", 0, "mmap failed");
        return;
    }
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++)
        ((volatile char *)p)[i * page] = 1;
    int64_t t1 = bench_now_ns();
    munmap(p, len);
    bench_emit("first_touch", "taskscope", (double)(t1 - t0) / (double)n,
               "ns/page", 0, "one run");
}

/* The million-task run, in a child so its memory stays its own. */
static int run_million(void)
{
    idle_run r = {"idle_1m", NULL, 1000000};
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        bench_emit_error(r.figure, "taskscope", "B/task", 0, "fork failed");
        return 1;
    }
    if (pid == 0)
        _exit(bench_run(measure, &r, "bench_idle_memory"));
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
        bench_emit_error(r.figure, "taskscope", "B/task", 0,
                         "the child measuring a million tasks died");
        return 1;
    }
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    int status = 0;
    if (o.mode == BENCH_FULL)
        status = run_million();
    idle_run r = {"idle_memory", "spawn_concurrent",
                  bench_pick(&o, 10000, 100000)};
    status = bench_run(measure, &r, "bench_idle_memory") || status;
    first_touch(r.n);
    return status;
}
