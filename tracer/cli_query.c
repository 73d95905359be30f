/*
 * cli_query.c - `taskscope query FILE... SQL [--json|--csv]`: one SQL
 * statement over a recording, printed as aligned columns, CSV or JSON.
 *
 * Several recordings: the first is the connection's main database, each
 * other one is attached read-only (before the authorizer goes up), and a
 * temporary view of every table and view of the schema puts them
 * together (UNION ALL) behind the usual name, with three more columns
 * first: recording (the path as given), host and pid (from each
 * recording's session facts; NULL when it has none).  A view recordings
 * lists them.  The temporary schema lives in memory (temp_store=MEMORY):
 * still no file is created.  SQLite attaches at most 10 databases, so at
 * most 11 recordings go into one query.
 *
 * What it must never do: write anything.  The recording is opened
 * read-only (ts_store_open_read, which creates no side file); an
 * authorizer refuses ATTACH and DETACH (ATTACH creates the file it names)
 * and every statement that is not read-only (VACUUM INTO writes a new
 * file through a read-only connection) is refused before it runs.
 *
 * One statement per call, on purpose: silently running only the first of
 * several (what sqlite3_prepare does) misleads, and several result sets
 * do not make one JSON document or one CSV table.  Trailing semicolons,
 * spaces and comments are fine; a second statement is a usage error.
 *
 * Values are the traced program's own strings (task names, messages):
 * text and CSV output pass each through textsafe.h's text form, so no
 * control byte, ESC or invalid UTF-8 reaches the terminal or the file
 * raw; JSON output through its JSON form.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "report.h"
#include "store.h"
#include "textsafe.h"

static const char QUERY_HELP[] =
    "usage: taskscope query [--json|--csv] FILE... SQL\n\n"
    "Run one SQL statement over a recording, read-only, and print its rows as\n"
    "aligned columns (or CSV, or a JSON array of objects).  Tables ev_<event>\n"
    "hold every event; views tasks, awaits, blocked, slow_steps, cancellations,\n"
    "warnings, strings and sites are easier to query (`man taskscope-sql`\n"
    "describes every table, view and column).  Text and CSV output show\n"
    "control characters and invalid UTF-8 in values escaped (\\n, \\e, \\xNN;\n"
    "a backslash as \\\\).  Statements that write (VACUUM INTO, ATTACH, ...) are\n"
    "refused, and so is more than one statement per call.  See `man taskscope`.\n\n"
    "  --json   a JSON array of objects (NULL, Inf and NaN as null)\n"
    "  --csv    RFC 4180 CSV with a header line\n\n"
    "With several recordings (taskscope query A.db B.db ... SQL; at most 11),\n"
    "every table and view holds the rows of all of them, with the columns\n"
    "recording (the file as named), host and pid first, and a view\n"
    "recordings lists each file with its host, pid, program and status:\n"
    "  taskscope query */*.db \"SELECT recording, host, max(duration_ns) FROM blocked\n"
    "                        GROUP BY recording ORDER BY 3 DESC\"\n";

static int authorize(void *arg, int action, const char *a, const char *b, const char *c,
                     const char *d) {
    (void)arg, (void)a, (void)b, (void)c, (void)d;
    return action == SQLITE_ATTACH || action == SQLITE_DETACH ? SQLITE_DENY : SQLITE_OK;
}

/* ---- output ----------------------------------------------------------------- */

/* A value in its safe text form (textsafe.h: control characters and
 * invalid UTF-8 as \n, \e, \xNN ..., a backslash as \\), so that a
 * task name can neither move the cursor nor break a row.  Returns
 * malloc'd text; *cols (if not NULL) gets its width in columns. */
static char *safe_text(const char *s, size_t *cols) {
    size_t len = 4 * strlen(s) + 1; /* an escape is at most 4 bytes per input byte */
    char *out = malloc(len);
    if (!out)
        return NULL;
    size_t w = ts_text_safe(out, len, s, 0);
    if (cols)
        *cols = w;
    return out;
}

/* One CSV field: the safe text form (so no raw control byte, ESC or
 * line break reaches the output), quoted as RFC 4180 says when it holds
 * a comma or a double quote (doubled inside).  Returns -ENOMEM. */
static int csv_field(const char *s) {
    char *t = safe_text(s, NULL);
    if (!t)
        return -ENOMEM;
    if (!strpbrk(t, ",\"")) {
        fputs(t, stdout);
    } else {
        putchar('"');
        for (const char *p = t; *p; p++) {
            if (*p == '"')
                putchar('"');
            putchar(*p);
        }
        putchar('"');
    }
    free(t);
    return 0;
}

