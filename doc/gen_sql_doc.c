/*
 * gen_sql_doc.c - writes taskscope-sql(7), the reference of a recording's
 * SQL schema, from the schema the store really creates.
 *
 *   gen_sql_doc DESCRIPTIONS OUT          write the man page to OUT
 *   gen_sql_doc --check DESCRIPTIONS OUT  the same, then exit 1 if any table,
 *                                         view or column has no description,
 *                                         or a description names something
 *                                         the store does not create
 *   gen_sql_doc --objects RECORDING       print the tables and views of a
 *                                         recording, one per line (the
 *                                         sql_doc test compares them with
 *                                         the page's list)
 *
 * It creates a recording with the tracer's store (ts_store_create and
 * ts_store_close, exactly what `taskscope run` does) in a temporary
 * directory, and walks its sqlite_master and PRAGMA table_info.  So the
 * page lists what the store creates, never what someone remembered: a
 * new view or column appears in it at the next build.  The words come
 * from schemas/events.def for the ev_<event> tables and from
 * DESCRIPTIONS (doc/sql-columns.txt) for everything else; --check (the
 * sql_doc test) fails on a description of something the store does not
 * create, so stale words cannot stay either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "reader.h"
#include "store.h"

/* ---- DESCRIPTIONS ------------------------------------------------------------ */

typedef struct column_doc {
    char *name, *text;
    int used;
} column_doc;

typedef struct object_doc {
    char *name;
    char *text;              /* roff, may span lines */
    column_doc *cols;
    int ncols, used;
} object_doc;

static object_doc *objs;
static int nobjs;
static char *prologue, *epilogue;

static char *append(char *s, const char *line) {
    size_t a = s ? strlen(s) : 0, b = strlen(line);
    char *r = realloc(s, a + b + 2);
    if (!r) {
        perror("gen_sql_doc");
        exit(2);
    }
    memcpy(r + a, line, b);
    r[a + b] = '\n';
    r[a + b + 1] = 0;
    return r;
}

/* A "column: text" line: a lower-case identifier, a colon, a space. */
static int column_line(const char *line, size_t *namelen) {
    size_t n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (n == 0 || line[n] != ':' || line[n + 1] != ' ')
        return 0;
    *namelen = n;
    return 1;
}

static void read_descriptions(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    char line[4096];
    char **block = NULL;  /* prologue or epilogue being read */
    object_doc *o = NULL;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == '#')
            continue;
        if (!strcmp(line, "[prologue]") || !strcmp(line, "[epilogue]")) {
            block = line[1] == 'p' ? &prologue : &epilogue;
            o = NULL;
        } else if (!strncmp(line, "[object ", 8)) {
            block = NULL;
            objs = realloc(objs, (size_t)(nobjs + 1) * sizeof *objs);
            o = &objs[nobjs++];
            memset(o, 0, sizeof *o);
            o->name = strndup(line + 8, strcspn(line + 8, "]"));
        } else if (block) {
            if (line[0])   /* a blank line in roff is a blank output line */
                *block = append(*block, line);
        } else if (o) {
            size_t n;
            if (column_line(line, &n)) {
                o->cols = realloc(o->cols, (size_t)(o->ncols + 1) * sizeof *o->cols);
                column_doc *c = &o->cols[o->ncols++];
                c->name = strndup(line, n);
                c->text = strdup(line + n + 2);
                c->used = 0;
            } else if (line[0] && o->ncols == 0) {
                o->text = append(o->text, line);
            } else if (line[0]) {
                fprintf(stderr, "%s: in [object %s], '%s' is not a 'column: text' line\n", path,
                        o->name, line);
                exit(2);
            }
        }
    }
    fclose(f);
}

/* Everything read_descriptions allocated (the sanitizer build checks leaks
 * of the programs it runs at build time too). */
static void free_descriptions(void) {
    for (int i = 0; i < nobjs; i++) {
        for (int c = 0; c < objs[i].ncols; c++) {
            free(objs[i].cols[c].name);
            free(objs[i].cols[c].text);
        }
        free(objs[i].cols);
        free(objs[i].name);
        free(objs[i].text);
    }
    free(objs);
    free(prologue);
    free(epilogue);
}

