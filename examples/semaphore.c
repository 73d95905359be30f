/*
 * semaphore.c - at most three workers at a time, with a semaphore.
 *
 * Python:
 *     async def worker(semaphore, id):
 *         async with semaphore:
 *             print(f"Worker {id} acquired the semaphore")
 *             await asyncio.sleep(random.uniform(0.5, 2.0))
 *             print(f"Worker {id} released the semaphore")
 *
 *     async def main():
 *         semaphore = asyncio.Semaphore(3)      # at most 3 at once
 *         workers = [worker(semaphore, i) for i in range(10)]
 *         await asyncio.gather(*workers)
 *
 * All ten workers start at once; the semaphore lets three in and queues
 * the rest, first come first served.  The program counts the workers
 * inside the block to show that the limit held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#define NWORKERS 10
#define LIMIT 3

typedef struct pool {
    ts_semaphore *semaphore;
    int inside;       /* workers inside the semaphore's block now */
    int max_inside;   /* the most there ever were */
} pool;

typedef struct worker {
    pool *pool;
    int id;
} worker;

static void *worker_main(void *arg) {
    worker *w = arg;
    pool *p = w->pool;
    int err = 0;
    TS_WITH(&ts_semaphore_cm, p->semaphore, &err) {
        if (++p->inside > p->max_inside)
            p->max_inside = p->inside;
        printf("Worker %d acquired the semaphore\n", w->id);
        err = ts_sleep(0.5 + drand48() * 1.5);   /* uniform(0.5, 2.0) */
        printf("Worker %d released the semaphore\n", w->id);
        p->inside--;
    }
    return err ? ts_fail(err, "worker %d interrupted", w->id) : NULL;
}

static void *amain(void *arg) {
    (void)arg;
    pool p = {.semaphore = ts_semaphore_new(LIMIT)};
    if (!p.semaphore)
        return ts_fail(-ENOMEM, "no semaphore");

    worker workers[NWORKERS];
    ts_task *tasks[NWORKERS];
    for (int i = 0; i < NWORKERS; i++) {
        workers[i] = (worker){.pool = &p, .id = i};
        tasks[i] = ts_spawn(worker_main, &workers[i]);
    }
    /* Collect every outcome (return_exceptions=True) rather than stop at
     * the first failure: the semaphore may only be freed once no task
     * uses it. */
    int errors[NWORKERS] = {0};
    int err = ts_gather(tasks, NWORKERS, NULL, errors);
    for (int i = 0; i < NWORKERS && err == 0; i++)
        err = errors[i];

    printf("max concurrency observed: %d (limit %d)\n", p.max_inside, LIMIT);
    ts_semaphore_free(p.semaphore);
    return err ? ts_fail(err, "a worker failed") : NULL;
}

int main(void) {
    srand48((long)time(NULL) ^ (long)getpid());
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "semaphore: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
