/*
 * hello_world.c - the tutorial's first coroutine, run directly and then
 * as a task.
 *
 * Python:
 *     async def hello_world():
 *         print("Hello")
 *         await asyncio.sleep(1)   # give up control for one second
 *         print("World")
 *
 *     asyncio.run(hello_world())
 *
 *     async def main():
 *         task = asyncio.create_task(hello_world())
 *         await task
 *
 *     asyncio.run(main())
 *
 * A taskscope task is a plain C function running on its own stack; a
 * suspending call such as ts_sleep() parks this task only, the way
 * `await asyncio.sleep()` does, and the loop runs the other tasks meanwhile.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

static void *hello_world(void *arg) {
    (void)arg;
    printf("Hello\n");
    ts_sleep(1.0);
    printf("World\n");
    return NULL;
}

/* create_task + await: the task is a handle we own and give up by awaiting. */
static void *amain(void *arg) {
    (void)arg;
    ts_task *task = ts_spawn(hello_world, NULL);
    int err = ts_await(task, NULL);
    return err ? ts_fail(err, "hello_world failed") : NULL;
}

int main(void) {
    int err = ts_run(hello_world, NULL);   /* asyncio.run(hello_world()) */
    if (err == 0)
        err = ts_run(amain, NULL);         /* asyncio.run(main()) */
    if (err) {
        fprintf(stderr, "hello_world: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
