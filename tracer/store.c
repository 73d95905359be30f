/*
 * store.c - see store.h.
 *
 * Threads: the caller (the ring reader) fills chunks; the writer thread
 * turns each full chunk (or one COMMIT_NS old, on the next event) into one
 * transaction.  In it, rows are numbered in chunk order (seq, the global
 * order), then grouped by table and inserted MULTI_ROWS per statement
 * (INSERT ... VALUES (...),(...),...): one step, reset and VDBE start per
 * 32 rows instead of per row costs the writer about a third less per row.
 * Nothing reads a table's rows except by seq, so the order in which the
 * tables of one transaction are filled does not show.  Chunks
 * move between the two through a queue under one mutex; at most
 * MAX_CHUNKS exist, which bounds memory whatever the event rate.  The
 * connection is opened without SQLite's own per-call mutex (it costs the
 * writer ~10%); db_lock makes the writer's transactions and the caller's
 * session facts take turns instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "../schemas/store_ddl.h"
#include "reader.h"
#include "safe_io.h"
#include "snapshot.h"
#include "store.h"
#include "syscalls.h"
#include "why_steps.h"

#define CHUNK_BYTES (1u << 20)
#define COMMIT_NS 200000000ull  /* the longest a chunk's events wait for the writer */
#define MAX_CHUNKS 32

struct entry {            /* precedes each record in a chunk */
    uint64_t ns;
    uint32_t tid;
    uint32_t size;
    uint32_t pid;         /* the process it came from (store_ddl.h, "Processes") */
    uint32_t pad;         /* the record that follows stays 8-aligned */
};

struct chunk {
    struct chunk *next;
    size_t used;
    char data[CHUNK_BYTES];
};

/* Rows inserted per multi-row statement (a shorter tail goes one by one). */
#define MULTI_ROWS 32
/* The most entries a chunk can hold: each is at least an entry and a header. */
#define CHUNK_MAX_ROWS (CHUNK_BYTES / (sizeof(struct entry) + sizeof(ts_ev_header)))

struct pick {             /* one row of the chunk being written */
    uint32_t off;         /* its entry in the chunk */
    uint64_t seq;
};

struct ts_store {
    sqlite3 *db;
    sqlite3_stmt *ins[TS_EV_MAX_ID + 1];
    sqlite3_stmt *ins_multi[TS_EV_MAX_ID + 1];
    struct pick picks[CHUNK_MAX_ROWS];      /* the writer's, per chunk */
    pthread_t writer;
    pthread_mutex_t lock;
    pthread_mutex_t db_lock;                /* the connection, after creation */
    pthread_cond_t cond;
    struct chunk *queue_head, *queue_tail; /* full, to write */
    struct chunk *free_list;
    struct chunk *cur;                      /* being filled by the caller */
    uint64_t cur_started_ns;
    int nchunks;
    int writing;                            /* writer holds a chunk */
    int stop;
    uint64_t seq;
    uint64_t rows;
    int lock_fd;                            /* flock'd while recording */
    char error[256];
    char kept[PATH_MAX + 32];               /* where an earlier recording went, or "" */
    char path[PATH_MAX];
    int created;                            /* path is ours (not an empty file reused) */
    uint32_t pid;                           /* of events given without one: the "pid" fact */
};

static uint64_t coarse_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The views, the warning table and the lookup tables: one definition,
 * in schemas/store_ddl.h. */
static const char VIEWS[] =
    TS_DDL_PROCESS_TABLE TS_DDL_WARNING_TABLE TS_DDL_LOOKUP_TABLES TS_DDL_VIEWS;

/* The indexes of the small tables exist from the start; those of the
 * busy event tables are built at close, in one pass over the rows: kept
 * up to date insert by insert they cost the writer about as much as the
 * inserts themselves.  (A recording cut short has no event indexes: it
 * reads the same, some views just scan.) */
static const char SMALL_INDEXES[] =
    "CREATE INDEX IF NOT EXISTS ev_string_id ON ev_string(id);\n"
    "CREATE INDEX IF NOT EXISTS ev_site_id ON ev_site(id);\n";

/* WAL, so that readers (the TUI, the sqlite3 shell) see every commit
 * while the recording goes on, and synchronous=NORMAL, so that a commit
 * survives the tracer being killed (not a power cut) without an fsync per
 * transaction.  Checkpoints do fsync: one per 40 MB of WAL (2,500 pages)
 * instead of SQLite's 4 MB (1,000 4 KiB pages) leaves the writer blocked
 * in fsync a tenth as often (ingest +15-25% end to end); the WAL file
 * stays about that size.  16 KiB pages: ~8% less writer CPU per row than
 * 4 KiB (fewer page splits and WAL frames); 32 and 64 KiB cost more. */
static const char SETTINGS[] = "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; "
                               "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=2500;";

static const char INDEXES[] =
    "CREATE INDEX IF NOT EXISTS ev_task_create_task ON ev_task_create(task);\n"
    "CREATE INDEX IF NOT EXISTS ev_task_done_task ON ev_task_done(task);\n"
    "CREATE INDEX IF NOT EXISTS ev_task_wake_task ON ev_task_wake(task, seq);\n"
    "CREATE INDEX IF NOT EXISTS ev_task_suspend_task ON ev_task_suspend(task, seq);\n"
    "CREATE INDEX IF NOT EXISTS ev_loop_unblocked_step ON ev_loop_unblocked(loop, step);\n"
    /* taskscope why (issue 19): a task's steps, a lock's holders.  The
     * steps' index is partial (task > 0, every task) so that count(*)
     * still reads the table itself, where damage shows, not the index. */
    "CREATE INDEX IF NOT EXISTS ev_task_resume_task ON ev_task_resume(task, seq) WHERE task > 0;\n"
    "CREATE INDEX IF NOT EXISTS ev_resource_acquired_res ON ev_resource_acquired(resource, seq);\n"
    "CREATE INDEX IF NOT EXISTS ev_resource_release_res ON ev_resource_release(resource, seq);\n";

