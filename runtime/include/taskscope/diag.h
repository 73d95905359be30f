/*
 * taskscope/diag.h - diagnostics: mistakes asyncio reports, reported here
 * with the task's name, id and spawn site.
 *
 * By default each diagnostic is one line on stderr, e.g.
 *   taskscope: Task exception was never retrieved: task 'fetch' #7 spawned
 *   at main.c:42 in main_task(): -5 (Input/output error): timeout reading
 * A program (or the debug runtime) can route them elsewhere.
 */
#ifndef TASKSCOPE_DIAG_H
#define TASKSCOPE_DIAG_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ts_diag_kind {
    TS_DIAG_ERROR_NEVER_RETRIEVED = 1, /* a task failed; nobody looked */
    TS_DIAG_NEVER_AWAITED,             /* a handle was never given up */
    TS_DIAG_TASK_DESTROYED_PENDING,    /* loop closed with the task unfinished */
    TS_DIAG_FUTURE_DESTROYED_PENDING,  /* ts_future_free on a pending future */
    TS_DIAG_WRONG_THREAD,              /* a loop call from a foreign thread */
    TS_DIAG_STACK_OVERFLOW,            /* reported just before the abort */
    TS_DIAG_TIMEOUT_STALE,             /* a timeout scope used after its exit
                                        * (ts_timeout_exit twice) */
    /* Debug runtime: an object (lock, group, ...) used after it was freed
     * or its loop closed, or a task handle used after it was released.
     * site is the object's creation (spawn) site, call_site where it was
     * used, released_site where it was freed or released (if known). */
    TS_DIAG_USE_AFTER_FREE,
    /* Debug runtime: a task acquiring a lock it already holds, which
     * would wait forever.  site: the lock's creation; call_site: the
     * acquire. */
    TS_DIAG_LOCK_REACQUIRED,
    TS_DIAG_KIND_END                   /* one past the last kind */
} ts_diag_kind;

typedef struct ts_diag {
    ts_diag_kind kind;
    const char *what;        /* "Task exception was never retrieved", ... */
    uint64_t task_id;        /* 0 if no task is concerned */
    const char *task_name;   /* NULL if none */
    const ts_site *site;     /* the spawn site (or call site); may be NULL */
    int err;                 /* the error concerned, or 0 */
    const char *message;     /* the task's error message, or NULL */
    /* Misuse reports (see the kinds): where the bad call was made, and
     * where the object was freed or released; NULL when not known.  A
     * site with a NULL file names only the call (its func). */
    const ts_site *call_site;
    const ts_site *released_site;
} ts_diag;

typedef void (*ts_diag_handler)(const ts_diag *d, void *arg);

/* Route diagnostics to handler (NULL: back to stderr).  Process-wide.
 * The handler may be called from any loop thread. */
void ts_set_diag_handler(ts_diag_handler handler, void *arg);

/* Format a diagnostic as the default handler prints it (no newline). */
int ts_diag_format(const ts_diag *d, char *buf, size_t len);

/* The number of diagnostics reported so far in this process. */
uint64_t ts_diag_count(ts_diag_kind kind);

#ifdef __cplusplus
}
#endif
#endif
