/*
 * ingest.c - the `ingest` benchmark: how many trace events per second the
 * tracer carries from a program's rings to committed SQLite rows, beside
 * raw prepared inserts of the same rows into SQLite (the anchor), in one
 * run; and whether the tracer's memory stays flat over a long recording.
 *
 *   bench_ingest [--quick|--full] [--reps N] [--seconds S]
 *
 * The traced program, ingest_flood, spawns and awaits tasks as fast as
 * the debug runtime lets it, for 10 s (--quick), 60 s (default), 10
 * minutes (--full) or S seconds (--seconds).  This program is its tracer,
 * built from the same parts as `taskscope run` (ts_session: reader, model,
 * store with its writer thread): it starts ingest_flood on the debug
 * runtime, records it to a scratch file until it exits, and reports
 *   ingest            committed rows / wall time from attach to the last
 *                     commit (events/s); the program outruns the tracer,
 *                     so the rings drop what the tracer cannot take and
 *                     this is the tracer's sustained capacity.  The drops
 *                     are printed in "stat".
 *   ingest (anchor "sqlite-prepared-inserts")  the first rows of that
 *                     recording (up to 2 M, in seq order) inserted again
 *                     into a fresh database with the same tables and
 *                     settings (WAL, synchronous=NORMAL), by prepared
 *                     statements in 10k-row transactions on one thread:
 *                     what SQLite alone costs.
 *   ingest (anchor "sqlite-multirow-inserts"; bench/run prints it as
 *                     ingest_vs_sqlite-multirow-inserts)  the same rows and
 *                     transactions, but each transaction's rows grouped by
 *                     table and inserted 32 per statement (INSERT ...
 *                     VALUES (...),(...),...), as the store's writer does:
 *                     what SQLite alone costs the way we use it.  A second
 *                     anchor, not a replacement: the first stays the plain
 *                     one.
 *   ingest_cpu        the same rows per CPU second the tracer spent on them
 *                     (its reader and writer threads), beside the
 *                     anchor's rows per CPU second: what the figures would
 *                     be with a core each, whatever else loads the machine.
 *   ingest_rss_start, ingest_rss_end   the tracer's resident memory
 *                     after the first second and at the end (KiB).
 * --reps is accepted for bench/run's sake; the run is one long sample.
 * Scratch files live in $TMPDIR (default /tmp) and are removed.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "session.h"
#include "store.h"

#ifndef INGEST_FLOOD
#define INGEST_FLOOD "ingest_flood"
#endif
#ifndef INGEST_DEBUG_LIBDIR
#define INGEST_DEBUG_LIBDIR "."
#endif

#define ANCHOR_ROWS 2000000
#define ANCHOR_BATCH 10000
#define MULTI_ROWS 32       /* as tracer/store.c */

typedef struct run_result {
    uint64_t rows, dropped;
    double seconds;
    long rss_start, rss_end, rss_max;
    double cpu;          /* the tracer's CPU seconds (reader + writer) */
} run_result;

/* ---- the recording ------------------------------------------------------ */

static pid_t start_flood(double seconds) {
    char arg[32];
    snprintf(arg, sizeof arg, "%g", seconds);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_LIBRARY_PATH", INGEST_DEBUG_LIBDIR, 1);
        setenv("TASKSCOPE_WAIT_READER_MS", "5000", 1);
        execl(INGEST_FLOOD, INGEST_FLOOD, arg, (char *)NULL);
        fprintf(stderr, "bench_ingest: cannot run %s\n", INGEST_FLOOD);
        _exit(127);
    }
    return pid;
}

