#!/usr/bin/env python3
"""test_record.py - examples recorded with `taskscope run`, then every way
of reading the recording: the database itself (tables, views, the
session facts, events, task names, spawn and await sites against the
source), ps / pstree / blocked / stats as text and --json, query as a
table, --json and --csv, and the Perfetto/Chrome export (valid JSON,
slices that nest per track, spawn and wake flows)."""
import csv
import io
import json
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, CheckFailed, check_nesting, expect, example,  # noqa: E402
                         record, rows, session, source_line, taskscope, taskscope_json)

VIEWS = ["tasks", "awaits", "blocked", "slow_steps", "cancellations", "strings", "sites"]
CORE_TABLES = ["ev_string", "ev_site", "ev_task_create", "ev_task_resume", "ev_task_suspend",
               "ev_task_wake", "ev_task_cancel", "ev_task_done", "ev_task_free", "ev_task_state",
               "ev_loop_create", "ev_loop_blocked", "ev_loop_unblocked", "ev_slow_step",
               "ev_stack", "ev_module", "ev_dropped", "ev_resource_create"]

# What each example must show: task names with how many of each, the
# line of the spawn call for each non-main name, and an await site.
EXAMPLES = {
    "gather": {
        "names": {"main": 1, "fetch_data": 3},
        "spawn": {"fetch_data": "ts_spawn(fetch_data"},
        "await": ("fetch_data", "sleep", "int err = ts_sleep(2.0);"),
        "states": {"main": "done", "fetch_data": "done"},
    },
    "lock_counter": {
        "names": {"main": 1, "increment_counter": 10},
        "spawn": {"increment_counter": "ts_spawn(increment_counter"},
        "await": ("increment_counter", "sleep", "err = ts_sleep(0.1);"),
        # a lock taken in TS_WITH waits at the TS_WITH line, not in with.c
        "await2": ("increment_counter", "lock", "TS_WITH(&ts_lock_cm"),
        "states": {"main": "done", "increment_counter": "done"},
    },
    "producer_consumer": {
        "names": {"main": 1, "producer-0": 1, "producer-1": 1, "producer-2": 1,
                  "consumer-0": 1, "consumer-1": 1},
        "spawn": {"producer-0": "ts_spawn_with(&opts, fn", "consumer-1": "ts_spawn_with(&opts, fn"},
        "await": ("producer-1", "sleep", "err = ts_sleep(random_uniform(0.1, 0.5));"),
        "states": {"main": "done", "producer-0": "cancelled", "consumer-0": "cancelled"},
    },
}


def recorded(c, name):
    """Record the example once (into a path with awkward characters, so
    every report must quote its source properly) and return the path."""
    path = c.path('%s "rec" \\ %s.db' % (name, name))
    if not os.path.exists(path):
        p = record(path, [example(name)])
        expect(p.returncode == 0, "taskscope run %s: exit %d\n%s" % (name, p.returncode, p.stderr))
        expect("events from pid" in p.stderr and "recorded to" in p.stderr,
               "taskscope run %s: no summary on stderr: %r" % (name, p.stderr))
        expect(p.stdout.strip(), "the program's own output did not come through")
    return path


