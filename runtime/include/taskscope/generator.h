/*
 * taskscope/generator.h - async generators and async iteration.
 *
 * A generator is a function that hands values to its consumer one at a
 * time with ts_yield() and may suspend in between (sleep, await, ...):
 *
 *     static int async_range(ts_gen *g, void *arg) {
 *         for (intptr_t i = 0; i < (intptr_t)arg; i++) {
 *             ts_sleep(0.1);
 *             int err = ts_yield(g, (void *)i);
 *             if (err) return err;      // closed early or cancelled
 *         }
 *         return 0;
 *     }
 *
 *     ts_gen *g = ts_gen_new(async_range, (void *)5);
 *     ts_foreach(v, g) printf("%ld\n", (long)(intptr_t)v);
 *     ts_gen_close(g);
 *
 * The generator runs as a task of its own (so the debugger shows it),
 * lazily: it starts on the first ts_gen_next() and runs only while its
 * consumer waits in ts_gen_next().  ts_gen_close() before the end makes
 * the pending ts_yield() return TS_ECLOSED, so the generator runs its
 * cleanup and returns (asyncio's aclose / GeneratorExit).
 */
#ifndef TASKSCOPE_GENERATOR_H
#define TASKSCOPE_GENERATOR_H

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_gen ts_gen;

/* The generator body: return 0 when done, or an error for the consumer. */
typedef int (*ts_gen_fn)(ts_gen *self, void *arg);

/* ts_gen_new - NULL on ENOMEM / ESRCH.  Does not start the body.  The
 * call site is kept for diagnostics: a generator used after ts_gen_close,
 * or after its loop closed, gives TS_EFREED (next, yield, close,
 * last_error) and a TS_DIAG_USE_AFTER_FREE report naming where it was
 * created, used and closed.  The debug runtime recognises a closed
 * generator for the next 1024 object frees, the release runtime only a
 * closed loop; closing one after its loop closed just frees it. */
#define ts_gen_new(fn, arg) ts_gen_new_at((fn), (arg), #fn, TS_HERE)
ts_gen *ts_gen_new_at(ts_gen_fn fn, void *arg, const char *name,
                      const ts_site *site);

/*
 * ts_gen_next - run the generator until it yields; suspends the consumer
 * meanwhile.  Returns 0 and *value; TS_EOF when the body returned 0; the
 * body's error when it returned one (later calls return TS_EOF);
 * -ECANCELED if the consumer is cancelled (the generator is cancelled too).
 */
#define ts_gen_next(g, value) ts_gen_next_at((g), (value), TS_HERE)
int ts_gen_next_at(ts_gen *g, void **value, const ts_site *site);

/*
 * ts_yield - inside a generator body: hand value to the consumer and
 * suspend until the next ts_gen_next.  Returns 0 to go on, TS_ECLOSED when
 * the consumer closed the generator (clean up and return), -ECANCELED.
 */
#define ts_yield(g, value) ts_yield_at((g), (value), TS_HERE)
int ts_yield_at(ts_gen *g, void *value, const ts_site *site);

/*
 * ts_gen_close - finish the generator and free it.  If the body is still
 * inside ts_yield, that call returns TS_ECLOSED and the body runs to its
 * end (suspending the caller meanwhile).  Returns 0 or the body's error
 * from its cleanup; ts_gen_close on a generator never started just frees.
 */
#define ts_gen_close(g) ts_gen_close_at((g), TS_HERE)
int ts_gen_close_at(ts_gen *g, const ts_site *site);

/* ts_foreach(v, g) { ... } - `async for v in g`: a for loop over every
 * value; stops at TS_EOF or at the first error (see ts_gen_last_error). */
#define ts_foreach(var, g) for (void *var; ts_gen_next((g), &var) == 0;)

/* The last value ts_gen_next returned other than 0 (TS_EOF at a normal end). */
int ts_gen_last_error(const ts_gen *g);

#ifdef __cplusplus
}
#endif
#endif
