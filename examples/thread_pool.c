/*
 * thread_pool.c - CPU-bound work on a thread pool, awaited from tasks.
 *
 * Python:
 *     def cpu_bound_task(n):
 *         def fib(n):
 *             return n if n <= 1 else fib(n - 1) + fib(n - 2)
 *         return fib(n)
 *
 *     async def main():
 *         with concurrent.futures.ThreadPoolExecutor() as pool:
 *             loop = asyncio.get_running_loop()
 *             nums = [35, 36, 37, 38]
 *             results = await asyncio.gather(
 *                 *[loop.run_in_executor(pool, cpu_bound_task, num)
 *                   for num in nums])
 *             for num, result in zip(nums, results):
 *                 print(f"fib({num}) = {result}")
 *
 * A blocking or CPU-heavy function must not run on the loop's thread: it
 * would freeze every task.  ts_run_in_executor runs it on a worker thread
 * and suspends only the calling task.  Because the call suspends its
 * caller, running four jobs at once takes four tasks; gather awaits them.
 * Unlike Python's threads, which the GIL serialises, these workers really
 * run in parallel.
 */
#include <stdint.h>
#include <stdio.h>

#include <taskscope/taskscope.h>

#define NJOBS 4

static long fib(long n) {
    return n <= 1 ? n : fib(n - 1) + fib(n - 2);
}

/* Runs on a worker thread: it may block, but must not call into the loop. */
static void *cpu_bound_task(void *arg) {
    return (void *)(intptr_t)fib((long)(intptr_t)arg);
}

typedef struct job {
    ts_executor *pool;
    long n;
} job;

/* loop.run_in_executor(pool, cpu_bound_task, num), as a task of its own. */
static void *run_in_pool(void *arg) {
    const job *j = arg;
    void *result = NULL;
    int err = ts_run_in_executor(j->pool, cpu_bound_task,
                                 (void *)(intptr_t)j->n, &result);
    return err ? ts_fail(err, "fib(%ld) failed", j->n) : result;
}

static void *amain(void *arg) {
    (void)arg;
    ts_executor *pool = ts_executor_new(0);   /* ThreadPoolExecutor() */
    if (!pool)
        return ts_fail(-ENOMEM, "no thread pool");

    static const long nums[NJOBS] = {35, 36, 37, 38};
    job jobs[NJOBS];
    ts_task *tasks[NJOBS];
    void *results[NJOBS] = {NULL};
    int errors[NJOBS] = {0};
    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (job){.pool = pool, .n = nums[i]};
        tasks[i] = ts_spawn(run_in_pool, &jobs[i]);
    }
    /* Wait for every job (return_exceptions=True): the pool is freed next. */
    int err = ts_gather(tasks, NJOBS, results, errors);
    for (int i = 0; i < NJOBS && err == 0; i++)
        err = errors[i];

    /* Leaving the `with` block: shut the pool down and join its threads.
     * Every job is finished by now, so this does not block the loop. */
    ts_executor_free(pool);
    if (err)
        return ts_fail(err, "a job failed");

    for (int i = 0; i < NJOBS; i++)
        printf("fib(%ld) = %ld\n", nums[i], (long)(intptr_t)results[i]);
    return NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "thread_pool: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
