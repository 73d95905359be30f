/*
 * launch.h - starting a program on the debug runtime: the library
 * directory to put first on LD_LIBRARY_PATH (same soname, so a dynamically
 * linked program switches without relinking), and the environment that
 * makes the program wait for the tracer before it does anything.
 */
#ifndef TS_TRACER_LAUNCH_H
#define TS_TRACER_LAUNCH_H

#include <stddef.h>

/* The directory holding the debug libtaskscope.so.0: $TASKSCOPE_DEBUG_LIBDIR,
 * else the build tree next to this executable, else the installed one.
 * buf (len >= PATH_MAX) may receive the answer. */
const char *ts_debug_libdir(char *buf, size_t len);

/* In a child after fork(): set LD_LIBRARY_PATH and
 * TASKSCOPE_WAIT_READER_MS, then exec argv[0] (searching PATH).  Returns
 * only on failure, with errno set. */
void ts_exec_on_debug_runtime(char *const argv[]);

/* 1 if s is all digits (a command-line TARGET naming a pid). */
int ts_is_pid(const char *s);

/* Parse a pid strictly: decimal digits only, 1 to INT_MAX (so
 * "4294967297" is refused, never wrapped to 1).  0 or -EINVAL/-ERANGE. */
int ts_parse_pid(const char *s, int *pid);

/* 0 if the debug runtime's libtaskscope.so.0 is where ts_debug_libdir
 * says; else -ENOENT with a message naming the directory and its source. */
int ts_debug_libdir_check(char *err, size_t len);

/* In the parent, right after forking a child that calls
 * ts_exec_on_debug_runtime: wait until the child has exec'd and mapped
 * the debug libtaskscope (or created its trace segment), about timeout_ms
 * at most after the exec.  Returns 0 when confirmed; -ECHILD if the child
 * exited meanwhile (not reaped: its status is left for the caller);
 * otherwise (-ENOEXEC, -ENOENT, -ETIMEDOUT) err names the cause: the
 * library directory missing, a statically linked binary, DT_RPATH
 * overriding LD_LIBRARY_PATH, or not a taskscope program.  The child is
 * left running: see ts_stop_untraced. */
int ts_launch_confirm(int child, const char *prog, int timeout_ms, char *err, size_t len);

/* prog as execvp would find it (through PATH unless it holds a '/'),
 * into buf: 0, or -ENOENT if there is no such executable. */
int ts_find_program(const char *prog, char *buf, size_t len);

/* For a program that ended before ts_launch_confirm could tell: if its
 * executable (found as execvp would) cannot load the debug runtime
 * (statically linked, or no libtaskscope at all), say so in err and
 * return 1; else 0. */
int ts_launch_explain_exit(const char *prog, char *err, size_t len);

/* Ask a child that cannot be traced to stop (SIGTERM, then SIGKILL after
 * two seconds).  It is not reaped. */
void ts_stop_untraced(int child);

/* The scheduler state letter of process pid from /proc/PID/stat ('R',
 * 'S', 'Z', ...), or 0 if there is no such process. */
char ts_proc_state(int pid);

#endif
