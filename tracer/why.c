/*
 * why.c - `taskscope why FILE TASK`: where a task's wall time went (issue
 * 19, first slice).
 *
 * The task's life, spawn to end (or to the recording's last event while
 * it is live), is cut at its own events into intervals, each in exactly
 * one state: running (task_resume → task_suspend/task_done), runnable but
 * not yet running (task_create or task_wake → task_resume: scheduling
 * delay), or waiting (task_suspend → the next task_wake, the awaits
 * view).  Intervals partition the life, so the parts add up to the wall
 * time by construction; a stretch no event explains (events dropped, a
 * recording begun mid-life) is shown as "other/unattributed", never
 * spread over the rest.
 *
 * Waits are grouped by what was awaited (kind, object, await site).  A
 * wait has a cause task when one is known: the holder of a lock when the
 * wait began, the awaited task (kind task), otherwise the task that woke
 * it (the releaser, the producer, the setter).  With --depth N the cause
 * task's own time inside each wait window is decomposed the same way,
 * N levels deep, and summed over the group's waits.
 *
 * Everything comes from SQL over the recording through the (task, seq)
 * and (resource, seq) indexes the store builds at close, so one task's
 * answer does not scan the recording.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "../schemas/store_ddl.h"
#include "cli.h"
#include "store.h"
#include "textsafe.h"

enum { N_TASK, N_RUN, N_SCHED, N_WAIT, N_OTHER };
enum { CAUSE_NONE, CAUSE_HOLDER, CAUSE_AWAITED, CAUSE_WAKER };

typedef struct node {
    int type;
    int wkind, cause;          /* N_WAIT: ts_wait_kind; N_TASK: how it relates to its parent */
    uint64_t object, task;     /* N_WAIT: what; N_TASK: which task */
    int64_t site;              /* N_WAIT: await site id */
    uint64_t ns;               /* time, summed over instances */
    unsigned count;            /* instances (waits, steps) */
    unsigned cancelled, timed_out; /* N_WAIT: instances ended so */
    struct node *child, *last, *next;
} node;

typedef struct why_ctx {
    sqlite3 *db;
    int64_t pid;
    uint64_t rec_end;          /* ns of the recording's last event */
    sqlite3_stmt *events, *life, *holder;
    int err;
} why_ctx;

static node *add_child(node *parent, int type) {
    node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->type = type;
    if (parent->last)
        parent->last->next = n;
    else
        parent->child = n;
    parent->last = n;
    return n;
}

static node *find_child(node *parent, int type, int wkind, uint64_t object, int64_t site,
                        uint64_t task) {
    for (node *c = parent->child; c; c = c->next)
        if (c->type == type && c->wkind == wkind && c->object == object && c->site == site &&
            c->task == task)
            return c;
    node *n = add_child(parent, type);
    if (n) {
        n->wkind = wkind;
        n->object = object;
        n->site = site;
        n->task = task;
    }
    return n;
}

static void free_tree(node *n) {
    while (n) {
        node *next = n->next;
        free_tree(n->child);
        free(n);
        n = next;
    }
}

/* The part of [a, b) inside [w0, w1). */
static uint64_t clip(uint64_t a, uint64_t b, uint64_t w0, uint64_t w1) {
    if (a < w0)
        a = w0;
    if (b > w1)
        b = w1;
    return b > a ? b - a : 0;
}

/* A task's life: created and ended ns (ended = the recording's end if it
 * has none).  0, or -1 if the recording has no such task. */
static int task_life(why_ctx *c, uint64_t task, uint64_t *t0, uint64_t *t1) {
    sqlite3_stmt *st = c->life;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
    sqlite3_bind_int64(st, 2, c->pid);
    if (sqlite3_step(st) != SQLITE_ROW)
        return -1;
    *t0 = (uint64_t)sqlite3_column_int64(st, 0);
    *t1 = sqlite3_column_type(st, 1) == SQLITE_NULL ? c->rec_end
                                                    : (uint64_t)sqlite3_column_int64(st, 1);
    if (*t1 < *t0)
        *t1 = *t0;
    return 0;
}

/* The task holding lock `resource` just before event seq: the last to
 * acquire it, if it has not been released since (a lock has one holder;
 * looking only at the last acquisition keeps this two index probes).  0
 * if none is known. */
static uint64_t lock_holder(why_ctx *c, uint64_t resource, int64_t seq) {
    sqlite3_stmt *st = c->holder;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)resource);
    sqlite3_bind_int64(st, 2, c->pid);
    sqlite3_bind_int64(st, 3, seq);
    return sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
}

