#!/usr/bin/env python3
"""test_diagnose.py - named, located resources and issue 15's warnings.

Each mode of prog_diagnose misbehaves in one way while an unrelated
ticker task keeps its loop busy, so every finding must be made per task:

- cycle3: a three-task cycle through a lock, a queue and an event is one
  deadlock warning that spells it out, every resource by name and
  creation site, and says the cycle is inferred (nothing owns a queue or
  an event).
- deadholder: a lock held by a cancelled task and a semaphore permit
  kept by a finished one are "dead holder" warnings, not stuck or
  self-deadlock ones.
- orphan: a future awaited while its creator has finished.
- selfwake: an event only its waiter ever set.
- mixed: a cycle through a one-permit semaphore (its holder is certain)
  and a future (its creator is the inferred waker).
- busyyield, starve (recorded): a sleep(0) poller, and 5000 ready tasks
  making each other wait (with the ready-queue length in the text).

Every warning carries a kind, its task and resource, and a what-to-do
line (ps text, JSON "hint"); ps, pstree and the recording's resources
view name resources as lock "state" (prog_diagnose.c:N).
"""
import os
import re
import signal
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, debug_env, expect, poll_until, prog, record,  # noqa: E402
                         remove_segment, rows, source_line, taskscope, taskscope_json)

SRC = "tests/tracer/prog_diagnose.c"


def site(needle):
    """The creation site of the resource made on the line holding needle."""
    return "prog_diagnose.c:%d" % source_line(SRC, needle)


def res(kind, name, needle):
    return '%s "%s" (%s)' % (kind, name, site(needle))


def warnings_of(target, kind):
    ps = taskscope_json("ps", "--json", target)
    return ps, [w for w in ps["warnings"] if w["kind"] == kind]


def live(c, mode, kind, check):
    p = c.start([prog("prog_diagnose"), mode], env=debug_env())
    p.wait_line(r"ready pid=\d+")
    ws = poll_until("a %s warning" % kind, lambda: warnings_of(p.pid, kind)[1])
    ps, _ = warnings_of(p.pid, kind)
    tasks = {t["name"]: t for t in ps["tasks"]}
    for w in ws:
        expect(w["hint"], "%s: no what-to-do hint: %r" % (mode, w))
    check(ws, tasks, ps)
    text = taskscope("ps", p.pid, expect_rc=0).stdout
    expect(ws[0]["text"] in text and "what to do: " + ws[0]["hint"] in text,
           "%s: ps text lacks the warning or its hint:\n%s" % (mode, text))
    expect(not any(w["kind"] == "stuck" for w in ps["warnings"]),
           "%s: the ticker keeps the loop going, yet a stuck warning: %r" % (mode, ps["warnings"]))
    p.kill()
    p.wait()
    remove_segment(p.pid)
    return text


def check_cycle3(ws, tasks, ps):
    expect(len(ws) == 1, "cycle3: one deadlock warning, got %r" % ws)
    t = ws[0]["text"]
    lock = res("lock", "state", 'ts_lock_new_named("state")')
    queue = res("queue_get", "jobs", 'ts_queue_new_named(0, "jobs")')
    event = res("event", "go", 'ts_event_new_named("go")')
    # consumer → queue → producer → event → starter → lock → consumer,
    # starting from whichever member the analysis met first
    ring = [r"#\d+ consumer", re.escape(queue), r"#\d+ producer \(inferred: it last put into it\)",
            re.escape(event), r"#\d+ starter \(inferred: it last set it\)", re.escape(lock)]
    ok = False
    for k in range(0, 6, 2):
        r = ring[k:] + ring[:k]
        rx = "deadlock: " + " → ".join(r) + " → " + r[0].split(" ")[0] + r" [a-z]+"
        ok = ok or re.search(rx, t) is not None
    expect(ok, "cycle3: the cycle is not spelled out: %r" % t)
    expect("inferred, not certain" in t, "cycle3: not said to be inferred: %r" % t)
    for n in ("consumer", "producer", "starter"):
        expect(tasks[n]["warnings"] & 16, "cycle3: %s not flagged: %r" % (n, tasks[n]))
    expect(tasks["consumer"]["awaits_text"] == queue and tasks["starter"]["awaits_text"] == lock
           and tasks["producer"]["awaits_text"] == event,
           "cycle3: awaits_text %r" % [(n, x["awaits_text"]) for n, x in tasks.items()])


