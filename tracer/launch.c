/*
 * launch.c - see launch.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"

#ifndef TS_DEBUG_LIBDIR
#define TS_DEBUG_LIBDIR "/usr/local/lib/taskscope-debug"
#endif

static int has_debug_lib(const char *dir) {
    char probe[PATH_MAX + 64];
    struct stat st;
    return snprintf(probe, sizeof probe, "%s/libtaskscope.so.0", dir) < (int)sizeof probe &&
           stat(probe, &st) == 0;
}

const char *ts_debug_libdir(char *buf, size_t len) {
    const char *env = getenv("TASKSCOPE_DEBUG_LIBDIR");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            /* the build tree: build/taskscope and build/runtime/debug, or a
             * tool one directory further down (build/tui/...) */
            static const char *const rel[] = {"/runtime/debug", "/../runtime/debug"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
                if (snprintf(buf, len, "%s%s", exe, rel[i]) < (int)len && has_debug_lib(buf))
                    return buf;
        }
    }
    return TS_DEBUG_LIBDIR;
}

int ts_is_pid(const char *s) {
    if (!*s)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return 1;
}

int ts_parse_pid(const char *s, int *pid) {
    if (!ts_is_pid(s))
        return -EINVAL;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return -ERANGE;
    }
    if (v == 0)
        return -ERANGE;
    *pid = (int)v;
    return 0;
}

char ts_proc_state(int pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    return p && p[1] == ' ' ? p[2] : 0;
}

void ts_exec_on_debug_runtime(char *const argv[]) {
    char dirbuf[PATH_MAX];
    const char *dir = ts_debug_libdir(dirbuf, sizeof dirbuf);
    const char *old = getenv("LD_LIBRARY_PATH");
    size_t need = strlen(dir) + (old ? strlen(old) : 0) + 2;
    char *path = malloc(need);
    if (path) {
        snprintf(path, need, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
        setenv("LD_LIBRARY_PATH", path, 1);
        free(path);
    }
    /* Hold the program at its first loop until the tracer is attached, so
     * a short program cannot finish before it is seen. */
    setenv("TASKSCOPE_WAIT_READER_MS", "3000", 0);
    execvp(argv[0], argv);
}
