/*
 * cli.c - the `taskscope` command.
 *
 *   taskscope run [-o FILE] [--bpf [--bpf-events=LIST]] -- PROGRAM [ARGS...]
 *   taskscope attach PID [-o FILE] [--duration S] [--bpf [--bpf-events=LIST]]
 *   taskscope ps|pstree|blocked|stats [--json] [--all] TARGET
 *   taskscope ps|pstree|blocked|stats --bpf [--duration S] PID
 *   taskscope query FILE SQL [--json|--csv]
 *   taskscope export --format perfetto|chrome FILE -o OUT
 *
 * TARGET is a live pid or a recording.  Exit codes: 0 success, 1 the
 * operation failed (message on stderr), 2 bad usage; `run` exits with the
 * program's own status (128+N if killed by signal N) once the recording
 * is safely closed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export.h"
#include "launch.h"
#include "report.h"
#include "session.h"
#ifdef TS_HAVE_TUI
#include "tui.h"
#endif
#ifdef TS_HAVE_BPF
#include "bpf_session.h"
#endif

static volatile sig_atomic_t interrupted;
static void on_signal(int sig) { (void)sig; interrupted = 1; }

static const char *USAGE =
    "usage: taskscope COMMAND [OPTIONS] ...\n"
    "\n"
    "Record and inspect programs built on the taskscope runtime.\n"
    "\n"
    "commands:\n"
    "  run [-o FILE] -- PROGRAM [ARGS]   start PROGRAM on the debug runtime, record it\n"
    "  attach PID [-o FILE] [--duration S]  record a running process\n"
    "  run/attach --bpf [--bpf-events=LIST]  the same on the release runtime, through\n"
    "                                    BPF (root): no relink, blocking syscalls caught\n"
    "  ps TARGET                         all tasks: state, timings, what each awaits\n"
    "  pstree TARGET                     the task tree with await edges\n"
    "  blocked TARGET                    blocked-loop episodes and slow steps, with stacks\n"
    "  stats TARGET                      per task name and per loop statistics\n"
    "  query FILE SQL [--json|--csv]     SQL over a recording\n"
    "  export --format perfetto|chrome FILE -o OUT   a timeline for ui.perfetto.dev\n"
    "  top PID | FILE | -- PROGRAM [ARGS]  the live (or replayed) all_tasks view\n"
    "\n"
    "TARGET is the pid of a live process using the debug runtime, or a recording.\n"
    "ps, pstree, blocked and stats take --json (and ps/pstree --all for finished tasks),\n"
    "and --bpf PID for a live process on the release runtime (root); top takes --bpf too.\n"
    "Run `taskscope COMMAND --help` for one command's details.\n"
    "Exit status: 0 ok, 1 failure, 2 usage; `run` passes on the program's status.\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "taskscope: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun `taskscope --help` for usage.\n");
    return 2;
}

/* ---- run and attach -------------------------------------------------------- */

