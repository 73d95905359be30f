/*
 * bpf_target.c - the program the BPF collector's tests trace.  Linked
 * against the RELEASE shared library (libtaskscope.so.0), so everything
 * the tests see comes through the USDT probes, not a debug runtime.
 *
 *   bpf_target [--wait] scenario    named workers, a failing task, a
 *                                   cancelled task, lock contention, a
 *                                   thread-pool job, and a task whose
 *                                   blocking_reader() blocks the loop in
 *                                   read() for 5 ms
 *   bpf_target [--wait] starve      20 tasks share the CPU in 8 ms steps,
 *                                   each waiting ~150 ms to run each time
 *                                   (loop starvation); exits when done
 *   bpf_target [--wait] stuck       every task waits for what no one will
 *                                   do (an event never set); prints "held"
 *   bpf_target [--wait] unretrieved a detached task fails: its error is
 *                                   never retrieved
 *   bpf_target [--wait] many N      N short tasks, spawned in a burst
 *   bpf_target [--wait] hold [busy] [read] [threads] [locks] [kinds]
 *                                   tasks that never end: "napper"
 *                                   (sleeping), "waiter" (an event no one
 *                                   sets, named "ready"), "deadlock-a"/"deadlock-b" (each
 *                                   holds one lock and wants the other's),
 *                                   "producer" and "producer-2" (each puts
 *                                   into the same full queue: 2 items,
 *                                   maxsize 2; lock A and the queue
 *                                   ("jobs") are named);
 *                                   prints "held" once they are parked.
 *                                   The loop is then idle in epoll_wait
 *                                   (deadlocked), unless busy: a "ticker"
 *                                   wakes every millisecond.  With read, a
 *                                   "reader" blocks the loop in read() for
 *                                   5 ms every 200 ms.  With threads, a
 *                                   second thread runs its own loop with
 *                                   a sleeping "napper-2".  With locks,
 *                                   100 "holder-N" tasks each hold lock N
 *                                   (and sleep) while "wanter-N" waits
 *                                   for it.  With deadholder, "doomed"
 *                                   takes a lock that "orphan" waits
 *                                   for, and is cancelled holding it.
 *                                   With kinds, "sem-waiter" waits on
 *                                   semaphore "gate" (no permits),
 *                                   "cond-waiter" on condition "cv" and
 *                                   "barrier-waiter" on barrier "meet"
 *                                   (2 parties), all named at creation.
 *                                   Runs until killed.
 *
 * With --wait it prints "ready" once loaded and waits for a line on
 * stdin before it starts, so a test can attach by pid first.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static void *worker(void *arg) {
    ts_sleep(0.01);
    return arg;
}

static void *failer(void *arg) {
    (void)arg;
    return ts_fail(-EIO, "boom");
}

static void *sleeper(void *arg) {
    int err = ts_sleep(10.0); /* cancelled long before */
    return err ? ts_fail(err, NULL) : arg;
}

static void *locker(void *arg) {
    ts_lock *l = arg;
    if (ts_lock_acquire(l) == 0) {
        ts_sleep(0.005);
        ts_lock_release(l);
    }
    return NULL;
}

struct pipe_writer {
    int fd;
    pid_t reader_tid;
};

/* Is thread tid blocked in read() now?  (/proc/.../syscall starts with
 * the number of the call it is in.) */
static int in_read(pid_t tid) {
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fgets(buf, sizeof buf, f) && atoi(buf) == SYS_read && buf[0] != 'r';
    fclose(f);
    return ok;
}

/* Write one byte 5 ms after the reader is inside read(), so the read
 * lasts at least 5 ms whatever the scheduler does. */
static void *writer_thread(void *arg) {
    struct pipe_writer *w = arg;
    for (int i = 0; i < 20000 && !in_read(w->reader_tid); i++)
        usleep(100);
    struct timespec d = {0, 5000000};
    nanosleep(&d, NULL);
    char c = 'x';
    if (write(w->fd, &c, 1) != 1)
        perror("write");
    return NULL;
}

/* The bug the collector must find: a blocking read() inside a task,
 * which freezes the loop until another thread writes (5 ms). */
__attribute__((noinline)) static int blocking_reader(int fd) {
    char c;
    int n = (int)read(fd, &c, 1);
    __asm__ volatile("" ::: "memory"); /* keep the frame: no tail call */
    return n;
}

static void *reader(void *arg) {
    (void)arg;
    int fds[2];
    pthread_t th;
    struct pipe_writer w = {0, (pid_t)syscall(SYS_gettid)};
    if (pipe(fds))
        return ts_fail(-errno, "setup");
    w.fd = fds[1];
    if (pthread_create(&th, NULL, writer_thread, &w))
        return ts_fail(-errno, "setup");
    int n = blocking_reader(fds[0]);
    pthread_join(th, NULL);
    close(fds[0]);
    close(fds[1]);
    return n == 1 ? NULL : ts_fail(-EIO, "short read");
}

static void *job(void *arg) {
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
    return arg;
}

