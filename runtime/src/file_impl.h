/*
 * file_impl.h - what file.c (the API and the thread backend) and uring.c
 * (the io_uring backend) share: the record of one file operation.
 *
 * An operation is heap-allocated because it may outlive the call that
 * started it.  Ownership, in both backends:
 *   - a *buffer* operation (READ, WRITE) uses its caller's buffer, so its
 *     caller never leaves before the backend is done with it: when
 *     cancelled, the caller asks for cancellation and keeps waiting;
 *   - any other operation may be *abandoned*: a cancelled caller sets
 *     `abandoned` and returns, and whoever completes the operation later
 *     calls ts__fop_finish_abandoned(), which undoes its effect (closes the
 *     descriptor an OPEN produced) and frees it.
 * `done` and `res` are written by the backend on the loop thread before
 * the caller is woken; the caller frees a finished, non-abandoned op.
 */
#ifndef TS_FILE_IMPL_H
#define TS_FILE_IMPL_H

#include <sys/stat.h>

#include "internal.h"

typedef enum ts__fop_kind {
    FOP_OPEN,
    FOP_READ,
    FOP_WRITE,
    FOP_STAT,   /* path */
    FOP_FSTAT,  /* fd */
    FOP_FSYNC,
    FOP_CLOSE,
} ts__fop_kind;

typedef struct ts__fop {
    ts__fop_kind kind;
    int fd;
    int flags;          /* OPEN */
    unsigned mode;      /* OPEN */
    char *path;         /* OPEN, STAT: owned copy */
    void *buf;          /* READ, WRITE: the caller's */
    size_t len;
    int64_t off;        /* READ, WRITE: -1 = the file position */
    struct stat st;     /* STAT, FSTAT: the result */
    int64_t res;        /* fd, byte count, 0, or -errno */
    bool done;
    bool abandoned;
    ts__waiter w;       /* the caller, while parked on a backend list */
    /* thread backend (file.c) */
    ts__node qnode;     /* on the pool's queue while queued */
    int tstate;
    bool delivered;
    ts_loop *loop;
    /* io_uring backend (uring.c) */
    void *stx;          /* struct statx buffer for STAT/FSTAT */
} ts__fop;

static inline bool ts__fop_abandonable(const ts__fop *op) {
    return op->kind != FOP_READ && op->kind != FOP_WRITE;
}

/* file.c: undo an abandoned op's effect and free it. */
void ts__fop_finish_abandoned(ts__fop *op);
void ts__fop_free(ts__fop *op);

/* uring.c: make sure this thread's loop has a usable ring; 0 or -errno
 * (-ENOSYS when built without liburing or refused by the kernel). */
int ts__uring_attach(ts_loop *loop);
/* uring.c: run *opp on the loop's ring; returns its result, or
 * -ECANCELED.  Sets *opp to NULL if the op was handed over (abandoned, see
 * above); otherwise the caller frees it. */
int64_t ts__uring_run(ts__fop **opp, const ts_site *site);

#endif
