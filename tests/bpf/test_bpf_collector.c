/*
 * test_bpf_collector.c - the BPF collector against a program on the
 * RELEASE library (tests/bpf/bpf_target.c):
 *   - attached by pid to a running process, and started gated as
 *     `taskscope run --bpf` does: the event stream (strings and sites
 *     before use, creates before resumes, the cancel by its canceller, lock
 *     contention, a thread-pool job) and the model's tasks (names, states,
 *     errors, parents, spawn sites);
 *   - the 5 ms blocking read() inside the task "reader": reported with its
 *     task, the read system call, a sleeping thread state and a stack
 *     that symbolizes to the function that called read();
 *   - event classes: syscalls alone still charge the block to its task and
 *     send no task events;
 *   - a ring buffer far too small: events are dropped and counted, never
 *     lost silently, and the program runs to its normal end.
 * Timings are never asserted beyond what the scenario guarantees (the
 * read lasts at least 5 ms: the writer waits until the reader is in it).
 */
#include <sys/syscall.h>

#include "bpf_harness.h"

static ts_bpf *open_or_fail(int pid, const ts_bpf_opts *o) {
    ts_bpf *b = NULL;
    char err[512];
    int rc = ts_bpf_open(&b, pid, o, err, sizeof err);
    if (rc)
        fail_msg("ts_bpf_open: %d %s", rc, err);
    return b;
}

/* The one blocked episode of the task with id task, or NULL. */
static const tm_blocked *blocked_of(const tm_model *m, uint64_t task) {
    for (size_t i = 0; i < tm_model_blocked_count(m); i++) {
        const tm_blocked *b = tm_model_blocked_at(m, i);
        if (b->task == task && !b->slow_only)
            return b;
    }
    return NULL;
}

static void check_blocked_read(const tm_model *m, uint64_t reader) {
    const tm_blocked *b = blocked_of(m, reader);
    assert_non_null(b);
    assert_int_equal(b->syscall, SYS_read);
    assert_true(b->duration_ns >= 5000000ull);
    assert_true(b->thread_state == 'S');
    assert_true(b->stack != 0);
    tm_task *t = tm_model_task(m, reader);
    if (t)
        assert_int_equal(b->loop, t->loop);
    int verbose = getenv("TSB_VERBOSE") != NULL;
    assert_true(stack_has(m, b->stack, "blocking_reader", verbose));
    assert_true(stack_has(m, b->stack, "reader", verbose));
}

/* Every STRING and SITE id is defined before a record uses it, and each
 * task's create comes before its first resume. */
static void check_stream_order(const evlog *l) {
    uint8_t *strings = calloc(1 << 16, 1), *sites = calloc(1 << 16, 1);
    assert_non_null(strings);
    assert_non_null(sites);
    for (size_t i = 0; i < l->n; i++) {
        const ts_ev_header *h = l->v[i].rec;
        if (h->type == TS_EV_string) {
            const ts_ev_string *e = (const void *)h;
            assert_true(e->id < (1 << 16));
            strings[e->id] = 1;
        } else if (h->type == TS_EV_site) {
            const ts_ev_site *e = (const void *)h;
            assert_true(strings[e->file] && strings[e->func] && e->id < (1 << 16));
            sites[e->id] = 1;
        } else if (h->type == TS_EV_task_create) {
            const ts_ev_task_create *e = (const void *)h;
            assert_true(strings[e->name]);
            assert_true(sites[e->site]);
            for (size_t j = 0; j < i; j++)
                if (l->v[j].rec->type == TS_EV_task_resume)
                    assert_true(((const ts_ev_task_resume *)l->v[j].rec)->task != e->task);
        } else if (h->type == TS_EV_task_suspend) {
            assert_true(sites[((const ts_ev_task_suspend *)h)->site]);
        }
    }
    free(strings);
    free(sites);
}

