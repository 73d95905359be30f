#!/usr/bin/env python3
"""test_why_fd.py - `taskscope why` names what an fd wait's fd is (issue 19:
"I/O on an fd, with the peer/path where known"), on prog_why_fd's
programs (see prog_why_fd.c), whose answers are known by construction:

thread   the asker's recv on a TCP connection to 127.0.0.1:PORT is
         answered late by a plain thread: why prints the fd as
         "tcp 127.0.0.1:PORT <- 127.0.0.1:LOCAL" and says no task woke it,
         the cause outside the process (inferred: the peer); --json
         carries the same; the fds view has the row; `why --name asker`
         (the aggregate) and the folded export name the fd the same way.
task     the answer comes from task "server" over an fd the runtime
         accepted: why names that fd as the peer, in the process.
hang     (live) the asker's peer never answers: `taskscope ps PID` shows
         the fd wait in AWAITS with the same text.
hangwrap as hang, but the ring wrapped past the fd's fd_info before ps:
         the state dump describes the fd again.
hostile  a Unix socket whose name holds ESC, newline and BEL: escaped on
         the terminal, the exact bytes in JSON (why and why --name).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import (Checker, debug_env, expect, prog, record, rows,  # noqa: E402
                         taskscope, taskscope_json)


def run(c, name, *args):
    path = c.path(name)
    p = record(path, [prog("prog_why_fd")] + list(args))
    expect(p.returncode == 0, "run failed: %s %s" % (p.stdout, p.stderr))
    m = re.search(r"asker=(\d+) fd=(\d+) port=(\d+)", p.stdout)
    expect(m, "prog_why_fd printed: %r" % p.stdout)
    return path, [int(x) for x in m.groups()]


def fd_waits(node, fd, out):
    """Every wait node on fd `fd` in the tree."""
    if node.get("type") == "wait" and node.get("kind") == "fd" and node.get("object") == fd:
        out.append(node)
    for k in node["children"]:
        fd_waits(k, fd, out)
    return out


def thread(c):
    path, (asker, fd, port) = run(c, "thread.db", "thread")
    got = rows(path, "SELECT kind, how, address FROM fds WHERE fd = ? ORDER BY seq", (fd,))
    expect(len(got) == 2 and [r[:2] for r in got] == [("tcp", "connecting"), ("tcp", "connected")]
           and got[0][2] == got[1][2], "fds rows for fd %d: %r" % (fd, got))
    addr = got[1][2]
    m = re.fullmatch(r"127\.0\.0\.1:(\d+) <- 127\.0\.0\.1:(\d+)", addr)
    expect(m and int(m.group(1)) == port, "address %r, peer port %d" % (addr, port))
    out = taskscope("why", path, asker, expect_rc=0).stdout
    want = "waiting: fd %d (tcp %s)" % (fd, addr)
    expect(want in out, "why text lacks %r:\n%s" % (want, out))
    expect(" at prog_why_fd.c:" in out and out.count(want) == 2,
           "both the connect's and the recv's waits name the fd:\n%s" % out)
    line = [ln for ln in out.splitlines() if want in ln][-1]
    expect("no task of this process woke it: the cause is outside the process"
           " (inferred: the peer 127.0.0.1:%d)" % port in line, "why text: %r" % line)
    js = taskscope_json("why", "--json", path, asker)
    w = fd_waits(js["tree"], fd, [])
    expect(w, "no fd %d wait in the JSON tree" % fd)
    f = w[0]["fd"]
    expect(f == {"kind": "tcp", "how": "connecting", "address": addr,
                 "peer": "127.0.0.1:%d" % port}, "JSON fd: %r" % f)
    expect(len(w) == 2 and w[1]["fd"]["how"] == "connected", "JSON waits: %r" % w)
    expect(w[0]["cause_outside_process"] is True and w[0]["woken_by_no_task"] >= 1
           and w[0]["peer_in_process"] is None, "JSON wait: %r" % w[0])
    # the aggregate over tasks named so names the fd the same way
    want = "waiting for fd %d (tcp %s), awaited at prog_why_fd.c:" % (fd, addr)
    out = taskscope("why", "--name", "asker", path, expect_rc=0).stdout
    parts = [ln for ln in out.splitlines() if re.match(r" +[0-9.]+ +[0-9.]+ +[0-9.]+  waiting", ln)]
    expect(len(parts) == 2 and all(want in ln for ln in parts),
           "why --name's parts lack %r:\n%s" % (want, out))
    js = taskscope_json("why", "--name", "asker", "--json", path)
    texts = [p["text"] for p in js["slowest"]["parts"] if p.get("kind") == "fd"]
    expect(len(texts) == 2 and all(t.startswith(want) for t in texts),
           "why --name --json fd parts: %r" % texts)
    # and the wait flame graph's frames
    out = c.path("thread.folded")
    taskscope("export", "--format", "folded", "--task", asker, "-o", out, path, expect_rc=0)
    with open(out, encoding="utf-8") as f:
        folded = f.read()
    frame = "wait fd %d (tcp %s) at prog_why_fd.c:" % (fd, addr)
    expect(folded.count(frame) == 2, "folded frames lack %r twice:\n%s" % (frame, folded))


def task(c):
    path, (asker, fd, port) = run(c, "task.db", "task")
    got = rows(path, "SELECT fd, how, address FROM fds ORDER BY seq")
    hows = sorted(r[1] for r in got)
    expect(hows == ["accepted", "connected", "connecting", "listening"], "fds rows: %r" % got)
    mine = [r for r in got if r[0] == fd and r[1] == "connected"]
    acc = [r for r in got if r[1] == "accepted"]
    expect(mine and acc, "fds rows: %r" % got)
    peer, local = mine[0][2].split(" <- ")
    expect(acc[0][2] == "%s <- %s" % (local, peer), "mirrored addresses: %r" % got)
    out = taskscope("why", path, asker, expect_rc=0).stdout
    want = "the peer %s is this process's own fd %d (accepted)" % (peer, acc[0][0])
    expect(want in out, "why text lacks %r:\n%s" % (want, out))
    expect("outside the process" not in out, "why blames the outside:\n%s" % out)
    js = taskscope_json("why", "--json", path, asker)
    w = fd_waits(js["tree"], fd, [])
    expect(w and w[0]["cause_outside_process"] is False
           and w[0]["peer_in_process"] == {"fd": acc[0][0], "how": "accepted"},
           "JSON wait: %r" % (w[0] if w else None))


def hang(c):
    p = c.start([prog("prog_why_fd"), "hang"], env=debug_env())
    m = p.wait_line(r"ready pid=(\d+) asker=(\d+) fd=(\d+) port=(\d+)")
    pid, asker, fd, port = (int(x) for x in m.groups())
    out = taskscope("ps", pid, expect_rc=0).stdout
    want = "fd %d (tcp 127.0.0.1:%d <- 127.0.0.1:" % (fd, port)
    expect(want in out, "ps AWAITS lacks %r:\n%s" % (want, out))
    js = taskscope_json("ps", "--json", pid)
    tasks = js["tasks"] if isinstance(js, dict) and "tasks" in js else js
    got = [t.get("awaits_text") for t in tasks if t.get("id") == asker]
    expect(got and got[0].startswith(want), "ps --json awaits_text: %r" % got)


def hangwrap(c):
    """The ring wrapped past the fd's fd_info: the state dump `ps` asks
    for describes the fd again (runtime/src/trace/fdinfo.c)."""
    p = c.start([prog("prog_why_fd"), "hangwrap"], env=debug_env())
    m = p.wait_line(r"ready pid=(\d+) asker=(\d+) fd=(\d+) port=(\d+)")
    pid, asker, fd, port = (int(x) for x in m.groups())
    out = taskscope("ps", pid, expect_rc=0).stdout
    want = "fd %d (tcp 127.0.0.1:%d <- 127.0.0.1:" % (fd, port)
    expect(want in out, "ps AWAITS lacks %r after the ring wrapped:\n%s" % (want, out))


def hostile(c):
    path, (asker, fd, _) = run(c, "hostile.db", "hostile", c.dir)
    name = "%s/ev\x1b[31mil\nso\ack" % c.dir
    files = rows(path, "SELECT fd, kind, how, address FROM fds WHERE kind = 'file'"
                 " OR how = 'closed' ORDER BY seq")
    fpath = "%s/f\x1b[1mile" % c.dir
    expect(len(files) == 2 and files[0][1:] == ("file", "opened", fpath)
           and files[1][0] == files[0][0] and files[1][2:] == ("closed", ""),
           "the file's rows: %r" % files)
    got = rows(path, "SELECT kind, how, address FROM fds WHERE fd = ? AND how = 'connected'", (fd,))
    expect(got == [("unix", "connected", "%s <- ?" % name)], "fds rows: %r" % got)
    out = taskscope("why", path, asker, expect_rc=0).stdout
    for raw in ("\x1b", "\x07"):
        expect(raw not in out, "why printed a raw control character %r:\n%r" % (raw, out))
    expect("ev\\e[31mil\\nso" in out, "why text lacks the escaped name:\n%s" % out)
    expect("listens on this process's own fd" in out, "why text:\n%s" % out)
    js = taskscope_json("why", "--json", path, asker)
    w = fd_waits(js["tree"], fd, [])
    expect(w and w[0]["fd"]["address"] == "%s <- ?" % name and w[0]["fd"]["peer"] == name,
           "JSON fd: %r" % (w[0] if w else None))
    out = taskscope("why", "--name", "asker", path, expect_rc=0).stdout
    for raw in ("\x1b", "\x07"):
        expect(raw not in out, "why --name printed a raw control character %r:\n%r" % (raw, out))
    expect("waiting for fd %d (unix " % fd in out and "ev\\e[31mil\\nso" in out,
           "why --name text lacks the escaped fd name:\n%s" % out)
    js = taskscope_json("why", "--name", "asker", "--json", path)
    texts = [p["text"] for p in js["slowest"]["parts"] if p.get("kind") == "fd"]
    expect(any("fd %d (unix %s <- ?)" % (fd, name) in t for t in texts),
           "why --name --json fd parts: %r" % texts)


def main():
    c = Checker("why_fd")
    c.check(thread)
    c.check(task)
    c.check(hang)
    c.check(hangwrap)
    c.check(hostile)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
