/*
 * store_ddl.h - the SQL a recording holds besides the event tables: the
 * views for people, the warnings table, and the small lookup tables
 * (system call names, thread states) those views join.
 *
 * This is the one definition of that SQL (DESIGN.md, "one event schema"):
 * the event tables ev_<name> are generated from events.def by the store;
 * everything here is written as is by tracer/store.c when it creates a
 * recording, and documented for users in schemas/README.md.
 *
 * Path form: every view names a source location the way the text reports
 * do, "file.c:12 in func()" (the file's base name), so a row of a query
 * and a line of `taskscope ps` can be compared by eye.  SQLite has no
 * basename(): BASE(x) below is substr(x, length(rtrim(x, <x without
 * slashes>)) + 1), i.e. what follows the last '/'.
 */
#ifndef TS_SCHEMAS_STORE_DDL_H
#define TS_SCHEMAS_STORE_DDL_H

/* Bumped when a table or view below changes shape (session key
 * "ddl_version"); reports' JSON carries TS_REPORT_FORMAT_VERSION. */
#define TS_STORE_DDL_VERSION 3

/* Processes (version 3).  A recording holds the traced process and the
 * children it forked that were followed (`run`, `top --`): every event
 * table ev_<name> has a last column pid, and so does every view below.
 * Ids (tasks, loops, strings, sites, resources) are each process's own:
 * two processes may both have a task 1, so a row is named by (pid, id)
 * and every view joins on pid too.  A recording made before version 3
 * has no pid columns: it is one process, the session's "pid".
 * process has one row per process recorded: its parent (NULL for the
 * process the session traced), executable, how its recording ended and
 * the events it dropped. */
#define TS_DDL_PROCESS_TABLE                                                         \
    "CREATE TABLE IF NOT EXISTS process(pid INTEGER PRIMARY KEY, parent INTEGER,\n"  \
    "  exe TEXT, status TEXT, dropped INTEGER, events INTEGER);\n"

/* One row per warning the live model raised while recording (deadlock
 * cycle, stuck task, blocked loop, slow step, never retrieved, never
 * awaited, destroyed pending, drops), written when it was raised and
 * rewritten when it changed (a blocked episode's text gets its full
 * duration once it ends).  id orders them as they were raised; pid is
 * the process whose model raised it and wid that model's own number for
 * it (the key a rewrite finds it by). */
#define TS_DDL_WARNING_TABLE                                                         \
    "CREATE TABLE IF NOT EXISTS warning(id INTEGER PRIMARY KEY, ns INTEGER NOT NULL,\n" \
    "  kind TEXT NOT NULL, task INTEGER, resource INTEGER, text TEXT NOT NULL,\n"    \
    "  pid INTEGER, wid INTEGER, UNIQUE(pid, wid));\n"

/* Lookup tables, filled at creation: syscall(nr, name) from the kernel's
 * list (generated at build time), thread_state(code, name) from proc(5). */
#define TS_DDL_LOOKUP_TABLES                                                         \
    "CREATE TABLE IF NOT EXISTS syscall(nr INTEGER PRIMARY KEY, name TEXT NOT NULL);\n" \
    "CREATE TABLE IF NOT EXISTS thread_state(code TEXT PRIMARY KEY, name TEXT NOT NULL);\n" \
    "INSERT OR IGNORE INTO thread_state VALUES ('R','running on CPU'),('S','sleeping'),\n" \
    "  ('D','uninterruptible sleep'),('T','stopped'),('t','stopped by a tracer'),\n"   \
    "  ('Z','zombie'),('X','dead'),('I','idle'),('P','parked'),('W','paging');\n"

#define TS_DDL_BASE(x) "substr(" x ", length(rtrim(" x ", replace(" x ", '/', ''))) + 1)"

/* Strings and sites are interned once per ring, and again after drops
 * or in a state dump: a recording may hold an id twice (same text).
 * Views therefore look an id up (LIMIT 1, through the id indexes) rather
 * than join on it, which would repeat a task once per copy. */
#define TS_DDL_STR(id, pid) "(SELECT text FROM ev_string WHERE id = " id " AND pid = " pid " LIMIT 1)"
#define TS_DDL_SITE(id, pid)                                                          \
    "(SELECT " TS_DDL_BASE("zf.text") " || ':' || zs.line || ' in ' || ifnull(zfn.text, '?') || '()'\n" \
    "    FROM ev_site zs LEFT JOIN ev_string zf ON zf.id = zs.file AND zf.pid = zs.pid\n" \
    "    LEFT JOIN ev_string zfn ON zfn.id = zs.func AND zfn.pid = zs.pid\n"          \
    "    WHERE zs.id = " id " AND zs.pid = " pid " LIMIT 1)"