static void check_scenario(const evlog *l) {
    const tm_model *m = l->model;
    check_stream_order(l);
    tm_task *main_task = task_named(m, "main"); /* ts_run names it */
    assert_non_null(main_task);
    assert_int_equal(main_task->state, TM_DONE);
    static const char *const names[] = {"worker-1", "worker-2", "worker-3", "failer",
                                        "sleeper", "locker-a", "locker-b", "reader"};
    char site[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tm_task *t = task_named(m, names[i]);
        if (!t)
            fail_msg("no task %s in the model", names[i]);
        assert_int_equal(t->parent, main_task->id);
        assert_int_equal(t->loop, main_task->loop);
        tm_model_site_text(m, t->site, site, sizeof site);
        assert_non_null(strstr(site, "bpf_target.c"));
        assert_non_null(strstr(site, "in scenario()"));
        assert_true(t->polls >= 1 || !strcmp(names[i], "sleeper"));
        if (!strcmp(names[i], "failer")) {
            assert_int_equal(t->state, TM_FAILED);
            assert_int_equal(t->err, -EIO);
        } else if (!strcmp(names[i], "sleeper")) {
            assert_int_equal(t->state, TM_CANCELLED);
            assert_true(t->ncancels >= 1);
            assert_int_equal(t->cancels[0].by_task, main_task->id);
        } else {
            assert_int_equal(t->state, TM_DONE);
        }
    }
    /* workers slept, locker-b waited for the lock locker-a held */
    int slept = 0, lock_waits = 0, acquired = 0, jobs[3] = {0};
    uint64_t job = 0;
    tm_task *lb = task_named(m, "locker-b");
    for (size_t i = 0; i < l->n; i++) {
        const ts_ev_header *h = l->v[i].rec;
        if (h->type == TS_EV_task_suspend) {
            const ts_ev_task_suspend *e = (const void *)h;
            slept += e->kind == 3 /* sleep */;
            lock_waits += e->kind == 5 /* lock */ && e->task == lb->id;
        } else if (h->type == TS_EV_resource_acquired) {
            acquired++;
        } else if (h->type == TS_EV_job_submit) {
            job = ((const ts_ev_job_submit *)h)->job;
            assert_int_equal(((const ts_ev_job_submit *)h)->task, main_task->id);
            jobs[0]++;
        } else if (h->type == TS_EV_job_start && ((const ts_ev_job_start *)h)->job == job) {
            jobs[1]++;
        } else if (h->type == TS_EV_job_done && ((const ts_ev_job_done *)h)->job == job) {
            jobs[2]++;
        }
    }
    assert_true(slept >= 3);
    assert_true(lock_waits >= 1);
    assert_true(acquired >= 2);
    /* The executor emits its job trace points only once the runtime
     * calls them (noted for the core); when it does, one job went by. */
    if (jobs[0])
        assert_true(jobs[0] == 1 && jobs[1] == 1 && jobs[2] == 1);
    assert_true(log_count(l, TS_EV_loop_create) >= 1);
    assert_true(log_count(l, TS_EV_loop_close) >= 1);
    check_blocked_read(m, task_named(m, "reader")->id);
    assert_int_equal(tm_model_dropped(m), 0);
}

static void test_attach_by_pid(void **state) {
    (void)state;
    FILE *in;
    int pid = start_waiting("scenario", NULL, &in);
    ts_bpf *b = open_or_fail(pid, NULL);
    assert_non_null(strstr(ts_bpf_library(b), "libtaskscope"));
    evlog l;
    log_init(&l);
    go(in);
    int status = drain_until_exit(b, pid, &l, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ts_bpf_stats st;
    ts_bpf_get_stats(b, &st);
    assert_true(st.probes > 10);
    assert_int_equal(st.bad, 0);
    assert_int_equal(st.dropped, 0);
    assert_true(st.blocked >= 1); /* the read; the loop's own joins may add more */
    check_scenario(&l);
    ts_bpf_close(b);
    log_free(&l);
}

static void test_run_gated(void **state) {
    (void)state;
    char lib[4096], err[512];
    assert_int_equal(ts_bpf_resolve_library(target_path(), lib, sizeof lib, err, sizeof err), 0);
    assert_non_null(strstr(lib, "libtaskscope"));
    char *argv[] = {(char *)target_path(), "scenario", NULL};
    int pid, gate;
    assert_int_equal(ts_bpf_spawn_gated(argv, &pid, &gate, err, sizeof err), 0);
    ts_bpf_opts o = {.library = lib};
    ts_bpf *b = open_or_fail(pid, &o);
    assert_int_equal(ts_bpf_release(gate), 0);
    evlog l;
    log_init(&l);
    int status = drain_until_exit(b, pid, &l, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    check_scenario(&l);
    ts_bpf_close(b);
    log_free(&l);
}

static void test_syscalls_only(void **state) {
    (void)state;
    FILE *in;
    int pid = start_waiting("scenario", NULL, &in);
    ts_bpf_opts o = {.events = TS_BPF_SYSCALLS};
    ts_bpf *b = open_or_fail(pid, &o);
    evlog l;
    log_init(&l);
    go(in);
    int status = drain_until_exit(b, pid, &l, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(log_count(&l, TS_EV_task_create), 0);
    assert_int_equal(log_count(&l, TS_EV_task_resume), 0);
    assert_int_equal(log_count(&l, TS_EV_resource_acquired), 0);
    const tm_blocked *bl = NULL;
    for (size_t i = 0; i < tm_model_blocked_count(l.model); i++)
        if (tm_model_blocked_at(l.model, i)->syscall == SYS_read)
            bl = tm_model_blocked_at(l.model, i);
    assert_non_null(bl);
    assert_true(bl->task != 0);
    assert_true(bl->loop != 0);
    check_blocked_read(l.model, bl->task);
    ts_bpf_close(b);
    log_free(&l);
}

static void test_drops_counted(void **state) {
    (void)state;
    FILE *in;
    int pid = start_waiting("many", "20000", &in);
    ts_bpf_opts o = {.events = TS_BPF_TASKS, .ring_bytes = 4096};
    ts_bpf *b = open_or_fail(pid, &o);
    evlog l;
    log_init(&l);
    go(in);
    int status = drain_until_exit(b, pid, &l, 1);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ts_bpf_stats st;
    ts_bpf_get_stats(b, &st);
    assert_true(st.dropped > 0);
    assert_true(log_count(&l, TS_EV_dropped) >= 1);
    assert_int_equal(tm_model_dropped(l.model), st.dropped);
    /* what did arrive is whole and about the right process */
    assert_int_equal(st.bad, 0);
    ts_bpf_close(b);
    log_free(&l);
}

int main(void) {
    skip_unless_bpf();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attach_by_pid),
        cmocka_unit_test(test_run_gated),
        cmocka_unit_test(test_syscalls_only),
        cmocka_unit_test(test_drops_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
