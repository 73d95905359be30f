/*
 * report_sql.c - see report_sql.h.
 *
 * Invariants:
 *   - Every task the model has known is one row, keyed by its creation
 *     order (tm_task.seq): evicted ones when evicted, the rest at the
 *     end.  A row holds the task in words, exactly what tr_row carries.
 *   - Nothing here holds more than one row per level of the tree in
 *     memory; a damaged recording's parent cycles are looked for among
 *     the tasks no root reaches only (none, in an undamaged one).
 *   - The database is private and temporary (sqlite3_open of ""): SQLite
 *     keeps it in an unlinked file, gone when it is closed or we die.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"
#include "report_sql.h"

struct tr_table {
    sqlite3 *db;
    sqlite3_stmt *ins;
    int failed;                /* an insert failed: the report would be short */
    char why[160];
};

#define TB_COLS                                                                     \
    "seq, id, parent, loop, name, state, age, busy, sched, idle, polls, awaits,\n"  \
    "  awaits_text, has_object, awaits_object, await_site, spawn_site, err,\n"      \
    "  err_message, cancel_requests, warnings, lost, finished"

static const char tb_ddl[] =
    "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;\n"
    "PRAGMA cache_size = -8192;\n"
    "CREATE TABLE t(seq INTEGER PRIMARY KEY, id INTEGER NOT NULL, parent INTEGER NOT NULL,\n"
    "  loop INTEGER, name TEXT NOT NULL, state TEXT NOT NULL, age INTEGER, busy INTEGER,\n"
    "  sched INTEGER, idle INTEGER, polls INTEGER, awaits TEXT, awaits_text TEXT NOT NULL,\n"
    "  has_object INTEGER, awaits_object INTEGER, await_site TEXT NOT NULL,\n"
    "  spawn_site TEXT NOT NULL, err INTEGER, err_message TEXT, cancel_requests INTEGER,\n"
    "  warnings INTEGER NOT NULL, lost INTEGER, finished INTEGER NOT NULL,\n"
    "  evicted INTEGER NOT NULL, cut INTEGER NOT NULL DEFAULT 0);\n"
    "BEGIN;\n";

static void sql_error(tr_table *tb, const char *what) {
    if (!tb->failed)
        snprintf(tb->why, sizeof tb->why, "%s: %s", what, sqlite3_errmsg(tb->db));
    tb->failed = 1;
}

static void insert_row(tr_table *tb, const tr_row *r, int evicted) {
    sqlite3_stmt *s = tb->ins;
    int c = 1;
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->seq);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->id);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->parent);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->loop);
    sqlite3_bind_text(s, c++, r->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, c++, r->state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->age_ns);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->busy_ns);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->scheduled_ns);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->idle_ns);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->polls);
    if (r->awaits)
        sqlite3_bind_text(s, c++, r->awaits, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, c++);
    sqlite3_bind_text(s, c++, r->awaits_text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, c++, r->has_object);
    sqlite3_bind_int64(s, c++, (sqlite3_int64)r->awaits_object);
    sqlite3_bind_text(s, c++, r->await_site, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, c++, r->spawn_site, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(s, c++, r->err);
    if (r->err_message)
        sqlite3_bind_text(s, c++, r->err_message, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, c++);
    sqlite3_bind_int64(s, c++, r->cancel_requests);
    sqlite3_bind_int64(s, c++, r->warnings);
    sqlite3_bind_int(s, c++, r->lost);
    sqlite3_bind_int(s, c++, r->finished);
    sqlite3_bind_int(s, c++, evicted);
    if (sqlite3_step(s) != SQLITE_DONE)
        sql_error(tb, "report table");
    sqlite3_reset(s);
}

/* The model's eviction hook: the task's last word, kept. */
static void on_evict(const tm_model *m, const tm_task *t, void *arg) {
    tr_table *tb = arg;
    tr_row r;
    if (tb->failed)
        return;
    tr__row_from_task(m, t, &r);
    insert_row(tb, &r, 1);
}

