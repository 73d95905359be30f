#!/usr/bin/env python3
"""test_crash.py - a program that dies of a fatal signal keeps its last
moments (issue 13, point 3).

- Under `taskscope run`: the tracer holds its own reference to the
  segment, so after the SIGSEGV it drains the final window: the recording
  says the program was killed by signal 11, holds the crasher's last
  event (the spawn of "last-words", unpublished when the signal came) and
  the last state of every task; taskscope passes the status on (139).
- Under `taskscope attach` the same, the signal as the crash handler
  reported it (the tracer is not the program's parent).
- Without a tracer: the debug runtime writes taskscope-crash.PID.tsnap in
  TASKSCOPE_CRASH_DIR (or the working directory), the program's exit
  status is unchanged (SIGSEGV, SIGABRT), and `taskscope ps|pstree|blocked
  FILE` read the snapshot like a recording, naming the signal and where.
- After a flood that overwrote their events in the flight recorder, the
  snapshot's state dump still lists the idle tasks and what they await.
- TASKSCOPE_CRASH=0: no snapshot.
- Either way, nothing is left in /dev/shm.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, count_rows, debug_env, expect,  # noqa: E402
                         poll_until, prog, remove_segment, session, taskscope, taskscope_json)

TASKS = {"main", "sleeper", "waiter", "crasher", "last-words"}


def left_in_dev_shm(pid):
    """Anything of pid's in /dev/shm (other programs on the machine may
    have their own: only pid's are ours to check)."""
    return [n for n in os.listdir("/dev/shm") if n.startswith("taskscope") and str(pid) in n]


def tasks_of(target):
    ps = taskscope_json("ps", "--json", "--all", target)
    return ps, {t["name"]: t for t in ps["tasks"]}


def under_run(c):
    out = c.path("crash.db")
    run = c.start([TASKSCOPE, "run", "-o", out, "--", prog("prog_crash")])
    pid = c.adopt(int(run.wait_line(r"crashing pid=(\d+)").group(1)), "prog_crash")
    rc = run.wait()
    expect(rc == 128 + 11, "taskscope run exited %d, expected 139: %s" % (rc, run.stderr_text()))
    expect(not remove_segment(pid) and not left_in_dev_shm(pid), "left in /dev/shm: %r"
           % left_in_dev_shm(pid))
    s = session(out)
    expect("killed by signal 11" in s["status"], "status %r" % s["status"])
    ps, tasks = tasks_of(out)
    expect(TASKS <= set(tasks), "ps --all shows %r, missing %r" % (set(tasks), TASKS - set(tasks)))
    # The last state of every task: what each was doing when it died.
    expect(tasks["sleeper"]["awaits"] == "sleep", "sleeper: %r" % tasks["sleeper"])
    expect(tasks["waiter"]["awaits"] == "event", "waiter: %r" % tasks["waiter"])
    expect(tasks["main"]["awaits"] == "task", "main: %r" % tasks["main"])
    expect(not os.path.exists(os.path.join(c.dir, "taskscope-crash.%d.tsnap" % pid)),
           "a crash snapshot was written although a tracer was attached")


def under_attach(c):
    """taskscope attach, not our child's tracer: its own reference to the
    segment still gives it the last window, and the crash handler's word
    gives it the signal."""
    go = c.path("go")
    p = c.start([prog("prog_crash"), "--wait-file", go], env=debug_env())
    pid = int(p.wait_line(r"ready pid=(\d+)").group(1))
    out = c.path("attach.db")
    a = c.start([TASKSCOPE, "attach", str(pid), "-o", out])
    poll_until("the attach's dump", lambda: count_rows(out, "ev_dump_end") >= 1)
    open(go, "w").close()
    expect(p.wait() == -11, "prog_crash did not die of SIGSEGV: %s" % p.stderr_text())
    expect(a.wait() == 0, "attach failed: %s" % a.stderr_text())
    s = session(out)
    expect(s["status"] == "truncated: the program was killed by signal 11", "status %r"
           % s["status"])
    ps, tasks = tasks_of(out)
    expect(TASKS <= set(tasks), "ps --all shows %r, missing %r" % (set(tasks), TASKS - set(tasks)))
    expect(tasks["sleeper"]["awaits"] == "sleep", "sleeper: %r" % tasks["sleeper"])
    expect(not left_in_dev_shm(pid), "left in /dev/shm: %r" % left_in_dev_shm(pid))


