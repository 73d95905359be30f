/*
 * bench_debug.c - the debug runtime beside the release runtime, in one
 * invocation: the driver behind the figures debug_spawn, debug_sleep0,
 * debug_pingpong and event_cost_spawn, event_cost_sleep0,
 * event_cost_pingpong.
 *
 *     bench_debug [--quick|--full] [--reps N] [--reader lib|taskscope]
 *                 [--only spawn|sleep0|pingpong]
 *
 * It runs this directory's bench_spawn, bench_sleep0 and bench_pingpong
 * (one repetition per child) three ways, one after the other within each
 * repetition so that a burst of machine noise hits all three alike:
 *   release   LD_LIBRARY_PATH=<build>/runtime
 *   debug     LD_LIBRARY_PATH=<build>/runtime/debug (the same soname) and
 *             TASKSCOPE_WAIT_READER_MS=3000, with a live reader draining
 *             the child's rings from the start: by default the reader
 *             library (tracer/reader.h) in this process, polling back to
 *             back while there is data (the fastest reader there is); with
 *             --reader taskscope, `taskscope attach PID -o FILE`, the real
 *             tracer writing its SQLite store
 *   alone     the debug runtime with no reader: the flight recorder
 * Each child's /proc/PID/exe and /proc/PID/maps are checked while it runs:
 * the figure is refused unless libtaskscope was mapped from the directory
 * it was given.
 *
 * Output (JSON lines, bench_util.h's contract, plus extra fields):
 *   debug_<w>        source "taskscope": the debug runtime with the reader,
 *                    with "events" (delivered to the reader) and "dropped"
 *                    (the rings' drop counters: with a live reader that
 *                    falls behind, the runtime drops rather than
 *                    overwrites) of the best run, and "cpu_ratio": release
 *                    over debug in the children's CPU time (best of each;
 *                    the whole child, setup included), which the time the
 *                    child spends preempted on a loaded machine - the
 *                    reader's included - does not move; source "release":
 *                    the release runtime.  bench/run prints debug/release
 *                    as the ratio (for ns units, release ns / debug ns:
 *                    the same "debug speed over release speed").
 *   event_cost_<w>   what the debug runtime alone adds to a child's CPU
 *                    time (best debug alone - best release), over the
 *                    events a child emits (delivered + dropped, from the
 *                    reader runs of the same workload): ns per event, end
 *                    to end, "anchor":null.  CPU time rather than wall
 *                    clock because on a loaded machine a child spends
 *                    much of its wall time preempted; "wall_ns_per_event"
 *                    has (debug - release) per operation from the
 *                    children's own figures over the events per
 *                    operation (events delivered per task_create for
 *                    spawn, per task_resume for sleep0 and pingpong).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "reader.h"

enum { RELEASE, DEBUG, ALONE, NKINDS };
static const char *const kind_names[NKINDS] = {"release", "debug+reader", "debug alone"};

typedef struct workload {
    const char *name;       /* bench_<name>, and the figure it prints */
    const char *unit;
    int higher;             /* higher is better */
    uint16_t op_event;      /* emitted once per operation */
} workload;

static const workload workloads[] = {
    {"spawn", "tasks/s", 1, TS_EV_task_create},
    {"sleep0", "ns/call", 0, TS_EV_task_resume},
    {"pingpong", "ns/switch", 0, TS_EV_task_resume},
};
#define NWORK (sizeof workloads / sizeof workloads[0])

/* The best run of one workload on one library, and the reader's counts. */
typedef struct result {
    int measured;
    double best;
    double best_cpu;                /* least CPU time of a child, ns */
    uint64_t events, dropped;       /* of the best run */
    uint64_t all_events, all_ops;   /* summed over runs: events per op */
    uint64_t all_dropped;           /* summed over runs: events emitted */
    char error[200];
} result;

/* What the reader saw of one child. */
typedef struct counts {
    uint64_t events, ops, dropped;
    uint16_t op_event;
} counts;

static char build_dir[PATH_MAX];
static int use_taskscope_cli;

static void nap_us(long us)
{
    struct timespec d = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&d, NULL);
}

/* ---- children ---------------------------------------------------------------------- */

