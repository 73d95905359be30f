/*
 * prog_forever.c - a traced program for the tracer's integration tests:
 * a small service that runs until it is told to stop.
 *
 *   prog_forever              tasks that keep the loop busy (a ticker every
 *                             10 ms) until SIGTERM or SIGINT
 *   prog_forever --snapshot   the same task shapes, but still: every task
 *                             waits on something that never comes, and a
 *                             loop callback prints the runtime's own
 *                             ts_all_tasks() list, then nothing changes
 *                             until SIGTERM/SIGINT (or SIGKILL)
 *
 * Either mode prints "ready pid=N" once every task is in place, and the
 * snapshot mode then prints
 *   snapshot-begin
 *   task ID PARENT STATE KIND AWAITED NAME      (one per unfinished task)
 *   snapshot-end
 * where STATE is ts_task_state, KIND ts_wait_kind, AWAITED the id of the
 * awaited task (0 unless KIND is 1).  Names contain no spaces.  A test
 * compares this with what the tracer's model says about the same moment.
 *
 * Invariant: after "ready" no task changes state in --snapshot mode, so
 * the tracer may look at any time; on SIGTERM/SIGINT the program stops
 * every task and exits 0, which removes its trace segment.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static ts_event *stop_event;   /* set by the signal handler */
static ts_event *never;        /* never set: workers wait on it */
static ts_lock *held;          /* held by "holder" while it sleeps */
static int snapshot_mode;

static void *on_signal(int signo, void *arg) {
    (void)signo;
    (void)arg;
    ts_event_set(stop_event);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    for (;;) {
        int err = ts_sleep(0.01);
        if (err)
            return ts_fail(err, "ticker stopped");
    }
}

static void *worker(void *arg) {
    (void)arg;
    ts_event_wait(never);   /* until cancelled */
    return NULL;
}

static void *holder(void *arg) {
    (void)arg;
    if (ts_lock_acquire(held))
        return NULL;
    ts_sleep(3600);          /* holds the lock until cancelled */
    ts_lock_release(held);
    return NULL;
}

static void *contender(void *arg) {
    (void)arg;
    if (ts_lock_acquire(held) == 0)
        ts_lock_release(held);
    return NULL;
}

static void *supervisor(void *arg) {
    (void)arg;
    ts_task *w[3];
    char name[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "worker-%d", i + 1);
        w[i] = ts_spawn_named(name, worker, NULL);
    }
    return ts_gather(w, 3, NULL, NULL) ? ts_fail(-ECANCELED, "stopped") : NULL;
}

static void *short_lived(void *arg) {
    (void)arg;
    return NULL;
}

/* A loop callback, so that no task is running while the list is taken. */
static void print_snapshot(void *arg) {
    (void)arg;
    ts_task *tasks[64];
    size_t n = ts_all_tasks(NULL, tasks, 64);
    printf("snapshot-begin\n");
    for (size_t i = 0; i < n && i < 64; i++) {
        const void *obj = NULL;
        ts_wait_kind kind = ts_task_awaiting(tasks[i], &obj, NULL);
        uint64_t awaited = kind == TS_WAIT_TASK && obj ? ts_task_id(obj) : 0;
        printf("task %llu %llu %d %d %llu %s\n", (unsigned long long)ts_task_id(tasks[i]),
               (unsigned long long)ts_task_parent_id(tasks[i]), (int)ts_task_state_of(tasks[i]),
               (int)kind, (unsigned long long)awaited, ts_task_name(tasks[i]));
    }
    printf("snapshot-end\n");
    fflush(stdout);
}

static void *amain(void *arg) {
    (void)arg;
    stop_event = ts_event_new();
    never = ts_event_new();
    held = ts_lock_new();
    ts_signal_handler *h1, *h2;
    if (!stop_event || !never || !held ||
        ts_signal_handler_add(SIGTERM, on_signal, NULL, &h1) ||
        ts_signal_handler_add(SIGINT, on_signal, NULL, &h2))
        return ts_fail(-ENOMEM, "setup failed");

    ts_task *done = ts_spawn_named("short-lived", short_lived, NULL);
    ts_await(done, NULL);   /* finished: listed only with --all */

    ts_task *t[5];
    int n = 0;
    t[n++] = ts_spawn_named("supervisor", supervisor, NULL);
    t[n++] = ts_spawn_named("holder", holder, NULL);
    t[n++] = ts_spawn_named("contender", contender, NULL);
    if (!snapshot_mode)
        t[n++] = ts_spawn_named("ticker", ticker, NULL);
    ts_sleep(0.05);          /* everyone reaches its wait */

    printf("ready pid=%d\n", (int)getpid());
    fflush(stdout);
    if (snapshot_mode)
        ts_call_soon(ts_loop_current(), print_snapshot, NULL, NULL);

    ts_event_wait(stop_event);
    for (int i = 0; i < n; i++)
        ts_task_cancel(t[i], "shutting down");
    ts_gather(t, (size_t)n, NULL, (int[5]){0});
    ts_signal_handler_remove(h1);
    ts_signal_handler_remove(h2);
    ts_lock_free(held);
    ts_event_free(never);
    ts_event_free(stop_event);
    return NULL;
}

int main(int argc, char **argv) {
    snapshot_mode = argc > 1 && !strcmp(argv[1], "--snapshot");
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "prog_forever: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