static int exec(ts_store *s, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK && !s->error[0])
        snprintf(s->error, sizeof s->error, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : -EIO;
}

/* Every event type events.def defines, in id order. */
static size_t all_descs(const ts_event_desc **out, size_t cap) {
    size_t n = 0;
    for (unsigned id = 1; id <= TS_EV_MAX_ID && n < cap; id++) {
        const ts_event_desc *d = ts_event_desc_of(id);
        if (d)
            out[n++] = d;
    }
    return n;
}

static int64_t field_get(const void *rec, const ts_field_desc *f) {
    const char *p = (const char *)rec + f->offset;
    switch (f->type) {
    case TS_FT_U64: { uint64_t v; memcpy(&v, p, 8); return (int64_t)v; }
    case TS_FT_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case TS_FT_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case TS_FT_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    default: return 0;
    }
}

static int step_ok(ts_store *s, sqlite3_stmt *st);

/* The syscall table, from the kernel's list this build was made with. */
static int fill_syscalls(ts_store *s) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO syscall VALUES(?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        return -EIO;
    int err = exec(s, "BEGIN");
    for (int i = 0; i < ts_syscall_count() && !err; i++) {
        int nr;
        const char *name;
        ts_syscall_at(i, &nr, &name);
        sqlite3_bind_int(st, 1, nr);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        err = step_ok(s, st);
    }
    sqlite3_finalize(st);
    return exec(s, err ? "ROLLBACK" : "COMMIT") || err ? -EIO : 0;
}

static int create_schema(ts_store *s) {
    const ts_event_desc *dp[TS_EV_MAX_ID + 1];
    size_t n = all_descs(dp, TS_EV_MAX_ID + 1);
    char sql[2048];
    for (size_t i = 0; i < n; i++) {
        const ts_event_desc *d = dp[i];
        size_t len = (size_t)snprintf(sql, sizeof sql,
                                      "CREATE TABLE IF NOT EXISTS ev_%s(seq INTEGER PRIMARY KEY, "
                                      "ns INTEGER NOT NULL, thread INTEGER NOT NULL",
                                      d->name);
        for (int f = 0; f < d->nfields; f++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ", %s INTEGER", d->fields[f].name);
        if (d->tail)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ", %s %s", d->tail->name,
                                    d->tail->type == TS_FT_BYTES ? "TEXT" : "BLOB");
        /* Last, so that every other column keeps its place (replay reads
         * them by position, in old recordings too). */
        snprintf(sql + len, sizeof sql - len, ", pid INTEGER NOT NULL DEFAULT 0);");
        if (exec(s, sql))
            return -EIO;
        len = (size_t)snprintf(sql, sizeof sql, "INSERT INTO ev_%s VALUES(?,?,?", d->name);
        for (int f = 0; f < d->nfields + (d->tail != NULL) + 1; f++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ",?");
        snprintf(sql + len, sizeof sql - len, ")");
        if (sqlite3_prepare_v2(s->db, sql, -1, &s->ins[d->id], NULL) != SQLITE_OK) {
            snprintf(s->error, sizeof s->error, "%s", sqlite3_errmsg(s->db));
            return -EIO;
        }
    }
    if (exec(s, "CREATE TABLE IF NOT EXISTS session(key TEXT PRIMARY KEY, value TEXT);") ||
        exec(s, VIEWS) || exec(s, SMALL_INDEXES) || fill_syscalls(s))
        return -EIO;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", TS_STORE_VERSION);
    return exec(s, sql);
}

/* Bind one row's values from parameter `at` on; returns the next one. */
static int bind_row(sqlite3_stmt *st, int at, uint64_t seq, const struct entry *e,
                    const ts_event_desc *d) {
    const ts_ev_header *rec = (const ts_ev_header *)(e + 1);
    sqlite3_bind_int64(st, at++, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, at++, (sqlite3_int64)e->ns);
    sqlite3_bind_int64(st, at++, e->tid);
    for (int f = 0; f < d->nfields; f++)
        sqlite3_bind_int64(st, at++, field_get(rec, &d->fields[f]));
    if (d->tail) {
        const char *tail = (const char *)rec + d->size;
        size_t room = rec->size - d->size;
        uint64_t bytes = ts_event_tail_bytes(d, rec);
        if (d->tail->type == TS_FT_BYTES)
            sqlite3_bind_text(st, at++, tail, (int)(bytes <= room ? bytes : room), SQLITE_STATIC);
        else
            sqlite3_bind_blob(st, at++, tail, (int)(bytes <= room ? bytes : room), SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, at++, e->pid);
    return at;
}

static int step_ok(ts_store *s, sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (!s->error[0])
        snprintf(s->error, sizeof s->error, "writing the recording failed: %s%s",
                 sqlite3_errmsg(s->db),
                 rc == SQLITE_FULL ? " (disk full: what was committed before stays valid)" : "");
    return -EIO;
}

/* The statement inserting MULTI_ROWS rows of d at once, prepared on first
 * use (most event types never need one). */
static sqlite3_stmt *multi_insert(ts_store *s, const ts_event_desc *d) {
    if (s->ins_multi[d->id])
        return s->ins_multi[d->id];
    int cols = 3 + d->nfields + (d->tail != NULL) + 1; /* + pid */
    size_t cap = 64 + strlen(d->name) + (size_t)MULTI_ROWS * (size_t)(2 * cols + 3);
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    size_t len = (size_t)snprintf(sql, cap, "INSERT INTO ev_%s VALUES", d->name);
    for (int r = 0; r < MULTI_ROWS; r++) {
        len += (size_t)snprintf(sql + len, cap - len, r ? ",(?" : "(?");
        for (int c = 1; c < cols; c++)
            len += (size_t)snprintf(sql + len, cap - len, ",?");
        len += (size_t)snprintf(sql + len, cap - len, ")");
    }
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->ins_multi[d->id], NULL) !=
        SQLITE_OK)
        s->ins_multi[d->id] = NULL;
    free(sql);
    return s->ins_multi[d->id];
}

