/*
 * live.c - the live source: a process we attached to or launched, drained
 * into the model and (optionally) a recording on every tick.
 *
 * Invariants:
 *   - The reader is polled at least once per tick, and ticks come at
 *     least every 100 ms, well inside the runtime's one-second heartbeat:
 *     the runtime keeps treating us as its live reader.
 *   - A launched program runs in its own process group with its output
 *     sent to a log file, so it never writes over the screen and terminal
 *     signals (Ctrl-C) reach the TUI, not it.
 *   - The recording is closed exactly once, with a status saying how the
 *     session ended, when the process goes away or the user quits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "source.h"


/* The session feeds the model and the recording; this tap adds each
 * event to its task's recent history, for the detail view. */
static void on_event(const ts_reader_event *ev, void *arg) {
    tui_src *s = arg;
    tui_recent_note(s->recent, ev->rec, ev->ns);
    if (!s->t0 || ev->ns < s->t0)
        s->t0 = ev->ns;
}

static int live_poll(tui_src *s) {
    s->sess.tap = on_event;
    s->sess.tap_arg = s;
    int n = ts_session_poll(&s->sess);
    if (n > 0)
        s->gen++;
    return n;
}

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static int open_recording(tui_src *s, const char *record, char *err, size_t len) {
    ts_reader_info info;
    ts_reader_get_info(s->sess.reader, &info);
    snprintf(s->exe, sizeof s->exe, "%s", info.exe);
    snprintf(s->version, sizeof s->version, "%s", info.runtime_version);
    if (!record)
        return 0;
    int rc = ts_store_create(record, &s->sess.store, err, len);
    if (rc)
        return rc;
    char buf[32];
    snprintf(buf, sizeof buf, "%d", s->pid);
    ts_store_meta(s->sess.store, "pid", buf);
    ts_store_meta(s->sess.store, "exe", info.exe);
    ts_store_meta(s->sess.store, "runtime_version", info.runtime_version);
    snprintf(s->path, sizeof s->path, "%s", record);
    return 0;
}

static int live_init(tui_src *s, int pid) {
    memset(s, 0, sizeof *s);
    s->mode = TUI_LIVE;
    s->pid = pid;
    s->recent = tui_recent_new();
    return s->recent ? 0 : -ENOMEM;
}

int tui_src_attach(tui_src *s, int pid, const char *record, char *err, size_t len) {
    if (live_init(s, pid)) {
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    int rc = ts_session_open(&s->sess, pid, 0, 0, err, len);
    if (rc) {
        tui_recent_free(s->recent);
        return rc;
    }
    s->have_sess = 1;
    s->model = s->sess.model;
    rc = open_recording(s, record, err, len);
    if (rc) {
        ts_session_close(&s->sess);
        tui_recent_free(s->recent);
        return rc;
    }
    snprintf(s->status, sizeof s->status, "%s",
             s->sess.attached ? "attached" : "snapshot (another tracer is attached)");
    if (s->sess.attached) {
        /* the state dump makes the first frame complete */
        for (int i = 0; i < 200 && !ts_reader_dump_done(s->sess.reader) &&
                        ts_reader_alive(s->sess.reader); i++) {
            live_poll(s);
            sleep_ms(5);
        }
    }
    live_poll(s);
    s->rate_wall_ns = tui_wall_ns();
    return 0;
}

static void child_exec(char **argv, const char *log_path) {
    setpgid(0, 0);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) /* never onto the screen the TUI draws */
        out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (in >= 0)
        dup2(in, 0);
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    ts_exec_on_debug_runtime(argv);
    fprintf(stderr, "taskscope: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int tui_src_launch(tui_src *s, char **argv, const char *record, const char *log_path,
                   char *err, size_t len) {
    pid_t child = fork();
    if (child < 0) {
        snprintf(err, len, "fork: %s", strerror(errno));
        return -errno;
    }
    if (child == 0)
        child_exec(argv, log_path);
    setpgid(child, child); /* both sides, whichever runs first */
    if (live_init(s, child)) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    s->child = child;
    snprintf(s->log_path, sizeof s->log_path, "%s", log_path);
    int rc = ts_session_open(&s->sess, child, child, 10000, err, len);
    if (rc == 0) {
        s->have_sess = 1;
        s->model = s->sess.model;
        rc = open_recording(s, record, err, len);
    }
    if (rc) {
        int status = 0;
        if (s->have_sess)
            ts_session_close(&s->sess);
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        if (rc == -ENOENT)
            snprintf(err, len, "%s never created a trace segment (exit status %d; its output is "
                               "in %s): it must use the taskscope runtime as a shared library",
                     argv[0], WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                     log_path);
        tui_recent_free(s->recent);
        return rc;
    }
    if (s->sess.store) {
        char cmd[1024] = "";
        size_t n = 0;
        for (int i = 0; argv[i] && n < sizeof cmd; i++)
            n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i ? " " : "", argv[i]);
        ts_store_meta(s->sess.store, "command", cmd);
    }
    snprintf(s->status, sizeof s->status, "running");
    live_poll(s);
    s->rate_wall_ns = tui_wall_ns();
    return 0;
}

