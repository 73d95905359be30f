/*
 * why_agg.c - `taskscope why --site FILE:LINE | --name NAME RECORDING`:
 * where the time of all the tasks spawned at a site (or so named) went
 * (issue 19 point 2).
 *
 * The tasks are found with one pass over ev_task_create (one row per
 * task, a small part of any recording), each probing the site and string
 * id indexes; their end through the ev_task_done task index.  The wall
 * times go into the HDR histogram every report uses (hdr.h), so p50/p99
 * here mean what they mean in `stats`.  Only the slowest percentile is
 * then decomposed (why.h, a few index probes per event of each task), at
 * most AGG_MAX_DECOMPOSED tasks: the answer's cost follows the number of
 * slow tasks, not the size of the recording (and at most AGG_MAX_NODES
 * nodes of trees are made).
 *
 * The merged tree keeps why's invariant (the parts add up to the summed
 * wall time): nodes that are the same thing add their ns, nothing is
 * spread or estimated.  Ids are per process, so one answer covers one
 * process; matching tasks of other processes are counted and named as
 * left out, never mixed in.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli.h"
#include "store.h"
#include "syscalls.h"
#include "textsafe.h"
#include "why_agg.h"

/* Decomposing every slow task of a huge recording would take minutes;
 * the slowest this many say what dominates as well: at most 1000 tasks,
 * and no more once their trees held 20,000 nodes (a task runnable while
 * a thousand others ran has a thousand "ran meanwhile" nodes, each a
 * query: about a quarter of a second). */
#define AGG_MAX_DECOMPOSED 1000
#define AGG_MAX_NODES 20000

/* ---- finding the tasks ----------------------------------------------- */

static const char SQL_BY_SITE[] =
    "SELECT c.pid, c.task, min(c.ns),\n"
    "  (SELECT d.ns FROM ev_task_done d WHERE d.task = c.task AND d.pid = c.pid\n"
    "    ORDER BY d.seq LIMIT 1)\n"
    "FROM ev_task_create c WHERE EXISTS (SELECT 1 FROM ev_site s JOIN ev_string f\n"
    "    ON f.id = s.file AND f.pid = s.pid\n"
    "  WHERE s.id = c.site AND s.pid = c.pid AND s.line = ?2\n"
    "    AND (f.text = ?1 OR substr(f.text, -length(?1) - 1) = '/' || ?1))\n"
    "GROUP BY c.pid, c.task\n"
    "ORDER BY c.pid IN (SELECT pid FROM process WHERE parent IS NULL) DESC, c.pid";
static const char SQL_BY_NAME[] =
    "SELECT c.pid, c.task, min(c.ns),\n"
    "  (SELECT d.ns FROM ev_task_done d WHERE d.task = c.task AND d.pid = c.pid\n"
    "    ORDER BY d.seq LIMIT 1)\n"
    "FROM ev_task_create c WHERE c.name IN (SELECT id FROM ev_string WHERE text = ?1\n"
    "    AND pid = c.pid)\n"
    "GROUP BY c.pid, c.task\n"
    "ORDER BY c.pid IN (SELECT pid FROM process WHERE parent IS NULL) DESC, c.pid";

typedef struct pair {
    uint64_t task, wall;
} pair;

static int by_wall_desc(const void *a, const void *b) {
    const pair *x = a, *y = b;
    if (x->wall != y->wall)
        return x->wall < y->wall ? 1 : -1;
    return x->task < y->task ? -1 : x->task > y->task;
}

/* Split "file:line" at its last ':'; 0 or -EINVAL. */
static int parse_site(const char *site, char *file, size_t cap, int *line) {
    const char *colon = strrchr(site, ':');
    if (!colon || colon == site || (size_t)(colon - site) >= cap)
        return -EINVAL;
    char *end;
    long v = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || v <= 0 || v > 0x7fffffff)
        return -EINVAL;
    memcpy(file, site, (size_t)(colon - site));
    file[colon - site] = 0;
    *line = (int)v;
    return 0;
}