/* Insert the n rows picked for type d: MULTI_ROWS per statement, the rest
 * one by one.  Returns 0 or -EIO. */
static int insert_rows(ts_store *s, const ts_event_desc *d, const struct chunk *c,
                       const struct pick *p, size_t n) {
    sqlite3_stmt *multi = n >= MULTI_ROWS ? multi_insert(s, d) : NULL;
    size_t i = 0;
    for (; multi && n - i >= MULTI_ROWS; i += MULTI_ROWS) {
        int at = 1;
        for (size_t k = i; k < i + MULTI_ROWS; k++)
            at = bind_row(multi, at, p[k].seq, (const struct entry *)(c->data + p[k].off), d);
        if (step_ok(s, multi))
            return -EIO;
    }
    for (; i < n; i++) {
        bind_row(s->ins[d->id], 1, p[i].seq, (const struct entry *)(c->data + p[i].off), d);
        if (step_ok(s, s->ins[d->id]))
            return -EIO;
    }
    return 0;
}

/* One chunk, one transaction.  Rows are numbered (seq) in chunk order,
 * then grouped by table, so that each table's rows go in as multi-row
 * inserts, still in seq order within the table. */
static void write_chunk(ts_store *s, struct chunk *c) {
    if (s->error[0])
        return; /* after a write error (disk full) nothing more is tried */
    uint32_t count[TS_EV_MAX_ID + 1] = {0}, at[TS_EV_MAX_ID + 1];
    for (size_t off = 0; off + sizeof(struct entry) <= c->used;) {
        const struct entry *e = (const void *)(c->data + off);
        uint16_t type = ((const ts_ev_header *)(e + 1))->type;
        if (type <= TS_EV_MAX_ID && s->ins[type])
            count[type]++;
        off += sizeof *e + e->size;
    }
    uint32_t total = 0;
    for (unsigned t = 0; t <= TS_EV_MAX_ID; t++) {
        at[t] = total;
        total += count[t];
    }
    uint64_t seq = s->seq;
    for (size_t off = 0; off + sizeof(struct entry) <= c->used;) {
        const struct entry *e = (const void *)(c->data + off);
        uint16_t type = ((const ts_ev_header *)(e + 1))->type;
        if (type <= TS_EV_MAX_ID && s->ins[type]) {
            seq++;
            s->picks[at[type]++] = (struct pick){.off = (uint32_t)off, .seq = seq};
        }
        off += sizeof *e + e->size;
    }
    s->seq = seq;
    exec(s, "BEGIN");
    int err = 0;
    for (unsigned t = 0, first = 0; t <= TS_EV_MAX_ID && !err; first += count[t], t++)
        if (count[t])
            err = insert_rows(s, ts_event_desc_of(t), c, s->picks + first, count[t]);
    if (err || exec(s, "COMMIT") != 0)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    else
        s->rows += total; /* "events" in the session table: rows that are there */
}

static void *writer_main(void *arg) {
    ts_store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->queue_head && !s->stop)
            pthread_cond_wait(&s->cond, &s->lock);
        struct chunk *c = s->queue_head;
        if (!c)
            break; /* stop, and nothing left */
        s->queue_head = c->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        s->writing = 1;
        pthread_mutex_unlock(&s->lock);
        pthread_mutex_lock(&s->db_lock);
        write_chunk(s, c);
        pthread_mutex_unlock(&s->db_lock);
        pthread_mutex_lock(&s->lock);
        s->writing = 0;
        c->used = 0;
        c->next = s->free_list;
        s->free_list = c;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static int default_flags;

void ts_store_set_default_flags(int flags) { default_flags = flags; }
/* While a recording is written its writer holds an exclusive flock on
 * it, released when the process closes it or dies: a reader that finds
 * the status still "recording" tells "in progress" (lock held) from "cut
 * short" (nobody holds it) with flock(LOCK_SH | LOCK_NB).  flock locks
 * are separate from the POSIX locks SQLite takes, so neither disturbs
 * the other. */
static void hold_writer_lock(ts_store *s, const char *path) {
    s->lock_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(s->lock_fd);
        s->lock_fd = -1;
    }
}

int ts_store_create(const char *path, ts_store **out, char *err, size_t errlen) {
    return ts_store_create_ex(path, default_flags, out, err, errlen);
}

