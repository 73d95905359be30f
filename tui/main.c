/*
 * main.c - ts_tui_main: `taskscope top` (see tui.h): parse the command
 * line, open the source, run the curses loop, or, without a terminal,
 * record and print the reports instead.
 *
 * The curses loop polls the source about ten times a second (a live
 * reader must poll at least once a second), redraws at once after a key
 * and otherwise at most twice a second while the model changes, and once
 * a second for the clocks.  The terminal is restored on every way out:
 * q, Ctrl-C (a key in raw mode), SIGTERM, SIGHUP.
 */
#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "app.h"
#include "report.h"
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
    "chain, awaiters, children, cancellations, poll times, latest events), loops\n"
    "(lag, steps, blocked episodes with stacks), resources and warnings.\n"
    "\n"
    "  PID                 attach to a running process that uses the debug runtime\n"
    "  -- PROGRAM [ARGS]   start PROGRAM on the debug runtime and watch it; its output\n"
    "                      goes to FILE.log (see -o)\n"
    "  FILE                replay a recording: a time cursor moves forward and back\n"
    "\n"
    "options:\n"
    "  -o FILE        record a live session to FILE (default taskscope.db)\n"
    "  --no-record    do not record a live session\n"
    "  --log FILE     where a started PROGRAM's output goes\n"
    "  --no-color     no colours (also when NO_COLOR is set)\n"
    "  --bpf          watch through the BPF collector (root), so the program may use\n"
    "                 the release runtime; with PID, its loops dump their live tasks\n"
    "                 first; with -- PROGRAM, it is traced from its first event\n"
    "  --bpf-events=LIST  tasks,futures,sync,jobs,syscalls or all (default all)\n"
    "\n"
    "Press ? inside for every key.  Without a terminal the session is recorded and\n"
    "the ps, pstree and blocked reports are printed instead.\n"
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
    fprintf(stderr, "taskscope top: %s%s\nRun `taskscope top --help` for usage.\n", what, arg);
    return 2;
}

/* 0 ok, -1 printed help, 2 usage error */
static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->record = "taskscope.db";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            if (i + 1 >= argc)
                return usage_error("no program after --", "");
            o->argv = argv + i + 1;
            break;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return -1;
        } else if (!strcmp(a, "-o") && i + 1 < argc) {
            o->record = argv[++i];
        } else if (!strcmp(a, "--no-record")) {
            o->record = NULL;
        } else if (!strcmp(a, "--log") && i + 1 < argc) {
            o->log = argv[++i];
        } else if (!strcmp(a, "--no-color") || !strcmp(a, "--no-colour")) {
            o->no_color = 1;
        } else if (!strcmp(a, "--bpf")) {
            o->bpf = 1;
        } else if (!strncmp(a, "--bpf-events=", 13)) {
            o->bpf = 1;
            o->bpf_events = a + 13;
        } else if (a[0] == '-') {
            return usage_error("unknown option ", a);
        } else if (o->pid || o->file) {
            return usage_error("unexpected argument ", a);
        } else if (ts_is_pid(a)) {
            o->pid = atoi(a);
        } else {
            o->file = a;
        }
    }
    if (!o->argv && !o->pid && !o->file)
        return usage_error("nothing to watch: give a PID, a recording, or -- PROGRAM", "");
    if (o->argv && (o->pid || o->file))
        return usage_error("give either a target or -- PROGRAM, not both", "");
    if (o->bpf && !o->pid && !o->argv)
        return usage_error("--bpf needs a PID or -- PROGRAM", "");
    return 0;
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
    timeout(100);
    int color = has_colors() && !o->no_color && !getenv("NO_COLOR");
    tui_styles_init(color);
    tui_app app;
    if (tui_app_init(&app, src, color) != 0) {
        endwin();
        fprintf(stderr, "taskscope top: out of memory\n");
        return 1;
    }
    uint64_t last_draw = 0, drawn_gen = ~0ull;
    int dirty = 1;
    while (!app.quit && !stop_requested) {
        tui_src_tick(src);
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
    if (open_source(&src, &o, logbuf, sizeof logbuf))
        return 1;
    rc = tty ? run_curses(&src, &o) : reports(&src, &o);
    tui_src_close(&src);
    if (src.mode == TUI_LIVE && src.path[0])
        fprintf(stderr, "taskscope: recorded to %s (%s)\n", src.path, src.status);
    return rc;
}
