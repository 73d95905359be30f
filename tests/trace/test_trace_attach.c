/*
 * test_trace_attach.c - a reader that attaches late to a running process
 * (a forked child, 64 KiB rings that have wrapped many times) gets the
 * recent window and then the state dump it asked for: every live task
 * with what it awaits and where, and the live resources (the lock with
 * its holder, the queue with its depth), all names resolvable.  A loop
 * that is idle in its poll answers too, and with two loops the dump is
 * done only when both have answered, and with a window larger than one
 * poll reads, only once the reader has reached it.
 *
 * The late reader used to fail under CPU load: preempted between attaching
 * and its first poll, it let the loop write the dump into a ring still
 * full of the window it protects, and the dump was dropped (no
 * dump_begin/dump_end, or no "short" name to resolve the window with).
 */
#include <fcntl.h>
#include <pthread.h>
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

/* What the reader saw, for a failing run: its counters, each ring's
 * positions, and the log around the dump. */
static void explain(const ts_reader *rd, const evlog *l) {
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    fprintf(stderr, "  stats: %llu events in %llu polls, corrupt %llu, lost %llu bytes, "
                    "dropped %llu (reported %llu)\n",
            (unsigned long long)st.events, (unsigned long long)st.polls,
            (unsigned long long)st.corrupt, (unsigned long long)st.lost_bytes,
            (unsigned long long)st.dropped_total, (unsigned long long)st.dropped_events);
    for (unsigned i = 0; i < 64; i++) {
        ts_reader_ring g;
        if (ts_reader_get_ring(rd, i, &g) == 0)
            fprintf(stderr, "  ring %u (%s, role %u): head %llu pos %llu dropped %llu\n", i,
                    g.name, g.role, (unsigned long long)g.head, (unsigned long long)g.pos,
                    (unsigned long long)g.dropped);
    }
    char line[1024];
    for (size_t i = 0; i < l->n; i++) {
        if (i > 20 && i + 40 < l->n && l->v[i].ev.type != TS_EV_dump_begin &&
            l->v[i].ev.type != TS_EV_dump_end && l->v[i].ev.type != TS_EV_dropped)
            continue;
        ts_reader_format(rd, &l->v[i].ev, line, sizeof line);
        fprintf(stderr, "  [%zu] tid %u: %s\n", i, l->v[i].ev.tid, line);
    }
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
        char path[64], link[128];
        FILE *f = NULL;
        for (int fd = 0; fd < 1024 && !f; fd++) { /* the segment: a memfd the child holds */
            snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
            ssize_t n = readlink(path, link, sizeof link - 1);
            if (n > 0 && (link[n] = 0, strstr(link, "memfd:" TS_SEG_NAME_PREFIX)))
                f = fopen(path, "rb");
        }
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
    if (!(shorts > 10 && shorts < 3000 && first_short > 1000)) {
        explain(rd, &log);
        fail_msg("window: %zu short tasks, the first with id %llu", shorts,
                 (unsigned long long)first_short);
    }
    /* the dump, between dump_begin and dump_end */
    long b = -1, e = -1;
    for (size_t i = 0; i < log.n; i++) {
        if (log.v[i].ev.type == TS_EV_dump_begin && b < 0)
            b = (long)i;
        if (log.v[i].ev.type == TS_EV_dump_end && b >= 0 && e < 0)
            e = (long)i;
    }
    if (!(b >= 0 && e > b))
        explain(rd, &log);
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
    ts_wait_fd(idle_stop, TS_READABLE, TS_FOREVER);
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

/* ---- a process with two loops ------------------------------------------------------------ */

/* dump_done means every loop has answered: here the second loop is stuck
 * in a blocking call for 300 ms when the reader attaches, long after the
 * first loop has written its dump. */
static int two_ready, two_block, two_stop;

static void *blocker(void *arg) {
    (void)arg;
    ts_wait_fd(two_block, TS_READABLE, TS_FOREVER);
    if (write(two_ready, "b", 1) != 1)
        _exit(3);
    usleep(300000); /* blocks the whole loop: its dump must wait */
    return NULL;
}

static void *second_main(void *arg) {
    (void)arg;
    ts_task *t[2] = {ts_spawn_named("idler2", d_sleep, NULL),
                     ts_spawn_named("blocker", blocker, NULL)};
    ts_sleep(0.01);
    ts_debug_flush();
    if (write(two_ready, "2", 1) != 1)
        _exit(3);
    ts_wait_fd(two_stop, TS_READABLE, TS_FOREVER);
    ts_task_detach(t[0]);
    ts_task_detach(t[1]);
    return NULL;
}

static void *second_thread(void *arg) {
    return (void *)(intptr_t)ts_run(second_main, arg);
}

static void *first_main(void *arg) {
    (void)arg;
    pthread_t th;
    if (pthread_create(&th, NULL, second_thread, NULL) != 0)
        _exit(3);
    ts_task *t = ts_spawn_named("idler1", d_sleep, NULL);
    ts_sleep(0.01);
    ts_debug_flush();
    if (write(two_ready, "1", 1) != 1)
        _exit(3);
    ts_wait_fd(two_stop, TS_READABLE, TS_FOREVER);
    void *rc;
    pthread_join(th, &rc);
    ts_task_detach(t);
    return rc;
}

static void test_dump_done_waits_for_every_loop(void **state) {
    (void)state;
    int ready[2], block[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(block), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        two_ready = ready[1];
        two_block = block[0];
        two_stop = stop[0];
        exit(ts_run(first_main, NULL) == 0 ? 0 : 1);
    }
    char c[2];
    for (int got = 0; got < 2;) { /* both loops are up */
        ssize_t n = read(ready[0], c + got, (size_t)(2 - got));
        assert_true(n > 0);
        got += (int)n;
    }
    assert_int_equal(write(block[1], "x", 1), 1);
    assert_int_equal(read(ready[0], c, 1), 1);
    assert_int_equal(c[0], 'b'); /* the second loop is blocked now */
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 4000 && !ts_reader_dump_done(rd); i++) {
        poll_into(rd, &log);
        usleep(5000);
    }
    assert_true(ts_reader_dump_done(rd));
    size_t ends = 0, idlers = 0;
    uint32_t tid[2] = {0, 0};
    for (size_t i = 0; i < log.n; i++) {
        if (log.v[i].ev.type == TS_EV_dump_end && ends < 2)
            tid[ends++] = log.v[i].ev.tid;
        if (log.v[i].ev.type == TS_EV_task_state) {
            const char *s = ts_reader_string(rd, EV(&log.v[i], task_state)->name);
            idlers += s && (!strcmp(s, "idler1") || !strcmp(s, "idler2"));
        }
    }
    if (ends != 2)
        dump_log(rd, &log);
    assert_int_equal(ends, 2); /* one dump per loop, both in before dump_done */
    assert_true(tid[0] != tid[1]);
    assert_int_equal(idlers, 2);
    assert_int_equal(write(stop[1], "qq", 2), 2);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    evlog_free(&log);
    ts_reader_close(rd);
    for (int i = 0; i < 2; i++) {
        close(ready[i]);
        close(block[i]);
        close(stop[i]);
    }
}

