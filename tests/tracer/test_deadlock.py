#!/usr/bin/env python3
"""test_deadlock.py - the model finds deadlocks and spells out the cycle.

prog_deadlock lock: "left" holds lock A and wants B, "right" holds B and
wants A, main awaits them (cond: B is the own lock of a condition named
"changed", which reads as condition "changed" lock).  prog_deadlock await: "ping" awaits "pong",
which awaits "ping".  Both are checked live (`taskscope ps PID`) and from
a recording (`taskscope run`, the program killed once deadlocked): one
warning per cycle naming every member and what each waits for, every
member flagged in ps --json, the warning in every report (text and the
JSON "warnings" list), and in the lock case main reported as stuck
(waiting on tasks that can never finish).
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, debug_env, expect, poll_until, prog,  # noqa: E402
                         remove_segment, session, taskscope, taskscope_json)

DEADLOCK = 16   # tm_warning_kind bits, as ps --json shows them per task
STUCK = 32

# What each edge of the cycle reads as: the lock by its name and creation
# site (lock A is named, lock B is not: it reads as its address and site).
LOCK = r'lock (?:"A"|0x[0-9a-f]+) \(prog_deadlock\.c:\d+\)'
# In cond mode B is the lock a condition named "changed" made for itself:
# named after it, it reads as that condition's lock.
COND_LOCK = r'(?:lock "A"|condition "changed" lock) \(prog_deadlock\.c:\d+\)'
CYCLES = {
    "lock": ("left", "right", LOCK),
    "await": ("ping", "pong", "awaits"),
    "cond": ("left", "right", COND_LOCK),
}


def cycle_text(mode, text):
    """True if text spells the two-task cycle: #a A → <edge> → #b B →
    <edge> → #a A, both locks read with their creation site, lock A by its
    name."""
    a, b, edge = CYCLES[mode]
    name = r"(?:%s|%s)" % (a, b)
    rx = (r"deadlock: #(\d+) (%s) → %s → #(\d+) (%s) → %s → #\1 \2$"
          % (name, edge, name, edge))
    m = re.search(rx, text)
    if mode in ("lock", "cond") and m and 'lock "A" (prog_deadlock.c:' not in text:
        return False
    if mode == "cond" and m and 'condition "changed" lock (prog_deadlock.c:' not in text:
        return False
    return m and m.group(2) != m.group(4)


def check_reports(target, mode, what):
    a, b, _ = CYCLES[mode]
    ps = taskscope_json("ps", "--json", target)
    tasks = {t["name"]: t for t in ps["tasks"]}
    for n in (a, b):
        expect(n in tasks and tasks[n]["warnings"] & DEADLOCK,
               "%s: %s is not flagged as deadlocked: %r" % (what, n, tasks.get(n)))
    dl = [w for w in ps["warnings"] if w["kind"] == "deadlock"]
    expect(len(dl) == 1, "%s: expected one deadlock warning, got %r" % (what, ps["warnings"]))
    expect(cycle_text(mode, dl[0]["text"]), "%s: the warning does not spell the cycle: %r"
           % (what, dl[0]["text"]))
    expect(dl[0]["task"] in (tasks[a]["id"], tasks[b]["id"]), "%s: warning task %r" % (what, dl))
    if mode in ("lock", "cond"):
        expect(tasks["left"]["awaits"] == "lock" and tasks["right"]["awaits"] == "lock",
               "%s: left/right await %r" % (what, tasks))
    for cmd in ("ps", "pstree", "stats", "blocked"):
        out = taskscope(cmd, target, expect_rc=0).stdout
        lines = [l for l in out.splitlines() if "deadlock:" in l]
        expect(len(lines) == 1 and cycle_text(mode, lines[0].strip()),
               "%s: %s shows the deadlock as %r" % (what, cmd, lines))
        if cmd != "ps":
            js = taskscope_json(cmd, "--json", target)
            expect(any(w["kind"] == "deadlock" for w in js["warnings"]),
                   "%s: %s --json has no deadlock warning" % (what, cmd))
    return tasks


def live(c, mode):
    p = c.start([prog("prog_deadlock"), mode], env=debug_env())
    p.wait_line(r"deadlocked pid=\d+")
    tasks = check_reports(p.pid, mode, "live " + mode)
    if mode == "lock":
        # main waits on tasks that can never finish; the model says so once
        # everything has been still for a second of the program's time.
        def stuck():
            ps = taskscope_json("ps", "--json", p.pid)
            return [w for w in ps["warnings"] if w["kind"] == "stuck"]
        w = poll_until("a stuck warning for main", stuck)
        expect(w[0]["task"] == tasks["main"]["id"] and "main" in w[0]["text"],
               "stuck warning %r" % w)
    p.kill()
    p.wait()
    remove_segment(p.pid)


def recorded(c, mode):
    out = c.path("deadlock-%s.db" % mode)
    run = c.start([TASKSCOPE, "run", "-o", out, "--", prog("prog_deadlock"), mode])
    pid = c.adopt(int(run.wait_line(r"deadlocked pid=(\d+)").group(1)), "prog_deadlock")
    os.kill(pid, signal.SIGKILL)
    expect(run.wait() == 128 + 9, "taskscope run: %s" % run.stderr_text())
    remove_segment(pid)
    expect(session(out)["status"] == "truncated: the program was killed by signal 9",
           "status %r" % session(out)["status"])
    check_reports(out, mode, "recorded " + mode)


def main():
    c = Checker("deadlock")
    for mode in CYCLES:
        c.check(live, mode)
        if mode != "cond":  # the same model text as live
            c.check(recorded, mode)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