/* Make path ready for a new recording without harming what is there: an
 * earlier recording is kept as path.old (or replaced, with
 * TS_STORE_REPLACE), anything else is refused; then the file is created
 * exclusively, so nothing that appeared meanwhile is taken over.  An
 * empty regular file (mkstemp's) is used as it is. */
static int claim_path(const char *path, int flags, char *kept, size_t keptlen, int *created,
                      char *err, size_t errlen) {
    char what[PATH_MAX + 128];
    switch (ts_output_state(path, what, sizeof what)) {
    case TS_OUT_FREE:
        break;
    case TS_OUT_RECORDING: {
        int rc = flags & TS_STORE_REPLACE ? ts_remove_recording(path, err, errlen)
                                          : ts_set_aside(path, kept, keptlen, err, errlen);
        if (rc)
            return rc;
        break;
    }
    case TS_OUT_NOT_FILE:
        snprintf(err, errlen, "%s: not writing a recording there", what);
        return -EISDIR;
    case TS_OUT_OTHER:
        snprintf(err, errlen, "%s: not overwriting it (choose another -o FILE)", what);
        return -EEXIST;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    *created = fd >= 0;
    if (fd < 0 && errno == EEXIST) {
        struct stat st;
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 0)) {
            close(fd);
            snprintf(err, errlen, "%s appeared while taskscope was starting: not overwriting it",
                     path);
            return -EEXIST;
        }
    }
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(e));
        return -e;
    }
    close(fd);
    return 0;
}

/* A creation that failed after claim_path: remove what we created, put
 * back what we set aside. */
static int undo_claim(ts_store *s, int created, int rc) {
    char ignored[256];
    for (int i = 0; i <= TS_EV_MAX_ID; i++)
        sqlite3_finalize(s->ins[i]);
    sqlite3_close(s->db);
    if (created)
        ts_remove_recording(s->path, ignored, sizeof ignored);
    if (s->kept[0])
        ts_restore_aside(s->kept, s->path);
    free(s);
    return rc;
}

/* Exports that speak wall-clock time (OTLP) need CLOCK_REALTIME minus
 * CLOCK_MONOTONIC (events are stamped on the latter), and a fleet's
 * exports the host: both written once, when the recording starts. */
static void record_clock_and_host(ts_store *s) {
    struct timespec rt, mono;
    char buf[256];
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    long long off = ((long long)rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
    snprintf(buf, sizeof buf, "%lld", off);
    ts_store_meta(s, "clock_offset_ns", buf);
    if (gethostname(buf, sizeof buf - 1) == 0) {
        buf[sizeof buf - 1] = 0;
        ts_store_meta(s, "host", buf);
    }
}

int ts_store_create_ex(const char *path, int flags, ts_store **out, char *err, size_t errlen) {
    ts_store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path) {
        snprintf(err, errlen, "%s: path too long", path);
        free(s);
        return -ENAMETOOLONG;
    }
    int created = 0;
    int rc = claim_path(path, flags, s->kept, sizeof s->kept, &created, err, errlen);
    if (rc) {
        free(s);
        return rc;
    }
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "?");
        return undo_claim(s, created, -EIO);
    }
    if (exec(s, SETTINGS) || create_schema(s)) {
        snprintf(err, errlen, "cannot initialise %s: %s", path, s->error);
        return undo_claim(s, created, -EIO);
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->db_lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->db_lock);
        pthread_cond_destroy(&s->cond);
        return undo_claim(s, created, -EAGAIN);
    }
    ts_store_meta(s, "schema_version", "1");
    char ddl[16];
    snprintf(ddl, sizeof ddl, "%d", TS_STORE_DDL_VERSION);
    ts_store_meta(s, "ddl_version", ddl);
    ts_store_meta(s, "status", "recording");
    record_clock_and_host(s);
    s->created = created;
    hold_writer_lock(s, path);
    *out = s;
    return 0;
}

/* One statement with text/integer parameters (NULL text, or an integer
 * below 0, binds NULL), under db_lock.  0 or -EIO. */
static int exec_bound(ts_store *s, const char *sql, const char *t1, const char *t2,
                      int64_t i1, int64_t i2, int64_t i3) {
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->db_lock);
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        int n = sqlite3_bind_parameter_count(st);
        const char *texts[] = {t1, t2};
        int64_t ints[] = {i1, i2, i3};
        /* ?1 ?2 are the texts, ?3 ?4 ?5 the integers */
        for (int i = 1; i <= n && i <= 5; i++) {
            if (i <= 2 && texts[i - 1])
                sqlite3_bind_text(st, i, texts[i - 1], -1, SQLITE_TRANSIENT);
            else if (i > 2 && ints[i - 3] >= 0)
                sqlite3_bind_int64(st, i, ints[i - 3]);
        }
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return rc == SQLITE_OK ? 0 : -EIO;
}

int ts_store_process(ts_store *s, int pid, int parent, const char *exe) {
    return exec_bound(s, "INSERT INTO process(pid, parent, exe, status) VALUES(?3, ?4, ?1, "
                         "'recording') ON CONFLICT(pid) DO UPDATE SET "
                         "parent = ifnull(excluded.parent, parent), exe = ifnull(excluded.exe, exe)",
                      exe, NULL, pid, parent > 0 ? parent : -1, -1);
}

int ts_store_process_end(ts_store *s, int pid, const char *status, uint64_t dropped,
                         uint64_t events) {
    return exec_bound(s, "UPDATE process SET status = ?1, dropped = ?4, events = ?5 WHERE pid = ?3",
                      status, NULL, pid, (int64_t)dropped, (int64_t)events);
}

