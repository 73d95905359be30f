/*
 * prog_why_merge.c - waits of one site whose causes differ, for
 * test_why_merge.py (`taskscope why` merges them into one node, whose
 * children must still add up to it).
 *
 *   "napper"    sleeps 5 ms NAPS times, then an hour, at one site; main
 *               cancels that last sleep (the acceptor of the demo
 *               service: plain timer sleeps and one cancelled)
 *   "watcher"   waits on a pipe at one site, three times with a 5 ms
 *               timeout (a plain thread writes to the pipe; the poll, no
 *               task, wakes it, or the timeout ends the wait), then for
 *               ever: main cancels that wait
 *   "consumer"  gets from queue "jobs" at one site: two items put by
 *               "producer", then main cancels its third get
 *
 * Nothing depends on timing: main cancels each task once the task has
 * set an event just before its last wait (one loop: main runs only after
 * the task has parked in it).  Prints the tasks' ids when done.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

enum { NAPS = 5, WATCHES = 3, ITEMS = 2 };

static ts_event *napped, *watching, *consumed;
static ts_queue *jobs;
static int pipefd[2];

static void *napper_main(void *arg) {
    (void)arg;
    for (int i = 0;; i++) {
        if (i == NAPS)
            ts_event_set(napped);
        if (ts_sleep(i < NAPS ? 0.005 : 3600) == -ECANCELED)
            return NULL;
    }
}

/* A writer the recording knows nothing of: its writes wake the watcher
 * through the loop's poll, with no task as the cause. */
static void *writer_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < WATCHES; i++) {
        if (write(pipefd[1], "x", 1) != 1)
            return NULL;
        usleep(2000);
    }
    return NULL;
}

static void *watcher_main(void *arg) {
    (void)arg;
    for (int i = 0;; i++) {
        if (i == WATCHES)
            ts_event_set(watching);
        int r = ts_wait_fd(pipefd[0], TS_READABLE, i < WATCHES ? 0.005 : TS_FOREVER);
        if (r == -ECANCELED)
            return NULL;
        char buf[16];
        if (r > 0 && read(pipefd[0], buf, sizeof buf) < 0)
            return NULL;
    }
}

static void *producer_main(void *arg) {
    static int items[ITEMS];
    (void)arg;
    for (int i = 0; i < ITEMS; i++) {
        ts_sleep(0.002);
        ts_queue_put(jobs, &items[i]);
    }
    return NULL;
}

static void *consumer_main(void *arg) {
    (void)arg;
    for (int i = 0;; i++) {
        if (i == ITEMS)
            ts_event_set(consumed);
        void *item;
        if (ts_queue_get(jobs, &item) == -ECANCELED)
            return NULL;
    }
}

static void *amain(void *arg) {
    (void)arg;
    napped = ts_event_new_named("napped");
    watching = ts_event_new_named("watching");
    consumed = ts_event_new_named("consumed");
    jobs = ts_queue_new_named(0, "jobs");
    ts_task *n = ts_spawn_named("napper", napper_main, NULL);
    ts_task *w = ts_spawn_named("watcher", watcher_main, NULL);
    ts_task *c = ts_spawn_named("consumer", consumer_main, NULL);
    ts_task *p = ts_spawn_named("producer", producer_main, NULL);
    unsigned long long nid = ts_task_id(n), wid = ts_task_id(w), cid = ts_task_id(c);
    pthread_t th;
    if (pthread_create(&th, NULL, writer_thread, NULL) != 0)
        return NULL;
    ts_event_wait(napped);
    ts_task_cancel(n, "enough naps");
    ts_await(n, NULL);
    ts_event_wait(watching);
    ts_task_cancel(w, "enough watching");
    ts_await(w, NULL);
    ts_event_wait(consumed);
    ts_task_cancel(c, "enough jobs");
    ts_await(c, NULL);
    ts_await(p, NULL);
    pthread_join(th, NULL);
    printf("napper=%llu watcher=%llu consumer=%llu naps=%d watches=%d items=%d\n", nid, wid,
           cid, NAPS, WATCHES, ITEMS);
    return NULL;
}

int main(void) {
    if (pipe(pipefd) != 0) {
        perror("prog_why_merge: pipe");
        return 1;
    }
    int rc = ts_run(amain, NULL) ? 1 : 0;
    close(pipefd[0]);
    close(pipefd[1]);
    return rc;
}
