/*
 * why_steps.c - the per-task step summary a recording gets when it is
 * closed (table task_steps), so that `taskscope why` says who ran while a
 * task was runnable without reading every step of a long span (a task
 * runnable from its spawn to the end of a 10M-event recording: 6 M rows,
 * 0.6 s of CPU in SQLite alone).
 *
 * One pass over the steps in seq order, paired as why_ran.c pairs them (a
 * resume up to its task's next suspend or done), per (pid, task): the seq
 * and ns range of its step events, the steps' total time and count (steps
 * of zero length are not counted, as why_ran.c does not count them), how
 * many lasted WHY_BLOCK_MIN_NS or more (those why_ran.c looks up in the
 * watchdog's reports), and whether its events paired irregularly (a
 * resume while a step was open, or a step never ended): why_ran.c reads
 * such a task's steps itself.  task_steps_pids says how many threads
 * resumed tasks in each process: the summary stands for a span's steps
 * only where one thread ran them all (steps never overlap).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "why_impl.h"
#include "why_steps.h"

typedef struct acc {
    int64_t pid;
    uint64_t task;
    int64_t first_seq, last_seq;
    uint64_t min_ns, max_ns, open_ns, ns;
    uint32_t steps, long_steps;
    uint8_t open, irregular;
} acc;

/* The most tasks summarised (~80 bytes each while building): a recording
 * of more has no summary, and why reads its steps, as for an older one. */
#define STEPS_MAX_TASKS (1u << 20)

typedef struct table {
    acc *v;
    size_t n, cap;
    uint32_t *slot; /* index + 1 */
    size_t nslots;
} table;

/* The home slot of (pid, task) among nslots (a power of two, at least
 * 64), probed linearly.  Ids are handed out in order: runs of 64 ids keep
 * their slots side by side, and the runs themselves (the pid with them)
 * are scattered.  Scattering matters: with ids folded only by shifts, the
 * runs of a recording whose ids have gaps (events dropped, as a flood
 * outruns the tracer) wrapped onto one another and merged into clusters
 * of 100k+ slots; task_steps took minutes at the close of an 18M-event
 * recording instead of seconds.  (why_ran.c's table of one span's tasks
 * keeps ids as they are: there, measured, locality is worth more, 19 ms
 * against 27 for bench why_latency.) */
static size_t home(int64_t pid, uint64_t task, size_t nslots) {
    uint64_t id = task ^ ((uint64_t)pid << 40);
    uint64_t run = id >> 6;
    run ^= run >> 33;
    run *= 0xff51afd7ed558ccdull;
    run ^= run >> 33;
    return (size_t)((run << 6) | (id & 63)) & (nslots - 1);
}

static acc *find(table *t, int64_t pid, uint64_t task) {
    if (t->nslots) {
        for (size_t k = home(pid, task, t->nslots); t->slot[k]; k = (k + 1) & (t->nslots - 1)) {
            acc *a = &t->v[t->slot[k] - 1];
            if (a->task == task && a->pid == pid)
                return a;
        }
    }
    if (t->n == STEPS_MAX_TASKS)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        acc *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->nslots) {
        size_t nslots = t->nslots ? t->nslots * 2 : 2048;
        uint32_t *slot = calloc(nslots, sizeof *slot);
        if (!slot)
            return NULL;
        for (size_t i = 0; i < t->n; i++) {
            size_t k = home(t->v[i].pid, t->v[i].task, nslots);
            while (slot[k])
                k = (k + 1) & (nslots - 1);
            slot[k] = (uint32_t)(i + 1);
        }
        free(t->slot);
        t->slot = slot;
        t->nslots = nslots;
    }
    acc *a = &t->v[t->n];
    memset(a, 0, sizeof *a);
    a->pid = pid;
    a->task = task;
    a->min_ns = UINT64_MAX;
    size_t k = home(pid, task, t->nslots);
    while (t->slot[k])
        k = (k + 1) & (t->nslots - 1);
    t->slot[k] = (uint32_t)++t->n;
    return a;
}

typedef struct scan {
    sqlite3_stmt *st;
    int live;
    int64_t seq, pid, thread;
    uint64_t ns, task;
} scan;

static void next(scan *k) {
    k->live = sqlite3_step(k->st) == SQLITE_ROW;
    if (k->live) {
        k->seq = sqlite3_column_int64(k->st, 0);
        k->ns = (uint64_t)sqlite3_column_int64(k->st, 1);
        k->task = (uint64_t)sqlite3_column_int64(k->st, 2);
        k->pid = sqlite3_column_int64(k->st, 3);
        k->thread = sqlite3_column_int64(k->st, 4);
    }
}

/* Each process's resuming threads: one, or more (2). */
typedef struct pids {
    struct { int64_t pid, thread; int threads; } v[64];
    size_t n;
    int overflow;
} pids;