/* The name of task `id` of process `pid`. */
#define TS_DDL_TASK_NAME(id, pid) "(SELECT name FROM tasks t WHERE t.id = " id " AND t.pid = " pid " LIMIT 1)"

#define TS_DDL_VIEWS                                                                  \
    "CREATE VIEW IF NOT EXISTS strings AS SELECT id, min(text) AS text, pid FROM ev_string\n" \
    "  GROUP BY pid, id;\n"                                                              \
    "CREATE VIEW IF NOT EXISTS sites AS SELECT s.id, " TS_DDL_STR("s.file", "s.pid") " AS file,\n" \
    "  " TS_DDL_STR("s.func", "s.pid") " AS func, s.line, " TS_DDL_SITE("s.id", "s.pid") " AS site,\n" \
    "  s.pid FROM ev_site s\n"                                                           \
    "  WHERE s.seq = (SELECT min(seq) FROM ev_site x WHERE x.id = s.id AND x.pid = s.pid);\n" \
    "CREATE VIEW IF NOT EXISTS tasks AS SELECT c.task AS id, nullif(c.parent, 0) AS parent,\n" \
    "  c.loop, " TS_DDL_STR("c.name", "c.pid") " AS name, " TS_DDL_SITE("c.site", "c.pid") " AS spawn_site,\n" \
    "  c.ns AS created_ns, d.ns AS done_ns,\n"                                         \
    "  CASE d.state WHEN 3 THEN 'done' WHEN 4 THEN 'failed' WHEN 5 THEN 'cancelled'\n"   \
    "    WHEN 6 THEN 'lost' ELSE 'live' END AS state,\n"                                  \
    "  nullif(d.err, 0) AS err, " TS_DDL_STR("d.message", "d.pid") " AS error_message, c.pid\n" \
    "  FROM ev_task_create c LEFT JOIN ev_task_done d ON d.task = c.task AND d.pid = c.pid;\n" \
    "CREATE VIEW IF NOT EXISTS awaits AS SELECT s.seq, s.task,\n"                      \
    "  " TS_DDL_TASK_NAME("s.task", "s.pid") " AS task_name,\n"                        \
    "  CASE s.kind WHEN 1 THEN 'task' WHEN 2 THEN 'future' WHEN 3 THEN 'sleep' WHEN 4 THEN 'yield'\n" \
    "    WHEN 5 THEN 'lock' WHEN 6 THEN 'event' WHEN 7 THEN 'condition' WHEN 8 THEN 'semaphore'\n" \
    "    WHEN 9 THEN 'barrier' WHEN 10 THEN 'queue_get' WHEN 11 THEN 'queue_put' WHEN 12 THEN 'queue_join'\n" \
    "    WHEN 13 THEN 'fd' WHEN 14 THEN 'executor' WHEN 15 THEN 'generator' WHEN 16 THEN 'group'\n" \
    "    ELSE 'other' END AS kind, s.object, " TS_DDL_SITE("s.site", "s.pid") " AS await_site,\n" \
    "  s.ns AS start_ns,\n"                                                            \
    "  (SELECT w.ns FROM ev_task_wake w WHERE w.task = s.task AND w.pid = s.pid AND w.seq > s.seq\n" \
    "    ORDER BY w.seq LIMIT 1) - s.ns AS duration_ns,\n"                             \
    "  (SELECT w.status FROM ev_task_wake w WHERE w.task = s.task AND w.pid = s.pid AND w.seq > s.seq\n" \
    "    ORDER BY w.seq LIMIT 1) AS wake_status, s.pid\n"                              \
    "  FROM ev_task_suspend s;\n"                                                      \
    "CREATE VIEW IF NOT EXISTS blocked AS SELECT b.seq, b.loop, b.task,\n"             \
    "  ifnull(" TS_DDL_TASK_NAME("b.task", "b.pid") ",\n"                               \
    "    " TS_DDL_STR("nullif(b.name, 0)", "b.pid") ") AS task_name,\n"                   \
    "  b.elapsed_ns AS seen_after_ns, u.duration_ns, b.tid, char(b.thread_state) AS thread_state,\n" \
    "  ts.name AS thread_state_name, nullif(b.syscall, -1) AS syscall,\n"               \
    "  CASE WHEN b.syscall < 0 THEN NULL ELSE ifnull(sc.name, 'syscall ' || b.syscall) END\n" \
    "    AS syscall_name, b.stack, b.pid\n"                                            \
    "  FROM ev_loop_blocked b LEFT JOIN ev_loop_unblocked u\n"                         \
    "    ON u.loop = b.loop AND u.step = b.step AND u.pid = b.pid\n"                   \
    "  LEFT JOIN thread_state ts ON ts.code = char(b.thread_state)\n"                   \
    "  LEFT JOIN syscall sc ON sc.nr = b.syscall;\n"                                   \
    "CREATE VIEW IF NOT EXISTS slow_steps AS SELECT s.seq, s.loop, s.task,\n"          \
    "  " TS_DDL_TASK_NAME("s.task", "s.pid") " AS task_name,\n"                        \
    "  s.duration_ns, s.pid FROM ev_slow_step s;\n"                                    \
    "CREATE VIEW IF NOT EXISTS cancellations AS SELECT c.seq, c.ns, c.task,\n"         \
    "  " TS_DDL_TASK_NAME("c.task", "c.pid") " AS task_name,\n"                        \
    "  nullif(c.by_task, 0) AS by_task,\n"                                             \
    "  ifnull(" TS_DDL_TASK_NAME("c.by_task", "c.pid") ",\n"                            \
    "    (SELECT 'taskscope cancel (pid ' || r.requester || ')' FROM ev_cancel_request r\n" \
    "     WHERE r.task = c.task AND r.pid = c.pid AND r.result = 0 AND r.seq < c.seq\n"   \
    "     ORDER BY r.seq DESC LIMIT 1))\n"                                                \
    "    AS by_name,\n"                                                                   \
    "  c.requests, " TS_DDL_STR("c.message", "c.pid") " AS message, c.pid FROM ev_task_cancel c;\n" \
    "CREATE VIEW IF NOT EXISTS warnings AS SELECT w.id, w.ns AS time_ns,\n"             \
    "  (w.ns - (SELECT min(ns) FROM ev_task_create)) / 1e9 AS time_s, w.kind, w.task,\n" \
    "  " TS_DDL_TASK_NAME("w.task", "w.pid") " AS task_name,\n"                        \
    "  w.resource, w.text, w.pid FROM warning w ORDER BY w.id;\n"                      \
    "CREATE VIEW IF NOT EXISTS processes AS SELECT p.pid, p.parent, p.exe, p.status,\n" \
    "  p.dropped, p.events,\n"                                                         \
    "  (SELECT count(*) FROM ev_task_create c WHERE c.pid = p.pid) AS tasks FROM process p;\n" \
    TS_DDL_VIEWS_NOTES TS_DDL_RESOURCES_VIEW TS_DDL_FDS_VIEW

