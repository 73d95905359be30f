#!/usr/bin/env python3
"""tests/bpf/test_bpf_top.py - `taskscope top --bpf PID` (and `top --bpf --
PROGRAM`) driven through tmux.

    test_bpf_top.py --taskscope CMD --target BPF_TARGET

BPF_TARGET (tests/bpf/bpf_target.c, on the RELEASE runtime) is started in
`hold busy` mode: its tasks are created and parked before top attaches,
and one of them ticks every millisecond.  top --bpf runs in a detached
tmux session (its own server socket); the test waits for the tasks the
state dump must show (names, states, what each awaits), the deadlock
warning and the lock holders and queue depth the release runtime's dump
gives (the warnings and resources tabs), opens a task's detail view, and
quits, checking the exit status and that the terminal
is left sane.  A second run does the same on the idle (deadlocked) form,
and a third starts the target under top itself (`-- PROGRAM`).

Every check polls the screen until the text appears, with a generous
deadline: a loaded machine makes the test slower, never flaky.
Exit 0 on success, 1 on failure (the screen is printed), 77 (skip) when
tmux is missing or BPF cannot work here (not root).
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # importing tmpdir must not write into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tmpdir import remove_socket, tmux_socket  # noqa: E402

DEADLINE = 90
SOCKET = tmux_socket("ts-bpf-top")  # in $TMPDIR, removed after kill-server


class Failure(Exception):
    pass


def tmux(*args, check=True):
    r = subprocess.run(["tmux", "-S", SOCKET] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise Failure("tmux %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


class Pane:
    def __init__(self, name, command):
        self.name = name
        shell = ("%s; echo \"TUI-EXIT $?\"; stty -a | tr ' ' '\\n' | "
                 "grep -E '^-?(icanon|echo)$' | sed 's/^/STTY:/'; exec sleep 600" % command)
        # The server of the previous pane may still be exiting (its last
        # session was killed): tmux then says "server exited
        # unexpectedly".  Try again on a fresh server.
        for attempt in range(5):
            try:
                tmux("new-session", "-d", "-s", name, "-x", "160", "-y", "40", "sh", "-c", shell)
                break
            except Failure:
                if attempt == 4:
                    raise
                time.sleep(0.5)

    def screen(self):
        return tmux("capture-pane", "-p", "-t", self.name, check=False)

    def keys(self, *keys):
        for k in keys:
            tmux("send-keys", "-t", self.name, k)
            time.sleep(0.05)

    def wait(self, pred, what):
        deadline = time.time() + DEADLINE
        screen = ""
        while time.time() < deadline:
            screen = self.screen()
            if pred(screen):
                return screen
            time.sleep(0.2)
        raise Failure("no %s on screen after %d s; the screen:\n%s" % (what, DEADLINE, screen))

    def kill(self):
        tmux("kill-session", "-t", self.name, check=False)


def line_with(screen, name):
    """The row of the task called name (the column after its id)."""
    for line in screen.splitlines():
        words = line.replace("!", " ").split()
        if len(words) > 1 and words[0].isdigit() and words[1] == name:
            return line
    return ""


def rows_with(screen, *words):
    return [line for line in screen.splitlines() if all(w in line.split() for w in words)]


def check_deadlock(pane):
    """The warnings tab spells out the lock cycle; the resources tab has
    each lock with its holder and the full queue at 2/2 (from the state
    dump alone: every task parked before the attach).  Back to the tasks
    tab after."""
    pane.keys("4")
    pane.wait(lambda s: any("deadlock-a" in line and "deadlock-b" in line and
                            " → lock " in line for line in rows_with(s, "DEADLOCK")),
              "the deadlock warning")
    pane.keys("3")
    pane.wait(lambda s: rows_with(s, "lock", "deadlock-a") and rows_with(s, "lock", "deadlock-b")
              and rows_with(s, "queue", "2/2"), "lock holders and the queue's depth")
    pane.keys("1")
    pane.wait(lambda s: line_with(s, "napper"), "the tasks tab again")


def start_target(target, mode):
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)  # the target's own run path: the release library
    p = subprocess.Popen([target, "hold"] + mode, stdout=subprocess.PIPE, text=True, env=env)
    if p.stdout.readline() != "held\n":
        p.kill()
        raise Failure("the target did not start")
    return p


def watch(ctx, mode, name):
    target = start_target(ctx.target, mode)
    pane = None
    try:
        cmd = " ".join(shlex.quote(a) for a in
                       [ctx.taskscope, "top", "--bpf", "--no-record", str(target.pid)])
        pane = Pane(name, cmd)
        want = ["napper", "waiter", "deadlock-a", "deadlock-b"] + (["ticker"] if mode else [])

        def all_tasks(s):
            return "through BPF" in s and all(
                "suspended" in line_with(s, w) for w in want)
        s = pane.wait(all_tasks, "task rows from the state dump")
        if "no state dump" in s:
            raise Failure("top says the loops did not dump:\n" + s)
        for w, awaits in [("napper", "sleep"), ("waiter", "event"), ("deadlock-a", "lock")]:
            if awaits not in line_with(s, w):
                raise Failure("%s should await %s:\n%s" % (w, awaits, s))
        if "runtime release (BPF)" not in s:
            raise Failure("the header should say the release runtime through BPF:\n" + s)
        check_deadlock(pane)
        # the detail view of a task that existed before the attach
        pane.keys("/")
        pane.wait(lambda s: "filter:" in s, "filter prompt")
        tmux("send-keys", "-t", pane.name, "-l", "deadlock-b")
        pane.keys("Enter")
        pane.wait(lambda s: "deadlock-a" not in s and "deadlock-b" in s, "filtered rows")
        pane.keys("Enter")
        s = pane.wait(lambda s: "deadlock-b" in s and "spawned at" in s, "detail view")
        pane.keys("Escape", "Escape", "q")
        s = pane.wait(lambda s: "TUI-EXIT" in s and "STTY:" in s, "exit")
        if "TUI-EXIT 0" not in s:
            raise Failure("top --bpf did not exit with 0:\n" + s)
        pane.wait(lambda s: "STTY:icanon" in s and "STTY:echo" in s, "a sane terminal")
        if target.poll() is not None:
            raise Failure("the traced program died (status %s)" % target.returncode)
    finally:
        if pane:
            pane.kill()
        target.kill()
        target.wait()


def launch(ctx):
    """top --bpf -- PROGRAM: the program traced from its start, its output
    in the log and not on the screen, interrupted when top quits."""
    log = os.path.join(tempfile.gettempdir(), "ts-bpf-top-%d.log" % os.getpid())
    pane = None
    try:
        cmd = " ".join(shlex.quote(a) for a in
                       [ctx.taskscope, "top", "--bpf", "--no-record", "--log", log, "--",
                        ctx.target, "hold", "busy"])
        pane = Pane("launch", "env -u LD_LIBRARY_PATH " + cmd)
        want = ["napper", "waiter", "deadlock-a", "deadlock-b", "ticker"]
        s = pane.wait(lambda s: "through BPF" in s and all(
            "suspended" in line_with(s, w) for w in want), "the launched program's tasks")
        if "held" in s.split():
            raise Failure("the program's output reached the screen:\n" + s)
        # The program's line reaches the log when its stdio flushes, which
        # may come a moment after its tasks show on the screen: poll.
        deadline = time.monotonic() + 30
        while True:
            with open(log) as f:
                if "held" in f.read():
                    break
            if time.monotonic() > deadline:
                raise Failure("the program's output is not in the log")
            time.sleep(0.1)
        pane.keys("q")
        s = pane.wait(lambda s: "TUI-EXIT" in s and "STTY:" in s, "exit")
        if "TUI-EXIT 0" not in s:
            raise Failure("top --bpf -- PROGRAM did not exit with 0:\n" + s)
        pane.wait(lambda s: "STTY:icanon" in s and "STTY:echo" in s, "a sane terminal")
    finally:
        if pane:
            pane.kill()
        if os.path.exists(log):
            os.unlink(log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--taskscope", required=True)
    ap.add_argument("--target", required=True)
    ctx = ap.parse_args()
    if not shutil.which("tmux"):
        print("SKIP: tmux is not installed")
        return 77
    if os.geteuid() != 0:
        print("SKIP: BPF tracing needs root")
        return 77
    failed = 0
    try:
        for mode, name in [(["busy"], "busy"), ([], "idle")]:
            try:
                watch(ctx, mode, name)
                print("ok: top --bpf, %s loop" % name)
            except Failure as e:
                failed = 1
                print("FAIL: top --bpf, %s loop: %s" % (name, e))
        try:
            launch(ctx)
            print("ok: top --bpf -- PROGRAM")
        except Failure as e:
            failed = 1
            print("FAIL: top --bpf -- PROGRAM: %s" % e)
    finally:
        tmux("kill-server", check=False)
        remove_socket(SOCKET)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