def check_deadholder(pid, tasks):
    def both():
        ws = warnings_of(pid, "dead_holder")[1]
        return len(ws) == 2 and ws
    ws = poll_until("both dead holders", both)
    by = {w["task"]: w for w in ws}
    lw, sw = by.get(tasks["waiter"]["id"]), by.get(tasks["waiter2"]["id"])
    expect(lw and re.search(r'dead holder: #\d+ waiter waits for %s, held by #\d+ holder, which '
                            r'has finished without releasing it' %
                            re.escape(res("lock", "state", "the dead holder's")),
                            lw["text"]), "deadholder: lock warning %r" % ws)
    expect(sw and 'semaphore "slots"' in sw["text"] and "taker" in sw["text"],
           "deadholder: semaphore warning %r" % ws)
    for w in ws:
        expect(w["hint"] and w["resource"], "deadholder: warning without hint/resource %r" % w)
    ps = taskscope_json("ps", "--json", pid)
    expect(not any(w["kind"] in ("deadlock", "stuck") for w in ps["warnings"]),
           "deadholder: a deadlock or stuck warning too: %r" % ps["warnings"])


def check_mixed(ws, tasks, ps):
    expect(len(ws) == 1, "mixed: one deadlock warning, got %r" % ws)
    t = ws[0]["text"]
    fut = re.escape(res("future", "answer", 'ts_future_new_named("answer")'))
    sem = re.escape(res("semaphore", "pool", 'ts_semaphore_new_named(1, "pool")'))
    a = r"#\d+ asker → %s → #\d+ answerer \(inferred: it created it\) → %s → #\d+ asker" % (fut, sem)
    b = r"#\d+ answerer → %s → #\d+ asker → %s → #\d+ answerer \(inferred: it created it\)" % (
        sem, fut)
    expect(re.search("deadlock: (%s|%s);" % (a, b), t) and "inferred, not certain" in t,
           "mixed: the cycle is not spelled out: %r" % t)
    expect(not any(w["kind"] in ("orphan_future", "stuck") for w in ps["warnings"]),
           "mixed: %r" % ps["warnings"])


def check_orphan(ws, tasks, ps):
    w = ws[0]
    expect(w["task"] == tasks["awaiter"]["id"], "orphan: warning task %r" % w)
    expect(re.search(r'orphan future: #\d+ awaiter has awaited %s for over 1.00s; its creator '
                     r'#\d+ maker has finished' % re.escape(res("future", "reply",
                                                                'ts_future_new_named("reply")')),
                     w["text"]), "orphan: %r" % w["text"])


def check_selfwake(ws, tasks, ps):
    w = ws[0]
    expect(w["task"] == tasks["lonely"]["id"] and
           res("event", "done", 'ts_event_new_named("done")') in w["text"] and
           "only it has ever set" in w["text"], "selfwake: %r" % w)


def deadholder(c):
    p = c.start([prog("prog_diagnose"), "deadholder"], env=debug_env())
    p.wait_line(r"ready pid=\d+")
    tasks = {t["name"]: t for t in taskscope_json("ps", "--json", p.pid)["tasks"]}
    check_deadholder(p.pid, tasks)
    tree = taskscope("pstree", p.pid, expect_rc=0).stdout
    expect("waiter [suspended] awaits %s" % res("lock", "state", "the dead holder's")
           in tree, "pstree does not name the lock:\n%s" % tree)
    p.kill()
    p.wait()
    remove_segment(p.pid)


def recorded(c, mode, kind, needle):
    path = c.path(mode + ".db")
    # a ring big enough for the whole run: a recorder slowed down (by a
    # sanitizer, a busy machine) must not drop the poller's steps
    p = record(path, [prog("prog_diagnose"), mode], env=dict(os.environ,
                                                            TASKSCOPE_RING_SIZE="33554432"))
    expect(p.returncode == 0 and "finished" in p.stdout, "%s: %s %s" % (mode, p.stdout, p.stderr))
    ws = [w for w in taskscope_json("ps", "--json", path)["warnings"] if w["kind"] == kind]
    expect(len(ws) == 1 and re.search(needle, ws[0]["text"]) and ws[0]["hint"],
           "%s: %s warnings %r" % (mode, kind, ws))
    sql = rows(path, "SELECT kind, text FROM warnings WHERE kind = ?", (kind,))
    expect([r[1] for r in sql] == [ws[0]["text"]], "%s: warnings view %r" % (mode, sql))