typedef struct wait_rec {
    int64_t seq;
    uint64_t start, end, object, cause_task;
    int64_t site;
    int kind, cause, status; /* status: the wake's (-ECANCELED, -ETIMEDOUT, ...) */
} wait_rec;

/* Decompose task's time inside [w0, w1) into children of tn, adding to
 * what is there (a group of waits sums its instances).  depth: how many
 * more levels of cause tasks to follow. */
static int decompose(why_ctx *c, node *tn, uint64_t task, uint64_t w0, uint64_t w1, int depth) {
    uint64_t t0, t1;
    tn->ns += w1 - w0;
    tn->count++;
    uint64_t covered = 0;
    if (task_life(c, task, &t0, &t1) == 0 && w1 > w0) {
        /* Read the task's events first (the statement is reused when
         * recursing), then walk them. */
        size_t n = 0, cap = 0;
        struct ev { int64_t seq; uint64_t ns, a; int64_t b, site; int type; } *evs = NULL;
        sqlite3_stmt *st = c->events;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        sqlite3_bind_int64(st, 2, c->pid);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)w1);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                void *p = realloc(evs, cap * sizeof *evs);
                if (!p) {
                    free(evs);
                    return -1;
                }
                evs = p;
            }
            evs[n].seq = sqlite3_column_int64(st, 0);
            evs[n].ns = (uint64_t)sqlite3_column_int64(st, 1);
            evs[n].type = sqlite3_column_int(st, 2);
            evs[n].a = (uint64_t)sqlite3_column_int64(st, 3);
            evs[n].b = sqlite3_column_int64(st, 4);
            evs[n].site = sqlite3_column_int64(st, 5);
            n++;
        }
        /* type 0 resume, 1 suspend (a object, b kind), 2 wake (a by_task) */
        int state = N_SCHED; /* from spawn until the first step */
        uint64_t since = t0;
        wait_rec w = {0};
        size_t nwaits = 0, wcap = 0;
        wait_rec *waits = NULL;
        for (size_t i = 0; i <= n; i++) {
            uint64_t at = i < n ? evs[i].ns : t1;
            if (at > t1)
                at = t1;
            uint64_t d = clip(since, at, w0, w1);
            if (state == N_WAIT && i < n && evs[i].type == 2) {
                w.status = (int)evs[i].b;
                if (evs[i].a && w.kind == 1) {
                    /* A wait on tasks is ended by the one that finished
                     * last (a gather parks naming its first unfinished
                     * task): that is the critical child. */
                    w.cause_task = evs[i].a;
                    w.cause = CAUSE_AWAITED;
                } else if (evs[i].a && !w.cause_task) {
                    /* woken by a task: the cause when nothing better is known */
                    w.cause_task = evs[i].a;
                    w.cause = CAUSE_WAKER;
                }
            }
            if ((state == N_RUN || state == N_SCHED) && d) {
                node *x = find_child(tn, state, 0, 0, 0, 0);
                if (x) {
                    x->ns += d;
                    x->count++;
                }
                covered += d;
            } else if (state == N_WAIT && d) {
                w.start = since > w0 ? since : w0;
                w.end = w.start + d;
                if (nwaits == wcap) {
                    wcap = wcap ? wcap * 2 : 16;
                    void *p = realloc(waits, wcap * sizeof *waits);
                    if (!p)
                        break;
                    waits = p;
                }
                waits[nwaits++] = w;
                covered += d;
            }
            if (i == n || evs[i].ns >= t1)
                break;
            since = at;
            if (evs[i].type == 0) {
                state = N_RUN;
            } else if (evs[i].type == 1) {
                state = N_WAIT;
                memset(&w, 0, sizeof w);
                w.seq = evs[i].seq;
                w.object = evs[i].a;
                w.kind = (int)evs[i].b;
                w.site = evs[i].site;
                if (w.kind == 5) { /* lock: who held it when we asked */
                    w.cause_task = lock_holder(c, w.object, w.seq);
                    w.cause = w.cause_task ? CAUSE_HOLDER : CAUSE_NONE;
                } else if (w.kind == 1 && w.object) {
                    w.cause_task = w.object;
                    w.cause = CAUSE_AWAITED;
                }
            } else {
                state = N_SCHED;
            }
        }
        free(evs);
        /* Waits last: recursing reuses the statements above. */
        for (size_t k = 0; k < nwaits; k++) {
            wait_rec *r = &waits[k];
            node *x = find_child(tn, N_WAIT, r->kind, r->object, r->site, 0);
            if (!x)
                break;
            x->ns += r->end - r->start;
            x->count++;
            x->cancelled += r->status == -ECANCELED;
            x->timed_out += r->status == -ETIMEDOUT;
            if (depth > 0 && r->cause_task && r->cause_task != task) {
                node *y = find_child(x, N_TASK, 0, 0, 0, r->cause_task);
                if (y) {
                    y->cause = r->cause;
                    decompose(c, y, r->cause_task, r->start, r->end, depth - 1);
                }
            }
        }
        free(waits);
    }
    uint64_t total = w1 - w0;
    if (covered < total) {
        node *x = find_child(tn, N_OTHER, 0, 0, 0, 0);
        if (x)
            x->ns += total - covered;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------- */

static const char *const KINDS[] = {"other", "task", "future", "sleep", "yield", "lock",
                                    "event", "condition", "semaphore", "barrier", "queue_get",
                                    "queue_put", "queue_join", "fd", "executor", "generator",
                                    "group"};

static const char *kind_name(int k) {
    return k >= 0 && k < (int)(sizeof KINDS / sizeof *KINDS) ? KINDS[k] : "other";
}

/* One text column from a one-row query with ?1 = id, ?2 = pid; NULL if none.
 * Caller frees with sqlite3_free. */
static char *lookup(why_ctx *c, const char *sql, int64_t id) {
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, c->pid);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

static const char SQL_SITE[] = "SELECT " TS_DDL_SITE("?1", "?2");
static const char SQL_TASK_NAME[] = "SELECT " TS_DDL_STR("c.name", "c.pid")
                                    " FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2 LIMIT 1";
static const char SQL_TASK_SITE[] = "SELECT " TS_DDL_SITE("c.site", "c.pid")
                                    " FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2 LIMIT 1";
static const char SQL_RES_NAME[] = "SELECT name FROM resources WHERE id = ?1 AND pid = ?2 LIMIT 1";

static int is_resource(int k) { return k == 2 || (k >= 5 && k <= 12) || k == 16; }

static const char *cause_name(int cause) {
    return cause == CAUSE_HOLDER ? "held by" : cause == CAUSE_AWAITED ? "awaited" : "woken by";
    /* (for a wait on several tasks, "awaited" is the one that finished last) */
}

static void pct(FILE *out, uint64_t ns, uint64_t wall) {
    fprintf(out, "%9.3f ms %5.1f%%  ", ns / 1e6, wall ? 100.0 * (double)ns / (double)wall : 0.0);
}

static void print_text(FILE *out, why_ctx *c, const node *n, uint64_t wall, int indent) {
    for (; n; n = n->next) {
        pct(out, n->ns, wall);
        fprintf(out, "%*s", indent * 2, "");
        if (n->type == N_TASK) {
            char *name = lookup(c, SQL_TASK_NAME, (int64_t)n->task);
            char *site = lookup(c, SQL_TASK_SITE, (int64_t)n->task);
            if (indent)
                fprintf(out, "%s ", cause_name(n->cause));
            fprintf(out, "task #%" PRIu64 " ", n->task);
            ts_text_put(out, name ? name : "?", 0);
            if (site) {
                fputs(" (spawned at ", out);
                ts_text_put(out, site, 0);
                fputc(')', out);
            }
            fputc('\n', out);
            sqlite3_free(name);
            sqlite3_free(site);
        } else if (n->type == N_RUN) {
            fprintf(out, "running (%u step%s)\n", n->count, n->count == 1 ? "" : "s");
        } else if (n->type == N_SCHED) {
            fprintf(out, "runnable, waiting for the loop (%u time%s)\n", n->count,
                    n->count == 1 ? "" : "s");
        } else if (n->type == N_OTHER) {
            fputs("other/unattributed (no events explain it)\n", out);
        } else {
            fprintf(out, "waiting: %s", kind_name(n->wkind));
            if (is_resource(n->wkind) && n->object) {
                char *rn = lookup(c, SQL_RES_NAME, (int64_t)n->object);
                if (rn) {
                    fputs(" '", out);
                    ts_text_put(out, rn, 0);
                    fputc('\'', out);
                } else {
                    fprintf(out, " #%" PRIu64, n->object);
                }
                sqlite3_free(rn);
            } else if (n->wkind == 1 || n->wkind == 13 || n->wkind == 14) {
                fprintf(out, " %s%" PRIu64, n->wkind == 13 ? "fd " : "#", n->object);
            }
            char *site = lookup(c, SQL_SITE, n->site);
            if (site) {
                fputs(" at ", out);
                ts_text_put(out, site, 0);
            }
            sqlite3_free(site);
            fprintf(out, " (%u wait%s", n->count, n->count == 1 ? "" : "s");
            if (n->cancelled)
                fprintf(out, ", %u cancelled", n->cancelled);
            if (n->timed_out)
                fprintf(out, ", %u timed out", n->timed_out);
            fputs(")\n", out);
        }
        print_text(out, c, n->child, wall, indent + 1);
    }
}

static void json_str(FILE *out, const char *key, const char *v) {
    fprintf(out, ",\"%s\":", key);
    if (v)
        ts_json_put(out, v);
    else
        fputs("null", out);
}

static void print_json(FILE *out, why_ctx *c, const node *n, uint64_t wall) {
    static const char *const TYPES[] = {"task", "running", "runnable", "wait", "other"};
    fprintf(out, "{\"type\":\"%s\",\"ns\":%" PRIu64 ",\"percent\":%.3f,\"count\":%u",
            TYPES[n->type], n->ns, wall ? 100.0 * (double)n->ns / (double)wall : 0.0, n->count);
    if (n->type == N_TASK) {
        char *name = lookup(c, SQL_TASK_NAME, (int64_t)n->task);
        char *site = lookup(c, SQL_TASK_SITE, (int64_t)n->task);
        fprintf(out, ",\"task\":%" PRIu64, n->task);
        json_str(out, "name", name);
        json_str(out, "spawn_site", site);
        json_str(out, "relation", n->cause ? cause_name(n->cause) : NULL);
        sqlite3_free(name);
        sqlite3_free(site);
    } else if (n->type == N_WAIT) {
        char *site = lookup(c, SQL_SITE, n->site);
        char *rn = is_resource(n->wkind) ? lookup(c, SQL_RES_NAME, (int64_t)n->object) : NULL;
        fprintf(out, ",\"kind\":\"%s\",\"object\":%" PRIu64 ",\"cancelled\":%u,\"timed_out\":%u",
                kind_name(n->wkind), n->object, n->cancelled, n->timed_out);
        json_str(out, "object_name", rn);
        json_str(out, "await_site", site);
        sqlite3_free(site);
        sqlite3_free(rn);
    }
    fputs(",\"children\":[", out);
    for (const node *k = n->child; k; k = k->next) {
        print_json(out, c, k, wall);
        if (k->next)
            fputc(',', out);
    }
    fputs("]}", out);
}

/* ---- the command ------------------------------------------------------------ */

static const char USAGE[] =
    "usage: taskscope why [--json] [--depth N] FILE TASK\n\n"
    "Where the wall time of task TASK (its number, as ps shows it) went, in the\n"
    "recording FILE: running on the CPU, runnable but waiting for the loop, and each\n"
    "wait by what it awaited (kind, object, await site).  A lock wait names the task\n"
    "that held the lock, a wait on tasks the one that finished last (a gather's\n"
    "critical child), any other wait the task that woke it; --depth N (default 1,\n"
    "0 for none) breaks those tasks' time inside the wait down the same way, N\n"
    "levels deep.  Waits ended by a cancellation or a timeout are counted.  The\n"
    "parts add up to the wall time\n"
    "(spawn to end, or to the end of the recording): what no event explains is shown\n"
    "as other/unattributed.\n\n"
    "  --json      the tree as JSON (times in ns)\n"
    "  --depth N   levels of cause tasks to follow (0-8, default 1)\n";

static int open_db(why_ctx *c, const char *file) {
    char err[512];
    if (ts_store_open_read(file, &c->db, err, sizeof err)) {
        fprintf(stderr, "taskscope why: %s\n", err);
        return 1;
    }
    static const char EVENTS[] =
        "SELECT seq, ns, 0, 0, 0, 0 FROM ev_task_resume\n"
        "  WHERE task = ?1 AND task > 0 AND pid = ?2 AND ns <= ?3\n" /* > 0: the partial index */
        "UNION ALL SELECT seq, ns, 1, object, kind, site FROM ev_task_suspend\n"
        "  WHERE task = ?1 AND pid = ?2 AND ns <= ?3\n"
        "UNION ALL SELECT seq, ns, 2, by_task, status, 0 FROM ev_task_wake\n"
        "  WHERE task = ?1 AND pid = ?2 AND ns <= ?3\n"
        "ORDER BY 2, 1";
    static const char LIFE[] =
        "SELECT c.ns, (SELECT d.ns FROM ev_task_done d WHERE d.task = c.task AND d.pid = c.pid\n"
        "  ORDER BY d.seq LIMIT 1) FROM ev_task_create c WHERE c.task = ?1 AND c.pid = ?2\n"
        "  ORDER BY c.seq LIMIT 1";
    static const char HOLDER[] =
        "SELECT a.task FROM (SELECT task, seq FROM ev_resource_acquired WHERE resource = ?1\n"
        "    AND pid = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 1) a\n"
        "  WHERE NOT EXISTS (SELECT 1 FROM ev_resource_release r\n"
        "    WHERE r.resource = ?1 AND r.pid = ?2 AND r.seq > a.seq AND r.seq < ?3)";
    /* The recording's end: the latest of the last rows (by seq, the
     * primary key: no scan) of the busiest tables. */
    static const char END[] =
        "SELECT max(x) FROM (SELECT (SELECT ns FROM ev_task_resume ORDER BY seq DESC LIMIT 1) AS x\n"
        "  UNION ALL SELECT (SELECT ns FROM ev_task_suspend ORDER BY seq DESC LIMIT 1)\n"
        "  UNION ALL SELECT (SELECT ns FROM ev_task_wake ORDER BY seq DESC LIMIT 1)\n"
        "  UNION ALL SELECT (SELECT ns FROM ev_task_done ORDER BY seq DESC LIMIT 1)\n"
        "  UNION ALL SELECT (SELECT ns FROM ev_task_create ORDER BY seq DESC LIMIT 1))";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, EVENTS, -1, &c->events, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, LIFE, -1, &c->life, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, HOLDER, -1, &c->holder, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, END, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "taskscope why: %s: %s (a recording from an older taskscope?)\n", file,
                sqlite3_errmsg(c->db));
        return 1;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        c->rec_end = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return 0;
}

