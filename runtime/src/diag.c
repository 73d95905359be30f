/*
 * diag.c - reporting the mistakes asyncio reports: a failed task nobody
 * looked at, a handle never awaited, a task or future destroyed pending, a
 * call from the wrong thread.
 *
 * Process-wide and callable from any loop thread: the handler is swapped
 * atomically and the counters are atomic.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "internal.h"
#include "tracepoints.h"

struct handler {
    ts_diag_handler fn;
    void *arg;
};

static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handler current_handler;
static _Atomic uint64_t counts[TS_DIAG_KIND_END];

void ts_set_diag_handler(ts_diag_handler handler, void *arg) {
    pthread_mutex_lock(&handler_lock);
    current_handler.fn = handler;
    current_handler.arg = arg;
    pthread_mutex_unlock(&handler_lock);
}

uint64_t ts_diag_count(ts_diag_kind kind) {
    if ((unsigned)kind >= TS_DIAG_KIND_END)
        return 0;
    return atomic_load(&counts[kind]);
}

/* "LABEL file:line in func()", or "LABEL func()" for a site that only
 * names the call.  LABEL carries its own leading separator. */
static int format_site(char *buf, size_t len, const char *label, const ts_site *s) {
    if (!s->file)
        return snprintf(buf, len, "%s %s()", label, s->func ? s->func : "?");
    return snprintf(buf, len, "%s %s:%d in %s()", label, s->file, s->line,
                    s->func ? s->func : "?");
}

int ts_diag_format(const ts_diag *d, char *buf, size_t len) {
    int misuse = d->kind == TS_DIAG_USE_AFTER_FREE || d->kind == TS_DIAG_LOCK_REACQUIRED;
    int n = snprintf(buf, len, "taskscope: %s", d->what);
    if (d->task_name && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - n, ": task '%s' #%llu", d->task_name,
                      (unsigned long long)d->task_id);
    if (d->site && d->site->file && n >= 0 && (size_t)n < len)
        n += format_site(buf + n, len - n,
                         d->kind == TS_DIAG_LOCK_REACQUIRED ? "; the lock created at"
                         : d->task_name                     ? " spawned at"
                         : misuse                           ? " created at"
                                                            : " at",
                         d->site);
    if (d->call_site && n >= 0 && (size_t)n < len)
        n += format_site(buf + n, len - n, "; used at", d->call_site);
    if (d->released_site && n >= 0 && (size_t)n < len)
        n += format_site(buf + n, len - n, "; released at", d->released_site);
    if (d->err && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - n, ": %d %s (%s)", d->err,
                      ts_err_name(d->err), ts_strerror(d->err));
    if (d->message && n >= 0 && (size_t)n < len)
        n += snprintf(buf + n, len - n, ": %s", d->message);
    return n;
}

void ts__diag_report(const ts_diag *d) {
    if ((unsigned)d->kind < TS_DIAG_KIND_END)
        atomic_fetch_add(&counts[d->kind], 1);
    TS_TRACE_DIAG(d);
    pthread_mutex_lock(&handler_lock);
    struct handler h = current_handler;
    pthread_mutex_unlock(&handler_lock);
    if (h.fn) {
        h.fn(d, h.arg);
        return;
    }
    char buf[1024];
    ts_diag_format(d, buf, sizeof buf);
    fprintf(stderr, "%s\n", buf);
}

void ts__diag_task(ts_diag_kind kind, const char *what, const ts_task *t,
                   int err, const char *message) {
    ts_diag d = {
        .kind = kind,
        .what = what,
        .task_id = t ? ts_task_id(t) : 0,
        .task_name = t ? ts_task_name(t) : NULL,
        .site = t ? ts_task_spawn_site(t) : NULL,
        .err = err,
        .message = message,
    };
    ts__diag_report(&d);
}

void ts__diag_misuse(ts_diag_kind kind, const char *what, const ts_task *t,
                     const ts_site *created, const ts_site *call,
                     const ts_site *released, int err) {
    ts_diag d = {
        .kind = kind,
        .what = what,
        .task_id = t ? ts_task_id(t) : 0,
        .task_name = t ? ts_task_name(t) : NULL,
        .site = created,
        .err = err,
        .call_site = call,
        .released_site = released,
    };
    ts__diag_report(&d);
}

void ts__diag_site(ts_diag_kind kind, const char *what, const ts_site *site) {
    ts_diag d = {.kind = kind, .what = what, .site = site};
    ts__diag_report(&d);
}
