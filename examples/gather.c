/*
 * gather.c - waiting for several tasks at once with ts_gather.
 *
 * Python:
 *     async def fetch_data(url):
 *         print(f"start fetching: {url}")
 *         await asyncio.sleep(2)           # a simulated network request
 *         print(f"done fetching: {url}")
 *         return f"data from {url}"
 *
 *     async def main():
 *         urls = ["https://example.com/1", "https://example.com/2",
 *                 "https://example.com/3"]
 *         results = await asyncio.gather(*[fetch_data(url) for url in urls])
 *         for result in results:
 *             print(result)
 *
 * The three fetches run concurrently (about 2 seconds in all); gather
 * hands the results back in the order the tasks were given, whatever
 * order they finished in.
 */
#include <stdio.h>
#include <stdlib.h>

#include <taskscope/taskscope.h>

#define NURLS 3

static void *fetch_data(void *arg) {
    const char *url = arg;
    printf("start fetching: %s\n", url);
    int err = ts_sleep(2.0);
    if (err)
        return ts_fail(err, "fetching %s interrupted", url);
    printf("done fetching: %s\n", url);

    char *data;
    if (asprintf(&data, "data from %s", url) < 0)
        return ts_fail(-ENOMEM, "no memory for the data of %s", url);
    return data;   /* the result; whoever gathers it frees it */
}

static void *amain(void *arg) {
    (void)arg;
    static const char *urls[NURLS] = {"https://example.com/1",
                                      "https://example.com/2",
                                      "https://example.com/3"};
    ts_task *tasks[NURLS];
    void *results[NURLS] = {NULL};

    for (int i = 0; i < NURLS; i++)
        tasks[i] = ts_spawn(fetch_data, (void *)urls[i]);
    int err = ts_gather(tasks, NURLS, results, NULL);

    for (int i = 0; i < NURLS; i++) {
        if (err == 0)
            printf("%s\n", (char *)results[i]);
        free(results[i]);
    }
    return err ? ts_fail(err, "gather failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "gather: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
