/*
 * main.c - ts_tui_main: `taskscope top` (see tui.h): parse the command
 * line, open the source, run the curses loop, or, without a terminal,
 * record and print the reports instead.
 *
 * The curses loop polls a live source every 5 ms (a recording every
 * 20 ms), redraws at once after a key or when a loop's blocked episode
 * begins or ends, otherwise at most twice a second while the model
 * changes, and once a second for the clocks.  The terminal is restored on every way out:
 * q, Ctrl-C (a key in raw mode), SIGTERM, SIGHUP.
 */
#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "app.h"
#include "report.h"
#include "safe_io.h"
#include "store.h"
#include "tui.h"

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { (void)sig; stop_requested = 1; }

static const char USAGE[] =
    "usage: taskscope top [OPTIONS] PID\n"
    "       taskscope top [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       taskscope top [OPTIONS] FILE\n"
    "\n"
    "Watch a program built on the taskscope runtime, live or from a recording:\n"
    "tasks (sortable, filterable, as a table or a tree), one task in detail (await\n"
    "chain, awaiters, children, cancellations, poll and scheduled time percentiles,\n"
    "latest events), loops (lag, steps, blocked episodes with stacks), resources\n"
    "(holder, waiters in order, history) and warnings.\n"
    "\n"
    "  PID                 attach to a running process that uses the debug runtime\n"
    "  -- PROGRAM [ARGS]   start PROGRAM on the debug runtime and watch it; its output\n"
    "                      goes to FILE.log (see -o).  If it does not load the debug\n"
    "                      runtime, top says why and stops it.\n"
    "  FILE                replay a recording: a time cursor moves forward and back\n"
    "\n"
    "options:\n"
    "  -o, --output FILE  record a live session to FILE (default taskscope.db); an\n"
    "                 earlier recording there is kept as FILE.old, any other file is\n"
    "                 never replaced\n"
    "  --force        replace an earlier recording at FILE instead of keeping it\n"
    "  --no-record    do not record a live session\n"
    "  --no-follow    do not trace the children a started PROGRAM forks\n"
    "  --log FILE     where a started PROGRAM's output goes\n"
    "  --no-color     no colours (also when NO_COLOR is set)\n"
    "  --bpf          watch through the BPF collector (root), so the program may use\n"
    "                 the release runtime; with PID, its loops dump their live tasks\n"
    "                 first; with -- PROGRAM, it is traced from its first event\n"
    "  --bpf-events=LIST  tasks,futures,sync,jobs,syscalls or all (default all)\n"
    "\n"
    "Press ? inside for every key.  Without a terminal the session is recorded and\n"
    "the ps, pstree and blocked reports are printed instead.  See `man taskscope`.\n"
    "Exit status: 0 ok, 1 failure, 2 usage.\n";

typedef struct opts {
    const char *record;
    const char *log;
    int no_color;
    int pid;
    char **argv;            /* PROGRAM ARGS after -- */
    const char *file;
    int bpf;
    const char *bpf_events;
} opts;

static int usage_error(const char *what, const char *arg) {
    fprintf(stderr, "taskscope top: %s%s; see `taskscope top --help`\n", what, arg);
    return 2;
}

enum { OPT_NO_RECORD = 256, OPT_LOG, OPT_NO_COLOR, OPT_BPF, OPT_BPF_EVENTS, OPT_FORCE,
       OPT_NO_FOLLOW };

