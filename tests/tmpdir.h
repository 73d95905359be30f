/*
 * tmpdir.h - where the C tests put their temporary files, directories and
 * unix sockets: $TMPDIR, or /tmp only when TMPDIR is unset or empty.
 * Never a hard-coded /tmp: a run given its own TMPDIR (parallel runs,
 * CI, a sandbox without a shared /tmp) must leave /tmp as it found it.
 *
 * Header-only and free of the runtime's headers, so that every family of
 * tests shares this one copy: harness.h (the runtime's and the debug
 * runtime's tests) and bpf/bpf_harness.h include it.  Each name made here
 * is unique to the process (mkstemp, mkdtemp, or the caller's pid); the
 * test removes what it made.
 */
#ifndef TS_TESTS_TMPDIR_H
#define TS_TESTS_TMPDIR_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* $TMPDIR, or /tmp where it is unset or empty (as mkstemp(3)'s users and
 * Python's tempfile do). */
static inline const char *test_tmpdir(void) {
    const char *d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

/* path (len bytes) = $TMPDIR/NAME, NAME formatted from fmt: 0, or
 * -ENAMETOOLONG.  For names the test makes unique itself (with its pid),
 * e.g. a file another process creates or must not create. */
static inline int test_tmp_path(char *path, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int test_tmp_path(char *path, size_t len, const char *fmt, ...) {
    int n = snprintf(path, len, "%s/", test_tmpdir());
    if (n < 0 || (size_t)n >= len)
        return -ENAMETOOLONG;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(path + n, len - (size_t)n, fmt, ap);
    va_end(ap);
    return m < 0 || (size_t)m >= len - (size_t)n ? -ENAMETOOLONG : 0;
}

/* A new empty file $TMPDIR/stem-XXXXXX (mode 0600), its name in path (len
 * bytes): its descriptor, open read-write, or -errno. */
static inline int test_tmp_file(char *path, size_t len, const char *stem) {
    int err = test_tmp_path(path, len, "%s-XXXXXX", stem);
    if (err)
        return err;
    int fd = mkstemp(path);
    return fd >= 0 ? fd : -errno;
}

/* A new directory $TMPDIR/stem-XXXXXX (mode 0700), its name in path (len
 * bytes): 0, or -errno. */
static inline int test_tmp_dir(char *path, size_t len, const char *stem) {
    int err = test_tmp_path(path, len, "%s-XXXXXX", stem);
    if (err)
        return err;
    return mkdtemp(path) ? 0 : -errno;
}

/* A path for a unix socket, $TMPDIR/stem.PID.sock, into path (len bytes):
 * 0, or -ENAMETOOLONG.  A socket's path must fit sockaddr_un's sun_path
 * (108 bytes on Linux, its NUL included), and $TMPDIR may be longer than
 * that leaves room for: then the socket goes in /tmp, the one short
 * directory every system has, rather than the test failing for a reason
 * that is not the code's (ts_unix_listen would say -ENAMETOOLONG). */
static inline int test_sock_path(char *path, size_t len, const char *stem) {
    const size_t room = sizeof(((struct sockaddr_un *)0)->sun_path);
    int err = test_tmp_path(path, len, "%s.%d.sock", stem, (int)getpid());
    if (!err && strlen(path) < room)
        return 0;
    int n = snprintf(path, len, "/tmp/%s.%d.sock", stem, (int)getpid());
    return n < 0 || (size_t)n >= len || (size_t)n >= room ? -ENAMETOOLONG : 0;
}

#endif
