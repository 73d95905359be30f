/*
 * timeout.c - timeout scopes (asyncio.timeout).
 *
 * On expiry the scope cancels its task and remembers that it did.  On exit
 * it takes its request back (uncancel); if that leaves no more requests
 * than there were when the scope was entered, the cancellation the body
 * ended with was ours and becomes -ETIMEDOUT.  Any other cancellation
 * (from outside, or from an enclosing scope that also expired) keeps the
 * count higher and passes through as -ECANCELED, which is what makes
 * nesting work.
 *
 * Handles.  A ts_timeout * is not the record's address but a tag: the
 * record's slot in its loop's table and a generation, unique per thread,
 * given at enter and withdrawn at exit.  So a handle used after its exit
 * (ts_timeout_exit twice, ts_timeout_when on an exited scope) is known to
 * be stale and refused with TS_EINVALSTATE, never a read of freed memory,
 * even once the slot holds a newer scope.  The table lives on the loop's
 * `timeouts` list (its one entry) and is freed when the loop closes;
 * records never move (chunks), because the loop's timer heap points into
 * them.
 *
 * Time: a negative delay (or a deadline in the past) has already expired,
 * as in asyncio; TS_FOREVER (INFINITY) means no deadline; NaN compares
 * with nothing, so it is treated as expired too: a computed remaining time
 * gone wrong must never become an unbounded wait.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "loop_impl.h"

enum {
    IDX_BITS = 20,                  /* at most 2^20 open scopes per loop */
    CHUNK = 256,
};
#define IDX_MASK (((uintptr_t)1 << IDX_BITS) - 1)
/* The generation field of a handle: what is left of a pointer. */
#define GEN_MASK (UINTPTR_MAX >> IDX_BITS)

typedef struct scope {
    ts__timer timer;
    ts_task *task;
    int64_t when;          /* INT64_MAX: no deadline */
    uintptr_t gen;         /* 0 while the slot is free */
    uint32_t next_free;    /* free list link (slot index) */
    int cancelling_at_entry;
    bool expired;
} scope;

typedef struct scope_table {
    ts__node node;         /* the loop's `timeouts` list holds only this */
    scope **chunks;
    uint32_t nchunks;
    uint32_t nslots;       /* slots made so far */
    uint32_t free_head;    /* UINT32_MAX: none */
} scope_table;

/* Generations are unique on this thread across loops, so a handle kept
 * past its loop's close cannot match a scope of the next loop. */
static TS_TLS uintptr_t next_gen;

static scope *slot_at(scope_table *tb, uint32_t i) {
    return &tb->chunks[i / CHUNK][i % CHUNK];
}

static scope_table *table_of(ts_loop *l, bool create) {
    ts__node *n = ts__list_first(&l->timeouts);
    if (n)
        return ts__container_of(n, scope_table, node);
    if (!create)
        return NULL;
    scope_table *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->free_head = UINT32_MAX;
    ts__list_push_back(&l->timeouts, &tb->node);
    return tb;
}

/* A free slot's index, or UINT32_MAX when out of memory or slots. */
static uint32_t slot_take(scope_table *tb) {
    if (tb->free_head != UINT32_MAX) {
        uint32_t i = tb->free_head;
        tb->free_head = slot_at(tb, i)->next_free;
        return i;
    }
    if (tb->nslots >= IDX_MASK)
        return UINT32_MAX;
    if (tb->nslots == tb->nchunks * CHUNK) {
        scope **c = realloc(tb->chunks, (tb->nchunks + 1) * sizeof *c);
        if (!c)
            return UINT32_MAX;
        tb->chunks = c;
        c[tb->nchunks] = calloc(CHUNK, sizeof **c);
        if (!c[tb->nchunks])
            return UINT32_MAX;
        tb->nchunks++;
    }
    return tb->nslots++;
}

static ts_timeout *handle_of(uint32_t idx, uintptr_t gen) {
    return (ts_timeout *)((gen << IDX_BITS) | ((uintptr_t)idx + 1));
}

