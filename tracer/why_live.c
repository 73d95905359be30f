/*
 * why_live.c - `taskscope why PID TASK`: a live process answered from its
 * flight recorder.
 *
 * Attaching drains what the process's ring still holds (the retained
 * window) and asks for a state dump; that is written to a recording in a
 * private temporary directory (mkdtemp: no existing file is touched), the
 * why library answers from it, and the directory is removed.  A task
 * spawned before the window is answered for the window only (why.h:
 * why_task_before_window), and the command says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "session.h"
#include "store.h"
#include "why.h"

int why_live_record(int pid, char *path, size_t n, char *err, size_t errn) {
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/taskscope-why-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, errn, "cannot make a temporary directory in %s: %s",
                 tmp && *tmp ? tmp : "/tmp", strerror(errno));
        return -errno;
    }
    if ((size_t)snprintf(path, n, "%s/window.db", dir) >= n) {
        rmdir(dir);
        snprintf(err, errn, "temporary path too long");
        return -ENAMETOOLONG;
    }
    ts_session s;
    int rc = ts_session_open(&s, pid, 0, 0, err, errn);
    if (rc) {
        rmdir(dir);
        return rc < 0 ? rc : -EIO;
    }
    rc = ts_store_create_ex(path, 0, &s.store, err, errn);
    if (rc) {
        ts_session_close(&s);
        rmdir(dir);
        return rc < 0 ? rc : -EIO;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%d", pid);
    ts_store_meta(s.store, "pid", buf);
    /* the retained window, then the state dump it asks for */
    ts_session_wait_dump(&s, 2000);
    ts_session_poll(&s);
    ts_store_flush(s.store);
    rc = ts_store_close(s.store, s.stopped ? "complete: a stopped process's flight-recorder "
                                             "window (it could not answer: no state dump)"
                                           : "complete: a live process's flight-recorder window",
                        tm_model_dropped(s.model));
    s.store = NULL;
    ts_session_close(&s);
    if (rc) {
        snprintf(err, errn, "cannot write the window of pid %d to %s", pid, path);
        why_live_remove(path);
        return -EIO;
    }
    return 0;
}

void why_live_remove(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    /* the store may leave a journal beside the file */
    static const char *const SUFFIX[] = {"", "-journal", "-wal", "-shm"};
    for (size_t k = 0; k < sizeof SUFFIX / sizeof *SUFFIX; k++) {
        char f[4200];
        snprintf(f, sizeof f, "%s%s", path, SUFFIX[k]);
        unlink(f);
    }
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}
