#!/usr/bin/env python3
"""test_killed.py - recordings cut short.

- The traced program is killed (SIGKILL) while `taskscope run` records:
  taskscope exits 128+9, the session status says truncated and why, and
  everything the program did before is in the recording and in every
  report.
- The tracer itself is killed (SIGKILL) mid-run: the recording is still a
  readable SQLite file holding everything up to its last commit; its
  status stays "recording", which the reports show as truncated.
- Ctrl-C (SIGINT) to `taskscope run`: the program is stopped and the
  recording closed properly.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, expect, poll_until, prog, remove_segment,  # noqa
                         rows, session, taskscope, taskscope_json)

FOREVER_TASKS = {"main", "short-lived", "supervisor", "holder", "contender", "ticker",
                 "worker-1", "worker-2", "worker-3"}


def committed_rows(path, table):
    """Rows of table another connection can see (0 while not created)."""
    try:
        return rows(path, "SELECT count(*) FROM %s" % table)[0][0]
    except Exception:
        return 0


def start_recording(c, path):
    run = c.start([TASKSCOPE, "run", "-o", path, "--", prog("prog_forever")])
    pid = c.adopt(int(run.wait_line(r"ready pid=(\d+)").group(1)), "prog_forever")
    # Wait until the ticker's steps are committed (readable by another
    # connection while the recording goes on: WAL).
    poll_until("committed resumes of the ticker",
               lambda: committed_rows(path, "ev_task_resume") > 20)
    return run, pid


def reports_work(path, why):
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(why in ps["status"], "ps status %r does not say %r" % (ps["status"], why))
    names = {t["name"] for t in ps["tasks"]}
    expect(FOREVER_TASKS <= names, "ps --all shows %r, missing %r" % (names, FOREVER_TASKS - names))
    live = taskscope_json("ps", "--json", path)
    # What was live when the recording stopped: all but short-lived.
    live_names = {t["name"] for t in live["tasks"]}
    want = (FOREVER_TASKS - {"short-lived"}) | {"ts-signals"}
    expect(live_names == want, "live tasks at the end: %r, expected %r" % (live_names, want))
    for cmd in ("pstree", "blocked", "stats"):
        p = taskscope(cmd, path, expect_rc=0)
        expect(why in p.stdout.splitlines()[0], "%s header %r" % (cmd, p.stdout.splitlines()[0]))
        taskscope_json(cmd, "--json", path)
    p = taskscope("export", "--format", "perfetto", path, "-o", path + ".json", expect_rc=0)
    p = taskscope("query", path, "SELECT count(*) AS n FROM tasks", "--json", expect_rc=0)


def program_killed(c):
    path = c.path("child-killed.db")
    run, pid = start_recording(c, path)
    os.kill(pid, signal.SIGKILL)
    rc = run.wait()
    expect(not remove_segment(pid), "the killed program left /dev/shm/taskscope.%d" % pid)
    expect(rc == 128 + 9, "taskscope run exited %d, expected 137" % rc)
    s = session(path)
    expect(s["status"] == "truncated: the program was killed by signal 9",
           "status %r" % s["status"])
    expect(int(s["events"]) > 0 and s["pid"] == str(pid), "session %r" % s)
    expect(re.search(r"\d+ events from pid %d recorded to" % pid, run.stderr_text()),
           "no summary: %r" % run.stderr_text())
    reports_work(path, "cut short: the program was killed by signal 9")
    # Every event the store counted is in the tables.
    total = sum(committed_rows(path, t) for (t,) in rows(
        path, "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'ev_%'"))
    expect(total == int(s["events"]), "session says %s events, tables hold %d"
           % (s["events"], total))


def tracer_killed(c):
    path = c.path("tracer-killed.db")
    run, pid = start_recording(c, path)
    try:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        before = committed_rows(path, "ev_task_resume")
        # The program runs on, untraced (its tracer is gone).
        expect(os.path.exists("/proc/%d" % pid), "the program died with its tracer")
    finally:
        os.kill(pid, signal.SIGTERM)
    poll_until("the program to exit", lambda: not os.path.exists("/proc/%d" % pid) or
               open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z")
    s = session(path)
    expect(s["status"] == "recording", "status %r" % s["status"])
    expect(committed_rows(path, "ev_task_resume") == before, "the recording changed afterwards")
    reports_work(path, "cut short: the recorder stopped before the end")
    p = taskscope("query", path, "SELECT value FROM session WHERE key='status'", expect_rc=0)
    expect("recording" in p.stdout, "query of the status: %r" % p.stdout)


def interrupted(c):
    path = c.path("interrupted.db")
    run, pid = start_recording(c, path)
    os.kill(run.pid, signal.SIGINT)
    rc = run.wait()
    # taskscope passes Ctrl-C on; prog_forever stops cleanly and exits 0.
    expect(rc == 0, "taskscope run exited %d after SIGINT; stderr %r" % (rc, run.stderr_text()))
    expect(not os.path.exists("/proc/%d" % pid) or
           open("/proc/%d/stat" % pid).read().split(")")[1].split()[0] == "Z",
           "the program still runs")
    s = session(path)
    expect(s["status"] == "complete: exit status 0", "status %r" % s["status"])
    states = dict(rows(path, "SELECT name, state FROM tasks"))
    expect(states.get("ticker") == "cancelled" and states.get("main") == "done",
           "final states %r" % states)


def main():
    c = Checker("killed")
    c.check(program_killed)
    c.check(tracer_killed)
    c.check(interrupted)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
