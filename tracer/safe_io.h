/*
 * safe_io.h - opening inputs and placing outputs without harming files.
 *
 * The rules every taskscope command keeps (issue 12):
 *  - an input is opened non-blocking and must be a regular file, so a FIFO,
 *    a device or a directory given by mistake is refused at once instead
 *    of hanging the command or reading something that is not a file;
 *  - an output never truncates, deletes or replaces a file this run did
 *    not create, and is never a device node, a FIFO or a directory.  An
 *    existing output is either set aside (a recording becomes NAME.old) or
 *    replaced only when the caller says so (--force), and only by an
 *    atomic rename of a complete temporary file from the same directory.
 */
#ifndef TS_TRACER_SAFE_IO_H
#define TS_TRACER_SAFE_IO_H

#include <stdio.h>
#include <sys/stat.h>

/* Open path for reading without blocking (O_NONBLOCK, so a FIFO with no
 * writer cannot hang us) and check that it is a regular file.  Returns the
 * descriptor (O_CLOEXEC, blocking mode restored) or a negative errno
 * (-EISDIR, -ENODEV for FIFOs, devices and sockets) with a message in err.
 * st, if not NULL, receives the file's fstat. */
int ts_open_regular(const char *path, struct stat *st, char *err, size_t errlen);

/* 1 if a and b are the same file (device and inode), following symlinks;
 * 0 if not or if either does not exist. */
int ts_same_file(const char *a, const char *b);

/* The state of an output path before anything is written to it. */
enum ts_out_state {
    TS_OUT_FREE,        /* nothing there (or an empty regular file) */
    TS_OUT_RECORDING,   /* a taskscope recording */
    TS_OUT_OTHER,       /* a regular file with something else in it */
    TS_OUT_NOT_FILE,    /* a directory, device, FIFO or socket */
};

/* What is at path now.  A dangling WAL (path-wal without path, which
 * SQLite would replay into a new database of that name) counts as
 * TS_OUT_OTHER.  err receives a sentence saying what is there for every
 * state but TS_OUT_FREE. */
enum ts_out_state ts_output_state(const char *path, char *err, size_t errlen);

/* Move the recording at path, with its -wal and -shm side files, out of
 * the way: to path.old, or path.old.2, path.old.3, ... (the first free
 * name; an existing one is never replaced).  kept (len >= PATH_MAX + 16)
 * receives the new name.  0 or a negative errno with a message in err. */
int ts_set_aside(const char *path, char *kept, size_t keptlen, char *err, size_t errlen);

/* Undo ts_set_aside: move kept (and its side files) back to path, never
 * over anything that is there now. */
void ts_restore_aside(const char *kept, const char *path);

/* Remove the recording at path and its side files (after --force; the
 * caller has checked that it is a recording). */
int ts_remove_recording(const char *path, char *err, size_t errlen);

/* An output written whole or not at all: a temporary file in the target's
 * directory (so the final rename is atomic), renamed over the target by
 * ts_output_commit only when everything was written, and removed by
 * ts_output_abort otherwise. */
typedef struct ts_output {
    FILE *f;
    char tmp[4200];
    char final[4200];
} ts_output;

int ts_output_begin(ts_output *o, const char *path, char *err, size_t errlen);
int ts_output_commit(ts_output *o, char *err, size_t errlen);
void ts_output_abort(ts_output *o);

#endif
