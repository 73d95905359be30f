/*
 * safe_open.h - opening a file whose path came from somewhere the tracer
 * does not trust (a module path in a trace segment, a recording, or a
 * process's maps, which may have been renamed since): only a regular,
 * non-empty file is opened, and the open itself cannot block, so a path
 * naming a FIFO, a device or a /proc file that blocks on read (which the
 * tracer, running as root with --bpf, could otherwise open) can neither
 * hang nor trick it.
 */
#ifndef TS_TRACER_SAFE_OPEN_H
#define TS_TRACER_SAFE_OPEN_H

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A read-only descriptor of path, or -errno (-EINVAL: not a regular
 * file with content).  O_NONBLOCK makes opening a FIFO return at once;
 * fstat then refuses it. */
static inline int ts_open_regular(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return -EINVAL;
    }
    /* Regular files never block; clear the flag for the libraries that
     * read through it. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

#endif
