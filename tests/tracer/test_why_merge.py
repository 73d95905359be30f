#!/usr/bin/env python3
"""test_why_merge.py - `taskscope why`: waits of one site merged into one
node add up to it when their causes differ.

prog_why_merge's "napper" sleeps 5 ms five times at one site, then an
hour, and main cancels that last sleep: one sleep node of six waits, one
cancelled.  Its children must add up to it: "cancelled by main" (the
last sleep) and the five plain sleeps no task caused ("timer").  The
numbers are the recording's own: each wait runs from the napper's
task_suspend to its next task_wake, so each child's time is summed from
those rows, exactly.  Likewise "watcher"'s pipe waits (woken by the
poll, timed out, then cancelled by main) and "consumer"'s queue gets
(put by "producer", then cancelled by main).  Nothing here depends on
timing: which wait is which comes from the trace, not from a clock.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, expect, prog, record, rows, taskscope,  # noqa: E402
                         taskscope_json)

# A task's waits, oldest first: (suspend seq, site, kind, start ns, end ns,
# wake status), each ended by the first wake after its suspend.
WAITS = """
SELECT s.seq, s.site, s.kind, s.ns, w.ns, w.status FROM ev_task_suspend s
  JOIN ev_task_wake w ON w.task = s.task AND w.pid = s.pid
   AND w.seq = (SELECT min(seq) FROM ev_task_wake WHERE task = s.task AND pid = s.pid
                AND seq > s.seq)
  WHERE s.task = ? ORDER BY s.seq
"""
ECANCELED = -125


def sums(node, what):
    """Every node's children add up to it, exactly."""
    if node["children"]:
        total = sum(c["ns"] for c in node["children"])
        expect(total == node["ns"], "%s: children sum to %d, node is %d: %r"
               % (what, total, node["ns"], node))
    for c in node["children"]:
        sums(c, what)


def recorded(c):
    path = c.path("merge.db")
    if not os.path.exists(path):
        p = record(path, [prog("prog_why_merge")])
        expect(p.returncode == 0, "run failed: %s" % p.stderr)
        c.out = p.stdout
    m = re.search(r"napper=(\d+) watcher=(\d+) consumer=(\d+) naps=(\d+) watches=(\d+) "
                  r"items=(\d+)", c.out)
    expect(m, "prog_why_merge printed: %r" % c.out)
    return (path,) + tuple(int(x) for x in m.groups())


def tree(path, task, depth="2"):
    js = taskscope_json("why", "--json", "--depth", depth, path, str(task))
    sums(js["tree"], "task #%d --depth %s" % (task, depth))
    return js["tree"]


def the_wait(t, kind):
    ws = [k for k in t["children"] if k["type"] == "wait" and k["kind"] == kind]
    expect(len(ws) == 1, "one %s node expected: %r" % (kind, ws))
    return ws[0]


def canceller(w, what):
    ks = [k for k in w["children"] if k["type"] == "task" and k["relation"] == "cancelled by"]
    expect(len(ks) == 1 and ks[0]["name"] == "main" and ks[0]["count"] == 1,
           "%s: the cancellation's cause: %r" % (what, w["children"]))
    return ks[0]


