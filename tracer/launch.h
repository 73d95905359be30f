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

/* The scheduler state letter of process pid from /proc/PID/stat ('R',
 * 'S', 'Z', ...), or 0 if there is no such process. */
char ts_proc_state(int pid);

#endif