/* Open the recording before anything starts, so a bad path fails fast. */
static int open_store(ts_store **store, const char *out) {
    char err[512];
    int rc = ts_store_create(out, store, err, sizeof err);
    if (rc)
        fprintf(stderr, "taskscope: %s\n", err);
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
    "                       keeps its release libtaskscope (root; see tracer/bpf/README.md)\n"
    "  --bpf-events=LIST    tasks,futures,sync,jobs,syscalls or all (default all); each\n"
    "                       traced probe hit costs the program a few microseconds\n"
    "  --bpf-block-ms=N     report loop-thread system calls of N ms or more (default 1)\n"
    "  --bpf-slow-ms=N      report task steps of N ms or more (default 100)\n";

/* 1 if argv[i] is a --bpf flag (recorded in f), 0 if not. */
static int bpf_flag(const char *arg, bpf_flags *f) {
    if (!strcmp(arg, "--bpf"))
        f->on = 1;
    else if (!strncmp(arg, "--bpf-events=", 13))
        f->events = arg + 13, f->on = 1;
    else if (!strncmp(arg, "--bpf-block-ms=", 15))
        f->block_ms = atof(arg + 15), f->on = 1;
    else if (!strncmp(arg, "--bpf-slow-ms=", 14))
        f->slow_ms = atof(arg + 14), f->on = 1;
    else
        return 0;
    return 1;
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
    if (!ts_is_pid(target)) {
        fprintf(stderr, "taskscope: --bpf needs the pid of a running process, not '%s'\n",
                target);
        return 2;
    }
    if (bpf_options(f, &o))
        return 2;
    if (ts_bpf_session_attach(bs, atoi(target), &o, err, sizeof err)) {
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
    ts_store *store;
    if (open_store(&store, out))
        return 1;
    ts_bpf_session bs;
    char err[512];
    int rc = ts_bpf_session_spawn(&bs, prog, &o, err, sizeof err);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        ts_store_close(store, "failed: could not trace the program", 0);
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

static int cmd_run(int argc, char **argv) {
    const char *out = "taskscope.db";
    bpf_flags bpf = {0};
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        } else if (bpf_flag(argv[i], &bpf)) {
            continue;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: taskscope run [-o FILE] [--bpf ...] -- PROGRAM [ARGS...]\n\n"
                   "Start PROGRAM with the debug runtime in place of the release one (a\n"
                   "dynamically linked program needs no relinking) and record everything it\n"
                   "does to FILE (default taskscope.db) until it exits or you press Ctrl-C.\n"
                   "Exits with PROGRAM's status.\n\n%s", BPF_HELP);
            return 0;
        } else {
            break;
        }
    }
    if (i >= argc)
        return usage_error("run: no program given%s", "");
    if (bpf.on)
        return run_bpf(out, argv + i, &bpf);
    ts_store *store;
    if (open_store(&store, out))
        return 1;
    pid_t child = fork();
    if (child < 0) {
        perror("taskscope: fork");
        return 1;
    }
    if (child == 0) {
        ts_exec_on_debug_runtime(argv + i);
        fprintf(stderr, "taskscope: cannot run %s: %s\n", argv[i], strerror(errno));
        _exit(127);
    }
    ts_session s;
    char err[512];
    int rc = ts_session_open(&s, child, child, 10000, err, sizeof err);
    if (rc) {
        int status;
        waitpid(child, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            ; /* the child said why it could not run the program */
        else if (rc == -ENOENT)
            fprintf(stderr, "taskscope: %s never created a trace segment: it does not use the "
                            "taskscope runtime as a shared library (link it with "
                            "`pkg-config --libs taskscope` or taskscope-debug)\n", argv[i]);
        else
            fprintf(stderr, "taskscope: %s\n", err);
        ts_store_close(store, "failed: no trace from the program", 0);
        return 1;
    }
    s.store = store;
    record(&s, -1);
    int status = 0;
    if (interrupted)
        kill(child, SIGINT);
    waitpid(child, &status, 0);
    ts_session_poll(&s);
    char st[96];
    if (WIFSIGNALED(status))
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", WTERMSIG(status));
    else
        snprintf(st, sizeof st, "complete: exit status %d", WEXITSTATUS(status));
    rc = finish_recording(&s, out, st);
    ts_session_close(&s);
    if (rc)
        return 1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int cmd_attach(int argc, char **argv) {
    const char *out = "taskscope.db";
    double duration = -1;
    const char *pid = NULL;
    bpf_flags bpf = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
            duration = atof(argv[++i]);
        else if (bpf_flag(argv[i], &bpf))
            continue;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: taskscope attach PID [-o FILE] [--duration S] [--bpf ...]\n\n"
                   "Record a running process that uses the debug runtime to FILE (default\n"
                   "taskscope.db), starting with its flight recorder's recent window and a\n"
                   "state dump of every live task, until it exits, S seconds pass or Ctrl-C.\n"
                   "With --bpf the process may use the release runtime: its loops are asked\n"
                   "for a state dump of their live tasks (idle loops are woken for it); on\n"
                   "the debug runtime BPF adds the blocking system calls to its ring.\n\n%s",
                   BPF_HELP);
            return 0;
        } else if (ts_is_pid(argv[i]))
            pid = argv[i];
        else
            return usage_error("attach: unexpected argument '%s'", argv[i]);
    }
    if (!pid)
        return usage_error("attach: no pid given%s", "");
    if (bpf.on)
        return attach_bpf(atoi(pid), out, duration < 0 ? -1 : (int)(duration * 1000), &bpf);
    ts_session s;
    char err[512];
    int rc = ts_session_open(&s, atoi(pid), 0, 0, err, sizeof err);
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