/* The live scope a handle names on this thread's loop, or NULL. */
static scope *scope_of(const ts_timeout *to) {
    ts_loop *l = ts__loop();
    uintptr_t h = (uintptr_t)to;
    scope_table *tb = l ? table_of(l, false) : NULL;
    if (!tb || (h & IDX_MASK) == 0)
        return NULL;
    uint32_t idx = (uint32_t)((h & IDX_MASK) - 1);
    if (idx >= tb->nslots)
        return NULL;
    scope *s = slot_at(tb, idx);
    return s->gen != 0 && s->gen == (h >> IDX_BITS) ? s : NULL;
}

static void expired(ts__timer *tm) {
    scope *s = ts__container_of(tm, scope, timer);
    s->expired = true;
    ts_task_cancel(s->task, NULL);
}

static int64_t abs_ns(double when) {
    if (isnan(when))
        return 0;
    if (when >= 9.2e9)
        return INT64_MAX;
    return when <= 0 ? 0 : (int64_t)(when * 1e9);
}

static void arm(scope *s) {
    if (s->when == INT64_MAX)
        ts__timer_stop(s->task->loop, &s->timer);
    else
        ts__timer_start(s->task->loop, &s->timer, s->when);
}

static ts_timeout *enter(int64_t when) {
    ts_task *t = ts__current();
    if (!t) {
        errno = ESRCH;
        return NULL;
    }
    scope_table *tb = table_of(t->loop, true);
    uint32_t idx = tb ? slot_take(tb) : UINT32_MAX;
    if (idx == UINT32_MAX) {
        errno = ENOMEM;
        return NULL;
    }
    scope *s = slot_at(tb, idx);
    next_gen = (next_gen + 1) & GEN_MASK;
    if (next_gen == 0)
        next_gen = 1;
    *s = (scope){.task = t, .when = when, .gen = next_gen,
                 .cancelling_at_entry = ts_task_cancelling(t)};
    ts__timer_init(&s->timer, expired);
    arm(s);
    return handle_of(idx, s->gen);
}

ts_timeout *ts_timeout_enter(double delay) {
    ts_loop *l = ts__loop();
    if (!l) {
        errno = ESRCH;
        return NULL;
    }
    if (isinf(delay) && delay > 0)
        return enter(INT64_MAX);
    /* <= 0 and NaN: a deadline of "now", so it fires in this iteration. */
    return enter(ts__deadline_after(l, delay));
}

ts_timeout *ts_timeout_enter_at(double when) { return enter(abs_ns(when)); }

/* Report a stale handle (exit twice, or use after exit). */
static int stale(const char *what) {
    ts__diag_task(TS_DIAG_TIMEOUT_STALE, what, ts__current(), TS_EINVALSTATE,
                  NULL);
    return TS_EINVALSTATE;
}

int ts_timeout_exit(ts_timeout *to, int err) {
    if (!to)
        return err;
    scope *s = scope_of(to);
    if (!s)
        return stale("ts_timeout_exit on a scope already exited");
    ts_loop *l = s->task->loop;
    ts__timer_stop(l, &s->timer);
    if (s->expired) {
        int left = ts_task_uncancel(s->task);
        if (left <= s->cancelling_at_entry && err == -ECANCELED)
            err = -ETIMEDOUT;
    }
    scope_table *tb = table_of(l, false);
    uint32_t idx = (uint32_t)(((uintptr_t)to & IDX_MASK) - 1);
    s->gen = 0;
    s->next_free = tb->free_head;
    tb->free_head = idx;
    return err;
}

/* Loop close: every timer was stopped already; free the table whole. */
void ts__timeouts_close(ts_loop *l) {
    scope_table *tb = table_of(l, false);
    if (!tb)
        return;
    ts__list_remove(&tb->node);
    for (uint32_t i = 0; i < tb->nchunks; i++)
        free(tb->chunks[i]);
    free(tb->chunks);
    free(tb);
}

int ts_timeout_reschedule(ts_timeout *to, double when) {
    scope *s = scope_of(to);
    if (!s)
        return stale("ts_timeout_reschedule on a scope already exited");
    if (s->expired)
        return TS_EINVALSTATE;
    s->when = abs_ns(when);
    arm(s);
    return 0;
}

double ts_timeout_when(const ts_timeout *to) {
    const scope *s = scope_of(to);
    if (!s || s->when == INT64_MAX)
        return INFINITY;
    return (double)s->when / 1e9;
}

int ts_timeout_expired(const ts_timeout *to) {
    const scope *s = scope_of(to);
    return s ? s->expired : 0;
}
