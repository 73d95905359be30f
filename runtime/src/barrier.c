/*
 * barrier.c - asyncio.Barrier: `parties` tasks wait until all have come.
 *
 * A cycle (one generation) fills as tasks arrive; arrival i gets index i.
 * The task that arrives last does not suspend: it wakes the others with
 * success (final, see internal.h) and a new cycle starts at once, so a
 * released task can arrive again straight away.  (asyncio instead drains
 * the old cycle before new arrivals count; the indexes, and who is released
 * with whom, are the same.)
 *
 * Invariants:
 *   - count is the number of arrivals in the current generation, including
 *     a waiter that has been cancelled (and so unlinked) but has not run
 *     yet.  Every reset, abort, break or release ends the generation: it
 *     wakes every waiter on the list, zeroes count and bumps gen.
 *   - A waiter that gets -ECANCELED breaks the barrier, as the contract in
 *     sync.h asks (threading.Barrier does the same; asyncio 3.11-3.13
 *     merely forgets the cancelled task) - but only if its own generation
 *     is still current, so a stale cancellation never breaks a later cycle.
 *     If the last party arrives while such a cancelled waiter has not run
 *     yet (fewer waiters are linked than arrived), the barrier breaks then.
 *   - A broken barrier fails every wait with TS_EBROKEN until reset.
 *
 * Freeing a barrier wakes its waiters with TS_EBROKEN, as if it had been
 * aborted.  A task that still has to run inside ts_barrier_wait (woken but
 * not yet returned) must not have its barrier freed under it.  A barrier
 * starts with a ts__obj header (objcheck.c): a use after free, or after
 * its loop closed, returns TS_EFREED and is reported with its sites.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"
#include "tracepoints.h"

struct ts_barrier {
    ts__obj obj;        /* first: the loop, the creation site, live/freed */
    unsigned parties;
    unsigned count;     /* arrivals in this generation */
    uint64_t gen;       /* bumped whenever a generation ends */
    int broken;
    ts__node waiters;   /* ts__waiter.node, in arrival order */
};

ts_barrier *(ts_barrier_new)(int parties) { return ts_barrier_new_at(parties, NULL); }

ts_barrier *ts_barrier_new_at(int parties, const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop) {
        errno = ESRCH;
        return NULL;
    }
    /* Signed, so that -4 is refused instead of becoming 4 billion. */
    if (parties < 1) {
        errno = EINVAL;
        return NULL;
    }
    ts_barrier *b = calloc(1, sizeof *b);
    if (!b) {
        errno = ENOMEM;
        return NULL;
    }
    ts__obj_init(&b->obj, loop, "ts_barrier", site);
    b->parties = (unsigned)parties;
    ts__list_init(&b->waiters);
    TS_TRACE_RESOURCE_CREATE(b, TS_RES_BARRIER, parties, site);
    return b;
}

/* End the generation: wake every linked waiter with status. */
static void end_generation(ts_barrier *b, int status, int broken) {
    ts__node *n;
    while ((n = ts__list_pop_front(&b->waiters)))
        ts__wake(ts__container_of(n, ts__waiter, node)->task, status);
    b->count = 0;
    b->gen++;
    b->broken = broken;
}

void (ts_barrier_free)(ts_barrier *b) { ts_barrier_free_at(b, NULL); }

void ts_barrier_free_at(ts_barrier *b, const ts_site *site) {
    if (b && ts__obj_orphaned(&b->obj)) {
        /* Its loop closed: the waiters' records went with their stacks. */
        TS_TRACE_RESOURCE_FREE(b);
        ts__obj_free(&b->obj, site);
        return;
    }
    if (!b || ts__obj_check(&b->obj, "ts_barrier_free", site))
        return;
    end_generation(b, TS_EBROKEN, 1);
    TS_TRACE_RESOURCE_FREE(b);
    ts__obj_free(&b->obj, site);
}

/* The last party has come: release the others, unless one of them was
 * cancelled and has not run yet, which breaks the barrier instead. */
static int complete(ts_barrier *b) {
    unsigned expected = b->count;
    unsigned linked = 0;
    ts__list_foreach(n, &b->waiters)
        linked++;
    if (linked != expected) {
        end_generation(b, TS_EBROKEN, 1);
        return TS_EBROKEN;
    }
    end_generation(b, 0, 0);
    return 0;
}

int ts_barrier_wait_at(ts_barrier *b, unsigned *index, const ts_site *site) {
    if (!b)
        return -EINVAL;
    int err = ts__obj_check(&b->obj, "ts_barrier_wait", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (b->broken)
        return TS_EBROKEN;
    unsigned my_index = b->count;
    if (my_index + 1 == b->parties) {
        err = complete(b);
        if (!err && index)
            *index = my_index;
        return err;
    }
    b->count++;
    uint64_t my_gen = b->gen;
    ts__waiter w;
    ts__waiter_init(&w, self);
    ts__list_push_back(&b->waiters, &w.node);
    err = ts__park(&w, TS_WAIT_BARRIER, b, site);
    if (err == 0 && index)
        *index = my_index;
    /* On TS_EBROKEN the barrier may have been freed: only a cancellation
     * looks at it again. */
    if (err == -ECANCELED && b->gen == my_gen)
        end_generation(b, TS_EBROKEN, 1);
    return err;
}

void ts_barrier_reset(ts_barrier *b) {
    if (!b || ts__obj_check(&b->obj, "ts_barrier_reset", NULL))
        return;
    end_generation(b, TS_EBROKEN, 0);
}

void ts_barrier_abort(ts_barrier *b) {
    if (!b || ts__obj_check(&b->obj, "ts_barrier_abort", NULL))
        return;
    end_generation(b, TS_EBROKEN, 1);
}

/* Readers: any thread may look, as before; only a freed barrier is
 * refused. */
static int readable(const ts_barrier *b, const char *what) {
    return b && ts__obj_readable(&b->obj, what);
}

unsigned ts_barrier_parties(const ts_barrier *b) {
    return readable(b, "ts_barrier_parties") ? b->parties : 0;
}

unsigned ts_barrier_n_waiting(const ts_barrier *b) {
    return readable(b, "ts_barrier_n_waiting") && !b->broken ? b->count : 0;
}

int ts_barrier_broken(const ts_barrier *b) {
    return readable(b, "ts_barrier_broken") && b->broken;
}
