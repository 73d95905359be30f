/*
 * trace_harness.h - helpers for the debug runtime's tests: read this
 * process's own trace segment (or a child's) through the reader library,
 * keep copies of the events, and describe a task's life as a short string
 * ("create resume suspend:sleep wake resume done:done free") so that a
 * test states the whole expected sequence in one readable line.
 */
#ifndef TS_TRACE_HARNESS_H
#define TS_TRACE_HARNESS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"
#include "reader.h"

/* ---- event logs ------------------------------------------------------------------- */

typedef struct logged {
    ts_reader_event ev;    /* ev.rec points at rec below */
    unsigned char *rec;
} logged;

typedef struct evlog {
    logged *v;
    size_t n, cap;
} evlog;

#define EV(e, name) ((const ts_ev_##name *)(const void *)(e)->rec)

static inline void log_event(const ts_reader_event *ev, void *arg) {
    evlog *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 1024;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    logged *e = &l->v[l->n++];
    e->rec = malloc(ev->size);
    assert_non_null(e->rec);
    memcpy(e->rec, ev->rec, ev->size);
    e->ev = *ev;
    e->ev.rec = (const ts_ev_header *)(const void *)e->rec;
}

static inline void evlog_free(evlog *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].rec);
    free(l->v);
    *l = (evlog){0};
}

static inline size_t count_type(const evlog *l, unsigned type) {
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].ev.type == type;
    return n;
}

/* Print the log (for a failing test, or TS_TRACE_VERBOSE=1). */
static inline void dump_log(const ts_reader *rd, const evlog *l) {
    char line[1024];
    for (size_t i = 0; i < l->n; i++) {
        ts_reader_format(rd, &l->v[i].ev, line, sizeof line);
        fprintf(stderr, "  [%zu] tid %u: %s\n", i, l->v[i].ev.tid, line);
    }
}

/* With TS_TRACE_VERBOSE=1 in the environment: the log and the reader's
 * counters, to see what a test saw. */
static inline void maybe_dump(const ts_reader *rd, const evlog *l) {
    if (!getenv("TS_TRACE_VERBOSE"))
        return;
    dump_log(rd, l);
    ts_reader_stats st;
    ts_reader_get_stats(rd, &st);
    fprintf(stderr, "  stats: %llu events, corrupt %llu, lost %llu bytes, unknown %llu, "
                    "dropped %llu (reported %llu)\n",
            (unsigned long long)st.events, (unsigned long long)st.corrupt,
            (unsigned long long)st.lost_bytes, (unsigned long long)st.unknown,
            (unsigned long long)st.dropped_total, (unsigned long long)st.dropped_events);
}

/* ---- readers ------------------------------------------------------------------------ */

static inline void *noop_main(void *arg) { return arg; }

/* This process's segment exists once a loop has been created. */
static inline ts_reader *open_self(void) {
    assert_int_equal(ts_run(noop_main, NULL), 0);
    ts_reader *rd = NULL;
    char err[256];
    int rc = ts_reader_open_pid(&rd, getpid(), err, sizeof err);
    if (rc)
        fprintf(stderr, "open_self: %s\n", err);
    assert_int_equal(rc, 0);
    return rd;
}

/* Poll into log; returns the events added. */
static inline int poll_into(ts_reader *rd, evlog *log) {
    int n = ts_reader_poll(rd, log ? log_event : NULL, log);
    assert_true(n >= 0);
    return n;
}

/* Skip everything recorded so far. */
static inline void poll_discard(ts_reader *rd) { poll_into(rd, NULL); }

/* ---- task lives as strings ------------------------------------------------------------- */

static const char *const kind_names[] = {
    "none", "task", "future", "sleep", "yield", "lock", "event", "condition", "semaphore",
    "barrier", "qget", "qput", "qjoin", "fd", "executor", "generator", "group"};

static inline const char *state_name(uint32_t s) {
    return s == 3 ? "done" : s == 4 ? "failed" : s == 5 ? "cancelled" : "?";
}