int ts_store_meta(ts_store *s, const char *key, const char *value) {
    sqlite3_stmt *st;
    if (!strcmp(key, "pid") && value) { /* the traced process: see store.h */
        long pid = strtol(value, NULL, 10);
        if (pid > 0 && pid <= INT32_MAX) {
            s->pid = (uint32_t)pid;
            ts_store_process(s, (int)pid, 0, NULL);
        }
    } else if (!strcmp(key, "exe") && value && s->pid)
        ts_store_process(s, (int)s->pid, 0, value);
    pthread_mutex_lock(&s->db_lock);
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO session VALUES(?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return rc == SQLITE_OK ? 0 : -EIO;
}

/* Hand the current chunk to the writer.  Called with the lock held. */
static void push_current(ts_store *s) {
    if (!s->cur || !s->cur->used)
        return;
    s->cur->next = NULL;
    if (s->queue_tail)
        s->queue_tail->next = s->cur;
    else
        s->queue_head = s->cur;
    s->queue_tail = s->cur;
    s->cur = NULL;
    pthread_cond_broadcast(&s->cond);
}

/* A fresh chunk for the caller, waiting for the writer if MAX_CHUNKS are
 * in flight.  Called with the lock held. */
static int take_chunk(ts_store *s) {
    while (!s->free_list && s->nchunks >= MAX_CHUNKS)
        pthread_cond_wait(&s->cond, &s->lock);
    if (s->free_list) {
        s->cur = s->free_list;
        s->free_list = s->cur->next;
    } else {
        s->cur = malloc(sizeof *s->cur);
        if (!s->cur)
            return -ENOMEM;
        s->nchunks++;
    }
    s->cur->used = 0;
    s->cur_started_ns = coarse_ns();
    return 0;
}

int ts_store_event(ts_store *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid) {
    return ts_store_event_pid(s, rec, ns, tid, s->pid);
}

int ts_store_event_pid(ts_store *s, const ts_ev_header *rec, uint64_t ns, uint32_t tid,
                       uint32_t pid) {
    size_t need = sizeof(struct entry) + rec->size;
    /* A chunk is handed over when full, or once it is COMMIT_NS old.  The
     * coarse clock (~7 ns here) rather than CLOCK_MONOTONIC (~37 ns, a
     * tenth of the reader thread's time); its few ms of resolution do not
     * matter at 200 ms.  (Not the events' own timestamps: a first event
     * stamped before the reader had the clock calibration would hold a
     * quiet program's chunk back until it filled.) */
    if (!s->cur || s->cur->used + need > CHUNK_BYTES ||
        (s->cur->used && coarse_ns() - s->cur_started_ns > COMMIT_NS)) {
        pthread_mutex_lock(&s->lock);
        push_current(s);
        int err = take_chunk(s);
        pthread_mutex_unlock(&s->lock);
        if (err)
            return err;
    }
    struct entry *e = (struct entry *)(s->cur->data + s->cur->used);
    e->ns = ns;
    e->tid = tid;
    e->size = rec->size;
    e->pid = pid;
    e->pad = 0;
    memcpy(e + 1, rec, rec->size);
    s->cur->used += need;
    return 0;
}

void ts_store_hand_over(ts_store *s) {
    pthread_mutex_lock(&s->lock);
    push_current(s);
    pthread_mutex_unlock(&s->lock);
}

int ts_store_flush(ts_store *s) {
    pthread_mutex_lock(&s->lock);
    push_current(s);
    while (s->queue_head || s->writing)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return s->error[0] ? -EIO : 0;
}

int ts_store_close(ts_store *s, const char *status, uint64_t dropped) {
    ts_store_flush(s);
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->writer, NULL);
    if (!s->error[0]) {
        if (!exec(s, INDEXES))
            why_steps_build(s->db); /* optional: why reads the steps without it */
    } else
        /* After a write error (disk full, file size limit) the write-ahead
         * log is as long as it may grow, and the status below needs room:
         * move what was committed into the database and empty the log.
         * Without this the status stayed "recording" whenever no automatic
         * checkpoint happened to have reset the log just before. */
        sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL);
    char buf[32], events[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)dropped);
    snprintf(events, sizeof events, "%llu", (unsigned long long)s->rows);
    /* A recording that could not be written to the end says so itself.
     * The final facts go in one transaction (one page): after a full disk
     * the room a rolled-back batch left may hold one commit, not three;
     * if even that fails, the status alone is tried. */
    char why[300];
    if (s->error[0])
        snprintf(why, sizeof why, "truncated: %s", s->error);
    const char *final = s->error[0] ? why : status ? status : "complete";
    sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    int facts = ts_store_meta(s, "dropped", buf) | ts_store_meta(s, "events", events) |
                ts_store_meta(s, "status", final);
    /* The traced process's row: its events are what the children's rows
     * do not account for. */
    if (s->pid)
        facts |= exec_bound(s, "UPDATE process SET status = ?1, dropped = ?4, events = max(0, ?5 - "
                               "(SELECT ifnull(sum(events), 0) FROM process WHERE pid != ?3)) "
                               "WHERE pid = ?3",
                            final, NULL, s->pid, (int64_t)dropped, (int64_t)s->rows);
    if (facts || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        ts_store_meta(s, "status", final);
    }
    int err = s->error[0] ? -EIO : 0;
    for (int i = 0; i <= TS_EV_MAX_ID; i++) {
        sqlite3_finalize(s->ins[i]);
        sqlite3_finalize(s->ins_multi[i]);
    }
    /* Leave WAL mode: a finished recording is then a single file that any
     * user who can read it can open read-only, in a directory they cannot
     * write, with no -wal or -shm side files to create (the change
     * checkpoints and removes them). */
    sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;", NULL, NULL,
                 NULL);
    sqlite3_close(s->db);
    if (s->lock_fd > 0) /* after SQLite's last use: closing it drops the flock */
        close(s->lock_fd);
    while (s->free_list) {
        struct chunk *c = s->free_list;
        s->free_list = c->next;
        free(c);
    }
    free(s->cur);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->db_lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return err;
}

