/*
 * sleep.c - ts_sleep: a timer in the sleeping task's own frame, so sleeping
 * allocates nothing.
 */
#include <errno.h>
#include <math.h>

#include "loop_impl.h"

struct sleeper {
    ts__timer timer;
    ts_task *task;
};

static void sleeper_fired(ts__timer *tm) {
    ts__wake(ts__container_of(tm, struct sleeper, timer)->task, 0);
}

/* Out of line, so that sleep(0), a hot yield in many programs, does not
 * pay for this frame. */
static __attribute__((noinline)) int sleep_on_timer(ts_task *t, double seconds,
                                                    const ts_site *site) {
    struct sleeper s = {.task = t};
    ts__timer_init(&s.timer, sleeper_fired);
    ts__timer_start(t->loop, &s.timer, ts__deadline_after(t->loop, seconds));
    int st = ts__park(NULL, TS_WAIT_SLEEP, NULL, site);
    ts__timer_stop(t->loop, &s.timer);
    return st;
}

int ts_sleep_at(double seconds, const ts_site *site) {
    if (isnan(seconds))
        return -EINVAL;
    ts_task *t = ts__current();
    if (!t)
        return TS_ENOTASK;
    /* A negative delay has already passed: asyncio.sleep(-1) is sleep(0),
     * so a computed remaining time that went negative just yields. */
    if (seconds <= 0)
        return ts__yield(site);
    return sleep_on_timer(t, seconds, site);
}

double ts_now(void) {
    ts_loop *l = ts__loop();
    return l ? ts_loop_time(l) : NAN;
}