static object_doc *object_doc_of(const char *name) {
    for (int i = 0; i < nobjs; i++)
        if (!strcmp(objs[i].name, name))
            return &objs[i];
    return NULL;
}

static const char *column_doc_of(object_doc *o, const char *name) {
    for (int i = 0; o && i < o->ncols; i++)
        if (!strcmp(o->cols[i].name, name)) {
            o->cols[i].used = 1;
            return o->cols[i].text;
        }
    return NULL;
}

/* ---- the ev_<event> tables, from events.def ------------------------------- */

static const ts_event_desc *event_of_table(const char *table) {
    if (strncmp(table, "ev_", 3))
        return NULL;
    for (unsigned id = 1; id <= TS_EV_MAX_ID; id++) {
        const ts_event_desc *d = ts_event_desc_of(id);
        if (d && !strcmp(d->name, table + 3))
            return d;
    }
    return NULL;
}

static const char *event_column_doc(const ts_event_desc *d, const char *col) {
    if (!strcmp(col, "seq"))
        return "the event's place in the global order of the recording (all tables)";
    if (!strcmp(col, "ns"))
        return "when it happened, ns on CLOCK_MONOTONIC";
    if (!strcmp(col, "thread"))
        return "kernel thread id of the thread that emitted it";
    if (!strcmp(col, "pid"))
        return "the process that emitted it (the traced one or a followed child; ids are "
               "per process)";
    for (int f = 0; f < d->nfields; f++)
        if (!strcmp(d->fields[f].name, col))
            return d->fields[f].doc;
    if (d->tail && !strcmp(d->tail->name, col))
        return d->tail->doc;
    return NULL;
}

/* ---- output ------------------------------------------------------------------- */

/* roff: a leading dot or quote would be a request; backslashes escape. */
static void roff_text(FILE *out, const char *s) {
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static int undocumented;

static void missing(const char *what, const char *obj, const char *col) {
    fprintf(stderr, "gen_sql_doc: %s %s%s%s has no description: add it to doc/sql-columns.txt\n",
            what, obj, col ? "." : "", col ? col : "");
    undocumented++;
}

static int describe_object(FILE *out, sqlite3 *db, const char *name, const char *type) {
    const ts_event_desc *ev = event_of_table(name);
    object_doc *o = object_doc_of(name);
    if (o)
        o->used = 1;
    fprintf(out, ".SS %s (%s)\n", name, type);
    if (ev) {
        fputs("Every ", out);
        roff_text(out, ev->name);
        fputs(" event: ", out);
        roff_text(out, ev->doc);
        fputs(".\n", out);
    } else if (o && o->text) {
        fputs(o->text, out);
    } else {
        missing(type, name, NULL);
        fputs("(not described yet)\n", out);
    }
    char sql[512];
    snprintf(sql, sizeof sql, "PRAGMA table_info(\"%s\")", name);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *col = (const char *)sqlite3_column_text(st, 1);
        const char *ctype = (const char *)sqlite3_column_text(st, 2);
        const char *doc = ev ? event_column_doc(ev, col) : column_doc_of(o, col);
        if (!doc)
            missing(type, name, col);
        fprintf(out, ".TP\n.B %s\n", col);
        if (ctype && *ctype)
            fprintf(out, ".RI [ %s ]\n", ctype);
        roff_text(out, doc ? doc : "(not described yet)");
        fputc('\n', out);
    }
    sqlite3_finalize(st);
    return 0;
}

/* Tables and views, views first (what people query), then by name. */
static const char OBJECTS_SQL[] =
    "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
    "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type = 'table', "
    "name LIKE 'ev\\_%' ESCAPE '\\', name";

