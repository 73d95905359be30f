/*
 * queue.c - asyncio.Queue, LifoQueue and PriorityQueue, with Python 3.13's
 * shutdown.
 *
 * Items live in one array of entries used three ways: a ring (FIFO), a
 * stack (LIFO) or a binary min-heap (priority; equal items are ordered by
 * a sequence number taken at put, so they come out first in, first out).
 * A priority queue's cmp is called with the items themselves.
 *
 * Invariants:
 *   - Getters wait only while the queue is empty, putters only while it is
 *     full.  So a put that finds a getter waiting hands the item straight
 *     to it (w.value), and a get that makes room while a putter waits
 *     stores that putter's item (kept in its w.value) on its behalf.  Both
 *     are success wakes, final by internal.h: the woken getter owns the
 *     item even if it is cancelled before it runs, and the woken putter's
 *     item is in the queue.  A waiter cancelled while still queued was
 *     unlinked by ts__wake, so it neither takes nor puts anything.  Served
 *     strictly in arrival order.
 *   - unfinished counts items put and not yet task_done; it reaching 0
 *     wakes every joiner.  An immediate shutdown counts each item it
 *     discards as done, as Python 3.13 does.
 *   - After shutdown no put succeeds.  Blocked putters and getters are woken
 *     with TS_ESHUTDOWN (a getter only waits on an empty queue, and nothing
 *     can be put any more).  Getters drain what is left after a
 *     non-immediate shutdown; an immediate one leaves nothing to drain.
 *   - Storing a putter's item after a get never allocates (the get just
 *     made room), so a hand-over cannot fail half way.
 *
 * Freeing a queue wakes its blocked putters, getters and joiners with
 * TS_ESHUTDOWN; they must not touch it again.  It starts with a ts__obj
 * header (objcheck.c): a use after free, or after its loop closed, returns
 * TS_EFREED and is reported with the creation, call and free sites.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

enum queue_kind { QUEUE_FIFO, QUEUE_LIFO, QUEUE_PRIORITY };

typedef struct entry {
    void *item;
    uint64_t seq;   /* put order; breaks ties in the priority heap */
} entry;

struct ts_queue {
    ts__obj obj;        /* first: the loop, the creation site, live/freed */
    enum queue_kind kind;
    int (*cmp)(const void *a, const void *b);
    size_t maxsize;     /* 0: unbounded */
    entry *buf;
    size_t cap, head, len;   /* head: the ring's front (FIFO only); cap is 0
                              * or a power of two (store_reserve), so the ring
                              * index is a mask, not a division */
    uint64_t next_seq;
    size_t unfinished;
    int is_shutdown;
    ts__node getters, putters, joiners;   /* ts__waiter.node, FIFO */
};

/* ---- storage ------------------------------------------------------------*/

static int entry_less(const ts_queue *q, const entry *a, const entry *b) {
    int c = q->cmp(a->item, b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Make room for one more entry; 0 or -ENOMEM. */
static int store_reserve(ts_queue *q) {
    if (q->len < q->cap)
        return 0;
    size_t cap = q->cap ? q->cap * 2 : 8;
    if (cap < q->cap || cap > SIZE_MAX / sizeof(entry))
        return -ENOMEM;
    entry *buf = malloc(cap * sizeof(entry));
    if (!buf)
        return -ENOMEM;
    /* Unroll the ring (head is 0 for the other kinds).  It is full here,
     * so len == cap. */
    for (size_t i = 0; i < q->len; i++)
        buf[i] = q->buf[(q->head + i) % q->len];
    free(q->buf);
    q->buf = buf;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static void heap_sift_up(ts_queue *q, size_t i) {
    entry e = q->buf[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_less(q, &e, &q->buf[parent]))
            break;
        q->buf[i] = q->buf[parent];
        i = parent;
    }
    q->buf[i] = e;
}

static void heap_sift_down(ts_queue *q, size_t i) {
    entry e = q->buf[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->len)
            break;
        if (child + 1 < q->len && entry_less(q, &q->buf[child + 1], &q->buf[child]))
            child++;
        if (!entry_less(q, &q->buf[child], &e))
            break;
        q->buf[i] = q->buf[child];
        i = child;
    }
    q->buf[i] = e;
}

/* Store item; there must be room (store_reserve). */
static void store_push(ts_queue *q, void *item) {
    entry e = {item, q->next_seq++};
    switch (q->kind) {
    case QUEUE_FIFO:
        q->buf[(q->head + q->len++) & (q->cap - 1)] = e;
        break;
    case QUEUE_LIFO:
        q->buf[q->len++] = e;
        break;
    case QUEUE_PRIORITY:
        q->buf[q->len++] = e;
        heap_sift_up(q, q->len - 1);
        break;
    }
}

/* Remove the next item; the queue must not be empty. */
static void *store_pop(ts_queue *q) {
    void *item;
    switch (q->kind) {
    case QUEUE_FIFO:
        item = q->buf[q->head].item;
        q->head = (q->head + 1) & (q->cap - 1);
        q->len--;
        break;
    case QUEUE_LIFO:
        item = q->buf[--q->len].item;
        break;
    default:
        item = q->buf[0].item;
        q->buf[0] = q->buf[--q->len];
        if (q->len)
            heap_sift_down(q, 0);
        break;
    }
    return item;
}

/* ---- creation -----------------------------------------------------------*/

static ts_queue *queue_new(size_t maxsize, enum queue_kind kind,
                           int (*cmp)(const void *, const void *),
                           const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    ts_queue *q = calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return NULL;
    }
    ts__obj_init(&q->obj, loop, "ts_queue", site);
    q->kind = kind;
    q->cmp = cmp;
    q->maxsize = maxsize;
    ts__list_init(&q->getters);
    ts__list_init(&q->putters);
    ts__list_init(&q->joiners);
    TS_TRACE_RESOURCE_CREATE(q, TS_RES_QUEUE,
                             maxsize > UINT_MAX ? UINT_MAX : (unsigned)maxsize, site);
    return q;
}

