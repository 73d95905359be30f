/*
 * wait_for.c - a time limit on a task with ts_wait_for.
 *
 * Python:
 *     async def long_operation():
 *         await asyncio.sleep(5)
 *         return "operation complete"
 *
 *     async def main():
 *         try:
 *             result = await asyncio.wait_for(long_operation(), timeout=3)
 *             print(result)
 *         except asyncio.TimeoutError:
 *             print("operation timed out")
 *
 * After 3 seconds wait_for cancels the task: its ts_sleep returns
 * -ECANCELED, which the task passes on with ts_fail (like letting
 * CancelledError propagate), and wait_for reports -ETIMEDOUT.  A task that
 * swallowed the cancellation and returned normally would have its own
 * result reported instead, as in Python 3.12.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static void *long_operation(void *arg) {
    (void)arg;
    int err = ts_sleep(5.0);
    if (err)
        return ts_fail(err, "long operation interrupted");
    return "operation complete";
}

static void *amain(void *arg) {
    (void)arg;
    void *result = NULL;
    int err = ts_wait_for(ts_spawn(long_operation, NULL), 3.0, &result);
    if (err == 0)
        printf("%s\n", (const char *)result);
    else if (err == -ETIMEDOUT)
        printf("operation timed out\n");
    else
        return ts_fail(err, "long operation failed");
    return NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "wait_for: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