static int write_page(sqlite3 *db, FILE *out) {
    fputs(".\\\" Generated by doc/gen_sql_doc.c from the schema of a real recording and\n"
          ".\\\" doc/sql-columns.txt.  Do not edit: edit those.\n", out);
    fputs(".TH TASKSCOPE-SQL 7 \"\" \"taskscope " TS_PROJECT_VERSION "\" \"taskscope\"\n"
          ".nh\n"
          ".SH NAME\ntaskscope-sql \\- the SQL tables and views of a taskscope recording\n",
          out);
    if (prologue)
        fputs(prologue, out);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, OBJECTS_SQL, -1, &st, NULL) != SQLITE_OK)
        return -1;
    static const char *const SECTIONS[] = {"VIEWS", "TABLES", "EVENT TABLES"};
    int section = -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        int want = !strcmp(type, "view") ? 0 : strncmp(name, "ev_", 3) ? 1 : 2;
        if (want != section) {
            section = want;
            fprintf(out, ".SH %s\n", SECTIONS[section]);
            if (section == 2)
                fprintf(out, "One table per event type of the trace format (schema version "
                             "%d), named ev_\\fIevent\\fR; its other columns are the "
                             "event's fields.  seq, ns and thread come first in every one, pid last.\n",
                        TS_SCHEMA_VERSION);
        }
        char *n = strdup(name), *t = strdup(type);
        int rc = describe_object(out, db, n, t);
        free(n);
        free(t);
        if (rc) {
            sqlite3_finalize(st);
            return -1;
        }
    }
    sqlite3_finalize(st);
    if (epilogue)
        fputs(epilogue, out);
    return 0;
}

static int stale_descriptions(void) {
    int stale = 0;
    for (int i = 0; i < nobjs; i++) {
        if (!objs[i].used) {
            fprintf(stderr, "gen_sql_doc: doc/sql-columns.txt describes %s, which a recording "
                            "does not have\n", objs[i].name);
            stale++;
            continue;
        }
        for (int c = 0; c < objs[i].ncols; c++)
            if (!objs[i].cols[c].used) {
                fprintf(stderr, "gen_sql_doc: doc/sql-columns.txt describes %s.%s, which a "
                                "recording does not have\n", objs[i].name, objs[i].cols[c].name);
                stale++;
            }
    }
    return stale;
}

static int list_objects(const char *path) {
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "gen_sql_doc: %s: %s\n", path, sqlite3_errmsg(db));
        return 2;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, OBJECTS_SQL, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "gen_sql_doc: %s: %s\n", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 2;
    }
    while (sqlite3_step(st) == SQLITE_ROW)
        printf("%s\n", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return 0;
}

int main(int argc, char **argv) {
    int check = 0;
    if (argc == 3 && !strcmp(argv[1], "--objects"))
        return list_objects(argv[2]);
    if (argc > 1 && !strcmp(argv[1], "--check")) {
        check = 1;
        argc--;
        argv++;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: gen_sql_doc [--check] DESCRIPTIONS OUT\n"
                        "       gen_sql_doc --objects RECORDING\n");
        return 2;
    }
    read_descriptions(argv[1]);

    /* A real, empty recording, made the way the CLI makes one, in
     * $TMPDIR (else /tmp): the sql_doc test runs this too. */
    const char *tmp = getenv("TMPDIR");
    char dir[1024];
    int n = snprintf(dir, sizeof dir, "%s/gen_sql_doc.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof dir) {
        fprintf(stderr, "gen_sql_doc: $TMPDIR is too long\n");
        return 2;
    }
    if (!mkdtemp(dir)) {
        perror("gen_sql_doc: mkdtemp");
        return 2;
    }
    char path[sizeof dir + 16];
    snprintf(path, sizeof path, "%s/rec.db", dir);
    char err[512];
    ts_store *store;
    if (ts_store_create(path, &store, err, sizeof err) ||
        ts_store_close(store, "complete: generated for the documentation", 0)) {
        fprintf(stderr, "gen_sql_doc: %s\n", err);
        return 2;
    }
    sqlite3 *db;
    int rc = 2;
    FILE *out = fopen(argv[2], "w");
    if (!out)
        perror(argv[2]);
    else if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fprintf(stderr, "gen_sql_doc: %s: %s\n", path, sqlite3_errmsg(db));
    else {
        rc = write_page(db, out) ? 2 : 0;
        if (rc)
            fprintf(stderr, "gen_sql_doc: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    if (out && fclose(out) != 0)
        rc = 2;
    /* the recording and its side files */
    char side[sizeof path + 8];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
    if (rc) {
        free_descriptions();
        return rc;
    }
    /* At build time these are warnings (the page is still written);
     * the sql_doc test runs --check, which fails on them. */
    int stale = stale_descriptions();
    free_descriptions();
    if (check && (undocumented || stale)) {
        fprintf(stderr, "gen_sql_doc: %d undescribed and %d stale descriptions\n", undocumented,
                stale);
        return 1;
    }
    return 0;
}