int why_agg_collect(why_ctx *c, const char *site, const char *name, why_agg *a, char *err,
                    size_t errlen) {
    memset(a, 0, sizeof *a);
    char file[4096];
    int line = 0;
    if (site && parse_site(site, file, sizeof file, &line)) {
        snprintf(err, errlen, "'%s' is not FILE:LINE", site);
        return -EINVAL;
    }
    if (ts_hdr_init(&a->hist, TS_HDR_HIGHEST, TS_HDR_SIGFIGS))
        return -EINVAL;
    sqlite3 *db = why_db(c);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, site ? SQL_BY_SITE : SQL_BY_NAME, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(db));
        return -EINVAL;
    }
    sqlite3_bind_text(st, 1, site ? file : name, -1, SQLITE_TRANSIENT);
    if (site)
        sqlite3_bind_int(st, 2, line);
    uint64_t rec_end = why_rec_end(c);
    pair *v = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, have_pid = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t pid = sqlite3_column_int64(st, 0);
        if (!have_pid) {
            a->pid = pid;
            have_pid = 1;
        } else if (pid != a->pid) {
            a->other_pids++;
            continue;
        }
        uint64_t t0 = (uint64_t)sqlite3_column_int64(st, 2);
        int live = sqlite3_column_type(st, 3) == SQLITE_NULL;
        uint64_t t1 = live ? rec_end : (uint64_t)sqlite3_column_int64(st, 3);
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            pair *p = realloc(v, cap * sizeof *v);
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            v = p;
        }
        v[n].task = (uint64_t)sqlite3_column_int64(st, 1);
        v[n].wall = t1 > t0 ? t1 - t0 : 0;
        a->live += live;
        if (ts_hdr_record(&a->hist, v[n].wall)) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    sqlite3_finalize(st);
    if (!rc && !n) {
        if (site)
            snprintf(err, errlen, "no task was spawned at %s", site);
        else
            snprintf(err, errlen, "no task is named '%s'", name);
        rc = -ENOENT;
    }
    if (!rc && n) {
        qsort(v, n, sizeof *v, by_wall_desc);
        a->task = malloc(n * sizeof *a->task);
        a->wall = malloc(n * sizeof *a->wall);
        if (!a->task || !a->wall) {
            rc = -ENOMEM;
        } else {
            for (size_t i = 0; i < n; i++) {
                a->task[i] = v[i].task;
                a->wall[i] = v[i].wall;
            }
            a->n = n;
            why_set_pid(c, a->pid);
        }
    }
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    free(v);
    if (rc)
        why_agg_free(a);
    return rc;
}

void why_agg_free(why_agg *a) {
    free(a->task);
    free(a->wall);
    ts_hdr_free(&a->hist);
    a->task = a->wall = NULL;
    a->n = 0;
}

size_t why_agg_slowest(const why_agg *a, double p) {
    if (!a->n)
        return 0;
    uint64_t thr = ts_hdr_lowest_equivalent(&a->hist, ts_hdr_value_at(&a->hist, p));
    size_t k = 0;
    while (k < a->n && a->wall[k] >= thr)
        k++;
    return k ? k : 1;
}

/* ---- merging trees ------------------------------------------------------ */

static int same_thing(const why_node *a, const why_node *b) {
    return a->type == b->type && a->wkind == b->wkind && a->object == b->object &&
           a->site == b->site && a->task == b->task && a->cause == b->cause;
}

/* Fd waits merge by fd number, which the process reuses: if two were
 * different things (the fd_info before each says), the merged node names
 * none of them (seq -1: why_fd_name's "not one fd"). */
static void merge_fd(why_ctx *c, why_node *d, const why_node *src) {
    if (d->wkind != 13 || d->type != WHY_WAIT || d->seq < 0 || d->seq == src->seq)
        return;
    char *a = src->seq < 0 ? NULL : why_fd_name(c, d->object, d->seq);
    char *b = src->seq < 0 ? NULL : why_fd_name(c, src->object, src->seq);
    if (!a || !b || strcmp(a, b) != 0)
        d->seq = -1;
    free(a);
    free(b);
}

