/*
 * pitfall_unbounded.c - pitfall 3: starting as many concurrent operations
 * as there is work, then the fix with a semaphore.
 *
 * Python:
 *     async def main():
 *         # may exhaust resources: every fetch runs at once
 *         tasks = [fetch(url) for url in huge_url_list]
 *         await asyncio.gather(*tasks)
 *
 *         # better: a semaphore bounds the fetches in flight
 *         semaphore = asyncio.Semaphore(10)
 *         async def fetch_with_limit(url):
 *             async with semaphore:
 *                 return await fetch(url)
 *         tasks = [fetch_with_limit(url) for url in huge_url_list]
 *         await asyncio.gather(*tasks)
 *
 * Tasks are cheap, so 10000 of them are fine; what a real fetch holds (a
 * socket, a connection to one server, memory for the response) is not.
 * The simulated fetch counts how many run at the same moment: without a
 * limit all 10000 do, with Semaphore(100) never more than 100.
 */
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

#define NURLS 10000
#define LIMIT 100

typedef struct crawl {
    ts_semaphore *semaphore;
    int in_flight;   /* fetches running now */
    int peak;        /* the most that ever ran at once */
    int done;
} crawl;

/* A simulated request: what matters is how many overlap. */
static int fetch(crawl *c) {
    if (++c->in_flight > c->peak)
        c->peak = c->in_flight;
    int err = ts_sleep(0.01);
    c->in_flight--;
    if (err == 0)
        c->done++;
    return err;
}

static void *fetch_task(void *arg) {
    int err = fetch(arg);
    return err ? ts_fail(err, "fetch interrupted") : NULL;
}

static void *fetch_with_limit(void *arg) {
    crawl *c = arg;
    int err = 0;
    TS_WITH(&ts_semaphore_cm, c->semaphore, &err) {
        err = fetch(c);
    }
    return err ? ts_fail(err, "fetch interrupted") : NULL;
}

/* One task per URL running fn, all gathered. */
static int crawl_all(crawl *c, ts_task_fn fn) {
    ts_task **tasks = calloc(NURLS, sizeof *tasks);
    int *errors = calloc(NURLS, sizeof *errors);
    if (!tasks || !errors) {
        free(tasks);
        free(errors);
        return -ENOMEM;
    }
    for (int i = 0; i < NURLS; i++)
        tasks[i] = ts_spawn(fn, c);
    int err = ts_gather(tasks, NURLS, NULL, errors);
    for (int i = 0; i < NURLS && err == 0; i++)
        err = errors[i];
    free(tasks);
    free(errors);
    printf("%d fetches done, peak concurrent fetches: %d\n", c->done, c->peak);
    return err;
}

static void *amain(void *arg) {
    (void)arg;
    printf("-- wrong: %d fetches at once --\n", NURLS);
    crawl unbounded = {0};
    int err = crawl_all(&unbounded, fetch_task);

    if (err == 0) {
        printf("-- right: a semaphore lets %d fetch at once --\n", LIMIT);
        crawl bounded = {.semaphore = ts_semaphore_new(LIMIT)};
        if (!bounded.semaphore)
            return ts_fail(-ENOMEM, "no semaphore");
        err = crawl_all(&bounded, fetch_with_limit);
        ts_semaphore_free(bounded.semaphore);
    }
    return err ? ts_fail(err, "crawl failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "pitfall_unbounded: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
