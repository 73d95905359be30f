/*
 * async_generator.c - an asynchronous generator consumed with ts_foreach.
 *
 * Python:
 *     async def async_range(stop):
 *         for i in range(stop):
 *             await asyncio.sleep(0.5)     # some asynchronous work
 *             yield i
 *
 *     async def main():
 *         async for i in async_range(5):
 *             print(i)
 *
 * The generator body is a function that hands each value over with
 * ts_yield() and may suspend in between.  It runs as a task of its own,
 * only while its consumer waits for the next value.  ts_yield returns
 * nonzero when the consumer closes the generator early or the task is
 * cancelled; the body then stops, as a Python generator does on
 * GeneratorExit.
 */
#include <stdint.h>
#include <stdio.h>

#include <taskscope/taskscope.h>

static int async_range(ts_gen *self, void *arg) {
    intptr_t stop = (intptr_t)arg;
    for (intptr_t i = 0; i < stop; i++) {
        int err = ts_sleep(0.5);
        if (err)
            return err;
        err = ts_yield(self, (void *)i);
        if (err)
            return err;   /* closed early or cancelled */
    }
    return 0;
}

static void *amain(void *arg) {
    (void)arg;
    ts_gen *gen = ts_gen_new(async_range, (void *)(intptr_t)5);
    if (!gen)
        return ts_fail(-ENOMEM, "no generator");

    ts_foreach(i, gen)
        printf("%ld\n", (long)(intptr_t)i);

    int err = ts_gen_last_error(gen);   /* TS_EOF: the body ran to its end */
    int close_err = ts_gen_close(gen);
    if (err == TS_EOF)
        err = close_err;
    return err ? ts_fail(err, "the generator failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "async_generator: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
