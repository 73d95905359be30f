#!/usr/bin/env python3
"""test_live_block.py - a loop blocked right now is shown while it is
blocked, by every live consumer, with the blocking task's name and spawn
site (issue 15, point 4).

prog_spin's task "spinner" spins on the CPU in its first step, spawned in
the same ready batch, so the loop has published neither the spawn nor the
strings naming it: only the watchdog's report can.  The program spins
until the test has seen what it checks, then is released (SIGUSR1) and
must finish normally; every check below runs while it still spins (the
test asserts that "done" has not been printed yet).  Consumers: blocked,
ps and attach on the command line (ps and blocked also as observers of a
program another tracer records), and top through tmux.  An observer that
comes after a spin has ended lists it as over, with the loop's length of
it within what the program itself measured."""
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tmpdir import remove_socket, tmux_socket  # noqa: E402
from tracer_util import (TASKSCOPE, Checker, expect, debug_env, poll_until, prog,  # noqa: E402
                         rows, taskscope, taskscope_json)

SITE = "prog_spin.c:"


def spinning(c):
    p = c.start([prog("prog_spin")], env=debug_env())
    pid = int(p.wait_line(r"spinning pid=(\d+)").group(1))
    return p, pid


def still_spinning(p):
    expect(p.p.poll() is None and "done" not in p.lines,
           "prog_spin stopped spinning before the check ended: %r" % p.lines)


def release(p):
    os.kill(p.pid, signal.SIGUSR1)
    p.wait_line(r"^done$")
    expect(p.wait() == 0, "prog_spin failed after the spin")


def blocked_live(c):
    """`blocked PID` names the task and its site while the loop spins,
    without waiting for a state dump the loop cannot write."""
    p, pid = spinning(c)
    try:
        def ongoing():
            bl = taskscope_json("blocked", "--json", pid)
            return [e for e in bl["episodes"] if e["ongoing"] and e["kind"] == "blocked"]
        e = poll_until("an ongoing episode", ongoing)[0]
        expect(e["task_name"] == "spinner", "ongoing episode's task: %r" % e)
        expect((e.get("spawn_site") or "").startswith(SITE), "spawn site: %r" % e)
        expect(e["thread_state"] == "R", "busy on CPU expected: %r" % e)
        expect(e["stack_status"] in ("captured", "capturing"), "stack status: %r" % e)
        out = taskscope("blocked", pid, expect_rc=0).stdout
        expect("BLOCKED NOW" in out and "spinner" in out and SITE in out,
               "blocked text: %r" % out)
        # a stack not in yet (the watchdog sends it after its report) is
        # said to be coming, not left out silently
        expect("(prog_spin)" in out or "stack: being captured" in out,
               "neither the stack nor its absence in %r" % out)
        expect("task #%d ?" % e["task"] not in out, "unnamed task in %r" % out)
        # live, a system library's frames come without the source lines
        # its separate debug info would give (indexing it costs seconds)
        libc = [ln for ln in out.splitlines() if "(libc.so" in ln]
        expect(not any(" at " in ln for ln in libc), "libc lines symbolized live: %r" % libc)
        still_spinning(p)
    finally:
        release(p)


def ps_live(c):
    """`ps PID` lists the spinning task, running, named, with its site."""
    p, pid = spinning(c)
    try:
        def listed():
            ps = taskscope_json("ps", "--json", pid)
            return [t for t in ps["tasks"] if t["name"] == "spinner"]
        t = poll_until("the spinner in ps", listed)[0]
        expect(t["state"] == "running", "spinner state: %r" % t)
        expect((t["spawn_site"] or "").startswith(SITE), "spinner site: %r" % t)
        out = taskscope("ps", pid, expect_rc=0).stdout
        expect("spinner" in out and "running" in out, "ps text: %r" % out)
        still_spinning(p)
    finally:
        release(p)


def attach_live(c):
    """An attach recording taken and finished during the spin holds the
    episode, with the task's name."""
    p, pid = spinning(c)
    path = c.path("spin.db")
    try:
        def recorded():
            if os.path.exists(path):
                os.unlink(path)
            taskscope("attach", "--duration", "1", "-o", path, pid, expect_rc=0)
            return rows(path, "SELECT task_name, duration_ns FROM blocked")
        got = poll_until("the episode in an attach recording", recorded)
        expect(got[0][0] == "spinner", "recorded episode: %r" % got)
        expect(got[0][1] is None, "the episode had not ended: %r" % got)
        still_spinning(p)
    finally:
        release(p)


