/*
 * test_bpf_live.c - the live views over BPF, through the real command:
 *   - `ps --bpf PID` of a release-runtime program whose tasks were all
 *     created before the attach lists them with names, states and what
 *     each awaits (the state dump), both when its loop is idle and
 *     deadlocked (woken through its eventfd) and when it is busy; asked
 *     twice in a row, the second attach gets its dump too;
 *   - `pstree --bpf PID`, and the session API's model after the dump,
 *     also with two idle loops (both woken, both dump);
 *   - the release dump's locks and queues: `ps --bpf` (text and --json)
 *     and `pstree --bpf` spell out the lock cycle of deadlock-a and
 *     deadlock-b; the model has each lock's holder and the full queue's
 *     depth; a recording has them too, each resource once per dump
 *     although two tasks wait on the queue; past one batch of the dump
 *     (64 locks), every lock still has its holder; an event, a semaphore,
 *     a condition and a barrier a task waits on read as in the debug
 *     runtime, with the names given before the attach and their sites;
 *   - `attach --bpf PID` records the tasks that existed before it;
 *   - the debug runtime with --bpf: one recording where the ring's tasks
 *     and BPF's blocking read() (task, syscall, duration, stack) meet,
 *     with every task event once; `blocked --bpf PID` live likewise;
 *   - `why` on a --bpf recording of the release runtime: the blocking
 *     step, a lock's holder and a canceller, as on the debug runtime;
 *   - errors: no such process, not a taskscope process, not a pid.
 * No timing is asserted: every wait is for an outcome, with a generous
 * limit.  Needs root and BPF: skipped (77), saying why, otherwise.
 */
#include <fcntl.h>
#include <limits.h>

#include "bpf_harness.h"
#include "bpf_session.h"

static const char *taskscope(void) {
    const char *p = getenv("TSB_TASKSCOPE");
    return p && *p ? p : "taskscope";
}

static const char *debug_target(void) {
    const char *p = getenv("TSB_TARGET_DEBUG");
    return p && *p ? p : "./bpf_target_debug";
}

/* A new empty file for a recording: $TMPDIR (else /tmp)/stem-XXXXXX into
 * path (PATH_MAX bytes). */
static void temp_db(char *path, const char *stem) {
    int fd = test_tmp_file(path, PATH_MAX, stem);
    assert_true(fd >= 0);
    close(fd);
}

/* Run a shell command; its output (stdout and stderr) in a malloc'd
 * string, its exit status in *status. */