ts_queue *ts_queue_new_at(size_t maxsize, const ts_site *site) {
    return queue_new(maxsize, QUEUE_FIFO, NULL, site);
}

ts_queue *ts_lifo_queue_new_at(size_t maxsize, const ts_site *site) {
    return queue_new(maxsize, QUEUE_LIFO, NULL, site);
}

ts_queue *ts_priority_queue_new_at(size_t maxsize,
                                   int (*cmp)(const void *a, const void *b),
                                   const ts_site *site) {
    if (!cmp) {
        errno = EINVAL;
        return NULL;
    }
    return queue_new(maxsize, QUEUE_PRIORITY, cmp, site);
}

/* The functions behind the pre-site ABI (the header's macros call the
 * _at forms); kept for binaries built before. */
ts_queue *(ts_queue_new)(size_t maxsize) { return ts_queue_new_at(maxsize, NULL); }

ts_queue *(ts_lifo_queue_new)(size_t maxsize) {
    return ts_lifo_queue_new_at(maxsize, NULL);
}

ts_queue *(ts_priority_queue_new)(size_t maxsize,
                                  int (*cmp)(const void *a, const void *b)) {
    return ts_priority_queue_new_at(maxsize, cmp, NULL);
}

static void wake_all(ts__node *list, int status) {
    ts__node *n;
    while ((n = ts__list_pop_front(list)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, status);
}

void (ts_queue_free)(ts_queue *q) { ts_queue_free_at(q, NULL); }

void ts_queue_free_at(ts_queue *q, const ts_site *site) {
    /* After its loop closed the waiters' records went with their stacks:
     * freeing is cleanup, and the lists must not be touched. */
    int orphaned = q && ts__obj_orphaned(&q->obj);
    if (!q || (!orphaned && ts__obj_check(&q->obj, "ts_queue_free", site)))
        return;
    if (!orphaned) {
        wake_all(&q->getters, TS_ESHUTDOWN);
        wake_all(&q->putters, TS_ESHUTDOWN);
        wake_all(&q->joiners, TS_ESHUTDOWN);
    }
    TS_TRACE_RESOURCE_FREE(q);
    free(q->buf);
    q->buf = NULL;
    ts__obj_free(&q->obj, site);
}

/* ---- put and get --------------------------------------------------------*/

static int queue_full(const ts_queue *q) {
    return q->maxsize > 0 && q->len >= q->maxsize;
}

/* Give item to the longest getter still parked; returns that getter, or
 * NULL if there is none. */
static ts_task *hand_to_getter(ts_queue *q, void *item) {
    ts__node *n;
    while ((n = ts__list_pop_front(&q->getters))) {
        ts__waiter *w = ts__container_of(n, ts__waiter, node);
        w->value = item;
        if (ts__wake(w->task, 0))
            return w->task;
    }
    return NULL;
}

/* No getter waits: store item if there is room.  0, -EAGAIN (full) or
 * -ENOMEM.  Out of line, with the growth it may need, so that the
 * hand-over below compiles to a function with almost no frame: a put to
 * a waiting getter is the path of every producer/consumer pair. */
static __attribute__((noinline)) int store_item(ts_queue *q, void *item) {
    if (queue_full(q))
        return -EAGAIN;
    if (store_reserve(q))
        return -ENOMEM;
    store_push(q, item);
    q->unfinished++;
    TS_TRACE_RESOURCE_RELEASE(q, ts__current());
    TS_TRACE_QUEUE_DEPTH_NEXT(q, q->len);
    return 0;
}

/* Put without waiting: 0, -EAGAIN (full) or -ENOMEM.  Not shut down. */
static inline int put_now(ts_queue *q, void *item) {
    ts_task *getter = hand_to_getter(q, item);
    if (!getter)
        return store_item(q, item);
    q->unfinished++;
    /* Its wake was just recorded: same instant. */
    TS_TRACE_RESOURCE_RELEASE_NEXT(q, ts__current());
    TS_TRACE_RESOURCE_ACQUIRED_NEXT(q, getter);
    return 0;
}

/* A get just made room: complete the longest waiting put, if any. */
static void admit_putter(ts_queue *q) {
    ts__node *n;
    while ((n = ts__list_pop_front(&q->putters))) {
        ts__waiter *w = ts__container_of(n, ts__waiter, node);
        void *item = w->value;
        if (ts__wake(w->task, 0)) {
            store_push(q, item);
            q->unfinished++;
            TS_TRACE_RESOURCE_RELEASE_NEXT(q, w->task); /* after its wake */
            return;
        }
    }
}

/* Take the next item; the queue must not be empty. */
static void *get_now(ts_queue *q) {
    void *item = store_pop(q);
    TS_TRACE_RESOURCE_ACQUIRED(q, ts__current());
    admit_putter(q);
    TS_TRACE_QUEUE_DEPTH_NEXT(q, q->len);
    return item;
}

static int check(ts_queue *q, const char *what, const ts_site *site) {
    return q ? ts__obj_check(&q->obj, what, site) : -EINVAL;
}

int ts_queue_put_nowait(ts_queue *q, void *item) {
    int err = check(q, "ts_queue_put_nowait", NULL);
    if (err)
        return err;
    return q->is_shutdown ? TS_ESHUTDOWN : put_now(q, item);
}

int ts_queue_put_at(ts_queue *q, void *item, const ts_site *site) {
    int err = check(q, "ts_queue_put", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (q->is_shutdown)
        return TS_ESHUTDOWN;
    err = put_now(q, item);
    if (err != -EAGAIN)
        return err;
    ts__waiter w;
    ts__waiter_init(&w, self);
    w.value = item;
    ts__list_push_back(&q->putters, &w.node);
    /* 0: a getter stored our item.  Otherwise nothing was put. */
    return ts__park(&w, TS_WAIT_QUEUE_PUT, q, site);
}

int ts_queue_get_nowait(ts_queue *q, void **item) {
    int err = check(q, "ts_queue_get_nowait", NULL);
    if (err)
        return err;
    if (q->len == 0)
        return q->is_shutdown ? TS_ESHUTDOWN : -EAGAIN;
    void *it = get_now(q);
    if (item)
        *item = it;
    return 0;
}

int ts_queue_get_at(ts_queue *q, void **item, const ts_site *site) {
    int err = check(q, "ts_queue_get", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (q->len > 0 || q->is_shutdown)
        return ts_queue_get_nowait(q, item);
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&q->getters, &w.node);
    /* 0: a putter handed us w.value.  Otherwise nothing was taken. */
    err = ts__park(&w, TS_WAIT_QUEUE_GET, q, site);
    if (err == 0 && item)
        *item = w.value;
    return err;
}

/* ---- task_done, join, shutdown -------------------------------------------*/

int ts_queue_task_done(ts_queue *q) {
    int err = check(q, "ts_queue_task_done", NULL);
    if (err)
        return err;
    if (q->unfinished == 0)
        return -EINVAL;
    if (--q->unfinished == 0)
        wake_all(&q->joiners, 0);
    return 0;
}

int ts_queue_join_at(ts_queue *q, const ts_site *site) {
    int err = check(q, "ts_queue_join", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (q->unfinished == 0)
        return 0;
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&q->joiners, &w.node);
    return ts__park(&w, TS_WAIT_QUEUE_JOIN, q, site);
}

void ts_queue_shutdown(ts_queue *q, int immediate) {
    if (check(q, "ts_queue_shutdown", NULL))
        return;
    q->is_shutdown = 1;
    if (immediate) {
        while (q->len > 0) {
            store_pop(q);
            if (q->unfinished > 0)
                q->unfinished--;
        }
        TS_TRACE_QUEUE_DEPTH(q, 0);
        if (q->unfinished == 0)
            wake_all(&q->joiners, 0);
    }
    wake_all(&q->getters, TS_ESHUTDOWN);
    wake_all(&q->putters, TS_ESHUTDOWN);
}

/* ---- accessors ------------------------------------------------------------*/

/* Any thread may look, as before; only a freed queue is refused. */
static int readable(const ts_queue *q, const char *what) {
    return q && ts__obj_readable(&q->obj, what);
}

size_t ts_queue_size(const ts_queue *q) {
    return readable(q, "ts_queue_size") ? q->len : 0;
}

size_t ts_queue_maxsize(const ts_queue *q) {
    return readable(q, "ts_queue_maxsize") ? q->maxsize : 0;
}

int ts_queue_empty(const ts_queue *q) { return !readable(q, "ts_queue_empty") || q->len == 0; }

int ts_queue_full(const ts_queue *q) { return readable(q, "ts_queue_full") && queue_full(q); }
