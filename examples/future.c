/*
 * future.c - a future completed by another task.
 *
 * Python:
 *     async def set_future_result(future):
 *         await asyncio.sleep(1)
 *         future.set_result("Future done")
 *
 *     async def main():
 *         future = asyncio.Future()
 *         asyncio.create_task(set_future_result(future))
 *         result = await future
 *         print(result)            # Future done
 *
 * A future is a result that some other code sets later; awaiting it
 * suspends the awaiting task until then.  Awaiting a future does not
 * consume it: its creator frees it.  Unlike Python, C has no garbage
 * collector to reap the helper task, so main awaits it at the end.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static void *set_future_result(void *arg) {
    ts_future *future = arg;
    int err = ts_sleep(1.0);
    if (err)
        return ts_fail(err, "cancelled before completing the future");
    err = ts_future_set_result(future, "Future done");
    return err ? ts_fail(err, "could not complete the future") : NULL;
}

static void *amain(void *arg) {
    (void)arg;
    ts_future *future = ts_future_new();
    if (!future)
        return ts_fail(-ENOMEM, "no future");
    ts_task *setter = ts_spawn(set_future_result, future);

    void *result = NULL;
    int err = ts_future_await(future, &result);
    if (err == 0)
        printf("%s\n", (const char *)result);

    int setter_err = ts_await(setter, NULL);
    ts_future_free(future);
    if (err == 0)
        err = setter_err;
    return err ? ts_fail(err, "future example failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "future: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