def snapshot(c, abort=False):
    sig = 6 if abort else 11
    d = c.path("crashdir-%d" % sig)
    os.mkdir(d)
    env = debug_env()
    env["TASKSCOPE_CRASH_DIR"] = d
    p = c.start([prog("prog_crash")] + (["--abort"] if abort else []), env=env)
    pid = int(p.wait_line(r"crashing pid=(\d+)").group(1))
    rc = p.wait()
    expect(rc == -sig, "prog_crash exited %r, expected to die of signal %d" % (rc, sig))
    expect(not left_in_dev_shm(pid), "left in /dev/shm: %r" % left_in_dev_shm(pid))
    path = os.path.join(d, "taskscope-crash.%d.tsnap" % pid)
    expect(os.path.exists(path), "no snapshot in %s: %r; stderr %r"
           % (d, os.listdir(d), p.stderr_text()))
    expect(path in p.stderr_text(), "the program did not say where: %r" % p.stderr_text())
    expect(oct(os.stat(path).st_mode & 0o777) == oct(0o600), "snapshot mode %o"
           % (os.stat(path).st_mode & 0o777))
    ps, tasks = tasks_of(path)
    status = ps.get("status") or ""
    expect("killed by signal %d" % sig in status, "ps status %r" % status)
    expect(TASKS <= set(tasks), "ps --all shows %r, missing %r" % (set(tasks), TASKS - set(tasks)))
    expect(tasks["sleeper"]["awaits"] == "sleep", "sleeper: %r" % tasks["sleeper"])
    expect(tasks["waiter"]["awaits"] == "event", "waiter: %r" % tasks["waiter"])
    if not abort:
        # where it crashed: crash_here, called by the crasher task
        expect("crash_here" in status, "ps status %r does not say where" % status)
    for cmd in ("pstree", "blocked", "ps"):
        r = taskscope(cmd, path, expect_rc=0)
        expect("killed by signal %d" % sig in r.stdout.splitlines()[0],
               "%s header %r" % (cmd, r.stdout.splitlines()[0]))


def snapshot_abort(c):
    snapshot(c, abort=True)


def snapshot_after_flood(c):
    """The flight recorder has long lost the sleeper's and the waiter's
    events: the snapshot's state dump still says what they await."""
    d = c.path("crashdir-flood")
    os.mkdir(d)
    env = debug_env()
    env["TASKSCOPE_CRASH_DIR"] = d
    env["TASKSCOPE_RING_SIZE"] = "65536"
    p = c.start([prog("prog_crash"), "--flood"], env=env)
    pid = int(p.wait_line(r"crashing pid=(\d+)").group(1))
    expect(p.wait() == -11, "prog_crash --flood did not die of SIGSEGV")
    path = os.path.join(d, "taskscope-crash.%d.tsnap" % pid)
    expect(os.path.exists(path), "no snapshot: %r" % p.stderr_text())
    ps, tasks = tasks_of(path)
    expect({"sleeper", "waiter", "crasher", "main"} <= set(tasks), "ps --all shows %r"
           % sorted(set(tasks)))
    expect(tasks["sleeper"]["awaits"] == "sleep", "sleeper: %r" % tasks["sleeper"])
    expect(tasks["waiter"]["awaits"] == "event", "waiter: %r" % tasks["waiter"])
    live = {t["name"] for t in taskscope_json("ps", "--json", path)["tasks"]}
    expect({"sleeper", "waiter", "crasher", "main"} <= live, "live at the crash: %r" % live)


def snapshot_off(c):
    d = c.path("crashdir-off")
    os.mkdir(d)
    env = debug_env()
    env["TASKSCOPE_CRASH_DIR"] = d
    env["TASKSCOPE_CRASH"] = "0"
    p = c.start([prog("prog_crash")], env=env)
    p.wait_line(r"crashing pid=(\d+)")
    expect(p.wait() == -11, "prog_crash did not die of SIGSEGV")
    expect(os.listdir(d) == [], "TASKSCOPE_CRASH=0 still wrote %r" % os.listdir(d))


def main():
    c = Checker("crash")
    c.check(under_run)
    c.check(under_attach)
    c.check(snapshot)
    c.check(snapshot_abort)
    c.check(snapshot_after_flood)
    c.check(snapshot_off)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
