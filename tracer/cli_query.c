/*
 * cli_query.c - `taskscope query FILE SQL [--json|--csv]`: one SQL
 * statement over a recording, printed as aligned columns, CSV or JSON.
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

#include "cli.h"
#include "report.h"
#include "store.h"
#include "textsafe.h"

static const char QUERY_HELP[] =
    "usage: taskscope query [--json|--csv] FILE SQL\n\n"
    "Run one SQL statement over a recording, read-only, and print its rows as\n"
    "aligned columns (or CSV, or a JSON array of objects).  Tables ev_<event>\n"
    "hold every event; views tasks, awaits, blocked, slow_steps, cancellations,\n"
    "warnings, strings and sites are easier to query (`man taskscope-sql`\n"
    "describes every table, view and column).  Text and CSV output show\n"
    "control characters and invalid UTF-8 in values escaped (\\n, \\e, \\xNN;\n"
    "a backslash as \\\\).  Statements that write (VACUUM INTO, ATTACH, ...) are\n"
    "refused, and so is more than one statement per call.  See `man taskscope`.\n\n"
    "  --json   a JSON array of objects (NULL, Inf and NaN as null)\n"
    "  --csv    RFC 4180 CSV with a header line\n";

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
    if (argc - optind > 2)
        return cli_usage("query", "unexpected argument '%s' (quote the SQL as one argument)",
                         argv[optind + 2]);
    const char *file = argv[optind], *sql = argv[optind + 1];
    sqlite3 *db;
    char err[768];
    if (ts_store_open_read(file, &db, err, sizeof err)) {
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
