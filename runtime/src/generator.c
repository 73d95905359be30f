/*
 * generator.c - async generators: a body task that hands values to a
 * consumer one at a time.
 *
 * The body runs as a task of its own, spawned on the first ts_gen_next
 * and named after the generator function.  Consumer and body pass control
 * back and forth with ts__park/ts__wake (TS_WAIT_GENERATOR), so at most
 * one of them is ever between handoffs:
 *
 *   INITIAL   no body task yet.
 *   RUNNING   the body runs (or waits on something of its own); a consumer
 *             may be parked in ts_gen_next (g->consumer).
 *   AT_YIELD  the body is parked in ts_yield and g->value is the consumer's.
 *   DONE      the body task has finished; body_err is its outcome.
 *
 * The consumer is woken with 0 (a value), TS_EOF (the body finished: the
 * done watch) or -ECANCELED; whoever wakes it clears g->consumer first, so
 * it is woken once.  The body is woken from ts_yield with 0 (next) or
 * TS_ECLOSED (close).  Once `closing` is set, ts_yield returns TS_ECLOSED
 * without suspending, so a body can never hand a value to a consumer that
 * has gone.
 *
 * The generator holds the only handle to the body task and gives it up
 * from the consumer's side once the body is done, never from the done
 * watch (which runs while the body task is still finishing).  Nothing here
 * is thread-safe: a generator belongs to the loop that created it.
 *
 * It starts with a ts__obj header (objcheck.c): a use after ts_gen_close,
 * or after its loop closed, returns TS_EFREED and is reported with the
 * creation, call and close sites.  Closing it after its loop closed is
 * cleanup: the body task went with the loop and is not touched.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

enum gen_state { GEN_INITIAL, GEN_RUNNING, GEN_AT_YIELD, GEN_DONE };

struct ts_gen {
    ts__obj obj;             /* first: the loop, the creation site, live/freed */
    ts_gen_fn fn;
    void *arg;
    const char *name;        /* the body task's name (not copied) */
    const ts_site *site;     /* where the generator was made: the spawn site */
    ts_task *task;           /* the body: our handle; NULL before start / after release */
    ts_task *consumer;       /* parked in ts_gen_next, or NULL */
    void *value;             /* handed from ts_yield to the consumer */
    enum gen_state state;
    bool closing;
    bool body_returned;      /* body_err came from the body itself */
    bool err_reported;       /* the body's error was returned once */
    int body_err;
    int last_error;
    ts__done_watch watch;
};

static void gen_body_finished(ts__done_watch *w, ts_task *t);

ts_gen *ts_gen_new_at(ts_gen_fn fn, void *arg, const char *name,
                      const ts_site *site) {
    ts_loop *loop = ts__loop();
    if (!loop || !fn) {
        errno = loop ? EINVAL : ESRCH;
        return NULL;
    }
    ts_gen *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->fn = fn;
    g->arg = arg;
    g->name = name ? name : "generator";
    g->site = site;
    ts__obj_init(&g->obj, loop, "ts_gen", site);
    g->state = GEN_INITIAL;
    g->watch.fn = gen_body_finished;
    return g;
}

int ts_gen_last_error(const ts_gen *g) {
    if (!g)
        return -EINVAL;
    return ts__obj_readable(&g->obj, "ts_gen_last_error") ? g->last_error : TS_EFREED;
}

/* ---- the body's side ----------------------------------------------------------*/

static void *gen_body(void *arg) {
    ts_gen *g = arg;
    int err = g->fn(g, g->arg);
    if (err == TS_ECLOSED && g->closing)
        err = 0; /* passing the close on is a normal end */
    else if (err > 0)
        err = -EINVAL;
    g->body_err = err;
    g->body_returned = true;
    return err ? ts_fail(err, NULL) : NULL;
}

/* The done watch: runs the moment the body task finishes, whether its
 * function ran or not (cancelled before its first step). */
static void gen_body_finished(ts__done_watch *w, ts_task *t) {
    ts_gen *g = ts__container_of(w, ts_gen, watch);
    int err = ts__task_outcome(t, NULL); /* also marks it retrieved */
    if (!g->body_returned)
        g->body_err = err;
    g->state = GEN_DONE;
    ts_task *c = g->consumer;
    if (c) {
        g->consumer = NULL;
        ts__wake(c, TS_EOF);
    }
}

