/*
 * pitfall_ignored_error.c - pitfall 4: a task fails and nobody notices.
 *
 * Python:
 *     async def main():
 *         # wrong: the task's result and exception are ignored
 *         asyncio.create_task(potentially_failing_coroutine())
 *
 *         # right: keep the task and handle its exception
 *         task = asyncio.create_task(potentially_failing_coroutine())
 *         try:
 *             await task
 *         except Exception as e:
 *             print(f"Task failed: {e}")
 *
 * ts_task_detach is C's way to drop the task ("fire and forget").  If a
 * detached task fails, nobody can ever see the error, so the runtime
 * reports it as asyncio does ("Task exception was never retrieved", on
 * stderr), with the task's name and spawn site.  The program itself goes
 * on as if nothing happened.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static void *potentially_failing_coroutine(void *arg) {
    (void)arg;
    int err = ts_sleep(0.1);
    if (err)
        return ts_fail(err, "interrupted");
    return ts_fail(-ECONNRESET, "connection reset by the server");
}

/* Wrong: the failing task is detached and its error never looked at. */
static void *wrong_main(void *arg) {
    (void)arg;
    ts_task_detach(ts_spawn(potentially_failing_coroutine, NULL));
    int err = ts_sleep(0.5);
    printf("main: done, unaware that the task failed\n");
    return err ? ts_fail(err, NULL) : NULL;
}

/* Right: await the task and handle its error.  ts_await consumes the
 * handle, so an extra reference keeps the task readable for its message. */
static void *right_main(void *arg) {
    (void)arg;
    ts_task *task = ts_spawn(potentially_failing_coroutine, NULL);
    if (!task)
        return ts_fail(-ENOMEM, "spawn failed");
    int err = ts_await(ts_task_ref(task), NULL);
    if (err)
        printf("Task failed: %s (%s)\n", ts_task_error_message(task),
               ts_strerror(err));
    ts_task_unref(task);
    printf("main: done\n");
    return NULL;
}

int main(void) {
    /* Line by line, so our output and the runtime's report on stderr stay
     * in order even when both go to one pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("-- wrong: the task is detached and its error ignored --\n");
    int err = ts_run(wrong_main, NULL);
    printf("runtime diagnosis: %llu task error(s) never retrieved\n",
           (unsigned long long)ts_diag_count(TS_DIAG_ERROR_NEVER_RETRIEVED));

    printf("-- right: the task is awaited and its error handled --\n");
    if (err == 0)
        err = ts_run(right_main, NULL);
    printf("runtime diagnosis: %llu task error(s) never retrieved\n",
           (unsigned long long)ts_diag_count(TS_DIAG_ERROR_NEVER_RETRIEVED));
    if (err) {
        fprintf(stderr, "pitfall_ignored_error: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