static void *scenario(void *arg) {
    (void)arg;
    ts_task *w[3];
    char name[16];
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "worker-%d", i + 1);
        w[i] = ts_spawn_named(name, worker, NULL);
    }
    ts_task *f = ts_spawn_named("failer", failer, NULL);
    ts_task *s = ts_spawn_named("sleeper", sleeper, NULL);
    ts_lock *l = ts_lock_new();
    ts_task *la = ts_spawn_named("locker-a", locker, l);
    ts_task *lb = ts_spawn_named("locker-b", locker, l);
    ts_sleep(0.001);
    ts_task_cancel(s, "enough");
    ts_task *r = ts_spawn_named("reader", reader, NULL);
    void *res;
    int err = ts_to_thread(job, NULL, &res);
    for (int i = 0; i < 3; i++)
        err |= ts_await(w[i], NULL);
    int ferr = ts_await(f, NULL);
    int serr = ts_await(s, NULL);
    err |= ts_await(la, NULL) | ts_await(lb, NULL) | ts_await(r, NULL);
    ts_lock_free(l);
    if (err || ferr != -EIO || serr != -ECANCELED) {
        fprintf(stderr, "bpf_target: scenario went wrong: %d %d %d\n", err, ferr, serr);
        return ts_fail(-EPROTO, NULL);
    }
    return NULL;
}

/* ---- hold: tasks that exist before a collector attaches ---------------- */

static ts_lock *lock_a, *lock_b;

static void *napper(void *arg) {
    ts_sleep(100000.0);
    return arg;
}

static void *waiter(void *arg) {
    ts_event_wait((ts_event *)arg);
    return NULL;
}

static void *deadlock(void *arg) {
    int first_a = arg != NULL;
    ts_lock *mine = first_a ? lock_a : lock_b, *theirs = first_a ? lock_b : lock_a;
    ts_lock_acquire(mine);
    ts_sleep(0.01); /* the other takes its lock meanwhile */
    ts_lock_acquire(theirs); /* never */
    return NULL;
}

static void *producer(void *arg) {
    ts_queue_put((ts_queue *)arg, "three"); /* never: the queue stays full */
    return NULL;
}

#define HOLD_LOCKS 100

static void *lock_holder(void *arg) {
    ts_lock_acquire((ts_lock *)arg);
    ts_sleep(100000.0);
    return NULL;
}

static void *lock_wanter(void *arg) {
    ts_lock_acquire((ts_lock *)arg); /* never: its holder sleeps */
    return NULL;
}

/* HOLD_LOCKS locks, each held by one task and wanted by another (more
 * than one batch of the state dump's resources). */
static void spawn_lock_pairs(void) {
    char name[32];
    for (int i = 0; i < HOLD_LOCKS; i++) {
        ts_lock *l = ts_lock_new();
        snprintf(name, sizeof name, "holder-%d", i);
        ts_spawn_named(name, lock_holder, l); /* runs first: takes l */
        snprintf(name, sizeof name, "wanter-%d", i);
        ts_spawn_named(name, lock_wanter, l);
    }
}

static void *ticker(void *arg) {
    for (;;)
        ts_sleep(0.001);
    return arg;
}

static void *periodic_reader(void *arg) {
    for (;;) {
        ts_sleep(0.2);
        void *r = reader(arg);
        (void)r;
    }
    return NULL;
}

static int hold_busy, hold_read, hold_threads, hold_locks, hold_deadholder, hold_kinds;

static void *sem_waiter(void *arg) {
    ts_semaphore_acquire((ts_semaphore *)arg); /* never: no permits */
    return NULL;
}

static void *cond_waiter(void *arg) {
    ts_condition *c = arg;
    ts_condition_acquire(c);
    ts_condition_wait(c); /* never notified */
    return NULL;
}

static void *barrier_waiter(void *arg) {
    ts_barrier_wait((ts_barrier *)arg, NULL); /* never: the second party never comes */
    return NULL;
}

static void *doomed_holder(void *arg) {
    ts_lock_acquire((ts_lock *)arg);
    ts_sleep(100000.0); /* cancelled: it ends still holding the lock */
    return NULL;
}

static void *second_loop_main(void *arg) {
    ts_task *t = ts_spawn_named("napper-2", napper, NULL);
    ts_await(t, NULL);
    return arg;
}

static void *second_loop(void *arg) {
    ts_run(second_loop_main, NULL);
    return arg;
}

