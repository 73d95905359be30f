/*
 * prog_block.c - a traced program whose task blocks its loop, for the
 * tracer's integration tests: `taskscope blocked` must name the task
 * ("freezer"), the duration (>= 300 ms), the system call (nanosleep or
 * clock_nanosleep) and a stack through freeze_the_loop(), the function
 * that called usleep.
 *
 * A second task ticks meanwhile, so the loop has other work the block
 * delays.
 *
 *   prog_block          blocks once for 300 ms and exits
 *   prog_block --hang   prints "freezing pid=N" and blocks for 10 minutes,
 *                       for a test to look at a loop blocked right now
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

/* Not static and never inlined, so it has a frame of its own on the
 * stack the watchdog captures; the empty asm keeps usleep from being a
 * tail call. */
__attribute__((noinline)) void freeze_the_loop(unsigned ms) {
    for (unsigned left = ms; left; left -= left > 500 ? 500 : left)
        usleep((left > 500 ? 500 : left) * 1000);   /* usleep takes < 1 s */
    __asm__ volatile("" ::: "memory");
}

static int stop;
static unsigned freeze_ms = 300;

static void *freezer(void *arg) {
    (void)arg;
    ts_sleep(0.1);
    if (freeze_ms > 300) {
        printf("freezing pid=%d\n", (int)getpid());
        fflush(stdout);
    }
    freeze_the_loop(freeze_ms);
    ts_sleep(0.1);
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!stop)
        ts_sleep(0.02);
    return NULL;
}

static void *amain(void *arg) {
    (void)arg;
    ts_task *tick = ts_spawn_named("ticker", ticker, NULL);
    ts_task *f = ts_spawn_named("freezer", freezer, NULL);
    ts_await(f, NULL);
    stop = 1;
    ts_await(tick, NULL);
    printf("done\n");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--hang"))
        freeze_ms = 600000;
    return ts_run(amain, NULL) ? 1 : 0;
}