static char *run(int *status, const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    memcpy(cmd, "unset LD_LIBRARY_PATH; ", 23); /* see start_hold */
    vsnprintf(cmd + 23, sizeof cmd - 23, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t k;
    while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += k;
        if (cap - n < 1024) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

static void expect_has(const char *out, const char *what) {
    if (!out || !strstr(out, what))
        fail_msg("'%s' missing from:\n%s", what, out ? out : "(no output)");
}

/* The line of out that mentions word, copied into line. */
static int line_of(const char *out, const char *word, char *line, size_t len) {
    const char *p = strstr(out, word);
    if (!p)
        return 0;
    const char *a = p, *b = strchr(p, '\n');
    while (a > out && a[-1] != '\n')
        a--;
    size_t n = b ? (size_t)(b - a) : strlen(a);
    snprintf(line, len, "%.*s", (int)(n < len - 1 ? n : len - 1), a);
    return 1;
}

/* The ps row of the task called name (its second column). */
static int row_of(const char *out, const char *name, char *line, size_t len) {
    for (const char *a = out; *a;) {
        const char *b = strchr(a, '\n');
        size_t n = b ? (size_t)(b - a) : strlen(a);
        char id[32], col[128];
        snprintf(line, len, "%.*s", (int)(n < len - 1 ? n : len - 1), a);
        if (sscanf(line, "%31s %127s", id, col) == 2 && !strcmp(col, name))
            return 1;
        a += n + (b != NULL);
    }
    return 0;
}

static void expect_task_line(const char *out, const char *name, const char *awaits) {
    char line[512];
    if (!row_of(out, name, line, sizeof line))
        fail_msg("task %s missing from:\n%s", name, out);
    if (!strstr(line, "suspended") || !strstr(line, awaits))
        fail_msg("task %s should be suspended awaiting %s:\n%s", name, awaits, line);
}

/* Targets still running when a check fails (cmocka leaves the test
 * there): killed at exit, so none outlives the test holding its output. */
static int started[16];
static size_t nstarted;

static void kill_started(void) {
    for (size_t i = 0; i < nstarted; i++)
        if (started[i] > 0)
            kill(started[i], SIGKILL);
}

/* Start `target hold ARGS` and wait until its tasks are parked. */
static int start_hold(const char *target, const char *args) {
    int from[2];
    assert_int_equal(pipe(from), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(from[1], 1);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, 2);
        close(from[0]);
        char cmd[1024];
        /* meson's LD_LIBRARY_PATH may name the debug library's directory
         * first (same soname): each target has its own run path */
        snprintf(cmd, sizeof cmd, "unset LD_LIBRARY_PATH; exec %s hold %s", target, args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(from[1]);
    if (nstarted < sizeof started / sizeof started[0])
        started[nstarted++] = pid;
    FILE *out = fdopen(from[0], "r");
    char line[32] = "";
    assert_non_null(fgets(line, sizeof line, out));
    assert_string_equal(line, "held\n");
    fclose(out);
    return pid;
}

static void stop(int pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The model's deadlock warning with its cycle spelled out: each of the
 * two tasks wants a lock the other holds (which the release runtime's
 * dump tells through its lock holders). */
static void expect_deadlock(const char *out) {
    char line[512];
    if (!line_of(out, "deadlock: #", line, sizeof line))
        fail_msg("no deadlock warning in:\n%s", out);
    if (!strstr(line, "deadlock-a") || !strstr(line, "deadlock-b") ||
        !strstr(line, " → lock "))
        fail_msg("the deadlock warning should spell out the cycle: %s", line);
}

static void check_hold_ps(const char *out) {
    expect_has(out, "through BPF");
    if (strstr(out, "no state dump"))
        fail_msg("the loops did not answer the dump:\n%s", out);
    expect_task_line(out, "napper", "sleep");
    expect_task_line(out, "waiter", "event");
    expect_task_line(out, "deadlock-a", "lock");
    expect_task_line(out, "deadlock-b", "lock");
    expect_task_line(out, "producer", "queue_put");
    expect_task_line(out, "main", "task #2 napper");
    expect_deadlock(out);
}

/* The loop is idle in epoll_wait for good (a deadlock and long sleeps):
 * only the eventfd wakeup makes it answer. */
static void test_ps_idle_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    int st;
    char *out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    check_hold_ps(out);
    free(out);
    /* again: the first collector's semaphore went down and back up while
     * the loop slept; the loop must still see a new request */
    out = run(&st, "%s pstree --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    if (strstr(out, "no state dump"))
        fail_msg("second attach got no dump:\n%s", out);
    expect_has(out, "#1 main [suspended] awaits task #2 napper");
    expect_has(out, "#4 deadlock-a [suspended] awaits lock");
    expect_has(out, "#3 waiter [suspended] awaits event");
    expect_deadlock(out);
    free(out);
    stop(pid);
}

/* The JSON object (flat: no nested braces) of the task called name in
 * `ps --json` output, copied into obj. */
static void json_task(const char *out, const char *name, char *obj, size_t len) {
    char key[96];
    snprintf(key, sizeof key, "\"name\":\"%s\",", name);
    const char *p = strstr(out, key);
    if (!p)
        fail_msg("task %s missing from:\n%s", name, out);
    const char *a = p, *b = strchr(p, '}');
    while (a > out && *a != '{')
        a--;
    assert_non_null(b);
    snprintf(obj, len, "%.*s", (int)(b - a + 1), a);
}

static uint64_t json_u64(const char *obj, const char *field) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", field);
    const char *p = strstr(obj, key);
    if (!p)
        fail_msg("no %s in %s", field, obj);
    return strtoull(p + strlen(key), NULL, 10);
}

/* `ps --bpf --json` of the release target: the deadlock warning names
 * both tasks, each task awaits its own lock, and both carry the mark. */
static void test_ps_json_deadlock_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    int st;
    char *out = run(&st, "%s ps --bpf --json %d 2>/dev/null", taskscope(), pid);
    assert_int_equal(st, 0);
    char a[1024], b[1024];
    json_task(out, "deadlock-a", a, sizeof a);
    json_task(out, "deadlock-b", b, sizeof b);
    expect_has(a, "\"awaits\":\"lock\"");
    expect_has(b, "\"awaits\":\"lock\"");
    uint64_t la = json_u64(a, "awaits_object"), lb = json_u64(b, "awaits_object");
    assert_true(la != 0 && lb != 0 && la != lb);
    assert_true(json_u64(a, "warnings") != 0);
    assert_true(json_u64(b, "warnings") != 0);
    const char *w = strstr(out, "{\"kind\":\"deadlock\"");
    if (!w)
        fail_msg("no deadlock warning in:\n%s", out);
    char warning[512];
    snprintf(warning, sizeof warning, "%.*s", (int)strcspn(w, "}"), w);
    uint64_t who = json_u64(warning, "task");
    assert_true(who == json_u64(a, "id") || who == json_u64(b, "id"));
    expect_has(warning, "\"text\":\"deadlock: #");
    expect_has(warning, "deadlock-a");
    expect_has(warning, "deadlock-b");
    expect_has(warning, " → lock ");
    free(out);
    stop(pid);
}

/* The dump alone (tasks class, no sync events) gives the model every
 * awaited lock with its holder and the awaited queue with its depth, and
 * their names, given before the collector attached. */
static void test_session_dump_resources(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_TASKS};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    tm_model *m = bs.s.model;
    tm_task *a = task_named(m, "deadlock-a"), *b = task_named(m, "deadlock-b");
    tm_task *p = task_named(m, "producer"), *p2 = task_named(m, "producer-2");
    if (!a || !b || !p || !p2)
        fail_msg("a task of the hold scenario is missing after the dump");
    assert_int_equal(a->wait_kind, 5); /* lock */
    assert_int_equal(b->wait_kind, 5);
    tm_resource *ra = tm_model_resource(m, a->wait_obj), *rb = tm_model_resource(m, b->wait_obj);
    if (!ra || !rb)
        fail_msg("the awaited locks are not in the model");
    assert_true(ra != rb);
    assert_int_equal(ra->kind, 1);
    assert_int_equal(rb->kind, 1);
    assert_int_equal(ra->holder, b->id); /* a wants the lock b holds */
    assert_int_equal(rb->holder, a->id);
    assert_int_equal(ra->held, 1);
    assert_int_equal(p->wait_kind, 11); /* queue_put */
    assert_int_equal(p2->wait_obj, p->wait_obj);
    tm_resource *rq = tm_model_resource(m, p->wait_obj);
    if (!rq)
        fail_msg("the awaited queue is not in the model");
    assert_int_equal(rq->kind, 6);
    assert_string_equal(tm_model_string(m, rq->name), "jobs"); /* named before the attach */
    /* lock A (deadlock-a's first) is named, lock B is not */
    assert_string_equal(tm_model_string(m, rb->name), "A");
    assert_string_equal(tm_model_string(m, ra->name), "");
    assert_int_equal(rq->capacity, 2);
    assert_int_equal(rq->depth, 2);
    assert_int_equal(rq->holder, 0);
    tm_model_analyze(m);
    int found = 0;
    for (size_t i = 0; i < tm_model_warning_count(m); i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        if (w->kind == TM_WARN_DEADLOCK && strstr(w->text, "deadlock-a") &&
            strstr(w->text, "deadlock-b"))
            found++;
    }
    assert_int_equal(found, 1);
    ts_bpf_session_close(&bs);
    stop(pid);
}

/* What task `name` waits on, as the model reads it after the dump. */
static void expect_awaits(const tm_model *m, const char *name, const char *want) {
    tm_task *t = task_named(m, name);
    if (!t)
        fail_msg("task %s missing after the dump", name);
    char buf[256];
    const char *text = tm_resource_text(m, t->wait_kind, t->wait_obj, buf, sizeof buf);
    if (strncmp(text, want, strlen(want)) || !strstr(text, " (bpf_target.c:"))
        fail_msg("%s awaits %s, expected %s (bpf_target.c:N)", name, text, want);
}

/* Every kind of resource a task waits on comes with the dump with the
 * name it was given before the attach and its creation site: an event,
 * a semaphore, a condition and a barrier, as a lock and a queue do; and
 * `ps --bpf` reads them as on the debug runtime. */
static void test_dump_names_every_kind(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "kinds");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_TASKS};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    const tm_model *m = bs.s.model;
    expect_awaits(m, "waiter", "event \"ready\"");
    expect_awaits(m, "sem-waiter", "semaphore \"gate\"");
    expect_awaits(m, "cond-waiter", "condition \"cv\"");
    expect_awaits(m, "barrier-waiter", "barrier \"meet\"");
    expect_awaits(m, "producer", "queue_put \"jobs\"");
    const tm_resource *b = tm_model_resource(m, task_named(m, "barrier-waiter")->wait_obj);
    assert_non_null(b);
    assert_int_equal(b->capacity, 2); /* its parties */
    ts_bpf_session_close(&bs);
    int st;
    char *out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_has(out, "event \"ready\" (bpf_target.c:");
    expect_has(out, "semaphore \"gate\" (bpf_target.c:");
    expect_has(out, "condition \"cv\" (bpf_target.c:");
    expect_has(out, "barrier \"meet\" (bpf_target.c:");
    free(out);
    stop(pid);
}