void ts_store_discard(ts_store *s) {
    char path[PATH_MAX], kept[PATH_MAX + 32], err[256];
    snprintf(path, sizeof path, "%s", s->path);
    snprintf(kept, sizeof kept, "%s", s->kept);
    int created = s->created;
    ts_store_close(s, "failed", 0);
    /* The file and its side files are ours (created exclusively). */
    if (created)
        ts_remove_recording(path, err, sizeof err);
    if (kept[0])
        ts_restore_aside(kept, path);
}

const char *ts_store_error(const ts_store *s) { return s->error[0] ? s->error : NULL; }
const char *ts_store_kept(const ts_store *s) { return s->kept[0] ? s->kept : NULL; }

int ts_store_warning(ts_store *s, uint64_t id, uint64_t ns, const char *kind, uint64_t task,
                     uint64_t resource, const char *text) {
    return ts_store_warning_pid(s, s->pid, id, ns, kind, task, resource, text);
}

int ts_store_warning_pid(ts_store *s, uint32_t pid, uint64_t id, uint64_t ns, const char *kind,
                         uint64_t task, uint64_t resource, const char *text) {
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->db_lock);
    if (s->error[0]) { /* after a write error (disk full) the final status needs the room */
        pthread_mutex_unlock(&s->db_lock);
        return -EIO;
    }
    /* Keyed by (pid, wid): a rewrite keeps the row, and its id (the order
     * in which warnings were raised, across processes). */
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO warning(wid, ns, kind, task, resource, text, pid) "
                                "VALUES(?, ?, ?, ?, ?, ?, ?) ON CONFLICT(pid, wid) DO UPDATE SET "
                                "ns = excluded.ns, kind = excluded.kind, task = excluded.task, "
                                "resource = excluded.resource, text = excluded.text",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 7, (sqlite3_int64)pid);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)ns);
        sqlite3_bind_text(st, 3, kind, -1, SQLITE_TRANSIENT);
        if (task)
            sqlite3_bind_int64(st, 4, (sqlite3_int64)task);
        if (resource)
            sqlite3_bind_int64(st, 5, (sqlite3_int64)resource);
        sqlite3_bind_text(st, 6, text, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->db_lock);
    return rc == SQLITE_OK ? 0 : -EIO;
}
uint64_t ts_store_rows(const ts_store *s) { return s->rows; }

/* ---- reading ------------------------------------------------------------------ */

/* "file:" URI for path (RFC 3986 escapes for the characters SQLite's URI
 * parser treats specially), then the query. */
static int uri_for(const char *path, const char *query, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "file:%s", path[0] == '/' ? "//" : "");
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < len; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p == 0x7f)
            n += (size_t)snprintf(buf + n, len - n, "%%%02X", *p);
        else
            buf[n++] = (char)*p;
    }
    return snprintf(buf + n, len - n, "?%s", query) >= (int)(len - n) ? -ENAMETOOLONG : 0;
}

static int open_uri(const char *path, const char *query, sqlite3 **db) {
    char uri[3 * PATH_MAX + 64];
    *db = NULL;
    if (uri_for(path, query, uri, sizeof uri))
        return SQLITE_CANTOPEN;
    /* NOMUTEX: a reader's connection is used by one thread, and locking
     * it in every sqlite3_column_* call cost `why` a tenth of its time
     * reading a million steps. */
    return sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                           NULL);
}

