#!/usr/bin/env python3
"""test_attach.py - tracing a process that is already running.

prog_forever runs on the debug runtime (swapped in by LD_LIBRARY_PATH);
then:
- `taskscope attach PID --duration S` records it: the recording starts
  with the flight recorder's window (events from before the attach, such
  as the creation of tasks started long before), holds the state dump
  (a task_state row per live task, between dump_begin and dump_end) and
  what happened during S seconds; the status says it detached.
- a second attach after the first works (the first let go).
- `taskscope ps PID` / `pstree PID` (live) show every live task with what
  it awaits, with and without --json.
- while one tracer is attached, a live ps still works, from the flight
  recorder, saying so.
- an idle process (its loop asleep in epoll) answers the attach too.
- attach without --duration ends when the process exits.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, count_rows, debug_env, expect, has_segment,  # noqa: E402,E501
                         poll_until, prog, rows, session, taskscope, taskscope_json)

LIVE = {"main", "supervisor", "holder", "contender", "ticker", "worker-1", "worker-2",
        "worker-3", "ts-signals"}
# What each live task awaits (ps --json "awaits"); the ticker is mostly
# asleep but may be caught ready or running.
AWAITS = {"main": {"event"}, "supervisor": {"task"}, "holder": {"sleep"},
          "contender": {"lock"}, "worker-1": {"event"}, "worker-2": {"event"},
          "worker-3": {"event"}, "ticker": {"sleep", "-"}}


def start_program(c):
    p = c.start([prog("prog_forever")], env=debug_env())
    pid = int(p.wait_line(r"ready pid=(\d+)").group(1))
    expect(pid == p.pid, "pid %d printed, %d started" % (pid, p.pid))
    # The ticker fills the flight recorder with some history.
    poll_until("some ticks", lambda: has_segment(pid))
    return p


def attach_with_duration(c, p, out):
    r = taskscope("attach", p.pid, "-o", out, "--duration", "2", expect_rc=0)
    expect("another tracer" not in r.stderr, "attach found another tracer: %r" % r.stderr)
    s = session(out)
    expect(s["status"] == "complete: detached", "status %r" % s["status"])
    expect(s["pid"] == str(p.pid) and s["exe"].endswith("prog_forever"), "session %r" % s)
    # Our dump is the newest; an earlier attach's may be in the flight
    # recorder's window too.
    begin = rows(out, "SELECT seq, ns, generation FROM ev_dump_begin ORDER BY generation DESC")
    expect(begin, "no dump_begin")
    bseq, bns, gen = begin[0]
    end = rows(out, "SELECT seq FROM ev_dump_end WHERE generation = ?", (gen,))
    expect(len(end) == 1, "dump %d: dump_end %r" % (gen, end))
    eseq = end[0][0]
    # The state dump: one row per live task, inside the dump.
    st = rows(out, "SELECT s.seq, s.task, n.text, s.state, s.kind FROM ev_task_state s "
                   "LEFT JOIN ev_string n ON n.id = s.name WHERE s.seq > ?", (bseq,))
    names = {r[2] for r in st}
    expect(names == LIVE, "state dump names %r, expected %r" % (names, LIVE))
    expect(all(bseq < r[0] < eseq for r in st), "task_state rows outside the dump")
    # The flight recorder's window comes first: the tasks' creation,
    # long before the attach, is there, before the dump.
    created = rows(out, "SELECT c.seq, c.ns, n.text FROM ev_task_create c "
                        "LEFT JOIN ev_string n ON n.id = c.name")
    early = {r[2] for r in created if r[0] < bseq and r[1] < bns}
    expect({"supervisor", "worker-1", "holder", "ticker"} <= early,
           "the flight recorder's window lacks the early task_create events: %r" % early)
    first = rows(out, "SELECT min(seq) FROM ev_task_resume")[0][0]
    expect(first is not None and first < bseq, "no task ran before the dump in the recording")
    # And the recording went on after the dump.
    after = rows(out, "SELECT count(*) FROM ev_task_resume WHERE seq > ?", (eseq,))[0][0]
    expect(after > 0, "nothing recorded after the state dump")
    # The reports of the recording know every live task and its wait.
    ps = taskscope_json("ps", "--json", out)
    check_ps(ps, "recording")
    return gen


def check_ps(ps, what):
    tasks = {t["name"]: t for t in ps["tasks"]}
    expect(set(tasks) == LIVE, "%s: ps shows %r, expected %r" % (what, sorted(tasks), sorted(LIVE)))
    for name, kinds in AWAITS.items():
        expect((tasks[name]["awaits"] or "-") in kinds, "%s: %s awaits %r, expected one of %r"
               % (what, name, tasks[name]["awaits"], kinds))
    sup = tasks["supervisor"]
    for w in ("worker-1", "worker-2", "worker-3"):
        expect(tasks[w]["parent"] == sup["id"], "%s: %s's parent is %r" % (what, w, tasks[w]))
    expect(tasks["contender"]["state"] == "suspended",
           "%s: contender %r" % (what, tasks["contender"]))
    expect(tasks["contender"]["awaits_object"] != 0, "%s: the lock has no id" % what)


def attach(c):
    p = start_program(c)
    gen1 = attach_with_duration(c, p, c.path("attach1.db"))
    gen2 = attach_with_duration(c, p, c.path("attach2.db"))
    expect(gen2 != gen1, "two attaches share a dump generation (%r)" % gen1)


def live_reports(c):
    p = start_program(c)
    ps = taskscope_json("ps", "--json", p.pid)
    expect(ps["source"] == "pid %d" % p.pid, "source %r" % ps["source"])
    check_ps(ps, "live ps")
    text = taskscope("ps", p.pid, expect_rc=0).stdout
    expect(text.splitlines()[0].startswith("pid %d: 9 live tasks" % p.pid),
           "live ps header %r" % text.splitlines()[0])
    for line in text.splitlines()[2:]:
        cols = line.split()
        if len(cols) > 1 and cols[1].startswith("worker-"):
            expect(" event " in line and "prog_forever.c:" in line,
                   "worker line lacks its wait and site: %r" % line)
        if len(cols) > 1 and cols[1] == "contender":
            expect(" lock 0x" in line, "contender line lacks its lock: %r" % line)
    tree = taskscope_json("pstree", "--json", p.pid)
    by_id = {t["id"]: t for t in tree["tasks"]}
    for t in tree["tasks"]:
        if t["name"].startswith("worker-"):
            expect(by_id[t["parent"]]["name"] == "supervisor", "pstree parent of %r" % t)
            expect(t["awaits"].startswith("event"), "pstree %r" % t)
        if t["name"] == "supervisor":
            expect(t["awaits"].startswith("task #"), "pstree supervisor %r" % t)
    text = taskscope("pstree", p.pid, expect_rc=0).stdout
    expect("└── #" in text and "awaits event" in text, "live pstree %r" % text)
    taskscope_json("stats", "--json", p.pid)
    taskscope_json("blocked", "--json", p.pid)


def attached_elsewhere(c):
    p = start_program(c)
    bg = c.start([TASKSCOPE, "attach", str(p.pid), "-o", c.path("bg.db"), "--duration", "60"])
    # The tracer attaches before it creates its recording.
    poll_until("the background tracer", lambda: count_rows(c.path("bg.db"), "session") >= 4)
    r = taskscope("ps", "--json", p.pid, expect_rc=0)
    expect("another tracer" in r.stderr, "no word about the other tracer: %r" % r.stderr)
    ps = json.loads(r.stdout)
    names = {t["name"] for t in ps["tasks"]}
    expect({"supervisor", "worker-1", "ticker"} <= names,
           "ps from the flight recorder shows %r" % names)
    os.kill(bg.pid, signal.SIGINT)
    expect(bg.wait() == 0, "the background attach failed after SIGINT: %s" % bg.stderr_text())
    expect(session(c.path("bg.db"))["status"] == "complete: detached", "bg status")


def attach_idle(c):
    """A process whose loop sleeps (nothing due for an hour: a server
    between requests, or a deadlock) must still answer the attach with
    its state dump."""
    p = c.start([prog("prog_forever"), "--snapshot"], env=debug_env())
    p.wait_line(r"^snapshot-end$")
    out = c.path("idle.db")
    taskscope("attach", p.pid, "-o", out, "--duration", "3", expect_rc=0)
    dumps = rows(out, "SELECT generation FROM ev_dump_end")
    expect(dumps, "an idle process never wrote the state dump the attach asked for "
                  "(no dump_end in %d s)" % 3)
    names = {r[0] for r in rows(out, "SELECT n.text FROM ev_task_state s "
                                     "LEFT JOIN ev_string n ON n.id = s.name")}
    expect(names == LIVE - {"ticker"}, "state dump of the idle process: %r" % names)
    os.kill(p.pid, signal.SIGTERM)
    expect(p.wait() == 0, "prog_forever failed on SIGTERM: %s" % p.stderr_text())


def until_exit(c):
    p = start_program(c)
    out = c.path("until-exit.db")
    a = c.start([TASKSCOPE, "attach", str(p.pid), "-o", out])
    poll_until("the attach's dump", lambda: count_rows(out, "ev_dump_end") >= 1)
    os.kill(p.pid, signal.SIGTERM)
    expect(p.wait() == 0, "prog_forever failed on SIGTERM: %s" % p.stderr_text())
    expect(a.wait() == 0, "attach failed: %s" % a.stderr_text())
    s = session(out)
    expect(s["status"] == "complete: the process exited", "status %r" % s["status"])
    states = dict(rows(out, "SELECT name, state FROM tasks"))
    expect(states.get("ticker") == "cancelled", "ticker ended %r" % states.get("ticker"))
    ps = taskscope_json("ps", "--json", out)
    expect(ps["tasks"] == [], "tasks still live after the exit: %r" % ps["tasks"])


def main():
    c = Checker("attach")
    c.check(attach)
    c.check(live_reports)
    c.check(attached_elsewhere)
    c.check(attach_idle)
    c.check(until_exit)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
