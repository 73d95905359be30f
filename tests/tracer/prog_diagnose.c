/*
 * prog_diagnose.c - misbehaving programs for issue 15's warnings, one per
 * mode; each prints "ready pid=N" once the misbehaviour is in place and
 * then (but busyyield and starve, which end) runs until killed, with an
 * unrelated ticker task waking every 100 ms so that the loop is never
 * idle: every finding must be made per task, while other tasks run.
 *
 *   cycle3      "consumer" holds lock "state" and waits on queue "jobs";
 *               "producer" waits on event "go" before it puts again;
 *               "starter" waits on lock "state" before it sets "go": a
 *               cycle through a lock, a queue and an event (each edge
 *               known from what the tasks did before: who put, who set)
 *   deadholder  "holder" takes lock "state" and is cancelled without
 *               releasing it; "taker" takes the only permit of semaphore
 *               "slots" and returns; "waiter" and "waiter2" wait on them
 *   orphan      "maker" makes future "reply", hands it over and returns;
 *               "awaiter" awaits it
 *   selfwake    "lonely" sets event "done", clears it, and waits on it
 *   mixed       "asker" holds the one permit of semaphore "pool" and
 *               awaits future "answer", which "answerer" made; the
 *               answerer waits for the permit: a cycle through a
 *               semaphore and a future
 *   busyyield   "poller" does nothing but look at a flag and ts_sleep(0),
 *               for 2.5 s
 *   starve      5000 tasks each burn ~50us then ts_sleep(0), 6 rounds:
 *               every task waits for the other 4999 (lag ~250 ms)
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static ts_lock *state;
static ts_queue *jobs;
static ts_event *go;
static ts_semaphore *slots;
static ts_future *reply;

static void ready(void) {
    printf("ready pid=%d\n", (int)getpid());
    fflush(stdout);
}

static void *ticker(void *arg) {
    (void)arg;
    for (;;)
        if (ts_sleep(0.1))
            return NULL;
}

/* ---- cycle3 ---- */
static void *consumer(void *arg) {
    (void)arg;
    void *item;
    ts_queue_get(jobs, &item);       /* the producer's first item */
    ts_lock_acquire(state);
    ts_queue_get(jobs, &item);       /* waits: the producer waits on "go" */
    return NULL;
}

static void *producer(void *arg) {
    (void)arg;
    ts_event_wait(go);               /* set by the starter at once */
    ts_event_clear(go);
    ts_queue_put(jobs, "first");
    ts_event_wait(go);               /* waits: the starter waits on "state" */
    ts_queue_put(jobs, "second");
    return NULL;
}

static void *starter(void *arg) {
    (void)arg;
    ts_event_set(go);
    ts_sleep(0.05);
    ts_lock_acquire(state);          /* waits: the consumer holds it */
    ts_event_set(go);
    return NULL;
}

/* ---- deadholder ---- */
static void *holder(void *arg) {
    (void)arg;
    ts_lock_acquire(state);
    ts_sleep(3600);                  /* cancelled here: returns, lock held */
    return NULL;
}

static void *taker(void *arg) {
    (void)arg;
    ts_semaphore_acquire(slots);     /* and never released */
    return NULL;
}

static void *lock_waiter(void *arg) {
    (void)arg;
    ts_lock_acquire(state);
    return NULL;
}

static void *slot_waiter(void *arg) {
    (void)arg;
    ts_semaphore_acquire(slots);
    return NULL;
}

/* ---- orphan ---- */
static void *maker(void *arg) {
    (void)arg;
    reply = ts_future_new_named("reply");
    return NULL;                     /* and nobody will complete it */
}

static void *awaiter(void *arg) {
    (void)arg;
    ts_future_await(reply, NULL);
    return NULL;
}

/* ---- selfwake ---- */
static void *lonely(void *arg) {
    (void)arg;
    ts_event_set(go);
    ts_event_clear(go);
    ts_event_wait(go);               /* only it ever sets "done" */
    return NULL;
}