static void note_thread(pids *p, int64_t pid, int64_t thread) {
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].pid == pid) {
            if (p->v[i].thread != thread)
                p->v[i].threads = 2;
            return;
        }
    if (p->n == sizeof p->v / sizeof *p->v) {
        p->overflow = 1; /* not summarised: why reads the steps */
        return;
    }
    p->v[p->n].pid = pid;
    p->v[p->n].thread = thread;
    p->v[p->n++].threads = 1;
}

static int write_out(sqlite3 *db, const table *t, const pids *p) {
    static const char DDL[] =
        "DROP TABLE IF EXISTS task_steps; DROP TABLE IF EXISTS task_steps_pids;\n"
        "CREATE TABLE task_steps(pid INTEGER NOT NULL, task INTEGER NOT NULL,\n"
        "  first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL, min_ns INTEGER NOT NULL,\n"
        "  max_ns INTEGER NOT NULL, ns INTEGER NOT NULL, steps INTEGER NOT NULL,\n"
        "  long_steps INTEGER NOT NULL, irregular INTEGER NOT NULL);\n"
        "CREATE TABLE task_steps_pids(pid INTEGER PRIMARY KEY, threads INTEGER NOT NULL);\n";
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_stmt *ins = NULL, *pins = NULL;
    int rc = sqlite3_exec(db, DDL, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO task_steps VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                                -1, &ins, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "INSERT INTO task_steps_pids VALUES(?1, ?2)", -1, &pins, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < t->n; i++) {
        const acc *a = &t->v[i];
        sqlite3_bind_int64(ins, 1, a->pid);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)a->task);
        sqlite3_bind_int64(ins, 3, a->first_seq);
        sqlite3_bind_int64(ins, 4, a->last_seq);
        sqlite3_bind_int64(ins, 5, (sqlite3_int64)a->min_ns);
        sqlite3_bind_int64(ins, 6, (sqlite3_int64)a->max_ns);
        sqlite3_bind_int64(ins, 7, (sqlite3_int64)a->ns);
        sqlite3_bind_int64(ins, 8, a->steps);
        sqlite3_bind_int64(ins, 9, a->long_steps);
        sqlite3_bind_int(ins, 10, a->irregular || a->open);
        rc = sqlite3_step(ins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(ins);
    }
    for (size_t i = 0; rc == SQLITE_OK && !p->overflow && i < p->n; i++) {
        sqlite3_bind_int64(pins, 1, p->v[i].pid);
        sqlite3_bind_int(pins, 2, p->v[i].threads);
        rc = sqlite3_step(pins) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(pins);
    }
    sqlite3_finalize(ins);
    sqlite3_finalize(pins);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "CREATE INDEX task_steps_first ON task_steps(pid, first_seq)",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
}

int why_steps_build(sqlite3 *db) {
#define SCAN(table, thread) \
    "SELECT seq, ns, task, pid, " thread " FROM " table " ORDER BY seq"
    static const char *const SQL[3] = {SCAN("ev_task_resume", "thread"),
                                       SCAN("ev_task_suspend", "0"), SCAN("ev_task_done", "0")};
#undef SCAN
    scan k[3] = {{0}};
    table t = {0};
    pids p = {.n = 0};
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++)
        if (sqlite3_prepare_v2(db, SQL[i], -1, &k[i].st, NULL) != SQLITE_OK)
            rc = -EIO;
        else
            next(&k[i]);
    while (!rc) {
        int m = -1;
        for (int i = 0; i < 3; i++)
            if (k[i].live && (m < 0 || k[i].seq < k[m].seq))
                m = i;
        if (m < 0)
            break;
        scan *e = &k[m];
        if (m == 0 && !e->task) { /* a taskless step: why_ran.c skips it too */
            next(e);
            continue;
        }
        acc *a = find(&t, e->pid, e->task);
        if (!a) {
            rc = -ENOMEM;
            break;
        }
        if (a->min_ns == UINT64_MAX) /* new */
            a->first_seq = e->seq;
        a->last_seq = e->seq;
        if (e->ns < a->min_ns)
            a->min_ns = e->ns;
        if (e->ns > a->max_ns)
            a->max_ns = e->ns;
        if (m == 0) {
            note_thread(&p, e->pid, e->thread);
            a->irregular |= a->open; /* the open step's end was lost */
            a->open = 1;
            a->open_ns = e->ns;
        } else if (a->open) {
            uint64_t d = e->ns > a->open_ns ? e->ns - a->open_ns : 0;
            if (d) {
                a->ns += d;
                a->steps++;
                a->long_steps += d >= WHY_BLOCK_MIN_NS;
                a->irregular |= a->steps == UINT32_MAX; /* cannot count on */
            }
            a->open = 0;
        }
        next(e);
    }
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(k[i].st);
    if (!rc)
        rc = write_out(db, &t, &p);
    free(t.v);
    free(t.slot);
    return rc;
}