/* The process whose task TASK is meant: the traced one if it has such a
 * task, else the first that does (a recording may hold forked children). */
static int pick_pid(why_ctx *c, uint64_t task) {
    static const char SQL[] =
        "SELECT c.pid FROM ev_task_create c WHERE c.task = ?1\n"
        "  ORDER BY c.pid IN (SELECT pid FROM process WHERE parent IS NULL) DESC, c.seq LIMIT 1";
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(c->db, SQL, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        if (sqlite3_step(st) == SQLITE_ROW) {
            c->pid = sqlite3_column_int64(st, 0);
            rc = 0;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int cmd_why(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"depth", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, depth = 1, opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (opt == 'j') {
            json = 1;
        } else if (opt == 'd') {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 0 || v > 8)
                return cli_usage("why", "--depth takes a number from 0 to 8, not '%s'", optarg);
            depth = (int)v;
        } else if (opt == 'h') {
            fputs(USAGE, stdout);
            return 0;
        } else {
            return cli_bad_option("why", opt, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage("why", "need a recording and a task number");
    const char *file = argv[optind], *ts = argv[optind + 1];
    char *end;
    unsigned long long task = strtoull(ts, &end, 10);
    if (!*ts || *end || ts[0] == '-' || !task)
        return cli_usage("why", "'%s' is not a task number", ts);
    if (!ts_store_is_recording(file)) {
        /* A pid (live) is not answered yet: the model would have to keep
         * every interval; record with run/attach and ask the file. */
        fprintf(stderr, "taskscope why: %s is not a recording (why reads recordings only; "
                        "record a live process with `taskscope attach`)\n", file);
        return 1;
    }
    why_ctx c = {0};
    int rc = open_db(&c, file);
    if (!rc && pick_pid(&c, task)) {
        fprintf(stderr, "taskscope why: no task #%llu in %s\n", task, file);
        rc = 1;
    }
    uint64_t t0 = 0, t1 = 0;
    if (!rc && task_life(&c, task, &t0, &t1)) {
        fprintf(stderr, "taskscope why: no task #%llu in %s\n", task, file);
        rc = 1;
    }
    if (!rc) {
        node root = {0};
        root.type = N_TASK;
        root.task = task;
        node *top = add_child(&root, N_TASK);
        if (top)
            top->task = task;
        if (!top || decompose(&c, top, task, t0, t1, depth)) {
            fprintf(stderr, "taskscope why: out of memory\n");
            rc = 1;
        } else if (json) {
            fprintf(stdout, "{\"task\":%llu,\"pid\":%" PRId64 ",\"wall_ns\":%" PRIu64
                            ",\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"tree\":",
                    task, c.pid, t1 - t0, t0, t1);
            print_json(stdout, &c, top, t1 - t0);
            fputs("}\n", stdout);
        } else {
            printf("why task #%llu: wall %.3f ms\n", task, (t1 - t0) / 1e6);
            print_text(stdout, &c, top, t1 - t0, 0);
        }
        free_tree(root.child);
    }
    sqlite3_finalize(c.events);
    sqlite3_finalize(c.life);
    sqlite3_finalize(c.holder);
    sqlite3_close(c.db);
    return rc;
}
