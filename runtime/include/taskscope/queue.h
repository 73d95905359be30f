/*
 * taskscope/queue.h - queues between tasks: FIFO (Queue), LIFO (LifoQueue)
 * and priority (PriorityQueue), as asyncio's, with Python 3.13's shutdown.
 *
 * Items are void pointers; the queue never owns what they point to.
 * Blocked putters and getters are served in arrival order.  Not
 * thread-safe (one loop), like asyncio.Queue.
 */
#ifndef TASKSCOPE_QUEUE_H
#define TASKSCOPE_QUEUE_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_queue ts_queue;

/* maxsize 0: unbounded.  NULL on ENOMEM / ESRCH.  The call site is kept
 * for diagnostics: a queue used after ts_queue_free, or after its loop
 * closed, gives TS_EFREED (every call that returns an error; shutdown and
 * free do nothing; the readers give 0, empty, after a free) and a
 * TS_DIAG_USE_AFTER_FREE report naming where it was created, used and
 * freed.  The debug runtime recognises a freed queue for the next 1024
 * object frees, the release runtime only a closed loop. */
#define ts_queue_new(maxsize) ts_queue_new_at((maxsize), TS_HERE)
ts_queue *ts_queue_new_at(size_t maxsize, const ts_site *site);
ts_queue *(ts_queue_new)(size_t maxsize);
/* Names, as for the primitives of sync.h: a FIFO queue with a name; the
 * name of any queue (LIFO and priority ones too) set, read. */
#define ts_queue_new_named(maxsize, name) ts_queue_new_named_at((maxsize), (name), TS_HERE)
ts_queue *ts_queue_new_named_at(size_t maxsize, const char *name, const ts_site *site);
int ts_queue_set_name(ts_queue *q, const char *name);
const char *ts_queue_get_name(const ts_queue *q);
#define ts_lifo_queue_new(maxsize) ts_lifo_queue_new_at((maxsize), TS_HERE)
ts_queue *ts_lifo_queue_new_at(size_t maxsize, const ts_site *site);
ts_queue *(ts_lifo_queue_new)(size_t maxsize);
/* cmp orders items like qsort's comparator: the smallest comes out first;
 * items that compare equal come out in insertion order.  Unlike qsort, cmp
 * receives the items themselves (the void pointers that were put). */
#define ts_priority_queue_new(maxsize, cmp) ts_priority_queue_new_at((maxsize), (cmp), TS_HERE)
ts_queue *ts_priority_queue_new_at(size_t maxsize,
                                   int (*cmp)(const void *a, const void *b),
                                   const ts_site *site);
ts_queue *(ts_priority_queue_new)(size_t maxsize,
                                  int (*cmp)(const void *a, const void *b));
/* Frees the queue; tasks still blocked on it are woken with TS_ESHUTDOWN. */
#define ts_queue_free(q) ts_queue_free_at((q), TS_HERE)
void ts_queue_free_at(ts_queue *q, const ts_site *site);
void (ts_queue_free)(ts_queue *q);

/* put: suspends while the queue is full.  Returns 0, -ECANCELED (nothing
 * was put), TS_ESHUTDOWN, or -ENOMEM (the queue's storage grows on
 * demand). */
#define ts_queue_put(q, item) ts_queue_put_at((q), (item), TS_HERE)
int ts_queue_put_at(ts_queue *q, void *item, const ts_site *site);
/* get: suspends while the queue is empty.  Returns 0 and *item,
 * -ECANCELED (nothing was taken), or TS_ESHUTDOWN (shut down and empty,
 * or shut down immediately). */
#define ts_queue_get(q, item) ts_queue_get_at((q), (item), TS_HERE)
int ts_queue_get_at(ts_queue *q, void **item, const ts_site *site);
/* The no-wait forms return -EAGAIN instead of suspending (QueueFull /
 * QueueEmpty), and TS_ESHUTDOWN likewise. */
int ts_queue_put_nowait(ts_queue *q, void *item);
int ts_queue_get_nowait(ts_queue *q, void **item);

/* task_done: one item taken earlier is fully processed.  -EINVAL if called
 * more times than there were items put. */
int ts_queue_task_done(ts_queue *q);
/* join: suspend until every item put has been marked done.  0, -ECANCELED. */
#define ts_queue_join(q) ts_queue_join_at((q), TS_HERE)
int ts_queue_join_at(ts_queue *q, const ts_site *site);

/*
 * ts_queue_shutdown - put fails from now on with TS_ESHUTDOWN; blocked
 * putters are woken with it.  Not immediate: get keeps draining what is
 * left, then returns TS_ESHUTDOWN.  Immediate: the queue is emptied (each
 * removed item counts as done for join) and every blocked getter wakes
 * with TS_ESHUTDOWN.
 */
void ts_queue_shutdown(ts_queue *q, int immediate);

size_t ts_queue_size(const ts_queue *q);
size_t ts_queue_maxsize(const ts_queue *q);
int ts_queue_empty(const ts_queue *q);
int ts_queue_full(const ts_queue *q);

#ifdef __cplusplus
}
#endif
#endif