tr_table *tr_table_new(tm_model *m, char *err, size_t len) {
    tr_table *tb = calloc(1, sizeof *tb);
    if (!tb) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    if (sqlite3_open_v2("", &tb->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(tb->db, tb_ddl, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(tb->db,
                           "INSERT INTO t(" TB_COLS ", evicted) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,"
                           "?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &tb->ins, NULL) != SQLITE_OK) {
        snprintf(err, len, "a temporary table for the report: %s",
                 tb->db ? sqlite3_errmsg(tb->db) : "out of memory");
        tr_table_free(tb);
        return NULL;
    }
    tm_model_on_evict(m, on_evict, tb);
    return tb;
}

void tr_table_free(tr_table *tb) {
    if (!tb)
        return;
    sqlite3_finalize(tb->ins);
    sqlite3_close(tb->db);
    free(tb);
}

/* Stored warnings name tasks the model may have evicted since: flag
 * their rows as the model flags the tasks it still holds. */
static void flag_warned(tr_table *tb, const tm_model *m) {
    sqlite3_stmt *up = NULL;
    if (sqlite3_prepare_v2(tb->db,
                           "UPDATE t SET warnings = warnings | ?1 WHERE id = ?2 AND evicted",
                           -1, &up, NULL) != SQLITE_OK) {
        sql_error(tb, "report table");
        return;
    }
    for (size_t i = 0; i < tm_model_warning_count(m); i++) {
        const tm_warning *w = tm_model_warning_at(m, i);
        if (!w->task)
            continue;
        sqlite3_bind_int64(up, 1, (sqlite3_int64)w->kind);
        sqlite3_bind_int64(up, 2, (sqlite3_int64)w->task);
        if (sqlite3_step(up) != SQLITE_DONE)
            sql_error(tb, "report table");
        sqlite3_reset(up);
    }
    sqlite3_finalize(up);
}

int tr_table_finish(tr_table *tb, tm_model *m, char *err, size_t len) {
    tr_row r;
    tm_model_on_evict(m, NULL, NULL); /* the rest go in below */
    for (size_t i = 0; i < tm_model_task_count(m) && !tb->failed; i++) {
        const tm_task *t = tm_model_task_at(m, i);
        if (!t)
            continue;
        tr__row_from_task(m, t, &r);
        insert_row(tb, &r, 0);
    }
    /* Built after the rows: one sort instead of an index kept up per row. */
    if (!tb->failed &&
        sqlite3_exec(tb->db,
                     "CREATE INDEX t_id ON t(id); CREATE INDEX t_parent ON t(parent, seq);",
                     NULL, NULL, NULL) != SQLITE_OK)
        sql_error(tb, "report table index");
    if (!tb->failed)
        flag_warned(tb, m);
    if (!tb->failed && sqlite3_exec(tb->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        sql_error(tb, "report table");
    if (tb->failed) {
        snprintf(err, len, "%s", tb->why);
        return -EIO;
    }
    return 0;
}

/* ---- reading rows --------------------------------------------------------------- */

static const char *text_col(sqlite3_stmt *s, int c) {
    const unsigned char *v = sqlite3_column_text(s, c);
    return v ? (const char *)v : "";
}

/* The row the statement stands on (strings valid until its next step). */
static void row_read(sqlite3_stmt *s, tr_row *r) {
    int c = 0;
    r->seq = (uint64_t)sqlite3_column_int64(s, c++);
    r->id = (uint64_t)sqlite3_column_int64(s, c++);
    r->parent = (uint64_t)sqlite3_column_int64(s, c++);
    r->loop = (uint64_t)sqlite3_column_int64(s, c++);
    r->name = text_col(s, c++);
    r->state = text_col(s, c++);
    r->age_ns = (uint64_t)sqlite3_column_int64(s, c++);
    r->busy_ns = (uint64_t)sqlite3_column_int64(s, c++);
    r->scheduled_ns = (uint64_t)sqlite3_column_int64(s, c++);
    r->idle_ns = (uint64_t)sqlite3_column_int64(s, c++);
    r->polls = (uint64_t)sqlite3_column_int64(s, c++);
    r->awaits = sqlite3_column_type(s, c) == SQLITE_NULL ? NULL : text_col(s, c);
    c++;
    r->awaits_text = text_col(s, c++);
    r->has_object = sqlite3_column_int(s, c++);
    r->awaits_object = (uint64_t)sqlite3_column_int64(s, c++);
    r->await_site = text_col(s, c++);
    r->spawn_site = text_col(s, c++);
    r->err = sqlite3_column_int(s, c++);
    r->err_message = sqlite3_column_type(s, c) == SQLITE_NULL ? NULL : text_col(s, c);
    c++;
    r->cancel_requests = (uint32_t)sqlite3_column_int64(s, c++);
    r->warnings = (uint32_t)sqlite3_column_int64(s, c++);
    r->lost = sqlite3_column_int(s, c++);
    r->finished = sqlite3_column_int(s, c++);
}

static sqlite3_stmt *prepare(tr_table *tb, const char *sql) {
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(tb->db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "taskscope: report table: %s\n", sqlite3_errmsg(tb->db));
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

/* One number from a query (0 when it fails, which prepare reports). */
static uint64_t count_of(tr_table *tb, const char *sql) {
    sqlite3_stmt *s = prepare(tb, sql);
    uint64_t n = s && sqlite3_step(s) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return n;
}

/* ps and pstree list the tasks still live at the end; --all every one. */
#define LISTED(o, alias) ((o)->all ? "1" : alias "finished = 0")

static size_t hidden_of(tr_table *tb, const tr_opts *o) {
    return o->all ? 0 : (size_t)count_of(tb, "SELECT count(*) FROM t WHERE finished != 0");
}

void tr_ps_table(FILE *out, const tm_model *m, tr_table *tb, const tr_opts *o) {
    char sql[512];
    tr_row r;
    int first = 1;
    tr__ps_head(out, m, o);
    snprintf(sql, sizeof sql, "SELECT " TB_COLS " FROM t WHERE %s ORDER BY seq",
             LISTED(o, ""));
    sqlite3_stmt *s = prepare(tb, sql);
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        row_read(s, &r);
        tr__ps_row(out, &r, o, first);
        first = 0;
    }
    sqlite3_finalize(s);
    tr__ps_tail(out, m, o, hidden_of(tb, o));
}

/* ---- pstree -------------------------------------------------------------------- */

/* The walk's statements: children of a node, one per depth (a node's
 * children are stepped while its descendants' are). */
#define TREE_DEPTHS 102

typedef struct tree_walk {
    tr_table *tb;
    const tr_opts *o;
    FILE *out;
    sqlite3_stmt *kids[TREE_DEPTHS], *nkids[TREE_DEPTHS];
    char prefix[520];
    size_t printed;
    int failed;
} tree_walk;

static void tree_node(tree_walk *w, sqlite3_stmt *at, size_t plen, int last, int depth) {
    tr_row r;
    row_read(at, &r);
    uint64_t id = r.id, seq = r.seq;
    tr__tree_row(w->out, &r, w->o, w->prefix, last, depth, w->printed);
    w->printed++;
    size_t nlen;
    if (depth >= TREE_DEPTHS || w->failed ||
        !tr__tree_indent(w->prefix, plen, last, depth, &nlen))
        return;
    if (!w->kids[depth]) {
        /* children: listed tasks whose parent is this one (not cut from
         * it as a cycle's first, not itself), in creation order */
        const char *cond = "WHERE parent = ?1 AND seq != ?2 AND cut = 0 AND ";
        char sql[768];
        snprintf(sql, sizeof sql, "SELECT " TB_COLS " FROM t %s%s ORDER BY seq", cond,
                 LISTED(w->o, ""));
        w->kids[depth] = prepare(w->tb, sql);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM t %s%s", cond, LISTED(w->o, ""));
        w->nkids[depth] = prepare(w->tb, sql);
        if (!w->kids[depth] || !w->nkids[depth]) {
            w->failed = 1;
            return;
        }
    }
    sqlite3_stmt *n = w->nkids[depth], *k = w->kids[depth];
    sqlite3_bind_int64(n, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(n, 2, (sqlite3_int64)seq);
    sqlite3_int64 kids = sqlite3_step(n) == SQLITE_ROW ? sqlite3_column_int64(n, 0) : 0;
    sqlite3_reset(n);
    sqlite3_bind_int64(k, 1, (sqlite3_int64)id);
    sqlite3_bind_int64(k, 2, (sqlite3_int64)seq);
    for (sqlite3_int64 seen = 0; sqlite3_step(k) == SQLITE_ROW;) {
        seen++;
        tree_node(w, k, nlen, seen == kids, depth + 1);
    }
    sqlite3_reset(k);
    w->prefix[plen] = 0;
}

/* Parent cycles (a damaged recording): a task on one reaches no root.
 * The tasks no root reaches are found by a recursive query; only they
 * are looked at for cycles (report.c's tr__cycles_find), and each
 * cycle's first task is marked cut. */
static int tree_cycles(tr_table *tb, const tr_opts *o, tr_cycles *pc, uint64_t listed) {
    char sql[1024];
    memset(pc, 0, sizeof *pc);
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS temp.reach; CREATE TEMP TABLE reach(seq INTEGER PRIMARY KEY);\n"
             "WITH RECURSIVE r(seq, id) AS (\n"
             "  SELECT seq, id FROM t WHERE %s AND NOT EXISTS\n"
             "    (SELECT 1 FROM t p WHERE p.id = t.parent AND %s)\n"
             "  UNION SELECT c.seq, c.id FROM t c JOIN r ON c.parent = r.id WHERE %s)\n"
             "INSERT OR IGNORE INTO reach SELECT seq FROM r;",
             LISTED(o, "t."), LISTED(o, "p."), LISTED(o, "c."));
    if (sqlite3_exec(tb->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "taskscope: report table: %s\n", sqlite3_errmsg(tb->db));
        return -EIO;
    }
    if (count_of(tb, "SELECT count(*) FROM reach") == listed)
        return 0;
    size_t n = 0, cap = 0;
    tr_node *nodes = NULL;
    uint64_t *seqs = NULL;
    snprintf(sql, sizeof sql,
             "SELECT seq, id, parent FROM t WHERE %s AND seq NOT IN (SELECT seq FROM reach) "
             "ORDER BY seq", LISTED(o, ""));
    sqlite3_stmt *s = prepare(tb, sql);
    int rc = s ? 0 : -EIO;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            tr_node *nn = realloc(nodes, cap * sizeof *nodes);
            uint64_t *ns = realloc(seqs, cap * sizeof *seqs);
            nodes = nn ? nn : nodes;
            seqs = ns ? ns : seqs;
            if (!nn || !ns) {
                rc = -ENOMEM;
                break;
            }
        }
        seqs[n] = (uint64_t)sqlite3_column_int64(s, 0);
        nodes[n++] = (tr_node){(uint64_t)sqlite3_column_int64(s, 1),
                               (uint64_t)sqlite3_column_int64(s, 2)};
    }
    sqlite3_finalize(s);
    if (!rc)
        rc = tr__cycles_find(pc, nodes, n);
    sqlite3_stmt *cut = rc ? NULL : prepare(tb, "UPDATE t SET cut = 1 WHERE seq = ?1");
    for (size_t i = 0; cut && i < n; i++) {
        if (!pc->cut[i])
            continue;
        sqlite3_bind_int64(cut, 1, (sqlite3_int64)seqs[i]);
        sqlite3_step(cut);
        sqlite3_reset(cut);
    }
    sqlite3_finalize(cut);
    free(nodes);
    free(seqs);
    return rc;
}

void tr_pstree_table(FILE *out, const tm_model *m, tr_table *tb, const tr_opts *o) {
    char sql[768];
    tr_cycles pc;
    tree_walk *w = calloc(1, sizeof *w);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM t WHERE %s", LISTED(o, ""));
    uint64_t listed = count_of(tb, sql);
    if (!w || tree_cycles(tb, o, &pc, listed)) {
        fprintf(stderr, "taskscope: out of memory\n");
        free(w);
        return;
    }
    w->tb = tb;
    w->o = o;
    w->out = out;
    if (o->json) {
        tr__json_head(out, m, o);
        fputs("\"tasks\":[", out);
    } else {
        tr__text_header(out, m, o);
        tr__cycles_put(out, &pc, 0);
    }
    /* roots: listed tasks with no listed parent, and each cycle's first */
    snprintf(sql, sizeof sql,
             "SELECT " TB_COLS " FROM t WHERE %s AND (cut != 0 OR NOT EXISTS\n"
             "  (SELECT 1 FROM t p WHERE p.id = t.parent AND p.seq != t.seq AND %s))\n"
             "ORDER BY seq", LISTED(o, "t."), LISTED(o, "p."));
    sqlite3_stmt *roots = prepare(tb, sql);
    while (roots && sqlite3_step(roots) == SQLITE_ROW)
        tree_node(w, roots, 0, 1, 0);
    sqlite3_finalize(roots);
    for (int d = 0; d < TREE_DEPTHS; d++) {
        sqlite3_finalize(w->kids[d]);
        sqlite3_finalize(w->nkids[d]);
    }
    /* tree_node stops about 80 levels down (its recursion and the indent
     * are bounded): say so rather than drop the deeper tasks silently. */
    size_t too_deep = listed > w->printed ? (size_t)listed - w->printed : 0;
    tr__tree_tail(out, m, o, hidden_of(tb, o), too_deep, &pc);
    tr__cycles_free(&pc);
    free(w);
}
