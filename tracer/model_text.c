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
};

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
                                    "queue"};
    return k < sizeof n / sizeof n[0] ? n[k] : "?";
}