/* ---- a window larger than what one poll reads ---------------------------------------------- */

/* 32 MiB rings: the protected window takes a reader four polls (it reads
 * at most 8 MiB of a ring per poll), and the loop, idle and ticking every
 * millisecond, answers as soon as the first poll has made room.  The
 * polls that see attach_done before the reader has reached the dump must
 * not call the dump done. */
static int big_ready, big_stop;

static void *big_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("big-idler", d_sleep, NULL);
    ts_queue *q = ts_queue_new(0);
    for (int i = 0; i < 1200000; i++) /* 32 bytes each: more than the ring */
        ts_queue_put_nowait(q, NULL);
    ts_debug_flush();
    if (write(big_ready, "r", 1) != 1)
        _exit(3);
    char c;
    while (read(big_stop, &c, 1) != 1)
        ts_sleep(0.001);
    ts_queue_free(q);
    ts_task_detach(t);
    return NULL;
}

/* Keep what is not a queue_depth (the window is a million of those). */
static void log_sparse(const ts_reader_event *ev, void *arg) {
    if (ev->type != TS_EV_queue_depth)
        log_event(ev, arg);
}

static void test_dump_beyond_one_poll(void **state) {
    (void)state;
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("TASKSCOPE_RING_SIZE", "33554432", 1);
        big_ready = ready[1];
        big_stop = stop[0];
        fcntl(big_stop, F_SETFL, O_NONBLOCK);
        exit(ts_run(big_main, NULL) == 0 ? 0 : 1);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    evlog log = {0};
    for (int i = 0; i < 1000 && !ts_reader_dump_done(rd); i++) {
        assert_true(ts_reader_poll(rd, log_sparse, &log) >= 0);
        usleep(20000);
    }
    assert_true(ts_reader_dump_done(rd));
    size_t begins = count_type(&log, TS_EV_dump_begin), ends = count_type(&log, TS_EV_dump_end);
    size_t idler = 0;
    for (size_t i = 0; i < log.n; i++)
        if (log.v[i].ev.type == TS_EV_task_state) {
            const char *s = ts_reader_string(rd, EV(&log.v[i], task_state)->name);
            idler += s && !strcmp(s, "big-idler");
        }
    assert_int_equal(begins, 1);
    assert_int_equal(ends, 1); /* delivered when it is called done */
    assert_int_equal(idler, 1);
    assert_int_equal(write(stop[1], "q", 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    evlog_free(&log);
    ts_reader_close(rd);
    for (int i = 0; i < 2; i++) {
        close(ready[i]);
        close(stop[i]);
    }
}

int main(void) {
    setenv("TASKSCOPE_RING_SIZE", "65536", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_reader_gets_window_and_dump),
        cmocka_unit_test(test_attach_to_idle_loop),
        cmocka_unit_test(test_dump_done_waits_for_every_loop),
        cmocka_unit_test(test_dump_beyond_one_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
