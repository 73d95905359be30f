/*
 * taskscope/process.h - subprocesses (asyncio.create_subprocess_exec).
 *
 *     char *argv[] = {"sort", NULL};
 *     ts_process_opts o = {.stdin_mode = TS_STDIO_PIPE,
 *                          .stdout_mode = TS_STDIO_PIPE};
 *     ts_process *p;
 *     int err = ts_process_spawn("sort", argv, &o, &p);
 *     char *out; size_t n; int rc;
 *     err = ts_process_communicate(p, "b\na\n", 4, &out, &n, NULL, NULL);
 *     err = ts_process_wait(p, &rc);          // rc: exit code, or -signal
 *     ts_process_free(p);
 *
 * The child is started with posix_spawn: every descriptor taskscope opens
 * is close-on-exec, and the child closes every other descriptor but its
 * three standard streams (unless opts.inherit_fds is set).  Its signal mask
 * is empty and every signal has its default disposition.  The parent's
 * ends of pipes are non-blocking; reading and writing them suspends only
 * the calling task.  The exit is awaited through a pidfd where the kernel
 * has them (Linux 5.3), else through SIGCHLD on a signalfd (signals.h);
 * TASKSCOPE_CHILD_WAIT=pidfd|sigchld forces one.  Only this process's own
 * children are ever reaped, each by its ts_process.
 */
#ifndef TASKSCOPE_PROCESS_H
#define TASKSCOPE_PROCESS_H

#include <sys/types.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_process ts_process;

/* Where one of the child's standard streams goes. */
typedef enum ts_stdio {
    TS_STDIO_INHERIT = 0, /* the parent's own descriptor (the default) */
    TS_STDIO_PIPE,        /* a pipe to the parent (ts_process_read/write) */
    TS_STDIO_DEVNULL,     /* /dev/null */
    TS_STDIO_FD,          /* the descriptor in stdin_fd/stdout_fd/stderr_fd */
    TS_STDIO_STDOUT,      /* stderr only: wherever stdout goes */
} ts_stdio;

/* Options for ts_process_spawn; zero-initialise and set what you need. */
typedef struct ts_process_opts {
    ts_stdio stdin_mode, stdout_mode, stderr_mode;
    int stdin_fd, stdout_fd, stderr_fd;  /* for TS_STDIO_FD; not closed */
    char *const *env;   /* NULL: the parent's environment */
    const char *cwd;    /* NULL: the parent's working directory */
    int inherit_fds;    /* nonzero: the child keeps the parent's descriptors
                         * >= 3 that lack close-on-exec (default: closed,
                         * as Python's close_fds=True) */
} ts_process_opts;

/*
 * ts_process_spawn - start file (searched in PATH when it has no '/')
 * with argv (argv[0] is the program's name, NULL-terminated); opts may be
 * NULL (everything inherited).  Does not suspend: the process runs when
 * the call returns.  Returns 0 and *out, or -ENOENT (no such program),
 * -EACCES (not executable), -ENOEXEC, -EINVAL, -EMFILE, -ENOMEM, ... from
 * the exec itself, so a bad program name is reported here, not as an exit
 * code; nothing is left behind on failure.  TS_ENOTASK if the thread has
 * no loop.
 * ts_process_spawn_shell(command, opts, out) runs "/bin/sh -c command".
 * The call site is kept for diagnostics: a process used after
 * ts_process_free gives TS_EFREED (every call that returns an error; free
 * does nothing; pid gives -1) and a TS_DIAG_USE_AFTER_FREE report naming
 * where it was spawned, used and freed.  Only the debug runtime
 * recognises a freed process (for the next 1024 object frees); in the
 * release runtime that is a use of freed memory.  A process is tied to no
 * loop.
 */
#define ts_process_spawn(file, argv, opts, out) \
    ts_process_spawn_at((file), (argv), (opts), (out), TS_HERE)
int ts_process_spawn_at(const char *file, char *const argv[], const ts_process_opts *opts,
                        ts_process **out, const ts_site *site);
int (ts_process_spawn)(const char *file, char *const argv[], const ts_process_opts *opts,
                       ts_process **out);
#define ts_process_spawn_shell(command, opts, out) \
    ts_process_spawn_shell_at((command), (opts), (out), TS_HERE)
int ts_process_spawn_shell_at(const char *command, const ts_process_opts *opts,
                              ts_process **out, const ts_site *site);