static inline void seq_add(char *buf, size_t len, const char *word, const char *arg) {
    size_t u = strlen(buf);
    snprintf(buf + u, len - u, "%s%s%s%s", u ? " " : "", word, arg ? ":" : "", arg ? arg : "");
}

/* The life of task `task` in the log, in order, as words:
 * create resume suspend:<kind> wake[:cancel|:timeout|:<status>] cancel
 * done:<state> free. */
static inline const char *task_seq(const evlog *l, uint64_t task, char *buf, size_t len) {
    buf[0] = 0;
    char num[32];
    for (size_t i = 0; i < l->n; i++) {
        const logged *e = &l->v[i];
        switch (e->ev.type) {
        case TS_EV_task_create:
            if (EV(e, task_create)->task == task)
                seq_add(buf, len, "create", NULL);
            break;
        case TS_EV_task_resume:
            if (EV(e, task_resume)->task == task)
                seq_add(buf, len, "resume", NULL);
            break;
        case TS_EV_task_suspend:
            if (EV(e, task_suspend)->task == task) {
                uint32_t k = EV(e, task_suspend)->kind;
                seq_add(buf, len, "suspend", k < 17 ? kind_names[k] : "?");
            }
            break;
        case TS_EV_task_wake:
            if (EV(e, task_wake)->task == task) {
                int32_t s = EV(e, task_wake)->status;
                snprintf(num, sizeof num, "%d", s);
                seq_add(buf, len, "wake", s == 0 ? NULL : s == -ECANCELED ? "cancel"
                                          : s == -ETIMEDOUT ? "timeout" : num);
            }
            break;
        case TS_EV_task_cancel:
            if (EV(e, task_cancel)->task == task)
                seq_add(buf, len, "cancel", NULL);
            break;
        case TS_EV_task_done:
            if (EV(e, task_done)->task == task)
                seq_add(buf, len, "done", state_name(EV(e, task_done)->state));
            break;
        case TS_EV_task_free:
            if (EV(e, task_free)->task == task)
                seq_add(buf, len, "free", NULL);
            break;
        default:
            break;
        }
    }
    return buf;
}

/* The index of the first event of `type` about `task` (the first u64
 * field after the header for every task event), from index `from`. */
static inline long find_task_event(const evlog *l, unsigned type, uint64_t task, size_t from) {
    for (size_t i = from; i < l->n; i++) {
        uint64_t t;
        if (l->v[i].ev.type != type)
            continue;
        memcpy(&t, l->v[i].rec + sizeof(ts_ev_header), 8);
        if (t == task)
            return (long)i;
    }
    return -1;
}

/* The id of the task created with this name (0 if none). */
static inline uint64_t task_named(const ts_reader *rd, const evlog *l, const char *name) {
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].ev.type != TS_EV_task_create)
            continue;
        const char *s = ts_reader_string(rd, EV(&l->v[i], task_create)->name);
        if (s && !strcmp(s, name))
            return EV(&l->v[i], task_create)->task;
    }
    return 0;
}

/* Does site `id` resolve to file (basename) / func / line? */
static inline int site_is(const ts_reader *rd, uint32_t id, const char *func, uint32_t line) {
    const char *f = NULL, *fn = NULL;
    uint32_t ln = 0;
    if (ts_reader_site(rd, id, &f, &fn, &ln) != 0 || !f || !fn)
        return 0;
    const char *base = strrchr(f, '/');
    base = base ? base + 1 : f;
    return !strncmp(base, "test_trace", 10) && !strcmp(fn, func) && ln == line;
}

#define assert_seq(log, task, expected)                                        \
    do {                                                                       \
        char seq_[1024];                                                       \
        task_seq((log), (task), seq_, sizeof seq_);                            \
        if (strcmp(seq_, (expected)))                                          \
            fprintf(stderr, "task %llu: got      \"%s\"\n         expected \"%s\"\n", \
                    (unsigned long long)(task), seq_, (expected));             \
        assert_string_equal(seq_, (expected));                                 \
    } while (0)

#endif
