/*
 * fork.c - a forked child of a traced program is traced on its own.
 *
 * fork() copies the calling thread only, and every mapping, the parent's
 * trace segment included.  What the child must not keep of its parent,
 * and what it gets instead:
 *   - the segment and the rings: ring.c's and intern.c's atfork handlers
 *     forget them (the child makes its own segment, with its own strings);
 *   - the loop slots, which live in the parent's segment: forgotten here
 *     (emit.c), and the forking thread's loop, if it has one, is
 *     registered in the child's own segment at once, with the step that
 *     was running at the fork still running, so the child's own watchdog
 *     (started with its segment) times it: a child that blocks right
 *     after fork, inside the same task step, is caught;
 *   - the names: a state dump of the child's loop is owed at its next
 *     iteration, so the tasks it inherited are named in its recording;
 *   - `taskscope run`'s TASKSCOPE_WAIT_READER_MS, which the environment
 *     hands down: it is for the process the tracer started and is
 *     waiting for, so a forked child waits only if the tracer follows
 *     forks (TASKSCOPE_FOLLOW_FORKS=1, set by `taskscope run`), and
 *     otherwise never (ring.c asks ts__trace_forked/ts__trace_followed).
 *
 * The handler runs in the child, single-threaded, before fork() returns.
 * It starts a thread there, which allocates: fork() waited for the
 * parent's watchdog to be asleep (watchdog.c), so no lock of an
 * allocator that does not guard itself around fork (ASan's) was held.
 * It must stay cheap when the forking thread runs no loop (a helper
 * thread forking workers, procpool.c): then it does nothing, and the
 * child makes its segment lazily, like any process, if it ever traces.
 * posix_spawn (subprocess.c) runs no atfork handler at all.  A task that
 * calls fork() and then exec() pays for a segment it will not use (a
 * mapping and the 2 ms clock calibration; under a following `taskscope
 * run`, the wait for its follower too): the price of catching a child
 * that blocks before its first trace point.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../internal.h"
#include "trace.h"

/* The pid that loaded the runtime: a different getpid() means we are a
 * forked child (an exec starts over with a fresh copy of this). */
static pid_t loaded_pid;

__attribute__((constructor)) static void note_loaded_pid(void) { loaded_pid = getpid(); }

bool ts__trace_forked(void) { return loaded_pid && getpid() != loaded_pid; }

/* `taskscope run` follows forks and says so in the environment it gives
 * the program (tracer/follow.h): a child's reader is then on its way. */
bool ts__trace_followed(void) {
    const char *e = getenv("TASKSCOPE_FOLLOW_FORKS");
    return e && !strcmp(e, "1");
}

static void child_after_fork(void) {
    ts__tr_loops_after_fork();
    ts_loop *l = ts__loop();
    if (l && !l->closing)
        ts__tr_loop_rejoin(l, ts__current());
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Registered after ring.c's and intern.c's handlers (a loop's thread
 * has a ring, and interned its name, before its loop is announced), so
 * ours runs after them and finds the segment forgotten. */
static void register_handler(void) { pthread_atfork(NULL, NULL, child_after_fork); }

void ts__fork_watch(void) { pthread_once(&once, register_handler); }
