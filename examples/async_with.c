/*
 * async_with.c - an asynchronous context manager with TS_WITH.
 *
 * Python:
 *     class AsyncResource:
 *         async def __aenter__(self):
 *             print("acquire resource")
 *             await asyncio.sleep(1)       # acquiring takes a while
 *             return self
 *         async def __aexit__(self, exc_type, exc_val, exc_tb):
 *             print("release resource")
 *             await asyncio.sleep(0.5)     # so does releasing
 *         async def process(self):
 *             print("process resource")
 *             await asyncio.sleep(1)
 *
 *     async def main():
 *         async with AsyncResource() as resource:
 *             await resource.process()
 *
 * A context manager is a pair of functions, enter and exit, both allowed to
 * suspend.  TS_WITH runs exit on every way out of the block (its end, a
 * break, a return, an error), so the release cannot be forgotten.
 */
#include <stdio.h>

#include <taskscope/taskscope.h>

typedef struct async_resource {
    int acquired;
} async_resource;

static int resource_enter(void *self) {
    async_resource *r = self;
    printf("acquire resource\n");
    int err = ts_sleep(1.0);
    if (err == 0)
        r->acquired = 1;
    return err;   /* an error here skips the block and exit */
}

/* err is how the block ended; returning it unchanged lets it propagate,
 * as an __aexit__ that returns False does. */
static int resource_exit(void *self, int err) {
    async_resource *r = self;
    printf("release resource\n");
    r->acquired = 0;
    int sleep_err = ts_sleep(0.5);
    return err ? err : sleep_err;
}

static const ts_async_cm async_resource_cm = {resource_enter, resource_exit};

static int resource_process(async_resource *r) {
    (void)r;
    printf("process resource\n");
    return ts_sleep(1.0);
}

static void *amain(void *arg) {
    (void)arg;
    async_resource resource = {0};
    int err = 0;
    TS_WITH(&async_resource_cm, &resource, &err) {
        err = resource_process(&resource);
    }
    return err ? ts_fail(err, "using the resource failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "async_with: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