static pid_t start_child(const char *exe, const char *libdir, int wait_reader,
                         const bench_opts *o, int *out_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(p[1], 1);
        dup2(devnull, 2); /* its per-rep lines would be unlabelled here */
        setenv("LD_LIBRARY_PATH", libdir, 1);
        unsetenv("TASKSCOPE_TRACE");
        if (wait_reader)
            setenv("TASKSCOPE_WAIT_READER_MS", "3000", 1);
        else
            unsetenv("TASKSCOPE_WAIT_READER_MS");
        const char *mode = o->mode == BENCH_QUICK ? "--quick" : "--full";
        execl(exe, exe, mode, "--reps", "1", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    *out_fd = p[0];
    return pid;
}

/* 1 when pid runs exe and has mapped libtaskscope from exactly dir, -1 when
 * from elsewhere, 0 while it cannot tell yet (not exec'd, not loaded). */
static int loaded_from(pid_t pid, const char *exe, const char *dir)
{
    char path[64], line[PATH_MAX + 256], target[PATH_MAX];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    if (strcmp(target, exe) != 0)
        return 0; /* still the fork of this driver */
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    int verdict = 0;
    size_t len = strlen(dir);
    while (f && !verdict && fgets(line, sizeof line, f)) {
        char *file = strchr(line, '/');
        char *base = file ? strrchr(file, '/') : NULL;
        if (!base || strncmp(base, "/libtaskscope.so", 16) != 0)
            continue;
        verdict = (size_t)(base - file) == len && strncmp(file, dir, len) == 0 ? 1 : -1;
    }
    if (f)
        fclose(f);
    return verdict;
}

/* The value of the figure line for `figure` in out, or the reason not. */
static int parse_value(const char *out, const char *figure, double *v, char *err, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "\"figure\":\"%s\"", figure);
    const char *line = strstr(out, key);
    const char *val = line ? strstr(line, "\"value\":") : NULL;
    if (!val) {
        snprintf(err, len, "no %s figure in its output", figure);
        return -1;
    }
    char *end;
    *v = strtod(val + 8, &end);
    if (end == val + 8) {
        const char *e = strstr(line, "\"error\":\"");
        snprintf(err, len, "%.*s", e ? (int)strcspn(e + 9, "\"") : 9, e ? e + 9 : "no value");
        return -1;
    }
    return 0;
}

/* ---- the reader ---------------------------------------------------------------------- */

static void count_event(const ts_reader_event *ev, void *arg)
{
    counts *c = arg;
    c->events++;
    c->ops += ev->type == c->op_event;
}

/* Open the child's segment once it exists; attach unless the CLI will. */
static ts_reader *open_segment(pid_t pid, char *err, size_t len)
{
    ts_reader *rd = NULL;
    if (ts_reader_open_pid(&rd, (int)pid, err, len) != 0)
        return NULL;
    if (!use_taskscope_cli && ts_reader_attach(rd) != 0) {
        snprintf(err, len, "attach: %s", ts_reader_error(rd));
        ts_reader_close(rd);
        return NULL;
    }
    return rd;
}

