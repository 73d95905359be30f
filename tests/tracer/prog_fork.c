/*
 * prog_fork.c - a traced program that forks, for the tests of issue 13
 * point 8: a forked child is traced on its own (its own segment,
 * watchdog and names) and never waits for a reader meant for its parent.
 *
 *   prog_fork before FILE   forks in main(), before any loop; the child
 *                           runs a loop of its own
 *   prog_fork inside FILE   forks inside the task "forker"; the child
 *                           goes on in that task, on the loop it inherited
 *   prog_fork both FILE     both: a child forked before the loop, then one
 *                           forked inside "forker" (two children)
 *
 * Either way the child blocks its loop for 300 ms in the task "forker"
 * (inside: in the very step that called fork), prints "child pid=N
 * blocked", then waits (suspended) until FILE exists, and exits 0.  The
 * parent waits for its children and prints "child exit N" for each.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <taskscope/taskscope.h>

static const char *file;
static pid_t parent_pid;

__attribute__((noinline)) void freeze_the_loop(unsigned ms) {
    usleep(ms * 1000);
    __asm__ volatile("" ::: "memory");
}

/* The child's part, in a task: the blocking step has already begun. */
static void child_rest(void) {
    freeze_the_loop(300);
    printf("child pid=%d blocked\n", (int)getpid());
    fflush(stdout);
    struct stat st;
    for (int i = 0; i < 20 * 300 && stat(file, &st) != 0; i++)
        ts_sleep(0.05);
}

static void *forker(void *arg) {
    if (!arg) /* before: we are the child already */
        child_rest();
    else if (fork() == 0)
        child_rest();
    return NULL;
}

static void wait_child(void) {
    int status = 0;
    pid_t got;
    while ((got = waitpid(-1, &status, WNOHANG)) == 0)
        ts_sleep(0.02);
    printf("child exit %d\n", got > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    fflush(stdout);
}

static void *child_main(void *arg) {
    (void)arg;
    ts_await(ts_spawn_named("forker", forker, NULL), NULL);
    return NULL;
}

static int children = 1;

static void *parent_main(void *inside) {
    if (inside) {
        ts_await(ts_spawn_named("forker", forker, inside), NULL);
        if (getpid() != parent_pid)
            return NULL; /* the child, done */
    }
    for (int i = 0; i < children; i++)
        wait_child();
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: prog_fork before|inside|both FILE\n");
        return 2;
    }
    file = argv[2];
    parent_pid = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0);
    int both = argv[1][0] == 'b' && argv[1][1] == 'o';
    if (argv[1][0] == 'b') {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            return ts_run(child_main, NULL) ? 1 : 0;
        children = 1 + both;
        return ts_run(parent_main, (void *)(intptr_t)both) ? 1 : 0;
    }
    return ts_run(parent_main, (void *)1) ? 1 : 0;
}
