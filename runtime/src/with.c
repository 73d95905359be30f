/*
 * with.c - the runtime half of TS_WITH (asyncio's "async with") and the
 * context managers for Lock and Semaphore.
 *
 * TS_WITH declares a ts__with with a cleanup attribute inside a one-pass
 * for loop: ts__with_enter runs enter, and ts__with_exit runs when the
 * variable goes out of scope, whichever way the block is left.
 *
 * Invariants:
 *   - exit runs exactly once per successful enter, and never after a failed
 *     one (`entered` is cleared before exit runs, so a cleanup that runs
 *     again is a no-op).
 *   - A successful enter sets *errp to 0, so exit sees the block's outcome
 *     and not whatever the variable held before; a failed enter stores its
 *     error there and the block is skipped.
 *   - errp may be NULL: exit then gets 0 and its verdict is dropped.  A
 *     NULL cm skips the block with -EINVAL.
 */
#include <errno.h>
#include <stddef.h>

#include "internal.h"

/* The TS_WITH line being entered, for the manager's enter to report as
 * its await site.  Read at the start of enter, before it can suspend (a
 * task that runs meanwhile may set it for its own TS_WITH); saved and
 * restored around enter so a TS_WITH inside an enter sees its own line. */
static __thread const ts_site *entering_site;

const ts_site *ts_with_site(void) { return entering_site; }

ts__with ts__with_enter(const ts_async_cm *cm, void *self, int *errp,
                        const ts_site *site) {
    ts__with w = {cm, self, errp, 0, 0};
    const ts_site *outer = entering_site;
    entering_site = site;
    int err = cm && cm->enter && cm->exit ? cm->enter(self) : -EINVAL;
    entering_site = outer;
    if (errp)
        *errp = err;
    if (err == 0) {
        w.entered = 1;
        w.once = 1;
    }
    return w;
}

void ts__with_exit(ts__with *w) {
    if (!w->entered)
        return;
    w->entered = 0;
    int err = w->cm->exit(w->self, w->errp ? *w->errp : 0);
    if (w->errp)
        *w->errp = err;
}

/* Release on the way out; the block's own error wins over release's. */
static int lock_enter(void *self) {
    const ts_site *site = ts_with_site();
    return ts_lock_acquire_at(self, site ? site : TS_HERE);
}

static int lock_exit(void *self, int err) {
    int rel = ts_lock_release(self);
    return err ? err : rel;
}

static int semaphore_enter(void *self) {
    const ts_site *site = ts_with_site();
    return ts_semaphore_acquire_at(self, site ? site : TS_HERE);
}

static int semaphore_exit(void *self, int err) {
    int rel = ts_semaphore_release(self);
    return err ? err : rel;
}

const ts_async_cm ts_lock_cm = {lock_enter, lock_exit};
const ts_async_cm ts_semaphore_cm = {semaphore_enter, semaphore_exit};
