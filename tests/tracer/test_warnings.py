#!/usr/bin/env python3
"""test_warnings.py - post-mortem equals live (issue 12 point 3).

- A lock deadlock that main breaks after 2 s (prog_deadlock lock2s): the
  final state has no cycle, yet `ps FILE --json` (and pstree, blocked,
  stats, text and JSON) report the deadlock the live model saw, from the
  recording's warning table, which the `warnings` view shows in SQL.
- ps/pstree list the live tasks (at the end of a recording) and one line
  saying how many finished tasks they hide and that --all shows them;
  on a finished recording that line is the whole picture.
- The status line: "complete: exit status 0", "recording in progress"
  while `taskscope run` still writes, "cut short: ..." once the recorder
  died without finishing.
- Figures agree: a blocked episode's warning text carries the same
  duration as `blocked` (and as the blocked view), once it has ended.
"""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, debug_env, expect, poll_until, prog,  # noqa: E402
                         record, remove_segment, rows, taskscope, taskscope_json)


def fmt_dur(ns):
    """tr_fmt_dur / tm_fmt_dur, the one duration format of every report."""
    if ns < 1000:
        return "%dns" % ns
    if ns < 1000000:
        return "%.1fus" % (ns / 1e3)
    if ns < 1000000000:
        return "%.1fms" % (ns / 1e6)
    return "%.2fs" % (ns / 1e9)


def deadlock_broken(c):
    path = c.path("lock2s.db")
    p = record(path, [prog("prog_deadlock"), "lock2s"])
    expect(p.returncode == 0 and "resolved" in p.stdout,
           "prog_deadlock lock2s: exit %d: %s %s" % (p.returncode, p.stdout, p.stderr))
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(ps["format_version"] >= 2, "format_version %r" % ps.get("format_version"))
    expect(ps["status"] == "complete: exit status 0", "status %r" % ps["status"])
    names = {t["name"]: t for t in ps["tasks"]}
    expect({"main", "left", "right"} <= set(names), "ps --all FILE lists %r" % sorted(names))
    bare = taskscope_json("ps", "--json", path)
    expect(bare["tasks"] == [] and bare["tasks_hidden"] == len(ps["tasks"]) and
           bare["warnings"] == ps["warnings"], "ps FILE without --all: %r" % bare)
    text = taskscope("ps", path, expect_rc=0).stdout
    expect("(%d finished tasks not shown: --all lists them)" % len(ps["tasks"]) in text,
           "ps FILE does not say what it hides:\n%s" % text)
    expect(names["left"]["state"] == "cancelled" and names["left"]["err"] == "ECANCELED"
           and names["left"]["err_code"] == -125, "left: %r" % names["left"])
    expect(names["main"]["err"] is None and names["main"]["err_code"] is None
           and names["main"]["parent"] is None, "main: %r" % names["main"])
    dl = [w for w in ps["warnings"] if w["kind"] == "deadlock"]
    expect(len(dl) == 1, "ps --json warnings %r" % ps["warnings"])
    w = dl[0]
    expect(re.search(r"deadlock: #\d+ (left|right) → lock .*\(prog_deadlock\.c:\d+\) → #\d+ (left|right)",
                     w["text"]), "deadlock text %r" % w["text"])
    expect(w["task"] in (names["left"]["id"], names["right"]["id"]), "warning task %r" % w)
    expect(w["resource"] is not None and w["time_ns"] > 0, "warning %r" % w)
    for cmd in ("pstree", "blocked", "stats"):
        js = taskscope_json(cmd, "--json", path)
        expect([x["text"] for x in js["warnings"] if x["kind"] == "deadlock"] == [w["text"]],
               "%s --json warnings %r" % (cmd, js["warnings"]))
    for cmd in ("ps", "pstree", "blocked", "stats"):
        out = taskscope(cmd, path, expect_rc=0).stdout
        expect(w["text"] in out, "%s FILE does not show the deadlock: %s" % (cmd, out[-1500:]))
        expect(out.splitlines()[0].startswith("%s (complete: exit status 0)" % path),
               "%s status line %r" % (cmd, out.splitlines()[0]))
    tree = taskscope("pstree", "--all", path, expect_rc=0).stdout
    expect("left [cancelled]" in tree and "right [cancelled]" in tree, "pstree FILE:\n%s" % tree)
    # SQL: the warnings view, with the task's name
    sql = rows(path, "SELECT kind, task_name, text, resource FROM warnings WHERE kind = 'deadlock'")
    expect(len(sql) == 1 and sql[0][1] in ("left", "right") and sql[0][2] == w["text"]
           and sql[0][3] == w["resource"], "warnings view %r" % sql)


