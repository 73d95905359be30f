#!/usr/bin/env python3
"""test_cli_files.py - files are precious (issue 12, points 1 and 6):

  - `run -o` / `top -o` onto a file that is not a recording (a source
    file) fails with exit 2 and leaves it byte-identical; onto a
    directory, a FIFO or a device likewise;
  - a typo'd program leaves the previous recording intact (no .old);
  - `top -- PROGRAM` keeps an earlier program log as LOG.old;
  - an existing recording is kept as NAME.old, then NAME.old.2; --force
    replaces it instead;
  - `export` refuses its own input (the same inode under another name
    too), any recording, a device; a failed export leaves the target as
    it was and no temporary file behind;
  - every read command refuses a FIFO at once (no hang), and a directory;
  - a recording in a directory the reader cannot write is readable (as
    another user when run as root), and reading leaves no -wal/-shm;
  - `query` cannot create files (VACUUM INTO, ATTACH), runs one statement
    (more is a usage error), prints aligned columns, and --json never
    prints Inf or NaN;
  - pids are parsed strictly: 4294967297 is a usage error, not pid 1.
"""
import json
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tmpdir import open_to_others  # noqa: E402
from tracer_util import (Checker, TASKSCOPE, TIMEOUT, example, expect,  # noqa: E402
                         taskscope)

TOP = os.path.join(os.path.dirname(TASKSCOPE), "tui", "taskscope-top")
READ_CMDS = [["ps"], ["pstree"], ["blocked"], ["stats", "--json"],
             ["query", "@", "SELECT 1"], ["export", "--format", "chrome", "-o", "@out"]]


def record_gather(c, path, *extra):
    return taskscope("run", *extra, "-o", path, "--", example("gather"), expect_rc=0)


def recording(c):
    path = c.path("base.db")
    if not os.path.exists(path):
        record_gather(c, path)
    return path


def read_args(cmd, target, c):
    args = [a.replace("@out", c.path("out.json")) for a in cmd]
    if "@" in args:
        args[args.index("@")] = target
    else:
        args.append(target)
    return args


def snapshot(path):
    with open(path, "rb") as f:
        return f.read()


