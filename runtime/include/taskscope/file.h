/*
 * taskscope/file.h - files that never block the loop (aiofiles).
 *
 * Every call that touches the file system runs off the loop thread: on
 * io_uring where the kernel allows it (one ring per loop), on a small pool
 * of threads otherwise.  The choice is made per loop, when it first does
 * file I/O; TASKSCOPE_FILE_BACKEND=uring|threads forces one (with "uring"
 * and no usable io_uring, file calls fail with -ENOSYS or the kernel's
 * refusal such as -EPERM).  Both backends behave the same;
 * ts_file_backend() says which one a loop uses.
 *
 * These calls are for regular files and block devices.  Pipes, FIFOs,
 * sockets and terminals can block indefinitely: use ts_wait_fd(), the
 * subprocess pipes (process.h) or streams for those.
 *
 * Cancellation.  A call whose task is cancelled returns -ECANCELED.  For
 * ts_file_read/write and their positional forms the call first makes sure
 * the operation no longer uses the caller's buffer: it asks the kernel to
 * cancel it, or waits for the thread running it (for a regular file, the
 * time of one disk access); bytes already transferred stay transferred and
 * the file position is then unspecified.  Other calls return at once: an
 * open that completes afterwards has its descriptor closed, a close still
 * closes.  Nothing is leaked either way.
 *
 * A ts_file may be used from any loop thread, but not by two tasks at
 * once for calls that use the file position.
 */
#ifndef TASKSCOPE_FILE_H
#define TASKSCOPE_FILE_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_file ts_file;

/*
 * ts_file_open(path, flags, mode, &f) - open(2) without blocking the loop.
 * flags are the O_* flags of open(2); O_CLOEXEC is always added.  mode is
 * used with O_CREAT.  Suspends the calling task.  Returns 0 and *out, or
 * -errno from open (-ENOENT, -EACCES, -EISDIR, ...), -ENOMEM, -ECANCELED,
 * TS_ENOTASK outside a task.
 */
#define ts_file_open(path, flags, mode, out) \
    ts_file_open_at((path), (flags), (mode), (out), TS_HERE)
int ts_file_open_at(const char *path, int flags, unsigned mode, ts_file **out,
                    const ts_site *site);

/*
 * ts_file_read(f, buf, len) - read up to len bytes at the file position
 * and advance it.  Suspends.  Returns the number of bytes read (0 at end
 * of file; fewer than len only near the end), or -errno (-EISDIR on a
 * directory, -EBADF if not open for reading, ...), -ECANCELED.
 * ts_file_pread reads at offset and leaves the position alone.
 */
#define ts_file_read(f, buf, len) ts_file_pread_at((f), (buf), (len), -1, TS_HERE)
#define ts_file_pread(f, buf, len, offset) \
    ts_file_pread_at((f), (buf), (len), (offset), TS_HERE)
ssize_t ts_file_pread_at(ts_file *f, void *buf, size_t len, int64_t offset,
                         const ts_site *site);

/*
 * ts_file_write(f, buf, len) - write all len bytes at the file position
 * (at the end with O_APPEND).  Suspends.  Returns len, or -errno (-ENOSPC,
 * -EBADF, ...) if nothing could be written, or the count written before an
 * error stopped it (the next call reports the error), or -ECANCELED.
 * ts_file_pwrite writes at offset and leaves the position alone.
 */
#define ts_file_write(f, buf, len) ts_file_pwrite_at((f), (buf), (len), -1, TS_HERE)
#define ts_file_pwrite(f, buf, len, offset) \
    ts_file_pwrite_at((f), (buf), (len), (offset), TS_HERE)
ssize_t ts_file_pwrite_at(ts_file *f, const void *buf, size_t len, int64_t offset,
                          const ts_site *site);

/*
 * ts_file_read_all(f, &data, &len) - read from the file position to the
 * end of file (aiofiles' `await file.read()`).  Suspends.  Returns 0 with
 * *data a malloc'd buffer, NUL-terminated for convenience (the NUL is not
 * counted in *len), which the caller frees; or -errno, -ENOMEM,
 * -ECANCELED (then *data is NULL and what was read is lost).
 */
#define ts_file_read_all(f, data, len) ts_file_read_all_at((f), (data), (len), TS_HERE)
int ts_file_read_all_at(ts_file *f, char **data, size_t *len, const ts_site *site);

/*
 * ts_file_stat(f, &st) - fstat(2); ts_stat(path, &st) - stat(2).
 * Suspend.  Return 0, -errno (-ENOENT, ...), -ENOMEM or -ECANCELED.
 */
#define ts_file_stat(f, st) ts_file_stat_at((f), (st), TS_HERE)
int ts_file_stat_at(ts_file *f, struct stat *st, const ts_site *site);
#define ts_stat(path, st) ts_stat_at((path), (st), TS_HERE)
int ts_stat_at(const char *path, struct stat *st, const ts_site *site);

/*
 * ts_file_sync(f) - fsync(2).  Suspends.  Returns 0, -errno, -ECANCELED
 * (the sync may still complete).
 */
#define ts_file_sync(f) ts_file_sync_at((f), TS_HERE)
int ts_file_sync_at(ts_file *f, const ts_site *site);

/*
 * ts_file_close(f) - close the file and free f, whatever happens.
 * Suspends.  Returns close's error (0, -EIO, ...) or -ECANCELED (the
 * descriptor is closed all the same).  ts_file_close(NULL) returns 0.
 */
#define ts_file_close(f) ts_file_close_at((f), TS_HERE)
int ts_file_close_at(ts_file *f, const ts_site *site);

/* ts_file_fd - the descriptor, for calls taskscope does not wrap. */
int ts_file_fd(const ts_file *f);

/*
 * ts_file_backend - "uring" or "threads": the backend the calling thread's
 * loop uses for files (choosing it now if it has not yet), or
 * "unavailable" when io_uring was forced and cannot be used, or "none"
 * outside a loop.  Does not suspend.
 */
const char *ts_file_backend(void);

#ifdef __cplusplus
}
#endif
#endif