/* Move the list src (siblings) under dst, adding each node into the
 * child of dst that is the same thing, if any. */
static void merge_into(why_ctx *c, why_node *dst, why_node *src) {
    while (src) {
        why_node *next = src->next;
        src->next = NULL;
        why_node *d = dst->child;
        while (d && !same_thing(d, src))
            d = d->next;
        if (!d) {
            if (dst->last)
                dst->last->next = src;
            else
                dst->child = src;
            dst->last = src;
        } else {
            d->ns += src->ns;
            d->count += src->count;
            d->cancelled += src->cancelled;
            d->timed_out += src->timed_out;
            d->inferred += src->inferred;
            d->loop_blocked_ns += src->loop_blocked_ns;
            merge_fd(c, d, src);
            if (src->blocker_ns > d->blocker_ns) { /* the biggest single blocker */
                d->blocker = src->blocker;
                d->blocker_ns = src->blocker_ns;
                d->blocker_syscall = src->blocker_syscall;
            }
            for (unsigned i = 0; i < src->nholders && d->nholders < WHY_HOLDERS_MAX; i++) {
                unsigned j = 0;
                while (j < d->nholders && d->holders[j] != src->holders[i])
                    j++;
                if (j == d->nholders)
                    d->holders[d->nholders++] = src->holders[i];
            }
            why_node *kids = src->child;
            src->child = src->last = NULL;
            why_node_free(src);
            merge_into(c, d, kids);
        }
        src = next;
    }
}

static size_t count_nodes(const why_node *n) {
    size_t k = 0;
    for (; n; n = n->next)
        k += 1 + count_nodes(n->child);
    return k;
}

/* Did more than AGG_MAX_STEPS_SEEN steps (of any task) run during task's
 * life?  A tree with causes lists every task that ran while it was
 * runnable, a query each: for a task alive across most of a large
 * recording (a server's root) that is minutes.  Counted over the
 * resumes' rowid range, at most that many rows read. */
#define AGG_MAX_STEPS_SEEN 5000
static int long_lived(why_ctx *c, uint64_t task) {
    static const char SQL[] =
        "SELECT count(*) FROM (SELECT 1 FROM ev_task_resume WHERE seq >\n"
        "    (SELECT min(seq) FROM ev_task_create WHERE task = ?1 AND pid = ?2)\n"
        "  AND seq < ifnull((SELECT min(seq) FROM ev_task_done WHERE task = ?1 AND pid = ?2),\n"
        "    9e18) LIMIT ?3)";
    sqlite3_stmt *st = NULL;
    int many = 0;
    if (sqlite3_prepare_v2(why_db(c), SQL, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)task);
        sqlite3_bind_int64(st, 2, why_pid(c));
        sqlite3_bind_int(st, 3, AGG_MAX_STEPS_SEEN + 1);
        many = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > AGG_MAX_STEPS_SEEN;
    }
    sqlite3_finalize(st);
    return many;
}

why_node *why_agg_tree(why_ctx *c, const uint64_t *tasks, size_t n, int depth,
                       size_t max_nodes, unsigned *shallow) {
    why_node *root = calloc(1, sizeof *root);
    if (!root) {
        errno = ENOMEM;
        return NULL;
    }
    root->type = WHY_TASK;
    if (shallow)
        *shallow = 0;
    /* A wait group caused in one task's tree and not in another's still
     * adds up once merged: each tree keeps its uncaused waits' nodes,
     * dropped from the merged tree where nothing else is beside them. */
    why_set_keep_notask(c, 1);
    for (size_t i = 0; i < n; i++) {
        int d = depth;
        if (d > 0 && long_lived(c, tasks[i])) {
            d = 0; /* its parts, without causes: see long_lived */
            if (shallow)
                ++*shallow;
        }
        why_node *t = why_task(c, tasks[i], d, NULL, NULL);
        if (!t) {
            int e = errno;
            why_set_keep_notask(c, 0);
            why_node_free(root);
            errno = e;
            return NULL;
        }
        root->ns += t->ns;
        root->count++;
        size_t nodes = count_nodes(t);
        why_node *kids = t->child;
        t->child = t->last = NULL;
        why_node_free(t);
        merge_into(c, root, kids);
        /* A tree's size is what it cost (a few index probes a node): past
         * the budget, the slowest tasks taken so far stand for the rest.
         * Counted, not timed, so that the answer does not depend on the
         * machine's speed. */
        if (max_nodes) {
            if (nodes >= max_nodes)
                break;
            max_nodes -= nodes;
        }
    }
    why_set_keep_notask(c, 0);
    why_node_compact(root);
    return root;
}