typedef struct table {
    int cols;
    size_t rows, cap;
    char **cell;           /* rows * cols, row-major; [0 .. cols) the header */
    size_t *cw;            /* each cell's display width */
    size_t *width;         /* each column's */
    int *numeric;          /* right-aligned: every value a number */
} table;

static int table_add(table *t, char *text, size_t w, int col) {
    size_t at = t->rows * (size_t)t->cols + (size_t)col;
    if (at >= t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **c = realloc(t->cell, cap * sizeof *c);
        if (!c)
            return -ENOMEM;
        t->cell = c;
        size_t *cw = realloc(t->cw, cap * sizeof *cw);
        if (!cw)
            return -ENOMEM;
        t->cw = cw;
        t->cap = cap;
    }
    t->cell[at] = text;
    t->cw[at] = w;
    if (w > t->width[col])
        t->width[col] = w;
    return 0;
}

static void table_print(const table *t) {
    for (size_t r = 0; r < t->rows; r++) {
        for (int c = 0; c < t->cols; c++) {
            size_t at = r * (size_t)t->cols + (size_t)c, pad = t->width[c] - t->cw[at];
            int right = r > 0 && t->numeric[c];
            int last = c + 1 == t->cols;
            printf("%*s%s%*s%s", right ? (int)pad : 0, "", t->cell[at],
                   right || last ? 0 : (int)pad, "", last ? "\n" : "  ");
        }
        if (r == 0) {
            for (int c = 0; c < t->cols; c++) {
                for (size_t k = 0; k < t->width[c]; k++)
                    putchar('-');
                fputs(c + 1 < t->cols ? "  " : "\n", stdout);
            }
        }
    }
}

static void table_free(table *t) {
    for (size_t i = 0; i < t->rows * (size_t)t->cols; i++)
        free(t->cell[i]);
    free(t->cell);
    free(t->cw);
    free(t->width);
    free(t->numeric);
}

enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON };

static void json_value(sqlite3_stmt *st, int c) {
    int type = sqlite3_column_type(st, c);
    if (type == SQLITE_NULL)
        fputs("null", stdout);
    else if (type == SQLITE_INTEGER)
        printf("%lld", (long long)sqlite3_column_int64(st, c));
    else if (type == SQLITE_FLOAT) {
        double v = sqlite3_column_double(st, c);
        if (isfinite(v))
            printf("%.17g", v);
        else
            fputs("null", stdout); /* JSON has no Inf or NaN */
    } else
        tr_json_str(stdout, type == SQLITE_BLOB ? "<blob>" : (const char *)sqlite3_column_text(st, c));
}

static int run_statement(sqlite3 *db, sqlite3_stmt *st, enum fmt fmt) {
    int cols = sqlite3_column_count(st), rc;
    size_t row = 0;
    table t = {.cols = cols};
    if (fmt == FMT_TABLE && cols) {
        t.width = calloc((size_t)cols, sizeof *t.width);
        t.numeric = calloc((size_t)cols, sizeof *t.numeric);
        if (!t.width || !t.numeric) {
            free(t.width);
            free(t.numeric);
            fprintf(stderr, "taskscope: out of memory\n");
            return 1;
        }
        for (int c = 0; c < cols; c++) {
            size_t w;
            char *h = safe_text(sqlite3_column_name(st, c), &w);
            if (!h || table_add(&t, h, w, c)) {
                free(h);
                table_free(&t);
                return 1;
            }
            t.numeric[c] = 1;
        }
        t.rows = 1;
    } else if (fmt == FMT_CSV) {
        for (int c = 0; c < cols; c++) {
            if (csv_field(sqlite3_column_name(st, c))) {
                fprintf(stderr, "taskscope: out of memory\n");
                return 1;
            }
            putchar(c + 1 < cols ? ',' : '\n');
        }
    } else if (fmt == FMT_JSON)
        putchar('[');
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fmt == FMT_JSON)
            printf("%s{", row ? ",\n" : "");
        for (int c = 0; c < cols; c++) {
            int type = sqlite3_column_type(st, c);
            const char *v = (const char *)sqlite3_column_text(st, c);
            const char *text = type == SQLITE_NULL ? "" : type == SQLITE_BLOB ? "<blob>" : v;
            if (fmt == FMT_JSON) {
                tr_json_str(stdout, sqlite3_column_name(st, c));
                putchar(':');
                json_value(st, c);
                if (c + 1 < cols)
                    putchar(',');
            } else if (fmt == FMT_CSV) {
                if (csv_field(text)) {
                    fprintf(stderr, "taskscope: out of memory\n");
                    exit(1);
                }
                putchar(c + 1 < cols ? ',' : '\n');
            } else {
                size_t w;
                char *cell = safe_text(text, &w);
                if (!cell || table_add(&t, cell, w, c)) {
                    fprintf(stderr, "taskscope: out of memory\n");
                    exit(1); /* a half-built row cannot be freed cell by cell */
                }
                if (type != SQLITE_INTEGER && type != SQLITE_FLOAT && type != SQLITE_NULL)
                    t.numeric[c] = 0;
            }
        }
        if (fmt == FMT_JSON)
            putchar('}');
        else if (fmt == FMT_TABLE)
            t.rows++;
        row++;
    }
    if (fmt == FMT_JSON)
        puts("]");
    else if (fmt == FMT_TABLE && cols) {
        if (rc == SQLITE_DONE) /* no half table from a damaged recording */
            table_print(&t);
        table_free(&t);
    }
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "taskscope: query: %s\n", sqlite3_errmsg(db));
        return 1;
    }
    return 0;
}

