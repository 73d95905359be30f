/*
 * taskscope/with.h - scoped resources, asyncio's "async with".
 *
 * A context manager is a pair of calls, enter and exit, either of which may
 * suspend.  TS_WITH runs enter, then the block, then exit on every way out
 * of the block: falling off its end, break, return, goto, and (because
 * cancellation arrives as a returned -ECANCELED that the block passes on)
 * cancellation.  It is built on the compiler's cleanup attribute (GCC and
 * Clang), so a `return` in the block still runs exit.
 *
 *     static const ts_async_cm conn_cm = { conn_open, conn_close };
 *     int err = 0;
 *     TS_WITH(&conn_cm, conn, &err) {
 *         err = conn_query(conn);
 *     }
 *     // err: enter's error (block skipped), else exit's verdict
 *
 * If enter fails, the block and exit are skipped and *errp holds the error.
 * exit(self, err) receives *errp as the block left it and returns the
 * scope's outcome, which is stored back in *errp (when the block leaves by
 * return, the function's return value is already decided; exit still runs).
 */
#ifndef TASKSCOPE_WITH_H
#define TASKSCOPE_WITH_H

#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_async_cm {
    int (*enter)(void *self);           /* 0 or an error; may suspend */
    int (*exit)(void *self, int err);   /* the scope's outcome; may suspend */
} ts_async_cm;

/* Implementation detail of TS_WITH; do not use directly. */
typedef struct ts__with {
    const ts_async_cm *cm;
    void *self;
    int *errp;
    int entered;
    int once;
} ts__with;
ts__with ts__with_enter(const ts_async_cm *cm, void *self, int *errp,
                        const ts_site *site);
void ts__with_exit(ts__with *w);

/*
 * ts_with_site - inside a context manager's enter, before it first
 * suspends: the TS_WITH line that is entering it.  A manager that
 * suspends in enter passes it on (ts_lock_acquire_at(lock,
 * ts_with_site())) so a debugger shows the user's line as the await site,
 * not the manager's.  Meaningless anywhere else.
 */
const ts_site *ts_with_site(void);

#define TS__WITH_CAT2(a, b) a##b
#define TS__WITH_CAT(a, b) TS__WITH_CAT2(a, b)
#define TS_WITH(cm, self, errp)                                              \
    for (ts__with TS__WITH_CAT(ts__with_, __LINE__)                          \
             __attribute__((cleanup(ts__with_exit))) =                       \
             ts__with_enter((cm), (self), (errp), TS_HERE);                  \
         TS__WITH_CAT(ts__with_, __LINE__).once;                             \
         TS__WITH_CAT(ts__with_, __LINE__).once = 0)

/* The lock as a context manager: TS_WITH(&ts_lock_cm, lock, &err) {...} */
extern const ts_async_cm ts_lock_cm;
/* The semaphore as a context manager. */
extern const ts_async_cm ts_semaphore_cm;

#ifdef __cplusplus
}
#endif
#endif
