/*
 * producer_consumer.c - producers and consumers around a bounded queue,
 * cancelled after a while.
 *
 * Python:
 *     async def producer(queue, id):
 *         while True:
 *             item = random.randint(1, 100)
 *             await queue.put(item)
 *             print(f"Producer {id} produced: {item}")
 *             await asyncio.sleep(random.uniform(0.1, 0.5))
 *
 *     async def consumer(queue, id):
 *         while True:
 *             item = await queue.get()
 *             print(f"Consumer {id} consumed: {item}")
 *             await asyncio.sleep(random.uniform(0.2, 0.8))
 *             queue.task_done()
 *
 *     async def main():
 *         queue = asyncio.Queue(maxsize=10)
 *         producers = [asyncio.create_task(producer(queue, i))
 *                      for i in range(3)]
 *         consumers = [asyncio.create_task(consumer(queue, i))
 *                      for i in range(2)]
 *         await asyncio.sleep(5)
 *         for task in producers + consumers:
 *             task.cancel()
 *         await asyncio.gather(*producers, *consumers, return_exceptions=True)
 *
 * The producers outpace the consumers, so the queue fills up and put()
 * starts to wait: the queue's bound is what slows the producers down.
 * Cancellation arrives as -ECANCELED from whichever call each task is
 * suspended in; each task passes it on with ts_fail, so it ends cancelled.
 * At the end main checks that every task was reaped: only main is left.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#define NPRODUCERS 3
#define NCONSUMERS 2

typedef struct worker {
    ts_queue *queue;
    int id;
} worker;

/* random.randint(lo, hi) and random.uniform(lo, hi) */
static long random_int(long lo, long hi) {
    return lo + (long)(drand48() * (double)(hi - lo + 1));
}
static double random_uniform(double lo, double hi) {
    return lo + drand48() * (hi - lo);
}

static void *producer(void *arg) {
    const worker *w = arg;
    for (;;) {
        intptr_t item = random_int(1, 100);
        int err = ts_queue_put(w->queue, (void *)item);
        if (err)
            return ts_fail(err, "producer %d stopped", w->id);
        printf("Producer %d produced: %ld\n", w->id, (long)item);
        err = ts_sleep(random_uniform(0.1, 0.5));
        if (err)
            return ts_fail(err, "producer %d stopped", w->id);
    }
}

static void *consumer(void *arg) {
    const worker *w = arg;
    for (;;) {
        void *item;
        int err = ts_queue_get(w->queue, &item);
        if (err)
            return ts_fail(err, "consumer %d stopped", w->id);
        printf("Consumer %d consumed: %ld\n", w->id, (long)(intptr_t)item);
        err = ts_sleep(random_uniform(0.2, 0.8));   /* processing */
        ts_queue_task_done(w->queue);   /* processed, even if interrupted */
        if (err)
            return ts_fail(err, "consumer %d stopped", w->id);
    }
}

/* Spawn n workers running fn, named e.g. "producer-0". */
static void spawn_workers(ts_queue *queue, worker *workers, ts_task **tasks,
                          int n, const char *role, ts_task_fn fn) {
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s-%d", role, i);
        ts_spawn_opts opts = {.name = name};
        workers[i] = (worker){.queue = queue, .id = i};
        tasks[i] = ts_spawn_with(&opts, fn, &workers[i]);
    }
}

static void *amain(void *arg) {
    (void)arg;
    ts_queue *queue = ts_queue_new(10);
    if (!queue)
        return ts_fail(-ENOMEM, "no queue");

    worker workers[NPRODUCERS + NCONSUMERS];
    ts_task *tasks[NPRODUCERS + NCONSUMERS];
    spawn_workers(queue, workers, tasks, NPRODUCERS, "producer", producer);
    spawn_workers(queue, workers + NPRODUCERS, tasks + NPRODUCERS, NCONSUMERS,
                  "consumer", consumer);

    int err = ts_sleep(5.0);   /* let them run for a while */

    for (int i = 0; i < NPRODUCERS + NCONSUMERS; i++)
        ts_task_cancel(tasks[i], "time is up");
    /* return_exceptions=True: wait for all, collect each outcome. */
    int errors[NPRODUCERS + NCONSUMERS] = {0};
    int gather_err = ts_gather(tasks, NPRODUCERS + NCONSUMERS, NULL, errors);
    if (err == 0)
        err = gather_err;

    int ncancelled = 0;
    for (int i = 0; i < NPRODUCERS + NCONSUMERS; i++)
        ncancelled += errors[i] == -ECANCELED;
    printf("cancelled %d of %d tasks\n", ncancelled, NPRODUCERS + NCONSUMERS);
    printf("items left in the queue: %zu\n", ts_queue_size(queue));
    ts_queue_free(queue);

    ts_task *left[4];
    size_t nleft = ts_all_tasks(NULL, left, 4);
    if (nleft == 1 && left[0] == ts_current_task())
        printf("all tasks reaped: only '%s' is left\n", ts_task_name(left[0]));
    else
        printf("tasks still alive: %zu\n", nleft);
    return err ? ts_fail(err, "producer/consumer failed") : NULL;
}

int main(void) {
    srand48((long)time(NULL) ^ (long)getpid());
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "producer_consumer: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