/* ---- the report --------------------------------------------------------- */

typedef struct sbuf {
    char s[1024];
    size_t len;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    if (b->len >= sizeof b->s - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->len, sizeof b->s - b->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->len += (size_t)k < sizeof b->s - b->len ? (size_t)k : sizeof b->s - 1 - b->len;
}

static double pc(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The child of n with the most time (of type `type`, or any if < 0). */
static const why_node *biggest(const why_node *n, int type) {
    const why_node *best = NULL;
    for (const why_node *k = n->child; k; k = k->next)
        if ((type < 0 || k->type == type) && (!best || k->ns > best->ns))
            best = k;
    return best;
}

/* An unnamed resource's creation site ("db.c:12 in open_db()"), from the
 * resources view; NULL if unknown.  Free it. */
static char *resource_site(why_ctx *c, uint64_t id) {
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(why_db(c), "SELECT site FROM resources WHERE id = ?1 AND pid = ?2 "
                           "LIMIT 1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
        sqlite3_bind_int64(st, 2, why_pid(c));
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

/* " "pool"", or " created at db.c:12 in f()" for one without a name
 * (then 1), or " #id". */
static int describe_object(sbuf *b, why_ctx *c, uint64_t id) {
    char *rn = why_resource_name(c, id);
    char *site = rn ? NULL : resource_site(c, id);
    if (rn)
        sb_add(b, " \"%s\"", rn);
    else if (site)
        sb_add(b, " created at %s", site);
    else
        sb_add(b, " #%" PRIu64, id);
    int by_site = site != NULL;
    free(rn);
    free(site);
    return by_site;
}

/* "lock "pool" (db.c:40)", "sleep (x.c:9)", "task #4": what a wait awaited. */
static void describe_wait(sbuf *b, why_ctx *c, const why_node *w) {
    sb_add(b, "%s", why_kind_name(w->wkind));
    int by_site = 0;
    if (why_kind_is_resource(w->wkind) && w->object) {
        by_site = describe_object(b, c, w->object);
    } else if (w->wkind == 1 || w->wkind == 14) {
        sb_add(b, " #%" PRIu64, w->object);
    } else if (w->wkind == 13) {
        /* what it was, as single-task why names it (the first wait's) */
        char *fd = why_fd_name(c, w->object, w->seq);
        sb_add(b, " %" PRIu64, w->object); /* "fd 7": the kind's name said "fd" */
        if (fd)
            sb_add(b, " (%s)", fd);
        else if (w->seq < 0)
            sb_add(b, " (not always the same connection or file)");
        by_site = fd != NULL || w->seq < 0;
        free(fd);
    }
    char *site = why_site(c, w->site);
    if (site)
        sb_add(b, by_site ? ", awaited at %s" : " (%s)", site);
    free(site);
}

/* What a cause task was mostly doing inside the windows: "busy on CPU". */
static void describe_state(sbuf *b, why_ctx *c, const why_node *t) {
    const why_node *s = biggest(t, -1);
    if (!s || !t->ns)
        return;
    double share = pc(s->ns, t->ns);
    if (s->type == WHY_RUN) {
        sb_add(b, " (busy on CPU %.0f %%)", share);
    } else if (s->type == WHY_SCHED) {
        sb_add(b, " (runnable, waiting for the loop %.0f %%)", share);
    } else if (s->type == WHY_WAIT) {
        sb_add(b, " (itself waiting for ");
        describe_wait(b, c, s);
        sb_add(b, " %.0f %%)", share);
    } else if (s->type == WHY_BLOCK) {
        sb_add(b, " (blocking the loop %.0f %%)", share);
    } else if (s->type == WHY_ENDED) {
        sb_add(b, " (already ended %.0f %%)", share);
    } else if (s->type == WHY_OTHER) {
        sb_add(b, " (unexplained by any event %.0f %%)", share);
    }
}

/* One part of the merged tree as a phrase: "waiting for lock "pool"
 * (db.c:40), held by flusher (busy on CPU 80 %)". */
static void describe_part(sbuf *b, why_ctx *c, const why_node *p) {
    if (p->type == WHY_RUN) {
        sb_add(b, "running on the CPU");
    } else if (p->type == WHY_OTHER) {
        sb_add(b, "in stretches no event explains");
    } else if (p->type == WHY_BLOCK) {
        sb_add(b, "running steps that blocked the loop");
    } else if (p->type == WHY_LOOP) {
        sb_add(b, "in the loop's own work (no task running)");
    } else if (p->type == WHY_ENDED) {
        sb_add(b, "after its cause had ended");
    } else if (p->type == WHY_SCHED) {
        sb_add(b, "runnable, waiting for the loop");
        const why_node *r = biggest(p, -1);
        if (r && r->type == WHY_TASK && !r->task) {
            sb_add(b, ", mostly while other tasks ran");
        } else if (r && r->type == WHY_TASK) {
            char *name = why_task_name(c, r->task);
            sb_add(b, ", mostly while %s #%" PRIu64 " ran", name ? name : "?", r->task);
            free(name);
        } else if (r && r->type == WHY_LOOP) {
            sb_add(b, ", mostly in the loop's own work");
        }
    } else if (p->type == WHY_WAIT) {
        sb_add(b, "waiting for ");
        describe_wait(b, c, p);
        const why_node *t = biggest(p, WHY_TASK), *u = biggest(p, WHY_NOTASK);
        if (u && (!t || u->ns > t->ns)) {
            /* most of the waits had no cause task (31 timer sleeps beside
             * the one main cancelled): naming main would mislead */
            sb_add(b, ", mostly caused by no task (%s %.0f %%)", why_notask_name(u->wkind),
                   pc(u->ns, p->ns));
        } else if (t) {
            char *name = why_task_name(c, t->task);
            sb_add(b, ", %s %s #%" PRIu64, why_cause_name(t->cause), name ? name : "?", t->task);
            free(name);
            describe_state(b, c, t);
        }
        if (p->loop_blocked_ns && p->blocker) {
            /* the injected blocking call: no wake could be delivered */
            char *name = why_task_name(c, p->blocker);
            const char *sc = p->blocker_syscall >= 0 ? ts_syscall_name(p->blocker_syscall) : NULL;
            sb_add(b, "; the loop blocked %.0f %% of it, mostly by %s #%" PRIu64,
                   pc(p->loop_blocked_ns, p->ns), name ? name : "?", p->blocker);
            if (sc)
                sb_add(b, " in %s()", sc);
            free(name);
        }
    }
}

static int by_ns_desc(const void *a, const void *b) {
    const why_node *x = *(const why_node *const *)a, *y = *(const why_node *const *)b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

/* The root's parts, largest first (a malloc'd array of n pointers). */
static const why_node **sorted_parts(const why_node *root, size_t *n) {
    size_t k = 0;
    for (const why_node *p = root->child; p; p = p->next)
        k++;
    const why_node **v = calloc(k ? k : 1, sizeof *v);
    if (!v)
        return NULL;
    k = 0;
    for (const why_node *p = root->child; p; p = p->next)
        v[k++] = p;
    qsort(v, k, sizeof *v, by_ns_desc);
    *n = k;
    return v;
}

/* Time per wait kind (index: the ts_wait_kind), summed over the parts. */
#define AGG_KINDS 32
static void kind_totals(const why_node *root, uint64_t *ns) {
    memset(ns, 0, AGG_KINDS * sizeof *ns);
    for (const why_node *p = root->child; p; p = p->next)
        if (p->type == WHY_WAIT)
            ns[p->wkind >= 0 && p->wkind < AGG_KINDS ? p->wkind : 0] += p->ns;
}

/* Time per resource (a lock, queue, ... awaited at any site), largest
 * first: a malloc'd array of *n, or NULL. */
typedef struct res_total {
    int wkind;
    uint64_t object, ns;
} res_total;

static int res_desc(const void *a, const void *b) {
    const res_total *x = a, *y = b;
    return x->ns < y->ns ? 1 : x->ns > y->ns ? -1 : 0;
}

static res_total *resource_totals(const why_node *root, size_t *n) {
    size_t k = 0, cap = 0;
    res_total *v = NULL;
    for (const why_node *p = root->child; p; p = p->next) {
        if (p->type != WHY_WAIT || !why_kind_is_resource(p->wkind) || !p->object)
            continue;
        size_t i = 0;
        while (i < k && !(v[i].wkind == p->wkind && v[i].object == p->object))
            i++;
        if (i == k) {
            if (k == cap) {
                cap = cap ? cap * 2 : 8;
                res_total *q = realloc(v, cap * sizeof *q);
                if (!q)
                    break;
                v = q;
            }
            v[k++] = (res_total){.wkind = p->wkind, .object = p->object};
        }
        v[i].ns += p->ns;
    }
    if (v)
        qsort(v, k, sizeof *v, res_desc);
    *n = v ? k : 0;
    return v;
}

/* "lock "pool"" or "lock #7": a resource as the report names it. */
static void describe_resource(sbuf *b, why_ctx *c, const res_total *r) {
    sb_add(b, "%s", why_kind_name(r->wkind));
    describe_object(b, c, r->object);
}

static void print_text(why_ctx *c, const char *what, const why_agg *a, size_t slow,
                       const why_node *root, const char *sentence, int depth,
                       unsigned shallow) {
    const ts_hdr *h = &a->hist;
    fputs("tasks ", stdout);
    ts_text_put(stdout, what, 0);
    printf(": %zu", a->n);
    if (a->live)
        printf(" (%zu still live at the end: counted to it)", a->live);
    if (a->other_pids)
        printf(" (%zu more in other processes, left out)", a->other_pids);
    printf("\nwall time: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           ts_hdr_value_at(h, 50) / 1e6, ts_hdr_value_at(h, 90) / 1e6,
           ts_hdr_value_at(h, 99) / 1e6, h->max / 1e6);
    printf("slowest percentile (wall >= %.3f ms): %zu task%s", a->wall[slow - 1] / 1e6, slow,
           slow == 1 ? "" : "s");
    if (root->count < slow)
        printf(", the %u slowest decomposed (at most %d tasks, %d tree nodes)", root->count,
               AGG_MAX_DECOMPOSED, AGG_MAX_NODES);
    printf(", %.3f ms in all\n", root->ns / 1e6);
    if (shallow)
        printf("(%u of them long-lived: more than %d steps ran during each; decomposed without "
               "cause tasks)\n", shallow, AGG_MAX_STEPS_SEEN);
    fputc('\n', stdout);
    ts_text_put(stdout, sentence, 0);
    fputs("\n\n", stdout);
    size_t n = 0;
    const why_node **parts = sorted_parts(root, &n);
    if (parts) {
        printf("%12s %12s %6s  %s\n", "TOTAL ms", "PER TASK ms", "%", "WHERE");
        for (size_t i = 0; i < n; i++) {
            sbuf b = {.len = 0};
            describe_part(&b, c, parts[i]);
            printf("%12.3f %12.3f %6.1f  ", parts[i]->ns / 1e6,
                   parts[i]->ns / 1e6 / (root->count ? root->count : 1), pc(parts[i]->ns, root->ns));
            ts_text_put(stdout, b.s, 0);
            fputc('\n', stdout);
        }
        free(parts);
    }
    uint64_t kinds[AGG_KINDS];
    kind_totals(root, kinds);
    fputs("\nby wait kind:", stdout);
    int any = 0;
    for (int k = 0; k < AGG_KINDS; k++)
        if (kinds[k]) {
            printf("  %s %.1f %%", why_kind_name(k), pc(kinds[k], root->ns));
            any = 1;
        }
    fputs(any ? "\n" : "  (no waits)\n", stdout);
    size_t nres = 0;
    res_total *res = resource_totals(root, &nres);
    if (nres) {
        fputs("by resource:", stdout);
        for (size_t i = 0; i < nres && i < 8; i++) {
            sbuf b = {.len = 0};
            describe_resource(&b, c, &res[i]);
            fputs("  ", stdout);
            ts_text_put(stdout, b.s, 0);
            printf(" %.1f %%", pc(res[i].ns, root->ns));
        }
        fputc('\n', stdout);
    }
    free(res);
    printf("\nthe slowest tasks' time, merged (--depth %d):\n", depth);
    why_print_text(stdout, c, root->child, root->ns, 0);
}

static void print_json(why_ctx *c, const char *site, const char *name, const why_agg *a,
                       size_t slow, const why_node *root, const char *sentence,
                       unsigned shallow) {
    const ts_hdr *h = &a->hist;
    fputs("{\"site\":", stdout);
    if (site)
        ts_json_put(stdout, site);
    else
        fputs("null", stdout);
    fputs(",\"name\":", stdout);
    if (name)
        ts_json_put(stdout, name);
    else
        fputs("null", stdout);
    printf(",\"pid\":%" PRId64 ",\"tasks\":%zu,\"live\":%zu,\"other_processes_tasks\":%zu,"
           "\"wall_ns\":{\"min\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64
           ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "},",
           a->pid, a->n, a->live, a->other_pids, h->min, ts_hdr_value_at(h, 50),
           ts_hdr_value_at(h, 90), ts_hdr_value_at(h, 99), h->max);
    printf("\"slowest\":{\"percentile\":99,\"threshold_ns\":%" PRIu64 ",\"count\":%zu,"
           "\"decomposed\":%u,\"without_causes\":%u,\"wall_ns\":%" PRIu64 ",\"tasks\":[",
           a->wall[slow - 1], slow, root->count, shallow, root->ns);
    for (size_t i = 0; i < root->count; i++)
        printf("%s%" PRIu64, i ? "," : "", a->task[i]);
    fputs("],\"summary\":", stdout);
    ts_json_put(stdout, sentence);
    fputs(",\"parts\":[", stdout);
    size_t n = 0;
    const why_node **parts = sorted_parts(root, &n);
    for (size_t i = 0; parts && i < n; i++) {
        sbuf b = {.len = 0};
        describe_part(&b, c, parts[i]);
        printf("%s{\"type\":\"%s\",\"ns\":%" PRIu64 ",\"percent\":%.3f", i ? "," : "",
               why_type_name(parts[i]->type), parts[i]->ns, pc(parts[i]->ns, root->ns));
        if (parts[i]->type == WHY_WAIT)
            printf(",\"kind\":\"%s\"", why_kind_name(parts[i]->wkind));
        fputs(",\"text\":", stdout);
        ts_json_put(stdout, b.s);
        fputc('}', stdout);
    }
    free(parts);
    fputs("],\"kinds\":[", stdout);
    uint64_t kinds[AGG_KINDS];
    kind_totals(root, kinds);
    int first = 1;
    for (int k = 0; k < AGG_KINDS; k++)
        if (kinds[k]) {
            printf("%s{\"kind\":\"%s\",\"ns\":%" PRIu64 ",\"percent\":%.3f}", first ? "" : ",",
                   why_kind_name(k), kinds[k], pc(kinds[k], root->ns));
            first = 0;
        }
    fputs("],\"resources\":[", stdout);
    size_t nres = 0;
    res_total *res = resource_totals(root, &nres);
    for (size_t i = 0; i < nres; i++) {
        char *rn = why_resource_name(c, res[i].object);
        printf("%s{\"kind\":\"%s\",\"object\":%" PRIu64 ",\"name\":", i ? "," : "",
               why_kind_name(res[i].wkind), res[i].object);
        if (rn)
            ts_json_put(stdout, rn);
        else
            fputs("null", stdout);
        printf(",\"ns\":%" PRIu64 ",\"percent\":%.3f}", res[i].ns, pc(res[i].ns, root->ns));
        free(rn);
    }
    free(res);
    fputs("],\"tree\":", stdout);
    why_print_json(stdout, c, root, root->ns);
    fputs("}}\n", stdout);
}

int why_agg_command(const char *file, const char *site, const char *name, int json, int depth) {
    char err[512];
    why_ctx *c = why_open(file, err, sizeof err);
    if (!c) {
        fprintf(stderr, "taskscope why: %s\n", err);
        return 1;
    }
    why_agg a;
    int rc = why_agg_collect(c, site, name, &a, err, sizeof err);
    if (rc) {
        why_close(c);
        if (rc == -EINVAL && site && !strchr(site, ':'))
            return cli_usage("why", "--site wants FILE:LINE, not '%s'", site);
        fputs("taskscope why: ", stderr);
        ts_text_put(stderr, err, 0);
        fputc('\n', stderr);
        return rc == -EINVAL ? 2 : 1;
    }
    size_t slow = why_agg_slowest(&a, 99);
    size_t take = slow < AGG_MAX_DECOMPOSED ? slow : AGG_MAX_DECOMPOSED;
    unsigned shallow = 0;
    why_node *root = why_agg_tree(c, a.task, take, depth, AGG_MAX_NODES, &shallow);
    if (!root) {
        fprintf(stderr, "taskscope why: %s\n", strerror(errno));
        why_agg_free(&a);
        why_close(c);
        return 1;
    }
    sbuf s = {.len = 0};
    const why_node *top = biggest(root, -1);
    double share = top ? pc(top->ns, root->ns) : 0.0;
    /* "100 %" only when it is all: 99.7 is not rounded up */
    if (share >= 99.5 && top->ns < root->ns)
        sb_add(&s, "p99 tasks spend %.1f %% ", share);
    else
        sb_add(&s, "p99 tasks spend %.0f %% ", share);
    if (top)
        describe_part(&s, c, top);
    char what[4200];
    if (site)
        snprintf(what, sizeof what, "spawned at %s", site);
    else
        snprintf(what, sizeof what, "named %s", name);
    if (json)
        print_json(c, site, name, &a, slow, root, s.s, shallow);
    else
        print_text(c, what, &a, slow, root, s.s, depth, shallow);
    why_node_free(root);
    why_agg_free(&a);
    why_close(c);
    return 0;
}

/* ---- the command line --------------------------------------------------- */

int why_agg_wanted(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--site") || !strncmp(argv[i], "--site=", 7) ||
            !strcmp(argv[i], "--name") || !strncmp(argv[i], "--name=", 7))
            return 1;
    return 0;
}

int cmd_why_agg(int argc, char **argv) {
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"depth", required_argument, NULL, 'd'},
                                         {"site", required_argument, NULL, 's'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *site = NULL, *name = NULL;
    int json = 0, depth = 1, opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        if (opt == 'j') {
            json = 1;
        } else if (opt == 's') {
            site = optarg;
        } else if (opt == 'n') {
            name = optarg;
        } else if (opt == 'h') {
            char *help[] = {argv[0], "--help", NULL}; /* why's usage covers both forms */
            return cmd_why(2, help);
        } else if (opt == 'd') {
            int rc = cli_why_depth("why", optarg, &depth);
            if (rc)
                return rc;
        } else {
            return cli_bad_option("why", opt, argv);
        }
    }
    if (site && name)
        return cli_usage("why", "--site and --name: one or the other");
    if (argc - optind != 1)
        return cli_usage("why", "--site/--name take one recording, and no task number");
    const char *file = argv[optind];
    if (!ts_store_is_recording(file)) {
        fprintf(stderr, "taskscope why: %s is not a recording\n", file);
        return 1;
    }
    return why_agg_command(file, site, name, json, depth);
}
