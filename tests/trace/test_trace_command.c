/*
 * test_trace_command.c - issue 15 in the debug runtime, read through the
 * reader library from a forked child: a state dump holds the stack of a
 * parked task (its frame-pointer chain, through the functions it is
 * nested in) and its user fields; the command channel cancels a task on
 * its loop's thread and refuses malformed or unknown requests; random
 * bytes written over the channel cost the program nothing but ignored
 * requests (it finishes its work and exits 0).
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "reader_impl.h" /* the writable mapping, to scribble on the channel */
#include "trace_harness.h"

static int ready_fd, stop_fd;
static volatile int sink;

__attribute__((noinline)) static int nest_b(void) {
    int err = ts_wait_fd(stop_fd, TS_READABLE, TS_FOREVER);
    sink++;
    return err;
}
__attribute__((noinline)) static int nest_a(void) {
    int err = nest_b();
    sink++;
    return err;
}

static void *nested(void *arg) {
    (void)arg;
    int err = nest_a();
    /* 7: cancelled through the channel; 0: stopped by the pipe */
    _exit(err == -ECANCELED ? 7 : err >= 0 ? 0 : 9);
}

static void *child_main(void *arg) {
    (void)arg;
    ts_task *t = ts_spawn_named("nested", nested, NULL);
    assert_int_equal(ts_task_set_field(t, "user", "alice"), 0);
    assert_int_equal(ts_task_set_field(t, "", "x"), -EINVAL);
    assert_int_equal(ts_event_log("hello"), 0);
    ts_sleep(0.05);
    ts_debug_flush();
    if (write(ready_fd, "r", 1) != 1)
        _exit(3);
    ts_await(t, NULL);
    return NULL;
}