def observer_live(c):
    """With another tracer attached (`taskscope run` records it from its
    start), `ps PID` and `blocked PID` get no state dump: each, started
    once and at once, still names the spinner (they wait for the
    watchdog's report of the step it watches, not only for a dump)."""
    for cmd in ("ps", "blocked"):
        run = c.start([TASKSCOPE, "run", "-o", c.path("observed-%s.db" % cmd), "--",
                       prog("prog_spin")])
        pid = c.adopt(int(run.wait_line(r"spinning pid=(\d+)").group(1)), "prog_spin")
        try:
            r = taskscope(cmd, "--json", pid, expect_rc=0)
            expect("another tracer is attached" in r.stderr,
                   "%s was not an observer: %r" % (cmd, r.stderr))
            doc = json.loads(r.stdout)
            if cmd == "ps":
                got = [t for t in doc["tasks"] if t["name"] == "spinner"]
                expect(got and got[0]["state"] == "running", "ps: %r" % doc["tasks"])
            else:
                got = [e for e in doc["episodes"] if e["ongoing"]]
                expect(got and got[0]["task_name"] == "spinner", "blocked: %r" % doc)
            expect(run.p.poll() is None and "done" not in run.lines,
                   "prog_spin stopped spinning before the check ended: %r" % run.lines)
        finally:
            os.kill(pid, signal.SIGUSR1)
            run.wait_line(r"^done$")
            expect(run.wait() == 0, "taskscope run: %s" % run.stderr_text())


# The loop measures a step in CPU ticks, converted at a rate it measures
# against CLOCK_MONOTONIC, which the program's own measures use; NTP may
# slew CLOCK_MONOTONIC by up to 500 ppm, so the two agree to that much.
CLOCK_PPM = 500e-6


def observer_after(c):
    """An observer that comes after a 110 ms spin has ended (the program
    said so) lists the episode as over, never BLOCKED NOW, with the
    loop's length of it: at least the spin as the spinner measured it,
    at most the spinner's await as its parent measured it (the step
    lies inside)."""
    run = c.start([TASKSCOPE, "run", "-o", c.path("after.db"), "--", prog("prog_spin"), "110"])
    m = run.wait_line(r"spun pid=(\d+) spin_ns=(\d+) step_ns=(\d+)")
    pid = c.adopt(int(m.group(1)), "prog_spin")
    spin, step = int(m.group(2)), int(m.group(3))
    try:
        r = taskscope("blocked", "--json", pid, expect_rc=0)
        expect("another tracer is attached" in r.stderr, "not an observer: %r" % r.stderr)
        eps = [e for e in json.loads(r.stdout)["episodes"] if e["kind"] == "blocked"]
        expect(len(eps) == 1 and eps[0]["task_name"] == "spinner", "episodes: %r" % eps)
        e = eps[0]
        expect(not e["ongoing"], "a spin over before we came shown ongoing: %r" % e)
        lo, hi = spin * (1 - CLOCK_PPM), step * (1 + CLOCK_PPM)
        expect(lo <= e["duration_ns"] <= hi, "episode of %d ns; the program measured the spin "
               "at %d ns, the step within %d ns" % (e["duration_ns"], spin, step))
        out = taskscope("blocked", pid, expect_rc=0).stdout
        expect("BLOCKED NOW" not in out, "an ended spin shown as ongoing:\n%s" % out)
    finally:
        os.kill(pid, signal.SIGUSR1)
        run.wait_line(r"^done$")
        expect(run.wait() == 0, "taskscope run: %s" % run.stderr_text())


def tmux(sock, *args):
    return subprocess.run(["tmux", "-S", sock] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=30).stdout


def top_live(c):
    """`taskscope top PID` (in tmux) shows the episode as BLOCKED NOW, with
    the task's name, while the loop spins."""
    if not shutil.which("tmux"):
        print("top_live: tmux is not installed: not checked")
        return
    p, pid = spinning(c)
    sock = tmux_socket("ts-live")  # in $TMPDIR, removed after kill-server
    try:
        cmd = " ".join(shlex.quote(a) for a in
                       [TASKSCOPE, "top", "-o", c.path("top.db"), str(pid)])
        tmux(sock, "new-session", "-d", "-s", "top", "-x", "120", "-y", "40", cmd)

        def screen_has(*texts):
            def look():
                s = tmux(sock, "capture-pane", "-p", "-t", "top")
                return s if all(t in s for t in texts) else None
            return look
        poll_until("the spinner on top's task list", screen_has("spinner", "running"))
        tmux(sock, "send-keys", "-t", "top", "2")
        s = poll_until("BLOCKED NOW in top's Loops view",
                       screen_has("BLOCKED NOW", "task #", "spinner"))
        line = [ln for ln in s.splitlines() if "BLOCKED NOW" in ln][0]
        expect(line.rstrip().endswith("spinner"), "the episode's task unnamed: %r" % line)

        # Its length grows while it lasts (not the watchdog's figure at
        # the report, frozen).
        def length(screen):
            ln = [x for x in screen.splitlines() if "BLOCKED NOW" in x]
            m = re.search(r"BLOCKED NOW ([0-9.]+)(ns|us|ms|s) ", ln[0]) if ln else None
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
            return float(m.group(1)) * scale[m.group(2)] if m else None
        first = length(s)
        poll_until("the ongoing episode's length to grow past %r s" % first,
                   lambda: (length(tmux(sock, "capture-pane", "-p", "-t", "top")) or 0) > first)
        still_spinning(p)
        tmux(sock, "send-keys", "-t", "top", "q")
        time.sleep(0.2)
    finally:
        tmux(sock, "kill-server")
        remove_socket(sock)
        release(p)


def main():
    c = Checker("live_block")
    c.check(blocked_live)
    c.check(ps_live)
    c.check(attach_live)
    c.check(observer_live)
    c.check(observer_after)
    c.check(top_live)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
