/*
 * session.c - see session.h.
 *
 * Segment lifetime: the reader holds its own descriptor of the process's
 * segment (a memfd), so the segment outlives the process for as long as
 * the session is open.  When the process goes (exit, crash, SIGKILL) the
 * session drains what it had published, to the end, before it returns:
 * the recording ends with the program's last window and every task's
 * last state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "follow.h"
#include "launch.h"
#include "session.h"

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t now_ms(void) { return now_ns() / 1000000; }

static void sleep_ms(int ms) {
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

static void on_event(const ts_reader_event *ev, void *arg) {
    ts_session *s = arg;
    tm_model_apply(s->model, ev->rec, ev->ns, ev->tid);
    if (s->store) /* a followed child's events go into its parent's recording */
        ts_store_event_pid(s->store, ev->rec, ev->ns, ev->tid, (uint32_t)s->pid);
    if (s->tap)
        s->tap(ev, s->tap_arg);
    s->events++;
    if (ev->type == TS_EV_loop_blocked)
        s->urgent = 1;
}

/* The model retired a task whose end was dropped: say so in the
 * recording too (a task_done of state TM_REC_LOST), so that a report
 * from the file, by replay or SQL, does not list it as live. */
void ts_session_record_lost(uint64_t task, uint64_t ns, void *arg) {
    ts_session *s = arg;
    if (!s->store || ts_store_error(s->store)) /* a recording cut short says so */
        return;
    ts_ev_task_done e = {.h = {.type = TS_EV_task_done, .size = sizeof e},
                         .task = task, .state = TM_REC_LOST};
    ts_store_event_pid(s->store, &e.h, ns, 0, (uint32_t)s->pid);
}

int ts_session_open(ts_session *s, int pid, int child_pid, int wait_ms, char *err, size_t len) {
    memset(s, 0, sizeof *s);
    s->pid = pid;
    s->child = child_pid;
    uint64_t t0 = now_ms();
    uint64_t deadline = t0 + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    /* A segment caught between the memfd's creation and its header's
     * magic (written last) is one being made: worth a second even to a
     * caller that does not wait for a segment to appear. */
    uint64_t made_deadline = deadline > t0 + 1000 ? deadline : t0 + 1000;
    int rc;
    for (;;) {
        rc = ts_reader_open_pid(&s->reader, pid, err, len);
        /* Not there yet, or being made: worth another look. */
        if ((rc != -ENOENT && rc != -EBADMSG) ||
            now_ms() >= (rc == -EBADMSG ? made_deadline : deadline))
            break;
        /* waitid, not waitpid: only waitid takes WNOWAIT (waitpid fails
         * with EINVAL), and the exit status must stay for cmd_run. */
        siginfo_t si = {0};
        if (child_pid > 0 &&
            waitid(P_PID, (id_t)child_pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            break; /* it exited without ever tracing */
        sleep_ms(5);
    }
    if (rc)
        return rc;
    s->model = tm_model_new();
    if (!s->model) {
        ts_reader_close(s->reader);
        snprintf(err, len, "out of memory");
        return -ENOMEM;
    }
    tm_model_on_retire(s->model, ts_session_record_lost, s);
    rc = ts_reader_attach(s->reader);
    s->attached = rc == 0;
    if (rc == -EBUSY)
        fprintf(stderr, "taskscope: another tracer is attached to %d; reading the flight "
                        "recorder without a state dump\n", pid);
    return 0;
}

int ts_session_poll(ts_session *s) { return ts_session_poll_with(s, on_event, s); }

/* Post-mortem equals live: what the model warns about while recording
 * goes into the recording as it is raised (a deadlock that a timeout
 * later broke leaves no trace in the final state), and again when its
 * text changes.  The analysis that finds deadlocks and stuck loops runs
 * once a second while recording. */
static void record_warnings(ts_session *s) {
    int second = now_ms() - s->analyzed_ms >= 1000;
    if (second) {
        tm_model_analyze(s->model);
        s->analyzed_ms = now_ms();
    }
    if (!tm_model_dirty_warnings(s->model))
        return;
    for (size_t i = 0; i < tm_model_warning_count(s->model); i++) {
        const tm_warning *w = tm_model_warning_at(s->model, i);
        /* The drops warning's count changes with every poll under
         * overload: rewritten once a second, not once a poll.  (The
         * session's final "dropped" fact has the last word anyway.) */
        if (!w->dirty || (w->kind == TM_WARN_DROPS && !second))
            continue;
        if (ts_store_warning_pid(s->store, (uint32_t)s->pid, i + 1, w->ns,
                                 tm_warning_kind_name(w->kind), w->task, w->resource,
                                 w->text) == 0)
            tm_model_warning_clean(s->model, i);
    }
}

int ts_session_poll_with(ts_session *s, ts_reader_fn fn, void *arg) {
    int n = ts_reader_poll(s->reader, fn, arg);
    if (n >= 0 && s->attached)
        ts_reader_keepalive(s->reader);
    /* Corruption is skipped, never decoded into tasks: say where, once
     * per poll that found some (the first few times; it stays counted). */
    char bad[256];
    if (ts_reader_corruption(s->reader, bad, sizeof bad) > 0 && s->corrupt_reports++ < 8)
        fprintf(stderr, "taskscope: pid %d: %s\n", s->pid, bad);
    ts_reader_stats st;
    ts_reader_get_stats(s->reader, &st);
    /* The model counts drops from `dropped` events; add the rings' own
     * counters' excess (drops not yet reported by an event). */
    uint64_t seen = tm_model_dropped(s->model);
    uint64_t total = st.dropped_total > st.dropped_events ? st.dropped_total : st.dropped_events;
    if (total > seen)
        tm_model_add_dropped(s->model, total - seen);
    /* Dropped events may include tasks' ends: ask for a fresh dump (at
     * most every 2 s) so the model retires what no longer lives.  A dump
     * still not done after 2 s is asked again rather than waited for:
     * under sustained overload a dump may wait long for room in a full
     * ring, and the runtime answers only the newest request, so waiting
     * could leave the model growing with the drops meanwhile (about
     * 1,000 tasks a second in bench_ingest). */
    uint64_t drops = tm_model_dropped(s->model);
    if (s->attached && drops > s->dump_asked_drops && now_ms() - s->dump_asked_ms >= 2000) {
        ts_reader_request_dump(s->reader);
        s->dump_asked_drops = drops;
        s->dump_asked_ms = now_ms();
    }
    if (s->store) {
        record_warnings(s);
        /* A loop blocked now is in the file while it lasts, not up to a
         * chunk's age (200 ms) or the next event later. */
        if (s->urgent)
            ts_store_hand_over(s->store);
    }
    s->urgent = 0;
    return n;
}

/* The process's state letter (/proc/PID/stat: 'R', 'S', 'T' stopped,
 * ...), or 0 once it is gone or a zombie: either way it will write
 * nothing more.  (The reader's own check compares pid and start time,
 * which a zombie that nobody has reaped yet still matches.) */
static char process_state(const ts_session *s) {
    if (s->child > 0) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)s->child, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid)
            return 0;
    }
    if (!ts_reader_alive(s->reader))
        return 0;
    char state = ts_proc_state(s->pid);
    return state == 'Z' || state == 'X' ? 0 : state;
}

