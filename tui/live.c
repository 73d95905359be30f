/*
 * live.c - the live source: a process we attached to or launched, drained
 * into the model and (optionally) a recording on every tick; with
 * `top --bpf PID`, fed by the BPF session (tracer/bpf/bpf_session.h)
 * instead of the shared-memory one, through the same tap.
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
 *   - A launched program's forked children are followed (tracer/follow.h)
 *     into the same recording, polled on every tick with the program; the
 *     views show one process at a time (tui_src_next_process): the shown
 *     model is re-resolved after every poll, since a child's model is
 *     freed when the child is gone.
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

#include "follow.h"
#include "launch.h"
#include "source.h"
#ifdef TS_HAVE_BPF
#include "bpf_session.h"
#endif

/* The session that feeds the model: the shared-memory one, or the BPF
 * session's (which embeds one, so recording and counting read the same). */
static ts_session *sess(tui_src *s) {
#ifdef TS_HAVE_BPF
    if (s->bpf)
        return &s->bpf->s;
#endif
    return &s->sess;
}

/* Still there?  (A launched child is watched with waitpid instead.) */
static int live_alive(tui_src *s) {
#ifdef TS_HAVE_BPF
    if (s->bpf)
        return !ts_bpf_session_gone(s->bpf);
#endif
    return ts_reader_alive(s->sess.reader);
}


/* The session feeds the model and the recording; this tap adds each
 * event to its task's recent history, for the detail view. */
static void on_event(const ts_reader_event *ev, void *arg) {
    tui_src *s = arg;
    tui_src_note(s, ev->rec, ev->ns);
    if (!s->t0 || ev->ns < s->t0)
        s->t0 = ev->ns;
}

/* ---- followed children (top -- PROGRAM) ------------------------------------------ */

#define PROCS_SHOWN_MAX 64

/* The program's own view (model, history, header) while a child is
 * shown, and each child's recent-event history. */
struct tui_procs {
    ts_follow *follow;
    int shown;                /* 0: the program; else the child's pid */
    int changed;              /* a child's event arrived since the last tick */
    size_t last_count;        /* children being read at the last tick */
    int root_pid;
    char root_exe[256];
    tm_model *root_model;
    tui_recent *root_recent;
    struct { int pid; tui_recent *recent; } kids[PROCS_SHOWN_MAX];
    size_t nkids;
};

static tui_recent **kid_recent(struct tui_procs *p, int pid, int create) {
    for (size_t i = 0; i < p->nkids; i++)
        if (p->kids[i].pid == pid)
            return &p->kids[i].recent;
    if (!create || p->nkids == PROCS_SHOWN_MAX)
        return NULL;
    tui_recent *r = tui_recent_new();
    if (!r)
        return NULL;
    p->kids[p->nkids].pid = pid;
    p->kids[p->nkids].recent = r;
    return &p->kids[p->nkids++].recent;
}

static void on_child_event(int pid, const ts_reader_event *ev, void *arg) {
    struct tui_procs *p = arg;
    tui_recent **r = kid_recent(p, pid, 1);
    if (r)
        tui_recent_note(*r, ev->rec, ev->ns);
    if (p->shown == pid)
        p->changed = 1;
}

static void show_process(tui_src *s, int pid) {
    struct tui_procs *p = s->procs;
    tm_model *m = NULL;
    tui_recent **r = NULL;
    int parent = 0;
    char exe[256] = "";
    if (pid && !s->finished) {
        m = ts_follow_model(p->follow, pid, &parent, exe, sizeof exe);
        r = kid_recent(p, pid, 1);
    }
    if (!m || !r) { /* the program itself */
        p->shown = 0;
        s->model = p->root_model;
        s->recent = p->root_recent;
        s->pid = p->root_pid;
        snprintf(s->exe, sizeof s->exe, "%s", p->root_exe);
    } else {
        p->shown = pid;
        s->model = m;
        s->recent = *r;
        s->pid = pid;
        snprintf(s->exe, sizeof s->exe, "%s", exe);
    }
    s->gen++;
}

/* The status line's note on the children (the program's own status is
 * set by launch and finish). */