def database(c, name):
    path = recorded(c, name)
    objs = dict(rows(path, "SELECT name, type FROM sqlite_master"))
    for t in CORE_TABLES:
        expect(objs.get(t) == "table", "table %s missing (have %s)" % (t, sorted(objs)))
    for v in VIEWS:
        expect(objs.get(v) == "view", "view %s missing" % v)
    expect(rows(path, "PRAGMA user_version")[0][0] >= 1, "no schema version")
    # Finished: back in rollback mode, so reading needs no -shm (issue 12).
    expect(rows(path, "PRAGMA journal_mode")[0][0] == "delete", "still in WAL mode")
    for side in ("-wal", "-shm"):
        expect(not os.path.exists(path + side), "%s%s left behind" % (path, side))
    s = session(path)
    expect(s.get("status") == "complete: exit status 0", "status %r" % s.get("status"))
    expect(s.get("exe", "").endswith("/" + name), "exe %r" % s.get("exe"))
    expect(s.get("pid", "").isdigit(), "pid %r" % s.get("pid"))
    expect(s.get("dropped") == "0", "dropped %r" % s.get("dropped"))
    # Every event has one global seq; the session's count is the rows'.
    tables = [t for t, k in objs.items() if k == "table" and t.startswith("ev_")]
    seqs = []
    for t in tables:
        seqs += [r[0] for r in rows(path, "SELECT seq FROM %s" % t)]
    expect(len(seqs) == len(set(seqs)), "a seq appears in two tables")
    expect(str(len(seqs)) == s.get("events"),
           "session says %s events, the tables hold %d" % (s.get("events"), len(seqs)))
    expect(sorted(seqs) == list(range(1, len(seqs) + 1)), "seq is not 1..N")
    # Each thread's events are in time order.
    union = " UNION ALL ".join("SELECT seq, ns, thread FROM %s" % t for t in tables)
    last = {}
    for seq, ns, thread in rows(path, union + " ORDER BY seq"):
        expect(ns >= last.get(thread, 0), "thread %d goes back in time at seq %d" % (thread, seq))
        last[thread] = ns
    # Tasks: names, counts, states, parents, spawn sites.
    spec = EXAMPLES[name]
    tasks = rows(path, "SELECT id, parent, name, spawn_site, state, created_ns, done_ns FROM tasks")
    got = Counter(t[2] for t in tasks)
    expect(got == Counter(spec["names"]), "task names %r, expected %r" % (dict(got), spec["names"]))
    main_id = [t[0] for t in tasks if t[2] == "main"][0]
    src = "examples/%s.c" % name
    for tid, parent, tname, site, state, created, done in tasks:
        if tname != "main":
            expect(parent == main_id, "task %d %s: parent %r, expected main" % (tid, tname, parent))
        if tname in spec["spawn"]:
            line = source_line(src, spec["spawn"][tname])
            expect(site and site.startswith("%s.c:%d in " % (name, line)),
                   "task %s spawned at %r, expected %s.c:%d" % (tname, site, name, line))
        if tname in spec["states"]:
            expect(state == spec["states"][tname], "task %s is %s" % (tname, state))
        expect(done is not None and done >= created, "task %s: done_ns %r" % (tname, done))
    # Awaits: the named task waited in the expected call, at its line.
    for key in ("await", "await2"):
        if key not in spec:
            continue
        tname, kind, needle = spec[key]
        line = source_line(src, needle)
        aw = rows(path, "SELECT kind, await_site, duration_ns FROM awaits WHERE task_name = ?",
                  (tname,))
        expect(any(k == kind and s and s.startswith("%s.c:%d in " % (name, line)) and d and d > 0
                   for k, s, d in aw),
               "no %s await of %s at %s.c:%d among %r" % (kind, tname, name, line, aw[:8]))
    # Strings and sites views resolve.
    expect(rows(path, "SELECT count(*) FROM strings WHERE text = 'main'")[0][0] >= 1,
           "strings view has no 'main'")
    expect(rows(path, "SELECT count(*) FROM sites WHERE file LIKE ?", ("%" + name + ".c",))[0][0],
           "sites view has no site in %s.c" % name)


