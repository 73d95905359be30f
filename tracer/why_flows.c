/*
 * why_flows.c - a task's critical path as a list of edges (waiter, cause,
 * wake), for the Perfetto export's flows (`export --format perfetto
 * --task N`, issue 19 point 3).
 *
 * The waits are read one by one (each suspend and the wake that ended
 * it, through the (task, seq) indexes); the cause of each is the one
 * `taskscope why` names (why.h, asked about that wait's window alone), so
 * the arrows drawn are the tree printed, wait by wait.  A cause's own
 * waits inside the window are followed depth - 1 levels further.
 */
#include <errno.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "why_flows.h"

typedef struct edges {
    ts_pf_edge *v;
    size_t n, cap;
} edges;

static int push(edges *e, uint64_t waiter, uint64_t cause, uint64_t wake) {
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        ts_pf_edge *p = realloc(e->v, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        e->v = p;
        e->cap = cap;
    }
    e->v[e->n++] = (ts_pf_edge){.waiter = waiter, .cause = cause, .wake_ns = wake};
    return 0;
}

/* The cause task of task's single wait filling [w0, w1): the biggest
 * task under the window's wait node; 0 if none is known. */
static uint64_t cause_of(why_ctx *c, uint64_t task, uint64_t w0, uint64_t w1) {
    why_node *t = why_window(c, task, w0, w1, 1);
    uint64_t cause = 0, best = 0;
    for (why_node *w = t ? t->child : NULL; w; w = w->next)
        if (w->type == WHY_WAIT)
            for (why_node *k = w->child; k; k = k->next)
                if (k->type == WHY_TASK && k->task != task && (!cause || k->ns > best)) {
                    cause = k->task;
                    best = k->ns;
                }
    why_node_free(t);
    return cause;
}

typedef struct wait {
    uint64_t start, end;
} wait;

static int walk(why_ctx *c, uint64_t task, uint64_t w0, uint64_t w1, int depth, edges *out) {
    static const char SQL[] =
        "SELECT s.ns, (SELECT w.ns FROM ev_task_wake w WHERE w.task = s.task AND w.pid = s.pid\n"
        "    AND w.seq > s.seq ORDER BY w.seq LIMIT 1)\n"
        "  FROM ev_task_suspend s WHERE s.task = ?1 AND s.pid = ?2 AND s.ns < ?3 ORDER BY s.seq";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(why_db(c), SQL, -1, &st, NULL) != SQLITE_OK)
        return -EINVAL;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, why_pid(c));
    sqlite3_bind_int64(st, 3, (sqlite3_int64)w1);
    /* Read them all first: the recursion below asks the same tables. */
    wait *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            continue; /* never woken: no cause drew it to an end */
        uint64_t a = (uint64_t)sqlite3_column_int64(st, 0), b = (uint64_t)sqlite3_column_int64(st, 1);
        if (b <= w0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            wait *p = realloc(v, cap * sizeof *v);
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            v = p;
        }
        v[n++] = (wait){a, b};
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t a = v[i].start > w0 ? v[i].start : w0, b = v[i].end < w1 ? v[i].end : w1;
        uint64_t cause = cause_of(c, task, v[i].start, v[i].end);
        if (!cause)
            continue;
        /* Only a wait that ended inside the window is drawn: its wake is
         * the moment the cause let the waiter go. */
        if (v[i].end <= w1)
            rc = push(out, task, cause, v[i].end);
        if (!rc && depth > 1)
            rc = walk(c, cause, a, b, depth - 1, out);
    }
    free(v);
    return rc;
}

int why_critical_edges(why_ctx *c, uint64_t task, int depth, ts_pf_edge **out, size_t *n) {
    uint64_t t0, t1;
    *out = NULL;
    *n = 0;
    if (why_task_life(c, task, &t0, &t1))
        return -ENOENT;
    edges e = {0};
    int rc = walk(c, task, t0, t1 + 1, depth < 1 ? 1 : depth, &e);
    if (rc) {
        free(e.v);
        return rc;
    }
    *out = e.v;
    *n = e.n;
    return 0;
}