int ts_store_open_read(const char *path, sqlite3 **db, char *err, size_t errlen) {
    /* Opened by us first: a FIFO, device or directory is refused before
     * SQLite could block on it or read it. */
    unsigned char hdr[100] = {0};
    int fd = ts_open_regular(path, NULL, err, errlen);
    if (fd < 0)
        return fd;
    ssize_t got = pread(fd, hdr, sizeof hdr, 0);
    close(fd);
    if (got < (ssize_t)sizeof hdr || memcmp(hdr, "SQLite format 3", 16) != 0) {
        snprintf(err, errlen, "%s: not a taskscope recording (not an SQLite database)", path);
        *db = NULL;
        return -EINVAL;
    }
    /* How to open it without writing anything: a finished recording is in
     * rollback mode (header bytes 18-19 are 1) and opens read-only with
     * no side file.  A WAL-mode file (2) with its -wal is being recorded
     * (or was cut short): read-only, which shares the writer's -shm; in a
     * directory we cannot write that may be impossible, and then, as for
     * a WAL-mode file without -wal (nothing to replay), immutable=1 reads
     * the main file alone and creates nothing. */
    char wal[PATH_MAX + 8];
    struct stat wal_st;
    snprintf(wal, sizeof wal, "%s-wal", path);
    int in_wal = hdr[18] == 2 || hdr[19] == 2;
    int rc;
    if (in_wal && stat(wal, &wal_st) != 0)
        rc = open_uri(path, "immutable=1", db);
    else {
        rc = open_uri(path, "mode=ro", db);
        if (rc == SQLITE_OK && in_wal &&
            sqlite3_exec(*db, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
            sqlite3_close(*db);
            rc = open_uri(path, "immutable=1", db);
        }
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", path, *db ? sqlite3_errmsg(*db) : "?");
        sqlite3_close(*db);
        *db = NULL;
        return -EIO;
    }
    sqlite3_stmt *st;
    int version = -1;
    if (sqlite3_prepare_v2(*db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (version < 0) {
        snprintf(err, errlen, "%s: not a readable SQLite database (%s)", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        return -EINVAL;
    }
    if (version == 0) {
        snprintf(err, errlen, "%s: not a taskscope recording (no schema version)", path);
        sqlite3_close(*db);
        return -EINVAL;
    }
    if (version > TS_STORE_VERSION) {
        snprintf(err, errlen,
                 "%s: recorded with schema version %d, newer than this taskscope (%d): "
                 "upgrade taskscope to read it", path, version, TS_STORE_VERSION);
        sqlite3_close(*db);
        return -EPROTONOSUPPORT;
    }
    if (version < TS_STORE_VERSION) {
        snprintf(err, errlen, "%s: schema version %d predates version 1 (no migration exists)",
                 path, version);
        sqlite3_close(*db);
        return -EPROTONOSUPPORT;
    }
    return 0;
}

int ts_store_read_meta(const char *path, const char *key, char *buf, size_t len) {
    sqlite3 *db;
    char err[256];
    buf[0] = 0;
    if (ts_snapshot_detect(path)) /* a crash snapshot reads like a recording */
        return ts_snapshot_read_meta(path, key, buf, len);
    int rc = ts_store_open_read(path, &db, err, sizeof err);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT value FROM session WHERE key = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        else if (step != SQLITE_ROW && step != SQLITE_DONE)
            rc = -EIO; /* a damaged page: not the same as an absent key */
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return rc;
}

int ts_store_is_recording(const char *path) {
    sqlite3 *db;
    char err[256];
    if (ts_store_open_read(path, &db, err, sizeof err) != 0)
        return 0;
    sqlite3_stmt *st;
    int yes = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM session WHERE key = 'status'", -1, &st, NULL) ==
        SQLITE_OK) {
        yes = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return yes;
}

struct cursor {
    const ts_event_desc *d;
    sqlite3_stmt *st;
    int has_row;
    int64_t seq;          /* the current row's, cached: the merge compares it often */
};

/* Step a cursor.  A step that fails (a damaged page) must end the replay
 * with an error: read as the end of the table it would silently make a
 * shorter, wrong recording.  Returns 0 or the SQLite error. */
static int advance(struct cursor *c) {
    int rc = sqlite3_step(c->st);
    c->has_row = rc == SQLITE_ROW;
    if (c->has_row)
        c->seq = sqlite3_column_int64(c->st, 0);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : rc;
}

/* Does this recording have pid columns (DDL version 3 and later)? */
static int has_pids(sqlite3 *db) {
    sqlite3_stmt *st;
    int yes = sqlite3_prepare_v2(db, "SELECT pid FROM ev_task_create LIMIT 0", -1, &st, NULL) ==
              SQLITE_OK;
    sqlite3_finalize(st);
    return yes;
}

int ts_store_replay(const char *path, ts_replay_fn fn, void *arg, char *err, size_t errlen) {
    return ts_store_replay_pid(path, 0, fn, arg, err, errlen);
}

int ts_store_replay_pid(const char *path, int pid, ts_replay_fn fn, void *arg, char *err,
                        size_t errlen) {
    sqlite3 *db;
    if (ts_snapshot_detect(path)) /* a crash snapshot reads like a recording */
        return ts_snapshot_replay(path, fn, arg, err, errlen);
    int rc = ts_store_open_read(path, &db, err, errlen);
    if (rc)
        return rc;
    const ts_event_desc *dp[TS_EV_MAX_ID + 1];
    size_t n = all_descs(dp, TS_EV_MAX_ID + 1);
    struct cursor *cur = calloc(n, sizeof *cur);
    if (!cur) {
        sqlite3_close(db);
        return -ENOMEM;
    }
    char sql[256], where[64] = "";
    if (pid > 0 && has_pids(db)) /* an older recording is one process: all of it */
        snprintf(where, sizeof where, "WHERE pid = %d ", pid);
    for (size_t i = 0; i < n; i++) {
        cur[i].d = dp[i];
        snprintf(sql, sizeof sql, "SELECT * FROM ev_%s %sORDER BY seq", dp[i]->name, where);
        if (sqlite3_prepare_v2(db, sql, -1, &cur[i].st, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: damaged recording: %s", path, sqlite3_errmsg(db));
            rc = -EINVAL;
            goto out;
        }
        if (advance(&cur[i]))
            goto damaged;
    }
    /* k-way merge by seq: n is a few dozen, so a linear scan over the
     * cached seqs is fine. */
    _Alignas(8) char rec[TS_PAGE_SIZE];
    for (;;) {
        struct cursor *best = NULL;
        for (size_t i = 0; i < n; i++)
            if (cur[i].has_row && (!best || cur[i].seq < best->seq))
                best = &cur[i];
        if (!best)
            break;
        const ts_event_desc *ed = best->d;
        sqlite3_stmt *st = best->st;
        memset(rec, 0, ed->size);
        ts_ev_header *h = (ts_ev_header *)rec;
        h->type = ed->id;
        size_t size = ed->size;
        for (int f = 0; f < ed->nfields; f++) {
            int64_t v = sqlite3_column_int64(st, 3 + f);
            char *p = rec + ed->fields[f].offset;
            if (ed->fields[f].type == TS_FT_U64 || ed->fields[f].type == TS_FT_I64)
                memcpy(p, &v, 8);
            else {
                int32_t v32 = (int32_t)v;
                memcpy(p, &v32, 4);
            }
        }
        if (ed->tail) {
            const void *blob = sqlite3_column_blob(st, 3 + ed->nfields);
            size_t bytes = (size_t)sqlite3_column_bytes(st, 3 + ed->nfields);
            if (bytes > sizeof rec - size - 8)
                bytes = sizeof rec - size - 8;
            if (blob)
                memcpy(rec + size, blob, bytes);
            /* the tail's length is the last fixed field (ts_event_tail_bytes) */
            uint32_t count = (uint32_t)(ed->tail->type == TS_FT_BYTES ? bytes : bytes / 8);
            memcpy(rec + ed->fields[ed->nfields - 1].offset, &count, 4);
            size += (bytes + 7) & ~(size_t)7;
        }
        h->size = (uint16_t)size;
        fn(h, (uint64_t)sqlite3_column_int64(st, 1), (uint32_t)sqlite3_column_int64(st, 2), arg);
        if (advance(best))
            goto damaged;
    }
    goto out;
damaged:
    snprintf(err, errlen, "%s: damaged recording: %s", path, sqlite3_errmsg(db));
    rc = -EINVAL;
out:
    for (size_t i = 0; i < n; i++)
        sqlite3_finalize(cur[i].st);
    free(cur);
    sqlite3_close(db);
    return rc;
}

int ts_store_read_warnings(const char *path, ts_warning_fn fn, void *arg, char *err,
                           size_t errlen) {
    return ts_store_read_warnings_pid(path, 0, fn, arg, err, errlen);
}

int ts_store_read_warnings_pid(const char *path, int pid, ts_warning_fn fn, void *arg, char *err,
                               size_t errlen) {
    sqlite3 *db;
    if (ts_snapshot_detect(path)) /* a crash snapshot holds no stored warnings */
        return 0;
    int rc = ts_store_open_read(path, &db, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    /* A recording made before the warning table existed has none to give. */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT ns, kind, task, resource, text FROM warning %s ORDER BY id",
             pid > 0 && has_pids(db) ? "WHERE pid = ?" : "");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return 0;
    }
    if (sqlite3_bind_parameter_count(st))
        sqlite3_bind_int(st, 1, pid);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        fn((uint64_t)sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           (uint64_t)sqlite3_column_int64(st, 2), (uint64_t)sqlite3_column_int64(st, 3),
           (const char *)sqlite3_column_text(st, 4), arg);
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "%s: damaged recording: %s", path, sqlite3_errmsg(db));
        rc = -EINVAL;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Is a writer still holding the recording (see hold_writer_lock)? */
static int writer_alive(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

int ts_store_status(const char *path, char *buf, size_t len) {
    char raw[512];
    int rc = ts_store_read_meta(path, "status", raw, sizeof raw);
    if (rc)
        return rc;
    if (!raw[0] || !strcmp(raw, "recording"))
        snprintf(buf, len, "%s", writer_alive(path)
                                     ? "recording in progress"
                                     : "cut short: the recorder stopped before the end");
    else if (!strncmp(raw, "truncated: ", 11))
        snprintf(buf, len, "cut short: %s", raw + 11);
    else
        snprintf(buf, len, "%s", raw);
    return 0;
}

/* ---- processes ------------------------------------------------------------------ */

int ts_store_processes(const char *path, ts_store_proc *out, size_t cap, size_t *n, char *err,
                       size_t errlen) {
    *n = 0;
    sqlite3 *db;
    if (ts_snapshot_detect(path)) /* one process, the one that crashed */
        goto single;
    int rc = ts_store_open_read(path, &db, err, errlen);
    if (rc)
        return rc;
    sqlite3_stmt *st;
    /* The traced process first, then its children as they came. */
    if (has_pids(db) &&
        sqlite3_prepare_v2(db, "SELECT pid, parent, exe, status, dropped FROM process "
                               "ORDER BY parent IS NOT NULL, pid", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (*n < cap) {
                ts_store_proc *p = &out[*n];
                memset(p, 0, sizeof *p);
                p->pid = sqlite3_column_int(st, 0);
                p->parent = sqlite3_column_int(st, 1);
                const unsigned char *t = sqlite3_column_text(st, 2);
                snprintf(p->exe, sizeof p->exe, "%s", t ? (const char *)t : "");
                t = sqlite3_column_text(st, 3);
                snprintf(p->status, sizeof p->status, "%s", t ? (const char *)t : "");
                p->dropped = (uint64_t)sqlite3_column_int64(st, 4);
            }
            (*n)++;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (*n)
        return 0;
single: /* a recording made before version 3: one process, the session's */
    if (cap) {
        char buf[32];
        memset(out, 0, sizeof *out);
        ts_store_read_meta(path, "pid", buf, sizeof buf);
        out->pid = atoi(buf);
        ts_store_read_meta(path, "exe", out->exe, sizeof out->exe);
    }
    *n = 1;
    return 0;
}