/* 0 ok, -1 printed help, 2 usage error */
static int parse(int argc, char **argv, opts *o) {
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"no-record", no_argument, NULL, OPT_NO_RECORD},
        {"log", required_argument, NULL, OPT_LOG},
        {"no-color", no_argument, NULL, OPT_NO_COLOR},
        {"no-colour", no_argument, NULL, OPT_NO_COLOR},
        {"bpf", no_argument, NULL, OPT_BPF},
        {"bpf-events", required_argument, NULL, OPT_BPF_EVENTS},
        {"force", no_argument, NULL, OPT_FORCE},
        {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    memset(o, 0, sizeof *o);
    o->record = "taskscope.db";
    int opt, record_given = 0, no_record = 0, force = 0;
    /* Everything after the first "--" is PROGRAM and its arguments: only
     * what comes before is ours to parse (in any order). */
    int ours = 1;
    while (ours < argc && strcmp(argv[ours], "--"))
        ours++;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(ours, argv, ":o:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            o->record = optarg;
            record_given = 1;
            break;
        case OPT_NO_RECORD:
            no_record = 1;
            break;
        case OPT_LOG:
            o->log = optarg;
            break;
        case OPT_NO_COLOR:
            o->no_color = 1;
            break;
        case OPT_BPF:
            o->bpf = 1;
            break;
        case OPT_BPF_EVENTS:
            o->bpf = 1;
            o->bpf_events = optarg;
            break;
        case OPT_FORCE:
            force = 1;
            break;
        case OPT_NO_FOLLOW:
            /* for the session that follows forked children (environment) */
            setenv("TASKSCOPE_NO_FOLLOW", "1", 1);
            break;
        case 'h':
            fputs(USAGE, stdout);
            return -1;
        case ':':
            return usage_error("option needs a value: ", argv[optind - 1]);
        default:
            if (optopt && !strncmp(argv[optind - 1], "--", 2))
                return usage_error("option takes no value: ", argv[optind - 1]);
            if (optopt)
                return usage_error("unknown option -", (char[]){(char)optopt, 0});
            return usage_error("unknown option ", argv[optind - 1]);
        }
    }
    int n = ours - optind;
    if (ours < argc) {
        if (ours + 1 >= argc)
            return usage_error("no program after --", "");
        if (n > 0)
            return usage_error("give either a target or -- PROGRAM, not both", "");
        o->argv = argv + ours + 1;
    } else if (n == 0) {
        return usage_error("nothing to watch: give a PID, a recording, or -- PROGRAM", "");
    } else if (n > 1) {
        return usage_error("unexpected argument ", argv[optind + 1]);
    } else if (ts_is_pid(argv[optind])) {
        if (ts_parse_pid(argv[optind], &o->pid))
            return usage_error("not a valid pid: ", argv[optind]);
    } else {
        o->file = argv[optind];
    }
    if (record_given && no_record)
        return usage_error("-o and --no-record cannot be used together", "");
    if (no_record)
        o->record = NULL;
    if (o->record && !*o->record)
        return usage_error("-o needs a file name", "");
    if (o->bpf && !o->pid && !o->argv)
        return usage_error("--bpf needs a PID or -- PROGRAM", "");
    if (o->file && (record_given || force))
        return usage_error("a recording is replayed, not recorded: -o and --force go with a "
                           "PID or -- PROGRAM", "");
    if (o->record && !o->file) {
        /* Refuse a bad -o before anything starts (exit 2). */
        char what[4200];
        enum ts_out_state st = ts_output_state(o->record, what, sizeof what);
        if (st == TS_OUT_NOT_FILE || st == TS_OUT_OTHER) {
            fprintf(stderr, "taskscope top: %s: not %s (choose another -o FILE)\n", what,
                    st == TS_OUT_OTHER ? "overwriting it" : "recording there");
            return 2;
        }
    }
    ts_store_set_default_flags(force ? TS_STORE_REPLACE : 0);
    return 0;
}

/* The started program's output file: the program opens it with O_TRUNC,
 * so an earlier log is kept as LOG.old first (as an earlier recording
 * is), and a directory, device or FIFO is refused. */
static int keep_old_log(const char *log, char *err, size_t len) {
    struct stat st;
    if (stat(log, &st) != 0)
        return 0;
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, len, "--log %s: not a regular file; not writing the program's output there",
                 log);
        return -EINVAL;
    }
    if (st.st_size == 0)
        return 0;
    char kept[4200];
    return ts_set_aside(log, kept, sizeof kept, err, len);
}

static int open_source(tui_src *src, const opts *o, char *logbuf, size_t loglen) {
    char err[768];
    int rc;
    if (o->argv) {
        const char *log = o->log;
        if (!log) {
            snprintf(logbuf, loglen, "%s.log", o->record ? o->record : "taskscope-top");
            log = logbuf;
        }
        if (keep_old_log(log, err, sizeof err)) {
            fprintf(stderr, "taskscope top: %s\n", err);
            return 2;
        }
        rc = o->bpf ? tui_src_launch_bpf(src, o->argv, o->record, log, o->bpf_events, err,
                                         sizeof err)
                    : tui_src_launch(src, o->argv, o->record, log, err, sizeof err);
    } else if (o->pid && o->bpf) {
        rc = tui_src_attach_bpf(src, o->pid, o->record, o->bpf_events, err, sizeof err);
    } else if (o->pid) {
        rc = tui_src_attach(src, o->pid, o->record, err, sizeof err);
    } else {
        rc = tui_src_replay(src, o->file, err, sizeof err);
    }
    if (rc)
        fprintf(stderr, "taskscope top: %s\n", err);
    return rc;
}

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* No terminal: record until the program ends (launched), take a snapshot
 * (attached), or read the recording; then print the reports. */
