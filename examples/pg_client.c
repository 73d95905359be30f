/*
 * pg_client.c - an asynchronous PostgreSQL client on libpq.
 *
 * Python (asyncpg):
 *     async def main():
 *         conn = await asyncpg.connect(user='postgres', password='password',
 *                                      database='mydatabase', host='localhost')
 *         await conn.execute('''
 *             CREATE TABLE IF NOT EXISTS users(
 *                 id SERIAL PRIMARY KEY, name TEXT, email TEXT)''')
 *         await conn.execute('''
 *             INSERT INTO users(name, email) VALUES($1, $2)''',
 *             'John Doe', 'john@example.com')
 *         rows = await conn.fetch('SELECT * FROM users')
 *         for row in rows:
 *             print(f"User: {row['name']}, Email: {row['email']}")
 *         await conn.close()
 *
 * libpq has a non-blocking API (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams, PQflush, PQconsumeInput, PQisBusy, PQgetResult): it
 * says which way it waits on its socket, and ts_wait_fd(PQsocket(conn),
 * ...) suspends the task until then.  This is how any non-blocking C
 * library joins the loop: other tasks run while the queries are in flight.
 *
 * The connection string comes from $TASKSCOPE_PG_CONNINFO, else libpq's
 * own environment (PGHOST, PGPORT, PGUSER, ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>
#include <taskscope/taskscope.h>

#define TIMEOUT 30.0   /* seconds for any single wait on the server */

/* Wait until libpq's socket is ready the way it asked for. */
static int wait_socket(PGconn *conn, int events) {
    int r = ts_wait_fd(PQsocket(conn), events, TIMEOUT);
    return r < 0 ? r : 0;
}

/* await asyncpg.connect(...) */
static int pg_connect(const char *conninfo, PGconn **out) {
    PGconn *conn = PQconnectStart(conninfo);
    if (!conn)
        return -ENOMEM;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int err = PQstatus(conn) == CONNECTION_BAD ? -ECONNREFUSED : 0;
    while (!err && st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            err = -ECONNREFUSED;
            break;
        }
        /* The socket may change from one attempt (address) to the next. */
        err = wait_socket(conn, st == PGRES_POLLING_READING ? TS_READABLE : TS_WRITABLE);
        if (!err)
            st = PQconnectPoll(conn);
    }
    if (!err && PQsetnonblocking(conn, 1) != 0)
        err = -EIO;
    if (err) {
        fprintf(stderr, "pg_client: cannot connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return err;
    }
    *out = conn;
    return 0;
}

/* Send the query, then collect its result: the last one libpq returns. */
static int pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                    PGresult **out) {
    if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
        return -EIO;
    int err = 0, f;
    while (!err && (f = PQflush(conn)) != 0) {   /* the query may not fit at once */
        err = f < 0 ? -EIO : wait_socket(conn, TS_READABLE | TS_WRITABLE);
        if (!err && !PQconsumeInput(conn))
            err = -EIO;
    }
    PGresult *last = NULL, *res;
    for (;;) {
        while (!err && PQisBusy(conn)) {
            err = wait_socket(conn, TS_READABLE);
            if (!err && !PQconsumeInput(conn))
                err = -EIO;
        }
        if (err || !(res = PQgetResult(conn)))
            break;
        PQclear(last);
        last = res;
    }
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    if (!err && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "pg_client: %s", PQerrorMessage(conn));
        err = -EIO;
    }
    if (err)
        PQclear(last);
    else
        *out = last;
    return err;
}

/* conn.execute(sql, *params) */
static int pg_execute(PGconn *conn, const char *sql, int nparams, const char *const *params) {
    PGresult *res;
    int err = pg_query(conn, sql, nparams, params, &res);
    if (!err)
        PQclear(res);
    return err;
}

static void quiet(void *arg, const char *message) {
    (void)arg;
    (void)message; /* NOTICEs such as "relation already exists, skipping" */
}

static void *amain(void *arg) {
    (void)arg;
    const char *conninfo = getenv("TASKSCOPE_PG_CONNINFO");
    PGconn *conn = NULL;
    int err = pg_connect(conninfo ? conninfo : "", &conn);
    if (!err) {
        PQsetNoticeProcessor(conn, quiet, NULL);
        err = pg_execute(conn,
                         "CREATE TABLE IF NOT EXISTS users("
                         "    id SERIAL PRIMARY KEY,"
                         "    name TEXT,"
                         "    email TEXT)",
                         0, NULL);
    }
    if (!err) {
        const char *params[] = {"John Doe", "john@example.com"};
        err = pg_execute(conn, "INSERT INTO users(name, email) VALUES($1, $2)", 2, params);
    }
    PGresult *rows = NULL;
    if (!err)
        err = pg_query(conn, "SELECT * FROM users", 0, NULL, &rows);
    if (!err) {
        int name = PQfnumber(rows, "name"), email = PQfnumber(rows, "email");
        for (int i = 0; i < PQntuples(rows); i++)
            printf("User: %s, Email: %s\n", PQgetvalue(rows, i, name),
                   PQgetvalue(rows, i, email));
        PQclear(rows);
    }
    PQfinish(conn);   /* await conn.close() */
    return err ? ts_fail(err, "database session failed") : NULL;
}

int main(void) {
    int err = ts_run(amain, NULL);
    if (err) {
        fprintf(stderr, "pg_client: %s\n", ts_strerror(err));
        return 1;
    }
    return 0;
}