def json_reports(c, name):
    path = recorded(c, name)
    spec = EXAMPLES[name]
    db_tasks = {r[0]: r for r in rows(path, "SELECT id, parent, name, state FROM tasks")}
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(ps["source"].startswith(path), "ps source %r" % ps["source"])
    expect(ps["dropped"] == 0, "ps dropped %r" % ps["dropped"])
    expect(sorted(t["id"] for t in ps["tasks"]) == sorted(db_tasks),
           "ps --all lists %r, the database %r"
           % ([t["id"] for t in ps["tasks"]], sorted(db_tasks)))
    src = "examples/%s.c" % name
    for t in ps["tasks"]:
        tid, parent, tname, state = db_tasks[t["id"]]
        expect((t["parent"], t["name"], t["state"]) == (parent, tname, state),
               "ps says %r, the database %r" % (t, db_tasks[t["id"]]))
        # Every nanosecond of a finished task is busy, scheduled or idle.
        expect(t["busy_ns"] + t["scheduled_ns"] + t["idle_ns"] == t["age_ns"],
               "task %d: busy+scheduled+idle != age: %r" % (tid, t))
        expect(t["polls"] >= 1 and t["busy_ns"] > 0, "task %d never ran: %r" % (tid, t))
        expect(t["awaits"] is None and t["awaits_text"] is None,
               "finished task %d still awaits: %r" % (tid, t))
        if tname in spec["spawn"]:
            line = source_line(src, spec["spawn"][tname])
            expect(t["spawn_site"].startswith("%s.c:%d in " % (name, line)),
                   "spawn_site %r, expected %s.c:%d" % (t["spawn_site"], name, line))
    live = taskscope_json("ps", "--json", path)
    expect(live["tasks"] == [], "ps without --all lists finished tasks: %r" % live["tasks"])

    tree = taskscope_json("pstree", "--json", "--all", path)
    ids = [t["id"] for t in tree["tasks"]]
    expect(sorted(ids) == sorted(db_tasks), "pstree lists %r" % ids)
    depth = {}
    for t in tree["tasks"]:     # pre-order: a parent comes before its children
        if t["parent"] in depth:
            expect(t["depth"] == depth[t["parent"]] + 1, "pstree depth wrong: %r" % t)
        else:
            expect(t["depth"] == 0, "pstree root with depth: %r" % t)
        depth[t["id"]] = t["depth"]
        expect(t["name"] == db_tasks[t["id"]][2], "pstree name %r" % t)

    st = taskscope_json("stats", "--json", path)
    expect(st["group_by"] == "spawn_site", "stats groups by %r" % st["group_by"])
    total = sum(n["count"] for n in st["groups"])
    expect(total == sum(spec["names"].values()),
           "stats counts %r tasks, expected %r" % (total, spec["names"]))
    for tname in spec["spawn"]:
        line = source_line(src, spec["spawn"][tname])
        expect(any(g["spawn_site"].startswith("%s.c:%d in " % (name, line)) for g in st["groups"]),
               "stats has no group for %s's spawn site %s.c:%d" % (tname, name, line))
    by_name = taskscope_json("stats", "--json", "--by-prefix", path)
    expect(sum(n["count"] for n in by_name["groups"]) == total, "stats --by-prefix counts")
    for n in st["groups"] + by_name["groups"]:
        expect(n["polls"] >= n["count"], "stats: fewer polls than tasks: %r" % n)
        expect(n["busy_p50_ns"] <= n["busy_p90_ns"] <= n["busy_p99_ns"],
               "stats busy percentiles out of order: %r" % n)
        expect(n["poll_p50_ns"] <= n["poll_p99_ns"] <= n["poll_max_ns"],
               "stats poll percentiles above the maximum: %r" % n)
    expect(len(st["loops"]) == 1 and st["loops"][0]["steps"] > 0, "stats loops %r" % st["loops"])
    expect(st["loops"][0]["lag_avg_ns"] <= st["loops"][0]["lag_max_ns"], "lag avg > max")

    # The examples never block their loop.  A step preempted for 100 ms on
    # a loaded machine is still reported (busy on CPU, or a slow step):
    # tolerated; a step blocked in a system call is not.
    bl = taskscope_json("blocked", "--json", path)
    bad = [e for e in bl["episodes"] if e["syscall"] >= 0]
    expect(not bad, "blocked episodes in %s: %r" % (name, bad))


def text_reports(c, name):
    path = recorded(c, name)
    spec = EXAMPLES[name]
    for cmd in ("ps", "pstree", "stats", "blocked"):
        p = taskscope(cmd, path, expect_rc=0)
        first = p.stdout.splitlines()[0]
        expect("(complete: exit status 0)" in first and "0 live tasks" in first,
               "%s header %r" % (cmd, first))
        expect(p.stderr == "", "%s wrote to stderr: %r" % (cmd, p.stderr))
    ps = taskscope("ps", "--all", path, expect_rc=0).stdout
    header = ps.splitlines()[1].split()
    for col in ("id", "name", "state", "age", "busy", "sched", "idle", "polls", "awaits"):
        expect(col in header, "ps has no %s column: %r" % (col, header))
    for tname in spec["names"]:
        expect(tname in ps, "ps --all does not show %s" % tname)
    tree = taskscope("pstree", "--all", path, expect_rc=0).stdout.splitlines()
    expect(tree[1].startswith("#") and "main" in tree[1], "pstree root line %r" % tree[1])
    expect(all(l.lstrip("│ ").startswith(("├── #", "└── #")) for l in tree[2:] if l.strip()),
           "pstree child lines %r" % tree[2:])
    stats = taskscope("stats", path, expect_rc=0).stdout
    for tname in spec["spawn"]:
        line = source_line("examples/%s.c" % name, spec["spawn"][tname])
        expect("%s.c:%d in " % (name, line) in stats,
               "stats does not show %s's spawn site" % tname)
    expect("lag" in stats, "stats has no loop lag")
    bl = taskscope("blocked", path, expect_rc=0).stdout
    if not taskscope_json("blocked", "--json", path)["episodes"]:
        expect("no blocked loop" in bl, "blocked: %r" % bl)


