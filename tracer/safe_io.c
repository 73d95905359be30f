/*
 * safe_io.c - see safe_io.h.
 *
 * Must never: unlink, truncate or rename over a file it was not told it
 * may replace; follow an output onto something that is not a regular
 * file; block on an input.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_io.h"
#include "store.h"

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int ts_open_regular(const char *path, struct stat *st, char *err, size_t errlen) {
    struct stat tmp;
    if (!st)
        st = &tmp;
    /* O_NONBLOCK: opening a FIFO for reading with no writer would wait
     * forever; a device's open may have side effects we check for below
     * only after the fact, so refuse what stat already shows. */
    struct stat pre;
    if (stat(path, &pre) == 0 && !S_ISREG(pre.st_mode)) {
        snprintf(err, errlen, "%s is %s, not a recording", path, kind_of(pre.st_mode));
        return S_ISDIR(pre.st_mode) ? -EISDIR : -ENODEV;
    }
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        int e = S_ISDIR(st->st_mode) ? EISDIR : ENODEV;
        snprintf(err, errlen, "%s is %s, not a recording", path, kind_of(st->st_mode));
        close(fd);
        return -e;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int ts_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

enum ts_out_state ts_output_state(const char *path, char *err, size_t errlen) {
    struct stat st;
    char side[PATH_MAX + 8];
    if (stat(path, &st) != 0) {
        if (lstat(path, &st) == 0) {
            snprintf(err, errlen, "%s is a dangling symbolic link", path);
            return TS_OUT_OTHER;
        }
        snprintf(side, sizeof side, "%s-wal", path);
        if (exists(side)) {
            snprintf(err, errlen, "%s exists without %s: SQLite would replay it into a new "
                                  "recording", side, path);
            return TS_OUT_OTHER;
        }
        return TS_OUT_FREE;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is %s", path, kind_of(st.st_mode));
        return TS_OUT_NOT_FILE;
    }
    if (st.st_size == 0) {
        snprintf(side, sizeof side, "%s-wal", path);
        if (!exists(side))
            return TS_OUT_FREE; /* nothing in it to lose */
    }
    if (ts_store_is_recording(path)) {
        snprintf(err, errlen, "%s is a taskscope recording", path);
        return TS_OUT_RECORDING;
    }
    snprintf(err, errlen, "%s exists and is not a taskscope recording", path);
    return TS_OUT_OTHER;
}

static const char *const SIDE[] = {"", "-wal", "-shm", "-journal"};

int ts_set_aside(const char *path, char *kept, size_t keptlen, char *err, size_t errlen) {
    char from[PATH_MAX + 16], to[PATH_MAX + 32];
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(kept, keptlen, "%s.old", path);
        else
            snprintf(kept, keptlen, "%s.old.%d", path, n);
        /* A name is free only if the database and every side file are. */
        int taken = 0;
        for (size_t i = 0; i < sizeof SIDE / sizeof *SIDE && !taken; i++) {
            snprintf(to, sizeof to, "%s%s", kept, SIDE[i]);
            taken = exists(to);
        }
        if (taken)
            continue;
        /* The side files first: a -wal holds committed pages of the
         * recording and must travel with it.  RENAME_NOREPLACE: a name
         * that was taken meanwhile is not overwritten. */
        for (size_t i = sizeof SIDE / sizeof *SIDE; i-- > 0;) {
            snprintf(from, sizeof from, "%s%s", path, SIDE[i]);
            snprintf(to, sizeof to, "%s%s", kept, SIDE[i]);
            if (!exists(from)) {
                if (i == 0)
                    return 0; /* gone meanwhile: nothing left to keep */
                continue;
            }
            if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0) {
                int e = errno;
                if (e == EEXIST)
                    break; /* raced: try the next name */
                snprintf(err, errlen, "cannot keep %s as %s: %s", from, to, strerror(e));
                return -e;
            }
            if (i == 0)
                return 0;
        }
    }
    snprintf(err, errlen, "cannot keep %s: %s.old to %s.old.999 all exist", path, path, path);
    return -EEXIST;
}

void ts_restore_aside(const char *kept, const char *path) {
    char from[PATH_MAX + 40], to[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof SIDE / sizeof *SIDE; i++) {
        snprintf(from, sizeof from, "%s%s", kept, SIDE[i]);
        snprintf(to, sizeof to, "%s%s", path, SIDE[i]);
        if (exists(from))
            renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
    }
}

int ts_remove_recording(const char *path, char *err, size_t errlen) {
    char side[PATH_MAX + 16];
    for (size_t i = sizeof SIDE / sizeof *SIDE; i-- > 0;) {
        snprintf(side, sizeof side, "%s%s", path, SIDE[i]);
        if (unlink(side) != 0 && errno != ENOENT) {
            int e = errno;
            snprintf(err, errlen, "cannot replace %s: %s", side, strerror(e));
            return -e;
        }
    }
    return 0;
}

int ts_output_begin(ts_output *o, const char *path, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    /* Through a symlink to a regular file, replace the file, not the link. */
    struct stat st;
    char real[PATH_MAX];
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && realpath(path, real))
        path = real;
    if (snprintf(o->final, sizeof o->final, "%s", path) >= (int)sizeof o->final) {
        snprintf(err, errlen, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    /* .NAME.XXXXXX in the same directory: rename() is atomic only there. */
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path + 1) : 0;
    snprintf(o->tmp, sizeof o->tmp, "%.*s.%s.XXXXXX", dirlen, path, slash ? slash + 1 : path);
    int fd = mkostemp(o->tmp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create a file next to %s: %s", path, strerror(e));
        o->tmp[0] = 0;
        return -e;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask); /* mkstemp's 0600 is not what a plain create gives */
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        snprintf(err, errlen, "%s: %s", o->tmp, strerror(e));
        return -e;
    }
    return 0;
}

int ts_output_commit(ts_output *o, char *err, size_t errlen) {
    int rc = 0;
    if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
        rc = errno ? -errno : -EIO;
    if (fclose(o->f) != 0 && !rc)
        rc = -errno;
    o->f = NULL;
    if (rc) {
        snprintf(err, errlen, "writing %s failed: %s", o->final, strerror(-rc));
        unlink(o->tmp);
        return rc;
    }
    if (rename(o->tmp, o->final) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot rename %s to %s: %s", o->tmp, o->final, strerror(-rc));
        unlink(o->tmp);
    }
    return rc;
}

void ts_output_abort(ts_output *o) {
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp[0])
        unlink(o->tmp); /* ours: created by ts_output_begin */
}
