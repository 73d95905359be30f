/*
 * bpf_cost.c - what the BPF collector (tracer/bpf/) costs the program it
 * traces, measured in one run, each figure beside the same workload
 * untraced:
 *
 *   bpf_usdt_hit       ns added per traced USDT probe hit (class tasks):
 *                      a task yielding N times (ts_sleep(0): a suspend
 *                      and a resume probe per round), traced vs untraced
 *   bpf_syscall_loop   ns added per system call of a traced loop thread
 *                      (class syscalls: sys_enter/sys_exit tracepoints)
 *   bpf_syscall_other  ns added per system call of any other process on
 *                      the machine while the syscalls class is attached
 *                      somewhere (the tracepoints are system-wide; they
 *                      return at once for other processes)
 *
 * The workloads run in a forked child that waits at a gate until the
 * collector is attached, and times itself; the parent drains the ring
 * buffer meanwhile, as `taskscope attach --bpf` would.  Needs root; prints
 * the figures as bench_util JSON lines (value null with the reason when
 * BPF is unavailable).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#include "bench_util.h"
#include "collector.h"

enum workload { YIELDS, SYSCALLS };

typedef struct job {
    enum workload what;
    long n;
    double ns_per_op;
} job;

static void *work(void *arg) {
    job *j = arg;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < j->n; i++) {
        if (j->what == YIELDS)
            ts_sleep(0);
        else
            syscall(SYS_getppid);
    }
    j->ns_per_op = (double)(bench_now_ns() - t0) / (double)j->n;
    return NULL;
}

static void ignore_event(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    (void)rec, (void)ns, (void)tid;
    ++*(uint64_t *)arg;
}

/* Run the workload in a gated child, traced with classes (0: untraced);
 * returns its ns per operation, or a negative errno. */
static double measure(enum workload what, long n, unsigned classes) {
    int gate[2], out[2];
    if (pipe(gate) || pipe(out))
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        char go;
        close(gate[1]);
        if (read(gate[0], &go, 1) != 1)
            _exit(1);
        job j = {what, n, 0};
        ts_run(work, &j);
        _exit(write(out[1], &j.ns_per_op, sizeof j.ns_per_op) == sizeof j.ns_per_op ? 0 : 1);
    }
    close(gate[0]);
    close(out[1]);
    ts_bpf *b = NULL;
    char err[512];
    if (classes) {
        ts_bpf_opts o = {.events = classes};
        int rc = ts_bpf_open(&b, pid, &o, err, sizeof err);
        if (rc) {
            fprintf(stderr, "bpf_cost: %s\n", err);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return rc;
        }
    }
    if (write(gate[1], "g", 1) != 1)
        return -EPIPE;
    close(gate[1]);
    uint64_t events = 0;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0)
        if (!b || ts_bpf_poll(b, 10, ignore_event, &events) < 0)
            usleep(1000);
    if (b) {
        while (ts_bpf_poll(b, 0, ignore_event, &events) > 0)
            ;
        fprintf(stderr, "bpf_cost: %llu events delivered\n", (unsigned long long)events);
        ts_bpf_close(b);
    }
    double v = -EIO;
    if (read(out[0], &v, sizeof v) != sizeof v)
        v = -EIO;
    close(out[0]);
    return v;
}

/* getppid in this process (not traced), with the syscalls class attached
 * to a gated child that does nothing: the cost every process pays. */
static double other_process(long n, int attached) {
    int gate[2];
    if (pipe(gate))
        return -errno;
    pid_t pid = fork();
    if (pid == 0) {
        char go;
        close(gate[1]);
        _exit(read(gate[0], &go, 1) == 1 ? 0 : 1);
    }
    close(gate[0]);
    ts_bpf *b = NULL;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_SYSCALLS};
    int rc = attached ? ts_bpf_open(&b, pid, &o, err, sizeof err) : 0;
    double v = rc;
    if (!rc) {
        int64_t t0 = bench_now_ns();
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
        v = (double)(bench_now_ns() - t0) / (double)n;
    } else {
        fprintf(stderr, "bpf_cost: %s\n", err);
    }
    ts_bpf_close(b);
    close(gate[1]);
    waitpid(pid, NULL, 0);
    return v;
}

static double best_of(int reps, double (*f)(enum workload, long, unsigned), enum workload w,
                      long n, unsigned classes) {
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double v = f(w, n, classes);
        if (v < 0)
            return v;
        if (best < 0 || v < best)
            best = v;
    }
    return best;
}

static double best_other(int reps, long n, int attached) {
    double best = -1;
    for (int r = 0; r < reps; r++) {
        double v = other_process(n, attached);
        if (v < 0)
            return v;
        if (best < 0 || v < best)
            best = v;
    }
    return best;
}

static void emit_delta(const char *figure, double plain, double traced, double per,
                       const char *what) {
    char stat[160];
    if (plain < 0 || traced < 0) {
        bench_emit_error(figure, "taskscope", "ns", 0, strerror((int)-(plain < 0 ? plain : traced)));
        return;
    }
    double extra = (traced - plain) / per;
    snprintf(stat, sizeof stat, "best; %s: %.1f ns untraced, %.1f ns traced", what, plain, traced);
    fprintf(stderr, "bpf_cost: %s: %.1f ns untraced, %.1f ns traced: %.0f ns per %s\n", figure,
            plain, traced, extra, figure + 4);
    bench_emit(figure, "taskscope", extra, "ns", 0, stat);
}

int main(int argc, char **argv) {
    bench_opts o;
    if (bench_parse(argc, argv, &o))
        return 2;
    int reps = o.reps > 0 ? o.reps : 3;
    char why[256];
    if (ts_bpf_available(why, sizeof why)) {
        bench_emit_error("bpf_usdt_hit", "taskscope", "ns", 0, why);
        bench_emit_error("bpf_syscall_loop", "taskscope", "ns", 0, why);
        bench_emit_error("bpf_syscall_other", "taskscope", "ns", 0, why);
        return 0;
    }
    long n = bench_pick(&o, 100000, 1000000);
    /* a yield round is two probe hits: task_suspend and task_resume */
    emit_delta("bpf_usdt_hit", best_of(reps, measure, YIELDS, n, 0),
               best_of(reps, measure, YIELDS, n, TS_BPF_TASKS), 2.0, "per ts_sleep(0)");
    emit_delta("bpf_syscall_loop", best_of(reps, measure, SYSCALLS, n, 0),
               best_of(reps, measure, SYSCALLS, n, TS_BPF_SYSCALLS), 1.0, "per getppid");
    emit_delta("bpf_syscall_other", best_other(reps, n, 0), best_other(reps, n, 1), 1.0,
               "per getppid");
    return 0;
}
