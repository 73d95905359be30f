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
the child is read by attaching to it, and has no recording).  Followed (the default), `taskscope run -o
run.db` records the child to run.CHILD.db, its blocked step and names
included, and says so.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, expect, prog,  # noqa: E402
                         remove_segment, taskscope, taskscope_json)


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
    parent = taskscope_json("blocked", "--json", path)
    blocked = [e for e in parent["episodes"] if e["kind"] == "blocked"]
    expect(not blocked, "the parent's recording shows the child's block: %r" % blocked)
    out = taskscope("ps", "--all", path, expect_rc=0).stdout
    expect("forker" in out or mode == "before", "parent's recording: %s" % out)


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
    cpath = "%s.%d.db" % (path[:-3], child)
    expect(os.path.exists(cpath), "no recording of the child at %s; stderr: %s"
           % (cpath, p.stderr_text()[-2000:]))
    expect("child %d:" % child in p.stderr_text(), "run does not say where the child went: %s"
           % p.stderr_text()[-2000:])
    bl = taskscope_json("blocked", "--json", cpath)
    eps = [e for e in bl["episodes"] if e["kind"] == "blocked" and e["task_name"] == "forker"]
    expect(eps, "the child's recording has no blocked step of forker: %r" % bl)
    expect(max(e["duration_ns"] for e in eps) >= 250_000_000, "short block: %r" % eps)
    ps = taskscope_json("ps", "--json", "--all", cpath)
    names = sorted(t["name"] for t in ps["tasks"])
    expect("forker" in names and all(n not in ("", "?") for n in names),
           "the child's task names: %r" % names)
    expect(not [t for t in ps["tasks"] if t["state"] in ("ready", "running", "suspended")],
           "the child's complete recording lists live tasks: %r" % ps["tasks"])


def main():
    c = Checker("fork")
    c.check(child_traced, "before")
    c.check(child_traced, "inside")
    c.check(child_followed, "before")
    c.check(child_followed, "inside")
    c.check(child_followed, "inside", True)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
