/*
 * lock_counter.c - a shared counter protected by a lock.
 *
 * Python:
 *     async def increment_counter(counter, lock):
 *         async with lock:
 *             value = counter["value"]       # read...
 *             await asyncio.sleep(0.1)       # ...suspend...
 *             counter["value"] = value + 1   # ...write back
 *             return counter["value"]
 *
 *     async def main():
 *         counter = {"value": 0}
 *         lock = asyncio.Lock()
 *         tasks = [increment_counter(counter, lock) for _ in range(10)]
 *         results = await asyncio.gather(*tasks)
 *         print(f"Final counter value: {counter['value']}")
 *         print(f"Results from tasks: {results}")
 *
 * The read-suspend-write sequence would lose updates without the lock:
 * every task would read 0 before any wrote.  With it the final value is
 * 10, and since the lock serves waiters first come first served the
 * results are 1..10 in spawn order.
 */
#include <stdint.h>
#include <stdio.h>

#include <taskscope/taskscope.h>

#define NTASKS 10

typedef struct shared_counter {
    ts_lock *lock;
    int value;
} shared_counter;

static void *increment_counter(void *arg) {
    shared_counter *counter = arg;
    int err = 0;
    intptr_t result = 0;
    TS_WITH(&ts_lock_cm, counter->lock, &err) {
        int value = counter->value;
        err = ts_sleep(0.1);   /* some processing while holding the lock */
        if (err)
            break;
        counter->value = value + 1;
        result = counter->value;
    }
    return err ? ts_fail(err, "increment interrupted") : (void *)result;
}

static void *amain(void *arg) {
    (void)arg;
    shared_counter counter = {.lock = ts_lock_new(), .value = 0};
    if (!counter.lock)
        return ts_fail(-ENOMEM, "no lock");

    ts_task *tasks[NTASKS];
    void *results[NTASKS] = {NULL};
    for (int i = 0; i < NTASKS; i++)
        tasks[i] = ts_spawn(increment_counter, &counter);
    /* Collect every outcome (return_exceptions=True) rather than stop at
     * the first failure: the lock may only be freed once no task uses it. */
    int errors[NTASKS] = {0};
    int err = ts_gather(tasks, NTASKS, results, errors);
    ts_lock_free(counter.lock);
    for (int i = 0; i < NTASKS && err == 0; i++)
        err = errors[i];
    if (err)
        return ts_fail(err, "an increment failed");

    printf("Final counter value: %d\n", counter.value);
    printf("Results from tasks: [");
    for (int i = 0; i < NTASKS; i++)
        printf("%s%ld", i ? ", " : "", (long)(intptr_t)results[i]);
    printf("]\n");
    return NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "lock_counter: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