static int load_target(const char *target, tm_model **m, ts_session *live, char *src, size_t len) {
    char err[512];
    if (ts_is_pid(target)) {
        int rc = ts_session_open(live, atoi(target), 0, 0, err, sizeof err);
        if (rc) {
            fprintf(stderr, "taskscope: %s\n", err);
            return 1;
        }
        ts_session_wait_dump(live, 2000);
        *m = live->model;
        snprintf(src, len, "pid %s", target);
        return 0;
    }
    int rc = ts_session_load(m, target, err, sizeof err);
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    char status[128];
    ts_store_read_meta(target, "status", status, sizeof status);
    snprintf(src, len, "%s (%s)", target,
             !strcmp(status, "recording") ? "truncated: the recorder stopped mid-run" : status);
    return 0;
}

static int cmd_report(const char *name, int argc, char **argv) {
    tr_opts o = {0};
    const char *target = NULL;
    bpf_flags bpf = {0};
    double duration = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            o.json = 1;
        else if (bpf_flag(argv[i], &bpf))
            continue;
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc)
            duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--all") || !strcmp(argv[i], "-a"))
            o.all = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: taskscope %s [--json]%s TARGET\n"
                   "       taskscope %s --bpf [--duration S] [--json] PID\n\n"
                   "TARGET: a live pid or a recording.\n\n"
                   "With --bpf (root) PID may use the release runtime: the collector attaches,\n"
                   "its loops dump their live tasks (idle loops are woken for it), it watches\n"
                   "for S seconds (blocked: 1 by default, others 0) and detaches.  On the debug\n"
                   "runtime the ring gives the tasks and BPF adds the blocking system calls.\n\n%s",
                   name, strcmp(name, "ps") && strcmp(name, "pstree") ? "" : " [--all]", name,
                   BPF_HELP);
            return 0;
        } else if (argv[i][0] == '-')
            return usage_error("unknown option '%s'", argv[i]);
        else
            target = argv[i];
    }
    if (!target)
        return usage_error("%s: no target (pid or recording) given", name);
    tm_model *m = NULL;
    ts_session live = {0};
    char src[512];
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
    if (load_target(target, &m, &live, src, sizeof src))
        return 1;
    o.source = src;
    tm_model_analyze(m);
    if (!strcmp(name, "ps"))
        tr_ps(stdout, m, &o);
    else if (!strcmp(name, "pstree"))
        tr_pstree(stdout, m, &o);
    else if (!strcmp(name, "stats"))
        tr_stats(stdout, m, &o);
    else {
        ts_symbolizer *sym = ts_symbolizer_new();
        tr_blocked(stdout, m, sym, &o);
        ts_symbolizer_free(sym);
    }
#ifdef TS_HAVE_BPF
    if (bs.bpf) {
        ts_bpf_session_close(&bs);
        return 0;
    }
#endif
    if (live.reader)
        ts_session_close(&live);
    else
        tm_model_free(m);
    return 0;
}

/* ---- query and export --------------------------------------------------------- */

