/*
 * test_trace_attach.c - a reader that attaches late to a running process
 * (a forked child, 64 KiB rings that have wrapped many times) gets the
 * recent window and then the state dump it asked for: every live task
 * with what it awaits and where, and the live resources (the lock with
 * its holder, the queue with its depth), all names resolvable.  A loop
 * that is idle in its poll answers too.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "trace_harness.h"

/* ---- a late reader: the recent window, then the state dump ------------------------------- */

/* In the child: many short tasks (the ring wraps), then long-lived ones
 * parked on different things, then tick until the parent says stop. */
static int late_ready, late_stop;
static ts_lock *late_lock;
static ts_queue *late_queue;
static ts_event *late_event;
static ts_task *late_sleeper;
struct late_lines {
    int lock, get, await, event;
};
static struct late_lines late_lines;

static void *d_sleep(void *a) { return ts_fail(ts_sleep(100), NULL), a; }
static void *d_hold(void *a) {
    ts_lock_acquire(late_lock);
    ts_sleep(100);
    ts_lock_release(late_lock);
    return a;
}
static void *d_lockwait(void *a) {
    late_lines.lock = __LINE__; ts_lock_acquire(late_lock);
    return a;
}
static void *d_get(void *a) {
    void *it;
    late_lines.get = __LINE__; ts_queue_get(late_queue, &it);
    return a;
}
static void *d_await(void *a) {
    late_lines.await = __LINE__; ts_await(late_sleeper, NULL);
    return a;
}
static void *d_event(void *a) {
    late_lines.event = __LINE__; ts_event_wait(late_event);
    return a;
}

static void *late_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 3000; i++)
        ts_await(ts_spawn_named("short", noop_main, NULL), NULL);
    late_lock = ts_lock_new();
    late_queue = ts_queue_new(0);
    late_event = ts_event_new();
    ts_task *sleeper = ts_spawn_named("d_sleep", d_sleep, NULL);
    late_sleeper = ts_task_ref(sleeper); /* d_await's handle */
    ts_task *t[5] = {ts_spawn_named("d_hold", d_hold, NULL),
                     ts_spawn_named("d_lockwait", d_lockwait, NULL),
                     ts_spawn_named("d_get", d_get, NULL),
                     ts_spawn_named("d_await", d_await, NULL),
                     ts_spawn_named("d_event", d_event, NULL)};
    ts_sleep(0.01); /* everyone parks */
    ts_debug_flush();
    if (write(late_ready, &late_lines, sizeof late_lines) != sizeof late_lines)
        _exit(3);
    char c;
    while (read(late_stop, &c, 1) != 1)
        ts_sleep(0.005);
    for (int i = 0; i < 5; i++)
        ts_task_detach(t[i]);
    ts_task_detach(sleeper);
    return NULL;
}

static const ts_ev_task_state *state_of(const ts_reader *rd, const evlog *l, size_t from,
                                        size_t to, const char *name) {
    for (size_t i = from; i < to; i++) {
        if (l->v[i].ev.type != TS_EV_task_state)
            continue;
        const char *s = ts_reader_string(rd, EV(&l->v[i], task_state)->name);
        if (s && !strcmp(s, name))
            return EV(&l->v[i], task_state);
    }
    fail_msg("no task_state for %s in the dump", name);
    return NULL;
}