/* The process is gone (status from waitpid when we launched it, -1 when
 * we attached): take what it published on the way out, close the
 * recording. */
static void finish(tui_src *s, int status) {
    live_poll(s);
    char st[160];
    if (status < 0)
        snprintf(st, sizeof st, "complete: %s", ts_reader_alive(s->sess.reader)
                                                    ? "detached" : "the process exited");
    else if (WIFSIGNALED(status))
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", WTERMSIG(status));
    else
        snprintf(st, sizeof st, "complete: exit status %d", WEXITSTATUS(status));
    int write_error = 0;
    if (s->sess.store) {
        write_error = ts_store_close(s->sess.store, st, tm_model_dropped(s->model)) != 0;
        s->sess.store = NULL;
    }
    s->finished = 1;
    if (status < 0)
        snprintf(s->status, sizeof s->status, "%s", ts_reader_alive(s->sess.reader)
                                                        ? "detached" : "exited");
    else if (WIFSIGNALED(status))
        snprintf(s->status, sizeof s->status, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(s->status, sizeof s->status, "exited with status %d", WEXITSTATUS(status));
    if (write_error) {
        size_t n = strlen(s->status);
        snprintf(s->status + n, sizeof s->status - n, "; RECORDING INCOMPLETE (write error)");
    }
    s->gen++;
}

int tui_live_tick(tui_src *s) {
    if (s->finished)
        return 0;
    uint64_t before = s->gen;
    live_poll(s);
    uint64_t now = tui_wall_ns();
    if (now - s->rate_wall_ns >= 1000000000ull) {
        s->events_per_s = (double)(s->sess.events - s->rate_events) * 1e9 /
                          (double)(now - s->rate_wall_ns);
        s->rate_events = s->sess.events;
        s->rate_wall_ns = now;
    }
    int status;
    if (s->child && waitpid(s->child, &status, WNOHANG) == s->child) {
        s->child = 0;
        finish(s, status);
    } else if (!s->child && !ts_reader_alive(s->sess.reader)) {
        finish(s, -1);
    }
    return s->gen != before;
}

void tui_live_close(tui_src *s) {
    if (!s->have_sess)
        return;
    if (!s->finished && s->child) {
        /* interrupt it as Ctrl-C would, keep draining while it winds down */
        kill(-s->child, SIGINT);
        int status = 0, gone = 0;
        for (int i = 0; i < 300 && !gone; i++) {
            live_poll(s);
            gone = waitpid(s->child, &status, WNOHANG) == s->child;
            if (!gone)
                sleep_ms(10);
        }
        if (!gone) {
            kill(-s->child, SIGKILL);
            waitpid(s->child, &status, 0);
        }
        s->child = 0;
        finish(s, status);
    } else if (!s->finished) {
        finish(s, -1);
    }
    ts_session_close(&s->sess);
    s->have_sess = 0;
    s->model = NULL;
    tui_recent_free(s->recent);
    s->recent = NULL;
}
