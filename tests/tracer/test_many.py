#!/usr/bin/env python3
"""test_many.py - reports on a recording are complete at any size (issue 13
point 7).

prog_many records 100,001 tasks (plus main) with nothing dropped (paced
batches and a 64 MiB ring).  The live model keeps at most 50,000 finished
tasks, but `ps`, `pstree`, `stats` and `blocked` on the FILE answer from
the whole recording (ps and pstree streamed through SQL, report_sql.c):
every count agrees with SQL's count of the tasks view, every task is
listed once, in text and JSON, and each spawn-site group has its exact
share.

The same 100,001 tasks spawned in one burst under `taskscope run` at the
default ring size (a recorded program's rings are sized for bursts) are
recorded without a drop, and listed and counted alike.
"""
import re
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
    # every task's own row, though 50,000 of them left the model long
    # before the end: name, state, steps, parent
    names = sorted(t["name"] for t in ps["tasks"])
    expect(names == sorted(["main"] + ["w-%d" % i for i in range(N)]), "ps --all names")
    expect(all(t["state"] == "done" for t in ps["tasks"]), "ps --all: a task not done")
    expect(sum(t["polls"] for t in ps["tasks"]) == resumes,
           "ps --all counts %d steps, the recording %d"
           % (sum(t["polls"] for t in ps["tasks"]), resumes))
    main_id = [t["id"] for t in ps["tasks"] if t["name"] == "main"][0]
    expect(sum(1 for t in ps["tasks"] if t["parent"] == main_id) == N, "ps --all: main's children")
    pre = taskscope_json("stats", "--json", "--by-prefix", path)
    by = {g["key"]: g["count"] for g in pre["groups"]}
    expect(by == {"main": 1, "w": N}, "stats --by-prefix %r" % by)

    bl = taskscope_json("blocked", "--json", path)
    expect(bl["tasks_known"] == total, "blocked counts %r tasks" % bl["tasks_known"])
    text_counts(path, total)


def text_counts(path, total):
    """The text forms: every task on a line of its own, counts in the
    headers."""
    head = "0 live tasks, %d known" % total
    lines = taskscope("ps", "--all", path, expect_rc=0).stdout.splitlines()
    expect(head in lines[0], "ps --all header %r" % lines[0])
    ids = [int(m.group(1)) for m in (re.match(r"^ *(\d+) ", ln) for ln in lines[2:]) if m]
    expect(len(ids) == total and len(set(ids)) == total and ids == sorted(ids),
           "ps --all text lists %d tasks (%d distinct), the recording %d"
           % (len(ids), len(set(ids)), total))
    lines = taskscope("pstree", "--all", path, expect_rc=0).stdout.splitlines()
    expect(head in lines[0], "pstree --all header %r" % lines[0])
    tree = [int(m.group(1)) for m in (re.match(r"^[│├└─ ]*#(\d+) ", ln) for ln in lines[1:]) if m]
    expect(len(tree) == total and len(set(tree)) == total,
           "pstree --all text draws %d tasks (%d distinct)" % (len(tree), len(set(tree))))
    kids = sum(1 for ln in lines if ln.startswith(("├── ", "└── ")))
    expect(kids == total - 1, "pstree --all text: %d children under main" % kids)
    bare = taskscope("pstree", path, expect_rc=0).stdout
    expect("(%d finished tasks not shown" % total in bare, "pstree hidden line: %r" % bare)
    stats = taskscope("stats", path, expect_rc=0).stdout
    expect(head in stats.splitlines()[0], "stats header %r" % stats.splitlines()[0])
    groups = sorted(int(m.group(1)) for m in
                    (re.match(r"^\S+ in \S+\(\) +\S+ +(\d+) ", ln) for ln in stats.splitlines())
                    if m)
    expect(groups == [1, N // 2, N // 2 + 1], "stats text per spawn site %r" % groups)
    blocked = taskscope("blocked", path, expect_rc=0).stdout
    expect(head in blocked.splitlines()[0], "blocked header %r" % blocked.splitlines()[0])


def burst(c):
    """The same tasks in one burst, at the default ring size of a program
    taskscope run starts: nothing is dropped (README: ring size and
    bursts), and every count is exact, as for the paced run."""
    path = c.path("burst.db")
    from tracer_util import TASKSCOPE, TIMEOUT
    env = dict(os.environ)
    env.pop("TASKSCOPE_RING_SIZE", None)
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--", prog("prog_many"), str(N), "--burst"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       timeout=TIMEOUT * 4)
    expect(p.returncode == 0 and "spawned %d" % N in p.stdout,
           "prog_many --burst: %s" % p.stderr[-500:])
    print("burst of %d tasks, default ring: %s" % (N, p.stderr.strip().splitlines()[-1]))
    s = session(path)
    expect(s["dropped"] == "0", "a burst of %d tasks under taskscope run dropped %s events"
           % (N, s["dropped"]))
    created = rows(path, "SELECT count(DISTINCT task) FROM ev_task_create")[0][0]
    listed = rows(path, "SELECT count(*), count(DISTINCT id) FROM tasks")[0]
    expect(created == N + 1 and listed == (created, created),
           "tasks view: %r rows/ids for %d tasks" % (listed, created))
    ps = taskscope_json("ps", "--json", "--all", path)
    expect(len(ps["tasks"]) == created and ps["tasks_known"] == created
           and ps["tasks_live"] == 0,
           "ps --all lists %d of %d (known %r, live %r)" % (len(ps["tasks"]), created,
                                                           ps["tasks_known"], ps["tasks_live"]))
    tree = taskscope_json("pstree", "--json", "--all", path)
    expect(len(tree["tasks"]) == created, "pstree --all lists %d" % len(tree["tasks"]))
    text_counts(path, created)


def burst_dropping(c):
    """The burst again on the smallest ring, so that most events are
    dropped, task_done records among them: after a clean exit no task may
    be listed as still live (each ended, if its end was lost, as "lost"),
    live or from the file."""
    path = c.path("dropping.db")
    from tracer_util import TASKSCOPE, TIMEOUT
    env = dict(os.environ, TASKSCOPE_RING_SIZE="1")  # rounded up to the minimum
    p = subprocess.run([TASKSCOPE, "run", "-o", path, "--", prog("prog_many"), str(N), "--burst"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                       timeout=TIMEOUT * 4)
    expect(p.returncode == 0 and "spawned %d" % N in p.stdout,
           "prog_many --burst: %s" % p.stderr[-500:])
    s = session(path)
    expect(int(s["dropped"]) > 0, "nothing dropped on the smallest ring: %r" % s)
    ps = taskscope_json("ps", "--json", "--all", path)
    live = [t for t in ps["tasks"] if t["state"] in ("ready", "running", "suspended")]
    expect(ps["tasks_live"] == 0 and not live,
           "after a clean exit, %d listed live (tasks_live %r): %r"
           % (len(live), ps["tasks_live"], live[:3]))


def main():
    c = Checker("many")
    c.check(many)
    c.check(burst)
    c.check(burst_dropping)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
