/*
 * executor.c - a thread pool for blocking functions (run_in_executor,
 * to_thread).
 *
 * A pool has up to max_threads workers, started on demand, and one FIFO
 * queue of jobs guarded by ex->mu.  The submitting task parks
 * (TS_WAIT_EXECUTOR, object = the job); the worker that ran the job posts
 * its completion to the submitting loop with ts_call_soon_threadsafe, and
 * that callback wakes the task.
 *
 * A job is heap-allocated and lives in exactly one of these states, each
 * change made under ex->mu:
 *
 *   QUEUED   on ex->queue.  The awaiter, if cancelled, unlinks and frees it
 *            (it never runs); shutdown(cancel_pending) turns it POSTED
 *            with status -ECANCELED.
 *   RUNNING  a worker runs fn.  A cancelled awaiter sets `abandoned` and
 *            leaves at once; the worker then frees the job and never
 *            touches the loop again (the loop may be gone by then).
 *   POSTED   fn returned (or the job was dropped) and the completion is in
 *            the loop's cross-thread queue.  Only the awaiter frees it, once
 *            the completion has run (`delivered`); an awaiter cancelled in
 *            this state still waits for that, which is one loop iteration.
 *            This matters because a closing loop drops queued cross-thread
 *            calls without running them: a job reachable only from such a
 *            call would leak, so none is ever left there.
 *
 * So the job has one owner at every moment, and a worker touches a loop
 * only for a job whose awaiter still waits (which keeps the loop alive).
 * The exception is a loop closed while the awaiter is still pending
 * (reported as "destroyed but pending"): on a pool other than the loop's
 * default one, the worker would then post to a freed loop, so such a pool
 * must not outlive, unattended, the tasks waiting on it (ts_run cancels
 * and finishes every task before it closes, which is enough).
 *
 * The pool itself is reference-counted: one reference for its owner, one
 * per job whose awaiter has not finished with it, because a cancelled
 * awaiter locks ex->mu and ts_executor_free may run on another thread
 * meanwhile.  Workers are joined by ts_executor_free; the memory goes with
 * the last reference.
 *
 * A pool belongs to no loop (any loop thread may submit, and it outlives
 * the loop it was made on), so its ts__obj header (objcheck.c) has no
 * loop and is checked for liveness only: ts_executor_free marks it freed
 * at once, and the last reference frees it through ts__obj_free, which in
 * the debug runtime keeps the memory a while so a stale pointer gets
 * TS_EFREED and a report with the creation and free sites.
 *
 * Never: call user code under ex->mu; block a loop thread except in
 * ts_executor_shutdown(wait) / ts_executor_free, which say so.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "tracepoints.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_POSTED };

typedef struct ts__job {
    ts__node node;          /* on ex->queue while QUEUED */
    ts_executor *ex;
    ts_job_fn fn;
    void *arg;
    void *result;           /* written by the worker before the post */
    int status;             /* 0, or -ECANCELED if dropped by shutdown */
    enum job_state state;   /* under ex->mu */
    bool abandoned;         /* under ex->mu: the awaiter left while RUNNING */
    bool delivered;         /* loop thread only: the completion has run */
    ts_loop *loop;          /* the submitting loop */
    ts_task *task;          /* the awaiter */
} ts__job;

struct ts_executor {
    ts__obj obj;             /* first: no loop; creation site, live/freed */
    pthread_mutex_t mu;
    pthread_cond_t work_cv;  /* workers wait here for jobs */
    pthread_cond_t exit_cv;  /* shutdown(wait) waits here for workers */
    ts__node queue;          /* QUEUED jobs, oldest first */
    size_t nqueued;
    unsigned max_threads;
    unsigned nstarted;       /* threads[0..nstarted) were created */
    unsigned nalive;         /* workers that have not exited */
    unsigned nidle;          /* workers waiting on work_cv */
    bool shutdown;
    pthread_t *threads;
    _Atomic unsigned refs;
};

/* The pool a worker thread belongs to, so a job calling
 * ts_executor_free/shutdown(wait) on its own pool does not wait for itself. */
static __thread ts_executor *tls_worker_of;
static _Atomic unsigned next_worker_name;