static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static int cmd_query(int argc, char **argv) {
    int json = 0, csv = 0;
    const char *file = NULL, *sql = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--csv"))
            csv = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: taskscope query FILE SQL [--json|--csv]\n\n"
                   "Run SQL over a recording (read-only).  Tables ev_<event> hold every\n"
                   "event; views tasks, awaits, blocked, slow_steps, cancellations, strings\n"
                   "and sites are easier to query (see schemas/README.md).\n");
            return 0;
        } else if (!file)
            file = argv[i];
        else if (!sql)
            sql = argv[i];
        else
            return usage_error("query: unexpected argument '%s'", argv[i]);
    }
    if (!file || !sql)
        return usage_error("query: need a recording and an SQL statement%s", "");
    char status[64];
    char err[512];
    if (ts_store_read_meta(file, "status", status, sizeof status) != 0) {
        tm_model *m;
        int rc = ts_session_load(&m, file, err, sizeof err); /* for its message */
        if (rc == 0)
            tm_model_free(m);
        fprintf(stderr, "taskscope: %s\n", rc ? err : "cannot read the recording");
        return 1;
    }
    sqlite3 *db;
    if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "taskscope: %s: %s\n", file, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "taskscope: query: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    int cols = sqlite3_column_count(st), row = 0, rc;
    if (json)
        putchar('[');
    else
        for (int c = 0; c < cols; c++) {
            if (csv)
                csv_field(sqlite3_column_name(st, c));
            else
                printf("%-16s", sqlite3_column_name(st, c));
            putchar(c + 1 < cols ? (csv ? ',' : ' ') : '\n');
        }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (json)
            printf("%s{", row ? "," : "");
        for (int c = 0; c < cols; c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            int type = sqlite3_column_type(st, c);
            if (json) {
                tr_json_str(stdout, sqlite3_column_name(st, c));
                putchar(':');
                if (type == SQLITE_NULL)
                    fputs("null", stdout);
                else if (type == SQLITE_INTEGER || type == SQLITE_FLOAT)
                    fputs(v, stdout);
                else
                    tr_json_str(stdout, type == SQLITE_BLOB ? "<blob>" : v);
                if (c + 1 < cols)
                    putchar(',');
            } else {
                const char *text = type == SQLITE_NULL ? "" : type == SQLITE_BLOB ? "<blob>" : v;
                if (csv)
                    csv_field(text);
                else
                    printf("%-16s", text);
                putchar(c + 1 < cols ? (csv ? ',' : ' ') : '\n');
            }
        }
        if (json)
            putchar('}');
        row++;
    }
    if (json)
        puts("]");
    if (rc != SQLITE_DONE)
        fprintf(stderr, "taskscope: query: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_DONE ? 0 : 1;
}

static int cmd_export(int argc, char **argv) {
    const char *format = NULL, *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc)
            format = argv[++i];
        else if (!strncmp(argv[i], "--format=", 9))
            format = argv[i] + 9;
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: taskscope export --format perfetto|chrome FILE -o OUT\n\n"
                   "Write a timeline of the recording FILE in the Chrome trace-event JSON\n"
                   "format, which ui.perfetto.dev and chrome://tracing both open: a track\n"
                   "per task (run slices and await spans), wake and spawn flows, and\n"
                   "blocked episodes on each loop's thread.\n");
            return 0;
        } else if (!file)
            file = argv[i];
        else
            return usage_error("export: unexpected argument '%s'", argv[i]);
    }
    if (!format || (strcmp(format, "perfetto") && strcmp(format, "chrome")))
        return usage_error("export: --format must be perfetto or chrome%s", "");
    if (!file || !out)
        return usage_error("export: need a recording and -o OUT%s", "");
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "taskscope: %s: %s\n", out, strerror(errno));
        return 1;
    }
    char err[512];
    int rc = ts_export_chrome(file, f, err, sizeof err);
    if (fclose(f) != 0 && !rc) {
        fprintf(stderr, "taskscope: %s: %s\n", out, strerror(errno));
        return 1;
    }
    if (rc) {
        fprintf(stderr, "taskscope: %s\n", err);
        unlink(out);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("taskscope 0.1.0 (trace schema %d)\n", TS_SCHEMA_VERSION);
        return 0;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "attach"))
        return cmd_attach(argc - 1, argv + 1);
    if (!strcmp(cmd, "ps") || !strcmp(cmd, "pstree") || !strcmp(cmd, "blocked") ||
        !strcmp(cmd, "stats"))
        return cmd_report(cmd, argc - 1, argv + 1);
    if (!strcmp(cmd, "query"))
        return cmd_query(argc - 1, argv + 1);
    if (!strcmp(cmd, "export"))
        return cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "top")) {
#ifdef TS_HAVE_TUI
        return ts_tui_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "taskscope: this build has no TUI (ncursesw was not found at build time)\n");
        return 1;
#endif
    }
    return usage_error("unknown command '%s'", cmd);
}
