/*
 * cli.c - the `taskscope` command: dispatch, and the commands that
 * record (run, attach) or report (ps, pstree, blocked, stats); `query` is
 * in cli_query.c, `export` in cli_export.c, usage errors in cli_args.c,
 * `top` in tui/.
 *
 *   taskscope run [-o FILE] [--force] [--bpf ...] [--] PROGRAM [ARGS...]
 *   taskscope attach [-o FILE] [--force] [--duration S] [--bpf ...] PID
 *   taskscope ps|pstree|blocked|stats [--json] [--all] TARGET
 *   taskscope ps|pstree|blocked|stats --bpf [--duration S] PID
 *   taskscope query [--json|--csv] FILE SQL
 *   taskscope export --format perfetto|chrome|otlp [--force] -o OUT FILE
 *
 * TARGET is a live pid or a recording.  Exit codes: 0 success, 1 the
 * operation failed (message on stderr), 2 bad usage (one line naming the
 * problem and pointing at --help); `run` exits with the program's own
 * status (128+N if killed by signal N) once the recording is safely
 * closed.
 *
 * Files are precious (safe_io.h): no command replaces a file that is not
 * a recording, an existing recording is kept as NAME.old unless --force,
 * and `run` creates its recording only once the program has started and
 * is known to run on the debug runtime.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "follow.h"
#include "launch.h"
#include "report.h"
#include "report_sql.h"
#include "safe_io.h"
#include "session.h"
#include "textsafe.h"
#include "snapshot.h"
#include "where.h"
#ifdef TS_HAVE_TUI
#include "tui.h"
#endif
#ifdef TS_HAVE_BPF
#include "bpf_session.h"
#endif

#ifndef TS_VERSION
#define TS_VERSION "unknown"
#endif

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { (void)sig; interrupted = 1; }

static const char *USAGE =
    "usage: taskscope COMMAND [OPTIONS] ...\n"
    "       taskscope --version | --help\n"
    "\n"
    "Record and inspect programs built on the taskscope runtime.\n"
    "\n"
    "commands:\n"
    "  run [-o FILE] [--] PROGRAM [ARGS]  start PROGRAM on the debug runtime, record it\n"
    "  attach [-o FILE] [--duration S] PID  record a running process\n"
    "  run/attach --bpf [--bpf-events=LIST]  the same on the release runtime, through\n"
    "                                    BPF (root): no relink, blocking syscalls caught\n"
    "  ps TARGET                         all tasks: state, timings, what each awaits\n"
    "  pstree TARGET                     the task tree with await edges\n"
    "  blocked TARGET                    blocked-loop episodes and slow steps, with stacks\n"
    "  stats TARGET                      per task name and per loop statistics\n"
    "  where TARGET [TASK]               the call stack of every parked task (or one)\n"
    "  why [--json] [--depth N] FILE|PID TASK  where a task's wall time went: running,\n"
    "                                    runnable, each wait and who caused it\n"
    "  why --site FILE:LINE|--name NAME [--json] FILE   the tasks spawned there: wall\n"
    "                                    p50/p99, what the slowest percentile waited for\n"
    "  cancel [--msg TEXT] PID TASK      cancel a task of a live debug-runtime program\n"
    "  query [--json|--csv] FILE... SQL  one read-only SQL statement over recordings\n"
    "  export --format perfetto|chrome -o OUT FILE   a timeline for ui.perfetto.dev\n"
    "  export --format folded --task N|--site FILE:LINE -o OUT FILE   a wait flame graph\n"
    "  export --format otlp [--json] -o OUT | --endpoint URL FILE  OpenTelemetry spans\n"
    "  top PID | FILE | -- PROGRAM [ARGS]  the live (or replayed) all_tasks view\n"
    "\n"
    "TARGET is the pid of a live process using the debug runtime, or a recording.\n"
    "ps, pstree, blocked and stats take --json (and ps/pstree --all for finished tasks),\n"
    "and --bpf PID for a live process on the release runtime (root); top takes --bpf too.\n"
    "An existing recording at -o FILE is kept as FILE.old (--force replaces it); a file\n"
    "that is not a recording is never overwritten.\n"
    "Run `taskscope help COMMAND` for one command's details, `man taskscope` for all.\n"
    "Exit status: 0 ok, 1 failure, 2 usage; `run` passes on the program's status.\n";

/* A pid operand: digits that fit (4294967297 is not pid 1). */
static int pid_operand(const char *cmd, const char *s, int *pid) {
    if (ts_parse_pid(s, pid))
        return cli_usage(cmd, "'%s' is not a valid pid", s);
    return 0;
}

/* Is out somewhere a recording may be written?  Refuses (exit 2) a file
 * that is not a recording and anything that is not a regular file. */
static int check_output(const char *cmd, const char *out) {
    char what[PATH_MAX + 128];
    switch (ts_output_state(out, what, sizeof what)) {
    case TS_OUT_FREE:
    case TS_OUT_RECORDING:
        return 0;
    case TS_OUT_NOT_FILE:
        fprintf(stderr, "taskscope %s: %s: a recording must be a regular file\n", cmd, what);
        return 2;
    case TS_OUT_OTHER:
        break;
    }
    fprintf(stderr, "taskscope %s: %s: not overwriting it (choose another -o FILE)\n", cmd,
            what);
    return 2;
}

/* ---- run and attach -------------------------------------------------------- */

/* Create the recording (only once there is something to record: the
 * output was checked before, with check_output). */
static int open_store(ts_store **store, const char *out) {
    char err[PATH_MAX + 256];
    int rc = ts_store_create(out, store, err, sizeof err);
    if (rc)
        fprintf(stderr, "taskscope: %s\n", err);
    else if (ts_store_kept(*store))
        fprintf(stderr, "taskscope: the previous recording %s is kept as %s\n", out,
                ts_store_kept(*store));
    return rc;
}

