#!/usr/bin/env python3
"""test_many.py - reports on a recording are complete at any size (issue 13
point 7).

prog_many records 100,001 tasks (plus main) with nothing dropped (paced
batches and a 64 MiB ring).  The live model keeps at most 50,000 finished
tasks, but `ps`, `pstree`, `stats` and `blocked` on the FILE answer from
the whole recording: every count agrees with SQL's count of the tasks
view, every task is listed once, and each spawn-site group has its
exact share.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import Checker, expect, prog, rows, session, taskscope, taskscope_json  # noqa: E402
import subprocess  # noqa: E402

N = 100001
BIG_RING = dict(os.environ, TASKSCOPE_RING_SIZE=str(64 << 20))


def many(c):
    path = c.path("many.db")
    from tracer_util import TASKSCOPE, TIMEOUT
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--", prog("prog_many"), str(N)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=BIG_RING, timeout=TIMEOUT * 4)
    expect(p.returncode == 0 and "spawned %d" % N in p.stdout,
           "prog_many: exit %d: %s %s" % (p.returncode, p.stdout, p.stderr[-500:]))
    s = session(path)
    expect(s["dropped"] == "0", "events were dropped (%s): the counts would not be exact"
           % s["dropped"])
    total = rows(path, "SELECT count(*) FROM tasks")[0][0]
    expect(total == N + 1, "the recording holds %d tasks, expected %d" % (total, N + 1))

    ps = taskscope_json("ps", "--json", "--all", path)
    ids = [t["id"] for t in ps["tasks"]]
    expect(len(ids) == total and len(set(ids)) == total,
           "ps --all lists %d tasks (%d distinct), the recording %d"
           % (len(ids), len(set(ids)), total))
    expect(ps["tasks_known"] == total and ps["tasks_live"] == 0,
           "ps counts known %r live %r" % (ps["tasks_known"], ps["tasks_live"]))
    bare = taskscope_json("ps", "--json", path)
    expect(bare["tasks"] == [] and bare["tasks_hidden"] == total,
           "ps without --all: %d listed, %r hidden" % (len(bare["tasks"]), bare["tasks_hidden"]))
    text = taskscope("ps", path, expect_rc=0).stdout
    expect("0 live tasks, %d known" % total in text.splitlines()[0], "ps header %r"
           % text.splitlines()[0])

    tree = taskscope_json("pstree", "--json", "--all", path)
    expect(len(tree["tasks"]) == total, "pstree --all lists %d tasks" % len(tree["tasks"]))
    expect(sum(1 for t in tree["tasks"] if t["depth"] == 1) == N, "pstree: main's children")

    st = taskscope_json("stats", "--json", path)
    counts = sorted(g["count"] for g in st["groups"])
    expect(counts == [1, N // 2, N // 2 + 1], "stats per spawn site %r" % counts)
    expect(all(g["finished"] == g["count"] for g in st["groups"]), "stats finished counts")
    polls = sum(g["polls"] for g in st["groups"])
    resumes = rows(path, "SELECT count(*) FROM ev_task_resume")[0][0]
    expect(polls == resumes, "stats counts %d steps, the recording %d" % (polls, resumes))
    pre = taskscope_json("stats", "--json", "--by-prefix", path)
    by = {g["key"]: g["count"] for g in pre["groups"]}
    expect(by == {"main": 1, "w": N}, "stats --by-prefix %r" % by)

    bl = taskscope_json("blocked", "--json", path)
    expect(bl["tasks_known"] == total, "blocked counts %r tasks" % bl["tasks_known"])


def burst(c):
    """The same tasks in one burst at the default ring: events are dropped
    (see README), and the views still name each task once although
    strings and sites were interned again after the drops."""
    path = c.path("burst.db")
    from tracer_util import TASKSCOPE, TIMEOUT
    env = dict(os.environ)
    env.pop("TASKSCOPE_RING_SIZE", None)
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--", prog("prog_many"), str(N), "--burst"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       timeout=TIMEOUT * 4)
    expect(p.returncode == 0, "prog_many --burst: %s" % p.stderr[-500:])
    print("burst of %d tasks, default ring: %s" % (N, p.stderr.strip().splitlines()[-1]))
    created = rows(path, "SELECT count(DISTINCT task) FROM ev_task_create")[0][0]
    listed = rows(path, "SELECT count(*), count(DISTINCT id) FROM tasks")[0]
    expect(listed == (created, created), "tasks view: %r rows/ids for %d tasks" % (listed, created))
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(len(ps["tasks"]) >= created, "ps --all lists %d of %d" % (len(ps["tasks"]), created))


def main():
    c = Checker("many")
    c.check(many)
    c.check(burst)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
