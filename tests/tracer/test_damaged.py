#!/usr/bin/env python3
"""test_damaged.py - recordings that cannot be trusted: random bytes, a
truncated file, a page of zeros in the middle, a newer schema version, a
plain SQLite database that is no recording, an empty file.  Every command
that reads a recording (ps, pstree, blocked, stats, query, export) must
say what is wrong on stderr and exit 1: never crash, never hang, never
print a report of garbage as if it were fine."""
import os
import json
import shutil
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracer_util import Checker, expect, example, prog, record, taskscope  # noqa: E402

READERS = [["ps"], ["ps", "--json"], ["pstree"], ["blocked", "--json"], ["stats"],
           # (the tasks view only reads what a query asks for: name and
           # state make it read task_create, task_done and the strings)
           ["query", None, "SELECT (SELECT count(*) FROM tasks WHERE name IS NOT NULL "
                           "AND state IS NOT NULL) + (SELECT count(*) FROM ev_task_resume)"],
           ["export", "--format", "perfetto"]]


def good_recording(c):
    path = c.path("good.db")
    if not os.path.exists(path):
        p = record(path, [example("gather")])
        expect(p.returncode == 0, "recording gather failed: %s" % p.stderr)
    return path


def variant(c, name):
    dst = c.path(name)
    shutil.copyfile(good_recording(c), dst)
    return dst


def run_reader(c, args, path):
    args = list(args)
    if args[0] == "query":
        args[1] = path
    elif args[0] == "export":
        args += [path, "-o", c.path("out.json")]
    else:
        args.append(path)
    return taskscope(*args)


def refused(c, path, *words):
    """Every reader exits 1 with a message naming the file and holding one
    of words (case-insensitive)."""
    for args in READERS:
        p = run_reader(c, args, path)
        what = "%s on %s" % (" ".join(a for a in args if a), os.path.basename(path))
        expect(p.returncode == 1, "%s: exit %d (a crash is negative), stderr %r, stdout %r"
               % (what, p.returncode, p.stderr, p.stdout[:300]))
        msg = p.stderr.lower()
        # query runs the user's SQL: SQLite's own message says enough.
        expect(args[0] == "query" or os.path.basename(path).lower() in msg,
               "%s: message does not name the file: %r" % (what, p.stderr))
        expect(any(w in msg for w in words), "%s: message %r has none of %r"
               % (what, p.stderr, words))
        # (query may have printed its header before the damage showed)
        expect(args[0] != "query" or len(p.stdout.splitlines()) <= 1,
               "%s printed results: %r" % (what, p.stdout[:300]))
        expect(not os.path.exists(c.path("out.json")), "%s left an export file" % what)


def good_is_read(c):
    path = good_recording(c)
    for args in READERS:
        p = run_reader(c, args, path)
        expect(p.returncode == 0, "%s on the good recording: exit %d, %r"
               % (" ".join(a for a in args if a), p.returncode, p.stderr))
    os.unlink(c.path("out.json"))


def random_bytes(c):
    path = c.path("random.db")
    with open(path, "wb") as f:
        f.write(os.urandom(64 * 1024))
    refused(c, path, "not a", "database", "corrupt", "malformed")


def random_after_header(c):
    """A valid SQLite header, then noise: SQLite opens it, reading fails."""
    path = variant(c, "noise.db")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(os.urandom(size - 100))
    refused(c, path, "corrupt", "malformed", "damaged", "not a")


def truncated(c):
    path = variant(c, "truncated.db")
    size = os.path.getsize(path)
    expect(size > 8192, "the recording is too small to truncate (%d bytes)" % size)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    refused(c, path, "corrupt", "malformed", "damaged", "truncated")


def zero_page_of(c, name, table):
    """A copy of the good recording with table's root page zeroed (a torn
    write, or a disk that lost a page): SQLite opens it, and only a read
    of that table fails."""
    path = variant(c, name)
    con = sqlite3.connect(path)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    con.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * page)
        f.write(b"\0" * page)
    return path


def zeroed_table_page(c):
    # Read as the end of the table, a lost page of task_done events would
    # show every task as still running: it must be an error instead.
    for table in ("ev_task_done", "ev_task_create", "ev_string", "ev_task_resume"):
        refused(c, zero_page_of(c, table + ".db", table), "damaged", "malformed", "corrupt")


def zeroed_session_page(c):
    path = zero_page_of(c, "session.db", "session")
    for cmd in ("ps", "pstree", "blocked", "stats"):
        p = taskscope(cmd, path)
        expect(p.returncode == 1 and "damaged" in p.stderr,
               "%s with a damaged session table: exit %d, %r" % (cmd, p.returncode, p.stderr))


def newer_version(c):
    path = variant(c, "newer.db")
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    refused(c, path, "newer", "upgrade")
    p = taskscope("ps", path)
    expect("999" in p.stderr, "the message does not say which version: %r" % p.stderr)


def not_a_recording(c):
    path = c.path("plain.db")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people(name TEXT)")
    con.execute("INSERT INTO people VALUES('ada')")
    con.commit()
    con.close()
    refused(c, path, "not a taskscope recording")
    # The same with a schema version but none of the tables.
    path = c.path("versioned.db")
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people(name TEXT)")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    refused(c, path, "not a taskscope recording", "damaged", "no such table")


def empty_file(c):
    path = c.path("empty.db")
    open(path, "wb").close()
    refused(c, path, "not a taskscope recording", "empty")


