/*
 * demo_service.c - a small service to watch with `taskscope top`.
 *
 *     taskscope top -- build/examples/demo_service [SECONDS]
 *
 * Runs for SECONDS (default 30; 0 = until interrupted) and gives every
 * view of the TUI something to show:
 *
 *   - an acceptor spawns client tasks at random intervals ("client-N"),
 *     with a burst every ten seconds that the workers cannot keep up with;
 *     each takes the stats lock, hands a job to the job queue and waits
 *     for the answer under a timeout; some also run a "fetch" subtask with
 *     ts_wait_for, so the task tree is three levels deep;
 *   - four workers take jobs from a bounded queue, borrow one of two
 *     "database connections" (a semaphore), work (sleeping, and now and
 *     then on a thread pool), and answer through an event; a few jobs fail;
 *   - a reaper awaits every client and counts outcomes;
 *   - a stats flusher holds the lock for a while every second, so clients
 *     queue up behind it;
 *   - a load shedder cancels clients older than 1.2 s;
 *   - a heartbeat task waits on a pipe that a ticker writes to (an fd wait);
 *   - a metrics exporter makes one deliberately blocking call,
 *     usleep(300000), every five seconds: the loop is blocked and the
 *     debug runtime's watchdog reports it with a stack;
 *   - every ten seconds (from the 4th) a fire-and-forget audit task fails with nobody
 *     looking: "error never retrieved".
 *
 * SIGINT or SIGTERM (which `taskscope top` sends when you quit it) shuts
 * the service down cleanly, as the end of the run does.
 *
 * Job memory is shared by the client and the worker (a client may time
 * out and go away while its job is still queued), so each job carries a
 * reference count; everything runs on one loop, so plain ints do.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#define NWORKERS 4
#define QUEUE_MAX 8
#define DB_CONNECTIONS 2
#define CLIENT_TIMEOUT 1.0     /* seconds a client waits for its answer */
#define SHED_AFTER 1.2         /* seconds after which the shedder cancels */
#define MAX_TRACKED 256

typedef struct job {
    int refs;
    int id;
    double cost;
    int err;
    ts_event *done;
} job;

typedef struct tracked {
    ts_task *task;             /* an extra reference, for the shedder */
    double started;
} tracked;

typedef struct service {
    ts_queue *jobs;            /* job *: clients -> workers */
    ts_queue *finished;        /* ts_task *: acceptor -> reaper; NULL ends */
    ts_lock *stats_lock;
    ts_semaphore *db;
    int pipefd[2];
    tracked clients[MAX_TRACKED];
    int next_client, next_job;
    long accepted, served, timeouts, cancelled, failed;
} service;

static service svc;

static double uniform(double lo, double hi) { return lo + drand48() * (hi - lo); }

static void job_unref(job *j) {
    if (--j->refs == 0) {
        ts_event_free(j->done);
        free(j);
    }
}

/* ---- workers --------------------------------------------------------------- */

static volatile double crunch_result; /* keeps the work from being optimised away */

static void *crunch(void *arg) {
    /* CPU work on the thread pool: the loop keeps running meanwhile */
    double x = 0;
    long n = (long)(intptr_t)arg;
    for (long i = 1; i < n; i++)
        x += sqrt((double)i);
    crunch_result = x;
    return NULL;
}

static int handle(job *j) {
    int err = ts_semaphore_acquire(svc.db);
    if (err)
        return err;
    err = ts_sleep(j->cost);
    if (!err && j->id % 7 == 0)
        err = ts_to_thread(crunch, (void *)(intptr_t)2000000, NULL);
    ts_semaphore_release(svc.db);
    if (!err && j->id % 19 == 0)
        j->err = -EIO; /* the "database" said no */
    return err;
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        void *item;
        int err = ts_queue_get(svc.jobs, &item);
        if (err)
            return ts_fail(err, "worker stopped");
        job *j = item;
        if (j->refs == 1) { /* its client gave up: do not bother */
            job_unref(j);
            ts_queue_task_done(svc.jobs);
            continue;
        }
        err = handle(j);
        ts_event_set(j->done);
        job_unref(j);
        ts_queue_task_done(svc.jobs);
        if (err)
            return ts_fail(err, "worker stopped mid-job");
    }
}

/* ---- clients ------------------------------------------------------------- */

static void *fetch(void *arg) {
    (void)arg;
    int err = ts_sleep(uniform(0.05, 0.4));
    return err ? ts_fail(err, "fetch interrupted") : NULL;
}

static int count(long *counter) {
    int err = ts_lock_acquire(svc.stats_lock);
    if (err)
        return err;
    (*counter)++;
    ts_lock_release(svc.stats_lock);
    return 0;
}