/* Returns 1 if the process went away (exited, or a zombie: its parent
 * may not have reaped it yet, so the reader may still think it alive). */
static int record(ts_session *s, int duration_ms) {
    if (s->store) {
        char buf[32];
        snprintf(buf, sizeof buf, "%d", s->pid);
        ts_store_meta(s->store, "pid", buf);
        ts_reader_info info;
        ts_reader_get_info(s->reader, &info);
        ts_store_meta(s->store, "exe", info.exe);
        ts_store_meta(s->store, "runtime_version", info.runtime_version);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return ts_session_run(s, &interrupted, duration_ms);
}

static int finish_recording(ts_session *s, const char *out, const char *status) {
    int rc = 0;
    if (s->store) {
        /* The store's message (disk full, ...) dies with it: take it first. */
        char why[256] = "write error";
        ts_store_flush(s->store);
        if (ts_store_error(s->store))
            snprintf(why, sizeof why, "%s", ts_store_error(s->store));
        rc = ts_store_close(s->store, status, tm_model_dropped(s->model));
        s->store = NULL;
        if (rc)
            fprintf(stderr, "taskscope: the recording %s is incomplete: %s\n", out, why);
    }
    fprintf(stderr, "taskscope: %llu events from pid %d%s%s (%s)", (unsigned long long)s->events,
            s->pid, out ? " recorded to " : "", out ? out : "", status);
    if (tm_model_dropped(s->model))
        fprintf(stderr, "; %llu events DROPPED", (unsigned long long)tm_model_dropped(s->model));
    fputc('\n', stderr);
    return rc;
}

/* ---- --bpf: the release runtime, traced through BPF (tracer/bpf/) ---------- */

typedef struct bpf_flags {
    int on;
    const char *events;     /* --bpf-events=LIST */
    double block_ms, slow_ms;
} bpf_flags;

static const char *BPF_HELP =
    "  --bpf                trace through BPF instead of the debug runtime: the program\n"
    "                       keeps its release libtaskscope (root; see `man taskscope`)\n"
    "  --bpf-events=LIST    tasks,futures,sync,jobs,syscalls or all (default all); each\n"
    "                       traced probe hit costs the program a few microseconds\n"
    "  --bpf-block-ms=N     report loop-thread system calls of N ms or more (default 1)\n"
    "  --bpf-slow-ms=N      report task steps of N ms or more (default 100)\n";

/* getopt_long values of the long-only options. */
enum {
    OPT_BPF = 256, OPT_BPF_EVENTS, OPT_BPF_BLOCK, OPT_BPF_SLOW, OPT_DURATION, OPT_BY_PREFIX, OPT_FORCE,
    OPT_NO_FOLLOW, OPT_KEEP_UNTRACED, OPT_JSON,
    OPT_PID,
    OPT_STACKS, OPT_FIELDS, /* issue 15 */
};

#define BPF_LONGOPTS                                              \
    {"bpf", no_argument, NULL, OPT_BPF},                          \
    {"bpf-events", required_argument, NULL, OPT_BPF_EVENTS},      \
    {"bpf-block-ms", required_argument, NULL, OPT_BPF_BLOCK},     \
    {"bpf-slow-ms", required_argument, NULL, OPT_BPF_SLOW}

/* A --bpf option (opt from getopt_long) into f: 1 if it was one, 0 if
 * not, 2 after a usage error (a value that is not a number). */
static int bpf_opt(const char *cmd, int opt, bpf_flags *f) {
    double v;
    switch (opt) {
    case OPT_BPF:
        f->on = 1;
        return 1;
    case OPT_BPF_EVENTS:
        f->events = optarg, f->on = 1;
        return 1;
    case OPT_BPF_BLOCK:
    case OPT_BPF_SLOW:
        if (cli_parse_seconds(optarg, &v))
            return cli_usage(cmd, "%s wants a number of milliseconds, not '%s'",
                             opt == OPT_BPF_BLOCK ? "--bpf-block-ms" : "--bpf-slow-ms", optarg);
        *(opt == OPT_BPF_BLOCK ? &f->block_ms : &f->slow_ms) = v;
        f->on = 1;
        return 1;
    default:
        return 0;
    }
}

static int duration_opt(const char *cmd, double *duration) {
    if (cli_parse_seconds(optarg, duration))
        return cli_usage(cmd, "--duration wants a number of seconds, not '%s'", optarg);
    return 0;
}

#ifdef TS_HAVE_BPF
static int bpf_options(const bpf_flags *f, ts_bpf_opts *o) {
    char err[256];
    memset(o, 0, sizeof *o);
    if (f->events && ts_bpf_parse_events(f->events, &o->events, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return -1;
    }
    o->block_ms = f->block_ms;
    o->slow_ms = f->slow_ms;
    return 0;
}

/* Like record(), for a BPF session; returns 1 if the process went away. */
static int record_bpf(ts_bpf_session *bs, int duration_ms) {
    if (bs->s.store) {
        char buf[PATH_MAX], path[64];
        snprintf(buf, sizeof buf, "%d", bs->s.pid);
        ts_store_meta(bs->s.store, "pid", buf);
        snprintf(path, sizeof path, "/proc/%d/exe", bs->s.pid);
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = 0;
        ts_store_meta(bs->s.store, "exe", buf);
        ts_store_meta(bs->s.store, "collector", "bpf");
        ts_store_meta(bs->s.store, "library", ts_bpf_library(bs->bpf));
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!bs->s.child)
        ts_bpf_session_wait_dump(bs, 2000); /* the tasks that were there before us */
    return ts_bpf_session_run(bs, &interrupted, duration_ms);
}

static void bpf_summary(const ts_bpf_session *bs) {
    ts_bpf_stats st;
    ts_bpf_get_stats(bs->bpf, &st);
    fprintf(stderr, "taskscope: BPF: %u probes attached to %s; %llu blocking system calls%s\n",
            st.probes, ts_bpf_library(bs->bpf), (unsigned long long)st.blocked,
            ts_bpf_session_beside_ring(bs) ? " (tasks from the debug runtime's ring)" : "");
}

/* `ps --bpf PID` and friends: attach, take the state dump, watch for
 * duration_ms (blocking calls are only seen while we watch), detach. */
static int load_bpf_target(const char *target, const bpf_flags *f, int duration_ms,
                           ts_bpf_session *bs, char *src, size_t len) {
    ts_bpf_opts o;
    char err[512];
    int pid;
    if (ts_parse_pid(target, &pid)) {
        fprintf(stderr, "taskscope: --bpf needs the pid of a running process, not '%s'\n",
                target);
        return 2;
    }
    if (bpf_options(f, &o))
        return 2;
    /* Nothing is watched after the dump: its probes are all it needs. */
    o.dump_only = duration_ms == 0 && !f->events;
    if (ts_bpf_session_attach(bs, pid, &o, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    int complete = ts_bpf_session_wait_dump(bs, 2000);
    if (duration_ms > 0) {
        struct sigaction sa = {.sa_handler = on_signal};
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        ts_bpf_session_run(bs, &interrupted, duration_ms);
    }
    snprintf(src, len, "pid %s through BPF%s%s", target,
             ts_bpf_session_beside_ring(bs) ? " and the debug runtime's ring" : "",
             complete ? "" : " (no state dump: tasks appear at their next event)");
    return 0;
}

static int run_bpf(const char *out, char **prog, const bpf_flags *f) {
    ts_bpf_opts o;
    if (bpf_options(f, &o))
        return 2;
    ts_bpf_session bs;
    char err[PATH_MAX + 64];
    /* The BPF session must be drained from the moment the program runs
     * (its stack modules are read from /proc while it lives), so the
     * recording is made first; a program that does not exist is refused
     * before, and one that cannot be started undoes it (discard). */
    if (ts_find_program(prog[0], err, sizeof err)) {
        fprintf(stderr, "taskscope: cannot run %s: %s\n", prog[0], strerror(ENOENT));
        return 1;
    }
    ts_store *store;
    if (open_store(&store, out))
        return 1;
    int rc = ts_bpf_session_spawn(&bs, prog, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        ts_store_discard(store);
        return 1;
    }
    bs.s.store = store;
    record_bpf(&bs, -1);
    int status = 0;
    if (interrupted)
        kill(bs.s.child, SIGINT);
    waitpid(bs.s.child, &status, 0);
    while (ts_bpf_session_poll(&bs, 0) > 0)
        ;
    char st[96];
    if (WIFSIGNALED(status))
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", WTERMSIG(status));
    else
        snprintf(st, sizeof st, "complete: exit status %d", WEXITSTATUS(status));
    bpf_summary(&bs);
    rc = finish_recording(&bs.s, out, st);
    ts_bpf_session_close(&bs);
    if (rc)
        return 1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int attach_bpf(int pid, const char *out, int duration_ms, const bpf_flags *f) {
    ts_bpf_opts o;
    if (bpf_options(f, &o))
        return 2;
    ts_bpf_session bs;
    char err[512];
    if (ts_bpf_session_attach(&bs, pid, &o, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    if (open_store(&bs.s.store, out)) {
        ts_bpf_session_close(&bs);
        return 1;
    }
    int gone = record_bpf(&bs, duration_ms);
    bpf_summary(&bs);
    int rc = finish_recording(&bs.s, out, gone ? "complete: the process exited"
                                               : "complete: detached");
    ts_bpf_session_close(&bs);
    return rc ? 1 : 0;
}
#else
static int no_bpf(void) {
    fprintf(stderr, "taskscope: this build has no BPF collector (it needs clang, bpftool, "
                    "libbpf-dev and a kernel with BTF at build time)\n");
    return 1;
}
#define run_bpf(out, prog, f) ((void)(out), (void)(prog), (void)(f), no_bpf())
#define attach_bpf(pid, out, ms, f) ((void)(pid), (void)(out), (void)(ms), (void)(f), no_bpf())
#endif

static const char RUN_HELP[] =
    "usage: taskscope run [-o FILE] [--force] [--keep-untraced] [--bpf ...] [--] PROGRAM "
    "[ARGS...]\n\n"
    "Start PROGRAM with the debug runtime in place of the release one (a\n"
    "dynamically linked program needs no relinking) and record everything it\n"
    "does to FILE (default taskscope.db) until it exits or you press Ctrl-C.\n"
    "Exits with PROGRAM's status.  Within about a second of the start taskscope\n"
    "checks that PROGRAM really loaded the debug runtime; if not, it says why\n"
    "(library directory missing, statically linked, DT_RPATH, not a taskscope\n"
    "program), stops PROGRAM and exits 1.  The recording is created only then.\n\n"
    "  -o, --output FILE  where to record (default taskscope.db); an earlier recording\n"
    "                     there is kept as FILE.old; any other file is never replaced\n"
    "  --force            replace an earlier recording at FILE instead of keeping it\n"
    "  --keep-untraced    if PROGRAM cannot be traced, let it run untraced to its end\n"
    "                     (still exit 1) instead of stopping it\n"
    "  --no-follow        do not trace the children PROGRAM forks\n"
    "%s\nSee `man taskscope`.\n";

/* After the fork: wait for the runtime to be confirmed, then for the
 * trace segment.  Returns 0 with *s open, else the exit code (the reason
 * printed, the child stopped or waited for). */
static int start_tracing(ts_session *s, pid_t child, const char *prog, int keep_untraced) {
    char err[2048];
    int rc = ts_launch_confirm(child, prog, 1000, err, sizeof err);
    if (rc == 0)
        rc = ts_session_open(s, child, child, 10000, err, sizeof err);
    if (rc == 0)
        return 0;
    int status = 0;
    if (rc == -ECHILD || rc == -ENOENT) {
        /* exited before it could be traced (or never made a segment) */
        siginfo_t si = {0};
        if (rc == -ENOENT && waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            !si.si_pid) {
            fprintf(stderr, "taskscope: %s loaded the debug runtime but made no trace segment "
                            "within 10 s: %s\n", prog, err);
            ts_stop_untraced(child);
        }
        waitpid(child, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            ; /* the child said why it could not run the program */
        else if (rc == -ECHILD) {
            char why[1024];
            int known = ts_launch_explain_exit(prog, why, sizeof why);
            fprintf(stderr, "taskscope: %s ended (%s %d) before it could be traced%s%s\n", prog,
                    WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                    known ? ": " : "", known ? why : "");
        }
        return 1;
    }
    fprintf(stderr, "taskscope: %s\n", err);
    if (keep_untraced) {
        fprintf(stderr, "taskscope: --keep-untraced: %s runs on untraced; nothing is recorded\n",
                prog);
        waitpid(child, &status, 0);
        return 1;
    }
    fprintf(stderr, "taskscope: stopping %s (pid %d); nothing was recorded\n", prog, child);
    ts_stop_untraced(child);
    waitpid(child, &status, 0);
    return 1;
}

static int cmd_run(int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
        {"keep-untraced", no_argument, NULL, OPT_KEEP_UNTRACED},
        {"help", no_argument, NULL, 'h'},
        BPF_LONGOPTS,
        {0, 0, 0, 0},
    };
    const char *out = "taskscope.db";
    bpf_flags bpf = {0};
    int opt, force = 0, keep_untraced = 0, r;
    opterr = 0;
    /* '+': options end at PROGRAM, whose own options are its business. */
    while ((opt = getopt_long(argc, argv, "+:o:h", longopts, NULL)) != -1) {
        if ((r = bpf_opt("run", opt, &bpf)) != 0) {
            if (r == 2)
                return 2;
            continue;
        }
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_NO_FOLLOW:
            /* Following forked children is the session's business: it is
             * told through the environment (inherited, harmlessly, by the
             * program too). */
            setenv("TASKSCOPE_NO_FOLLOW", "1", 1);
            break;
        case OPT_KEEP_UNTRACED:
            keep_untraced = 1;
            break;
        case 'h':
            printf(RUN_HELP, BPF_HELP);
            return 0;
        default:
            return cli_bad_option("run", opt, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("run", "no program given");
    char **prog = argv + optind;
    if (!*out)
        return cli_usage("run", "-o needs a file name");
    if ((r = check_output("run", out)) != 0)
        return r;
    ts_store_set_default_flags(force ? TS_STORE_REPLACE : 0);
    if (bpf.on)
        return run_bpf(out, prog, &bpf);
    char err[1024];
    if (ts_debug_libdir_check(err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("taskscope: fork");
        return 1;
    }
    int follow = ts_follow_wanted();
    if (child == 0) {
        if (follow) /* a forked child waits for its follower (follow.h) */
            setenv("TASKSCOPE_FOLLOW_FORKS", "1", 0);
        ts_exec_on_debug_runtime(prog);
        fprintf(stderr, "taskscope: cannot run %s: %s\n", prog[0], strerror(errno));
        _exit(127);
    }
    ts_session s;
    if ((r = start_tracing(&s, child, prog[0], keep_untraced)) != 0)
        return r;
    /* The program runs on the debug runtime: now, and only now, the
     * recording (a failed start has left every file as it was). */
    if (open_store(&s.store, out)) {
        ts_session_close(&s);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return 1;
    }
    char cmd[1024] = "";
    size_t n = 0;
    for (int i = 0; prog[i] && n < sizeof cmd; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i ? " " : "", prog[i]);
    ts_store_meta(s.store, "command", cmd);
    s.follow = follow ? ts_follow_new(child, s.store) : NULL;
    record(&s, -1);
    int status = 0;
    if (interrupted)
        kill(child, SIGINT);
    waitpid(child, &status, 0);
    ts_session_poll(&s);
    ts_follow_finish(s.follow);
    s.follow = NULL;
    char st[96];
    if (WIFSIGNALED(status))
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", WTERMSIG(status));
    else
        snprintf(st, sizeof st, "complete: exit status %d", WEXITSTATUS(status));
    int rc = finish_recording(&s, out, st);
    ts_session_close(&s);
    if (rc)
        return 1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static const char ATTACH_HELP[] =
    "usage: taskscope attach [-o FILE] [--force] [--duration S] [--bpf ...] PID\n\n"
    "Record a running process that uses the debug runtime to FILE (default\n"
    "taskscope.db), starting with its flight recorder's recent window and a\n"
    "state dump of every live task, until it exits, S seconds pass or Ctrl-C.\n"
    "With --bpf the process may use the release runtime: its loops are asked\n"
    "for a state dump of their live tasks (idle loops are woken for it); on\n"
    "the debug runtime BPF adds the blocking system calls to its ring.\n\n"
    "  -o, --output FILE  where to record; an earlier recording there is kept as\n"
    "                     FILE.old, any other file is never replaced\n"
    "  --force            replace an earlier recording at FILE instead\n"
    "  --duration S       stop after S seconds\n"
    "%s\nSee `man taskscope`.\n";

static int cmd_attach(int argc, char **argv) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"help", no_argument, NULL, 'h'},
        BPF_LONGOPTS,
        {0, 0, 0, 0},
    };
    const char *out = "taskscope.db";
    double duration = -1;
    bpf_flags bpf = {0};
    int opt, r, force = 0, pid;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        if ((r = bpf_opt("attach", opt, &bpf)) != 0) {
            if (r == 2)
                return 2;
            continue;
        }
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_DURATION:
            if (duration_opt("attach", &duration))
                return 2;
            break;
        case 'h':
            printf(ATTACH_HELP, BPF_HELP);
            return 0;
        default:
            return cli_bad_option("attach", opt, argv);
        }
    }
    if (optind >= argc)
        return cli_usage("attach", "no pid given");
    if (argc - optind > 1)
        return cli_usage("attach", "unexpected argument '%s'", argv[optind + 1]);
    if (pid_operand("attach", argv[optind], &pid))
        return 2;
    if (!*out)
        return cli_usage("attach", "-o needs a file name");
    if ((r = check_output("attach", out)) != 0)
        return r;
    ts_store_set_default_flags(force ? TS_STORE_REPLACE : 0);
    if (bpf.on)
        return attach_bpf(pid, out, duration < 0 ? -1 : (int)(duration * 1000), &bpf);
    ts_session s;
    char err[512];
    int rc = ts_session_open(&s, pid, 0, 0, err, sizeof err);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    if (open_store(&s.store, out)) {
        ts_session_close(&s);
        return 1;
    }
    int gone = record(&s, duration < 0 ? -1 : (int)(duration * 1000));
    char st[96];
    if (gone && s.killed_by) /* its crash handler said so (not our child: no wait status) */
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", s.killed_by);
    rc = finish_recording(&s, out, gone ? (s.killed_by ? st : "complete: the process exited")
                                        : "complete: detached");
    ts_session_close(&s);
    return rc ? 1 : 0;
}

/* ---- reports ------------------------------------------------------------------ */

/* A recording's status, as reports print it (ts_store_status). */
static char file_status[512];

/* need_stack: wait for a blocked loop's stack too (a report that prints
 * it); ps and pstree answer at the watchdog's report. */
static int load_target(const char *target, int only_pid, tm_model **m, ts_session *live,
                       char *src, size_t len, int keep_all, int need_stack) {
    char err[512];
    int pid;
    if (ts_parse_pid(target, &pid) == 0) {
        int rc = ts_session_open(live, pid, 0, 0, err, sizeof err);
        if (rc) {
            fprintf(stderr, "taskscope: %s\n", err);
            return 1;
        }
        ts_session_wait_dump_for(live, 2000, need_stack);
        *m = live->model;
        snprintf(src, len, "pid %s%s", target,
                 live->stopped ? " (stopped: it cannot answer, so no state dump; "
                                 "tasks as its rings last recorded them)" : "");
        return 0;
    }
    int rc = ts_session_load_pid(m, target, only_pid, keep_all, err, sizeof err);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    ts_store_status(target, file_status, sizeof file_status);
    if (only_pid > 0)
        snprintf(src, len, "%s, pid %d", target, only_pid);
    else
        snprintf(src, len, "%s", target);
    return 0;
}

/* What a report adds to its tasks (issue 15): ps/pstree --stacks and
 * --fields sections, and where's stacks (task: one, 0 for every one). */
typedef struct {
    int stacks, fields, where;
    uint64_t task;
    const char *target; /* a crash snapshot lends where its modules */
    int live;
} report_extra;

static int print_report(const char *name, FILE *out, tm_model *m, const tr_opts *o,
                        const report_extra *x) {
    tm_model_analyze(m);
    int rc = 0;
    if (!strcmp(name, "ps") || !strcmp(name, "pstree")) {
        (!strcmp(name, "ps") ? tr_ps : tr_pstree)(out, m, o);
        if (x->stacks) {
            ts_symbolizer *sym = ts_symbolizer_new();
            ts_symbolizer_set_live(sym, x->live);
            tr_stacks_section(out, m, sym);
            ts_symbolizer_free(sym);
        }
        if (x->fields)
            tr_fields_section(out, m);
    } else if (x->where) {
        ts_symbolizer *sym = ts_symbolizer_new();
        ts_symbolizer_set_live(sym, x->live);
        if (!x->live && ts_snapshot_detect(x->target)) /* its modules are in its maps copy */
            ts_snapshot_add_modules(x->target, sym);
        if (tr_where(out, m, sym, o, x->task)) {
            fprintf(stderr, "taskscope where: no task #%llu in %s\n", (unsigned long long)x->task,
                    o->source);
            rc = 1;
        }
        ts_symbolizer_free(sym);
    } else if (!strcmp(name, "stats")) {
        tr_stats(out, m, o);
    } else {
        ts_symbolizer *sym = ts_symbolizer_new();
        ts_symbolizer_set_live(sym, x->live); /* a live answer is wanted now */
        tr_blocked(out, m, sym, o);
        ts_symbolizer_free(sym);
    }
    return rc;
}

/* ps and pstree on a recording (pid: one process of it, 0 for all):
 * every task, streamed through a table (report_sql.c), so memory stays
 * bounded whatever its size. */
static int report_file_tasks(const char *name, FILE *out, const char *path, int pid,
                             const tr_opts *o) {
    char err[512] = "out of memory";
    tm_model *m = tm_model_new();
    tr_table *tb = m ? tr_table_new(m, err, sizeof err) : NULL;
    int rc = tb ? ts_session_load_into(m, path, pid, err, sizeof err) : -ENOMEM;
    if (!rc) {
        tm_model_analyze(m);
        rc = tr_table_finish(tb, m, err, sizeof err);
    }
    if (!rc) {
        if (!strcmp(name, "ps"))
            tr_ps_table(out, m, tb, o);
        else
            tr_pstree_table(out, m, tb, o);
    } else {
        fprintf(stderr, "taskscope: %s\n", err);
    }
    tr_table_free(tb);
    tm_model_free(m);
    return rc ? 1 : 0;
}

/* ps and pstree on a file stream their rows; with a section that needs
 * the whole model (--stacks, --fields) they keep every task instead. */
static int streamed(const char *name, const report_extra *x) {
    return (!strcmp(name, "ps") || !strcmp(name, "pstree")) && !x->stacks && !x->fields;
}

/* A followed child's own final status ("complete: the process exited",
 * ...); one still "recording" was cut short with the recording, whose
 * status then says so. */
static int own_status(const ts_store_proc *p) {
    return p->parent && p->status[0] && strcmp(p->status, "recording") != 0;
}

/* A recording of several processes (forked children followed, see
 * follow.h): the report of each, one after the other, each under a
 * PROCESS line; in JSON one document, {"processes":[{"pid","parent",
 * "exe","status","report":<the report's document>}, ...]}.  Task ids
 * are per process, so each report is made from that process's events
 * alone. */
static int report_processes(const char *name, FILE *out, const char *path,
                            const ts_store_proc *procs, size_t n, tr_opts *o, int keep_all,
                            const report_extra *x) {
    if (o->json) {
        fprintf(out, "{\"format_version\":%d,\"source\":", TR_FORMAT_VERSION);
        tr_json_str(out, path);
        fprintf(out, ",\"processes\":[");
    }
    for (size_t i = 0; i < n; i++) {
        tm_model *m = NULL;
        ts_session none = {0};
        char src[1024];
        if (streamed(name, x))
            snprintf(src, sizeof src, "%s, pid %d", path, procs[i].pid);
        else if (load_target(path, procs[i].pid, &m, &none, src, sizeof src, keep_all, 1))
            return 1;
        o->source = src;
        o->status = own_status(&procs[i]) ? procs[i].status : file_status;
        if (o->json) {
            char *doc = NULL;
            size_t len = 0;
            FILE *mem = open_memstream(&doc, &len);
            if (!mem) {
                tm_model_free(m);
                return 1;
            }
            int rc = streamed(name, x) ? report_file_tasks(name, mem, path, procs[i].pid, o)
                                       : print_report(name, mem, m, o, x);
            fclose(mem);
            if (rc) {
                free(doc);
                tm_model_free(m);
                return 1;
            }
            while (len && (doc[len - 1] == '\n' || doc[len - 1] == ' '))
                doc[--len] = 0;
            fprintf(out, "%s{\"pid\":%d,\"parent\":", i ? "," : "", procs[i].pid);
            if (procs[i].parent)
                fprintf(out, "%d", procs[i].parent);
            else
                fprintf(out, "null");
            fprintf(out, ",\"exe\":");
            tr_json_str(out, procs[i].exe);
            fprintf(out, ",\"report\":%s}", doc);
            free(doc);
        } else {
            fprintf(out, "%sPROCESS %d", i ? "\n" : "", procs[i].pid);
            if (procs[i].exe[0]) {
                fputc(' ', out);
                ts_text_put(out, procs[i].exe, 0);
            }
            if (procs[i].parent)
                fprintf(out, "  (forked by %d)", procs[i].parent);
            fprintf(out, "\n");
            if (streamed(name, x) ? report_file_tasks(name, out, path, procs[i].pid, o)
                                  : print_report(name, out, m, o, x)) {
                tm_model_free(m);
                return 1;
            }
        }
        tm_model_free(m);
    }
    if (o->json)
        fprintf(out, "]}\n");
    return 0;
}

/* A report on one recording, to out: every process it holds, each under
 * a PROCESS line, or the one --pid names (only_pid). */
static int report_file(const char *name, FILE *out, const char *target, int only_pid,
                       tr_opts *o, const report_extra *x) {
    /* ps, pstree and where list tasks (ps and pstree streamed, streamed());
     * stats and blocked need only the model's totals and groups (it keeps
     * 50,000 finished tasks). */
    int keep_all = !strcmp(name, "ps") || !strcmp(name, "pstree") || x->where;
    char pid_status[128] = ""; /* a followed child's own status */
    ts_store_proc procs[64];
    size_t np = 0;
    char err[512];
    if (ts_store_processes(target, procs, 64, &np, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    if (np > 64)
        fprintf(stderr, "taskscope: %s holds %zu processes; reporting the first 64 "
                        "(--pid N for another)\n", target, np);
    size_t shown = np < 64 ? np : 64;
    ts_store_status(target, file_status, sizeof file_status);
    if (only_pid) {
        size_t i = 0;
        while (i < shown && procs[i].pid != only_pid)
            i++;
        if (i == shown && !(np == 1 && !procs[0].pid)) {
            fprintf(stderr, "taskscope: %s holds no process %d (it holds", target, only_pid);
            for (i = 0; i < shown; i++)
                fprintf(stderr, " %d", procs[i].pid);
            fprintf(stderr, ")\n");
            return 1;
        }
        if (i < shown && own_status(&procs[i]))
            snprintf(pid_status, sizeof pid_status, "%s", procs[i].status);
    } else if (shown > 1) {
        return report_processes(name, out, target, procs, shown, o, keep_all, x);
    }
    char src[1024];
    if (only_pid > 0)
        snprintf(src, sizeof src, "%s, pid %d", target, only_pid);
    else
        snprintf(src, sizeof src, "%s", target);
    o->source = src;
    o->status = pid_status[0] ? pid_status : file_status;
    if (streamed(name, x)) /* every task, in bounded memory (report_sql.c) */
        return report_file_tasks(name, out, target, only_pid, o);
    tm_model *m = NULL;
    char err2[512];
    int rc = ts_session_load_pid(&m, target, only_pid, keep_all, err2, sizeof err2);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err2);
        return 1;
    }
    rc = print_report(name, out, m, o, x);
    tm_model_free(m);
    return rc;
}

/* The same report on several recordings (several services, or runs):
 * each under a RECORDING line; in JSON one document,
 * {"recordings":[{"recording":PATH,"report":<its document>}, ...]}. */
static int report_files(const char *name, char **paths, int n, int only_pid, tr_opts *o,
                        report_extra *x) {
    if (o->json)
        printf("{\"format_version\":%d,\"recordings\":[", TR_FORMAT_VERSION);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        x->target = paths[i];
        if (!o->json) {
            fputs(i ? "\nRECORDING " : "RECORDING ", stdout);
            ts_text_put(stdout, paths[i], 0);
            fputc('\n', stdout);
            rc |= report_file(name, stdout, paths[i], only_pid, o, x);
            continue;
        }
        char *doc = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&doc, &len);
        if (!mem)
            return 1;
        int r = report_file(name, mem, paths[i], only_pid, o, x);
        fclose(mem);
        while (len && (doc[len - 1] == '\n' || doc[len - 1] == ' '))
            doc[--len] = 0;
        fprintf(stdout, "%s{\"recording\":", i ? "," : "");
        tr_json_str(stdout, paths[i]);
        fprintf(stdout, ",\"report\":%s}", r || !len ? "null" : doc);
        free(doc);
        rc |= r;
    }
    if (o->json)
        printf("]}\n");
    return rc ? 1 : 0;
}

static int cmd_report(const char *name, int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"all", no_argument, NULL, 'a'},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"by-prefix", no_argument, NULL, OPT_BY_PREFIX},
        {"pid", required_argument, NULL, OPT_PID},
        {"stacks", no_argument, NULL, OPT_STACKS},
        {"fields", no_argument, NULL, OPT_FIELDS},
        {"help", no_argument, NULL, 'h'},
        BPF_LONGOPTS,
        {0, 0, 0, 0},
    };
    tr_opts o = {0};
    int only_pid = 0;
    bpf_flags bpf = {0};
    double duration = -1;
    int opt, r, pid, stacks = 0, fields = 0, where = !strcmp(name, "where");
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":ah", longopts, NULL)) != -1) {
        if ((r = bpf_opt(name, opt, &bpf)) != 0) {
            if (r == 2)
                return 2;
            continue;
        }
        switch (opt) {
        case OPT_JSON:
            o.json = 1;
            break;
        case 'a':
            o.all = 1;
            break;
        case OPT_DURATION:
            if (duration_opt(name, &duration))
                return 2;
            break;
        case OPT_BY_PREFIX:
            if (strcmp(name, "stats"))
                return cli_usage(name, "--by-prefix goes with stats");
            o.by_prefix = 1;
            break;
        case OPT_PID:
            if (pid_operand(name, optarg, &only_pid))
                return 2;
            break;
        case OPT_STACKS:
            if (strcmp(name, "ps") && strcmp(name, "pstree"))
                return cli_usage(name, "--stacks goes with ps and pstree (or use where)");
            stacks = 1;
            break;
        case OPT_FIELDS:
            if (strcmp(name, "ps"))
                return cli_usage(name, "--fields goes with ps");
            fields = 1;
            break;
        case 'h':
            if (where) {
                printf("usage: taskscope where [--json] TARGET [TASK]\n"
                       "       taskscope where --bpf [--json] PID [TASK]\n\n"
                       "The call stack of every parked (suspended or ready) task, or of task\n"
                       "TASK (its number), innermost frame first, symbolized.  TARGET is a\n"
                       "live pid on the debug runtime (its loops walk each parked task's\n"
                       "frame-pointer chain in a state dump) or a recording (the stacks of\n"
                       "its last dump).  A stack taken before the task last ran says so.\n"
                       "With --bpf (root) PID may use the release runtime: its loops walk\n"
                       "the same chains in the state dump the collector asks for.\n\n"
                       "  --json          one JSON document instead of text\n\n"
                       "%s\nSee `man taskscope`.\n", BPF_HELP);
                return 0;
            }
            printf("usage: taskscope %s [--json]%s [--pid N] TARGET | FILE...\n"
                   "       taskscope %s --bpf [--duration S] [--json] PID\n\n"
                   "TARGET: a live pid or a recording; several recordings give one report\n"
                   "each, under a RECORDING line.  ps and pstree list the tasks\n"
                   "live (at the end of a recording) and say how many finished ones they\n"
                   "hide; --all lists every task.  stats groups by spawn site,\n"
                   "--by-prefix by task name prefix.  A recording of a program that\n"
                   "forked holds its followed children too: each process is reported\n"
                   "under a PROCESS line; --pid N reports process N only.\n\n"
                   "  --json          one JSON document instead of text\n%s"
                   "  --pid N         a recording: report only process N\n"
                   "  --duration S    with --bpf: watch for S seconds before reporting\n\n"
                   "With --bpf (root) PID may use the release runtime: the collector attaches,\n"
                   "its loops dump their live tasks (idle loops are woken for it), it watches\n"
                   "for S seconds (blocked: 1 by default, others 0) and detaches.  On the debug\n"
                   "runtime the ring gives the tasks and BPF adds the blocking system calls.\n\n"
                   "%s\nSee `man taskscope`.\n",
                   name, strcmp(name, "ps") && strcmp(name, "pstree") ? "" : " [--all] [--stacks]", name,
                   strcmp(name, "ps") && strcmp(name, "pstree")
                       ? "" : !strcmp(name, "ps")
                       ? "  -a, --all       finished tasks too\n"
                         "  --stacks        then the call stack of every parked task (text only)\n"
                         "  --fields        then every task's user fields and the log lines\n"
                         "                  (ts_task_set_field, ts_event_log; text only)\n"
                       : "  -a, --all       finished tasks too\n"
                         "  --stacks        then the call stack of every parked task (text only)\n",
                   BPF_HELP);
            return 0;
        default:
            return cli_bad_option(name, opt, argv);
        }
    }
    if (optind >= argc)
        return cli_usage(name, "no target (pid or recording) given");
    uint64_t task = 0;
    if (where && argc - optind == 2) {
        char *end;
        const char *a = argv[optind + 1] + (argv[optind + 1][0] == '#');
        errno = 0;
        unsigned long long v = strtoull(a, &end, 10);
        if (!*a || *end || errno || !v || a[0] == '-')
            return cli_usage(name, "'%s' is not a task number", argv[optind + 1]);
        task = v;
    } else if (argc - optind > 1 && (where || bpf.on)) {
        return cli_usage(name, "one target at a time; unexpected argument '%s'",
                         argv[optind + 1]);
    }
    for (int i = optind; argc - optind > 1 && !where && i < argc; i++)
        if (ts_is_pid(argv[i]))
            return cli_usage(name, "several targets must all be recordings; '%s' is a pid",
                             argv[i]);
    if ((stacks || fields) && o.json)
        return cli_usage(name, "--stacks and --fields are text sections (use where --json or query)");
    const char *target = argv[optind];
    if (ts_is_pid(target) && pid_operand(name, target, &pid))
        return 2;
    if (duration >= 0 && !bpf.on)
        return cli_usage(name, "--duration goes with --bpf");
    if (only_pid && (bpf.on || ts_is_pid(target)))
        return cli_usage(name, "--pid goes with a recording (a live target is one pid)");
    report_extra x = {stacks, fields, where, task, target, ts_is_pid(target)};
    if (!bpf.on && !where && argc - optind > 1)
        return report_files(name, argv + optind, argc - optind, only_pid, &o, &x);
    if (!bpf.on && !ts_is_pid(target)) {
        int rc = report_file(name, stdout, target, only_pid, &o, &x);
        fflush(stdout);
        return rc;
    }
    tm_model *m = NULL;
    ts_session live = {0};
    char src[512];
    int need_stack = (strcmp(name, "ps") && strcmp(name, "pstree")) || stacks;