static pid_t start_child(int *stop_w, int *ready_r) {
    int ready[2], stop[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(stop), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        ready_fd = ready[1];
        stop_fd = stop[0];
        exit(ts_run(child_main, NULL) == 0 ? 0 : 1);
    }
    close(ready[1]);
    close(stop[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    *stop_w = stop[1];
    *ready_r = ready[0];
    return pid;
}

static ts_reader *attach_and_dump(pid_t pid, evlog *log) {
    ts_reader *rd = NULL;
    char err[256];
    assert_int_equal(ts_reader_open_pid(&rd, pid, err, sizeof err), 0);
    assert_int_equal(ts_reader_attach(rd), 0);
    for (int i = 0; i < 4000 && !ts_reader_dump_done(rd); i++) { /* 20 s at most */
        poll_into(rd, log);
        usleep(5000);
    }
    assert_true(ts_reader_dump_done(rd));
    poll_into(rd, log);
    return rd;
}

/* The task named name in the dump: its id and loop. */
static uint64_t find_task(const ts_reader *rd, const evlog *log, const char *name,
                          uint64_t *loop) {
    for (size_t i = 0; i < log->n; i++)
        if (log->v[i].ev.type == TS_EV_task_state) {
            const ts_ev_task_state *e = EV(&log->v[i], task_state);
            const char *s = ts_reader_string(rd, e->name);
            if (s && !strcmp(s, name)) {
                *loop = e->loop;
                return e->task;
            }
        }
    return 0;
}

static int in_fn(uint64_t pc, void *fn) {
    uint64_t a = (uint64_t)(uintptr_t)fn;
    return pc > a && pc < a + 256;
}

static int finish_child(pid_t pid, int stop_w, int ready_r) {
    if (write(stop_w, "q", 1) != 1) { /* the child may be gone already */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(stop_w);
    close(ready_r);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_dump_has_stack_and_fields(void **state) {
    (void)state;
    int stop_w, ready_r;
    pid_t pid = start_child(&stop_w, &ready_r);
    evlog log = {0};
    ts_reader *rd = attach_and_dump(pid, &log);
    uint64_t loop, id = find_task(rd, &log, "nested", &loop);
    assert_true(id != 0);
    int stacks = 0, fields = 0;
    for (size_t i = 0; i < log.n; i++) {
        if (log.v[i].ev.type == TS_EV_task_stack && EV(&log.v[i], task_stack)->task == id) {
            const ts_ev_task_stack *e = EV(&log.v[i], task_stack);
            const uint64_t *pcs = (const uint64_t *)(e + 1);
            assert_true(e->depth >= 4);
            assert_int_equal(e->flags & 2, 0); /* the chain stayed in the stack */
            int b = -1, a = -1, n = -1;
            for (uint32_t k = 0; k < e->depth; k++) {
                if (in_fn(pcs[k], (void *)nest_b) && b < 0)
                    b = (int)k;
                if (in_fn(pcs[k], (void *)nest_a) && a < 0)
                    a = (int)k;
                if (in_fn(pcs[k], (void *)nested) && n < 0)
                    n = (int)k;
            }
            assert_true(b > 0 && a == b + 1 && n == a + 1); /* innermost first */
            stacks++;
        }
        if (log.v[i].ev.type == TS_EV_task_field && EV(&log.v[i], task_field)->task == id) {
            const ts_ev_task_field *e = EV(&log.v[i], task_field);
            assert_int_equal(e->key_len, 4);
            assert_int_equal(e->len, 9);
            assert_memory_equal((const char *)(e + 1), "useralice", 9);
            fields++;
        }
    }
    assert_true(stacks >= 1);
    assert_true(fields >= 1);
    ts_reader_close(rd);
    evlog_free(&log);
    assert_int_equal(finish_child(pid, stop_w, ready_r), 0);
}

/* Post a request and wait for its answer (polling the rings into log
 * meanwhile). */
static int command(ts_reader *rd, evlog *log, uint32_t op, uint64_t loop, uint64_t task,
                   const char *msg) {
    uint64_t seq;
    assert_int_equal(ts_reader_command_post(rd, op, loop, task, msg, &seq), 0);
    int result = 1;
    for (int i = 0; i < 4000; i++) { /* 20 s at most */
        poll_into(rd, log);
        if (ts_reader_command_result(rd, seq, &result))
            return result;
        usleep(5000);
    }
    fail_msg("no answer to command %llu", (unsigned long long)seq);
    return 1;
}

static void test_cancel_through_the_channel(void **state) {
    (void)state;
    int stop_w, ready_r;
    pid_t pid = start_child(&stop_w, &ready_r);
    evlog log = {0};
    ts_reader *rd = attach_and_dump(pid, &log);
    uint64_t loop = 0, id = find_task(rd, &log, "nested", &loop);
    assert_true(id != 0);
    evlog after = {0};
    assert_int_equal(command(rd, &after, 99, loop, id, NULL), -EINVAL); /* unknown op */
    assert_int_equal(command(rd, &after, TS_COMMAND_CANCEL, loop, 999999, NULL), -ESRCH);
    assert_int_equal(command(rd, &after, TS_COMMAND_CANCEL, loop + 1000, id, NULL), -ENOENT);
    assert_int_equal(command(rd, &after, TS_COMMAND_CANCEL, loop, id, "from the test"), 0);
    for (int i = 0; i < 200; i++) {
        poll_into(rd, &after);
        usleep(5000);
    }
    int requests = 0, cancels = 0;
    for (size_t i = 0; i < after.n; i++) {
        if (after.v[i].ev.type == TS_EV_cancel_request) {
            const ts_ev_cancel_request *e = EV(&after.v[i], cancel_request);
            assert_int_equal(e->requester, (uint32_t)getpid());
            requests += e->result == 0 && e->task == id;
            assert_true(cancels == 0); /* the request comes before the cancel */
        }
        if (after.v[i].ev.type == TS_EV_task_cancel && EV(&after.v[i], task_cancel)->task == id) {
            assert_int_equal(EV(&after.v[i], task_cancel)->by_task, 0);
            cancels++;
        }
    }
    assert_int_equal(requests, 1);
    assert_int_equal(cancels, 1);
    ts_reader_close(rd);
    evlog_free(&log);
    evlog_free(&after);
    assert_int_equal(finish_child(pid, stop_w, ready_r), 7); /* it saw -ECANCELED */
}

static void test_scribbled_channel_is_harmless(void **state) {
    (void)state;
    int stop_w, ready_r;
    pid_t pid = start_child(&stop_w, &ready_r);
    evlog log = {0};
    ts_reader *rd = attach_and_dump(pid, &log);
    assert_non_null(rd->wbase);
    unsigned char *c = rd->wbase + offsetof(ts_seg_header, command);
    unsigned seed = 15;
    for (int round = 0; round < 400; round++) {
        for (size_t i = 0; i < sizeof(ts_seg_command); i++)
            c[i] = (unsigned char)rand_r(&seed);
        if (round % 4 == 0) /* sometimes a plausible request for loop 1 */
            memcpy(c + offsetof(ts_seg_command, loop), &(uint64_t){1}, 8);
        poll_discard(rd);
        usleep(1000);
    }
    ts_reader_close(rd);
    evlog_free(&log);
    /* still alive and well: the pipe stops the task, the program exits 0
     * (or 7, if a random request happened to name it: still an answer) */
    int st = finish_child(pid, stop_w, ready_r);
    assert_true(st == 0 || st == 7);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* a child that was cancelled has closed its pipe */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_has_stack_and_fields),
        cmocka_unit_test(test_cancel_through_the_channel),
        cmocka_unit_test(test_scribbled_channel_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
