#!/usr/bin/env python3
"""test_where.py - stacks of parked tasks and user annotations (issue 15).

prog_where parks "sleeper" in where_inner <- where_middle <- where_outer
<- sleeper_main and "locker" in lock_wait_inner <- lock_wait_outer <-
locker_main, and sets fields and log lines.  Checked live (`taskscope
where PID [TASK]`, --json, ps --stacks, pstree --stacks, ps --fields) and
from a recording made by `taskscope attach` (where FILE, the SQL views
fields, logs and task_stacks, the chrome export).
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (DEBUG_LIBDIR, TASKSCOPE, Checker, debug_env, expect, poll_until,  # noqa: E402
                         prog, remove_segment, rows, taskscope, taskscope_json)

SLEEPER = ["where_inner", "where_middle", "where_outer", "sleeper_main"]
LOCKER = ["lock_wait_inner", "lock_wait_outer", "locker_main"]


def in_order(funcs, names, what):
    """names appear among funcs, in this order (innermost first)."""
    at = []
    for n in names:
        expect(n in funcs, "%s: %s missing from the stack %r" % (what, n, funcs))
        at.append(funcs.index(n))
    expect(at == sorted(at), "%s: %r out of order in %r" % (what, names, funcs))


def sections(text):
    """{task name: [function names]} from where's text output."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("task #"):
            cur = line.split()[2]
            out[cur] = []
        elif cur and line.strip().startswith("#"):
            out[cur].append(line.split()[1])
    return out


def check_where(target, what):
    out = taskscope("where", target, expect_rc=0).stdout
    s = sections(out)
    in_order(s.get("sleeper", []), SLEEPER, what + " sleeper")
    in_order(s.get("locker", []), LOCKER, what + " locker")
    js = taskscope_json("where", "--json", target)
    tasks = {t["name"]: t for t in js["tasks"]}
    expect(tasks["sleeper"]["fields"] == {"user": "alice", "step": "2", "color": "\x1b[31mred"},
           "%s: where --json fields %r" % (what, tasks["sleeper"]["fields"]))
    funcs = [f["function"] for f in tasks["sleeper"]["frames"]]
    in_order(funcs, SLEEPER, what + " json")
    inner = [f for f in tasks["sleeper"]["frames"] if f["function"] == "where_inner"][0]
    expect(inner["file"] and inner["file"].endswith("prog_where.c") and inner["line"],
           "%s: where_inner has no line: %r" % (what, inner))
    # one task by number
    one = taskscope("where", target, str(tasks["locker"]["task"]), expect_rc=0).stdout
    s1 = sections(one)
    expect(list(s1) == ["locker"], "%s: where TASK shows %r" % (what, list(s1)))
    in_order(s1["locker"], LOCKER, what + " where TASK")
    bad = taskscope("where", target, "999999", expect_rc=1)
    expect("no task #999999" in bad.stderr, "%s: unknown task: %r" % (what, bad.stderr))
    for cmd in ("ps", "pstree"):
        out = taskscope(cmd, "--stacks", target, expect_rc=0).stdout
        expect("stacks of parked tasks:" in out, "%s: %s --stacks: %s" % (what, cmd, out))
        in_order(sections(out.split("stacks of parked tasks:")[1]).get("sleeper", []),
                 SLEEPER, "%s %s --stacks" % (what, cmd))
    return tasks


def check_fields(target, what):
    out = taskscope("ps", "--fields", target, expect_rc=0).stdout
    expect("\x1b" not in out, "%s: raw escape in ps --fields" % what)
    line = [l for l in out.splitlines() if "sleeper:" in l and "user=alice" in l]
    expect(line, "%s: no sleeper fields line in %s" % (what, out))
    expect("step=2" in line[0] and "step=1" not in line[0] and "color=\\e[31mred" in line[0],
           "%s: fields %r" % (what, line[0]))
    expect("gone=" not in out, "%s: a removed field is shown" % what)
    expect("sleeper: sleeper: going to sleep" in out, "%s: sleeper's log line: %s" % (what, out))
    expect("(no task): main: spawned both" in out or "main: main: spawned both" in out,
           "%s: main's log line: %s" % (what, out))


def live(c):
    p = c.start([prog("prog_where")], env=debug_env())
    p.wait_line(r"parked pid=\d+")
    check_where(p.pid, "live")
    check_fields(p.pid, "live")
    # a recording taken by attach: its dump holds the stacks and fields
    out = c.path("where.db")
    taskscope("attach", "-o", out, "--duration", "1", str(p.pid), expect_rc=0)
    p.kill()
    p.wait()
    remove_segment(p.pid)
    check_where(out, "recorded")
    check_fields(out, "recorded")
    fields = rows(out, "SELECT task_name, key, value FROM fields ORDER BY task_name, key")
    expect(("sleeper", "step", "2") in fields and ("sleeper", "user", "alice") in fields
           and not any(r[1] == "gone" for r in fields), "SQL fields: %r" % (fields,))
    logs = rows(out, "SELECT task_name, text FROM logs")
    expect(("sleeper", "sleeper: going to sleep") in logs and ("main", "main: spawned both") in logs,
           "SQL logs: %r" % (logs,))
    stacks = rows(out, "SELECT task_name, depth FROM task_stacks")
    expect(any(r[0] == "sleeper" and r[1] >= 4 for r in stacks), "SQL stacks: %r" % (stacks,))
    q = taskscope("query", out, "SELECT key, value FROM fields WHERE key = 'user'",
                  expect_rc=0).stdout
    expect("alice" in q, "query fields: %r" % q)
    exp = c.path("where.json")
    taskscope("export", "--format", "chrome", "-o", exp, out, expect_rc=0)
    with open(exp, encoding="utf-8") as f:
        doc = json.load(f)
    evs = doc["traceEvents"] if isinstance(doc, dict) else doc
    blob = json.dumps(evs)
    expect("alice" in blob, "export: no field value")