/* ---- several recordings ------------------------------------------------------ */

#define MAX_FILES 11 /* main + SQLite's default limit of 10 attached */

/* A file: URI for path (every byte that is not plainly safe
 * percent-encoded), with query. */
static char *file_uri(const char *path, const char *query) {
    size_t n = strlen(path);
    char *u = malloc(3 * n + strlen(query) + 16);
    if (!u)
        return NULL;
    char *o = u + sprintf(u, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/-_.~", *p))
            *o++ = (char)*p;
        else
            o += sprintf(o, "%%%02X", *p);
    }
    sprintf(o, "?%s", query);
    return u;
}

static int exec_ok(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* Attach files[i] as r<i>: read-only, or (a recording being written whose
 * -shm we may not use, as ts_store_open_read decides) immutable. */
static int attach(sqlite3 *db, const char *file, int i, char *err, size_t errlen) {
    sqlite3 *probe;
    if (ts_store_open_read(file, &probe, err, errlen))
        return -1;
    sqlite3_close(probe);
    static const char *const modes[] = {"mode=ro", "immutable=1"};
    for (int m = 0; m < 2; m++) {
        char *uri = file_uri(file, modes[m]);
        char *sql = uri ? sqlite3_mprintf("ATTACH %Q AS r%d", uri, i) : NULL;
        char *check = sqlite3_mprintf("SELECT 1 FROM r%d.sqlite_master LIMIT 1", i);
        int ok = sql && check && exec_ok(db, sql) && exec_ok(db, check);
        if (!ok && sql) {
            char *detach = sqlite3_mprintf("DETACH r%d", i);
            if (detach)
                sqlite3_exec(db, detach, NULL, NULL, NULL);
            sqlite3_free(detach);
        }
        free(uri);
        sqlite3_free(sql);
        sqlite3_free(check);
        if (ok)
            return 0;
    }
    snprintf(err, errlen, "%s: cannot attach: %s", file, sqlite3_errmsg(db));
    return -1;
}

/* A session fact of schema s, as an SQL literal (NULL if absent). */
static char *fact(sqlite3 *db, const char *s, const char *key, int integer) {
    char *sql = sqlite3_mprintf("SELECT value FROM %s.session WHERE key = %Q", s, key);
    sqlite3_stmt *st = NULL;
    char *lit = NULL;
    if (sql && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        lit = integer ? sqlite3_mprintf("%lld", sqlite3_column_int64(st, 0))
                      : sqlite3_mprintf("%Q", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return lit ? lit : sqlite3_mprintf("NULL");
}

/* Open files[0..n) as one: see the file comment.  0, or 1 with a message
 * printed. */
static int open_many(const char *const *files, int n, sqlite3 **out) {
    char err[768];
    sqlite3 *db;
    if (n > MAX_FILES) {
        fprintf(stderr, "taskscope query: at most %d recordings at once (%d given)\n",
                MAX_FILES, n);
        return 2;
    }
    if (ts_store_open_read(files[0], &db, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    char schema[MAX_FILES][8];
    snprintf(schema[0], sizeof schema[0], "main");
    int ok = exec_ok(db, "PRAGMA temp_store = MEMORY");
    for (int i = 1; ok && i < n; i++) {
        snprintf(schema[i], sizeof schema[i], "r%d", i);
        if (attach(db, files[i], i, err, sizeof err)) {
            fprintf(stderr, "taskscope: %s\n", err);
            sqlite3_close(db);
            return 1;
        }
    }
    /* Every table and view of the schema, as one temporary view. */
    sqlite3_stmt *names = NULL;
    ok = ok && sqlite3_prepare_v2(db, "SELECT name FROM main.sqlite_master WHERE type IN "
                                      "('table', 'view') AND name NOT LIKE 'sqlite_%' "
                                      "ORDER BY name", -1, &names, NULL) == SQLITE_OK;
    char *recs = sqlite3_mprintf("CREATE TEMP VIEW recordings AS ");
    while (ok && sqlite3_step(names) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(names, 0);
        char *sql = sqlite3_mprintf("CREATE TEMP VIEW \"%w\" AS ", name);
        for (int i = 0; sql && i < n; i++) {
            char *host = fact(db, schema[i], "host", 0), *pid = fact(db, schema[i], "pid", 1);
            char *next = sqlite3_mprintf("%z%sSELECT %Q AS recording, %s AS host, %s AS pid, * "
                                         "FROM %s.\"%w\"", sql, i ? " UNION ALL " : "",
                                         files[i], host, pid, schema[i], name);
            sqlite3_free(host);
            sqlite3_free(pid);
            sql = next;
        }
        ok = sql && exec_ok(db, sql);
        if (!ok)
            snprintf(err, sizeof err, "%s: %s", name, sqlite3_errmsg(db));
        sqlite3_free(sql);
    }
    sqlite3_finalize(names);
    for (int i = 0; ok && recs && i < n; i++) {
        char *host = fact(db, schema[i], "host", 0), *pid = fact(db, schema[i], "pid", 1);
        char *exe = fact(db, schema[i], "exe", 0), *status = fact(db, schema[i], "status", 0);
        recs = sqlite3_mprintf("%z%sSELECT %Q AS recording, %s AS host, %s AS pid, %s AS exe, "
                               "%s AS status", recs, i ? " UNION ALL " : "", files[i], host, pid,
                               exe, status);
        sqlite3_free(host);
        sqlite3_free(pid);
        sqlite3_free(exe);
        sqlite3_free(status);
    }
    ok = ok && recs && exec_ok(db, recs);
    sqlite3_free(recs);
    if (!ok) {
        fprintf(stderr, "taskscope: query: cannot combine the recordings: %s\n",
                err[0] ? err : sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    *out = db;
    return 0;
}

/* 1 if rest holds nothing but spaces, semicolons and comments. */
static int only_trailer(sqlite3 *db, const char *rest) {
    sqlite3_stmt *next = NULL;
    const char *tail = rest;
    while (*tail) {
        if (sqlite3_prepare_v2(db, tail, -1, &next, &tail) != SQLITE_OK)
            return 0;
        if (next) {
            sqlite3_finalize(next);
            return 0;
        }
    }
    return 1;
}

int cmd_query(int argc, char **argv) {
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    enum fmt fmt = FMT_TABLE;
    int opt;
    const char *chosen = NULL;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
        case 'c':
            if (chosen && fmt != (opt == 'j' ? FMT_JSON : FMT_CSV))
                return cli_usage("query", "%s and %s cannot be used together", chosen,
                                 opt == 'j' ? "--json" : "--csv");
            fmt = opt == 'j' ? FMT_JSON : FMT_CSV;
            chosen = opt == 'j' ? "--json" : "--csv";
            break;
        case 'h':
            fputs(QUERY_HELP, stdout);
            return 0;
        default:
            return cli_bad_option("query", opt, argv);
        }
    }
    if (argc - optind < 2)
        return cli_usage("query", "need a recording and an SQL statement");
    int nfiles = argc - optind - 1;
    const char *file = argv[optind], *sql = argv[argc - 1];
    sqlite3 *db;
    char err[768];
    if (nfiles > 1) {
        /* Several files: each must be a recording, which also catches SQL
         * split over several arguments (quote it as one). */
        for (int i = 0; i < nfiles; i++)
            if (!ts_store_is_recording(argv[optind + i]) && access(argv[optind + i], F_OK))
                return cli_usage("query", "unexpected argument '%s' (no such recording; quote "
                                          "the SQL as one argument)", argv[optind + i]);
        int rc = open_many((const char *const *)argv + optind, nfiles, &db);
        if (rc)
            return rc;
    } else if (ts_store_open_read(file, &db, err, sizeof err)) {
        fprintf(stderr, "taskscope: %s\n", err);
        return 1;
    }
    sqlite3_set_authorizer(db, authorize, NULL);
    sqlite3_stmt *st;
    const char *tail = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
        fprintf(stderr, "taskscope: query: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    int rc;
    if (!st) {
        rc = cli_usage("query", "no SQL statement in '%s'", sql);
    } else if (tail && !only_trailer(db, tail)) {
        rc = cli_usage("query", "one SQL statement at a time; this one goes on after the "
                                "first: '%.60s'", tail + strspn(tail, " \t\r\n;"));
    } else if (!sqlite3_stmt_readonly(st)) {
        fprintf(stderr, "taskscope: query: refused: the statement would write (a recording is "
                        "read-only, and query creates no files)\n");
        rc = 1;
    } else
        rc = run_statement(db, st, fmt);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