static int process_gone(const ts_session *s) { return !process_state(s); }

/* How long after the watchdog's report of an episode a report that
 * prints its stack waits for the stack, which the watchdog captures after
 * its report (a signal round trip on a busy thread, a stack scan on a
 * sleeping one: 20-200 ms on a loaded machine).  Counted from the
 * in-process detection, so that the report shows the episode within
 * 50 ms of it (issue 15) with the stack when it came in time, and says
 * so when it did not (report_blocked.c). */
#define STACK_WAIT_NS (10 * 1000000ull)

/* Is a loop blocked right now (an episode seen, its end not yet), and,
 * when the caller prints its stack, has the stack arrived or has
 * stack_wait_ns passed since the watchdog reported the episode?  A
 * blocked loop answers no dump until its step ends, which may be much
 * later: the watchdog's report (the task, named) is what there is to
 * show meanwhile. */
static int loop_blocked_now(const ts_session *s, uint64_t stack_wait_ns) {
    uint64_t now = now_ns();
    for (size_t i = tm_model_blocked_count(s->model); i-- > 0;) {
        const tm_blocked *b = tm_model_blocked_at(s->model, i);
        uint32_t depth;
        if (b->duration_ns || b->slow_only)
            continue;
        uint64_t reported = b->start_ns + b->seen_elapsed_ns;
        if (!stack_wait_ns || !b->stack || tm_model_stack(s->model, b->stack, &depth) ||
            (now > reported && now - reported >= stack_wait_ns))
            return 1;
    }
    return 0;
}

static void wait_dump(ts_session *s, int timeout_ms, uint64_t stack_wait_ns);

/* cli_cancel and why_live: the stack too, however late (why shows it). */
void ts_session_wait_dump(ts_session *s, int timeout_ms) {
    wait_dump(s, timeout_ms, UINT64_MAX);
}

void ts_session_wait_dump_for(ts_session *s, int timeout_ms, int need_stack) {
    wait_dump(s, timeout_ms, need_stack ? STACK_WAIT_NS : 0);
}