def cancel(c):
    """taskscope cancel: applied on the loop's thread and recorded with the
    canceller; refused for a finished task, an unknown task, a dead pid and
    the release runtime."""
    out = c.path("cancel.db")
    p = c.start([prog("prog_where")], env=debug_env())
    p.wait_line(r"parked pid=\d+")
    rec = c.start([TASKSCOPE, "attach", "-o", out, str(p.pid)])
    ps = taskscope_json("ps", "--json", p.pid)
    ids = {t["name"]: t["id"] for t in ps["tasks"]}
    r = taskscope("cancel", "--msg", "enough \x1b[1m", str(p.pid), str(ids["locker"]),
                  expect_rc=0)
    expect("cancelled task #%d locker" % ids["locker"] in r.stdout, "cancel: %r" % r.stdout)

    def finished():
        t = [t for t in taskscope_json("ps", "--json", "--all", p.pid)["tasks"]
             if t["name"] == "locker"]
        return t and t[0]["state"] != "suspended"
    poll_until("locker to finish after the cancel", finished)
    r = taskscope("cancel", str(p.pid), str(ids["locker"]), expect_rc=1)
    expect("already finished" in r.stderr or "no longer there" in r.stderr,
           "cancel of a finished task: %r" % r.stderr)
    r = taskscope("cancel", str(p.pid), "777777", expect_rc=1)
    expect("does not exist" in r.stderr, "cancel of an unknown task: %r" % r.stderr)
    fields = taskscope("ps", "--fields", p.pid, expect_rc=0).stdout
    expect("locker: (cancelled by taskscope cancel (pid " in fields,
           "ps --fields does not name the canceller: %s" % fields)
    rec.p.send_signal(signal.SIGINT)
    rec.wait()
    p.kill()
    p.wait()
    remove_segment(p.pid)
    rows_ = rows(out, "SELECT task_name, by_task, by_name, message FROM cancellations")
    expect(any(r[0] == "locker" and r[1] is None and r[2].startswith("taskscope cancel (pid ")
               and r[3] == "enough \x1b[1m" for r in rows_), "SQL cancellations: %r" % (rows_,))
    req = rows(out, "SELECT task, result FROM ev_cancel_request")
    expect((ids["locker"], 0) in req, "ev_cancel_request: %r" % (req,))
    # usage and refusals
    taskscope("cancel", "1", expect_rc=2)
    taskscope("cancel", "1", "x", expect_rc=2)
    r = taskscope("cancel", "4194303", "2", expect_rc=1)
    expect("no such process" in r.stderr, "dead pid: %r" % r.stderr)
    env = dict(os.environ)  # the release runtime, whatever the test's own path says
    env["LD_LIBRARY_PATH"] = os.path.dirname(os.path.normpath(DEBUG_LIBDIR))
    rel = c.start([prog("prog_where")], env=env)
    rel.wait_line(r"parked pid=\d+")
    r = taskscope("cancel", str(rel.pid), "2", expect_rc=1)
    expect("debug runtime" in r.stderr, "release runtime: %r" % r.stderr)
    rel.kill()
    rel.wait()


def cancel_blocked(c):
    """While the loop is blocked, where says why it has no stacks yet; a
    cancel sent then is queued (no answer within --timeout: exit 1, saying
    so) and applied when the step returns."""
    p = c.start([prog("prog_where"), "block"], env=debug_env())
    p.wait_line(r"parked pid=\d+")
    out = taskscope("where", p.pid, expect_rc=0).stdout
    expect("its loop is blocked" in out, "where during a block: %s" % out)
    r = taskscope("cancel", "--timeout", "0.5", str(p.pid), "3", expect_rc=1)
    expect("stays queued" in r.stderr, "cancel during a block: %r" % r.stderr)
    p.wait_line(r"unblocked")

    def cancelled():
        out = taskscope("ps", "--fields", "--all", p.pid, expect_rc=0).stdout
        return "locker: (cancelled by taskscope cancel (pid " in out
    poll_until("the queued cancel to be applied after the block", cancelled)
    p.kill()
    p.wait()
    remove_segment(p.pid)


def crash_snapshot(c):
    """A crash snapshot's state dump holds the parked tasks' stacks, and
    its copy of the maps symbolizes them."""
    d = c.path("crash")
    os.mkdir(d)
    env = debug_env()
    env["TASKSCOPE_CRASH_DIR"] = d
    p = c.start([prog("prog_crash")], env=env)
    p.wait()
    snaps = [f for f in os.listdir(d) if f.endswith(".tsnap")]
    expect(len(snaps) == 1, "crash snapshots: %r" % snaps)
    out = taskscope("where", os.path.join(d, snaps[0]), expect_rc=0).stdout
    s = sections(out)
    in_order(s.get("sleeper", []), ["sleeper", "task_entry"], "crash snapshot sleeper")
    in_order(s.get("waiter", []), ["ts_event_wait_at", "waiter"], "crash snapshot waiter")
    expect("not started yet" in out, "crash snapshot: last-words: %s" % out)


def main():
    c = Checker("where")
    c.check(crash_snapshot)
    c.check(cancel_blocked)
    c.check(live)
    c.check(cancel)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
