#!/usr/bin/env python3
"""test_limits.py - recordings at the tracer's limits.

- Dropped events: prog_flood emits far more than the tracer can store,
  through 64 KiB rings, so the rings drop.  The drops are recorded (the
  runtime's `dropped` events in ev_dropped, the total in the session
  table), said on stderr by `taskscope run`, and shown by every report:
  the text header of ps, pstree, blocked and stats, and "dropped" in each
  one's --json; and the session asks for state dumps to resynchronise.
- The disk fills: the recording may not grow past a few MiB (RLIMIT_FSIZE
  on taskscope; SIGXFSZ ignored, so writes fail with EFBIG like a full
  disk).  Once it is full, Ctrl-C: taskscope stops the program, says
  why the recording is incomplete on stderr and exits 1; what was committed
  stays a valid, readable recording whose status says it was cut short
  and whose "events" count is the rows it holds.
"""
import os
import resource
import signal
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, TIMEOUT, Checker, expect, poll_until, prog,  # noqa: E402
                         remove_segment, rows, session, taskscope, taskscope_json)

SMALL_RINGS = dict(os.environ, TASKSCOPE_RING_SIZE="65536")


def table_rows(path):
    tables = rows(path, "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'ev_%'")
    return sum(rows(path, "SELECT count(*) FROM %s" % t)[0][0] for (t,) in tables)


def dropped(c):
    path = c.path("flood.db")
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--", prog("prog_flood"), "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=SMALL_RINGS, timeout=TIMEOUT)
    expect(p.returncode == 0, "taskscope run prog_flood: exit %d: %s" % (p.returncode, p.stderr))
    expect(p.stdout.startswith("flooded "), "prog_flood printed %r" % p.stdout)
    s = session(path)
    n = int(s["dropped"])
    expect(n > 0, "nothing dropped (session %r): the test needs a tracer slower than "
                  "the program" % s)
    expect("events DROPPED" in p.stderr, "run does not say it dropped: %r" % p.stderr)
    expect(rows(path, "SELECT count(*) FROM ev_dropped")[0][0] > 0,
           "no dropped events recorded in ev_dropped")
    expect(int(s["events"]) == table_rows(path), "session events %s, tables hold %d"
           % (s["events"], table_rows(path)))
    # after drops the session asks for fresh state dumps, so the model can
    # retire the tasks whose ends were lost (and its memory stays flat)
    expect(rows(path, "SELECT count(*) FROM ev_dump_end")[0][0] > 0,
           "no state dump was recorded after the drops")
    for cmd in ("ps", "pstree", "blocked", "stats"):
        head = taskscope(cmd, path, expect_rc=0).stdout.splitlines()[0]
        expect("%d EVENTS DROPPED" % n in head, "%s header does not show the drops: %r"
               % (cmd, head))
        js = taskscope_json(cmd, "--json", path)
        expect(js.get("dropped") == n, "%s --json dropped %r, session %d"
               % (cmd, js.get("dropped"), n))


def limit_file_size(limit):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return pre


def children(pid):
    """The pids of pid's children (from /proc), or [] if it is gone."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def kill_traced(path):
    """SIGKILL the program a recording at path traces, if it still runs."""
    try:
        pid = int(session(path)["pid"])
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "prog_flood":
                os.kill(pid, signal.SIGKILL)
        remove_segment(pid)
    except (OSError, KeyError, ValueError, sqlite3.Error):
        pass


def disk_full(c):
    path = c.path("full.db")
    limit = 6 << 20
    # The traced program inherits the limit: its trace segment (64 KiB
    # rings: ~4 MiB) stays under it.  It floods for up to ten minutes;
    # once the write-ahead log has hit the limit, Ctrl-C ends the run.
    run = subprocess.Popen([TASKSCOPE, "run", "-o", path, "--", prog("prog_flood"), "600"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=SMALL_RINGS, preexec_fn=limit_file_size(limit))
    try:
        poll_until("the recording to reach the size limit",
                   lambda: os.path.exists(path + "-wal") and
                   os.path.getsize(path + "-wal") >= limit - (64 << 10))
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=TIMEOUT)
    finally:
        if run.poll() is None:     # the test failed: stop both processes
            traced = children(run.pid)
            run.kill()
            run.wait()
            kill_traced(path)
            for pid in traced:     # (the recording may not name it yet)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    expect(run.returncode == 1, "a recording that cannot be written: exit %d, stderr %r"
           % (run.returncode, err))
    expect("incomplete" in err and path in err and "write error" not in err,
           "the message does not say what failed: %r" % err)
    expect(os.path.getsize(path) <= limit, "the limit did not hold")
    remove_segment(int(session(path)["pid"]))   # prog_flood died of the SIGINT
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    expect(con.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
           "the recording is damaged")
    con.close()
    s = session(path)
    expect(s["status"].startswith("truncated: "), "status %r" % s["status"])
    expect(int(s["events"]) == table_rows(path) and table_rows(path) > 0,
           "session events %s, tables hold %d" % (s["events"], table_rows(path)))
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(ps["source"] == path and ps["status"].startswith("cut short: "),
           "ps source %r, status %r" % (ps["source"], ps["status"]))
    expect(any(t["name"] == "flood" for t in ps["tasks"]), "ps shows no flood task")
    for cmd in ("pstree", "blocked", "stats"):
        taskscope(cmd, path, expect_rc=0)
    taskscope("export", "--format", "perfetto", path, "-o", c.path("full.json"), expect_rc=0)


def main():
    c = Checker("limits")
    c.check(dropped)
    c.check(disk_full)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
