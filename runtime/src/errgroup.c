/*
 * errgroup.c - the error lists task groups collect (asyncio's
 * ExceptionGroup): one entry per failure, each naming the task it came
 * from, and nesting the list of a group whose failure it is.
 *
 * Invariants:
 *   - A list is reference-counted: held by its group until ts_group_free,
 *     by the body task it was attached to, and by the entry of an
 *     enclosing list that nests it.  It never refers to a task, only to
 *     copies of what identifies one, so a finished child can be freed
 *     while its error lives on, and no reference cycle can form.
 *   - Room is reserved before a failure can happen (ts__errgroup_reserve),
 *     so adding an entry, which runs inside a task's done watch, never
 *     fails; the copies of the name and message are best effort.
 *   - A list is appended to only by the group that made it, and only
 *     until ts_group_wait returns; afterwards it is read-only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ts_error_group {
    int refs;
    int verdict;              /* what the group's wait returned */
    size_t n, cap;
    ts_group_failure *e;
};

ts_error_group *ts__errgroup_new(void) {
    ts_error_group *eg = calloc(1, sizeof *eg);
    if (eg)
        eg->refs = 1;
    return eg;
}

int ts__errgroup_reserve(ts_error_group *eg, size_t room) {
    if (eg->cap - eg->n >= room)
        return 0;
    size_t cap = eg->cap ? eg->cap : 4;
    while (cap - eg->n < room)
        cap *= 2;
    ts_group_failure *e = realloc(eg->e, cap * sizeof *e);
    if (!e)
        return -ENOMEM;
    eg->e = e;
    eg->cap = cap;
    return 0;
}

ts_error_group *ts__errgroup_ref(ts_error_group *eg) {
    if (eg)
        eg->refs++;
    return eg;
}

void ts__errgroup_unref(ts_error_group *eg) {
    if (!eg || --eg->refs > 0)
        return;
    for (size_t i = 0; i < eg->n; i++) {
        free((char *)eg->e[i].message);
        free((char *)eg->e[i].task_name);
        ts__errgroup_unref((ts_error_group *)eg->e[i].nested);
    }
    free(eg->e);
    free(eg);
}

void ts__errgroup_add(ts_error_group *eg, int err, const ts_task *t,
                      int from_body) {
    ts_group_failure *f = &eg->e[eg->n++];
    const char *msg = ts_task_error_message(t);
    const char *name = ts_task_name(t);
    f->err = err;
    /* The body's error is body_err, not something it passed to ts_fail. */
    f->message = !from_body && msg ? strdup(msg) : NULL;
    f->from_body = from_body;
    f->task_id = ts_task_id(t);
    f->task_name = name ? strdup(name) : NULL;
    f->spawn_site = ts_task_spawn_site(t);
    ts_error_group *inner = ts__task_errgroup(t);
    f->nested = inner && inner->verdict == err ? ts__errgroup_ref(inner) : NULL;
}

size_t ts__errgroup_size(const ts_error_group *eg) { return eg ? eg->n : 0; }
void ts__errgroup_set_verdict(ts_error_group *eg, int verdict) { eg->verdict = verdict; }

size_t ts_error_group_count(const ts_error_group *eg) { return eg ? eg->n : 0; }

const ts_group_failure *ts_error_group_get(const ts_error_group *eg, size_t i) {
    return eg && i < eg->n ? &eg->e[i] : NULL;
}

size_t ts_error_group_count_code(const ts_error_group *eg, int err) {
    size_t n = 0;
    for (size_t i = 0; eg && i < eg->n; i++) {
        if (eg->e[i].nested)
            n += ts_error_group_count_code(eg->e[i].nested, err);
        else
            n += eg->e[i].err == err;
    }
    return n;
}

/* snprintf into what is left of buf; keeps counting past its end. */
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(*at < len ? buf + *at : NULL, *at < len ? len - *at : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n;
}

static void format_level(const ts_error_group *eg, int depth, char *buf,
                         size_t len, size_t *at) {
    for (size_t i = 0; i < eg->n; i++) {
        const ts_group_failure *f = &eg->e[i];
        put(buf, len, at, "%*s[%zu] %s '%s' #%llu", depth * 2, "", i + 1,
            f->from_body ? "body" : "task", f->task_name ? f->task_name : "?",
            (unsigned long long)f->task_id);
        if (f->spawn_site && f->spawn_site->file)
            put(buf, len, at, " spawned at %s:%d", f->spawn_site->file,
                f->spawn_site->line);
        put(buf, len, at, ": %s (%s)", ts_err_name(f->err), ts_strerror(f->err));
        if (f->message)
            put(buf, len, at, ": %s", f->message);
        put(buf, len, at, "\n");
        if (f->nested)
            format_level(f->nested, depth + 1, buf, len, at);
    }
}

int ts_error_group_format(const ts_error_group *eg, char *buf, size_t len) {
    size_t at = 0;
    if (buf && len)
        buf[0] = 0;
    if (eg)
        format_level(eg, 0, buf, len, &at);
    return (int)at;
}
