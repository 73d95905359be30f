#!/usr/bin/env python3
"""test_why_tui.py - the why view of `taskscope top` (issue 19, point 7),
driven through tmux like tests/tui/test_tui.py (whose Pane it uses).

A replay of prog_why_deep's queue program: filter to "consumer", open its
detail, press w: the view shows the tree `taskscope why` prints (the
queue wait put by producer, its blocking step); Esc returns to the detail.
Skipped (77) without tmux or without the TUI.
"""
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tui"))
from tracer_util import TASKSCOPE, Checker, expect, prog, record  # noqa: E402

import test_tui  # noqa: E402  (Pane, tmux: the TUI test's tmux driver)


def view(c):
    path = c.path("queue.db")
    p = record(path, [prog("prog_why_deep"), "queue"])
    expect(p.returncode == 0, "run failed: %s" % p.stderr)
    m = re.search(r"producer=(\d+)", p.stdout)
    expect(m, "printed: %r" % p.stdout)
    pane = test_tui.Pane("why", "%s top %s" % (TASKSCOPE, path), width=160)
    try:
        pane.wait("REPLAY")
        pane.keys("/")
        pane.literal("consumer")
        pane.keys("Enter")
        pane.wait("filter: consumer")
        pane.keys("Enter")
        pane.wait("Task detail")
        pane.keys("w")
        s = pane.wait("Why: where the task")
        expect("put by task #%s producer" % m.group(1) in s and "blocking the loop" in s,
               "the why view:\n" + s)
        pane.keys("Escape")
        pane.wait("Task detail")
        test_tui.check_quit(pane)
    except test_tui.Failure as e:
        expect(False, str(e))
    finally:
        pane.kill()


def main():
    if not shutil.which("tmux"):
        print("tmux is not installed: skipped")
        return 77
    if subprocess.run([TASKSCOPE, "top", "--help"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        print("taskscope built without the TUI: skipped")
        return 77
    c = Checker("why_tui")
    try:
        test_tui.tmux("new-session", "-d", "-s", "keeper", "sleep 3600")
        c.check(view)
    finally:
        test_tui.kill_server()
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