static pid_t start_cli(pid_t target, const char *db)
{
    char exe[PATH_MAX + 32], pidarg[16];
    /* <build>/taskscope; <build>/tracer/taskscope in older trees */
    snprintf(exe, sizeof exe, "%s/taskscope", build_dir);
    if (access(exe, X_OK) != 0)
        snprintf(exe, sizeof exe, "%s/tracer/taskscope", build_dir);
    snprintf(pidarg, sizeof pidarg, "%d", (int)target);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        execl(exe, exe, "attach", pidarg, "-o", db, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* ---- one run ------------------------------------------------------------------------- */

typedef struct run {
    const workload *w;
    int kind;
    const bench_opts *o;
    double value;
    double cpu_ns;          /* the child's CPU time, user + system */
    counts seen;
    char error[200];
} run;

/* Supervise the child: check its library, drain its rings (DEBUG), and
 * wait for its exit.  Returns 0 with the child's status in *status. */
static int supervise(run *u, pid_t pid, const char *exe, const char *libdir, int *status)
{
    ts_reader *rd = NULL;
    pid_t cli = -1;
    char db[4096] = "";
    int verified = 0, reaped = 0;
    int64_t start = bench_now_ns();
    char err[256] = "no trace segment appeared";
    while (!reaped) {
        struct rusage ru;
        reaped = wait4(pid, status, WNOHANG, &ru) == pid;
        if (reaped)
            u->cpu_ns = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
                        (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
        if (!verified && !reaped)
            verified = loaded_from(pid, exe, libdir);
        int n = 0;
        if (u->kind == DEBUG && !rd && !reaped) {
            rd = open_segment(pid, err, sizeof err);
            if (rd && use_taskscope_cli) {
                snprintf(db, sizeof db, "%s/bench_debug.%d.db", bench_tmpdir(), (int)pid);
                cli = start_cli(pid, db);
            }
        } else if (rd && !use_taskscope_cli) {
            n = ts_reader_poll(rd, count_event, &u->seen);
        }
        if (bench_now_ns() - start > 600 * (int64_t)1000000000) {
            kill(pid, SIGKILL);
            snprintf(u->error, sizeof u->error, "timed out");
        }
        if (n <= 0 && !reaped)
            nap_us(rd || verified ? 50 : 200);
    }
    if (rd) {
        /* What it published on its way out; the mapping outlives the
         * segment's name. */
        ts_reader_poll(rd, use_taskscope_cli ? NULL : count_event, &u->seen);
        ts_reader_stats st;
        ts_reader_get_stats(rd, &st);
        u->seen.dropped = st.dropped_total;
        ts_reader_close(rd);
    }
    if (cli > 0) {
        waitpid(cli, NULL, 0); /* it ends when its target is gone */
        unlink(db);
        char extra[sizeof db + 8];
        snprintf(extra, sizeof extra, "%s-wal", db);
        unlink(extra);
        snprintf(extra, sizeof extra, "%s-shm", db);
        unlink(extra);
    }
    if (u->kind == DEBUG && !rd && !u->error[0])
        snprintf(u->error, sizeof u->error, "no reader: %.180s", err);
    if (verified <= 0 && !u->error[0])
        snprintf(u->error, sizeof u->error, "%s",
                 verified < 0 ? "libtaskscope was loaded from another directory"
                              : "could not see which libtaskscope it loaded");
    return u->error[0] ? -1 : 0;
}

static void run_once(run *u)
{
    char exe[PATH_MAX + 32], libdir[PATH_MAX + 32];
    snprintf(exe, sizeof exe, "%s/bench/bench_%s", build_dir, u->w->name);
    snprintf(libdir, sizeof libdir, "%s/runtime%s", build_dir, u->kind == RELEASE ? "" : "/debug");
    memset(&u->seen, 0, sizeof u->seen);
    u->seen.op_event = u->w->op_event;
    u->error[0] = '\0';
    int out = -1, status = 0;
    pid_t pid = start_child(exe, libdir, u->kind == DEBUG, u->o, &out);
    if (pid < 0) {
        snprintf(u->error, sizeof u->error, "cannot start bench_%s", u->w->name);
        return;
    }
    int bad = supervise(u, pid, exe, libdir, &status);
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while ((n = read(out, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(out);
    if (bad)
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(u->error, sizeof u->error, "cannot run bench_%s", u->w->name);
    else if (parse_value(buf, u->w->name, &u->value, u->error, sizeof u->error) == 0 &&
             (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        snprintf(u->error, sizeof u->error, "bench_%s failed", u->w->name);
}

static void record(result *r, const run *u, int higher)
{
    if (u->error[0]) {
        snprintf(r->error, sizeof r->error, "%s", u->error);
        return;
    }
    r->all_events += u->seen.events;
    r->all_ops += u->seen.ops;
    r->all_dropped += u->seen.dropped;
    if (!r->measured || u->cpu_ns < r->best_cpu)
        r->best_cpu = u->cpu_ns;
    if (!r->measured || (higher ? u->value > r->best : u->value < r->best)) {
        r->best = u->value;
        r->events = u->seen.events;
        r->dropped = u->seen.dropped;
    }
    r->measured++;
}

/* ---- output ---------------------------------------------------------------------------- */

static void emit_result(const char *figure, const char *source, const workload *w,
                        const result *r, const result *release)
{
    int with_reader = release != NULL;
    if (!r->measured) {
        bench_emit_error(figure, source, w->unit, w->higher, r->error);
        return;
    }
    printf("{\"figure\":\"%s\",\"source\":\"%s\",\"value\":%.6g,\"unit\":\"%s\","
           "\"better\":\"%s\",\"stat\":\"best of %d\"",
           figure, source, r->best, w->unit, w->higher ? "higher" : "lower", r->measured);
    if (with_reader && use_taskscope_cli)
        printf(",\"reader\":\"taskscope attach\",\"dropped\":%llu",
               (unsigned long long)r->dropped);
    else if (with_reader)
        printf(",\"reader\":\"ts_reader\",\"events\":%llu,\"dropped\":%llu",
               (unsigned long long)r->events, (unsigned long long)r->dropped);
    if (with_reader && release->measured && r->best_cpu > 0)
        printf(",\"cpu_ratio\":%.3g", release->best_cpu / r->best_cpu);
    printf("}\n");
}

static double ns_per_op(const workload *w, double v)
{
    return w->higher ? 1e9 / v : v;
}

/* The end-to-end cost of an event: what the debug runtime (no reader)
 * adds to a child's CPU time, over the events a child emits (delivered
 * plus dropped in the reader runs: the same workload).  The wall-clock
 * version, from the children's own figures, rides along. */
static void emit_event_cost(const workload *w, const result *res)
{
    char figure[64];
    snprintf(figure, sizeof figure, "event_cost_%s", w->name);
    const result *rel = &res[RELEASE], *alone = &res[ALONE], *dbg = &res[DEBUG];
    const char *why = !rel->measured ? rel->error : !alone->measured ? alone->error
                    : use_taskscope_cli ? "events are counted only with --reader lib"
                    : !dbg->measured ? dbg->error
                    : !dbg->all_ops ? "the reader saw no operations" : NULL;
    if (why) {
        bench_emit_error(figure, "taskscope", "ns/event", 0, why);
        return;
    }
    double per_op = (double)dbg->all_events / (double)dbg->all_ops;
    double per_run = (double)(dbg->all_events + dbg->all_dropped) / dbg->measured;
    double d = ns_per_op(w, alone->best), r = ns_per_op(w, rel->best);
    printf("{\"figure\":\"%s\",\"source\":\"taskscope\",\"value\":%.6g,\"unit\":\"ns/event\","
           "\"better\":\"lower\",\"stat\":\"best of %d, children's CPU time\","
           "\"wall_ns_per_event\":%.4g,\"events_per_op\":%.4g,\"events_per_run\":%.0f,"
           "\"debug_ns_per_op\":%.6g,\"release_ns_per_op\":%.6g}\n",
           figure, (alone->best_cpu - rel->best_cpu) / per_run, alone->measured,
           (d - r) / per_op, per_op, per_run, d, r);
}

/* ---- main -------------------------------------------------------------------------------- */

static int find_build_dir(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/'); /* <build>/bench/bench_debug */
    if (slash)
        *slash = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    return realpath(self, build_dir) ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    char *rest[8];
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reader") == 0 && i + 1 < argc) {
            const char *how = argv[++i];
            use_taskscope_cli = strcmp(how, "taskscope") == 0;
            if (!use_taskscope_cli && strcmp(how, "lib") != 0) {
                fprintf(stderr, "%s: --reader lib|taskscope\n", argv[0]);
                return 2;
            }
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (nrest < 7) {
            rest[nrest++] = argv[i];
        }
    }
    rest[nrest] = NULL;
    bench_opts o;
    if (bench_parse(nrest, rest, &o))
        return 2;
    if (find_build_dir() != 0) {
        fprintf(stderr, "%s: cannot find the build directory\n", argv[0]);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    result res[NWORK][NKINDS];
    memset(res, 0, sizeof res);
    for (int rep = 0; rep < o.reps; rep++) {
        for (size_t w = 0; w < NWORK; w++) {
            if (only && strcmp(only, workloads[w].name) != 0)
                continue;
            for (int k = 0; k < NKINDS; k++) {
                run u = {.w = &workloads[w], .kind = k, .o = &o};
                run_once(&u);
                record(&res[w][k], &u, workloads[w].higher);
                if (u.error[0])
                    fprintf(stderr, "%s rep %d %s: %s\n", u.w->name, rep + 1,
                            kind_names[k], u.error);
                else if (k == DEBUG)
                    fprintf(stderr, "%s rep %d %s: %.6g %s (CPU %.0f ms), %llu events, "
                            "%llu dropped\n", u.w->name, rep + 1, kind_names[k], u.value,
                            u.w->unit, u.cpu_ns / 1e6, (unsigned long long)u.seen.events,
                            (unsigned long long)u.seen.dropped);
                else
                    fprintf(stderr, "%s rep %d %s: %.6g %s (CPU %.0f ms)\n", u.w->name,
                            rep + 1, kind_names[k], u.value, u.w->unit, u.cpu_ns / 1e6);
            }
        }
    }
    int status = 0;
    for (size_t w = 0; w < NWORK; w++) {
        if (only && strcmp(only, workloads[w].name) != 0)
            continue;
        char figure[64];
        snprintf(figure, sizeof figure, "debug_%s", workloads[w].name);
        emit_result(figure, "taskscope", &workloads[w], &res[w][DEBUG], &res[w][RELEASE]);
        emit_result(figure, "release", &workloads[w], &res[w][RELEASE], NULL);
        emit_event_cost(&workloads[w], res[w]);
        status |= !res[w][DEBUG].measured;
    }
    fflush(stdout);
    return status;
}
