/*
 * taskscope/group.h - task groups (asyncio.TaskGroup).
 *
 *     ts_group *g = ts_group_new();
 *     ts_group_spawn(g, worker, a);
 *     ts_group_spawn(g, worker, b);
 *     int err = ts_group_wait(g, 0);     // the "async with" exit
 *     ...inspect ts_group_error(g, i, ...)...
 *     ts_group_free(g);
 *
 * The group owns its children.  When a child fails (any error other than
 * -ECANCELED), the group starts shutting down: it cancels every other child
 * and the body (the task that created the group), so the body's current or
 * next suspension returns -ECANCELED and it can proceed to ts_group_wait.
 * ts_group_wait waits for every child, however the body ended.
 */
#ifndef TASKSCOPE_GROUP_H
#define TASKSCOPE_GROUP_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_group ts_group;

/* ts_group_new - a group whose body is the calling task.  NULL outside a
 * task or when out of memory (errno ESRCH / ENOMEM). */
ts_group *ts_group_new(void);

/*
 * ts_group_spawn - spawn a child into the group.  Returns a borrowed
 * pointer, valid until ts_group_free; NULL with errno EBUSY if the group is
 * shutting down or finished (TS_EGROUPCLOSED), ENOMEM if out of memory.
 */
#define ts_group_spawn(g, fn, arg) ts_group_spawn_at((g), NULL, (fn), (arg), #fn, TS_HERE)
#define ts_group_spawn_with(g, opts, fn, arg) ts_group_spawn_at((g), (opts), (fn), (arg), #fn, TS_HERE)
ts_task *ts_group_spawn_at(ts_group *g, const ts_spawn_opts *opts,
                           ts_task_fn fn, void *arg, const char *default_name,
                           const ts_site *site);

/*
 * ts_group_wait - the group's exit.  body_err is how the body ended (0 or
 * an error; a nonzero body_err cancels the children, like an exception
 * leaving "async with").  Suspends until every child has finished.
 * Returns: 0 if the body and all children succeeded; the failing child's
 * error if exactly one failed; TS_EGROUP if several did (see
 * ts_group_error); else body_err.  A cancellation of the body that the
 * group itself caused is taken back; one from outside the group makes it
 * return -ECANCELED once the children are done.  Call it once.
 */
#define ts_group_wait(g, body_err) ts_group_wait_at((g), (body_err), TS_HERE)
int ts_group_wait_at(ts_group *g, int body_err, const ts_site *site);

/* The collected failures, in the order they happened: child i's error
 * code, and its task (borrowed) through *task if task is not NULL. */
size_t ts_group_error_count(const ts_group *g);
int ts_group_error(const ts_group *g, size_t i, ts_task **task);

/* ts_group_free - free the group and its children's handles.  Must follow
 * ts_group_wait. */
void ts_group_free(ts_group *g);

#ifdef __cplusplus
}
#endif
#endif
