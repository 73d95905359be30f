#!/usr/bin/env python3
"""test_why_live.py - `taskscope why PID TASK` on a live process (issue 19,
point 5): answered from its flight-recorder window.

prog_why_deep live runs with a 64 KiB ring: "old" is spawned first, then
20000 tasks come and go (the ring forgets old's spawn), then "fresh" is
spawned; both sleep 10 ms in a loop.  why on old says it was spawned
before the window and answers for the window; why on fresh does not; both
trees add up; the temporary recording is removed.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, debug_env, expect, prog, taskscope,  # noqa: E402
                         taskscope_json)


def sums(node, what):
    if node["children"]:
        total = sum(c["ns"] for c in node["children"])
        expect(total == node["ns"], "%s: children sum to %d, node is %d" % (what, total, node["ns"]))
    for c in node["children"]:
        sums(c, what)


def live(c):
    env = debug_env()
    env["TASKSCOPE_RING_SIZE"] = "65536"
    tmp = c.path("tmp")
    os.mkdir(tmp)
    p = c.start([prog("prog_why_deep"), "live"], env=env)
    m = p.wait_line(r"ready pid=(\d+) old=(\d+) fresh=(\d+)")
    pid, old, fresh = m.groups()
    os.environ["TMPDIR"] = tmp  # where why keeps the window while it answers
    try:
        js = taskscope_json("why", "--json", pid, fresh)
        expect(js["live"] and not js["before_window"], "fresh: %r" % {k: js[k] for k in
                                                                      ("live", "before_window")})
        tree = js["tree"]
        sums(tree, "fresh")
        expect(tree["name"] == "fresh", "fresh's name: %r" % tree["name"])
        sleeps = [k for k in tree["children"] if k["type"] == "wait" and k["kind"] == "sleep"]
        expect(sleeps and sleeps[0]["count"] >= 1, "fresh's sleeps: %r" % tree["children"])

        js = taskscope_json("why", "--json", pid, old)
        expect(js["live"] and js["before_window"], "old: %r" % {k: js[k] for k in
                                                                ("live", "before_window")})
        tree = js["tree"]
        sums(tree, "old")
        expect(tree["name"] == "old", "old's name (from the state dump): %r" % tree["name"])
        text = taskscope("why", pid, old, expect_rc=0).stdout
        expect("before the window" in text and "(live" in text, "text:\n" + text)
        taskscope("why", pid, "999999", expect_rc=1)
    finally:
        del os.environ["TMPDIR"]
    expect(not glob.glob(os.path.join(tmp, "*")), "left behind: %r" % os.listdir(tmp))
    p.kill()


def main():
    c = Checker("why_live")
    c.check(live)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
