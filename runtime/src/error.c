/*
 * error.c - names and descriptions of error codes.
 */
#include <string.h>

#include "taskscope/taskscope.h"

static const struct {
    int code;
    const char *name;
    const char *text;
} ts_codes[] = {
    {TS_EOF, "TS_EOF", "end of sequence"},
    {TS_EWRONGLOOP, "TS_EWRONGLOOP", "object belongs to another loop or thread"},
    {TS_ENOTASK, "TS_ENOTASK", "suspending call made outside a task"},
    {TS_EINVALSTATE, "TS_EINVALSTATE", "invalid state (not done yet, or already done)"},
    {TS_EGROUPCLOSED, "TS_EGROUPCLOSED", "task group is shutting down or finished"},
    {TS_EBROKEN, "TS_EBROKEN", "barrier is broken"},
    {TS_ECLOSED, "TS_ECLOSED", "generator was closed"},
    {TS_ESHUTDOWN, "TS_ESHUTDOWN", "queue is shut down"},
    {TS_EGROUP, "TS_EGROUP", "several errors in a task group"},
    {TS_EFREED, "TS_EFREED", "object used after free/close (or task handle after release)"},
};

#define X(e) {e, #e}
static const struct {
    int code;
    const char *name;
} errno_names[] = {
    X(EPERM), X(ENOENT), X(ESRCH), X(EINTR), X(EIO), X(ENXIO), X(E2BIG),
    X(ENOEXEC), X(EBADF), X(ECHILD), X(EAGAIN), X(ENOMEM), X(EACCES),
    X(EFAULT), X(EBUSY), X(EEXIST), X(EXDEV), X(ENODEV), X(ENOTDIR),
    X(EISDIR), X(EINVAL), X(ENFILE), X(EMFILE), X(ENOTTY), X(EFBIG),
    X(ENOSPC), X(ESPIPE), X(EROFS), X(EMLINK), X(EPIPE), X(EDOM), X(ERANGE),
    X(EDEADLK), X(ENAMETOOLONG), X(ENOSYS), X(ENOTEMPTY), X(ELOOP),
    X(ENODATA), X(ETIME), X(EOVERFLOW), X(EPROTO), X(EBADMSG), X(ENOTSOCK),
    X(EDESTADDRREQ), X(EMSGSIZE), X(EPROTOTYPE), X(ENOPROTOOPT),
    X(EPROTONOSUPPORT), X(EOPNOTSUPP), X(EAFNOSUPPORT), X(EADDRINUSE),
    X(EADDRNOTAVAIL), X(ENETDOWN), X(ENETUNREACH), X(ECONNABORTED),
    X(ECONNRESET), X(ENOBUFS), X(EISCONN), X(ENOTCONN), X(ESHUTDOWN),
    X(ETIMEDOUT), X(ECONNREFUSED), X(EHOSTUNREACH), X(EALREADY),
    X(EINPROGRESS), X(ECANCELED), X(EOWNERDEAD),
};
#undef X

const char *ts_strerror(int err) {
    if (err == 0)
        return "success";
    for (size_t i = 0; i < sizeof ts_codes / sizeof ts_codes[0]; i++)
        if (ts_codes[i].code == err)
            return ts_codes[i].text;
    if (err < 0 && err > -4000)
        return strerror(-err); /* glibc's table is static and complete */
    return "unknown error";
}

const char *ts_err_name(int err) {
    if (err == 0)
        return "OK";
    for (size_t i = 0; i < sizeof ts_codes / sizeof ts_codes[0]; i++)
        if (ts_codes[i].code == err)
            return ts_codes[i].name;
    for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
        if (errno_names[i].code == -(long)err)
            return errno_names[i].name;
    return "UNKNOWN";
}