def live_hides_finished(c):
    p = c.start([prog("prog_forever")], env=debug_env())
    p.wait_line(r"ready pid=(\d+)")
    out = taskscope("ps", p.pid, expect_rc=0).stdout
    ps = taskscope_json("ps", "--json", p.pid)
    alls = taskscope_json("ps", "--json", "--all", p.pid)
    hidden = len(alls["tasks"]) - len(ps["tasks"])
    expect(all(t["state"] not in ("done", "failed", "cancelled") for t in ps["tasks"]),
           "live ps lists finished tasks")
    if hidden > 0:
        expect("finished task" in out and "--all" in out, "no hidden-tasks line: %s" % out)
    p.kill()
    p.wait()
    remove_segment(p.pid)


def status_line(c):
    path = c.path("inprogress.db")
    run = c.start([TASKSCOPE, "run", "-o", path, "--", prog("prog_forever")])
    pid = c.adopt(int(run.wait_line(r"ready pid=(\d+)").group(1)), "prog_forever")

    def readable():
        r = taskscope("ps", "--json", path)
        return r.returncode == 0 and r.stdout
    poll_until("the recording readable", readable)
    ps = taskscope_json("ps", "--json", path)
    expect(ps["status"] == "recording in progress", "status while recording: %r" % ps["status"])
    out = taskscope("ps", path, expect_rc=0).stdout
    expect("(recording in progress)" in out.splitlines()[0], "text status %r" % out[:200])
    # The recorder dies without finishing: the file says so, truthfully.
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    os.kill(pid, signal.SIGKILL)
    remove_segment(pid)
    ps = taskscope_json("ps", "--json", path)
    expect(ps["status"].startswith("cut short"), "status after the recorder died: %r"
           % ps["status"])


def blocked_agrees(c):
    path = c.path("block.db")
    p = record(path, [prog("prog_block")])
    expect(p.returncode == 0, "prog_block: %s" % p.stderr)
    bl = taskscope_json("blocked", "--json", path)
    eps = [e for e in bl["episodes"] if e["kind"] == "blocked" and not e["ongoing"]
           and e["task_name"] == "freezer"]
    expect(eps, "no ended blocked episode: %r" % bl["episodes"])
    ws = [w["text"] for w in bl["warnings"] if w["kind"] == "blocked"]
    for e in eps:
        want = "blocked for %s by task #%d" % (fmt_dur(e["duration_ns"]), e["task"])
        expect(any(want in t for t in ws), "no warning says %r: %r" % (want, ws))
    expect(not any("+" in t for t in ws), "an ended episode still reads as ongoing: %r" % ws)
    text = taskscope("blocked", path, expect_rc=0).stdout
    for e in eps:
        expect("blocked %s:" % fmt_dur(e["duration_ns"]) in text, "blocked text: %s" % text)
    sql = rows(path, "SELECT duration_ns, thread_state_name, syscall_name FROM blocked "
               "WHERE task_name = 'freezer' AND duration_ns IS NOT NULL")
    expect(any(d == eps[0]["duration_ns"] and n in ("nanosleep", "clock_nanosleep")
               and s in ("sleeping", "uninterruptible sleep") for d, s, n in sql),
           "blocked view %r" % sql)
    # every system call the kernel headers name, not a hand-kept few
    n, = rows(path, "SELECT count(*) FROM syscall")[0]
    expect(n >= 300, "the syscall table has %d names" % n)
    if os.uname().machine == "x86_64":
        names = dict(rows(path, "SELECT nr, name FROM syscall WHERE nr IN (0, 202, 426)"))
        expect(names == {0: "read", 202: "futex", 426: "io_uring_enter"}, "syscalls %r" % names)
    stored = rows(path, "SELECT text FROM warnings WHERE kind = 'blocked'")
    expect(any("blocked for %s " % fmt_dur(eps[0]["duration_ns"]) in t for (t,) in stored),
           "the recording's warning table says %r" % stored)


def main():
    c = Checker("warnings")
    c.check(deadlock_broken)
    c.check(blocked_agrees)
    c.check(status_line)
    c.check(live_hides_finished)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
