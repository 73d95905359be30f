#!/usr/bin/env python3
"""test_fork.py - a traced program that forks (issue 13, point 8).

prog_fork forks either in main() before any loop, or inside a task; the
child blocks its loop for 300 ms in the task "forker" (when forked inside
a task, in the very step that called fork) and then idles until the test
lets it go.  Both run under `taskscope run` with a wait-for-reader setting
of ten minutes, which the child inherits through its environment:

- the child does not wait for a reader that never comes (it gets to its
  "blocked" line while the setting would hold it for ten minutes);
- the child has its own segment, watchdog and names: `taskscope blocked
  CHILD` finds the 300 ms episode of the task named "forker", and `ps`
  names every task;
- the parent's recording holds none of the child's doings (no blocked
  episode: the child never wrote into its parent's segment), and the
  run ends with both exit statuses 0.

Those run with TASKSCOPE_FOLLOW_FORKS=0 or --no-follow (not followed:
the child is read by attaching to it, and the recording holds the parent
alone).  Followed (the default), `taskscope run -o run.db` records the
children into run.db itself, each event tagged with its process's pid
(issue 13: one recording, a pid column): the process table names each
child and its parent, `blocked --pid CHILD` finds the child's blocked
step, `ps --pid CHILD` names its tasks, the reports without --pid show
every process under its own PROCESS line (task ids are per process, so
the parent's task 1 and a child's task 1 never mix), and no run.PID.db
is written.  A recording made before the pid columns (made here by
dropping them) still reads, as one process.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, expect, prog,  # noqa: E402
                         remove_segment, rows, taskscope, taskscope_json)


def child_traced(c, mode):
    go = c.path("go-" + mode)
    path = c.path(mode + ".db")
    # not followed: by the environment (before), by --no-follow (inside)
    env = dict(os.environ, TASKSCOPE_WAIT_READER_MS="600000")
    flags = ["--no-follow"] if mode == "inside" else []
    if not flags:
        env["TASKSCOPE_FOLLOW_FORKS"] = "0"
    p = c.start([TASKSCOPE, "run", "-o", path] + flags + ["--", prog("prog_fork"), mode, go],
                env=env)
    child = int(p.wait_line(r"child pid=(\d+) blocked").group(1))
    try:
        bl = taskscope_json("blocked", "--json", child)
        eps = [e for e in bl["episodes"] if e["kind"] == "blocked" and e["task_name"] == "forker"]
        expect(eps, "the child's 300 ms block was not detected: %r" % bl)
        dur = max(e["duration_ns"] for e in eps)
        expect(dur >= 250_000_000, "the child's block lasted %d ns, expected ~300 ms" % dur)
        ps = taskscope_json("ps", "--json", "--all", child)
        names = sorted(t["name"] for t in ps["tasks"])
        expect("forker" in names and all(n not in ("", "?") for n in names),
               "the child's task names: %r" % names)
    finally:
        open(go, "w").close()
    p.wait_line(r"child exit 0")
    rc = p.wait()
    expect(rc == 0, "taskscope run exit %d: %s" % (rc, p.stderr_text()[-2000:]))
    remove_segment(child)
    stem = path[:-3]
    expect(not os.path.exists("%s.%d.db" % (stem, child)), "a child not followed was recorded")
    pids = [r[0] for r in rows(path, "SELECT pid FROM process")]
    expect(len(pids) == 1 and child not in pids,
           "not followed, yet the recording holds processes %r" % pids)
    expect(not rows(path, "SELECT 1 FROM ev_task_create WHERE pid != ?", (pids[0],)),
           "not followed, yet the recording holds another process's tasks")
    parent = taskscope_json("blocked", "--json", path)
    blocked = [e for e in parent["episodes"] if e["kind"] == "blocked"]
    expect(not blocked, "the parent's recording shows the child's block: %r" % blocked)
    out = taskscope("ps", "--all", path, expect_rc=0).stdout
    expect("forker" in out or mode == "before", "parent's recording: %s" % out)


def child_blocked_and_named(path, child, parent):
    """The child's part of a followed recording: its own process row, its
    blocked step and its names, reported with --pid."""
    proc = rows(path, "SELECT parent, status FROM process WHERE pid = ?", (child,))
    expect(proc and proc[0][0] == parent, "the child %d's process row: %r" % (child, proc))
    expect(proc[0][1].startswith("complete"), "the child's status: %r" % proc)
    bl = taskscope_json("blocked", "--json", "--pid", str(child), path)
    eps = [e for e in bl["episodes"] if e["kind"] == "blocked" and e["task_name"] == "forker"]
    expect(eps, "the recording has no blocked step of the child's forker: %r" % bl)
    expect(max(e["duration_ns"] for e in eps) >= 250_000_000, "short block: %r" % eps)
    ps = taskscope_json("ps", "--json", "--all", "--pid", str(child), path)
    # SQL too: the blocked view's row of the child (by id: the views name
    # only tasks created while recording, and an inherited forker was not).
    forker = [t["id"] for t in ps["tasks"] if t["name"] == "forker"]
    sql = rows(path, "SELECT task, duration_ns FROM blocked WHERE pid = ?", (child,))
    expect([r for r in sql if r[0] in forker and (r[1] or 0) >= 250_000_000],
           "the blocked view has no row of the child's forker %r: %r" % (forker, sql))
    names = sorted(t["name"] for t in ps["tasks"])
    expect("forker" in names and all(n not in ("", "?") for n in names),
           "the child's task names: %r" % names)
    expect(not [t for t in ps["tasks"] if t["state"] in ("ready", "running", "suspended")],
           "the child's complete recording lists live tasks: %r" % ps["tasks"])
    return ps


def traced_pid(path):
    """The process `taskscope run` started (the one with no parent)."""
    return rows(path, "SELECT pid FROM process WHERE parent IS NULL")[0][0]


def no_side_recordings(c, path):
    stem = os.path.basename(path)[:-3]
    side = [f for f in os.listdir(c.path("")) if f.startswith(stem + ".") and f != stem + ".db"]
    expect(not side, "recordings beside the one recording: %r" % side)


def child_followed(c, mode, early=False):
    """early: the go file is there from the start, so the task that
    forked ends in the very step that blocked, before the child's loop
    iterates again: it is named all the same (the child's first state
    dump is written at the fork)."""
    go = c.path("go-followed-%s%s" % (mode, "-early" if early else ""))
    path = c.path("followed-%s%s.db" % (mode, "-early" if early else ""))
    if early:
        open(go, "w").close()
    p = c.start([TASKSCOPE, "run", "-o", path, "--", prog("prog_fork"), mode, go])
    child = int(p.wait_line(r"child pid=(\d+) blocked").group(1))
    open(go, "w").close()
    p.wait_line(r"child exit 0")
    rc = p.wait()
    expect(rc == 0, "taskscope run exit %d: %s" % (rc, p.stderr_text()[-2000:]))
    remove_segment(child)
    no_side_recordings(c, path)
    expect("child %d:" % child in p.stderr_text(), "run does not say what it followed: %s"
           % p.stderr_text()[-2000:])
    parent = traced_pid(path)
    child_blocked_and_named(path, child, parent)
    # The parent's report holds the parent's tasks only, and the parent
    # never blocked.
    bl = taskscope_json("blocked", "--json", "--pid", str(parent), path)
    expect(not [e for e in bl["episodes"] if e["kind"] == "blocked"],
           "the parent's report shows the child's block: %r" % bl)
    # Without --pid: both processes, each under its PROCESS line.
    out = taskscope("ps", "--all", path, expect_rc=0).stdout
    expect("PROCESS %d" % parent in out and "PROCESS %d" % child in out
           and "(forked by %d)" % parent in out, "ps on the recording: %s" % out)
    doc = taskscope_json("ps", "--json", "--all", path)
    expect(sorted(x["pid"] for x in doc["processes"]) == sorted([parent, child]),
           "ps --json processes: %r" % doc)
    # --pid of a process the recording does not hold is an error.
    r = taskscope("ps", "--pid", "1", path)
    expect(r.returncode == 1 and "holds no process 1" in r.stderr, "ps --pid 1: %r" % r.stderr)


def two_children(c):
    """A child forked before the loop and one forked inside a task: both
    in the one recording, each with its own blocked step and names, and
    the three processes' task ids never mixed (each has a task 1)."""
    go = c.path("go-both")
    path = c.path("both.db")
    p = c.start([TASKSCOPE, "run", "-o", path, "--", prog("prog_fork"), "both", go])
    kids = {int(p.wait_line(r"child pid=(\d+) blocked").group(1)) for _ in range(2)}
    open(go, "w").close()
    p.wait_line(r"child exit 0")
    p.wait_line(r"child exit 0")
    rc = p.wait()
    expect(rc == 0, "taskscope run exit %d: %s" % (rc, p.stderr_text()[-2000:]))
    for k in kids:
        remove_segment(k)
    no_side_recordings(c, path)
    expect(len(kids) == 2, "two children expected: %r" % kids)
    parent = traced_pid(path)
    for k in kids:
        child_blocked_and_named(path, k, parent)
    procs = rows(path, "SELECT pid, parent FROM process ORDER BY parent IS NOT NULL, pid")
    expect([r[0] for r in procs] == [parent] + sorted(kids) and procs[0][1] is None,
           "process table: %r" % procs)
    # Every process has its own task 1 (main): rows are told apart by pid.
    ones = rows(path, "SELECT pid, name FROM tasks WHERE id = 1 ORDER BY pid")
    expect(len({r[0] for r in ones}) == len(ones) and all(r[1] == "main" for r in ones),
           "task 1 per process: %r" % ones)
    ps = taskscope_json("ps", "--json", "--all", "--pid", str(parent), path)
    expect(len([t for t in ps["tasks"] if t["id"] == 1]) == 1,
           "the parent's ps mixes processes: %r" % ps["tasks"])
    out = taskscope("blocked", path, expect_rc=0).stdout
    expect(all("PROCESS %d" % k in out for k in kids) and out.count("forker") >= 2,
           "blocked on the recording: %s" % out)
    # The timeline: each process's loops are tracks of their own.
    import json
    timeline = c.path("both.json")
    taskscope("export", "--format", "chrome", "-o", timeline, path, expect_rc=0)
    with open(timeline) as f:
        names = [e["args"]["name"] for e in json.load(f)["traceEvents"]
                 if e.get("name") == "process_name"]
    expect("loop 1" in names and all("loop 1 (pid %d)" % k in names for k in kids),
           "export's loop tracks: %r" % names)
    # Perfetto and OTLP draw one process (ids are per process): the
    # traced one, and they say what they leave out.
    if os.path.isabs(os.environ.get("TS_PROTOC", "")):  # the protobuf build
        for fmt in ("perfetto", "otlp"):
            r = taskscope("export", "--format", fmt, "-o", c.path("both." + fmt), path,
                          expect_rc=0)
            expect("draws process %d only" % parent in r.stderr and "2 followed" in r.stderr,
                   "%s export's note: %r" % (fmt, r.stderr))