int (ts_process_spawn_shell)(const char *command, const ts_process_opts *opts,
                             ts_process **out);

/*
 * ts_process_read(p, fd, buf, len) - read from the child's stdout (fd 1)
 * or stderr (fd 2), which must be TS_STDIO_PIPE.  Suspends until some data
 * or end of file.  Returns the byte count, 0 at end of file, -EBADF (not a
 * pipe, or closed), -EBUSY (another task reads the same pipe), -errno, or
 * -ECANCELED (nothing was read).
 */
#define ts_process_read(p, fd, buf, len) ts_process_read_at((p), (fd), (buf), (len), TS_HERE)
ssize_t ts_process_read_at(ts_process *p, int fd, void *buf, size_t len,
                           const ts_site *site);

/*
 * ts_process_write(p, buf, len) - write all of buf to the child's stdin
 * (TS_STDIO_PIPE).  Suspends while the pipe is full.  Returns len, -EPIPE
 * if the child closed its end (no SIGPIPE is raised), -EBADF, -EBUSY, or
 * -ECANCELED (some bytes may have been written).
 */
#define ts_process_write(p, buf, len) ts_process_write_at((p), (buf), (len), TS_HERE)
ssize_t ts_process_write_at(ts_process *p, const void *buf, size_t len,
                            const ts_site *site);

/* ts_process_close_stdin - close the stdin pipe, so the child reads end
 * of file.  Does not suspend.  Returns 0, or -EBADF if there is none. */
int ts_process_close_stdin(ts_process *p);

/*
 * ts_process_communicate - asyncio's communicate(): write input (may be
 * NULL) to stdin and close it, read stdout and stderr to the end into
 * malloc'd NUL-terminated buffers (out/err and their lengths may be NULL
 * to discard; the caller frees), all at once so neither side can fill a
 * pipe and stall, then wait for the exit (if another task is in
 * ts_process_wait, for that wait to end, as asyncio lets any number of
 * tasks await the exit).  Suspends.  Returns 0, the first error (an
 * -EPIPE from a child that exits without reading its input is ignored, as
 * asyncio does), or -ECANCELED (buffers freed, the child runs on).
 */
#define ts_process_communicate(p, in, in_len, out, out_len, err, err_len)     \
    ts_process_communicate_at((p), (in), (in_len), (out), (out_len), (err), \
                              (err_len), TS_HERE)
int ts_process_communicate_at(ts_process *p, const void *in, size_t in_len, char **out,
                              size_t *out_len, char **err, size_t *err_len,
                              const ts_site *site);

/*
 * ts_process_wait - suspend until the child exits and reap it; store its
 * returncode (asyncio's: the exit status, or -N if signal N killed it).
 * Returns at once once reaped.  Returns 0, -EBUSY (another task waits),
 * -ECANCELED (the child is unaffected), -ECHILD if it was reaped by
 * someone else (e.g. a SIGCHLD handler set to SIG_IGN or waitpid(-1)).
 */
#define ts_process_wait(p, returncode) ts_process_wait_at((p), (returncode), TS_HERE)
int ts_process_wait_at(ts_process *p, int *returncode, const ts_site *site);

/*
 * ts_process_kill - send signo (SIGTERM, SIGKILL, ...) to the child.
 * Does not suspend.  Returns 0, -ESRCH if it has already been reaped (a
 * pidfd guarantees the signal never reaches a recycled pid), -EINVAL.
 */
int ts_process_kill(ts_process *p, int signo);

/* Accessors; none suspends.  ts_process_returncode: 0 and the returncode
 * once reaped, TS_EINVALSTATE before.  ts_process_pipe_fd: the parent's end
 * of the pipe for fd 0, 1 or 2, or -EBADF. */
pid_t ts_process_pid(const ts_process *p);
int ts_process_returncode(const ts_process *p, int *returncode);
int ts_process_pipe_fd(const ts_process *p, int fd);

/*
 * ts_process_free - close the pipes and free p.  A child still running is
 * killed (SIGKILL), as asyncio does when a subprocess transport is closed,
 * and reaped in the background.  Does not suspend.
 */
#define ts_process_free(p) ts_process_free_at((p), TS_HERE)
void ts_process_free_at(ts_process *p, const ts_site *site);
void (ts_process_free)(ts_process *p);

#ifdef __cplusplus
}
#endif
#endif