int ts_yield_at(ts_gen *g, void *value, const ts_site *site) {
    if (!g)
        return -EINVAL;
    int err = ts__obj_check(&g->obj, "ts_yield", site);
    if (err)
        return err;
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (self != g->task)
        return -EPERM; /* only the generator's own body yields */
    if (g->closing)
        return TS_ECLOSED;
    g->value = value;
    g->state = GEN_AT_YIELD;
    ts_task *c = g->consumer;
    if (c) {
        g->consumer = NULL;
        ts__wake(c, 0);
    }
    int st = ts__park(NULL, TS_WAIT_GENERATOR, g, site);
    g->state = GEN_RUNNING;
    return st;
}

/* ---- the consumer's side ----------------------------------------------------*/

static void release_body(ts_gen *g) {
    if (g->task) {
        ts_task_detach(g->task);
        g->task = NULL;
    }
}

/* Start the body, or let it go on from its ts_yield. */
static int gen_resume(ts_gen *g) {
    if (g->state == GEN_INITIAL) {
        g->task = ts_spawn_at(NULL, gen_body, g, g->name, g->site);
        if (!g->task)
            return -ENOMEM;
        ts__task_watch(g->task, &g->watch);
        g->state = GEN_RUNNING;
    } else if (g->state == GEN_AT_YIELD) {
        g->state = GEN_RUNNING;
        ts__wake(g->task, 0);
    }
    return 0;
}

/* The body is done: its error once, then TS_EOF. */
static int gen_end(ts_gen *g) {
    release_body(g);
    int err = !g->err_reported && g->body_err ? g->body_err : TS_EOF;
    g->err_reported = true;
    return err;
}

/* The consumer was cancelled while waiting for a value: cancel the body
 * and, as asyncio runs the generator's cleanup before the consumer sees
 * the cancellation, wait for it to finish. */
static int gen_consumer_cancelled(ts_gen *g, const ts_site *site) {
    g->closing = true;
    if (g->state != GEN_DONE) {
        if (ts_task_cancelling(g->task) == 0)
            ts_task_cancel(g->task, NULL);
        (void)ts__task_wait_done(g->task, 1, site);
    }
    release_body(g);
    g->err_reported = true;
    return -ECANCELED;
}

static int gen_next(ts_gen *g, void **value, const ts_site *site) {
    ts_task *self = ts__current();
    if (!self)
        return TS_ENOTASK;
    if (self == g->task)
        return -EDEADLK;
    if (g->state == GEN_DONE)
        return gen_end(g);
    if (g->consumer)
        return -EBUSY; /* another task is inside ts_gen_next */
    int err = gen_resume(g);
    if (err)
        return err;
    g->consumer = self;
    int st = ts__park(NULL, TS_WAIT_GENERATOR, g, site);
    g->consumer = NULL;
    if (st == 0) {
        if (value)
            *value = g->value;
        return 0;
    }
    if (st == TS_EOF)
        return gen_end(g);
    return gen_consumer_cancelled(g, site);
}

int ts_gen_next_at(ts_gen *g, void **value, const ts_site *site) {
    if (!g)
        return -EINVAL;
    int err = ts__obj_check(&g->obj, "ts_gen_next", site);
    if (err)
        return err; /* not recorded: g may be gone */
    err = gen_next(g, value, site);
    if (err)
        g->last_error = err;
    return err;
}

/* Make the body finish and wait for it; its outcome, or -ECANCELED if the
 * closing task was cancelled meanwhile (the request goes on to the body). */
static int gen_finish(ts_gen *g, const ts_site *site) {
    if (g->state == GEN_DONE)
        return g->err_reported ? 0 : g->body_err;
    g->closing = true;
    if (g->state == GEN_AT_YIELD) {
        g->state = GEN_RUNNING;
        ts__wake(g->task, TS_ECLOSED);
    }
    if (ts__task_wait_done(g->task, 1, site))
        return -ECANCELED;
    return g->body_err;
}

int ts_gen_close_at(ts_gen *g, const ts_site *site) {
    if (!g)
        return 0;
    if (ts__obj_orphaned(&g->obj)) {
        /* Its loop closed: the body task went with it. */
        ts__obj_free(&g->obj, site);
        return 0;
    }
    if (g->obj.magic != TS__OBJ_LIVE)
        return ts__obj_misuse(&g->obj, "ts_gen_close", site);
    /* Without a body task (never started, or released) any thread may
     * close it, as before. */
    if (g->task) {
        ts_task *self = ts__current();
        int err = ts__obj_check(&g->obj, "ts_gen_close", site);
        if (err)
            return err;
        if (g->state != GEN_DONE) {
            if (!self)
                return TS_ENOTASK;
            if (self == g->task)
                return -EDEADLK;
            if (g->consumer)
                return -EBUSY;
        }
    }
    int err = g->state == GEN_INITIAL ? 0 : gen_finish(g, site);
    release_body(g);
    ts__obj_free(&g->obj, site);
    return err;
}