def resources_view(c):
    # a recording of cycle3, killed once ready: the resources view names all
    path = c.path("cycle3.db")
    run = c.start([TASKSCOPE, "run", "-o", path, "--", prog("prog_diagnose"), "cycle3"])
    pid = c.adopt(int(run.wait_line(r"ready pid=(\d+)").group(1)), "prog_diagnose")
    # the recorder's live model reports the inferred cycle once its members
    # have waited a second (the ticker's events move its clock on)
    def recorded_deadlock():
        try:
            return rows(path, "SELECT text FROM warnings WHERE kind = 'deadlock'")
        except sqlite3.Error:    # not created yet
            return None
    poll_until("the deadlock in the recording", recorded_deadlock)
    os.kill(pid, signal.SIGKILL)
    run.wait()
    remove_segment(pid)
    got = sorted(rows(path, "SELECT kind, name, site FROM resources"))
    want = sorted([("event", "go", site('ts_event_new_named("go")') + " in amain()"),
                   ("lock", "state", site('ts_lock_new_named("state")') + " in amain()"),
                   ("queue", "jobs", site('ts_queue_new_named(0, "jobs")') + " in amain()")])
    expect(got == want, "resources view %r, want %r" % (got, want))
    # the replay finds the cycle again; the recording's copy is not repeated
    ws = [w for w in taskscope_json("ps", "--json", path)["warnings"] if w["kind"] == "deadlock"]
    expect(len(ws) == 1 and "inferred" in ws[0]["text"], "ps FILE deadlock warnings %r" % ws)


def bpf_names(c):
    """The release runtime through BPF (root, a BPF build): names given
    after the collector attached arrive through the resource_name probe,
    so `taskscope run --bpf` from the start reads the same as the debug
    runtime."""
    if os.geteuid() != 0:
        print("skip bpf_names: needs root")
        return
    path = c.path("mixed-bpf.db")
    run = c.start([TASKSCOPE, "run", "--bpf", "-o", path, "--", prog("prog_diagnose"), "mixed"])
    try:
        pid = c.adopt(int(run.wait_line(r"ready pid=(\d+)", timeout=30).group(1)),
                      "prog_diagnose")
    except Exception:  # noqa: BLE001 - no BPF in this build or kernel: say so
        run.kill()
        print("skip bpf_names: taskscope run --bpf did not start: %s" % run.stderr_text()[-300:])
        return
    def named():
        try:
            return sorted(rows(path, "SELECT kind, name FROM resources"))
        except sqlite3.Error:
            return None
    got = poll_until("the named resources in the BPF recording",
                     lambda: (named() or []) == [("future", "answer"), ("semaphore", "pool")]
                     and named())
    os.kill(pid, signal.SIGKILL)
    run.wait()
    expect(got, "bpf resources %r" % got)
    text = taskscope("ps", path, expect_rc=0).stdout
    expect(res("semaphore", "pool", 'ts_semaphore_new_named(1, "pool")') in text,
           "ps of the BPF recording does not name the semaphore:\n%s" % text)


def main():
    c = Checker("diagnose")
    c.check(live, "cycle3", "deadlock", check_cycle3)
    c.check(deadholder)
    c.check(live, "orphan", "orphan_future", check_orphan)
    c.check(live, "selfwake", "self_wake", check_selfwake)
    c.check(live, "mixed", "deadlock", check_mixed)
    c.check(recorded, "busyyield", "busy_yield",
            r"busy yield: task #\d+ poller has done nothing but sleep\(0\) for")
    c.check(recorded, "starve", "starvation",
            r"loop starvation: tasks of loop \d+ waited up to [0-9.]+m?s to run \(\d+ waits over "
            r"100ms, average [0-9.]+m?s\) with up to \d{4} tasks ready at once")
    c.check(resources_view)
    c.check(bpf_names)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
