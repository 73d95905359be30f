#!/usr/bin/env python3
"""test_blocked.py - a task that blocks its loop (usleep(300 ms) inside
prog_block's freeze_the_loop) must be reported by `taskscope blocked`:
the task's name, a duration of at least 250 ms, the thread blocked in
nanosleep or clock_nanosleep, and a symbolized stack through
freeze_the_loop (file and line of the usleep call) and the task's
function.  One blocked step is one episode (not a blocked episode plus a
slow step), it shows in stats and as a warning, and the export draws it
on the loop's track without breaking the nesting of slices.  A loop
blocked right now is reported live as ongoing."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, CheckFailed, check_nesting, debug_env, expect,  # noqa: E402
                         poll_until, prog, record, remove_segment, rows, source_line,
                         taskscope, taskscope_json)

SLEEPS = ("nanosleep", "clock_nanosleep")


def recorded(c):
    path = c.path("block.db")
    if not os.path.exists(path):
        p = record(path, [prog("prog_block")])
        expect(p.returncode == 0, "taskscope run prog_block: exit %d: %s"
               % (p.returncode, p.stderr))
        expect("done" in p.stdout, "prog_block did not finish: %r" % p.stdout)
    return path


def check_stack(stack, what):
    line = source_line("tests/tracer/prog_block.c", "usleep((left")
    fns = [f["function"] for f in stack]
    frames = [f for f in stack if f["function"] == "freeze_the_loop"]
    expect(frames, "%s: no freeze_the_loop frame in the stack %r" % (what, fns))
    f = frames[0]
    expect(f["file"].endswith("prog_block.c") and f["line"] == line,
           "%s: freeze_the_loop at %s:%d, expected prog_block.c:%d"
           % (what, f["file"], f["line"], line))
    expect(f["module"] == "prog_block", "%s: module %r" % (what, f["module"]))
    below = fns[fns.index("freeze_the_loop") + 1:]
    expect("freezer" in below, "%s: the task function is not below it: %r" % (what, fns))
    expect(any(n in fns[:fns.index("freeze_the_loop")] for n in ("usleep",) + SLEEPS) or
           any("sleep" in n for n in fns[:fns.index("freeze_the_loop")]),
           "%s: no sleep call above freeze_the_loop: %r" % (what, fns))


def blocked_json(c):
    path = recorded(c)
    bl = taskscope_json("blocked", "--json", path)
    eps = bl["episodes"]
    # One episode for the 300 ms step, not a blocked one and a slow step.
    # (Shorter ones, a step preempted on a loaded machine, may show too.)
    mine = [e for e in eps if e["task_name"] == "freezer" and e["duration_ns"] >= 250_000_000]
    expect(len(mine) == 1, "expected one long episode of freezer, got %r" % eps)
    e = mine[0]
    expect(e["kind"] == "blocked" and not e["ongoing"], "episode %r" % e)
    expect(e["duration_ns"] >= 250_000_000, "duration %d ns" % e["duration_ns"])
    expect(e["syscall_name"] in SLEEPS, "syscall %r" % e["syscall_name"])
    expect(e["thread_state"] in ("S", "D"), "thread state %r" % e["thread_state"])
    line = source_line("tests/tracer/prog_block.c", 'ts_spawn_named("freezer"')
    expect(e["spawn_site"].startswith("prog_block.c:%d in " % line),
           "spawn site %r, expected prog_block.c:%d" % (e["spawn_site"], line))
    check_stack(e["stack"], "recorded")


def blocked_text(c):
    path = recorded(c)
    out = taskscope("blocked", path, expect_rc=0).stdout
    line = source_line("tests/tracer/prog_block.c", "usleep((left")
    expect("task #" in out and "freezer" in out, "blocked text: %r" % out)
    expect(any(s in out for s in SLEEPS), "blocked text names no sleep call: %r" % out)
    expect("freeze_the_loop at prog_block.c:%d" % line in out,
           "blocked text lacks freeze_the_loop at prog_block.c:%d: %r" % (line, out))
    expect("warnings:" in out and "blocked for" in out, "no warning: %r" % out)


def database(c):
    path = recorded(c)
    # (only freezer's: on a loaded machine a preempted step may show too)
    b = rows(path, "SELECT task_name, duration_ns, thread_state, syscall, length(stack) "
                   "FROM blocked WHERE task_name = 'freezer'")
    expect(len(b) == 1, "blocked view %r" % b)
    name, dur, state, sc, stack = b[0]
    expect(name == "freezer" and dur >= 250_000_000 and state in ("S", "D") and sc >= 0,
           "blocked view row %r" % (b[0],))
    expect(rows(path, "SELECT count(*) FROM ev_stack")[0][0] >= 1, "no stack recorded")
    expect(rows(path, "SELECT count(*) FROM ev_module")[0][0] >= 1, "no module map recorded")
    st = taskscope_json("stats", "--json", path)
    expect(st["loops"][0]["blocked"] >= 1, "stats loops %r" % st["loops"])
    ps = taskscope_json("ps", "--json", "--all", path)
    fr = [t for t in ps["tasks"] if t["name"] == "freezer"][0]
    expect(fr["warnings"] & 1, "freezer carries no blocked warning: %r" % fr)


def export(c):
    path = recorded(c)
    out = c.path("block.json")
    taskscope("export", "--format", "chrome", path, "-o", out, expect_rc=0)
    with open(out, encoding="utf-8") as f:
        try:
            ev = json.load(f)["traceEvents"]
        except ValueError as e:
            raise CheckFailed("invalid JSON: %s" % e)
    tracks = check_nesting(ev, "prog_block export")
    loop_slices = [s for (pid, tid), sl in tracks.items() if tid == 0 for s in sl]
    expect(any(s["name"].startswith("BLOCKED") and s["dur"] >= 250_000 for s in loop_slices),
           "no blocked slice on the loop's track: %r" % loop_slices)


def live(c):
    p = c.start([prog("prog_block"), "--hang"], env=debug_env())
    pid = int(p.wait_line(r"freezing pid=(\d+)").group(1))
    try:
        # the watchdog sends the stack after its report, and `blocked`
        # waits for it only briefly: until it is in, the episode says so
        def ongoing():
            bl = taskscope_json("blocked", "--json", pid)
            eps = [e for e in bl["episodes"] if e["task_name"] == "freezer" and e["ongoing"]]
            for e in eps:
                expect(e["stack_status"] in ("captured", "capturing") and
                       (e["stack_status"] == "captured") == bool(e["stack"]),
                       "live stack status: %r" % e)
            return [e for e in eps if e["stack_status"] == "captured"]
        e = poll_until("a live episode with its stack", ongoing)[0]
        expect(e["syscall_name"] in SLEEPS, "live syscall %r" % e["syscall_name"])
        check_stack(e["stack"], "live")
        out = taskscope("blocked", pid, expect_rc=0).stdout
        expect("BLOCKED NOW" in out, "live text: %r" % out)
    finally:
        os.kill(pid, signal.SIGKILL)
        p.wait()
        remove_segment(pid)


def main():
    c = Checker("blocked")
    c.check(blocked_json)
    c.check(blocked_text)
    c.check(database)
    c.check(export)
    c.check(live)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