#ifdef TS_HAVE_BPF
    ts_bpf_session bs = {0};
    if (bpf.on) {
        int ms = duration >= 0 ? (int)(duration * 1000) : !strcmp(name, "blocked") ? 1000 : 0;
        int rc = load_bpf_target(target, &bpf, ms, &bs, src, sizeof src);
        if (rc)
            return rc;
        m = bs.s.model;
    } else
#else
    if (bpf.on)
        return no_bpf();
#endif
    if (load_target(target, only_pid, &m, &live, src, sizeof src, 0, need_stack))
        return 1;
    o.source = src;
    int rc = print_report(name, stdout, m, &o, &x);
#ifdef TS_HAVE_BPF
    if (bs.bpf) {
        ts_bpf_session_close(&bs);
        return rc;
    }
#endif
    if (live.reader)
        ts_session_close(&live);
    else
        tm_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") && argc == 3 && strcmp(argv[2], "help") && argv[2][0] != '-') {
        /* `taskscope help COMMAND` is `taskscope COMMAND --help` */
        char *help_argv[] = {argv[0], argv[2], "--help", NULL};
        return main(3, help_argv);
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (argc > 2)
            return cli_usage(NULL, "unexpected argument '%s' after %s", argv[2], cmd);
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        if (argc > 2)
            return cli_usage(NULL, "unexpected argument '%s' after %s", argv[2], cmd);
        printf("taskscope %s (trace schema %d)\n", TS_VERSION, TS_SCHEMA_VERSION);
        return 0;
    }
    /* Each command parses its own options, its name standing as argv[0]. */
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;
    if (!strcmp(cmd, "run"))
        return cmd_run(sub_argc, sub_argv);
    if (!strcmp(cmd, "attach"))
        return cmd_attach(sub_argc, sub_argv);
    if (!strcmp(cmd, "ps") || !strcmp(cmd, "pstree") || !strcmp(cmd, "blocked") ||
        !strcmp(cmd, "stats") || !strcmp(cmd, "where"))
        return cmd_report(cmd, sub_argc, sub_argv);
    if (!strcmp(cmd, "query"))
        return cmd_query(sub_argc, sub_argv);
    if (!strcmp(cmd, "export"))
        return cmd_export(sub_argc, sub_argv);
    if (!strcmp(cmd, "cancel"))
        return cmd_cancel(sub_argc, sub_argv);
    if (!strcmp(cmd, "why") && why_agg_wanted(sub_argc, sub_argv))
        return cmd_why_agg(sub_argc, sub_argv); /* --site/--name: why_agg.c */
    if (!strcmp(cmd, "why"))
        return cmd_why(sub_argc, sub_argv);
    if (!strcmp(cmd, "top")) {
#ifdef TS_HAVE_TUI
        return ts_tui_main(sub_argc, sub_argv);
#else
        fprintf(stderr, "taskscope: this build has no TUI (ncursesw was not found at build time)\n");
        return 1;
#endif
    }
    if (cmd[0] == '-')
        return cli_usage(NULL, "unknown option '%s' (options go after the command)", cmd);
    return cli_usage(NULL, "unknown command '%s'", cmd);
}