/* Issue 15: user fields (the current value of each key: the latest
 * setting, an empty value being a removal; a state dump repeats them),
 * log lines, and the stacks state dumps walked for parked tasks (pcs: a
 * blob of 64-bit little-endian return addresses, innermost first).  Key
 * and value are cut by bytes (key_len), hence the casts to BLOB.  Ids are
 * per process: every join is on pid too. */
#define TS_DDL_FIELD_KEY "CAST(substr(CAST(f.text AS BLOB), 1, f.key_len) AS TEXT)"
#define TS_DDL_VIEWS_NOTES                                                            \
    "CREATE VIEW IF NOT EXISTS fields AS SELECT f.seq, f.ns, f.task,\n"                \
    "  " TS_DDL_TASK_NAME("f.task", "f.pid") " AS task_name,\n"                        \
    "  " TS_DDL_FIELD_KEY " AS key,\n"                                                  \
    "  CAST(substr(CAST(f.text AS BLOB), f.key_len + 1) AS TEXT) AS value, f.pid\n"     \
    "  FROM ev_task_field f WHERE f.len > f.key_len AND NOT EXISTS (SELECT 1 FROM ev_task_field g\n" \
    "    WHERE g.task = f.task AND g.pid = f.pid AND g.seq > f.seq AND g.key_len = f.key_len\n" \
    "    AND substr(CAST(g.text AS BLOB), 1, g.key_len) = substr(CAST(f.text AS BLOB), 1, f.key_len));\n" \
    "CREATE VIEW IF NOT EXISTS logs AS SELECT l.seq, l.ns, nullif(l.task, 0) AS task,\n" \
    "  " TS_DDL_TASK_NAME("l.task", "l.pid") " AS task_name, l.text, l.pid\n"          \
    "  FROM ev_log l;\n"                                                                \
    "CREATE VIEW IF NOT EXISTS task_stacks AS SELECT s.seq, s.ns, s.task,\n"           \
    "  " TS_DDL_TASK_NAME("s.task", "s.pid") " AS task_name,\n"                        \
    "  s.depth, s.flags, s.pcs, s.pid FROM ev_task_stack s;\n"

