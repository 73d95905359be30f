/*
 * pitfall_blocking_call.c - pitfall 2: a blocking call inside a task
 * freezes the whole loop.
 *
 * Python:
 *     async def main():
 *         time.sleep(1)            # wrong: blocks the whole event loop
 *         await asyncio.sleep(1)   # right
 *
 * All the tasks of a loop share one thread.  sleep(1) (or a blocking
 * read, or a long computation) holds that thread, so no other task runs
 * until it returns; ts_sleep(1.0) suspends only the calling task.
 *
 * To make the freeze visible, a ticker task wakes every 0.1 s and records
 * the longest gap between its ticks.  With the blocking call the gap is
 * at least a second: the loop was frozen.  (The debug runtime's block
 * detector is meant to report such stalls by itself, naming the task and
 * the call; here the ticker measures it by hand.)
 */
#include <stdio.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

#define TICK 0.1
#define FROZEN 0.5   /* a gap this long means the loop did not run */

typedef struct ticker {
    int stop;
    int ticks;
    double max_gap;
} ticker;

static void *ticker_main(void *arg) {
    ticker *t = arg;
    double last = ts_now();
    while (!t->stop) {
        int err = ts_sleep(TICK);
        if (err)
            return ts_fail(err, "ticker interrupted");
        double now = ts_now();
        if (now - last > t->max_gap)
            t->max_gap = now - last;
        last = now;
        t->ticks++;
    }
    return NULL;
}

static int blocking_work(void) {
    sleep(1);   /* wrong: the thread sleeps, and the loop with it */
    return 0;
}

static int cooperative_work(void) {
    return ts_sleep(1.0);   /* right: only this task sleeps */
}

/* Run work in main while the ticker ticks, then report what it saw. */
static int run_beside_ticker(int (*work)(void)) {
    ticker t = {0};
    ts_task *tick_task = ts_spawn(ticker_main, &t);
    int err = ts_sleep(0.3);   /* the ticker gets going */
    if (err == 0)
        err = work();
    if (err == 0)
        err = ts_sleep(0.3);   /* and ticks again afterwards */
    t.stop = 1;
    int tick_err = ts_await(tick_task, NULL);
    if (err)
        return err;
    if (tick_err)
        return tick_err;

    printf("ticker: %d ticks, longest gap %.2f s (expected %.2f s)\n",
           t.ticks, t.max_gap, TICK);
    if (t.max_gap >= FROZEN)
        printf("diagnosis: the loop was frozen for %.2f s: a task blocked "
               "the thread instead of suspending\n", t.max_gap);
    else
        printf("diagnosis: the loop stayed responsive\n");
    return 0;
}

static void *amain(void *arg) {
    (void)arg;
    printf("-- wrong: sleep(1) inside a task --\n");
    int err = run_beside_ticker(blocking_work);
    if (err == 0) {
        printf("-- right: ts_sleep(1.0) --\n");
        err = run_beside_ticker(cooperative_work);
    }
    return err ? ts_fail(err, "the demonstration failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "pitfall_blocking_call: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
