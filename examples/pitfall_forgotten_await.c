/*
 * pitfall_forgotten_await.c - pitfall 1: starting work and never waiting
 * for it.
 *
 * Python:
 *     async def main():
 *         asyncio.sleep(1)        # wrong: a coroutine is made, never run
 *         await asyncio.sleep(1)  # right
 *
 * In C a suspending call cannot be left un-awaited: ts_sleep(1.0) simply
 * suspends.  The C form of the mistake is a spawned task whose handle
 * nobody awaits.  Here main returns without waiting, so the task never
 * gets to run at all (ts_run cancels what is left when main ends), just as
 * the un-awaited coroutine never runs in Python; a task that had started
 * would be cut off half-way.  Either way its result and errors go nowhere.
 * When the loop closes, the runtime reports every handle that was never
 * given up ("never awaited", on stderr) with the task's spawn site, which
 * points straight at the line to fix.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static void *save_report(void *arg) {
    (void)arg;
    printf("saving the report\n");
    int err = ts_sleep(1.0);
    if (err)
        return ts_fail(err, "report not saved");
    printf("report saved\n");
    return NULL;
}

/* Wrong: the handle is kept in a variable and never awaited. */
static void *wrong_main(void *arg) {
    (void)arg;
    ts_task *report = ts_spawn(save_report, NULL);  /* never awaited */
    (void)report;
    printf("main: done\n");
    return NULL;
}

/* Right: await it (or ts_task_detach it, to say "fire and forget"). */
static void *right_main(void *arg) {
    (void)arg;
    ts_task *report = ts_spawn(save_report, NULL);
    int err = ts_await(report, NULL);
    printf("main: done\n");
    return err ? ts_fail(err, "saving the report failed") : NULL;
}

int main(void) {
    /* Line by line, so our output and the runtime's report on stderr stay
     * in order even when both go to one pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("-- wrong: the task is spawned and never awaited --\n");
    int err = ts_run(wrong_main, NULL);
    printf("runtime diagnosis: %llu task(s) never awaited\n",
           (unsigned long long)ts_diag_count(TS_DIAG_NEVER_AWAITED));

    printf("-- right: the task is awaited --\n");
    if (err == 0)
        err = ts_run(right_main, NULL);
    printf("runtime diagnosis: %llu task(s) never awaited\n",
           (unsigned long long)ts_diag_count(TS_DIAG_NEVER_AWAITED));
    if (err) {
        fprintf(stderr, "pitfall_forgotten_await: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