def run_onto_source_file(c):
    victim = c.path("victim.c")
    with open(victim, "w") as f:
        f.write("int main(void) { return 0; }\n")
    before = snapshot(victim)
    p = taskscope("run", "-o", victim, "--", example("gather"))
    expect(p.returncode == 2, "run -o victim.c: exit %d, %r" % (p.returncode, p.stderr))
    expect("not a taskscope recording" in p.stderr, "unclear message %r" % p.stderr)
    expect(snapshot(victim) == before, "victim.c changed")
    expect(not os.path.exists(victim + ".old"), "victim.c was moved aside")
    p = taskscope("attach", "-o", victim, "--duration", "1", str(os.getpid()))
    expect(p.returncode == 2, "attach -o victim.c: exit %d, %r" % (p.returncode, p.stderr))
    expect(snapshot(victim) == before, "attach changed victim.c")
    if os.path.exists(TOP):
        p = subprocess.run([TOP, "-o", victim, "--", example("gather")], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
        expect(p.returncode == 2, "top -o victim.c: exit %d, %r" % (p.returncode, p.stderr))
        expect(snapshot(victim) == before, "top changed victim.c")
    # Not a regular file: a directory, a FIFO, a device.
    fifo = c.path("fifo")
    os.mkfifo(fifo)
    for target in (c.dir, fifo, "/dev/null"):
        p = taskscope("run", "-o", target, "--", example("gather"))
        expect(p.returncode == 2, "run -o %s: exit %d, %r" % (target, p.returncode, p.stderr))
    expect(stat.S_ISCHR(os.stat("/dev/null").st_mode), "/dev/null is no longer a device")
    expect(stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced")


def typo_keeps_recording(c):
    path = c.path("typo.db")
    record_gather(c, path)
    before = snapshot(path)
    p = taskscope("run", "-o", path, "--", c.path("ecoh"))
    expect(p.returncode not in (0, 2), "run of a missing program: exit %d" % p.returncode)
    expect("ecoh" in p.stderr, "the message does not name the program: %r" % p.stderr)
    expect(snapshot(path) == before, "the previous recording changed")
    expect(not os.path.exists(path + ".old"), "the previous recording was moved aside")


def old_kept(c):
    path = c.path("kept.db")
    record_gather(c, path)
    first = snapshot(path)
    p = record_gather(c, path)
    expect(os.path.exists(path + ".old"), "no kept.db.old")
    expect(snapshot(path + ".old") == first, "kept.db.old is not the first recording")
    expect("kept.db.old" in p.stderr, "run did not say where the old recording went: %r"
           % p.stderr)
    second = snapshot(path)
    record_gather(c, path)
    expect(snapshot(path + ".old") == first, "kept.db.old was replaced")
    expect(snapshot(path + ".old.2") == second, "kept.db.old.2 is not the second recording")
    # --force replaces without keeping.
    record_gather(c, path, "--force")
    expect(not os.path.exists(path + ".old.3"), "--force kept a copy")
    for name in (path, path + ".old", path + ".old.2"):
        taskscope("ps", "--all", name, expect_rc=0)
        for side in ("-wal", "-shm"):
            expect(not os.path.exists(name + side), "%s%s left behind" % (name, side))


def top_log_kept(c):
    """top -- PROGRAM truncates its log: an earlier one is kept as .old."""
    if not os.path.exists(TOP):
        return
    log = c.path("prog.log")
    with open(log, "w") as f:
        f.write("an earlier log\n")
    p = subprocess.run([TOP, "--no-record", "--log", log, "--", example("gather")],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    expect(p.returncode == 0, "top -- gather: exit %d, %r" % (p.returncode, p.stderr))
    expect(open(log + ".old").read() == "an earlier log\n", "the earlier log was not kept")
    p = subprocess.run([TOP, "--no-record", "--log", c.dir, "--", example("gather")],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    expect(p.returncode == 2, "top --log DIR: exit %d, %r" % (p.returncode, p.stderr))


def export_safety(c):
    rec = c.path("exp.db")
    record_gather(c, rec)
    before = snapshot(rec)
    link = c.path("exp-link.db")
    os.link(rec, link)
    for out in (rec, link):
        p = taskscope("export", "--format", "perfetto", rec, "-o", out)
        expect(p.returncode == 2, "export onto its input %s: exit %d, %r"
               % (out, p.returncode, p.stderr))
    other = recording(c)
    other_before = snapshot(other)
    p = taskscope("export", "--format", "perfetto", rec, "-o", other)
    expect(p.returncode == 2, "export onto another recording: exit %d" % p.returncode)
    expect(snapshot(other) == other_before, "export changed another recording")
    p = taskscope("export", "--format", "perfetto", rec, "-o", "/dev/null")
    expect(p.returncode == 2, "export -o /dev/null: exit %d" % p.returncode)
    expect(snapshot(rec) == before, "export changed its input")
    # A file that is not an export: refused, kept; --force replaces it.
    notes = c.path("notes.txt")
    with open(notes, "w") as f:
        f.write("my notes\n")
    p = taskscope("export", "--format", "chrome", rec, "-o", notes)
    expect(p.returncode == 2, "export onto notes.txt: exit %d" % p.returncode)
    expect(open(notes).read() == "my notes\n", "notes.txt changed")
    # An earlier export is replaced (atomically), and the result is JSON.
    out = c.path("t.json")
    taskscope("export", "--format", "chrome", rec, "-o", out, expect_rc=0)
    taskscope("export", "--format", "chrome", rec, "-o", out, expect_rc=0)
    json.load(open(out))
    # A bad input onto an existing target: the target stays, no temp file.
    first = snapshot(out)
    bad = c.path("bad.db")
    with open(bad, "wb") as f:
        f.write(b"SQLite format 3\0" + b"\xff" * 5000)
    p = taskscope("export", "--format", "chrome", bad, "-o", out)
    expect(p.returncode == 1, "export of a bad input: exit %d" % p.returncode)
    expect(snapshot(out) == first, "a failed export changed its target")
    taskscope("export", "--format", "chrome", "--force", rec, "-o", notes, expect_rc=0)
    json.load(open(notes))
    left = [n for n in os.listdir(c.dir) if n.startswith(".")]
    expect(not left, "temporary files left behind: %r" % left)


def fifo_refused(c):
    fifo = c.path("rec.fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    for cmd in READ_CMDS:
        for target in (fifo, c.dir):
            args = read_args(cmd, target, c)
            p = taskscope(*args, timeout=20)   # a hang would time out
            expect(p.returncode == 1, "%s: exit %d, %r" % (" ".join(args), p.returncode,
                                                           p.stderr))
            expect(("FIFO" if target == fifo else "directory") in p.stderr,
                   "%s: unclear message %r" % (" ".join(args), p.stderr))
    if os.path.exists(TOP):
        p = subprocess.run([TOP, fifo], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=20)
        expect(p.returncode != 0, "top FIFO: exit 0")


def drop_privileges():
    os.setgid(65534)
    os.setuid(65534)


def readonly_dir(c):
    ro = c.path("ro")
    os.mkdir(ro)
    path = os.path.join(ro, "r.db")
    shutil.copyfile(recording(c), path)
    os.chmod(path, 0o644)
    os.chmod(ro, 0o555)
    os.chmod(c.dir, 0o755)
    # root writes anywhere: run as nobody, or, where nobody cannot reach
    # the directory (a private $TMPDIR, e.g. mktemp -d's mode 0700), as
    # root without the capabilities that override file permissions
    as_other = os.geteuid() == 0 and open_to_others(path)
    no_override = os.geteuid() == 0 and not as_other
    wrap = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] \
        if no_override else []
    who = " as nobody" if as_other else " as root without DAC override" if no_override else ""
    try:
        for cmd in READ_CMDS[:5]:
            args = read_args(cmd, path, c)
            p = subprocess.run(wrap + [TASKSCOPE] + args, capture_output=True, text=True,
                               timeout=TIMEOUT,
                               preexec_fn=drop_privileges if as_other else None)
            expect(p.returncode == 0, "%s in a read-only directory%s: exit %d, %r"
                   % (" ".join(args), who, p.returncode, p.stderr))
        expect(sorted(os.listdir(ro)) == ["r.db"], "side files appeared: %r"
               % os.listdir(ro))
    finally:
        os.chmod(ro, 0o755)
    # Reading a finished recording where writing is possible leaves nothing either.
    base = recording(c)
    for cmd in READ_CMDS[:5]:
        taskscope(*read_args(cmd, base, c), expect_rc=0)
    for side in ("-wal", "-shm", "-journal"):
        expect(not os.path.exists(base + side), "reading left %s" % side)


def query_hardened(c):
    rec = recording(c)
    target = c.path("vacuumed.db")
    for sql in ("VACUUM INTO '%s'" % target, "ATTACH '%s' AS x" % target,
                "SELECT 1; ATTACH '%s' AS x" % target):
        p = taskscope("query", rec, sql)
        expect(p.returncode in (1, 2), "query %r: exit %d" % (sql, p.returncode))
        expect(not os.path.exists(target), "query %r created a file" % sql)
    p = taskscope("query", rec, "SELECT 1; SELECT 2")
    expect(p.returncode == 2 and "one SQL statement" in p.stderr,
           "two statements: exit %d, %r" % (p.returncode, p.stderr))
    expect(p.stdout == "", "two statements: printed %r" % p.stdout)
    p = taskscope("query", rec, "SELECT 1 AS one;  -- a comment\n", expect_rc=0)
    expect(p.stdout.split() == ["one", "---", "1"], "trailing comment: %r" % p.stdout)
    js = json.loads(taskscope("query", "--json", rec,
                              "SELECT 1e999 AS inf, -1e999 AS ninf, 0.25 AS q, NULL AS n",
                              expect_rc=0).stdout)
    expect(js == [{"inf": None, "ninf": None, "q": 0.25, "n": None}], "Inf/NaN in JSON: %r" % js)
    # Aligned columns: every row's second column starts at the same place.
    out = taskscope("query", rec, "SELECT id, name, state FROM tasks ORDER BY id",
                    expect_rc=0).stdout.splitlines()
    start = out[0].index("name")
    expect(all(len(line) > start and line[start - 1] == " " and line[start] != " "
               for line in out[2:]), "columns not aligned:\n%s" % "\n".join(out))
    # A control byte in a value is shown escaped, never raw.
    p = taskscope("query", rec, "SELECT 'a' || char(27) || '[31m' AS s", expect_rc=0)
    expect("\x1b" not in p.stdout and "a\\e[31m" in p.stdout, "raw escape: %r" % p.stdout)


def strict_pids(c):
    for args in (["ps", "4294967297"], ["pstree", "4294967297"], ["attach", "4294967297"],
                 ["blocked", "99999999999999999999"], ["ps", "0"]):
        p = taskscope(*args)
        expect(p.returncode == 2 and "pid" in p.stderr,
               "%s: exit %d, %r" % (" ".join(args), p.returncode, p.stderr))


def main():
    c = Checker("cli_files")
    c.check(run_onto_source_file)
    c.check(typo_keeps_recording)
    c.check(old_kept)
    c.check(top_log_kept)
    c.check(export_safety)
    c.check(fifo_refused)
    c.check(readonly_dir)
    c.check(query_hardened)
    c.check(strict_pids)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
