/*
 * say_after.c - running coroutines one after the other, then concurrently.
 *
 * Python:
 *     async def say_after(delay, message):
 *         await asyncio.sleep(delay)
 *         print(message)
 *
 *     async def main():                      # serial: about 3 seconds
 *         print(f"started at {time.strftime('%X')}")
 *         await say_after(1, "hello")
 *         await say_after(2, "world")
 *         print(f"finished at {time.strftime('%X')}")
 *
 *     async def main():                      # concurrent: about 2 seconds
 *         task1 = asyncio.create_task(say_after(1, "hello"))
 *         task2 = asyncio.create_task(say_after(2, "world"))
 *         await task1
 *         await task2
 *
 * In C, `await say_after(...)` is simply a call: say_after suspends the
 * task that calls it.  Concurrency comes from spawning tasks, exactly as
 * asyncio.create_task does.
 */
#include <stdio.h>
#include <time.h>

#include <taskscope/taskscope.h>

typedef struct saying {
    double delay;
    const char *message;
} saying;

static void *say_after(void *arg) {
    const saying *s = arg;
    int err = ts_sleep(s->delay);
    if (err)
        return ts_fail(err, "interrupted before saying '%s'", s->message);
    printf("%s\n", s->message);
    return NULL;
}

/* time.strftime('%X') */
static void print_clock(const char *what) {
    char buf[64];
    time_t now = time(NULL);
    strftime(buf, sizeof buf, "%X", localtime(&now));
    printf("%s at %s\n", what, buf);
}

static void *serial(void *arg) {
    (void)arg;
    saying hello = {1.0, "hello"}, world = {2.0, "world"};
    print_clock("started");
    say_after(&hello);            /* await say_after(1, "hello") */
    say_after(&world);            /* await say_after(2, "world") */
    print_clock("finished");
    return NULL;
}

static void *concurrent(void *arg) {
    (void)arg;
    saying hello = {1.0, "hello"}, world = {2.0, "world"};
    print_clock("started");
    ts_task *task1 = ts_spawn(say_after, &hello);
    ts_task *task2 = ts_spawn(say_after, &world);
    /* Both tasks sleep at the same time, so this takes 2 seconds, not 3.
     * Await both even if the first fails: each handle must be given up. */
    int err1 = ts_await(task1, NULL);
    int err2 = ts_await(task2, NULL);
    print_clock("finished");
    int err = err1 ? err1 : err2;
    return err ? ts_fail(err, "a saying failed") : NULL;
}

int main(void) {
    printf("-- serial --\n");
    int err = ts_run(serial, NULL);
    if (err == 0) {
        printf("-- concurrent --\n");
        err = ts_run(concurrent, NULL);
    }
    if (err) {
        fprintf(stderr, "say_after: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