def old_recording(c):
    """A recording made before the pid columns reads as one process."""
    import shutil
    import sqlite3
    path = c.path("nofollow-old.db")
    go = c.path("go-old")
    open(go, "w").close()
    taskscope("run", "--no-follow", "-o", path, "--", prog("prog_fork"), "inside", go,
              expect_rc=0)
    old = c.path("old.db")
    shutil.copy(path, old)
    con = sqlite3.connect(old)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'view'").fetchall():
        con.execute("DROP VIEW %s" % name)
    con.execute("DROP TABLE process")
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                               "AND name LIKE 'ev_%'").fetchall():
        con.execute("ALTER TABLE %s DROP COLUMN pid" % name)
    con.commit()
    con.close()
    new = taskscope("ps", "--all", path, expect_rc=0).stdout
    was = taskscope("ps", "--all", old, expect_rc=0).stdout
    expect("PROCESS" not in was and "forker" in was, "old recording's ps: %s" % was)
    expect(new.replace(path, "X") == was.replace(old, "X"), "old %s\nnew %s" % (was, new))
    pid = rows(old, "SELECT value FROM session WHERE key = 'pid'")[0][0]
    taskscope("blocked", "--pid", pid, old, expect_rc=0)


def main():
    c = Checker("fork")
    c.check(child_traced, "before")
    c.check(child_traced, "inside")
    c.check(child_followed, "before")
    c.check(child_followed, "inside")
    c.check(child_followed, "inside", True)
    c.check(two_children)
    c.check(old_recording)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