static void note_children(tui_src *s) {
    struct tui_procs *p = s->procs;
    int pids[PROCS_SHOWN_MAX];
    size_t n = ts_follow_children(p->follow, pids, PROCS_SHOWN_MAX);
    if (n == p->last_count && !p->shown)
        return;
    p->last_count = n;
    char st[sizeof s->status];
    if (p->shown)
        snprintf(st, sizeof st, "forked child of %d (P: next process)", p->root_pid);
    else if (n)
        snprintf(st, sizeof st, "running, %zu forked child%s followed (P: next process)", n,
                 n == 1 ? "" : "ren");
    else
        snprintf(st, sizeof st, "running");
    if (strcmp(st, s->status)) {
        memcpy(s->status, st, sizeof st);
        s->gen++;
    }
}

/* Poll the children, forget the histories of those gone, and keep the
 * shown model valid. */
static void procs_tick(tui_src *s) {
    struct tui_procs *p = s->procs;
    ts_follow_poll(p->follow);
    int pids[PROCS_SHOWN_MAX];
    size_t n = ts_follow_children(p->follow, pids, PROCS_SHOWN_MAX);
    for (size_t i = 0; i < p->nkids;) {
        size_t k = 0;
        while (k < n && k < PROCS_SHOWN_MAX && pids[k] != p->kids[i].pid)
            k++;
        if (k < n && k < PROCS_SHOWN_MAX) {
            i++;
            continue;
        }
        if (p->shown == p->kids[i].pid)
            show_process(s, 0); /* it is gone: back to the program */
        tui_recent_free(p->kids[i].recent);
        p->kids[i] = p->kids[--p->nkids];
    }
    if (p->shown)
        show_process(s, p->shown); /* the same model; it moved on */
    if (p->changed) {
        p->changed = 0;
        s->gen++;
    }
    note_children(s);
}

/* The program is gone (or we quit): its children's sessions end with it,
 * and the program is shown again. */
static void procs_finish(tui_src *s) {
    struct tui_procs *p = s->procs;
    if (!p)
        return;
    show_process(s, 0);
    ts_follow_finish(p->follow);
    p->follow = NULL;
    for (size_t i = 0; i < p->nkids; i++)
        tui_recent_free(p->kids[i].recent);
    p->nkids = 0;
}

int tui_src_next_process(tui_src *s) {
    struct tui_procs *p = s->mode == TUI_LIVE ? s->procs : NULL;
    if (!p || !p->follow || s->finished)
        return 0;
    int pids[PROCS_SHOWN_MAX];
    size_t n = ts_follow_children(p->follow, pids, PROCS_SHOWN_MAX);
    if (n > PROCS_SHOWN_MAX)
        n = PROCS_SHOWN_MAX;
    if (!n)
        return 0;
    size_t at = 0; /* the shown one's place in [program, pids...] */
    for (size_t i = 0; i < n; i++)
        if (pids[i] == p->shown)
            at = i + 1;
    int next = at < n ? pids[at] : 0;
    show_process(s, next);
    p->last_count = (size_t)-1; /* the status line says which */
    note_children(s);
    return 1;
}

static int live_poll(tui_src *s) {
    sess(s)->tap = on_event;
    sess(s)->tap_arg = s;
#ifdef TS_HAVE_BPF
    int n = s->bpf ? ts_bpf_session_poll(s->bpf, 0) : ts_session_poll(sess(s));
#else
    int n = ts_session_poll(sess(s));
#endif
    if (n > 0)
        s->gen++;
    return n;
}

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static int open_recording(tui_src *s, const char *record, char *err, size_t len) {
    ts_reader_info info = {0};
    if (sess(s)->reader) {
        ts_reader_get_info(sess(s)->reader, &info);
    } else { /* BPF on the release runtime: no segment header to ask */
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/exe", s->pid);
        ssize_t n = readlink(path, info.exe, sizeof info.exe - 1);
        info.exe[n > 0 ? n : 0] = 0;
        snprintf(info.runtime_version, sizeof info.runtime_version, "release (BPF)");
    }
    snprintf(s->exe, sizeof s->exe, "%s", info.exe);
    snprintf(s->version, sizeof s->version, "%s", info.runtime_version);
    if (!record)
        return 0;
    int rc = ts_store_create(record, &sess(s)->store, err, len);
    if (rc)
        return rc;
    char buf[32];
    snprintf(buf, sizeof buf, "%d", s->pid);
    ts_store_meta(sess(s)->store, "pid", buf);
    ts_store_meta(sess(s)->store, "exe", info.exe);
    ts_store_meta(sess(s)->store, "runtime_version", info.runtime_version);
    snprintf(s->path, sizeof s->path, "%s", record);
    return 0;
}