/* ---- mixed ---- */
static ts_semaphore *pool;
static ts_future *answer;

static void *asker(void *arg) {
    (void)arg;
    ts_semaphore_acquire(pool);
    ts_sleep(0.02);                  /* the answerer has made the future */
    ts_future_await(answer, NULL);   /* waits: the answerer waits on pool */
    ts_semaphore_release(pool);
    return NULL;
}

static void *answerer(void *arg) {
    (void)arg;
    answer = ts_future_new_named("answer");
    ts_sleep(0.05);
    ts_semaphore_acquire(pool);      /* waits: the asker holds the permit */
    ts_future_set_result(answer, "42");
    return NULL;
}

/* ---- busyyield ---- */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls a flag nobody sets: a few microseconds of looking, then
 * sleep(0), for 2.5 s (the look keeps the event rate within what the
 * recorder drains, even under a sanitizer). */
static void *poller(void *arg) {
    (void)arg;
    double end = now() + 2.5;
    while (now() < end) {
        double look = now() + 20e-6;
        while (now() < look)
            ;
        ts_sleep(0);
    }
    return NULL;
}

/* ---- starve ---- */
static void *burner(void *arg) {
    (void)arg;
    for (int round = 0; round < 6; round++) {
        double end = now() + 50e-6;
        while (now() < end)
            ;
        ts_sleep(0);
    }
    return NULL;
}

enum { BURNERS = 5000 };
static ts_task *burners[BURNERS];

static void *amain(void *arg) {
    const char *mode = arg;
    if (strcmp(mode, "busyyield") && strcmp(mode, "starve"))
        ts_spawn_named("ticker", ticker, NULL);
    if (!strcmp(mode, "cycle3")) {
        state = ts_lock_new_named("state");
        jobs = ts_queue_new_named(0, "jobs");
        go = ts_event_new_named("go");
        ts_spawn_named("consumer", consumer, NULL);
        ts_spawn_named("producer", producer, NULL);
        ts_spawn_named("starter", starter, NULL);
    } else if (!strcmp(mode, "deadholder")) {
        state = ts_lock_new_named("state"); /* the dead holder's */
        slots = ts_semaphore_new_named(1, "slots");
        ts_task *h = ts_spawn_named("holder", holder, NULL);
        ts_spawn_named("taker", taker, NULL);
        ts_sleep(0.05);
        ts_task_cancel(h, "holder cancelled");
        ts_spawn_named("waiter", lock_waiter, NULL);
        ts_spawn_named("waiter2", slot_waiter, NULL);
    } else if (!strcmp(mode, "orphan")) {
        ts_task *m = ts_spawn_named("maker", maker, NULL);
        ts_await(m, NULL);
        ts_spawn_named("awaiter", awaiter, NULL);
    } else if (!strcmp(mode, "selfwake")) {
        go = ts_event_new_named("done");
        ts_spawn_named("lonely", lonely, NULL);
    } else if (!strcmp(mode, "mixed")) {
        pool = ts_semaphore_new_named(1, "pool");
        ts_spawn_named("answerer", answerer, NULL);
        ts_spawn_named("asker", asker, NULL);
    } else if (!strcmp(mode, "busyyield")) {
        ready();
        ts_task *p = ts_spawn_named("poller", poller, NULL);
        ts_await(p, NULL);
        printf("finished\n");
        return NULL;
    } else if (!strcmp(mode, "starve")) {
        ready();
        for (int i = 0; i < BURNERS; i++)
            burners[i] = ts_spawn_named("burner", burner, NULL);
        ts_gather(burners, BURNERS, NULL, NULL);
        printf("finished\n");
        return NULL;
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return NULL;
    }
    ts_sleep(0.3);
    ready();
    for (;;)
        ts_sleep(3600);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: prog_diagnose cycle3|deadholder|orphan|selfwake|mixed|busyyield|starve\n");
        return 2;
    }
    return ts_run(amain, argv[1]) ? 1 : 0;
}
