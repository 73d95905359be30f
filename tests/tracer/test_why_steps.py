#!/usr/bin/env python3
"""test_why_steps.py - the step summary a recording gets at close
(task_steps, tracer/why_steps.c) gives `taskscope why` the same answer as
reading the steps, exactly.

why reads a runnable span's "ran meanwhile" from the summary only for
spans of 100,000 events or more; TASKSCOPE_WHY_STEPS_MIN=0 makes it do so
for every span, so that the recordings of prog_why_agg (twenty requests,
a flusher whose long steps the watchdog reports), prog_why and
prog_why_deep (queue, chain) answer both ways: for every task, `why
--json --depth 2` with the summary must equal `why --json --depth 2` on a
copy of the recording without it (what an older taskscope's recording
gives), byte for byte.  At least one answer must name more tasks than
why lists (the "other tasks" node): the summary was used there.
"""
import os
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import Checker, expect, prog, record, rows, taskscope  # noqa: E402


def without_summary(path):
    bare = path + ".bare.db"
    shutil.copyfile(path, bare)
    con = sqlite3.connect(bare)
    con.execute("DROP TABLE task_steps")
    con.execute("DROP TABLE task_steps_pids")
    con.commit()
    con.close()
    return bare


def why_json(path, task, summary_min):
    old = os.environ.get("TASKSCOPE_WHY_STEPS_MIN")
    os.environ["TASKSCOPE_WHY_STEPS_MIN"] = str(summary_min)
    try:
        return taskscope("why", "--json", "--depth", "2", path, task, expect_rc=0).stdout
    finally:
        if old is None:
            del os.environ["TASKSCOPE_WHY_STEPS_MIN"]
        else:
            os.environ["TASKSCOPE_WHY_STEPS_MIN"] = old


def compare(c, name, argv):
    path = c.path(name)
    p = record(path, argv)
    expect(p.returncode == 0, "run failed: %s" % p.stderr)
    n = rows(path, "SELECT count(*) FROM task_steps")[0][0]
    expect(n > 0, "%s: no task_steps rows" % name)
    bare = without_summary(path)
    tasks = [r[0] for r in rows(path, "SELECT DISTINCT task FROM ev_task_create ORDER BY task")]
    expect(tasks, "%s: no tasks" % name)
    folded = 0
    for t in tasks:
        got = why_json(path, t, 0)
        want = why_json(bare, t, 0)
        expect(got == want, "%s task %d: with the summary\n%s\nwithout\n%s" % (name, t, got, want))
        folded += '"task":0' in got
    return folded


def agg(c):
    folded = compare(c, "agg.db", [prog("prog_why_agg")])
    expect(folded > 0, "no answer named more than WHY_RAN_MAX tasks: the summary was never used")


def why(c):
    compare(c, "why.db", [prog("prog_why")])


def deep(c):
    compare(c, "queue.db", [prog("prog_why_deep"), "queue"])
    compare(c, "chain.db", [prog("prog_why_deep"), "chain", "20"])


def main():
    c = Checker("why_steps")
    c.check(agg)
    c.check(why)
    c.check(deep)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
