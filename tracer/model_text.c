/*
 * model_text.c - the model's words: state, wait kind, resource kind and
 * warning kind names, and durations as every report prints them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

void tm_fmt_dur(char *buf, size_t len, uint64_t ns) {
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 "ns", ns);
    else if (ns < 1000000)
        snprintf(buf, len, "%.1fus", ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, len, "%.1fms", ns / 1e6);
    else
        snprintf(buf, len, "%.2fs", ns / 1e9);
}

static const struct {
    tm_warning_kind kind;
    const char *name;
} WARNING_KINDS[] = {
    {TM_WARN_BLOCKED, "blocked"},
    {TM_WARN_SLOW_STEP, "slow_step"},
    {TM_WARN_NEVER_AWAITED, "never_awaited"},
    {TM_WARN_NEVER_RETRIEVED, "never_retrieved"},
    {TM_WARN_DEADLOCK, "deadlock"},
    {TM_WARN_STUCK, "stuck"},
    {TM_WARN_DESTROYED_PENDING, "destroyed_pending"},
    {TM_WARN_DROPS, "drops"},
    {TM_WARN_DEAD_HOLDER, "dead_holder"},
    {TM_WARN_ORPHAN_FUTURE, "orphan_future"},
    {TM_WARN_STARVATION, "starvation"},
    {TM_WARN_BUSY_YIELD, "busy_yield"},
    {TM_WARN_SELF_WAKE, "self_wake"},
};

/* One line each: what a user does about it. */
static const struct {
    tm_warning_kind kind;
    const char *hint;
} WARNING_HINTS[] = {
    {TM_WARN_BLOCKED, "move the blocking call off the loop (ts_to_thread, an executor) or "
                      "make it non-blocking"},
    {TM_WARN_SLOW_STEP, "split the work with ts_sleep(0) between chunks, or run it in an "
                        "executor"},
    {TM_WARN_NEVER_AWAITED, "await the task (or its group), or cancel it when it is not "
                            "wanted"},
    {TM_WARN_NEVER_RETRIEVED, "await the task or read ts_task_error before freeing it"},
    {TM_WARN_DEADLOCK, "take the locks in one global order, or break the cycle with a "
                       "timeout (ts_wait_for)"},
    {TM_WARN_STUCK, "find who should complete what it waits on; add a timeout to the wait"},
    {TM_WARN_DESTROYED_PENDING, "complete or cancel the future before freeing it"},
    {TM_WARN_DROPS, "read faster (taskscope record) or give the ring more room "
                    "(TASKSCOPE_RING_SIZE)"},
    {TM_WARN_DEAD_HOLDER, "release in every exit path of the holder, cancellation included "
                          "(TS_WITH, or release on -ECANCELED)"},
    {TM_WARN_ORPHAN_FUTURE, "complete or cancel the future when its producer ends, or await "
                            "it with a timeout"},
    {TM_WARN_STARVATION, "bound how many tasks are ready at once (a semaphore, a worker "
                         "pool) or move CPU work to an executor"},
    {TM_WARN_BUSY_YIELD, "wait for what it polls for (an event, a queue, a future) instead "
                         "of sleep(0) in a loop"},
    {TM_WARN_SELF_WAKE, "another task must set, put or notify it: check which one was meant "
                        "to"},
};

const char *tm_warning_kind_hint(tm_warning_kind k) {
    for (size_t i = 0; i < sizeof WARNING_HINTS / sizeof WARNING_HINTS[0]; i++)
        if (WARNING_HINTS[i].kind == k)
            return WARNING_HINTS[i].hint;
    return "";
}

const char *tm_warning_kind_name(tm_warning_kind k) {
    for (size_t i = 0; i < sizeof WARNING_KINDS / sizeof WARNING_KINDS[0]; i++)
        if (WARNING_KINDS[i].kind == k)
            return WARNING_KINDS[i].name;
    return "other";
}

tm_warning_kind tm_warning_kind_parse(const char *name) {
    for (size_t i = 0; i < sizeof WARNING_KINDS / sizeof WARNING_KINDS[0]; i++)
        if (name && !strcmp(WARNING_KINDS[i].name, name))
            return WARNING_KINDS[i].kind;
    return 0;
}

const char *tm_state_name(tm_state s) {
    static const char *const n[] = {"ready", "running", "suspended", "done", "failed", "cancelled"};
    return (unsigned)s < 6 ? n[s] : "?";
}

const char *tm_wait_kind_name(uint32_t k) {
    static const char *const n[] = {
        "-", "task", "future", "sleep", "yield", "lock", "event", "condition", "semaphore",
        "barrier", "queue_get", "queue_put", "queue_join", "fd", "executor", "generator",
        "group"};
    return k < sizeof n / sizeof n[0] ? n[k] : "?";
}

const char *tm_resource_kind_name(uint32_t k) {
    static const char *const n[] = {"?", "lock", "event", "condition", "semaphore", "barrier",
                                    "queue", "future"};
    return k < sizeof n / sizeof n[0] ? n[k] : "?";
}