static void test_ps_busy_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "busy");
    int st;
    char *out = run(&st, "%s ps --bpf --bpf-events=tasks %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    check_hold_ps(out);
    expect_has(out, "ticker");
    free(out);
    stop(pid);
}

/* Two loops, both idle: both are woken, both dump. */
static void test_ps_two_loops(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "threads");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_TASKS};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    assert_int_equal(ts_bpf_loops_woken(bs.bpf), 2);
    tm_task *a = task_named(bs.s.model, "napper"), *b = task_named(bs.s.model, "napper-2");
    if (!a || !b)
        fail_msg("a loop's tasks are missing after the dump");
    assert_int_equal(b->state, TM_SUSPENDED);
    assert_true(a->loop != b->loop);
    ts_bpf_session_close(&bs);
    stop(pid);
}

/* The session API: the model after the dump knows every task by name,
 * with its spawn site, and which loop it is on. */
static void test_session_dump_model(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {0};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_false(ts_bpf_session_beside_ring(&bs));
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    const char *names[] = {"main", "napper", "waiter", "deadlock-a", "deadlock-b"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tm_task *t = task_named(bs.s.model, names[i]);
        if (!t)
            fail_msg("task %s not in the model after the dump", names[i]);
        assert_int_equal(t->state, TM_SUSPENDED);
        assert_true(t->loop != 0);
        assert_true(t->site != 0);
    }
    ts_bpf_session_close(&bs);
    stop(pid);
}