static int reports(tui_src *src, const opts *o) {
    if (src->mode == TUI_LIVE && src->child) {
        while (!src->finished && !stop_requested) {
            if (!tui_src_tick(src))
                sleep_ms(10);
        }
    }
    tm_model_analyze(src->model);
    char source[1024];
    if (src->mode == TUI_REPLAY)
        snprintf(source, sizeof source, "%s (%s)", src->path, src->status);
    else
        snprintf(source, sizeof source, "pid %d (%s%s%s)", src->pid, src->status,
                 src->path[0] ? ", recorded to " : "", src->path);
    tr_opts ro = {.json = 0, .all = src->mode != TUI_LIVE || src->finished, .source = source};
    printf("== ps\n");
    tr_ps(stdout, src->model, &ro);
    printf("\n== pstree\n");
    tr_pstree(stdout, src->model, &ro);
    printf("\n== blocked\n");
    ts_symbolizer *sym = ts_symbolizer_new();
    tr_blocked(stdout, src->model, sym, &ro);
    ts_symbolizer_free(sym);
    if (src->log_path[0])
        printf("\n(the program's own output is in %s)\n", src->log_path);
    fflush(stdout);
    (void)o;
    return 0;
}

static int run_curses(tui_src *src, const opts *o) {
    SCREEN *screen = newterm(NULL, stdout, stdin);
    if (!screen) {
        fprintf(stderr, "taskscope top: cannot use the terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return 1;
    }
    raw();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(100); /* a loaded machine may split an arrow key's bytes */
    curs_set(0);
    /* How often the source is polled with no key pressed: a live
     * source every 5 ms, so a loop_blocked event is on screen within a
     * few ms of its arrival (issue 15: every live consumer within 50 ms
     * of the watchdog); an idle poll is a drain of empty rings.  A
     * recording changes only by keys and playback: 20 ms. */
    timeout(src->mode == TUI_LIVE ? 5 : 20);
    int color = has_colors() && !o->no_color && !getenv("NO_COLOR");
    tui_styles_init(color);
    tui_app app;
    if (tui_app_init(&app, src, color) != 0) {
        endwin();
        fprintf(stderr, "taskscope top: out of memory\n");
        return 1;
    }
    uint64_t last_draw = 0, drawn_gen = ~0ull, drawn_episodes = 0;
    int dirty = 1;
    while (!app.quit && !stop_requested) {
        tui_src_tick(src);
        /* A loop blocked now is drawn at once (and again when that
         * episode ends), not at the next half-second refresh. */
        uint64_t episodes = src->model ? tm_model_blocked_changes(src->model) : 0;
        if (episodes != drawn_episodes) {
            drawn_episodes = episodes;
            dirty = 1;
        }
        uint64_t now = tui_wall_ns();
        uint64_t since = now - last_draw;
        if (dirty || since >= 1000000000ull ||
            (src->gen != drawn_gen && since >= (src->playing ? 100000000ull : 500000000ull))) {
            curs_set(app.prompting ? 1 : 0);
            tui_app_draw(&app);
            last_draw = now;
            drawn_gen = src->gen;
            dirty = 0;
        }
        int key = getch();
        if (key == ERR)
            continue;
        if (key == KEY_RESIZE)
            erase();
        tui_app_key(&app, key);
        dirty = 1;
    }
    tui_app_free(&app);
    endwin();
    delscreen(screen);
    return 0;
}

int ts_tui_main(int argc, char **argv) {
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc < 0 ? 0 : rc;
    setlocale(LC_ALL, "");
    const char *term = getenv("TERM");
    int tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && term && *term &&
              strcmp(term, "dumb") != 0;
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* in raw mode Ctrl-C is a key; this is kill -INT */
    tui_src src;
    char logbuf[600];
    if ((rc = open_source(&src, &o, logbuf, sizeof logbuf)) != 0)
        return rc == 2 ? 2 : 1;
    rc = tty ? run_curses(&src, &o) : reports(&src, &o);
    tui_src_close(&src);
    if (src.mode == TUI_LIVE && src.path[0])
        fprintf(stderr, "taskscope: recorded to %s (%s)\n", src.path, src.status);
    return rc;
}