/* Issue 15: one row per resource (lock, event, condition, semaphore,
 * barrier, queue) and per future, as people name it: kind, name (the
 * last ts_*_set_name before it was freed), creation site.  A state dump
 * repeats a live resource's resource_create: only the first of a run
 * with no free in between is a row.  An address reused after a free is a
 * new row.  Ids (and addresses) are per process: joins are on pid too. */
#define TS_DDL_RESOURCES_VIEW                                                          \
    "CREATE VIEW IF NOT EXISTS resources AS SELECT r.id,\n"                            \
    "  r.kind, " TS_DDL_STR("(SELECT n.name FROM ev_resource_name n WHERE n.resource = r.id\n" \
    "    AND n.pid = r.pid AND n.seq > r.seq AND n.seq < ifnull(r.end_seq, 9e18)\n"      \
    "    ORDER BY n.seq DESC LIMIT 1)", "r.pid")                                          \
    " AS name,\n"                                                                     \
    "  " TS_DDL_SITE("r.site", "r.pid") " AS site, r.capacity, r.created_ns,\n"       \
    "  (SELECT e.ns FROM ev_resource_free e WHERE e.seq = r.end_seq AND e.pid = r.pid UNION ALL\n" \
    "   SELECT e.ns FROM ev_future_done e WHERE e.seq = r.end_seq AND e.pid = r.pid LIMIT 1)\n" \
    "    AS ended_ns, r.pid\n"                                                          \
    "  FROM (SELECT c.resource AS id, c.seq,\n"                                       \
    "    CASE c.kind WHEN 1 THEN 'lock' WHEN 2 THEN 'event' WHEN 3 THEN 'condition'\n"   \
    "      WHEN 4 THEN 'semaphore' WHEN 5 THEN 'barrier' WHEN 6 THEN 'queue' ELSE 'other' END AS kind,\n" \
    "    c.site, nullif(c.capacity, 0) AS capacity, c.ns AS created_ns,\n"              \
    "    (SELECT min(f.seq) FROM ev_resource_free f WHERE f.resource = c.resource\n"     \
    "      AND f.pid = c.pid AND f.seq > c.seq) AS end_seq, c.pid\n"                    \
    "    FROM ev_resource_create c WHERE NOT EXISTS (SELECT 1 FROM ev_resource_create p\n" \
    "      WHERE p.resource = c.resource AND p.pid = c.pid AND p.seq < c.seq AND NOT EXISTS (SELECT 1\n" \
    "        FROM ev_resource_free f WHERE f.resource = c.resource AND f.pid = c.pid\n"  \
    "        AND f.seq > p.seq AND f.seq < c.seq))\n"                                    \
    "  UNION ALL SELECT c.future, c.seq, 'future', c.site, NULL, c.ns,\n"               \
    "    (SELECT min(d.seq) FROM ev_future_done d WHERE d.future = c.future AND d.pid = c.pid\n" \
    "      AND d.seq > c.seq), c.pid\n"                                                 \
    "    FROM ev_future_create c) r;\n"

/* Issue 19: what each fd was, from the fd_info events (one row each: an
 * fd reused later is a new row; the one a wait meant is the latest row
 * for its fd before the wait began).  address: a socket's "peer <- local"
 * (a listener's or bound socket's local address alone) or a file's path,
 * as the runtime recorded it (user-controlled text: escape it on a
 * terminal). */
#define TS_DDL_FDS_VIEW                                                                \
    "CREATE VIEW IF NOT EXISTS fds AS SELECT f.seq, f.ns, f.fd,\n"                     \
    "  CASE f.kind WHEN 1 THEN 'tcp' WHEN 2 THEN 'udp' WHEN 3 THEN 'unix'\n"          \
    "    WHEN 4 THEN 'unix_dgram' WHEN 5 THEN 'file' ELSE 'other' END AS kind,\n"       \
    "  CASE f.how WHEN 1 THEN 'connected' WHEN 2 THEN 'accepted' WHEN 3 THEN 'listening'\n" \
    "    WHEN 4 THEN 'bound' WHEN 5 THEN 'opened' WHEN 6 THEN 'connecting'\n"      \
    "    WHEN 7 THEN 'closed' ELSE 'other' END AS how,\n"           \
    "  f.text AS address, f.pid FROM ev_fd_info f;\n"

#endif