static void *hold(void *arg) {
    (void)arg;
    lock_a = ts_lock_new_named("A"); /* named before any collector attaches */
    lock_b = ts_lock_new();
    ts_event *ev = ts_event_new_named("ready");
    ts_queue *q = ts_queue_new_named(2, "jobs");
    ts_queue_put_nowait(q, "one");
    ts_queue_put_nowait(q, "two");
    ts_task *t[16];
    int n = 0;
    t[n++] = ts_spawn_named("napper", napper, NULL);
    t[n++] = ts_spawn_named("waiter", waiter, ev);
    t[n++] = ts_spawn_named("deadlock-a", deadlock, (void *)1);
    t[n++] = ts_spawn_named("deadlock-b", deadlock, NULL);
    t[n++] = ts_spawn_named("producer", producer, q);
    t[n++] = ts_spawn_named("producer-2", producer, q);
    if (hold_busy)
        t[n++] = ts_spawn_named("ticker", ticker, NULL);
    if (hold_read)
        t[n++] = ts_spawn_named("reader", periodic_reader, NULL);
    if (hold_locks)
        spawn_lock_pairs();
    if (hold_kinds) {
        /* one waiter per other resource kind, each named before any
         * collector attaches: only the state dump can name them */
        t[n++] = ts_spawn_named("sem-waiter", sem_waiter, ts_semaphore_new_named(0, "gate"));
        t[n++] = ts_spawn_named("cond-waiter", cond_waiter, ts_condition_new_named(NULL, "cv"));
        t[n++] = ts_spawn_named("barrier-waiter", barrier_waiter, ts_barrier_new_named(2, "meet"));
    }
    if (hold_deadholder) {
        /* "doomed" takes a lock, "orphan" waits for it, and "doomed" is
         * cancelled holding it: nothing will ever release it. */
        ts_lock *l = ts_lock_new();
        ts_task *d = ts_spawn_named("doomed", doomed_holder, l);
        t[n++] = ts_spawn_named("orphan", lock_wanter, l);
        ts_sleep(0.01);
        ts_task_cancel(d, "bye");
        ts_await(d, NULL);
    }
    pthread_t th;
    if (hold_threads && pthread_create(&th, NULL, second_loop, NULL) == 0)
        pthread_detach(th);
    ts_sleep(0.05);
    printf("held\n");
    fflush(stdout);
    ts_gather(t, (size_t)n, NULL, 0); /* never returns */
    return NULL;
}

static void *quick(void *arg) { return arg; }

/* starve: 20 "cruncher" tasks each take the CPU for 8 ms, 10 times,
 * yielding in between: every task waits for the 19 others, some 150 ms,
 * with no step slow enough to blame (loop starvation). */
#define STARVE_TASKS 20

static void *cruncher(void *arg) {
    for (int round = 0; round < 10; round++) {
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t);
        while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 8000000L);
        ts_sleep(0);
    }
    return arg;
}

static void *starve(void *arg) {
    ts_task *t[STARVE_TASKS];
    for (int i = 0; i < STARVE_TASKS; i++)
        t[i] = ts_spawn_named("cruncher", cruncher, NULL);
    for (int i = 0; i < STARVE_TASKS; i++)
        ts_await(t[i], NULL);
    return arg;
}

/* Every task waits for what no one will do: main for "waiter", "waiter"
 * for an event no one sets.  Prints "held" and waits forever. */
static void *stuck(void *arg) {
    ts_task *w = ts_spawn_named("waiter", waiter, ts_event_new());
    ts_sleep(0.05);
    printf("held\n");
    fflush(stdout);
    ts_await(w, NULL);
    return arg;
}

/* A task fails and nobody ever looks at its error ("Task exception was
 * never retrieved" when it is freed). */
static void *unretrieved(void *arg) {
    ts_task_detach(ts_spawn_named("failer", failer, NULL));
    ts_sleep(0.1);
    return arg;
}

static void *many(void *arg) {
    long n = (long)(intptr_t)arg;
    for (long i = 0; i < n; i += 100) {
        ts_task *t[100];
        long k = n - i < 100 ? n - i : 100;
        for (long j = 0; j < k; j++)
            t[j] = ts_spawn_named("quick", quick, NULL);
        for (long j = 0; j < k; j++)
            ts_await(t[j], NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int i = 1;
    if (i < argc && !strcmp(argv[i], "--wait")) {
        printf("ready\n");
        fflush(stdout);
        char line[16];
        if (!fgets(line, sizeof line, stdin))
            return 3;
        i++;
    }
    if (i < argc && !strcmp(argv[i], "scenario"))
        return ts_run(scenario, NULL) ? 1 : 0;
    if (i < argc && !strcmp(argv[i], "stuck"))
        return ts_run(stuck, NULL) ? 1 : 0;
    if (i < argc && !strcmp(argv[i], "starve"))
        return ts_run(starve, NULL) ? 1 : 0;
    if (i < argc && !strcmp(argv[i], "unretrieved"))
        return ts_run(unretrieved, NULL) ? 1 : 0;
    if (i + 1 < argc && !strcmp(argv[i], "many"))
        return ts_run(many, (void *)(intptr_t)atol(argv[i + 1])) ? 1 : 0;
    if (i < argc && !strcmp(argv[i], "hold")) {
        for (int k = i + 1; k < argc; k++) {
            hold_busy |= !strcmp(argv[k], "busy");
            hold_read |= !strcmp(argv[k], "read");
            hold_threads |= !strcmp(argv[k], "threads");
            hold_locks |= !strcmp(argv[k], "locks");
            hold_deadholder |= !strcmp(argv[k], "deadholder");
            hold_kinds |= !strcmp(argv[k], "kinds");
        }
        return ts_run(hold, NULL) ? 1 : 0;
    }
    fprintf(stderr, "usage: bpf_target [--wait] scenario | stuck | starve | unretrieved | many N | hold [busy] [read] "
                    "[threads] [locks] [deadholder] [kinds]\n");
    return 2;
}