static int ask_worker(void) {
    job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->done = ts_event_new();
    if (!j->done) {
        free(j);
        return -ENOMEM;
    }
    j->refs = 2; /* the client and the worker */
    j->id = ++svc.next_job;
    j->cost = uniform(0.02, 0.4);
    int err = ts_queue_put(svc.jobs, j);
    if (err) { /* no worker ever saw it */
        ts_event_free(j->done);
        free(j);
        return err;
    }
    ts_timeout *to = ts_timeout_enter(CLIENT_TIMEOUT);
    err = ts_event_wait(j->done);
    err = ts_timeout_exit(to, err);
    if (!err)
        err = j->err;
    job_unref(j);
    return err;
}

static void *client(void *arg) {
    int n = (int)(intptr_t)arg;
    int err = ts_sleep(uniform(0.01, 0.05)); /* the handshake */
    if (!err)
        err = count(&svc.accepted);
    if (!err && n % 3 == 0) {
        char name[32];
        snprintf(name, sizeof name, "fetch-%d", n);
        ts_task *f = ts_spawn_named(name, fetch, NULL);
        err = f ? ts_wait_for(f, 0.25, NULL) : -ENOMEM;
        if (err == -ETIMEDOUT)
            err = 0; /* the cache is optional: go on without it */
    }
    if (!err)
        err = ask_worker();
    if (err == -ETIMEDOUT)
        return ts_fail(err, "client %d: no answer within %.1f s", n, CLIENT_TIMEOUT);
    if (err)
        return ts_fail(err, "client %d gave up", n);
    return NULL;
}

static void track(ts_task *t) {
    for (int i = 0; i < MAX_TRACKED; i++)
        if (!svc.clients[i].task) {
            svc.clients[i] = (tracked){ts_task_ref(t), ts_now()};
            return;
        }
}

static void *acceptor(void *arg) {
    (void)arg;
    double start = ts_now();
    for (;;) {
        /* steady traffic, and a one-second burst every ten seconds that
         * the workers cannot keep up with: timeouts and shedding follow */
        int burst = fmod(ts_now() - start, 10.0) > 9.0;
        int err = ts_sleep(burst ? uniform(0.03, 0.08) : uniform(0.05, 0.3));
        if (err)
            return ts_fail(err, "acceptor stopped");
        char name[32];
        int n = ++svc.next_client;
        snprintf(name, sizeof name, "client-%d", n);
        ts_task *c = ts_spawn_named(name, client, (void *)(intptr_t)n);
        if (!c)
            continue;
        track(c);
        ts_queue_put_nowait(svc.finished, c); /* unbounded: never waits */
    }
}

static void *reaper(void *arg) {
    (void)arg;
    for (;;) {
        void *item;
        int err = ts_queue_get(svc.finished, &item);
        if (err)
            return ts_fail(err, "reaper stopped");
        if (!item)
            return NULL; /* the acceptor is gone and every client reaped */
        err = ts_await(item, NULL);
        long *counter = !err ? &svc.served : err == -ETIMEDOUT ? &svc.timeouts
                        : err == -ECANCELED ? &svc.cancelled : &svc.failed;
        (*counter)++;
    }
}

/* ---- housekeeping ------------------------------------------------------------- */

static void *load_shedder(void *arg) {
    (void)arg;
    for (;;) {
        int err = ts_sleep(0.25);
        if (err)
            return ts_fail(err, "shedder stopped");
        double now = ts_now();
        for (int i = 0; i < MAX_TRACKED; i++) {
            tracked *c = &svc.clients[i];
            if (!c->task)
                continue;
            if (ts_task_done(c->task)) {
                ts_task_unref(c->task);
                c->task = NULL;
            } else if (now - c->started > SHED_AFTER && !ts_task_cancelling(c->task)) {
                ts_task_cancel(c->task, "shed: the service is overloaded");
            }
        }
    }
}

static void *stats_flusher(void *arg) {
    (void)arg;
    for (;;) {
        int err = ts_sleep(1.0);
        if (!err)
            err = ts_lock_acquire(svc.stats_lock);
        if (err)
            return ts_fail(err, "flusher stopped");
        err = ts_sleep(0.2); /* "writing the counters out" with the lock held */
        ts_lock_release(svc.stats_lock);
        if (err)
            return ts_fail(err, "flusher stopped");
    }
}

static void *metrics_exporter(void *arg) {
    (void)arg;
    for (;;) {
        int err = ts_sleep(5.0);
        if (err)
            return ts_fail(err, "metrics stopped");
        usleep(300000); /* WRONG on purpose: a blocking call freezes the loop */
    }
}

static void *ticker(void *arg) {
    (void)arg;
    for (;;) {
        int err = ts_sleep(0.5);
        if (err)
            return ts_fail(err, "ticker stopped");
        if (write(svc.pipefd[1], "t", 1) < 0)
            return ts_fail(-errno, "ticker cannot write");
    }
}

static void *heartbeat(void *arg) {
    (void)arg;
    for (;;) {
        int r = ts_wait_fd(svc.pipefd[0], TS_READABLE, TS_FOREVER);
        if (r < 0)
            return ts_fail(r, "heartbeat stopped");
        char buf[64];
        if (read(svc.pipefd[0], buf, sizeof buf) < 0 && errno != EAGAIN)
            return ts_fail(-errno, "heartbeat cannot read");
    }
}

