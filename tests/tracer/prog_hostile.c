/*
 * prog_hostile.c - a traced program whose task names and messages are
 * hostile to terminals and JSON, for test_hostile.py: ESC sequences (SGR,
 * OSC 52 clipboard write, clear screen), C1 controls, bytes that are not
 * UTF-8, newlines and tabs that would break a table, quotes and
 * backslashes, and a 64 KiB name.
 *
 * Some tasks finish (one fails, one is cancelled with a hostile message),
 * some stay suspended on a lock, one blocks the loop for 150 ms, so every
 * report has rows that carry the names.
 *
 *   prog_hostile          does all that and exits 0
 *   prog_hostile --hang   then prints "hostile pid=N" and sleeps, for a
 *                         live `taskscope ps PID`
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static const char *const NAMES[] = {
    "\x1b[31mred\x1b[0m",
    "\x1b]52;c;aGVsbG8=\x07osc",
    "\x1b[2J\x1b[Hclear",
    "\xc2\x9b" "31mc1-csi",
    "bad\xff\xfeutf8",
    "cut\xe2\x9c",
    "line1\nline2",
    "tab\there\rcr",
    "quote\"back\\slash",
    "bell\x07" "del\x7f",
};

static ts_lock *lock;
static char *huge;

static void *sleeper(void *arg) {
    (void)arg;
    if (ts_lock_acquire(lock))
        return NULL;
    ts_sleep(3600);
    return NULL;
}

static void *finisher(void *arg) {
    (void)arg;
    ts_sleep(0.01);
    return NULL;
}

static void *failer(void *arg) {
    (void)arg;
    return ts_fail(-EIO, "\x1b[31mfailed\x1b[0m \xff with\nnewline");
}

static void *blocker(void *arg) {
    (void)arg;
    usleep(150 * 1000);    /* blocks the loop: a blocked episode, a warning */
    return NULL;
}

static void *amain(void *arg) {
    int hang = arg != NULL;
    lock = ts_lock_new();
    size_t n = sizeof NAMES / sizeof NAMES[0];
    ts_task *live[16], *done[16];
    for (size_t i = 0; i < n; i++) {
        live[i] = ts_spawn_named(NAMES[i], sleeper, NULL);
        done[i] = ts_spawn_named(NAMES[i], finisher, NULL);
    }
    huge = malloc(65537);
    memset(huge, 'H', 65536);
    memcpy(huge + 100, "\x1b[31m", 5);
    huge[65536] = 0;
    ts_task *big = ts_spawn_named(huge, finisher, NULL);
    ts_task *bad = ts_spawn_named("\x1b]0;title\x07" "failer", failer, NULL);
    ts_task *blk = ts_spawn_named("blocker\x1b[5m", blocker, NULL);
    ts_sleep(0.3);
    ts_await(big, NULL);
    ts_await(bad, NULL);
    ts_await(blk, NULL);
    for (size_t i = 0; i < n; i++)
        ts_await(done[i], NULL);
    ts_task_cancel(live[0], "\x1b[31mcancel\x1b[0m\n\xff");
    if (hang) {
        printf("hostile pid=%d\n", (int)getpid());
        fflush(stdout);
        ts_sleep(3600);
    }
    ts_sleep(0.05);
    for (size_t i = 1; i < n; i++)
        ts_task_cancel(live[i], NULL);
    ts_sleep(0.05);
    printf("done\n");
    return NULL;
}

int main(int argc, char **argv) {
    int hang = argc > 1 && !strcmp(argv[1], "--hang");
    int rc = ts_run(amain, hang ? (void *)1 : NULL) ? 1 : 0;
    free(huge);
    return rc;
}
