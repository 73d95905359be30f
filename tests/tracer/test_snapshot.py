#!/usr/bin/env python3
"""test_snapshot.py - the tracer's model equals the runtime's own view.

prog_forever --snapshot prints the runtime's ts_all_tasks() list (id,
parent, state, what it awaits, name) from a loop callback, and then
nothing changes.  At that moment:
- live: `taskscope ps PID --json` must list exactly those tasks, each
  with the same parent, name, state, wait kind and awaited task;
- stopped: the same, the process stopped (SIGSTOP) after its
  snapshot: answered from its rings, at once, and said to be stopped;
- recorded: the same program under `taskscope run`, killed there, gives
  a recording whose `ps --json` says the same, task for task.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (TASKSCOPE, Checker, count_rows, debug_env, expect,  # noqa: E402
                         poll_until, prog, remove_segment, session, taskscope_json)

STATES = ["ready", "running", "suspended", "done", "failed", "cancelled"]
KINDS = ["-", "task", "future", "sleep", "yield", "lock", "event", "condition", "semaphore",
         "barrier", "queue_get", "queue_put", "queue_join", "fd", "executor", "generator",
         "group"]


def read_snapshot(p):
    p.wait_line(r"^snapshot-begin$")
    tasks = {}
    while True:
        line = p.wait_line(r"^(task .*|snapshot-end)$").group(1)
        if line == "snapshot-end":
            return tasks
        _, tid, parent, state, kind, awaited, name = line.split(" ", 6)
        tasks[int(tid)] = {"parent": int(parent), "state": STATES[int(state)],
                           "awaits": KINDS[int(kind)], "awaited": int(awaited), "name": name}


def model_view(ps):
    out = {}
    for t in ps["tasks"]:
        out[t["id"]] = {"parent": t["parent"] or 0, "state": t["state"],
                        "awaits": t["awaits"] or "-",
                        "awaited": t["awaits_object"] if t["awaits"] == "task" else 0,
                        "name": t["name"]}
    return out


def compare(runtime, model, what):
    expect(len(runtime) >= 8, "the runtime listed only %r" % runtime)
    only_rt = sorted(set(runtime) - set(model))
    only_model = sorted(set(model) - set(runtime))
    expect(not only_rt and not only_model,
           "%s: tasks only the runtime lists: %r; only the model: %r"
           % (what, [runtime[i] for i in only_rt], [model[i] for i in only_model]))
    diff = ["#%d runtime %r, model %r" % (i, runtime[i], model[i])
            for i in sorted(runtime) if runtime[i] != model[i]]
    expect(not diff, "%s differs from ts_all_tasks():\n  %s" % (what, "\n  ".join(diff)))


def live(c):
    p = c.start([prog("prog_forever"), "--snapshot"], env=debug_env())
    runtime = read_snapshot(p)
    compare(runtime, model_view(taskscope_json("ps", "--json", p.pid)), "live ps")
    # The model agrees when asked again (a second attach, a second dump).
    compare(runtime, model_view(taskscope_json("ps", "--json", p.pid)), "second live ps")
    os.kill(p.pid, signal.SIGTERM)
    expect(p.wait() == 0, "prog_forever --snapshot failed: %s" % p.stderr_text())


def stopped(c):
    """A stopped process cannot answer (no dump, no watchdog): ps answers
    from what its rings hold, at once rather than after its 2 s deadline,
    and says so; continued, it answers as usual."""
    p = c.start([prog("prog_forever"), "--snapshot"], env=debug_env())
    runtime = read_snapshot(p)
    # the loop publishes its last events when it goes to sleep
    poll_until("the loop asleep", lambda: proc_state(p.pid) == "S")
    os.kill(p.pid, signal.SIGSTOP)
    poll_until("the process stopped", lambda: proc_state(p.pid) == "T")
    ps = taskscope_json("ps", "--json", p.pid)
    expect("stopped" in ps["source"], "source %r" % ps["source"])
    compare(runtime, model_view(ps), "ps of the stopped process")
    os.kill(p.pid, signal.SIGCONT)
    poll_until("the process continued", lambda: proc_state(p.pid) != "T")
    ps = taskscope_json("ps", "--json", p.pid)
    expect("stopped" not in ps["source"], "source %r" % ps["source"])
    compare(runtime, model_view(ps), "ps after SIGCONT")
    os.kill(p.pid, signal.SIGTERM)
    expect(p.wait() == 0, "prog_forever --snapshot failed: %s" % p.stderr_text())


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def recorded(c):
    out = c.path("snapshot.db")
    run = c.start([TASKSCOPE, "run", "-o", out, "--", prog("prog_forever"), "--snapshot"])
    pid = c.adopt(int(run.wait_line(r"ready pid=(\d+)").group(1)), "prog_forever")
    runtime = read_snapshot(run)
    # The program publishes its last events when its loop goes to sleep,
    # just after the snapshot; a SIGKILL before that would lose them (as
    # it would any program's unpublished events).  Wait until main's wait
    # on the stop event is committed.
    main_id = [i for i, t in runtime.items() if t["name"] == "main"][0]
    poll_until("main's last suspension in the recording",
               lambda: count_rows(out, "ev_task_suspend WHERE task = %d AND kind = %d"
                                  % (main_id, KINDS.index("event"))))
    os.kill(pid, signal.SIGKILL)
    expect(run.wait() == 128 + 9, "taskscope run did not pass on SIGKILL: %s"
           % run.stderr_text())
    remove_segment(pid)
    expect(session(out)["status"].startswith("truncated"), "status %r" % session(out)["status"])
    compare(runtime, model_view(taskscope_json("ps", "--json", out)), "the recording's ps")


def main():
    c = Checker("snapshot")
    c.check(live)
    c.check(stopped)
    c.check(recorded)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
