/*
 * timer.c - the loop's timer heap.
 *
 * A binary min-heap of pointers to timers embedded in their owners (a
 * sleeping task's frame, a timeout scope, a call_later handle), ordered by
 * (deadline, start sequence): equal deadlines fire in the order they were
 * started.  Each timer remembers its heap index, so stopping one is
 * O(log n) with no search.  No allocation except when the heap grows.
 */
#include <math.h>
#include <stdlib.h>

#include "loop_impl.h"

void ts__timer_init(ts__timer *t, void (*fn)(ts__timer *)) {
    t->when = 0;
    t->seq = 0;
    t->idx = SIZE_MAX;
    t->fn = fn;
}

/* Heap entries carry their keys inline: comparing two entries touches
 * only the heap array, not two timers in unrelated allocations, which is
 * what keeps a heap of 200k timers out of the cache-miss regime. */
static inline int earlier(const ts__heap_entry *a, const ts__heap_entry *b) {
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static inline void place(ts_loop *l, size_t i, ts__heap_entry e) {
    l->heap[i] = e;
    e.t->idx = i;
}

static void sift_up(ts_loop *l, size_t i) {
    ts__heap_entry e = l->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(&e, &l->heap[parent]))
            break;
        place(l, i, l->heap[parent]);
        i = parent;
    }
    place(l, i, e);
}

static void sift_down(ts_loop *l, size_t i) {
    ts__heap_entry e = l->heap[i];
    size_t n = l->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && earlier(&l->heap[c + 1], &l->heap[c]))
            c++;
        if (!earlier(&l->heap[c], &e))
            break;
        place(l, i, l->heap[c]);
        i = c;
    }
    place(l, i, e);
}

void ts__timer_start(ts_loop *l, ts__timer *t, int64_t when) {
    if (ts__timer_active(t))
        ts__timer_stop(l, t);
    if (l->nheap == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        ts__heap_entry *h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            abort(); /* a timer is part of a suspension already promised;
                      * there is no way to report failure here */
        l->heap = h;
        l->heap_cap = cap;
    }
    t->when = when;
    t->seq = l->timer_seq++;
    size_t i = l->nheap++;
    place(l, i, (ts__heap_entry){when, t->seq, t});
    sift_up(l, i);
}

void ts__timer_stop(ts_loop *l, ts__timer *t) {
    size_t i = t->idx;
    if (i == SIZE_MAX)
        return;
    t->idx = SIZE_MAX;
    ts__heap_entry last = l->heap[--l->nheap];
    if (i == l->nheap)
        return;
    place(l, i, last);
    if (i > 0 && earlier(&last, &l->heap[(i - 1) / 2]))
        sift_up(l, i);
    else
        sift_down(l, i);
}

/* Fire the timers due at `now` that were started before this call began:
 * a timer re-armed for "now" by its own callback waits for the next
 * iteration instead of spinning here forever. */
void ts__timers_run(ts_loop *l, int64_t now) {
    uint64_t seq_limit = l->timer_seq;
    while (l->nheap > 0) {
        if (l->heap[0].when > now || l->heap[0].seq >= seq_limit)
            break;
        ts__timer *t = l->heap[0].t;
        ts__timer_stop(l, t);
        t->fn(t);
    }
}

int64_t ts__seconds_to_ns(double s) {
    if (isnan(s) || s <= 0)
        return 0;
    if (s >= 9.2e9) /* ~292 years: treat as "never" */
        return INT64_MAX;
    return (int64_t)(s * 1e9 + 0.5);
}

int64_t ts__deadline_after(ts_loop *l, double delay) {
    int64_t d = ts__seconds_to_ns(delay);
    /* A deadline counts from now, not from when the iteration began: a
     * step that ran 30 ms before asking to sleep 30 ms must still sleep
     * 30 ms.  (asyncio's call_later reads the clock afresh too.) */
    l->now_valid = false;
    int64_t now = ts__now(l);
    return d > INT64_MAX - now ? INT64_MAX : now + d;
}