static void wait_dump(ts_session *s, int timeout_ms, uint64_t stack_wait_ns) {
    uint64_t since = now_ns(), t0 = since / 1000000, deadline = t0 + (uint64_t)timeout_ms;
    do {
        /* The model's clock is the time of this drain, not of the last
         * event read: a loop blocked since then is still blocked now. */
        uint64_t drained_at = now_ns();
        ts_session_poll(s);
        char state = process_state(s);
        if (state)
            tm_model_advance(s->model, drained_at);
        if (!state || loop_blocked_now(s, stack_wait_ns))
            break;
        /* Stopped: neither its loops (the dump) nor its watchdog (the
         * report of a step) can run until it is continued, which may be
         * never; what its rings hold is the answer, said to be so. */
        if (state == 'T' || state == 't') {
            s->stopped = 1;
            break;
        }
        if (s->attached && ts_reader_dump_done(s->reader))
            break;
        /* Not attached (another tracer is): no dump comes.  A loop
         * blocked by a task spawned in its batch shows nothing in the
         * flight recorder until the watchdog names it, within the
         * threshold: wait for that report while the watchdog watches a
         * step that began before we came (and until it has looked). */
        if (!s->attached && !ts_reader_step_pending(s->reader, since) &&
            !loop_blocked_now(s, 0)) {
            /* A report that made it so was published before the slot
             * said so, maybe after the poll above: read it too (and, if
             * it came, wait for its stack as above). */
            drained_at = now_ns();
            ts_session_poll(s);
            if (!process_gone(s))
                tm_model_advance(s->model, drained_at);
            if (!loop_blocked_now(s, 0))
                break;
        }
        /* 2 ms, not more: `ps PID` during a block answers as soon as the
         * watchdog's report is in (the goal: 50 ms after it); the wait
         * lasts one dump, a few hundred polls at most */
        sleep_ms(2);
    } while (now_ms() < deadline);
}

int ts_session_run(ts_session *s, volatile sig_atomic_t *stop, int duration_ms) {
    uint64_t end = duration_ms >= 0 ? now_ms() + (uint64_t)duration_ms : UINT64_MAX;
    while (!(stop && *stop) && now_ms() < end) {
        int n = ts_session_poll(s);
        ts_follow_poll(s->follow);
        if (process_gone(s)) {
            /* What it published on the way out, all of it: a poll reads
             * a bounded amount per ring. */
            for (int i = 0; i < 10000 && ts_session_poll(s) > 0; i++)
                ;
            s->killed_by = ts_reader_fatal_signal(s->reader);
            return 1;
        }
        if (n == 0)
            sleep_ms(10);
    }
    return 0;
}

void ts_session_close(ts_session *s) {
    ts_reader_close(s->reader);
    tm_model_free(s->model);
    s->reader = NULL;
    s->model = NULL;
}

static void on_replay(const ts_ev_header *rec, uint64_t ns, uint32_t tid, void *arg) {
    tm_model_apply(arg, rec, ns, tid);
}

static void on_stored_warning(uint64_t ns, const char *kind, uint64_t task, uint64_t resource,
                              const char *text, void *arg) {
    tm_warning_kind k = tm_warning_kind_parse(kind);
    if (k)
        tm_model_merge_warning(arg, k, ns, task, resource, text ? text : "");
}

int ts_session_load(tm_model **out, const char *path, char *err, size_t len) {
    return ts_session_load_pid(out, path, 0, 1, err, len);
}

int ts_session_load_pid(tm_model **out, const char *path, int pid, int keep_all, char *err,
                        size_t len) {
    tm_model *m = tm_model_new();
    if (!m)
        return -ENOMEM;
    if (keep_all)
        tm_model_keep_all(m); /* a report on a file lists every task */
    int rc = ts_session_load_into(m, path, pid, err, len);
    if (rc) {
        tm_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int ts_session_load_into(tm_model *m, const char *path, int pid, char *err, size_t len) {
    int rc = ts_store_replay_pid(path, pid, on_replay, m, err, len);
    if (rc)
        return rc;
    char buf[64];
    rc = ts_store_read_meta(path, "dropped", buf, sizeof buf);
    /* A followed child's drops are its own (the session's are the
     * traced process's). */
    ts_store_proc procs[64];
    size_t np = 0;
    if (!rc && pid > 0 && ts_store_processes(path, procs, 64, &np, err, len) == 0)
        for (size_t i = 0; i < np && i < 64; i++)
            if (procs[i].pid == pid && procs[i].parent)
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)procs[i].dropped);
    if (rc) {
        snprintf(err, len, "%s: damaged recording: its session table cannot be read", path);
        return rc;
    }
    if (buf[0]) {
        unsigned long long d = strtoull(buf, NULL, 10);
        if (d > tm_model_dropped(m))
            tm_model_add_dropped(m, d - tm_model_dropped(m));
    }
    /* The final state's findings first, then what the live model saw
     * along the way that the end no longer shows. */
    tm_model_analyze(m);
    return ts_store_read_warnings_pid(path, pid, on_stored_warning, m, err, len);
}