static void test_late_reader_gets_window_and_dump(void **state) {
    (void)state;
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failing test must not leave us behind */
        late_ready = ready[1];
        late_stop = stop[0];
        fcntl(late_stop, F_SETFL, O_NONBLOCK);
        exit(ts_run(late_main, NULL) == 0 ? 0 : 1); /* atexit removes the segment */
    }
    close(ready[1]);
    close(stop[0]);
    struct late_lines lines;
    assert_int_equal(read(ready[0], &lines, sizeof lines), (ssize_t)sizeof lines);

    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 4000 && !ts_reader_dump_done(rd); i++) { /* 20 s at most */
        poll_into(rd, &log);
        usleep(5000);
    }
    if (!ts_reader_dump_done(rd)) {
        char path[64];
        snprintf(path, sizeof path, "/dev/shm/taskscope.%d", (int)pid);
        FILE *f = fopen(path, "rb");
        ts_seg_header sh = {0};
        if (f && fread(&sh, sizeof sh, 1, f) == 1)
            fprintf(stderr, "no dump: request %llu done %llu reader %llu; child alive %d\n",
                    (unsigned long long)sh.attach_request, (unsigned long long)sh.attach_done,
                    (unsigned long long)sh.reader_pid, kill(pid, 0) == 0);
        if (f)
            fclose(f);
        dump_log(rd, &log);
    }
    assert_true(ts_reader_dump_done(rd));
    poll_into(rd, &log);

    /* the window: the newest of the short tasks, not the oldest */
    size_t shorts = 0;
    uint64_t first_short = UINT64_MAX;
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_task_create) {
            const char *s = ts_reader_string(rd, EV(&log.v[i], task_create)->name);
            if (s && !strcmp(s, "short")) {
                shorts++;
                if (EV(&log.v[i], task_create)->task < first_short)
                    first_short = EV(&log.v[i], task_create)->task;
            }
        }
    if (!(shorts > 10 && shorts < 3000 && first_short > 1000))
        fail_msg("window: %zu short tasks, the first with id %llu", shorts,
                 (unsigned long long)first_short);
    /* the dump, between dump_begin and dump_end */
    long b = -1, e = -1;
    for (size_t i = 0; i < log.n; i++) {
        if (log.v[i].ev.type == TS_EV_dump_begin && b < 0)
            b = (long)i;
        if (log.v[i].ev.type == TS_EV_dump_end && b >= 0 && e < 0)
            e = (long)i;
    }
    assert_true(b >= 0 && e > b);
    assert_int_equal(EV(&log.v[b], dump_begin)->generation, EV(&log.v[e], dump_end)->generation);
    size_t states = 0;
    for (long i = b; i < e; i++)
        states += log.v[i].ev.type == TS_EV_task_state;
    assert_int_equal(states, 7); /* main and the six parked tasks; no short one */
    const ts_ev_task_state *m = state_of(rd, &log, (size_t)b, (size_t)e, "main");
    const ts_ev_task_state *sl = state_of(rd, &log, (size_t)b, (size_t)e, "d_sleep");
    const ts_ev_task_state *h = state_of(rd, &log, (size_t)b, (size_t)e, "d_hold");
    const ts_ev_task_state *lw = state_of(rd, &log, (size_t)b, (size_t)e, "d_lockwait");
    const ts_ev_task_state *g = state_of(rd, &log, (size_t)b, (size_t)e, "d_get");
    const ts_ev_task_state *aw = state_of(rd, &log, (size_t)b, (size_t)e, "d_await");
    const ts_ev_task_state *ev = state_of(rd, &log, (size_t)b, (size_t)e, "d_event");
    const ts_ev_task_state *all[] = {m, sl, h, lw, g, aw, ev};
    for (int i = 0; i < 7; i++)
        assert_int_equal(all[i]->state, TS_TASK_SUSPENDED);
    assert_int_equal(m->kind, TS_WAIT_SLEEP);
    assert_int_equal(sl->kind, TS_WAIT_SLEEP);
    assert_int_equal(h->kind, TS_WAIT_SLEEP);
    assert_int_equal(lw->kind, TS_WAIT_LOCK);
    assert_int_equal(g->kind, TS_WAIT_QUEUE_GET);
    assert_int_equal(aw->kind, TS_WAIT_TASK);
    assert_int_equal(aw->object, sl->task);
    assert_int_equal(ev->kind, TS_WAIT_EVENT);
    assert_int_equal(sl->parent, m->task);
    assert_true(site_is(rd, lw->await_site, "d_lockwait", (uint32_t)lines.lock));
    assert_true(site_is(rd, g->await_site, "d_get", (uint32_t)lines.get));
    assert_true(site_is(rd, aw->await_site, "d_await", (uint32_t)lines.await));
    assert_true(site_is(rd, ev->await_site, "d_event", (uint32_t)lines.event));
    const char *spawn_func = NULL;
    assert_int_equal(ts_reader_site(rd, lw->site, NULL, &spawn_func, NULL), 0);
    assert_string_equal(spawn_func, "late_main");
    /* the lock the waiter awaits is the one the window saw created */
    int lock_seen = 0;
    for (size_t i = 0; i < log.n; i++)
        lock_seen += log.v[i].ev.type == TS_EV_resource_create &&
                     EV(&log.v[i], resource_create)->resource == lw->object;
    assert_true(lock_seen >= 1);
    /* the dump also names the live resources: the lock with its holder,
     * the queue with its depth */
    int lock_held = 0, queue_empty = 0;
    for (long i = b; i < e; i++) {
        if (log.v[i].ev.type == TS_EV_resource_acquired &&
            EV(&log.v[i], resource_acquired)->resource == lw->object)
            lock_held += EV(&log.v[i], resource_acquired)->task == h->task;
        if (log.v[i].ev.type == TS_EV_queue_depth &&
            EV(&log.v[i], queue_depth)->resource == g->object)
            queue_empty += EV(&log.v[i], queue_depth)->depth == 0;
    }
    assert_int_equal(lock_held, 1);
    assert_int_equal(queue_empty, 1);

    assert_int_equal(write(stop[1], "q", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(ts_reader_alive(rd), 0);
    evlog_free(&log);
    ts_reader_close(rd);
    close(ready[0]);
    close(stop[1]);
}

/* ---- attaching to an idle loop ----------------------------------------------------- */

/* The child's loop has nothing to do: its only task waits on a pipe, the
 * other sleeps for 100 s.  It sleeps in its poll, yet must answer. */
static int idle_ready, idle_stop;

static void *idle_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("idler", d_sleep, NULL);
    ts_sleep(0.01);
    ts_debug_flush();
    if (write(idle_ready, "r", 1) != 1)
        _exit(3);
    ts_wait_fd(idle_stop, TS_READABLE, -1);
    ts_task_detach(t);
    return NULL;
}

static void test_attach_to_idle_loop(void **state) {
    (void)state;
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        idle_ready = ready[1];
        idle_stop = stop[0];
        exit(ts_run(idle_main, NULL) == 0 ? 0 : 1);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 4000 && !ts_reader_dump_done(rd); i++) { /* 20 s at most */
        poll_into(rd, &log);
        usleep(5000);
    }
    assert_true(ts_reader_dump_done(rd));
    poll_into(rd, &log);
    size_t idler = 0;
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_task_state) {
            const char *s = ts_reader_string(rd, EV(&log.v[i], task_state)->name);
            idler += s && !strcmp(s, "idler") && EV(&log.v[i], task_state)->kind == TS_WAIT_SLEEP;
        }
    assert_int_equal(idler, 1);
    assert_int_equal(write(stop[1], "q", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    evlog_free(&log);
    ts_reader_close(rd);
    close(ready[0]);
    close(ready[1]);
    close(stop[0]);
    close(stop[1]);
}

int main(void) {
    setenv("TASKSCOPE_RING_SIZE", "65536", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_reader_gets_window_and_dump),
        cmocka_unit_test(test_attach_to_idle_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