static double cpu_seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Every 10 s: what the tracer holds, so that a memory that grows shows
 * where (the model's tasks: live, finished but not freed, freed). */
static void progress(const ts_session *s, int second, long rss) {
    size_t live = 0, done = 0, freed = 0;
    for (size_t i = 0; i < tm_model_task_count(s->model); i++) {
        const tm_task *t = tm_model_task_at(s->model, i);
        if (t)
            *(t->freed ? &freed : t->state < TM_DONE ? &live : &done) += 1;
    }
    fprintf(stderr, "ingest: %d s, %llu events read, RSS %ld KiB; model: %zu live, %zu finished "
                    "not freed, %zu freed tasks\n", second, (unsigned long long)s->events, rss,
            live, done, freed);
}

static int record_flood(const char *path, double seconds, run_result *r) {
    char err[512];
    ts_store *store;
    if (ts_store_create(path, &store, err, sizeof err)) {
        fprintf(stderr, "bench_ingest: %s\n", err);
        return -EIO;
    }
    pid_t child = start_flood(seconds);
    if (child < 0) {
        ts_store_close(store, "failed", 0);
        return -errno;
    }
    ts_session s;
    if (ts_session_open(&s, child, child, 10000, err, sizeof err)) {
        fprintf(stderr, "bench_ingest: %s\n", err);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        ts_store_close(store, "failed", 0);
        return -ESRCH;
    }
    s.store = store;
    int64_t t0 = bench_now_ns();
    double cpu0_thread = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    double cpu0_process = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
    memset(r, 0, sizeof *r);
    int gone = 0;
    for (int second = 0; !gone; second++) {
        gone = ts_session_run(&s, NULL, 1000);
        long rss = bench_rss_bytes() / 1024;
        if (second == 0)
            r->rss_start = rss;
        r->rss_end = rss;
        if (rss > r->rss_max)
            r->rss_max = rss;
        if (second % 10 == 9)
            progress(&s, second + 1, rss);
    }
    int rc = ts_store_flush(store);
    r->seconds = (double)(bench_now_ns() - t0) / 1e9;
    /* Where the CPU went: this thread reads (rings, model, copies); the
     * store's writer thread inserts; nothing else runs in this process. */
    double reader = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0_thread;
    double all = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0_process;
    fprintf(stderr, "ingest: CPU over %.1f s: reader %.1f s, writer %.1f s\n", r->seconds,
            reader, all - reader);
    r->cpu = all;
    r->rows = ts_store_rows(store);
    r->dropped = tm_model_dropped(s.model);
    int status;
    waitpid(child, &status, 0);
    int64_t c0 = bench_now_ns();
    if (ts_store_close(store, "complete", r->dropped) || rc) {
        fprintf(stderr, "bench_ingest: writing %s failed\n", path);
        rc = -EIO;
    }
    /* not part of the figure: closing builds the indexes, after the run */
    fprintf(stderr, "ingest: closing the recording (indexes) took %.1f s\n",
            (double)(bench_now_ns() - c0) / 1e9);
    ts_session_close(&s);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_ingest: ingest_flood failed (status %#x)\n", status);
        rc = -ECHILD;
    }
    return rc;
}

/* ---- the anchor: the same rows, raw prepared inserts ----------------------- */

/* Rows read back from the recording, each as its table, its column values
 * (integers) and, for the last column of string and stack rows, its text
 * or blob: packed one after another in one buffer. */
typedef struct arow {
    uint64_t seq;
    uint32_t table;
    uint32_t ncols;      /* integer columns, then the tail if tail_type */
    uint32_t tail_type;  /* 0 none, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL */
    uint32_t tail_len;
} arow;

typedef struct rowset {
    char *buf;
    size_t used, cap;
    size_t *offs;        /* offsets of the rows in buf */
    size_t n, offs_cap;
    char **tables;       /* names and CREATE statements */
    char **ddl;
    size_t ntables;
} rowset;

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

static int add_row(rowset *rs, sqlite3_stmt *st, uint32_t table) {
    int cols = sqlite3_column_count(st);
    int last = sqlite3_column_type(st, cols - 1);
    int tail = last == SQLITE_TEXT || last == SQLITE_BLOB ? last : 0;
    uint32_t ncols = (uint32_t)(tail ? cols - 1 : cols);
    uint32_t tlen = tail ? (uint32_t)sqlite3_column_bytes(st, cols - 1) : 0;
    size_t need = sizeof(arow) + ncols * 8 + ((tlen + 7) & ~7u);
    char *b = grow(rs->buf, &rs->cap, rs->used + need, 1);
    size_t *o = grow(rs->offs, &rs->offs_cap, rs->n + 1, sizeof *o);
    if (!b || !o)
        return -ENOMEM;
    rs->buf = b;
    rs->offs = o;
    arow *r = (arow *)(b + rs->used);
    *r = (arow){(uint64_t)sqlite3_column_int64(st, 0), table, ncols, (uint32_t)tail, tlen};
    int64_t *v = (int64_t *)(r + 1);
    for (uint32_t c = 0; c < ncols; c++)
        v[c] = sqlite3_column_int64(st, (int)c);
    if (tlen)
        memcpy(v + ncols, tail == SQLITE_TEXT ? (const void *)sqlite3_column_text(st, cols - 1)
                                              : sqlite3_column_blob(st, cols - 1), tlen);
    rs->offs[rs->n++] = rs->used;
    rs->used += need;
    return 0;
}

static const rowset *sort_rows;
static int by_seq(const void *a, const void *b) {
    const arow *x = (const arow *)(sort_rows->buf + *(const size_t *)a);
    const arow *y = (const arow *)(sort_rows->buf + *(const size_t *)b);
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The first `limit` rows of every ev_ table, in seq order. */
static int read_rows(const char *path, uint64_t limit, rowset *rs) {
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_stmt *t;
    int rc = sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                                    "AND name LIKE 'ev\\_%' ESCAPE '\\'", -1, &t, NULL);
    while (rc == SQLITE_OK && sqlite3_step(t) == SQLITE_ROW) {
        char **names = realloc(rs->tables, (rs->ntables + 1) * sizeof(char *));
        char **ddl = names ? realloc(rs->ddl, (rs->ntables + 1) * sizeof(char *)) : NULL;
        if (names)
            rs->tables = names;
        if (ddl)
            rs->ddl = ddl;
        if (!names || !ddl) {
            rc = SQLITE_NOMEM;
            break;
        }
        rs->tables[rs->ntables] = strdup((const char *)sqlite3_column_text(t, 0));
        rs->ddl[rs->ntables++] = strdup((const char *)sqlite3_column_text(t, 1));
    }
    sqlite3_finalize(t);
    for (size_t i = 0; i < rs->ntables && rc == SQLITE_OK; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE seq <= ?", rs->tables[i]);
        sqlite3_stmt *st;
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
            break;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (add_row(rs, st, (uint32_t)i))
                rc = SQLITE_NOMEM;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    sort_rows = rs;
    qsort(rs->offs, rs->n, sizeof *rs->offs, by_seq);
    return rc == SQLITE_OK ? 0 : -EIO;
}

static int exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* Bind row r's values to st from parameter `at` on; returns the next one. */
static int bind_arow(sqlite3_stmt *st, int at, const arow *r) {
    const int64_t *v = (const int64_t *)(r + 1);
    for (uint32_t c = 0; c < r->ncols; c++)
        sqlite3_bind_int64(st, at++, v[c]);
    if (r->tail_type == SQLITE_TEXT)
        sqlite3_bind_text(st, at++, (const char *)(v + r->ncols), (int)r->tail_len, SQLITE_STATIC);
    else if (r->tail_type == SQLITE_BLOB)
        sqlite3_bind_blob(st, at++, v + r->ncols, (int)r->tail_len, SQLITE_STATIC);
    return at;
}

/* "INSERT INTO table VALUES(?,...)" with `rows` row groups of cols values. */
static sqlite3_stmt *prepare_insert(sqlite3 *db, const char *table, int cols, int rows) {
    size_t cap = 64 + strlen(table) + (size_t)rows * (size_t)(2 * cols + 3);
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "INSERT INTO %s VALUES", table);
    for (int r = 0; r < rows; r++) {
        len += (size_t)snprintf(sql + len, cap - len, r ? ",(?" : "(?");
        for (int c = 1; c < cols; c++)
            len += (size_t)snprintf(sql + len, cap - len, ",?");
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        st = NULL;
    free(sql);
    return st;
}

/* The second anchor: each transaction's rows grouped by table (in seq
 * order within it) and inserted MULTI_ROWS per statement, the rest one by
 * one; what the store's writer does (tracer/store.c).  order receives the
 * batch's rows, grouped. */
static int insert_batch_multi(const rowset *rs, size_t k0, size_t k1, sqlite3_stmt **one,
                              sqlite3_stmt **multi, size_t *order, size_t *count) {
    memset(count, 0, (rs->ntables + 1) * sizeof *count);
    for (size_t k = k0; k < k1; k++)
        count[((const arow *)(rs->buf + rs->offs[k]))->table + 1]++;
    for (size_t i = 1; i <= rs->ntables; i++)
        count[i] += count[i - 1];
    for (size_t k = k0; k < k1; k++)
        order[count[((const arow *)(rs->buf + rs->offs[k]))->table]++] = k;
    /* count[i] is now the end of table i's rows in order[] */
    for (size_t i = 0, k = 0; i < rs->ntables; i++) {
        for (; multi[i] && count[i] - k >= MULTI_ROWS; k += MULTI_ROWS) {
            int at = 1;
            for (size_t j = k; j < k + MULTI_ROWS; j++)
                at = bind_arow(multi[i], at, (const arow *)(rs->buf + rs->offs[order[j]]));
            int rc = sqlite3_step(multi[i]);
            sqlite3_reset(multi[i]);
            if (rc != SQLITE_DONE)
                return -EIO;
        }
        for (; k < count[i]; k++) {
            const arow *r = (const arow *)(rs->buf + rs->offs[order[k]]);
            bind_arow(one[r->table], 1, r);
            int rc = sqlite3_step(one[r->table]);
            sqlite3_reset(one[r->table]);
            if (rc != SQLITE_DONE)
                return -EIO;
        }
    }
    return 0;
}

/* Insert every row of rs into a fresh database; returns rows per second
 * and, in *per_cpu, rows per CPU second.  multi = 0: the anchor, one
 * prepared single-row INSERT per row, in seq order; multi = 1: the
 * multi-row variant above. */
static double raw_inserts(const char *path, const rowset *rs, int multi, double *per_cpu) {
    sqlite3 *db;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"))
        return -EIO;
    sqlite3_stmt **ins = calloc(rs->ntables, sizeof *ins);
    sqlite3_stmt **ins_multi = calloc(rs->ntables, sizeof *ins_multi);
    size_t *order = malloc(ANCHOR_BATCH * sizeof *order);
    size_t *count = malloc((rs->ntables + 1) * sizeof *count);
    int rc = ins && ins_multi && order && count ? 0 : -ENOMEM;
    for (size_t i = 0; i < rs->ntables && !rc; i++) {
        rc = exec(db, rs->ddl[i]);
        int cols = 0;
        for (size_t k = 0; k < rs->n; k++) { /* the table's width, from a row */
            const arow *r = (const arow *)(rs->buf + rs->offs[k]);
            if (r->table == i) {
                cols = (int)r->ncols + (r->tail_type != 0);
                break;
            }
        }
        if (!rc && cols && !(ins[i] = prepare_insert(db, rs->tables[i], cols, 1)))
            rc = -EIO;
        if (!rc && cols && multi && !(ins_multi[i] = prepare_insert(db, rs->tables[i], cols,
                                                                    MULTI_ROWS)))
            rc = -EIO;
    }
    int64_t t0 = bench_now_ns();
    double cpu0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (size_t k = 0; k < rs->n && !rc; k += ANCHOR_BATCH) {
        size_t end = k + ANCHOR_BATCH < rs->n ? k + ANCHOR_BATCH : rs->n;
        if (exec(db, "BEGIN"))
            rc = -EIO;
        if (!rc && multi)
            rc = insert_batch_multi(rs, k, end, ins, ins_multi, order, count);
        for (size_t j = k; j < end && !rc && !multi; j++) {
            const arow *r = (const arow *)(rs->buf + rs->offs[j]);
            sqlite3_stmt *st = ins[r->table];
            bind_arow(st, 1, r);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = -EIO;
            sqlite3_reset(st);
        }
        if (!rc && exec(db, "COMMIT"))
            rc = -EIO;
    }
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    *per_cpu = (double)rs->n / (cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - cpu0);
    for (size_t i = 0; ins && ins_multi && i < rs->ntables; i++) {
        sqlite3_finalize(ins[i]);
        sqlite3_finalize(ins_multi[i]);
    }
    free(ins);
    free(ins_multi);
    free(order);
    free(count);
    sqlite3_close(db);
    return rc ? rc : (double)rs->n / secs;
}

static void free_rows(rowset *rs) {
    for (size_t i = 0; i < rs->ntables; i++) {
        free(rs->tables[i]);
        free(rs->ddl[i]);
    }
    free(rs->tables);
    free(rs->ddl);
    free(rs->buf);
    free(rs->offs);
}

static void remove_db(const char *path) {
    char p[4200];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    /* --seconds S (ours; the rest is bench_parse's) */
    double seconds = 0;
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else
            argv[kept++] = argv[i];
    }
    bench_opts o;
    if (bench_parse(kept, argv, &o))
        return 2;
    if (!(seconds > 0))
        seconds = o.mode == BENCH_QUICK ? 10 : o.mode == BENCH_FULL ? 600 : 60;
    const char *tmp = bench_tmpdir();
    char rec[4096], raw[4096];
    snprintf(rec, sizeof rec, "%s/bench-ingest-%d.db", tmp, (int)getpid());
    snprintf(raw, sizeof raw, "%s/bench-ingest-raw-%d.db", tmp, (int)getpid());

    fprintf(stderr, "ingest: recording ingest_flood for %g s to %s\n", seconds, rec);
    run_result r;
    int rc = record_flood(rec, seconds, &r);
    if (rc) {
        bench_emit_error("ingest", "taskscope", "events/s", 1, "the recording failed");
        remove_db(rec);
        return 1;
    }
    char stat[160];
    snprintf(stat, sizeof stat, "%llu rows in %.1f s; %llu events dropped by the rings",
             (unsigned long long)r.rows, r.seconds, (unsigned long long)r.dropped);
    fprintf(stderr, "ingest: %s; RSS %ld KiB after 1 s, %ld KiB at the end, %ld KiB max\n",
            stat, r.rss_start, r.rss_end, r.rss_max);
    bench_emit("ingest", "taskscope", (double)r.rows / r.seconds, "events/s", 1, stat);
    bench_emit("ingest_cpu", "taskscope", (double)r.rows / r.cpu, "events/cpu-s", 1,
               "reader and writer threads");
    bench_emit("ingest_rss_start", "taskscope", (double)r.rss_start, "KiB", 0, "after 1 s");
    bench_emit("ingest_rss_end", "taskscope", (double)r.rss_end, "KiB", 0, stat);

    rowset rs = {0};
    int have_rows = read_rows(rec, ANCHOR_ROWS, &rs) == 0 && rs.n > 0;
    static const struct {
        const char *source;
        int multi;
    } anchors[] = {{"sqlite-prepared-inserts", 0}, {"sqlite-multirow-inserts", 1}};
    for (size_t a = 0; a < sizeof anchors / sizeof anchors[0]; a++) {
        double v = -1, per_cpu = 0;
        if (have_rows)
            v = raw_inserts(raw, &rs, anchors[a].multi, &per_cpu);
        if (anchors[a].multi)
            snprintf(stat, sizeof stat, "%zu rows, %d-row transactions, %d rows per INSERT",
                     rs.n, ANCHOR_BATCH, MULTI_ROWS);
        else
            snprintf(stat, sizeof stat, "%zu rows, %d-row transactions", rs.n, ANCHOR_BATCH);
        if (v > 0) {
            bench_emit("ingest", anchors[a].source, v, "events/s", 1, stat);
            bench_emit("ingest_cpu", anchors[a].source, per_cpu, "events/cpu-s", 1, stat);
        } else {
            const char *why = rs.n ? "the inserts failed" : "cannot read the recording back";
            bench_emit_error("ingest", anchors[a].source, "events/s", 1, why);
            bench_emit_error("ingest_cpu", anchors[a].source, "events/cpu-s", 1, why);
        }
    }
    free_rows(&rs);
    remove_db(rec);
    remove_db(raw);
    return 0;
}
