#!/usr/bin/env python3
"""test_fork_top.py - `taskscope top -- PROGRAM` follows the children
PROGRAM forks (issue 13, point 8), driven through tmux.

prog_fork inside FILE forks inside its task "forker"; the child blocks
300 ms in that task, then waits (suspended in "forker") until FILE
exists.  Under `top -o REC -- prog_fork inside FILE`:

- the header says a forked child is followed; the key P shows the child
  (the header's pid becomes the child's, "forked child of PARENT") with
  its task "forker", live, which the parent no longer has;
- once FILE exists the child exits, the view gives way to the program,
  which exits 0, and REC holds both processes (the child's row names its
  parent; its blocked step is there, under its pid);
- with --no-follow, P finds no child and REC holds the program alone.

Skipped (77) without tmux.  Every wait polls the screen with a generous
deadline: a loaded machine makes it slower, never flaky.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tmpdir import remove_socket, tmux_socket  # noqa: E402
from tracer_util import (TASKSCOPE, Checker, expect, prog, rows,  # noqa: E402
                         taskscope_json)

SOCKET = tmux_socket("ts-fork-top")  # in $TMPDIR, removed after kill-server
DEADLINE = 90


def tmux(*args, check=True):
    r = subprocess.run(["tmux", "-S", SOCKET] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    expect(not check or r.returncode == 0, "tmux %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


def screen(name):
    return tmux("capture-pane", "-p", "-t", name, check=False)


def wait_screen(name, pred, what):
    deadline = time.time() + DEADLINE
    s = ""
    while time.time() < deadline:
        s = screen(name)
        if pred(s):
            return s
        time.sleep(0.2)
    expect(False, "no %s on screen after %d s:\n%s" % (what, DEADLINE, s))


def start_top(c, name, rec, go, flags=()):
    cmd = [TASKSCOPE, "top", "-o", rec] + list(flags) + ["--", prog("prog_fork"), "inside", go]
    shell = "%s; echo TUI-EXIT $?; exec sleep 600" % " ".join(shlex.quote(a) for a in cmd)
    tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "30", "-c", c.path(""),
         "sh", "-c", shell)


def quit_top(name):
    tmux("send-keys", "-t", name, "q")
    s = wait_screen(name, lambda s: "TUI-EXIT" in s, "exit")
    expect("TUI-EXIT 0" in s, "top did not exit 0:\n" + s)


def header(s):
    return s.splitlines()[0] if s else ""


def followed(c):
    rec, go = c.path("top.db"), c.path("go-top")
    start_top(c, "followed", rec, go)
    try:
        s = wait_screen("followed", lambda s: "1 forked child followed" in s,
                        "followed child in the header")
        parent = int(re.search(r"pid (\d+)", header(s)).group(1))
        tmux("send-keys", "-t", "followed", "P")
        s = wait_screen("followed", lambda s: "forked child of %d" % parent in header(s)
                        and re.search(r"^\S*\s+2 forker\s+suspended", s, re.M),
                        "child's view with its live forker")
        child = int(re.search(r"pid (\d+)", header(s)).group(1))
        expect(child != parent, "the header should show the child's pid:\n" + s)
        open(go, "w").close()
        # The child exits: the program is shown again, and then exits too.
        wait_screen("followed", lambda s: "exited with status 0" in header(s),
                    "the program's exit")
        s = screen("followed")
        expect("pid %d" % parent in header(s), "the program is shown at the end:\n" + s)
        quit_top("followed")
    finally:
        tmux("kill-session", "-t", "followed", check=False)
    procs = rows(rec, "SELECT pid, parent, status FROM process ORDER BY parent IS NOT NULL")
    expect([p[0] for p in procs] == [parent, child] and procs[1][1] == parent,
           "the recording's processes: %r" % procs)
    bl = taskscope_json("blocked", "--json", "--pid", str(child), rec)
    eps = [e for e in bl["episodes"] if e["kind"] == "blocked" and e["task_name"] == "forker"]
    expect(eps and max(e["duration_ns"] for e in eps) >= 250_000_000,
           "the child's blocked step is not in the recording: %r" % bl)


def not_followed(c):
    rec, go = c.path("nofollow.db"), c.path("go-nofollow")
    log = rec + ".log"
    start_top(c, "nofollow", rec, go, ["--no-follow"])
    try:
        wait_screen("nofollow", lambda s: "LIVE running" in header(s), "LIVE running")
        deadline = time.time() + DEADLINE
        while time.time() < deadline and not (os.path.exists(log) and
                                              "blocked" in open(log).read()):
            time.sleep(0.2)
        expect("blocked" in open(log).read(), "the child never got going: %s" % log)
        tmux("send-keys", "-t", "nofollow", "P")
        wait_screen("nofollow", lambda s: "no forked child being followed" in s,
                    "P's message without a child")
        expect("followed" not in header(screen("nofollow")), "header with --no-follow")
        open(go, "w").close()
        wait_screen("nofollow", lambda s: "exited with status 0" in header(s),
                    "the program's exit")
        quit_top("nofollow")
    finally:
        tmux("kill-session", "-t", "nofollow", check=False)
    procs = rows(rec, "SELECT pid FROM process")
    expect(len(procs) == 1, "--no-follow recorded processes %r" % procs)


def main():
    if not shutil.which("tmux"):
        print("tmux is not installed: skipped")
        return 77
    c = Checker("fork_top")
    try:
        # an idle session keeps the server up between the cases
        tmux("new-session", "-d", "-s", "keeper", "sleep 3600")
        c.check(followed)
        c.check(not_followed)
    finally:
        tmux("kill-server", check=False)
        remove_socket(SOCKET)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