def napper(c):
    path, nap, _w, _c, naps, _ws, _items = recorded(c)
    t = tree(path, nap)
    w = the_wait(t, "sleep")
    expect(w["count"] == naps + 1 and w["cancelled"] == 1, "napper's sleeps: %r" % w)
    waits = rows(path, WAITS, (nap,))
    expect(len(waits) == naps + 1 and len({r[1] for r in waits}) == 1,
           "napper's waits in the trace: %r" % waits)
    expect(waits[-1][5] == ECANCELED and all(r[5] == 0 for r in waits[:-1]),
           "the last sleep, and only it, was cancelled: %r" % waits)
    # exactly the trace's times: the cancelled sleep is main's, the rest
    # the timer's, and they add up to the node
    cancel = canceller(w, "napper")
    expect(cancel["ns"] == waits[-1][4] - waits[-1][3],
           "cancelled sleep %d != trace %d" % (cancel["ns"], waits[-1][4] - waits[-1][3]))
    timer = [k for k in w["children"] if k["type"] == "no_task"]
    expect(len(timer) == 1 and timer[0]["reason"] == "timer" and timer[0]["count"] == naps,
           "the plain sleeps: %r" % w["children"])
    expect(timer[0]["ns"] == sum(b - a for _s, _site, _k, a, b, _st in waits[:-1]),
           "plain sleeps %d != trace %r" % (timer[0]["ns"], waits[:-1]))
    expect(len(w["children"]) == 2, "napper's sleep children: %r" % w["children"])
    expect(w["ns"] == sum(b - a for _s, _site, _k, a, b, _st in waits), "sleep node: %r" % w)
    # the text says it too
    out = taskscope("why", "--depth", "1", path, str(nap), expect_rc=0).stdout
    expect("(%d waits, 1 cancelled)" % (naps + 1) in out and "cancelled by task #" in out
           and "slept its time, no task woke it (%d waits)" % naps in out, "text:\n" + out)
    # depth 0 follows no cause: the node is a leaf again
    for k in tree(path, nap, "0")["children"]:
        expect(not k["children"], "--depth 0 has a subtree: %r" % k)
    # deeper, every level still adds up
    tree(path, nap, "4")


def watcher(c):
    """Pipe waits: the poll or the timeout ended the first ones (no task
    of the process caused them), main cancelled the last."""
    path, _n, wat, _c, _naps, watches, _items = recorded(c)
    w = the_wait(tree(path, wat), "fd")
    expect(w["cancelled"] == 1 and w["count"] >= 2, "watcher's fd waits: %r" % w)
    canceller(w, "watcher")
    others = [k for k in w["children"] if k["type"] != "task"]
    expect(others and all(k["type"] == "no_task" and k["reason"] in ("outside", "timed_out")
                          for k in others), "watcher's other waits: %r" % w["children"])
    expect(sum(k["count"] for k in w["children"]) == w["count"],
           "every wait counted once: %r" % w["children"])
    timed_out = [k for k in others if k["reason"] == "timed_out"]
    expect(sum(k["count"] for k in timed_out) == w["timed_out"], "timed out: %r" % w)


def consumer(c):
    """Queue gets: put by the producer, then cancelled by main; each wait
    has a cause task, and the children add up as before."""
    path, _n, _w, con, _naps, _ws, _items = recorded(c)
    w = the_wait(tree(path, con), "queue_get")
    expect(w["cancelled"] == 1, "consumer's gets: %r" % w)
    canceller(w, "consumer")
    expect(all(k["type"] == "task" and (k["relation"] == "cancelled by" or
                                        (k["relation"] == "put by" and k["name"] == "producer"))
               for k in w["children"]), "consumer's get children: %r" % w["children"])


def aggregate(c):
    """Merging trees keeps the sum: the napper's tree via --name."""
    path, *_rest = recorded(c)
    js = taskscope_json("why", "--name", "napper", "--json", path)
    expect(js["tasks"] == 1, "tasks: %r" % js["tasks"])
    s = js["slowest"]
    sums(s["tree"], "--name napper")
    # the summary names what most of the sleep's time was: the timer's
    # plain sleeps, unless (by the trace's numbers) the cancelled one
    # outlasted them all
    w = the_wait(s["tree"], "sleep")
    timer = sum(k["ns"] for k in w["children"] if k["type"] == "no_task")
    cancel = sum(k["ns"] for k in w["children"] if k["type"] == "task")
    want = "caused by no task (timer" if timer > cancel else "cancelled by main"
    expect(want in s["summary"], "summary (timer %d, cancel %d): %r"
           % (timer, cancel, s["summary"]))


def main():
    c = Checker("why_merge")
    c.check(napper)
    c.check(watcher)
    c.check(consumer)
    c.check(aggregate)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