def query(c):
    path = recorded(c, "gather")
    sql = "SELECT id, name, state FROM tasks ORDER BY id"
    want = [list(r) for r in rows(path, sql)]
    table = taskscope("query", path, sql, expect_rc=0).stdout.splitlines()
    expect(table[0].split() == ["id", "name", "state"], "query header %r" % table[0])
    expect(set(table[1]) <= set("- "), "no rule under the header: %r" % table[1])
    del table[1]
    expect([l.split() for l in table[1:]] == [[str(x) for x in r] for r in want],
           "query table %r, expected %r" % (table[1:], want))
    js = json.loads(taskscope("query", path, sql, "--json", expect_rc=0).stdout)
    expect([[r["id"], r["name"], r["state"]] for r in js] == want, "query --json %r" % js)
    out = taskscope("query", "--csv", path, sql, expect_rc=0).stdout
    got = list(csv.reader(io.StringIO(out)))
    expect(got[0] == ["id", "name", "state"] and got[1:] == [[str(x) for x in r] for r in want],
           "query --csv %r" % got)
    # Values that need quoting in CSV and escaping in JSON; NULL; floats.
    tricky = "SELECT 'a,b' AS x, 'say \"hi\"' AS y, NULL AS z, 1.5 AS f, 'tab\there' AS t"
    got = list(csv.reader(io.StringIO(taskscope("query", path, tricky, "--csv",
                                                expect_rc=0).stdout)))
    # (a control character is written escaped, as in text output: no raw
    # control byte in CSV either)
    expect(got[1] == ["a,b", 'say "hi"', "", "1.5", "tab\\there"], "csv quoting %r" % got)
    js = json.loads(taskscope("query", path, tricky, "--json", expect_rc=0).stdout)
    expect(js == [{"x": "a,b", "y": 'say "hi"', "z": None, "f": 1.5, "t": "tab\there"}],
           "json escaping %r" % js)
    js = json.loads(taskscope("query", path, "SELECT 1 WHERE 0", "--json", expect_rc=0).stdout)
    expect(js == [], "an empty result as JSON: %r" % js)
    # The views from schemas/README.md answer the README's questions.
    for v in ("awaits", "cancellations", "blocked", "slow_steps", "sites", "strings"):
        taskscope("query", path, "SELECT * FROM %s" % v, "--json", expect_rc=0)
    # Errors: bad SQL, and the recording is read-only.
    p = taskscope("query", path, "SELEC nonsense")
    expect(p.returncode == 1 and "query" in p.stderr, "bad SQL: %d %r" % (p.returncode, p.stderr))
    p = taskscope("query", path, "DELETE FROM ev_task_create")
    expect(p.returncode == 1, "a write was accepted: exit %d" % p.returncode)
    expect(rows(path, "SELECT count(*) FROM ev_task_create")[0][0] == 4, "the write happened")


def export(c, name):
    path = recorded(c, name)
    for fmt in ("chrome",):  # perfetto is protobuf: test_export_perfetto
        out = c.path("%s.%s.json" % (name, fmt))
        p = taskscope("export", "--format", fmt, path, "-o", out, expect_rc=0)
        expect(p.stdout == "", "export wrote to stdout")
        with open(out, encoding="utf-8") as f:
            try:
                doc = json.load(f)
            except ValueError as e:
                raise CheckFailed("export %s is not valid JSON: %s" % (fmt, e))
        ev = doc["traceEvents"]
        tracks = check_nesting(ev, "%s %s" % (name, fmt))
        ids = {r[0]: r[1] for r in rows(path, "SELECT id, name FROM tasks")}
        # A track per task, named "#id name", with run slices.
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev
                 if e.get("ph") == "M" and e.get("name") == "thread_name"}
        for tid, tname in ids.items():
            expect(any(k[1] == tid and v == "#%d %s" % (tid, tname) for k, v in names.items()),
                   "no track named '#%d %s'" % (tid, tname))
            expect(any(k[1] == tid and any(s["name"] == "run" for s in sl)
                       for k, sl in tracks.items()), "task %d has no run slice" % tid)
        expect(any(s["name"].startswith("await ") for sl in tracks.values() for s in sl),
               "no await spans")
        # Flows: every finish has its start, with the same id and name.
        starts = {e["id"]: e for e in ev if e.get("ph") == "s"}
        finishes = [e for e in ev if e.get("ph") == "f"]
        expect(starts and finishes, "no flows")
        for f in finishes:
            s = starts.get(f["id"])
            expect(s is not None and s["name"] == f["name"] and s["ts"] <= f["ts"] + 0.0015,
                   "flow finish %r has no matching start (%r)" % (f, s))
        kinds = {e["name"] for e in finishes}
        expect("spawn" in kinds, "no spawn flows: %r" % kinds)
        if name in ("lock_counter", "producer_consumer"):
            expect("wake" in kinds, "no wake flows in %s: %r" % (name, kinds))


def main():
    c = Checker("record")
    for name in EXAMPLES:
        c.check(database, name)
        c.check(json_reports, name)
        c.check(text_reports, name)
        c.check(export, name)
    c.check(query)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