static void *audit(void *arg) {
    (void)arg;
    ts_sleep(0.01);
    return ts_fail(-EIO, "audit log unreachable");
}

/* ---- main ------------------------------------------------------------------ */

static void report(double t) {
    printf("t=%3.0fs clients %ld: served %ld, timed out %ld, shed %ld, failed %ld\n", t,
           svc.accepted, svc.served, svc.timeouts, svc.cancelled, svc.failed);
    fflush(stdout);
}

static int stop_all(ts_task **tasks, size_t n) {
    for (size_t i = 0; i < n; i++)
        ts_task_cancel(tasks[i], "shutting down");
    int errs[16];
    return ts_gather(tasks, n, NULL, errs);
}

static void *on_stop(int signo, void *main_task) {
    ts_task_cancel(main_task, strsignal(signo));
    return NULL;
}

static void *amain(void *arg) {
    double duration = *(double *)arg;
    /* Said from the loop, not before ts_run: the debug runtime makes its
     * trace segment with the loop, so `taskscope top PID` typed (or run
     * by a test) at once could otherwise find none. */
    if (duration > 0)
        printf("demo_service: pid %d, running for %g s (watch it: taskscope top %d)\n",
               (int)getpid(), duration, (int)getpid());
    else
        printf("demo_service: pid %d, running until interrupted (watch it: taskscope top %d)\n",
               (int)getpid(), (int)getpid());
    fflush(stdout);
    svc.jobs = ts_queue_new(QUEUE_MAX);
    svc.finished = ts_queue_new(0);
    svc.stats_lock = ts_lock_new();
    svc.db = ts_semaphore_new(DB_CONNECTIONS);
    if (!svc.jobs || !svc.finished || !svc.stats_lock || !svc.db)
        return ts_fail(-ENOMEM, "setup");
    ts_signal_handler *sigint = NULL, *sigterm = NULL;
    ts_signal_handler_add(SIGINT, on_stop, ts_current_task(), &sigint);
    ts_signal_handler_add(SIGTERM, on_stop, ts_current_task(), &sigterm);
    ts_task *acc = ts_spawn_named("acceptor", acceptor, NULL);
    ts_task *reap = ts_spawn_named("reaper", reaper, NULL);
    ts_task *helpers[NWORKERS + 6];
    size_t nh = 0;
    for (int i = 0; i < NWORKERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i + 1);
        helpers[nh++] = ts_spawn_named(name, worker, NULL);
    }
    helpers[nh++] = ts_spawn_named("load-shedder", load_shedder, NULL);
    helpers[nh++] = ts_spawn_named("stats-flusher", stats_flusher, NULL);
    helpers[nh++] = ts_spawn_named("metrics-exporter", metrics_exporter, NULL);
    helpers[nh++] = ts_spawn_named("ticker", ticker, NULL);
    helpers[nh++] = ts_spawn_named("heartbeat", heartbeat, NULL);

    double start = ts_now();
    for (int tick = 1; duration <= 0 || tick <= duration; tick++) {
        int err = ts_sleep(start + tick - ts_now() > 0 ? start + tick - ts_now() : 0);
        if (err == -ECANCELED) { /* a signal: shut down like at the end */
            ts_task_uncancel(ts_current_task());
            break;
        }
        if (err)
            break;
        if (tick % 10 == 4)
            ts_task_detach(ts_spawn_named("audit", audit, NULL));
        if (tick % 5 == 0)
            report(ts_now() - start);
    }

    /* Shut down: no new clients, let the reaper collect the rest, then
     * stop the helpers. */
    ts_task_cancel(acc, "shutting down");
    ts_await(acc, NULL);
    ts_queue_put_nowait(svc.finished, NULL);
    ts_await(reap, NULL);
    stop_all(helpers, nh);
    for (int i = 0; i < MAX_TRACKED; i++)
        if (svc.clients[i].task)
            ts_task_unref(svc.clients[i].task);
    report(ts_now() - start);
    if (sigint)
        ts_signal_handler_remove(sigint);
    if (sigterm)
        ts_signal_handler_remove(sigterm);
    ts_queue_free(svc.jobs);
    ts_queue_free(svc.finished);
    ts_lock_free(svc.stats_lock);
    ts_semaphore_free(svc.db);
    return NULL;
}

int main(int argc, char **argv) {
    double duration = argc > 1 ? atof(argv[1]) : 30.0;
    if (argc > 2 || duration < 0) {
        fprintf(stderr, "usage: demo_service [SECONDS]   (default 30; 0 runs until interrupted)\n");
        return 2;
    }
    if (pipe(svc.pipefd) != 0) {
        perror("demo_service: pipe");
        return 1;
    }
    fcntl(svc.pipefd[0], F_SETFL, O_NONBLOCK);
    srand48((long)getpid());
    int err = ts_run(amain, &duration);
    close(svc.pipefd[0]);
    close(svc.pipefd[1]);
    if (err) {
        fprintf(stderr, "demo_service: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
