/*
 * process_pool.c - CPU-bound work on a pool of worker processes.
 *
 * Python:
 *     def cpu_bound_task(n):
 *         def fib(n):
 *             return n if n <= 1 else fib(n - 1) + fib(n - 2)
 *         return fib(n)
 *
 *     async def main():
 *         with concurrent.futures.ProcessPoolExecutor() as pool:
 *             loop = asyncio.get_running_loop()
 *             nums = [35, 36, 37, 38]
 *             results = await asyncio.gather(
 *                 *[loop.run_in_executor(pool, cpu_bound_task, num)
 *                   for num in nums])
 *             for num, result in zip(nums, results):
 *                 print(f"fib({num}) = {result}")
 *
 * The same program as thread_pool.c with processes: each job runs in a
 * forked worker, so a crash in it cannot take the program down (the job
 * fails with -ECHILD and the worker is replaced).  As with Python's
 * pickling, the argument and the result travel between the processes as
 * bytes, so the job function reads its argument from a buffer and returns
 * a malloc'd result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <taskscope/taskscope.h>

#define NJOBS 4

static long fib(long n) {
    return n <= 1 ? n : fib(n - 1) + fib(n - 2);
}

/* Runs in a worker process, outside any loop. */
static int cpu_bound_task(const void *arg, size_t arg_len, void **result,
                          size_t *result_len) {
    long n;
    if (arg_len != sizeof n)
        return -EINVAL;
    memcpy(&n, arg, sizeof n);
    long *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    *r = fib(n);
    *result = r;
    *result_len = sizeof *r;
    return 0;
}

typedef struct job {
    ts_procpool *pool;
    long n;
    long result;
} job;

/* loop.run_in_executor(pool, cpu_bound_task, num), as a task of its own. */
static void *run_in_pool(void *arg) {
    job *j = arg;
    void *result = NULL;
    size_t len = 0;
    int err = ts_procpool_run(j->pool, cpu_bound_task, &j->n, sizeof j->n,
                              &result, &len);
    if (err == -ECHILD)   /* the worker died; say how */
        return ts_fail(err, "fib(%ld): %s", j->n,
                       ts_procpool_last_error(j->pool));
    if (err == 0 && len != sizeof j->result)
        err = -EPROTO;
    if (err == 0)
        memcpy(&j->result, result, sizeof j->result);
    free(result);
    return err ? ts_fail(err, "fib(%ld) failed", j->n) : NULL;
}

static void *amain(void *arg) {
    (void)arg;
    ts_procpool *pool;
    int err = ts_procpool_new(0, &pool);   /* ProcessPoolExecutor() */
    if (err)
        return ts_fail(err, "no process pool");

    static const long nums[NJOBS] = {35, 36, 37, 38};
    job jobs[NJOBS];
    ts_task *tasks[NJOBS];
    int errors[NJOBS] = {0};
    for (int i = 0; i < NJOBS; i++) {
        jobs[i] = (job){.pool = pool, .n = nums[i]};
        tasks[i] = ts_spawn(run_in_pool, &jobs[i]);
    }
    /* Wait for every job (return_exceptions=True): the pool is freed next. */
    err = ts_gather(tasks, NJOBS, NULL, errors);
    for (int i = 0; i < NJOBS && err == 0; i++)
        err = errors[i];

    ts_procpool_free(pool);   /* leaving the `with` block */
    if (err)
        return ts_fail(err, "a job failed");

    for (int i = 0; i < NJOBS; i++)
        printf("fib(%ld) = %ld\n", jobs[i].n, jobs[i].result);
    return NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "process_pool: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