def unreadable(c):
    if os.geteuid() == 0:
        return   # root reads anything
    path = variant(c, "unreadable.db")
    os.chmod(path, 0)
    refused(c, path, "permission")


def task_ids(path):
    con = sqlite3.connect(path)
    rows = con.execute("SELECT task, parent FROM ev_task_create ORDER BY seq").fetchall()
    con.close()
    return rows


def set_parent(path, task, parent):
    con = sqlite3.connect(path)
    con.execute("UPDATE ev_task_create SET parent = ? WHERE task = ?", (parent, task))
    con.commit()
    con.close()


def pstree_prints_all(c, path, cycle):
    """pstree --all prints every task once, exits 0, and names the cycle's
    tasks on one line (text) and in "parent_cycles" (JSON)."""
    ids = sorted(t for t, _ in task_ids(path))
    p = taskscope("pstree", "--all", path)
    expect(p.returncode == 0, "pstree --all on a parent cycle: exit %d, %r"
           % (p.returncode, p.stderr))
    printed = sorted(int(w[1:]) for line in p.stdout.splitlines()
                     for w in line.split()
                     if w.startswith("#") and w[1:].isdigit() and "parent cycle" not in line
                     and "own parent" not in line)
    expect(printed == ids, "pstree --all printed tasks %r, the recording has %r: %s"
           % (printed, ids, p.stdout[:2000]))
    lines = [ln for ln in p.stdout.splitlines()
             if "damaged" in ln and ("parent cycle" in ln or "own parent" in ln)]
    expect(len(lines) == 1, "no single line reports the parent cycle: %s" % p.stdout[:2000])
    expect(all("#%d" % t in lines[0] for t in cycle),
           "the cycle line does not name tasks %r: %r" % (cycle, lines[0]))
    p = taskscope("pstree", "--all", "--json", path)
    expect(p.returncode == 0, "pstree --all --json: exit %d, %r" % (p.returncode, p.stderr))
    doc = json.loads(p.stdout)
    expect(sorted(t["id"] for t in doc["tasks"]) == ids,
           "pstree --json lists %r, the recording has %r"
           % (sorted(t["id"] for t in doc["tasks"]), ids))
    expect([sorted(cy) for cy in doc.get("parent_cycles", [])] == [sorted(cycle)],
           "pstree --json parent_cycles %r, expected [%r]"
           % (doc.get("parent_cycles"), sorted(cycle)))


def parent_cycle(c):
    """Issue 12: task A's parent is B and B's parent is A (a damaged file):
    pstree --all printed none of the tasks and exited 0."""
    path = variant(c, "cycle.db")
    rows = task_ids(path)
    expect(len(rows) >= 3, "gather made only %d tasks" % len(rows))
    # a root (parent 0) and one of its children: make the root the child's child
    root = next(t for t, parent in rows if parent == 0)
    child = next(t for t, parent in rows if parent == root)
    set_parent(path, root, child)
    pstree_prints_all(c, path, [root, child])
    # a clean recording reports no cycle
    doc = json.loads(taskscope("pstree", "--all", "--json", good_recording(c),
                               expect_rc=0).stdout)
    expect(doc.get("parent_cycles") == [], "a good recording has parent_cycles %r"
           % doc.get("parent_cycles"))


def own_parent(c):
    """A task that is its own parent is printed (as a root) and reported."""
    path = variant(c, "own_parent.db")
    rows = task_ids(path)
    root = next(t for t, parent in rows if parent == 0)
    child = next(t for t, parent in rows if parent == root)
    set_parent(path, child, child)
    pstree_prints_all(c, path, [child])


def deep_chain(c):
    """A chain of 150 tasks, each the parent of the next (crafted from a
    flat recording): pstree draws as deep as it can and says how many
    deeper tasks it left out, never drops them silently."""
    path = c.path("chain.db")
    p = record(path, [prog("prog_many"), "150"])
    expect(p.returncode == 0, "prog_many 150: %d %s" % (p.returncode, p.stderr))
    rows = task_ids(path)
    con = sqlite3.connect(path)
    for (prev, _), (task, _) in zip(rows, rows[1:]):
        con.execute("UPDATE ev_task_create SET parent = ? WHERE task = ?", (prev, task))
    con.commit()
    con.close()
    doc = json.loads(taskscope("pstree", "--all", "--json", path, expect_rc=0).stdout)
    shown = len(doc["tasks"])
    expect(shown + doc["tasks_too_deep"] == len(rows) and doc["parent_cycles"] == [],
           "pstree --json: %d tasks shown + %r too deep, the recording has %d"
           % (shown, doc.get("tasks_too_deep"), len(rows)))
    out = taskscope("pstree", "--all", path, expect_rc=0).stdout
    if shown < len(rows):
        expect("%d tasks nested too deep" % (len(rows) - shown) in out,
               "pstree does not say it left %d tasks out: %s" % (len(rows) - shown, out[-500:]))


def main():
    c = Checker("damaged")
    c.check(good_is_read)
    c.check(random_bytes)
    c.check(random_after_header)
    c.check(truncated)
    c.check(zeroed_table_page)
    c.check(zeroed_session_page)
    c.check(newer_version)
    c.check(not_a_recording)
    c.check(empty_file)
    c.check(unreadable)
    c.check(parent_cycle)
    c.check(own_parent)
    c.check(deep_chain)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