static void executor_unref(ts_executor *ex) {
    if (atomic_fetch_sub_explicit(&ex->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&ex->mu);
    pthread_cond_destroy(&ex->work_cv);
    pthread_cond_destroy(&ex->exit_cv);
    free(ex->threads);
    ts__obj_free(&ex->obj, ex->obj.freed);
}

/* 0 if ex is live; else TS_EFREED, reported.  Any thread may use a pool. */
static int executor_check(const ts_executor *ex, const char *what,
                          const ts_site *site) {
    return ex->obj.magic == TS__OBJ_LIVE ? 0 : ts__obj_misuse(&ex->obj, what, site);
}

static unsigned default_max_threads(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        cpus = 1;
    return cpus + 4 < 32 ? (unsigned)cpus + 4 : 32;
}

ts_executor *ts_executor_new_at(unsigned nthreads, const ts_site *site) {
    ts_executor *ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ts__obj_init(&ex->obj, NULL, "ts_executor", site);
    ex->max_threads = nthreads ? nthreads : default_max_threads();
    ex->threads = calloc(ex->max_threads, sizeof *ex->threads);
    if (!ex->threads) {
        free(ex);
        return NULL;
    }
    pthread_mutex_init(&ex->mu, NULL);
    pthread_cond_init(&ex->work_cv, NULL);
    pthread_cond_init(&ex->exit_cv, NULL);
    ts__list_init(&ex->queue);
    atomic_init(&ex->refs, 1);
    return ex;
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
ts_executor *(ts_executor_new)(unsigned nthreads) { return ts_executor_new_at(nthreads, NULL); }

void (ts_executor_free)(ts_executor *ex) { ts_executor_free_at(ex, NULL); }

unsigned ts_executor_max_threads(const ts_executor *ex) {
    return ex && ts__obj_readable(&ex->obj, "ts_executor_max_threads") ? ex->max_threads : 0;
}

/* ---- completion -------------------------------------------------------------*/

/* On the submitting loop: tell the awaiter its job is over. */
static void job_deliver(void *arg) {
    ts__job *job = arg;
    job->delivered = true;
    ts__wake(job->task, 0);
}

/* Post a POSTED job's completion; called without ex->mu.  If the loop is
 * closing, its tasks will never run again, so the job and the awaiter's
 * pool reference are released here instead. */
static void job_post(ts__job *job) {
    int err;
    while ((err = ts_call_soon_threadsafe(job->loop, job_deliver, job)) == -ENOMEM) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    if (err) {
        ts_executor *ex = job->ex;
        free(job);
        executor_unref(ex);
    }
}

/* ---- workers ------------------------------------------------------------------*/

/* Take the next job, or NULL once the pool is shut down and drained.
 * Called and returns with ex->mu held. */
static ts__job *next_job(ts_executor *ex) {
    while (ts__list_empty(&ex->queue) && !ex->shutdown) {
        ex->nidle++;
        pthread_cond_wait(&ex->work_cv, &ex->mu);
        ex->nidle--;
    }
    ts__node *n = ts__list_pop_front(&ex->queue);
    if (!n)
        return NULL;
    ex->nqueued--;
    ts__job *job = ts__container_of(n, ts__job, node);
    job->state = JOB_RUNNING;
    return job;
}

static void *worker_main(void *arg) {
    ts_executor *ex = arg;
    char name[16];
    snprintf(name, sizeof name, "ts-worker-%u",
             atomic_fetch_add_explicit(&next_worker_name, 1, memory_order_relaxed) % 100000);
    pthread_setname_np(pthread_self(), name);
    tls_worker_of = ex;

    pthread_mutex_lock(&ex->mu);
    ts__job *job;
    while ((job = next_job(ex))) {
        pthread_mutex_unlock(&ex->mu);
        TS_TRACE_JOB_START(job);
        job->result = job->fn(job->arg);
        TS_TRACE_JOB_DONE(job);
        pthread_mutex_lock(&ex->mu);
        if (job->abandoned) {
            free(job); /* the awaiter has gone and dropped its reference */
            continue;
        }
        job->state = JOB_POSTED;
        pthread_mutex_unlock(&ex->mu);
        job_post(job); /* the awaiter still waits: its loop is alive */
        pthread_mutex_lock(&ex->mu);
    }
    ex->nalive--;
    pthread_cond_broadcast(&ex->exit_cv);
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* Start one more worker; ex->mu held.  Workers block the asynchronous
 * signals so that those go to loop threads; faults stay deliverable. */
static int start_worker(ts_executor *ex) {
    sigset_t all, old;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
                                 SIGABRT, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&ex->threads[ex->nstarted], NULL, worker_main, ex);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    ex->nstarted++;
    ex->nalive++;
    return 0;
}

/* ---- submitting and awaiting ------------------------------------------------------*/

/* Queue job, starting a worker when none is idle for it.  Takes a pool
 * reference for the awaiter on success. */
static int submit(ts_executor *ex, ts__job *job) {
    pthread_mutex_lock(&ex->mu);
    if (ex->shutdown) {
        pthread_mutex_unlock(&ex->mu);
        return -ESHUTDOWN;
    }
    ts__list_push_back(&ex->queue, &job->node);
    ex->nqueued++;
    if (ex->nqueued > ex->nidle && ex->nstarted < ex->max_threads) {
        if (start_worker(ex) && ex->nalive == 0) {
            /* Nobody could ever run it. */
            ts__list_remove(&job->node);
            ex->nqueued--;
            pthread_mutex_unlock(&ex->mu);
            return -ENOMEM; /* out of threads is out of memory here */
        }
    }
    atomic_fetch_add_explicit(&ex->refs, 1, memory_order_relaxed);
    pthread_cond_signal(&ex->work_cv);
    pthread_mutex_unlock(&ex->mu);
    return 0;
}

/* The awaiter was cancelled.  Returns true if the job is now someone
 * else's (or gone), false if it is POSTED and must still be collected. */
static bool job_abandon(ts__job *job) {
    ts_executor *ex = job->ex;
    pthread_mutex_lock(&ex->mu);
    bool gone = true;
    switch (job->state) {
    case JOB_QUEUED:
        ts__list_remove(&job->node);
        ex->nqueued--;
        free(job);
        break;
    case JOB_RUNNING:
        job->abandoned = true;
        break;
    case JOB_POSTED:
        gone = false;
        break;
    }
    pthread_mutex_unlock(&ex->mu);
    return gone;
}

/* The awaiter's side after a cancellation of a POSTED job: its completion
 * is already in the loop's queue, so this is one iteration at most.
 * Further cancel requests change nothing (the first was delivered). */
static void job_collect(ts__job *job, const ts_site *site) {
    while (!job->delivered)
        (void)ts__park(NULL, TS_WAIT_EXECUTOR, job, site);
}

static ts_executor *default_executor(ts_loop *loop) {
    ts_executor *ex = ts__loop_default_executor(loop);
    if (!ex) {
        ex = ts_executor_new_at(0, NULL);
        if (ex)
            ts__loop_set_default_executor(loop, ex);
    }
    return ex;
}

int ts_run_in_executor_at(ts_executor *ex, ts_job_fn fn, void *arg,
                          void **result, const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (!fn)
        return -EINVAL;
    if (ex) {
        int err = executor_check(ex, "ts_run_in_executor", site);
        if (err)
            return err;
    }
    ts_loop *loop = ts__loop();
    if (!ex && !(ex = default_executor(loop)))
        return -ENOMEM;
    ts__job *job = calloc(1, sizeof *job);
    if (!job)
        return -ENOMEM;
    job->ex = ex;
    job->fn = fn;
    job->arg = arg;
    job->loop = loop;
    job->task = self;
    job->state = JOB_QUEUED;
    TS_TRACE_JOB_SUBMIT(job, self);
    int err = submit(ex, job);
    if (err) {
        free(job);
        return err;
    }
    err = ts__park(NULL, TS_WAIT_EXECUTOR, job, site);
    if (err == 0 && job->delivered) {
        err = job->status;
        if (err == 0 && result)
            *result = job->result;
        free(job);
    } else {
        if (!job_abandon(job)) {
            job_collect(job, site);
            free(job);
        }
        err = -ECANCELED;
    }
    executor_unref(ex);
    return err;
}

/* ---- shutdown ----------------------------------------------------------------------*/

/* Drop every queued job; their awaiters get -ECANCELED.  ex->mu held;
 * returns the dropped jobs, to be posted once the lock is released. */
static void drop_queued(ts_executor *ex, ts__node *dropped) {
    ts__node *n;
    while ((n = ts__list_pop_front(&ex->queue))) {
        ts__job *job = ts__container_of(n, ts__job, node);
        job->state = JOB_POSTED;
        job->status = -ECANCELED;
        ts__list_push_back(dropped, &job->node);
    }
    ex->nqueued = 0;
}

int ts_executor_shutdown(ts_executor *ex, int wait, int cancel_pending) {
    if (!ex)
        return -EINVAL;
    int err = executor_check(ex, "ts_executor_shutdown", NULL);
    if (err)
        return err;
    ts__node dropped;
    ts__list_init(&dropped);
    pthread_mutex_lock(&ex->mu);
    ex->shutdown = true;
    if (cancel_pending)
        drop_queued(ex, &dropped);
    pthread_cond_broadcast(&ex->work_cv);
    pthread_mutex_unlock(&ex->mu);

    /* POSTED jobs are owned by their awaiters, which wait for the post. */
    ts__node *n;
    while ((n = ts__list_pop_front(&dropped)))
        job_post(ts__container_of(n, ts__job, node));

    if (wait && tls_worker_of != ex) {
        pthread_mutex_lock(&ex->mu);
        while (ex->nalive > 0)
            pthread_cond_wait(&ex->exit_cv, &ex->mu);
        pthread_mutex_unlock(&ex->mu);
    }
    return 0;
}

/* From one of ex's own jobs the pool cannot wait for, or join, the thread
 * running the call: it is shut down and left allocated. */
void ts_executor_free_at(ts_executor *ex, const ts_site *site) {
    if (!ex || executor_check(ex, "ts_executor_free", site))
        return;
    ts_executor_shutdown(ex, 1, 0);
    if (tls_worker_of == ex)
        return;
    /* Freed for its users from now on; the memory goes with the last
     * reference (executor_unref). */
    ex->obj.magic = TS__OBJ_FREED;
    ex->obj.freed = site;
    /* No worker starts after shutdown, so nstarted is final. */
    pthread_mutex_lock(&ex->mu);
    unsigned n = ex->nstarted;
    pthread_mutex_unlock(&ex->mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(ex->threads[i], NULL);
    executor_unref(ex);
}
