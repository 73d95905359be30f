/*
 * taskscope/group.h - task groups (asyncio.TaskGroup) and the errors they
 * collect (asyncio's ExceptionGroup).
 *
 *     ts_group *g = ts_group_new();
 *     ts_group_spawn(g, worker, a);
 *     ts_group_spawn(g, worker, b);
 *     int err = ts_group_wait(g, 0);     // the "async with" exit
 *     ...if err, walk ts_group_errors(g)...
 *     ts_group_free(g);
 *
 * The group owns its children.  When a child fails (any error other than
 * -ECANCELED), the group starts shutting down: it cancels every other child
 * and the body (the task that created the group), so the body's current or
 * next suspension returns -ECANCELED and it can proceed to ts_group_wait.
 * ts_group_wait waits for every child, however the body ended.
 *
 * A child is released the moment it finishes, as asyncio drops its
 * reference: a group around an accept loop stays the same size however
 * many connections it has served.  What the group keeps of a finished
 * child is its error, if it failed (with the failed task's handle, given
 * up in ts_group_free).
 */
#ifndef TASKSCOPE_GROUP_H
#define TASKSCOPE_GROUP_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_group ts_group;

/* ts_group_new - a group whose body is the calling task; the call site is
 * kept for diagnostics.  NULL outside a task or when out of memory (errno
 * ESRCH / ENOMEM).  Does not suspend.
 *
 * A group used after ts_group_free, or after its loop closed, gives
 * TS_EFREED (ts_group_spawn: NULL with errno -TS_EFREED) and a
 * TS_DIAG_USE_AFTER_FREE report naming where it was created (recognised
 * after free by the debug runtime, for the next 1024 object frees). */
#define ts_group_new() ts_group_new_at(TS_HERE)
ts_group *ts_group_new_at(const ts_site *site);
ts_group *(ts_group_new)(void);

/*
 * ts_group_spawn - spawn a child into the group.  Does not suspend.
 * Returns a borrowed pointer that stays valid while the child runs: the
 * group gives the child up when it finishes (if it failed, only in
 * ts_group_free).  Take ts_task_ref() on it before it finishes to keep it
 * longer (and ts_task_unref() it when done).  NULL with errno EBUSY if the
 * group is shutting down or finished (asyncio's RuntimeError), EINVAL for
 * a NULL group or function, EXDEV from another loop, ENOMEM if out of
 * memory.
 */
#define ts_group_spawn(g, fn, arg) ts_group_spawn_at((g), NULL, (fn), (arg), #fn, TS_HERE)
#define ts_group_spawn_with(g, opts, fn, arg) ts_group_spawn_at((g), (opts), (fn), (arg), #fn, TS_HERE)
ts_task *ts_group_spawn_at(ts_group *g, const ts_spawn_opts *opts,
                           ts_task_fn fn, void *arg, const char *default_name,
                           const ts_site *site);

/*
 * ts_group_wait - the group's exit.  body_err is how the body ended: 0, or
 * the error that would leave "async with" (a nonzero body_err cancels the
 * children).  Suspends until every child has finished, even if the caller
 * is cancelled meanwhile.  Call it once, from the body.
 *
 * What it returns.  The group collects, in the order they happened, the
 * error of every child that failed (an error other than -ECANCELED), then
 * the body's own error (body_err, unless 0 or -ECANCELED).  Then:
 *   - no error collected: -ECANCELED if the body is being cancelled from
 *     outside the group (a cancellation the group made itself is taken
 *     back), else body_err;
 *   - exactly one error: that error;
 *   - several: TS_EGROUP ("several errors").
 * When errors were collected they take priority over a cancellation from
 * outside, which is delivered again at the body's next suspension (its
 * cancel count unchanged), as asyncio 3.13 does.  Every collected error is
 * listed by ts_group_errors(g).  The list is also attached to the body
 * task, so that if the body (or a child of an enclosing group) ends with
 * this same error, the enclosing group nests the list under that entry:
 * nested groups give nested lists, like nested ExceptionGroups.
 *
 * Errors: -EINVAL (NULL group), TS_ENOTASK (not in a task), -EPERM (not
 * the body), TS_EINVALSTATE (called twice).
 */
#define ts_group_wait(g, body_err) ts_group_wait_at((g), (body_err), TS_HERE)
int ts_group_wait_at(ts_group *g, int body_err, const ts_site *site);

/* ts_group_running - how many children have not finished yet (what the
 * group holds on to; asyncio's len(tg._tasks)). */
size_t ts_group_running(const ts_group *g);

/* ts_group_free - free the group, give up the handles it keeps.  Must
 * follow ts_group_wait (if not, the children still running are cancelled
 * and left to finish detached).  The list from ts_group_errors() stays
 * valid while the body task holds it (see ts_task_error_group). */
#define ts_group_free(g) ts_group_free_at((g), TS_HERE)
void ts_group_free_at(ts_group *g, const ts_site *site);
void (ts_group_free)(ts_group *g);

/* ---- the collected errors (ExceptionGroup) --------------------------------*/

typedef struct ts_error_group ts_error_group;

/* One collected error. */
typedef struct ts_group_failure {
    int err;                      /* the error code */
    const char *message;          /* the ts_fail() message (copied), or NULL */
    int from_body;                /* 1: the body's own error, 0: a child's */
    uint64_t task_id;             /* the child's (or the body's) task id */
    const char *task_name;        /* its name (copied; NULL if out of memory) */
    const ts_site *spawn_site;    /* where that task was spawned */
    /* When this task's error came out of a task group it waited for (the
     * error is that group's verdict): that group's own errors.  NULL
     * otherwise. */
    const ts_error_group *nested;
} ts_group_failure;

/* ts_group_errors - the errors g collected (NULL if none).  Borrowed:
 * valid until ts_group_free, or as long as the body task keeps the list
 * (ts_task_error_group). */
const ts_error_group *ts_group_errors(const ts_group *g);

/* ts_task_error_group - the error list of the last task group whose wait
 * failed in task t (its body), or NULL.  Valid while t's handle is held
 * and until t waits for another failing group. */
const ts_error_group *ts_task_error_group(const ts_task *t);

/* The number of entries, and entry i (NULL past the end).  NULL-safe. */
size_t ts_error_group_count(const ts_error_group *eg);
const ts_group_failure *ts_error_group_get(const ts_error_group *eg, size_t i);

/* ts_error_group_count_code - how many leaf errors equal to err the tree
 * holds, nested lists included (an entry with a nested list counts as its
 * leaves, not as itself). */
size_t ts_error_group_count_code(const ts_error_group *eg, int err);

/* ts_error_group_format - the tree as text, one line per entry, nested
 * entries indented, like Python's ExceptionGroup traceback.  Returns the
 * length it needed (as snprintf); buf may be NULL when len is 0. */
int ts_error_group_format(const ts_error_group *eg, char *buf, size_t len);

/* The older flat view: the number of entries of ts_group_errors(g), and
 * entry i's code, with the task it came from through *task (borrowed,
 * valid until ts_group_free: the failed child, or the body).  0 and NULL
 * past the end. */
size_t ts_group_error_count(const ts_group *g);
int ts_group_error(const ts_group *g, size_t i, ts_task **task);

#ifdef __cplusplus
}
#endif
#endif