/* The command line of a launched program, into the recording's meta. */
static void record_command(tui_src *s, char **argv) {
    if (!sess(s)->store)
        return;
    char cmd[1024] = "";
    size_t n = 0;
    for (int i = 0; argv[i] && n < sizeof cmd; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i ? " " : "", argv[i]);
    ts_store_meta(sess(s)->store, "command", cmd);
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
    int rc = ts_session_open(sess(s), pid, 0, 0, err, len);
    if (rc) {
        tui_recent_free(s->recent);
        return rc;
    }
    s->have_sess = 1;
    s->model = sess(s)->model;
    rc = open_recording(s, record, err, len);
    if (rc) {
        ts_session_close(sess(s));
        tui_recent_free(s->recent);
        return rc;
    }
    snprintf(s->status, sizeof s->status, "%s",
             sess(s)->attached ? "attached" : "snapshot (another tracer is attached)");
    if (sess(s)->attached) {
        /* the state dump makes the first frame complete */
        for (int i = 0; i < 200 && !ts_reader_dump_done(sess(s)->reader) &&
                        live_alive(s); i++) {
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
    if (ts_follow_wanted()) /* a forked child waits for its follower (follow.h) */
        setenv("TASKSCOPE_FOLLOW_FORKS", "1", 0);
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

/* Follow the launched program's forked children (unless --no-follow):
 * into its recording, and into views of their own. */
static void start_following(tui_src *s) {
    if (!ts_follow_wanted())
        return;
    struct tui_procs *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->follow = ts_follow_new(s->pid, sess(s)->store);
    if (!p->follow) {
        free(p);
        return;
    }
    ts_follow_set_tap(p->follow, on_child_event, p);
    ts_follow_set_quiet(p->follow);
    p->root_pid = s->pid;
    snprintf(p->root_exe, sizeof p->root_exe, "%s", s->exe);
    p->root_model = s->model;
    p->root_recent = s->recent;
    s->procs = p;
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
    /* Confirm the debug runtime is really loaded (else err names why). */
    int rc = ts_launch_confirm(child, argv[0], 1000, err, len);
    if (rc == -ECHILD)
        rc = 0; /* it ended at once: ts_session_open says so below */
    else if (rc)
        rc = -ENOEXEC;
    if (rc == 0)
        rc = ts_session_open(sess(s), child, child, 10000, err, len);
    if (rc == 0) {
        s->have_sess = 1;
        s->model = sess(s)->model;
        rc = open_recording(s, record, err, len);
    }
    if (rc) {
        int status = 0;
        if (s->have_sess)
            ts_session_close(sess(s));
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
    record_command(s, argv);
    snprintf(s->status, sizeof s->status, "running");
    start_following(s);
    live_poll(s);
    s->rate_wall_ns = tui_wall_ns();
    return 0;
}

/* The process is gone (status from waitpid when we launched it, -1 when
 * we attached): take what it published on the way out, close the
 * recording. */
static void finish(tui_src *s, int status) {
    live_poll(s);
    procs_finish(s); /* before the recording they write into is closed */
    char st[160];
    if (status < 0)
        snprintf(st, sizeof st, "complete: %s", live_alive(s)
                                                    ? "detached" : "the process exited");
    else if (WIFSIGNALED(status))
        snprintf(st, sizeof st, "truncated: the program was killed by signal %d", WTERMSIG(status));
    else
        snprintf(st, sizeof st, "complete: exit status %d", WEXITSTATUS(status));
    int write_error = 0;
    if (sess(s)->store) {
        write_error = ts_store_close(sess(s)->store, st, tm_model_dropped(s->model)) != 0;
        sess(s)->store = NULL;
    }
    s->finished = 1;
    if (status < 0)
        snprintf(s->status, sizeof s->status, "%s", live_alive(s)
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
        s->events_per_s = (double)(sess(s)->events - s->rate_events) * 1e9 /
                          (double)(now - s->rate_wall_ns);
        s->rate_events = sess(s)->events;
        s->rate_wall_ns = now;
    }
    if (s->procs && s->procs->follow)
        procs_tick(s);
    int status;
    if (s->child && waitpid(s->child, &status, WNOHANG) == s->child) {
        s->child = 0;
        finish(s, status);
    } else if (!s->child && !live_alive(s)) {
        finish(s, -1);
    }
    return s->gen != before;
}

void tui_live_close(tui_src *s) {
    if (!s->have_sess)
        return;
    if (!s->finished && s->child) {
        /* interrupt it as Ctrl-C would, keep draining while it winds down
         * (its group, when it leads one: the BPF collector's child does
         * not) */
        pid_t target = getpgid(s->child) == s->child ? -s->child : s->child;
        kill(target, SIGINT);
        int status = 0, gone = 0;
        for (int i = 0; i < 300 && !gone; i++) {
            live_poll(s);
            gone = waitpid(s->child, &status, WNOHANG) == s->child;
            if (!gone)
                sleep_ms(10);
        }
        if (!gone) {
            kill(target, SIGKILL);
            waitpid(s->child, &status, 0);
        }
        s->child = 0;
        finish(s, status);
    } else if (!s->finished) {
        finish(s, -1);
    }
#ifdef TS_HAVE_BPF
    if (s->bpf) {
        ts_bpf_session_close(s->bpf);
        free(s->bpf);
        s->bpf = NULL;
    } else
#endif
        ts_session_close(&s->sess);
    s->have_sess = 0;
    s->model = NULL;
    tui_recent_free(s->recent);
    s->recent = NULL;
    free(s->procs);
    s->procs = NULL;
}

/* ---- top --bpf ------------------------------------------------------------------- */

int tui_src_attach_bpf(tui_src *s, int pid, const char *record, const char *events, char *err,
                       size_t len) {
#ifdef TS_HAVE_BPF
    ts_bpf_opts o = {0};
    if (events && ts_bpf_parse_events(events, &o.events, err, len))
        return -EINVAL;
    if (live_init(s, pid)) {
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    s->bpf = calloc(1, sizeof *s->bpf);
    int rc = s->bpf ? ts_bpf_session_attach(s->bpf, pid, &o, err, len) : -ENOMEM;
    if (rc) {
        if (rc == -ENOMEM)
            snprintf(err, len, "out of memory");
        free(s->bpf);
        s->bpf = NULL;
        tui_recent_free(s->recent);
        return rc;
    }
    s->have_sess = 1;
    s->model = sess(s)->model;
    sess(s)->tap = on_event;
    sess(s)->tap_arg = s;
    rc = open_recording(s, record, err, len);
    if (rc) {
        ts_bpf_session_close(s->bpf);
        free(s->bpf);
        s->bpf = NULL;
        tui_recent_free(s->recent);
        return rc;
    }
    if (sess(s)->store)
        ts_store_meta(sess(s)->store, "collector", "bpf");
    int dumped = ts_bpf_session_wait_dump(s->bpf, 2000);
    snprintf(s->status, sizeof s->status, "attached through BPF%s%s",
             ts_bpf_session_beside_ring(s->bpf) ? " + ring" : "",
             dumped ? "" : " (no state dump)");
    live_poll(s);
    s->rate_wall_ns = tui_wall_ns();
    return 0;
#else
    (void)s, (void)pid, (void)record, (void)events;
    snprintf(err, len, "this build has no BPF collector (it needs clang, bpftool, libbpf-dev "
                       "and a kernel with BTF at build time)");
    return -ENOTSUP;
#endif
}

#ifdef TS_HAVE_BPF
/* The collector forks the program itself: point our stdin at /dev/null
 * and stdout/stderr at the log while it does, so the child inherits them
 * and never writes onto the screen the TUI draws; then take ours back. */
struct stdio_saved {
    int fd[3];
};

static int stdio_redirect(struct stdio_saved *sv, const char *log_path) {
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        out = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (in < 0 || out < 0) {
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        return -1;
    }
    fflush(NULL);
    for (int i = 0; i < 3; i++)
        sv->fd[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    close(in);
    close(out);
    return 0;
}

static void stdio_restore(struct stdio_saved *sv) {
    fflush(NULL);
    for (int i = 0; i < 3; i++) {
        if (sv->fd[i] >= 0) {
            dup2(sv->fd[i], i);
            close(sv->fd[i]);
        }
    }
}
#endif

int tui_src_launch_bpf(tui_src *s, char **argv, const char *record, const char *log_path,
                       const char *events, char *err, size_t len) {
#ifdef TS_HAVE_BPF
    ts_bpf_opts o = {0};
    if (events && ts_bpf_parse_events(events, &o.events, err, len))
        return -EINVAL;
    if (live_init(s, 0)) {
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    s->bpf = calloc(1, sizeof *s->bpf);
    struct stdio_saved sv;
    int rc = !s->bpf ? -ENOMEM : stdio_redirect(&sv, log_path) ? -EIO : 0;
    if (!rc) {
        rc = ts_bpf_session_spawn(s->bpf, argv, &o, err, len);
        stdio_restore(&sv);
    } else {
        snprintf(err, len, rc == -ENOMEM ? "out of memory" : "cannot open %s", log_path);
    }
    if (rc) {
        free(s->bpf);
        s->bpf = NULL;
        tui_recent_free(s->recent);
        return rc;
    }
    s->pid = s->child = s->bpf->s.child;
    snprintf(s->log_path, sizeof s->log_path, "%s", log_path);
    s->have_sess = 1;
    s->model = sess(s)->model;
    rc = open_recording(s, record, err, len);
    if (rc) {
        kill(s->child, SIGKILL);
        waitpid(s->child, NULL, 0);
        ts_bpf_session_close(s->bpf);
        free(s->bpf);
        s->bpf = NULL;
        tui_recent_free(s->recent);
        return rc;
    }
    record_command(s, argv);
    if (sess(s)->store)
        ts_store_meta(sess(s)->store, "collector", "bpf");
    snprintf(s->status, sizeof s->status, "running, traced through BPF%s",
             ts_bpf_session_beside_ring(s->bpf) ? " + ring" : "");
    live_poll(s);
    s->rate_wall_ns = tui_wall_ns();
    return 0;
#else
    (void)s, (void)argv, (void)record, (void)log_path, (void)events;
    snprintf(err, len, "this build has no BPF collector (it needs clang, bpftool, libbpf-dev "
                       "and a kernel with BTF at build time)");
    return -ENOTSUP;
#endif
}

int tui_src_cancel(tui_src *s, uint64_t task, ts_cancel_req *req, char *why, size_t len) {
    memset(req, 0, sizeof *req);
    if (s->mode != TUI_LIVE || s->finished) {
        snprintf(why, len, "cannot be cancelled: %s", s->mode == TUI_LIVE
                 ? "the process is gone" : "a recording is only replayed");
        return -ENOTSUP;
    }
    /* the command goes through the reader of the session the shown model
     * comes from; a followed child's session is not ours to post on */
    if (sess(s)->model != s->model) {
        snprintf(why, len, "cannot be cancelled from here: cancel works on the program, "
                           "not a followed child (taskscope cancel PID TASK does)");
        return -ENOTSUP;
    }
    return ts_cancel_post(sess(s), task, NULL, req, why, len);
}

int tui_src_cancel_result(tui_src *s, const ts_cancel_req *req, int *result) {
    if (s->mode != TUI_LIVE)
        return 0;
    return ts_cancel_result(sess(s), req, result);
}

void tui_src_want_stacks(tui_src *s) {
    if (s->mode != TUI_LIVE || s->finished || !sess(s)->reader || !sess(s)->attached ||
        sess(s)->model != s->model)
        return;
    uint64_t now = tui_wall_ns();
    if (s->stack_asked_ns && now - s->stack_asked_ns < 5000000000ull)
        return;
    s->stack_asked_ns = now;
    ts_reader_request_dump(sess(s)->reader);
}