/* More awaited locks than one batch of the dump (64): every one still
 * comes with its holder. */
static void test_session_dump_many_locks(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "locks");
    ts_bpf_session bs;
    char err[512];
    ts_bpf_opts o = {.events = TS_BPF_TASKS};
    assert_int_equal(ts_bpf_session_attach(&bs, pid, &o, err, sizeof err), 0);
    assert_int_equal(ts_bpf_session_wait_dump(&bs, 20000), 1);
    tm_model *m = bs.s.model;
    for (int i = 0; i < 100; i++) {
        char hn[32], wn[32];
        snprintf(hn, sizeof hn, "holder-%d", i);
        snprintf(wn, sizeof wn, "wanter-%d", i);
        tm_task *h = task_named(m, hn), *w = task_named(m, wn);
        if (!h || !w)
            fail_msg("%s or %s missing after the dump", hn, wn);
        assert_int_equal(w->wait_kind, 5);
        tm_resource *r = tm_model_resource(m, w->wait_obj);
        if (!r || r->holder != h->id)
            fail_msg("the lock %s waits on should be held by #%llu %s", wn,
                     (unsigned long long)h->id, hn);
        assert_int_equal(r->held, 1);
    }
    ts_bpf_session_close(&bs);
    stop(pid);
}

static void test_attach_records_earlier_tasks(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    char db[PATH_MAX];
    temp_db(db, "ts-bpf-live");
    int st;
    char *out = run(&st, "%s attach --bpf %d --duration 0.2 -o %s 2>&1", taskscope(), pid, db);
    assert_int_equal(st, 0);
    free(out);
    out = run(&st, "%s ps %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    expect_task_line(out, "deadlock-b", "lock");
    expect_task_line(out, "napper", "sleep");
    expect_deadlock(out);
    free(out);
    /* per dump: the queue once (two tasks wait on it), at depth 2, and
     * each lock's holder once */
    out = run(&st, "%s query %s 'select (select count(*) from ev_dump_begin) as d, "
                   "(select count(*) from ev_resource_create where kind = 6) as q, "
                   "(select count(*) from ev_resource_create where kind = 1) as l, "
                   "(select count(*) from ev_resource_acquired) as h, "
                   "(select min(depth) from ev_queue_depth) as depth' --csv 2>&1",
              taskscope(), db);
    assert_int_equal(st, 0);
    unsigned d = 0, q = 0, l = 0, h = 0, depth = 0;
    const char *row = strchr(out, '\n');
    if (!row || sscanf(row + 1, "%u,%u,%u,%u,%u", &d, &q, &l, &h, &depth) != 5)
        fail_msg("unexpected query output:\n%s", out);
    assert_true(d >= 1);
    assert_int_equal(q, d);
    assert_int_equal(l, 2 * d);
    assert_int_equal(h, 2 * d);
    assert_int_equal(depth, 2);
    free(out);
    unlink(db);
    stop(pid);
}

/* Debug runtime + --bpf: the ring's task events, BPF's blocking read(). */
static void test_merged_recording(void **state) {
    (void)state;
    char db[PATH_MAX];
    temp_db(db, "ts-bpf-merged");
    int st;
    char *out = run(&st, "%s run --bpf -o %s -- %s scenario 2>&1", taskscope(), db,
                    debug_target());
    if (st != 0)
        fail_msg("run --bpf exited %d:\n%s", st, out);
    expect_has(out, "tasks from the debug runtime's ring");
    free(out);
    out = run(&st, "%s blocked %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    char line[512];
    /* (on a loaded machine the reader's step may also be listed before
     * it as a slow step: look for the episode's own line) */
    const char *ep = strstr(out, "\nblocked ");
    if (!ep || !line_of(ep + 1, "reader (spawned at", line, sizeof line) ||
        strncmp(line, "blocked ", 8) != 0)
        fail_msg("the blocking read is not charged to the reader task:\n%s", out);
    if (!strstr(line, "ms"))
        fail_msg("no duration on the episode line: %s", line);
    expect_has(out, "blocked in syscall: read");
    expect_has(out, "blocking_reader at bpf_target.c");
    free(out);
    /* every task event once: the ring's, none from USDT */
    out = run(&st, "%s query %s 'select count(*) as n, count(distinct task) as d "
                   "from ev_task_create' --csv 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    expect_has(out, "\n9,9");
    free(out);
    out = run(&st, "%s ps --all %s 2>&1", taskscope(), db);
    expect_has(out, "worker-3");
    expect_has(out, "locker-b");
    free(out);
    unlink(db);
}

/* The id of the task called name in a ps listing (its first column). */
static unsigned long task_id(const char *ps, const char *name) {
    char line[512];
    if (!row_of(ps, name, line, sizeof line))
        fail_msg("task %s missing from:\n%s", name, ps);
    return strtoul(line, NULL, 10);
}

/* Issue 19: `why` on a --bpf recording of the release runtime, where the
 * events exist: the reader's step blocked the loop in read() (its call
 * site named), locker-b waited for the lock held by locker-a, and the
 * sleeper's sleep was cancelled by main. */
static void test_why_release_recording(void **state) {
    (void)state;
    char db[PATH_MAX];
    temp_db(db, "ts-bpf-why");
    unlink(db);
    int st;
    char *out = run(&st, "%s run --bpf -o %s -- %s scenario 2>&1", taskscope(), db,
                    target_path());
    if (st != 0)
        fail_msg("run --bpf exited %d:\n%s", st, out);
    free(out);
    char *ps = run(&st, "%s ps --all %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    unsigned long reader = task_id(ps, "reader"), a = task_id(ps, "locker-a"),
                  b = task_id(ps, "locker-b"), sleeper = task_id(ps, "sleeper"),
                  main_task = task_id(ps, "main");
    free(ps);
    char want[128];
    out = run(&st, "%s why %s %lu 2>&1", taskscope(), db, reader);
    assert_int_equal(st, 0);
    expect_has(out, "running, blocking the loop");
    expect_has(out, "in the system call read");
    expect_has(out, "in blocking_reader()");
    free(out);
    out = run(&st, "%s why %s %lu 2>&1", taskscope(), db, b);
    assert_int_equal(st, 0);
    expect_has(out, "waiting: lock");
    snprintf(want, sizeof want, "held by task #%lu locker-a", a);
    expect_has(out, want);
    free(out);
    out = run(&st, "%s why %s %lu 2>&1", taskscope(), db, sleeper);
    assert_int_equal(st, 0);
    snprintf(want, sizeof want, "cancelled by task #%lu main", main_task);
    expect_has(out, want);
    free(out);
    unlink(db);
}

static void test_merged_live_blocked(void **state) {
    (void)state;
    int pid = start_hold(debug_target(), "read");
    int st;
    char *out = NULL;
    /* the reader blocks every 200 ms: a few seconds' watch catches one,
     * however loaded the machine; try a few times before failing */
    for (int i = 0; i < 5; i++) {
        free(out);
        out = run(&st, "%s blocked --bpf --duration 2 %d 2>&1", taskscope(), pid);
        assert_int_equal(st, 0);
        if (strstr(out, "blocked in syscall: read"))
            break;
    }
    expect_has(out, "and the debug runtime's ring");
    expect_has(out, "blocked in syscall: read");
    expect_has(out, "reader (spawned at");
    expect_has(out, "blocking_reader");
    free(out);
    out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_task_line(out, "deadlock-a", "lock");
    expect_has(out, "deadlock: ");
    free(out);
    stop(pid);
}

static void test_errors(void **state) {
    (void)state;
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    int st;
    char *out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), (int)dead);
    assert_int_equal(st, 1);
    expect_has(out, "no process");
    free(out);
    pid_t other = fork();
    assert_true(other >= 0);
    if (other == 0) {
        execlp("sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    char exe[256] = "";
    for (int i = 0; i < 500 && !strstr(exe, "sleep"); i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/exe", (int)other);
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        sleep_ms(2);
    }
    out = run(&st, "%s ps --bpf %d 2>&1", taskscope(), (int)other);
    assert_int_equal(st, 1);
    expect_has(out, "does not use taskscope");
    free(out);
    kill(other, SIGKILL);
    waitpid(other, NULL, 0);
    out = run(&st, "%s ps --bpf trace.db 2>&1", taskscope());
    assert_int_equal(st, 2);
    expect_has(out, "needs the pid");
    free(out);
    out = run(&st, "%s top --bpf trace.db 2>&1", taskscope());
    assert_int_equal(st, 2);
    free(out);
}

/* ---- parked tasks' stacks on the release runtime (issue 15 point 2) ---- */

/* The part of `where` text output about the task called name: from its
 * "task #N name (" line to the next task's, copied into block. */
static void where_block(const char *out, const char *name, char *block, size_t len) {
    char key[96];
    snprintf(key, sizeof key, " %s (", name);
    const char *p = NULL;
    for (const char *t = strstr(out, "task #"); t && !p; t = strstr(t + 1, "task #")) {
        const char *sp = strchr(t + 6, ' ');
        if ((t == out || t[-1] == '\n') && sp && !strncmp(sp, key, strlen(key)))
            p = t;
    }
    if (!p)
        fail_msg("task %s missing from:\n%s", name, out);
    const char *end = strstr(p + 1, "\ntask #");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    snprintf(block, len, "%.*s", (int)(n < len - 1 ? n : len - 1), p);
}

/* The frames of block name the functions in fns, in that order:
 * innermost first.  (Not necessarily from #0: unoptimised builds keep
 * the switch's own helpers, switch_to_loop and leave_parked, as frames
 * inside ts__park.) */
static void expect_frames(const char *block, const char *const *fns, size_t n) {
    const char *at = block;
    for (size_t i = 0; i < n; i++) {
        char key[96];
        snprintf(key, sizeof key, "  %s at ", fns[i]);
        const char *p = strstr(at, key);
        if (!p)
            fail_msg("frame '%s' missing, or out of order, in:\n%s", key, block);
        at = p + strlen(key);
    }
}

/* `where --bpf PID` on the release runtime: every parked task's stack,
 * symbolized, innermost first, from the park down to the task's entry;
 * the user function each task parked in is named with its file. */
static void test_where_release(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    int st;
    char *out = run(&st, "%s where --bpf %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_has(out, "through BPF");
    if (strstr(out, "no stack recorded"))
        fail_msg("a parked task came without its stack:\n%s", out);
    char block[4096];
    static const char *const napper[] = {"ts__park", "sleep_on_timer", "napper",
                                         "task_entry", "ts__ctx_entry"};
    static const char *const dead[] = {"ts__park", "ts_lock_acquire_at", "deadlock",
                                       "task_entry"};
    static const char *const waiter[] = {"ts__park", "ts_event_wait_at", "waiter", "task_entry"};
    static const char *const producer[] = {"ts__park", "ts_queue_put_at", "producer",
                                           "task_entry"};
    static const char *const main_fns[] = {"ts__park", "hold", "task_entry"};
    where_block(out, "napper", block, sizeof block);
    expect_frames(block, napper, 5);
    expect_has(block, "napper at bpf_target.c:");
    where_block(out, "deadlock-a", block, sizeof block);
    expect_frames(block, dead, 4);
    where_block(out, "deadlock-b", block, sizeof block);
    expect_frames(block, dead, 4);
    where_block(out, "waiter", block, sizeof block);
    expect_frames(block, waiter, 4);
    where_block(out, "producer", block, sizeof block);
    expect_frames(block, producer, 4);
    where_block(out, "main", block, sizeof block);
    expect_frames(block, main_fns, 3);
    free(out);

    /* one task, by number: #2 is napper (spawned first by main) */
    out = run(&st, "%s where --bpf %d 2 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    where_block(out, "napper", block, sizeof block);
    expect_frames(block, napper, 5);
    if (strstr(out, "deadlock-a"))
        fail_msg("where TASK should show that task only:\n%s", out);
    free(out);

    /* JSON: the frames in order, each with its function */
    out = run(&st, "%s where --bpf --json %d 2 2>/dev/null", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_has(out, "\"name\":\"napper\"");
    const char *f0 = strstr(out, "\"frames\":[{\"pc\":");
    if (!f0)
        fail_msg("no frames in:\n%s", out);
    const char *a = strstr(f0, "\"function\":\"ts__park\""),
               *b = strstr(f0, "\"function\":\"napper\"");
    if (!a || !b || a > b)
        fail_msg("napper's JSON frames should go from ts__park to napper:\n%s", out);
    free(out);

    /* ps --bpf --stacks: the same stacks after the list */
    out = run(&st, "%s ps --bpf --stacks %d 2>&1", taskscope(), pid);
    assert_int_equal(st, 0);
    expect_has(out, "stacks of parked tasks:");
    const char *sec = strstr(out, "stacks of parked tasks:");
    where_block(sec, "waiter", block, sizeof block);
    expect_frames(block, waiter, 4);
    free(out);
    stop(pid);
}

/* An `attach --bpf` recording of the release runtime keeps the stacks of
 * its state dump: `where FILE` shows them as on the live process. */
static void test_where_release_recording(void **state) {
    (void)state;
    int pid = start_hold(target_path(), "");
    char db[PATH_MAX];
    temp_db(db, "ts-bpf-where");
    int st;
    char *out = run(&st, "%s attach --bpf %d --duration 0.2 -o %s 2>&1", taskscope(), pid, db);
    assert_int_equal(st, 0);
    free(out);
    stop(pid);
    out = run(&st, "%s where %s 2>&1", taskscope(), db);
    assert_int_equal(st, 0);
    char block[4096];
    static const char *const dead[] = {"ts__park", "ts_lock_acquire_at", "deadlock",
                                       "task_entry"};
    where_block(out, "deadlock-b", block, sizeof block);
    expect_frames(block, dead, 4);
    free(out);
    unlink(db);
}

int main(void) {
    skip_unless_bpf();
    atexit(kill_started);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ps_idle_release),
        cmocka_unit_test(test_ps_busy_release),
        cmocka_unit_test(test_ps_json_deadlock_release),
        cmocka_unit_test(test_session_dump_model),
        cmocka_unit_test(test_session_dump_resources),
        cmocka_unit_test(test_session_dump_many_locks),
        cmocka_unit_test(test_dump_names_every_kind),
        cmocka_unit_test(test_ps_two_loops),
        cmocka_unit_test(test_attach_records_earlier_tasks),
        cmocka_unit_test(test_merged_recording),
        cmocka_unit_test(test_why_release_recording),
        cmocka_unit_test(test_merged_live_blocked),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_where_release),
        cmocka_unit_test(test_where_release_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
