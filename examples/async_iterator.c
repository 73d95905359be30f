/*
 * async_iterator.c - an asynchronous iterator: an object whose "next"
 * suspends.
 *
 * Python:
 *     class AsyncCounter:
 *         def __init__(self, stop):
 *             self.current = 0
 *             self.stop = stop
 *         def __aiter__(self):
 *             return self
 *         async def __anext__(self):
 *             if self.current < self.stop:
 *                 await asyncio.sleep(0.5)   # some asynchronous work
 *                 self.current += 1
 *                 return self.current - 1
 *             raise StopAsyncIteration
 *
 *     async def main():
 *         async for i in AsyncCounter(5):
 *             print(i)
 *
 * In C the iterator is a struct and __anext__ a function that may suspend
 * and returns 0 with the next value, TS_EOF at the end (StopAsyncIteration)
 * or an error; `async for` becomes a while loop over it.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

typedef struct async_counter {
    int current;
    int stop;
} async_counter;

/* __anext__: suspends for the asynchronous work, then hands out a value. */
static int async_counter_next(async_counter *c, int *value) {
    if (c->current >= c->stop)
        return TS_EOF;
    int err = ts_sleep(0.5);
    if (err)
        return err;
    c->current++;
    *value = c->current - 1;
    return 0;
}

static void *amain(void *arg) {
    (void)arg;
    async_counter counter = {.current = 0, .stop = 5};
    int i, err;
    while ((err = async_counter_next(&counter, &i)) == 0)
        printf("%d\n", i);
    return err == TS_EOF ? NULL : ts_fail(err, "iteration failed");
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "async_iterator: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
